"""Sanctions screening: recall per variant class, alerts on negatives, the threshold curve, the nightly run's
speed on 300 k customers (Spark, 2 cores), and the real-time API's latency — beside a whole-name Jaro-Winkler
baseline (rapidfuzz ``cdist`` over every list name, what a user would write first) and the design documents'
anchors (the incumbent Go service: about 11 names/s; the Java port's proof of concept: about 42 names/s per
task; OpenSanctions' yente: 4–30 queries/s per vCPU).
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.measure import run_measured
from paybatch.screening.lists import SanctionsList, parse
from paybatch.screening.matcher import Customer, ListIndex
from paybatch.screening.names import fold
from paybatch.screening.similarity import DEFAULT_POLICY
from paybatch.screening.synthetic import ENTITY_ONLY, PERSON_ONLY, VARIANT_KINDS, negatives, variant, write_ofac_list

LIST_ENTRIES = 15_000
PER_CLASS = 300
NEGATIVES = 10_000
BULK_CUSTOMERS = 300_000
THRESHOLDS = (0.86, 0.88, 0.90, 0.92, 0.94, 0.96)


def labelled(sanctions: SanctionsList, seed: int = 5) -> tuple[list[Customer], dict[str, str]]:
    rng = random.Random(seed)
    people, truth = [], {}
    for kind in VARIANT_KINDS:
        made = 0
        while made < PER_CLASS:
            entry = rng.choice(sanctions.entries)
            if (kind in PERSON_ONLY and entry.type != "individual") or (kind in ENTITY_ONLY and entry.type == "individual"):
                continue
            name = variant(rng.choice(entry.names) if kind == "exact" else entry.names[0], kind, rng)
            if name is None:
                continue
            people.append(Customer(f"{kind}-{made}", name))
            truth[f"{kind}-{made}"] = entry.id
            made += 1
    return people, truth


def curve(found: dict[str, float], truth: dict[str, str], negative_scores: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    for t in THRESHOLDS:
        row: dict[str, Any] = {"threshold": t}
        for kind in VARIANT_KINDS:
            ids = [i for i in truth if i.startswith(f"{kind}-")]
            row[kind] = sum(found.get(i, 0) >= t for i in ids) / len(ids)
        row["overall"] = sum(found.get(i, 0) >= t for i in truth) / len(truth)
        row["negatives_alerted"] = sum(s >= t for s in negative_scores.values()) / NEGATIVES
        rows.append(row)
    return rows


def paybatch_quality(index: ListIndex, people: list[Customer], truth: dict[str, str], others: list[Customer]) -> list[dict[str, Any]]:
    found: dict[str, float] = defaultdict(float)
    for m in index.match(people, threshold=min(THRESHOLDS)):
        if truth[m.customer_id] == m.entry_id:
            found[m.customer_id] = max(found[m.customer_id], m.score)
    negative: dict[str, float] = defaultdict(float)
    for m in index.match(others, threshold=min(THRESHOLDS)):
        negative[m.customer_id] = max(negative[m.customer_id], m.score)
    return curve(found, truth, negative)


def baseline_quality(sanctions: SanctionsList, people: list[Customer], truth: dict[str, str],
                     others: list[Customer]) -> tuple[list[dict[str, Any]], float]:
    """Whole-name Jaro-Winkler (folded to ASCII, lower case) against every list name: rapidfuzz cdist."""
    from rapidfuzz.distance import JaroWinkler
    from rapidfuzz.process import cdist

    names = [(e.id, fold(n)) for e in sanctions.entries for n in e.names]
    choices = [n for _, n in names]
    ids = np.asarray([i for i, _ in names])

    def best(customers: list[Customer]) -> tuple[np.ndarray, np.ndarray]:
        scores = cdist([fold(c.name) for c in customers], choices, scorer=JaroWinkler.normalized_similarity, dtype=np.float32,
                       workers=1)
        return scores, scores.max(axis=1)

    started = time.perf_counter()
    scores, _ = best(people)
    elapsed = time.perf_counter() - started
    found = {}
    for row, person in zip(scores, people, strict=True):
        mask = ids == truth[person.id]
        found[person.id] = float(row[mask].max())
    _, negative_best = best(others)
    return curve(found, truth, {c.id: float(s) for c, s in zip(others, negative_best, strict=True)}), len(people) / elapsed


def api_latency(index: ListIndex, people: list[Customer]) -> dict[str, dict[str, float]]:
    from paybatch.screening.api import serve_in_background

    httpd, _ = serve_in_background(index)
    url = f"http://127.0.0.1:{httpd.server_address[1]}/screen"
    rng = random.Random(1)
    out = {}
    try:
        for size, rounds in ((1, 400), (100, 60)):
            timings = []
            for _ in range(rounds):
                body = json.dumps({"names": [{"id": p.id, "name": p.name} for p in rng.sample(people, size)]}).encode()
                started = time.perf_counter()
                with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=30) as response:
                    response.read()
                timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            out[str(size)] = {"p50_ms": statistics.median(timings), "p99_ms": timings[int(len(timings) * 0.99) - 1]}
    finally:
        httpd.shutdown()
    return out


def bulk_file(folder: Path, sanctions: SanctionsList) -> Path:
    """300 k customers: 1 % variants of listed names, the rest people on no list (Parquet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(11)
    rows = [(c.id, c.name) for c in negatives(BULK_CUSTOMERS - BULK_CUSTOMERS // 100, seed=12)]
    for i in range(BULK_CUSTOMERS // 100):
        entry = rng.choice(sanctions.entries)
        rows.append((f"p{i}", variant(entry.names[0], rng.choice(("exact", "typo", "name_order")), rng) or entry.names[0]))
    rng.shuffle(rows)
    path = folder / "customers.parquet"
    pq.write_table(pa.table({"id": [r[0] for r in rows], "name": [r[1] for r in rows]}), path)
    return path


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-screening-") as scratch:
        folder = Path(scratch)
        generated = write_ofac_list(folder / "list", LIST_ENTRIES, seed=1)
        sanctions = parse(folder / "list")
        started = time.perf_counter()
        index = ListIndex(sanctions)
        build_s = time.perf_counter() - started
        people, truth = labelled(sanctions)
        others = negatives(NEGATIVES, seed=3)
        print(f"list: {generated.entries:,} entries, {generated.names:,} names with aliases, {len(index.vocab):,} distinct "
              f"tokens; index built in {build_s:.2f} s; default threshold {DEFAULT_POLICY.threshold}")
        ours = paybatch_quality(index, people, truth, others)
        theirs, baseline_rate = baseline_quality(sanctions, people, truth, others)
        print(f"recall per variant class ({PER_CLASS} each) and share of {NEGATIVES:,} negatives alerted, by threshold")
        header = f"{'engine':<10} {'thr':>5} " + " ".join(f"{k[:8]:>8}" for k in VARIANT_KINDS) + f" {'overall':>8} {'neg.':>7}"
        print(header)
        for engine, rows in (("paybatch", ours), ("whole-JW", theirs)):
            for row in rows:
                print(f"{engine:<10} {row['threshold']:>5.2f} " + " ".join(f"{row[k]:>8.3f}" for k in VARIANT_KINDS)
                      + f" {row['overall']:>8.3f} {row['negatives_alerted']:>7.2%}")
        latency = api_latency(index, people)
        print("API (paybatch screen serve, in-process HTTP on 127.0.0.1, full list loaded): "
              + "; ".join(f"{size} name(s) p50 {v['p50_ms']:.1f} ms p99 {v['p99_ms']:.1f} ms" for size, v in latency.items()))
        customers = bulk_file(folder, sanctions)
        run = run_measured("bench.screening_run", str(customers), str(folder / "list"), str(folder / "out"))
        print(f"nightly run, {BULK_CUSTOMERS:,} customers on local[2] Spark (start included, alerts off): {run['wall']:.1f} s wall, "
              f"{run['cpu']:.1f} CPU-s, peak {run['peak_mib']:,.0f} MiB, {BULK_CUSTOMERS / run['wall']:,.0f} names/s; "
              f"{run['matches']:,} matches for {run['customers_matched']:,} customers in {run['tasks']} tasks")
        print(f"whole-name Jaro-Winkler baseline (one core, all pairs): {baseline_rate:,.0f} names/s "
              f"→ {BULK_CUSTOMERS / baseline_rate / 60:,.1f} min for {BULK_CUSTOMERS:,}; anchors: Go service ~11 names/s "
              f"(6–8 h), Java PoC ~42 names/s per task, yente 4–30 queries/s per vCPU")


if __name__ == "__main__":
    sys.exit(main())
