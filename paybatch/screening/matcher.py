"""The name score, the token index that finds candidates, and the exhaustive scorer it must agree with.

Token similarity is :mod:`paybatch.screening.similarity`'s. **Name score** (customer name q against one list
name c): the best pairs are taken greedily, highest similarity first, each token used once; a token may also
pair with two or three adjacent tokens of the other name written together ("lechugalicona" for "lechuga
licona": ``compound``). At least ``min(2, |q|, |c|)`` pairs must match and one of them must be an *anchor*
(two tokens of two letters or more, neither an initial nor a nickname pair), else the score is 0 ("George
Bush" matches only "george" in "George Habbash": 0). Otherwise the score is the mean similarity over the
shorter name's tokens (0 for an unmatched one), each weighted by its rarity on the list (inverse document
frequency), less ``extra_token_penalty`` for each unmatched token of the longer name — for the list's
longer name, that for the first and ``extra_list_token_penalty`` for each further one (customers leave middle
names out). Then, for the entry: ``type_penalty`` when the customer's type differs from the entry's; with both
dates of birth, ``dob_bonus`` for the same year or ``dob_penalty`` for years more than one apart; with both
countries, ``country_bonus`` for one in common or ``country_penalty`` for none. The entry's score is its best
name's (primary or alias).

**Blocking never loses a match.** A score above 0 needs an anchor pair with ``sim >= token_min`` or a
compound pair. The index looks up, for each query token, the list tokens sharing one of its forms, its
nicknames' tokens, and every list token (or stem) within ``token_min - phonetic_bonus`` Jaro-Winkler of the
token or its stem (rapidfuzz ``cdist``), and, for compounds, the joined adjacent tokens on either side; every
name holding one of them is a candidate and is scored exactly as the exhaustive scorer scores it.
``tests/unit/test_screening_matcher.py`` checks the two agree on generated inputs and arbitrary text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cdist

from paybatch.screening.lists import SanctionsList
from paybatch.screening.names import forms, stem, tokens
from paybatch.screening.similarity import DEFAULT_POLICY, WEAK, ScoringPolicy, nickname_groups, token_similarity


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    type: str = ""  # individual | entity | "" (unknown)
    dob: str = ""  # YYYY or YYYY-MM-DD
    country: str = ""  # ISO code or name


@dataclass
class Match:
    customer_id: str
    entry_id: str
    matched_name: str
    score: float
    explanation: dict[str, Any] = field(default_factory=dict)


Pair = tuple[float, tuple[int, ...], tuple[int, ...], str]  # similarity, query token indices, list token indices, how


@lru_cache(maxsize=1 << 18)
def _joins(tokens: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    """Two or three adjacent tokens written together → their positions."""
    return {"".join(tokens[k:k + n]): tuple(range(k, k + n)) for n in (3, 2) for k in range(len(tokens) - n + 1)}


def _compound_pairs(query: Sequence[str], candidate: Sequence[str], policy: ScoringPolicy) -> list[Pair]:
    """One token that is two or three adjacent tokens of the other name written together ("gutierrezaguirre" for
    "gutierrez aguirre", "abubakr" for "abu bakr")."""
    pairs: list[Pair] = []
    for (one, two, flip) in ((query, candidate, False), (candidate, query, True)):
        joined = _joins(tuple(one))
        if not joined:
            continue
        for j, token in enumerate(two):
            run = joined.get(token)
            if run is not None:
                single: tuple[int, ...] = (j,)
                pairs.append((policy.compound, single, run, "compound") if flip else (policy.compound, run, single, "compound"))
    return pairs


def name_score(query: Sequence[str], candidate: Sequence[str], sims: dict[tuple[str, str], tuple[float, str]],
               policy: ScoringPolicy, weight: Any = None) -> tuple[float, list[tuple[str, str, float, str]]]:
    """The name score from the pair similarities at or above ``token_min`` (absent pairs are no match) and the
    compound pairs (one token written for two adjacent ones).

    ``weight(token)`` is how much a token says about who is named (rarer on the list, more); the matched
    similarities are averaged with those weights over the shorter name, a matched pair weighing as its list token(s).
    """
    weight = weight or (lambda _token: 1.0)
    pairs: list[Pair] = [(sims[(a, b)][0], (i,), (j,), sims[(a, b)][1]) for i, a in enumerate(query)
                         for j, b in enumerate(candidate) if (a, b) in sims]
    pairs += _compound_pairs(query, candidate, policy)
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    used_q: set[int] = set()
    used_c: set[int] = set()
    matched: list[tuple[str, str, float, str]] = []
    matched_weight = weighted = 0.0
    for sim, qs, cs, how in pairs:
        if used_q.intersection(qs) or used_c.intersection(cs):
            continue
        used_q.update(qs)
        used_c.update(cs)
        w = sum(weight(candidate[j]) for j in cs)
        matched_weight += w
        weighted += w * sim
        matched.append((" ".join(query[i] for i in qs), " ".join(candidate[j] for j in cs), round(sim, 4), how))
    required = min(2, len(query), len(candidate))
    if len(matched) < required or not any(len(a) > 1 and len(b) > 1 and how not in WEAK for a, b, _, how in matched):
        return 0.0, matched  # no anchor: names that meet only in initials or nicknames ("Ivan Leon"/"John Lee") do not match
    short_side, short_used, long_side, long_used = (query, used_q, candidate, used_c) if len(query) <= len(candidate) \
        else (candidate, used_c, query, used_q)
    total = matched_weight + sum(weight(t) for i, t in enumerate(short_side) if i not in short_used)
    extra = len(long_side) - len(long_used)
    if long_side is candidate and extra:  # the list's fuller name: customers leave middle names out, the first costs most
        penalty = policy.extra_token_penalty + policy.extra_list_token_penalty * (extra - 1)
    else:
        penalty = policy.extra_token_penalty * extra
    score = weighted / total - penalty
    return max(0.0, score), matched


def customer_tokens(customer: Customer) -> tuple[str, ...]:
    kind = customer.type.lower()
    return tokens(customer.name, kind=kind if kind in {"individual", "entity"} else "")


def _year(date: str) -> int | None:
    return int(date[:4]) if len(date) >= 4 and date[:4].isdigit() else None


def adjust(score: float, customer: Customer, entry: Any, policy: ScoringPolicy) -> tuple[float, dict[str, float]]:
    """Type, date-of-birth and country adjustments of an entry's best name score."""
    parts: dict[str, float] = {}
    ctype = customer.type.lower()
    if ctype in {"individual", "entity"} and entry.type and (entry.type == "individual") != (ctype == "individual"):
        parts["type"] = -policy.type_penalty
    year, years = _year(customer.dob), [y for y in (_year(d) for d in entry.dobs) if y]
    if year and years:
        parts["dob"] = policy.dob_bonus if any(abs(year - y) <= 0 for y in years) else (
            -policy.dob_penalty if all(abs(year - y) > 1 for y in years) else 0.0)
    if customer.country and entry.countries:
        same = customer.country.strip().lower() in {c.lower() for c in entry.countries}
        parts["country"] = policy.country_bonus if same else -policy.country_penalty
    return min(1.0, max(0.0, score + sum(parts.values()))), parts


