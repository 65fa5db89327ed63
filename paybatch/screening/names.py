"""Name normalisation for screening: any script to Latin, one case, no punctuation, no legal suffixes.

``tokens("AL-QADHAFI, Muammar Mohammed")`` → ``("muammar", "mohammed", "qadhafi")``: transliterated
(anyascii), diacritics and case folded, "SURNAME, Given" turned round, punctuation and stopwords
dropped, the Arabic article ``al``/``el`` joined to nothing, legal-form words ("LLC", "Corp", "GmbH")
removed, since they say nothing about who an entity is and made "X LLC" match "Y LLC".
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from anyascii import anyascii

# Legal forms and company words that carry no identity (lower case, after punctuation is removed).
LEGAL_SUFFIXES = frozenset("""
llc l l c ltd limited inc incorporated corp corporation co company plc gmbh ag sa sas sarl srl spa bv nv oy ab as
aps kk kg ohg lp llp pty pte jsc ojsc cjsc pjsc ooo zao oao fze fzco fzc fzllc est establishment group holding holdings
trading international intl enterprises enterprise industries industry
""".split())
# Of those, the ones that are also common name parts ("Sa", "Ab", "As"): dropped only from entities' names.
AMBIGUOUS_SUFFIXES = frozenset("sa ab as ag co nv bv kk kg oy est group trading international enterprise industry".split())
STOPWORDS = frozenset("the of and for de del der den van von da di du la le".split())
ARTICLES = frozenset({"al", "el", "ul", "ad", "ar", "as", "at", "az", "an"})  # the Arabic article, spelled apart

_NON_WORD = re.compile(r"[^a-z0-9 ]+")
_DOTTED = re.compile(r"\b([a-z])\.(?=[a-z]\b)")


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


@lru_cache(maxsize=262_144)
def fold(text: str) -> str:
    """Latin letters in one case: scripts transliterated, diacritics dropped, Chinese characters one syllable each."""
    text = unicodedata.normalize("NFKC", text)
    if any(_is_han(ch) for ch in text):  # anyascii writes 王小明 as WangXiaoMing: keep the syllables apart
        text = "".join(f" {anyascii(ch)} " if _is_han(ch) else ch for ch in text)
    return anyascii(text).lower()


@lru_cache(maxsize=262_144)
def tokens(name: str, *, kind: str = "") -> tuple[str, ...]:
    """The name's identifying tokens, in reading order (given names first).

    ``kind`` is "individual" (no legal forms are removed), "entity" (every legal-form word is), or unknown
    (only unambiguous ones such as LLC, GmbH, Corp are: "Sa" and "Ab" are also surnames).
    """
    if "," in name:  # "SURNAME, Given Names" as OFAC writes individuals
        surname, _, given = name.partition(",")
        name = f"{given} {surname}"
    text = _DOTTED.sub(r"\1", _DOTTED.sub(r"\1", fold(name)))  # "S.A." and "L.L.C." are one word each
    text = text.replace("'", "").replace("-", " ")
    words = _NON_WORD.sub(" ", text).split()
    kept = [w for w in words if w not in STOPWORDS and w not in ARTICLES]
    if len(kept) < 2 <= len(words):  # "Timothy Le", "Wazir De": the particle is the surname, not a particle
        kept = words
    if kind != "individual":
        drop = LEGAL_SUFFIXES if kind == "entity" else LEGAL_SUFFIXES - AMBIGUOUS_SUFFIXES
        kept = [w for w in kept if w not in drop] or kept  # a name made only of such words keeps them
    return tuple(kept)


# Particles that are also written joined to the next word ("Alkabi", "Abubakr", "Binladen", "Vanderberg",
# "Delacruz", "Macdonald"), longest first. Two-letter ones come off only before a consonant ("Alberto" keeps its
# "al" only if "berto" follows: both sides of a comparison are stemmed alike, so a wrong cut costs little).
PARTICLE_PREFIXES = tuple(sorted("""
al el ul ad ar as at az an ash abu abou abo bin ibn ben bint abd abdul abdel abdal abdol abdur abdu
van vander vanden vande von der den de del dela della di da du dos das la le mac mc st saint
""".split(), key=lambda p: (-len(p), p)))
STEM_MIN_LENGTH = 4
_VOWEL_LETTERS = frozenset("aeiouy")


@lru_cache(maxsize=262_144)
def stem(token: str) -> str:
    """The token without the particles written joined at its start: "alkabi" → "kabi", "vanderberg" → "berg";
    the token itself when it has none (what is left must have ``STEM_MIN_LENGTH`` letters)."""
    while True:
        for prefix in PARTICLE_PREFIXES:
            rest = token[len(prefix):]
            if token.startswith(prefix) and len(rest) >= STEM_MIN_LENGTH and (len(prefix) > 2 or rest[0] not in _VOWEL_LETTERS):
                token = rest
                break
        else:
            return token


# The alternations of the romanisation systems in use: Cyrillic's BGN/PCGN, ISO 9 (diacritics dropped), ICAO and
# the older passport styles (shch/sch/sc, sh/s, zh/z, ch/c, ts/c, kh/h, j/y/i for й), and Arabic's English, French
# and scholarly ones (kh/h, gh/g, dh/d, th/t, q/k, ou/u, ee/i, dj/j).
_SPELLINGS = (("shch", "s"), ("sch", "s"), ("sh", "s"), ("zh", "z"), ("ch", "c"), ("ts", "c"), ("tz", "c"), ("kh", "h"),
              ("gh", "g"), ("ph", "f"), ("dj", "j"), ("dh", "d"), ("th", "t"), ("ou", "u"), ("ee", "i"),
              ("q", "k"), ("c", "k"), ("j", "i"), ("y", "i"), ("w", "v"), ("z", "s"), ("x", "ks"))


@lru_cache(maxsize=262_144)
def skeleton(token: str) -> str:
    """A transliteration key: the usual spelling alternatives folded (kh/h, q/k, y/i, w/v, ee/i, ph/f …), then the
    first letter and the consonants, doubled letters once: "Yusuf"/"Yousef" → "isf", "Igor"/"Ygor" → "igr"."""
    for old, new in _SPELLINGS:
        token = token.replace(old, new)
    key = token[:1] + "".join(ch for ch in token[1:] if ch not in "aeiou")
    return "".join(ch for i, ch in enumerate(key) if i == 0 or ch != key[i - 1])


_VOWEL_RUN = re.compile(r"[aeiou]+")
_DOUBLED = re.compile(r"(.)\1+")


@lru_cache(maxsize=262_144)
def frame(token: str) -> str:
    """The consonants in place, each run of vowels one slot: "noor"/"nour" → "n_r", "isse"/"issa" → "_s_",
    "yuri"/"uri" → "_r_". Short names differ between romanisations mostly in their vowels."""
    for old, new in _SPELLINGS:
        token = token.replace(old, new)
    return _VOWEL_RUN.sub("_", _DOUBLED.sub(r"\1", token))


# Mandarin syllables (pinyin: initials × finals, a superset of the ~400 in use): two of them that differ in a
# vowel are two names ("zheng"/"zhang", "li"/"lu"), not one name romanised twice.
_PINYIN = re.compile(r"(zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?(iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|van|ai|ei|ao|ou"
                     r"|an|en|in|un|vn|er|ia|ie|iu|ua|uo|ue|ui|ve|a|o|e|i|u|v)")


@lru_cache(maxsize=65_536)
def is_pinyin(token: str) -> bool:
    return _PINYIN.fullmatch(token) is not None
