"""How alike two name tokens are: the screening score's smallest part, and the policy that tunes it.

``sim(a, b)`` (both normalised by :mod:`paybatch.screening.names`), the first rule that applies:

- 1.0 equal; ``initial`` (0.9) when one is the other's initial ("j"/"john");
- ``nickname`` (0.90) when one is a nickname of the other ("bob"/"robert", the ``nicknames`` package);
- 0 for two different Mandarin syllables ("zheng"/"zhang": two names, not one romanised twice), c/ch, s/sh
  and z/zh aside;
- ``one_edit`` (0.94) for one letter changed, added, dropped or two swapped, past the first letter, in tokens
  of 5 letters (and 4);
- ``transliteration`` (0.92) when the tokens are one spelling in two romanisation systems
  (:func:`names.respellings` agree: "dzhang"/"jang", "mixail"/"mikhail"); or, with a Jaro-Winkler of
  ``token_min``, when their transliteration skeletons agree ("yusuf"/"yousef"); or, with a Jaro-Winkler of
  ``token_min - phonetic_bonus`` and 4 letters or more, when only their vowels differ (:func:`names.frames`:
  "noor"/"nour");
- else the lower of Jaro-Winkler and its mean with the Indel similarity, plus ``phonetic_bonus`` when the
  metaphone keys agree and minus ``phonetic_penalty`` when they do not, or minus ``short_penalty`` for a
  token of ``short_length`` letters or fewer (Jaro-Winkler is generous to short strings).

Then, when a token starts with a particle written joined ("alkabi"/"kabi", :func:`names.stem`), the stems'
similarity less ``particle_penalty`` if that is higher. Pairs below ``token_min`` count as no match.

**What the index relies on.** A pair reaches ``token_min`` only if two of the tokens' forms (the token, its
stem, their respellings: :func:`names.forms`) are equal or nicknames, or the tokens or their stems have a
Jaro-Winkler of ``token_min - phonetic_bonus`` or more (one edit in 5 letters leaves it above 0.86; the
fuzzy score never exceeds it by more than ``phonetic_bonus``). :class:`matcher.ListIndex` looks up exactly those.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jellyfish import metaphone
from rapidfuzz.distance import OSA, Indel, JaroWinkler

from paybatch.screening.names import frames, is_pinyin, respellings, skeletons, stem


@dataclass(frozen=True)
class ScoringPolicy:
    threshold: float = 0.92  # its recall and alert rates, per class and locale: docs/benchmarks.md (make bench)
    token_min: float = 0.80
    nickname: float = 0.90
    transliteration: float = 0.92
    one_edit: float = 0.94
    one_edit_min_length: int = 5
    skeleton_min: int = 3
    initial: float = 0.90
    phonetic_bonus: float = 0.05
    phonetic_penalty: float = 0.02
    short_penalty: float = 0.10
    short_length: int = 4
    extra_token_penalty: float = 0.04
    extra_list_token_penalty: float = 0.01  # each further token the list's name has and the customer's has not
    type_penalty: float = 0.10
    dob_bonus: float = 0.02
    dob_penalty: float = 0.08
    country_bonus: float = 0.02
    country_penalty: float = 0.04
    particle_penalty: float = 0.03
    compound: float = 0.97


DEFAULT_POLICY = ScoringPolicy()
WEAK = frozenset({"initial", "nickname"})  # pairs that support a match but never anchor one


@lru_cache(maxsize=262_144)
def phonetic(token: str) -> str:
    return metaphone(token) if token.isalpha() else token


@lru_cache(maxsize=65_536)
def nickname_groups(token: str) -> frozenset[str]:
    """The canonical given names a token is, or is a nickname of (empty for tokens that are neither)."""
    namer = _namer()
    groups = set(namer.canonicals_of(token))
    if namer.nicknames_of(token):
        groups.add(token)
    return frozenset(groups)


@lru_cache(maxsize=1)
def _namer() -> Any:
    from nicknames import NickNamer

    return NickNamer()


def token_similarity(a: str, b: str, policy: ScoringPolicy = DEFAULT_POLICY) -> tuple[float, str]:
    """``sim(a, b)`` and how it was reached: exact, initial, nickname, one edit, transliteration or fuzzy — or, when
    one of them starts with a joined particle ("alkabi"/"kabi"), their stems' similarity less ``particle_penalty``."""
    best = _similarity(a, b, policy)
    if best[0] < 1.0 and len(a) > 1 and len(b) > 1:
        sa, sb = stem(a), stem(b)
        if (sa, sb) != (a, b):
            inner, how = _similarity(sa, sb, policy)
            if inner - policy.particle_penalty > best[0]:
                best = (round(inner - policy.particle_penalty, 4), f"particle, {how}")
    return best


def _similarity(a: str, b: str, policy: ScoringPolicy) -> tuple[float, str]:
    if a == b:
        return 1.0, "exact"
    if len(a) == 1 or len(b) == 1:
        return (policy.initial, "initial") if a[0] == b[0] and len(a) != len(b) else (0.0, "none")
    if nickname_groups(a) & nickname_groups(b):
        return policy.nickname, "nickname"
    if is_pinyin(a) and is_pinyin(b) and a.replace("h", "") != b.replace("h", ""):
        return 0.0, "none"  # two Mandarin syllables that differ are two names ("zheng"/"zhang"), c/ch, s/sh, z/zh aside
    jaro_winkler = JaroWinkler.normalized_similarity(a, b)
    if max(len(a), len(b)) >= policy.one_edit_min_length and min(len(a), len(b)) >= policy.one_edit_min_length - 1 \
            and a[0] == b[0] and OSA.distance(a, b, score_cutoff=1) <= 1:
        return policy.one_edit, "one edit"  # a typo: one letter changed, added, dropped or two swapped
    readings_a, readings_b = respellings(a), respellings(b)
    if min(len(a), len(b)) >= 3 and set(readings_a) & set(readings_b):
        return policy.transliteration, "transliteration"  # one spelling in two systems: "dzhang"/"jang", "mixail"/"mikhail"
    # Keys that drop letters (skeletons, vowel frames) only where the tokens are close as written: gated on the
    # respelled tokens they let "jeongho" pass for "yong" (measured: a third more alerts on negatives).
    if jaro_winkler >= policy.token_min and any(len(k) >= policy.skeleton_min for k in skeletons(a) & skeletons(b)):
        return policy.transliteration, "transliteration"
    if jaro_winkler >= policy.token_min - policy.phonetic_bonus and min(len(a), len(b)) >= 4 and frames(a) & frames(b) \
            and not (is_pinyin(a) or is_pinyin(b)):
        return policy.transliteration, "transliteration"  # "noor"/"nour", "issa"/"isse": only the vowels differ
    # Jaro-Winkler rewards a shared prefix ("tanaka"/"taan" 0.82); averaged with the edit similarity (Indel)
    # it no longer does, and a real typo or transliteration keeps both high. Never above Jaro-Winkler itself.
    score = min(jaro_winkler, (jaro_winkler + Indel.normalized_similarity(a, b)) / 2)
    if min(len(a), len(b)) <= policy.short_length:
        score -= policy.short_penalty + policy.phonetic_penalty  # short tokens: no phonetic credit either
    else:
        score += policy.phonetic_bonus if phonetic(a) == phonetic(b) else -policy.phonetic_penalty
    return min(score, 0.99), "fuzzy"
