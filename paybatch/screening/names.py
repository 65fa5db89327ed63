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
    if kind != "individual":
        drop = LEGAL_SUFFIXES if kind == "entity" else LEGAL_SUFFIXES - AMBIGUOUS_SUFFIXES
        kept = [w for w in kept if w not in drop] or kept  # a name made only of such words keeps them
    return tuple(kept)


_SPELLINGS = (("kh", "h"), ("gh", "g"), ("ph", "f"), ("dj", "j"), ("dh", "d"), ("th", "t"), ("ou", "u"), ("ee", "i"),
              ("q", "k"), ("c", "k"), ("y", "i"), ("w", "v"), ("z", "s"), ("x", "ks"))


@lru_cache(maxsize=262_144)
def skeleton(token: str) -> str:
    """A transliteration key: the usual spelling alternatives folded (kh/h, q/k, y/i, w/v, ee/i, ph/f …), then the
    first letter and the consonants, doubled letters once: "Yusuf"/"Yousef" → "isf", "Igor"/"Ygor" → "igr"."""
    for old, new in _SPELLINGS:
        token = token.replace(old, new)
    key = token[:1] + "".join(ch for ch in token[1:] if ch not in "aeiou")
    return "".join(ch for i, ch in enumerate(key) if i == 0 or ch != key[i - 1])