class ListIndex:
    """The list's names, their tokens and the token index the blocked matcher looks candidates up in."""

    def __init__(self, sanctions: SanctionsList, policy: ScoringPolicy = DEFAULT_POLICY) -> None:
        self.sanctions, self.policy, self.version = sanctions, policy, sanctions.version
        self.names: list[tuple[int, str, tuple[str, ...]]] = []  # (entry index, name as listed, tokens)
        for e, entry in enumerate(sanctions.entries):
            for name in entry.names:
                toks = tokens(name, kind="individual" if entry.type == "individual" else "entity")
                if toks:
                    self.names.append((e, name, toks))
        postings: dict[str, list[int]] = defaultdict(list)
        for n, (_, _, toks) in enumerate(self.names):
            for t in set(toks):
                postings[t].append(n)
        self.vocab = sorted(postings)
        self.postings = {t: np.asarray(ids, dtype=np.int32) for t, ids in postings.items()}
        self.name_tokens = np.asarray([len(toks) for _, _, toks in self.names], dtype=np.int32)
        self.name_initials = np.asarray([sum(len(t) == 1 for t in toks) for _, _, toks in self.names], dtype=np.int32)
        joined: dict[str, set[int]] = defaultdict(set)  # two adjacent tokens written together → the names
        for n, (_, _, toks) in enumerate(self.names):
            for width in (2, 3):
                for k in range(len(toks) - width + 1):
                    joined["".join(toks[k:k + width])].add(n)
        self.joined_postings = {t: np.asarray(sorted(ids), dtype=np.int32) for t, ids in joined.items()}
        self.by_nickname: dict[str, list[str]] = defaultdict(list)
        self._forms: dict[str, list[str]] = defaultdict(list)  # a form (names.forms) → the list tokens with it
        for t in self.vocab:
            for group in frozenset().union(*(nickname_groups(f) for f in forms(t))):
                self.by_nickname[group].append(t)
            if len(t) > 1:
                for form in forms(t):
                    self._forms[form].append(t)
        # Fuzzy look-ups need only the tokens and their stems (the Jaro-Winkler gates are on those); the respelled
        # forms are looked up exactly (one spelling in two systems), which keeps the cold look-up cheap.
        self._fuzzy_forms = sorted({f for t in self.vocab if len(t) > 1 for f in (t, stem(t))})
        self._similar: dict[str, dict[str, tuple[float, str]]] = {}  # a query token → its similar list tokens
        self._names_of: dict[str, npt.NDArray[np.int32]] = {}  # a query token → the names it anchors in
        # Inverse document frequency over the list's names: a given name on a thousand names weighs less than a surname.
        total = len(self.names) + 1
        self.weights = {t: 1.0 + float(np.log(total / (1 + len(ids)))) for t, ids in self.postings.items()}
        self.unseen_weight = 1.0 + float(np.log(total))

    def weight(self, token: str) -> float:
        return self.weights.get(token, self.unseen_weight)

    def similar_tokens(self, query_tokens: Iterable[str]) -> dict[str, dict[str, tuple[float, str]]]:
        """For each query token, every list token with ``sim >= token_min`` (and how): exact, nickname, fuzzy,
        particle. Remembered per token (bounded): a nightly run meets the same given names and surnames again and again."""
        wanted = sorted({t for t in query_tokens if t})
        cache = self._similar
        new = [a for a in wanted if a not in cache]
        if new:
            if len(cache) + len(new) > 400_000:  # replaced, not cleared: the API's other threads may be reading them
                cache = self._similar = {}
                self._names_of = {}
            cache.update(self._find_similar(new))
        return {a: cache[a] for a in wanted}

    def _find_similar(self, wanted: Sequence[str]) -> dict[str, dict[str, tuple[float, str]]]:
        """A pair reaches ``token_min`` only through its tokens or their stems (exact, nickname, or a Jaro-Winkler
        of ``token_min - phonetic_bonus`` or more): every such pair of forms is looked up."""
        policy = self.policy
        found: dict[str, dict[str, tuple[float, str]]] = {t: {} for t in wanted}
        owners: dict[str, list[str]] = defaultdict(list)  # a query form → the query tokens with it
        for a in wanted:
            if len(a) > 1:
                for form in forms(a):
                    owners[form].append(a)

        def consider(a: str, b: str) -> None:
            if b not in found[a]:
                sim = token_similarity(a, b, policy)
                if sim[0] >= policy.token_min:
                    found[a][b] = sim

        query_forms = sorted({f for a in wanted if len(a) > 1 for f in (a, stem(a))})
        cutoff = policy.token_min - policy.phonetic_bonus
        for start in range(0, len(query_forms), 256):  # a dense block of scores at a time
            block = query_forms[start:start + 256]
            scores = cdist(block, self._fuzzy_forms, scorer=JaroWinkler.normalized_similarity, score_cutoff=cutoff,
                           dtype=np.float32)
            rows, cols = np.nonzero(scores)
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
                for a in owners[block[r]]:
                    for b in self._forms[self._fuzzy_forms[c]]:
                        consider(a, b)  # (a token whose stem or respelling is this form is considered too: a superset)
        for form, tokens_with_form in owners.items():
            for a in tokens_with_form:
                for b in self._forms.get(form, ()):
                    consider(a, b)
                for b in (b for group in nickname_groups(form) for b in self.by_nickname.get(group, ())):
                    consider(a, b)
        for a in wanted:
            if a in self.postings:
                found[a][a] = (1.0, "exact")
        return found  # initials support a match but never make a candidate: ``_score`` pairs them per candidate

    def match(self, customers: Sequence[Customer], threshold: float | None = None) -> list[Match]:
        """Every (customer, entry) scoring at or above the threshold: blocked by the token index."""
        threshold = self.policy.threshold if threshold is None else threshold
        queries = [(c, customer_tokens(c)) for c in customers]
        similar = self.similar_tokens(t for _, toks in queries for t in toks)
        names_of = self._names_of  # query token → the names holding a token it anchors to (remembered with ``_similar``)
        for a, found in similar.items():
            if a not in names_of:
                lists = [self.postings[b] for b, (_, how) in found.items() if how != "initial"] if len(a) > 1 else []
                names_of[a] = np.unique(np.concatenate(lists)) if lists else np.empty(0, dtype=np.int32)
        results: list[Match] = []
        for customer, toks in queries:
            per_token = [names_of[a] for a in toks if len(a) > 1 and len(names_of[a])]  # a repeated token counts twice
            # Compound pairs: a query token that is two adjacent list tokens written together, or the reverse.
            per_token += [self.joined_postings[a] for a in toks if a in self.joined_postings]
            per_token += [self.postings[j] for j in ("".join(toks[k:k + w]) for w in (2, 3) for k in range(len(toks) - w + 1))
                          if j in self.postings]
            if not per_token:
                continue
            candidates, anchored = np.unique(np.concatenate(per_token), return_counts=True)
            # A name can match at most (tokens anchored) + (initial pairs) tokens; it needs min(2, |q|, |c|) of them.
            initials = sum(len(a) == 1 for a in toks)
            possible = anchored + initials + self.name_initials[candidates]
            needed = np.minimum(min(2, len(toks)), self.name_tokens[candidates])
            candidates = candidates[possible >= needed]
            sims = {(a, b): s for a in toks for b, s in similar[a].items()}
            results += self._score(customer, toks, candidates.tolist(), sims, threshold)
        return results

    def match_exhaustive(self, customers: Sequence[Customer], threshold: float | None = None) -> list[Match]:
        """The same scores over every list name (no index): the reference the blocked matcher must equal."""
        threshold = self.policy.threshold if threshold is None else threshold
        results: list[Match] = []
        for customer in customers:
            toks = customer_tokens(customer)
            sims: dict[tuple[str, str], tuple[float, str]] = {}
            for a in set(toks):
                for b in self.vocab:
                    s = token_similarity(a, b, self.policy)
                    if s[0] >= self.policy.token_min:
                        sims[(a, b)] = s
            results += self._score(customer, toks, range(len(self.names)), sims, threshold)
        return results

    def _score(self, customer: Customer, toks: tuple[str, ...], candidates: Iterable[int],
               sims: dict[tuple[str, str], tuple[float, str]], threshold: float) -> list[Match]:
        best: dict[int, tuple[float, int, list[Any], dict[str, float]]] = {}
        for n in candidates:
            entry_index, _, name_tokens = self.names[n]
            for a in toks:  # an initial (on either side) pairs with the other side's tokens by their first letter
                for b in name_tokens:
                    if (len(a) == 1) != (len(b) == 1) and a[0] == b[0]:
                        sims[(a, b)] = (self.policy.initial, "initial")
            score, matched = name_score(toks, name_tokens, sims, self.policy, self.weight)
            if score <= 0:
                continue
            final, parts = adjust(score, customer, self.sanctions.entries[entry_index], self.policy)
            if final >= threshold and (entry_index not in best or final > best[entry_index][0]):
                best[entry_index] = (final, n, matched, {"name": round(score, 4), **parts})
        out = []
        for entry_index, (final, n, matched, parts) in sorted(best.items()):
            entry = self.sanctions.entries[entry_index]
            out.append(Match(customer.id, entry.id, self.names[n][1], round(final, 4), {
                "matched_tokens": [{"customer": a, "list": b, "similarity": s, "how": how} for a, b, s, how in matched],
                "components": parts, "entry_type": entry.type, "programs": entry.programs,
                "alias": self.names[n][1] != entry.names[0]}))
        return out
