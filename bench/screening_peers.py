"""The public peers of paybatch's matcher, run on the same cases: OpenSanctions' ``nomenklatura`` matchers.

``logic-v2`` is yente's default (its default threshold is 0.70); ``ofac`` emulates OFAC's own Sanctions List
Search. Both score a query entity against one list entity, so they need candidates, as yente gets them from
its search index. **Retrieval here** is neutral and generous: each customer's 20 nearest list entries by
character n-gram TF-IDF cosine over every listed name (primary and aliases, folded to ASCII, what a search
index's n-gram analyser finds), and for a positive its true entry always (the peers' recall is an upper bound:
retrieval never costs them a hit). paybatch screens with its own token index, which equals its exhaustive
scorer (a property test), so it gets no such help.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.screening_cases import Case
from paybatch.screening.lists import SanctionsList
from paybatch.screening.names import fold

PEERS = {"logic-v2": 0.70, "ofac": 0.90}  # the matcher and its threshold (ofac at 0.85 alerts on a fifth of negatives)
NEAREST = 20
_SCHEMAS = {"individual": "Person", "entity": "Organization", "vessel": "Vessel", "aircraft": "Airplane"}


def nearest_entries(sanctions: SanctionsList, cases: Sequence[Case], k: int = NEAREST) -> list[list[int]]:
    """Each case's ``k`` nearest entries (indices) by character 2–3-gram TF-IDF cosine over every listed name."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    owners = np.asarray([e for e, entry in enumerate(sanctions.entries) for _ in entry.names])
    names = [fold(n) for entry in sanctions.entries for n in entry.names]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), sublinear_tf=True)
    matrix = vectorizer.fit_transform(names)
    out: list[list[int]] = []
    for start in range(0, len(cases), 512):
        block = vectorizer.transform([fold(c.customer.name) for c in cases[start:start + 512]])
        scores = (block @ matrix.T).toarray()
        for row in scores:
            top = owners[np.argsort(-row)[: k * 4]]
            out.append(list(dict.fromkeys(top.tolist()))[:k])
    return out


class Peer:
    """One nomenklatura matcher with FollowTheMoney entities made once per list entry."""

    def __init__(self, name: str, sanctions: SanctionsList) -> None:
        from followthemoney import model
        from nomenklatura.matching import get_algorithm

        algorithm = get_algorithm(name)
        if algorithm is None:
            raise SystemExit(f"nomenklatura has no matcher {name!r}")
        self.name, self.threshold, self.algorithm = name, PEERS[name], algorithm
        self.config = algorithm.default_config()
        self._model, self._ids = model, itertools.count()
        self.entities = [self._entity(_SCHEMAS.get(e.type, "LegalEntity"), e.names, e.dobs, e.countries, e.id)
                         for e in sanctions.entries]

    def _entity(self, schema: str, names: Sequence[str], dobs: Sequence[str], countries: Sequence[str], ident: str = "") -> Any:
        entity = self._model.make_entity(schema)
        entity.id = ident or f"q{next(self._ids)}"  # nomenklatura caches per entity id: every query its own
        for name in names:
            entity.add("name", name)
        if schema == "Person":
            for dob in dobs:
                entity.add("birthDate", dob, quiet=True)
        for country in countries:
            entity.add("country", country, quiet=True, fuzzy=True)
        return entity

    def scores(self, case: Case, candidates: Sequence[int]) -> dict[int, float]:
        """The matcher's score of the case against each candidate entry."""
        customer = case.customer
        query = self._entity(_SCHEMAS.get(customer.type, "LegalEntity"), [customer.name],
                             [customer.dob] if customer.dob else [], [customer.country] if customer.country else [])
        return {e: float(self.algorithm.compare(query, self.entities[e], self.config).score) for e in candidates}
