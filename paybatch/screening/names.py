"""Name normalisation for screening: any script to Latin, one case, no punctuation, no legal suffixes.

``tokens("AL-QADHAFI, Muammar Mohammed")`` → ``("muammar", "mohammed", "qadhafi")``: transliterated
(anyascii), diacritics and case folded, "SURNAME, Given" turned round, punctuation and stopwords
dropped, the Arabic article ``al``/``el`` joined to nothing, legal-form words ("LLC", "Corp", "GmbH")
removed, since they say nothing about who an entity is and made "X LLC" match "Y LLC".

For comparing tokens it also gives each token's other forms: its ``stem`` (particles written joined taken
off: "alkabi" → "kabi"), its ``respellings`` (the romanisation systems' alternatives folded to one spelling),
transliteration ``skeletons`` and vowel ``frames``, and whether it is one Mandarin syllable (``is_pinyin``).
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
trading international intl enterprises enterprise industries industry rl cv sc sal sapi sde
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


_ALLAH = ("lah", "lla", "llah", "allah", "ullah", "illah", "lahi", "llahi")


def _split_abd(word: str) -> tuple[str, ...]:
    """'Abd with the article, alone or written joined to the name it governs: "abdul" → abd; "abdulhaq" →
    abd haq (but "abdullah", 'Abd Allah, stays one word: a name of its own)."""
    if word in ABD_FORMS:
        return ("abd",)
    for form in sorted(ABD_FORMS, key=len, reverse=True):
        rest = word[len(form):]
        if word.startswith(form) and len(rest) >= 3 and not rest.endswith(_ALLAH):
            return ("abd", rest)
    return (word,)


@lru_cache(maxsize=262_144)
def tokens(name: str, *, kind: str = "") -> tuple[str, ...]:
    """The name's identifying tokens, in reading order (given names first).

    ``kind`` is "individual" (no legal forms are removed), "entity" (every legal-form word is), or unknown
    (only unambiguous ones such as LLC, GmbH, Corp are: "Sa" and "Ab" are also surnames).
    """
    if "," in name and kind != "entity":  # "SURNAME, Given Names" as OFAC writes individuals
        surname, _, given = name.partition(",")
        name = f"{given} {surname}"
    text = _DOTTED.sub(r"\1", _DOTTED.sub(r"\1", fold(name)))  # "S.A." and "L.L.C." are one word each
    text = text.replace("'", "").replace("-", " ")
    words = _NON_WORD.sub(" ", text).split()
    words = [part for w in words for part in _split_abd(w)]
    kept = [w for w in words if w not in STOPWORDS and w not in ARTICLES]
    if len(kept) < 2 <= len(words):  # "Timothy Le", "Wazir De": the particle is the surname, not a particle
        kept = words
    if kind != "individual":
        drop = LEGAL_SUFFIXES if kind == "entity" else LEGAL_SUFFIXES - AMBIGUOUS_SUFFIXES
        kept = [w for w in kept if w not in drop] or kept  # a name made only of such words keeps them
    if kind == "entity" and sum(len(w) > 1 for w in kept) >= 2:
        kept = [w for w in kept if len(w) > 1]  # the "S." of "S. de R.L.": no initial in a company's name
    return tuple(kept)


# Particles that are also written joined to the next word ("Alkabi", "Abubakr", "Binladen", "Vanderberg",
# "Delacruz", "Macdonald"), longest first. The Arabic article comes off before anything ("Alislam", "Alali");
# other two-letter ones only before a consonant. Both sides of a comparison are stemmed alike, and the stems only
# add a route to a match (``similarity.token_similarity``), so a wrong cut ("Alberto") costs little.
PARTICLE_PREFIXES = tuple(sorted("""
al el ul ad ar as at az an ash abu abou abo bin ibn ben bint abd abdul abdel abdal abdol abdur abdu
van vander vanden vande von der den de del dela della di da du dos das la le mac mc st saint
""".split(), key=lambda p: (-len(p), p)))
STEM_MIN_LENGTH = 4
ARTICLE_STEM_MIN_LENGTH = 3
_VOWEL_LETTERS = frozenset("aeiouy")
# 'Abd ("servant of") with the article, written as one word: one token "abd" ("Abdul Aziz" = "Abd al-Aziz").
ABD_FORMS = frozenset("abdul abdel abdal abdol abdoul abdu abdur".split())


@lru_cache(maxsize=262_144)
def stem(token: str) -> str:
    """The token without the particles written joined at its start: "alkabi" → "kabi", "vanderberg" → "berg";
    the token itself when it has none (what is left must have ``STEM_MIN_LENGTH`` letters)."""
    while True:
        for prefix in PARTICLE_PREFIXES:
            rest = token[len(prefix):]
            if not token.startswith(prefix):
                continue
            if (prefix in {"al", "el"} and len(rest) >= ARTICLE_STEM_MIN_LENGTH) or \
                    (len(rest) >= STEM_MIN_LENGTH and (len(prefix) > 2 or rest[0] not in _VOWEL_LETTERS)):
                token = rest
                break
        else:
            return token


# The alternations of the romanisation systems in use: Cyrillic's BGN/PCGN, ISO 9 (diacritics dropped), ICAO and
# the older passport styles (shch/sch/sc, sh/s, zh/z, ch/c, ts/c, kh/h, j/y/i for й), and Arabic's English, French
# and scholarly ones (kh/h, gh/g, dh/d, th/t, q/k, ou/u, ee/i, dj/j).
_SPELLINGS = (("shch", "s"), ("sch", "s"), ("sh", "s"), ("zh", "z"), ("ch", "c"), ("ts", "c"), ("tz", "c"), ("kh", "h"),
              ("gh", "g"), ("ph", "f"), ("dh", "d"), ("th", "t"), ("ou", "u"), ("ee", "i"), ("oo", "u"), ("aa", "a"),
              ("q", "k"), ("c", "k"), ("y", "i"), ("w", "v"), ("z", "s"), ("x", "ks"))
# ISO 9 and the scholarly style write й, я, ю, е with j: after a vowel j is й ("sergej", "mixajlovic" → i);
# between a consonant (or the start) and a vowel it is the y of я/ю ("karjakin", "vjaceslav", "jurij" → y). ICAO and
# GOST write ю, я as iu, ia at the start ("iulia"); French writes و before a vowel as ou ("aouad" for "awad").
_SHORT_I = re.compile(r"(?<=[aeiouy])j(?![aeiouy])")
_IOTATED = re.compile(r"(?<![aeiouy])j(?=[aeiouy])")
_INITIAL_I = re.compile(r"^i(?=[aeou])")
_OU_W = re.compile(r"ou(?=[aei])")
_J_SOUNDS = (("dzh", "j"), ("dj", "j"), ("dz", "j"))


@lru_cache(maxsize=262_144)
def respellings(token: str) -> tuple[str, ...]:
    """The token with the romanisation systems' alternatives folded to one spelling. An x is kh in GOST and the
    scholarly style ("mixail") and ks in English ("alexander"): a token with x has both readings."""
    for old, new in _J_SOUNDS:
        token = token.replace(old, new)
    token = _OU_W.sub("w", _INITIAL_I.sub("y", token))
    token = _IOTATED.sub("y", _SHORT_I.sub("i", token))
    readings = [token.replace("x", "kh"), token] if "x" in token else [token]
    out = []
    for reading in readings:
        for old, new in _SPELLINGS:
            reading = reading.replace(old, new)
        out.append(reading)
    return tuple(dict.fromkeys(out))


@lru_cache(maxsize=262_144)
def skeletons(token: str) -> frozenset[str]:
    """Transliteration keys: the spellings folded (:func:`respellings`), then the first letter and the
    consonants, doubled letters once: "Yusuf"/"Yousef" → "isf", "Mixail"/"Mikhail" → "mhl"."""
    keys = set()
    for reading in respellings(token):
        key = reading[:1] + "".join(ch for ch in reading[1:] if ch not in "aeiou")
        keys.add("".join(ch for i, ch in enumerate(key) if i == 0 or ch != key[i - 1]))
    return frozenset(keys)


def skeleton(token: str) -> str:
    """The first transliteration key (the one reading of a token without x)."""
    return min(skeletons(token))


_VOWEL_RUN = re.compile(r"[aeiou]+")
_DOUBLED = re.compile(r"(.)\1+")


@lru_cache(maxsize=262_144)
def frames(token: str) -> frozenset[str]:
    """The consonants in place, each run of vowels one slot, and how many vowels: "noor"/"nour" → "n_r#2",
    "isse"/"issa" → "_s_#2".
    Short names differ between romanisations mostly in their vowels. An initial y before a vowel stays a
    consonant ("yang" is not "aung")."""
    out = set()
    for reading in respellings(token):
        if reading[:1] == "i" and token[:1] in {"y", "j", "i"} and token[1:2] in _VOWEL_LETTERS:
            reading = "y" + reading[1:]
        vowels = sum(ch in "aeiou" for ch in reading)  # "omar"/"umair" share a frame, not a vowel count
        out.add(_VOWEL_RUN.sub("_", _DOUBLED.sub(r"\1", reading)) + f"#{vowels}")
    return frozenset(out)


# Mandarin syllables (pinyin: initials × finals, a superset of the ~400 in use): two of them that differ in a
# vowel are two names ("zheng"/"zhang", "li"/"lu"), not one name romanised twice.
_PINYIN = re.compile(r"(zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?(iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|van|ai|ei|ao|ou"
                     r"|an|en|in|un|vn|er|ia|ie|iu|ua|uo|ue|ui|ve|a|o|e|i|u|v)")


@lru_cache(maxsize=65_536)
def is_pinyin(token: str) -> bool:
    """One Mandarin syllable ("li", "zhang"). Two-syllable names are left out: "hana", "rena", "hasen" look like
    two syllables and are Arabic names romanised two ways (measured: Arabic recall fell from 0.97 to 0.93)."""
    return _PINYIN.fullmatch(token) is not None


@lru_cache(maxsize=262_144)
def forms(token: str) -> frozenset[str]:
    """Every form a comparison looks at: the token, its stem and their respellings. Two tokens reach the
    matcher's ``token_min`` only if two of their forms are equal, nicknames, or close in Jaro-Winkler, so the
    index that finds candidates looks all of them up (``matcher.ListIndex``)."""
    out = {token, stem(token)}
    for form in tuple(out):
        out.update(respellings(form))
    return frozenset(out)
