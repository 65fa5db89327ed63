"""Screening on a real list, side by side with the best public matchers, in one run.

The list is OFAC's SDN list as published in April 2021 (``../shared/data/ofac-sdn-2021-04``). Positives are
variants of its primary names and aliases in the classes customers really write (bench/screening_cases.py),
negatives are Faker's people of 25 locales. The same cases go to paybatch (its token index, the default
threshold), to nomenklatura's ``logic-v2`` (yente's default, at 0.70) and to its OFAC Search emulation
``ofac`` (at 0.90) on candidates retrieved as bench/screening_peers.py says. One table: recall per class,
share of negatives alerted per locale; it is written to docs/benchmarks.md with the date.

``python -m bench.bench_screening_list [PER_CLASS PER_LOCALE]`` runs a smaller sample; ``--misses`` also prints
paybatch's misses and false alerts; ``--paybatch-only`` leaves the peers out.
"""

from __future__ import annotations

import datetime
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

from bench.screening_cases import CLASSES, LOCALES, Case, negatives, positives
from bench.screening_peers import PEERS, Peer, nearest_entries
from paybatch.screening.lists import SanctionsList, parse
from paybatch.screening.matcher import ListIndex
from paybatch.screening.similarity import DEFAULT_POLICY

ROOT = Path(__file__).resolve().parents[1]
LIST_FOLDER = ROOT.parent / "shared" / "data" / "ofac-sdn-2021-04"
DOCS = ROOT / "docs" / "benchmarks.md"
MARK_START, MARK_END = "<!-- screening-real-list:start -->", "<!-- screening-real-list:end -->"
PER_CLASS, PER_LOCALE = 200, 400


def paybatch_run(index: ListIndex, cases: list[Case]) -> tuple[dict[str, float], dict[str, float], float]:
    """(score of the true entry, best score of any entry, seconds) per case id, at the default threshold."""
    started = time.perf_counter()
    matches = index.match([c.customer for c in cases])
    elapsed = time.perf_counter() - started
    truth = {c.customer.id: c.truth for c in cases}
    true_score: dict[str, float] = defaultdict(float)
    best: dict[str, float] = defaultdict(float)
    for m in matches:
        best[m.customer_id] = max(best[m.customer_id], m.score)
        if truth[m.customer_id] == m.entry_id:
            true_score[m.customer_id] = max(true_score[m.customer_id], m.score)
    return true_score, best, elapsed


def peer_run(peer: Peer, sanctions: SanctionsList, cases: list[Case],
             nearest: list[list[int]]) -> tuple[dict[str, float], dict[str, float], float]:
    position = {e.id: i for i, e in enumerate(sanctions.entries)}
    true_score, best = {}, {}
    started = time.perf_counter()
    for case, near in zip(cases, nearest, strict=True):
        candidates = list(dict.fromkeys([*([position[case.truth]] if case.truth else []), *near]))
        scores = peer.scores(case, candidates)
        best[case.customer.id] = max(scores.values(), default=0.0)
        if case.truth:
            true_score[case.customer.id] = scores[position[case.truth]]
    return true_score, best, time.perf_counter() - started


def rates(cases: list[Case], true_score: dict[str, float], best: dict[str, float], threshold: float) -> dict[str, float]:
    """Recall per class and share alerted per locale."""
    by_label: dict[str, list[bool]] = defaultdict(list)
    for c in cases:
        hit = (true_score.get(c.customer.id, 0.0) if c.truth else best.get(c.customer.id, 0.0)) >= threshold
        by_label[c.label].append(hit)
        by_label["recall: all classes" if c.truth else "alerted: all locales"].append(hit)
    return {label: sum(hits) / len(hits) for label, hits in by_label.items()}


def render(results: dict[str, dict[str, float]], counts: dict[str, int], seconds: dict[str, float]) -> list[str]:
    engines = list(results)
    header = f"| {'class or locale':<24} | {'n':>5} | " + " | ".join(f"{e:>18}" for e in engines) + " |"
    lines = [header, "|" + "---|" * (len(engines) + 2)]
    rows = [*CLASSES, "recall: all classes", *LOCALES, "alerted: all locales"]
    for row in rows:
        if row not in counts:
            continue
        cells = []
        for engine in engines:
            value = results[engine].get(row, float("nan"))
            cells.append(f"{value:>18.3f}" if row in CLASSES or row.startswith("recall") else f"{value:>17.2%} ")
        lines.append(f"| {row:<24} | {counts[row]:>5} | " + " | ".join(cells) + " |")
    lines.append(f"| {'seconds (all cases)':<24} | {'':>5} | " + " | ".join(f"{seconds[e]:>18.1f}" for e in engines) + " |")
    return lines


BULK_CUSTOMERS = 300_000
COUNTRIES = {"en_US": "United States", "en_GB": "United Kingdom", "en_NG": "Nigeria", "en_IN": "India", "en_PK": "Pakistan",
             "de_DE": "Germany", "fr_FR": "France", "es_ES": "Spain", "es_MX": "Mexico", "it_IT": "Italy", "pt_BR": "Brazil",
             "nl_NL": "Netherlands", "pl_PL": "Poland", "tr_TR": "Turkey", "ru_RU": "Russia", "uk_UA": "Ukraine",
             "el_GR": "Greece", "ar_SA": "Saudi Arabia", "fa_IR": "Iran", "zh_CN": "China", "ja_JP": "Japan",
             "ko_KR": "Korea, South", "th_TH": "Thailand", "id_ID": "Indonesia", "hi_IN": "India"}


def qualifiers(index: ListIndex, sanctions: SanctionsList, cases: list[Case], plain_true: dict[str, float],
               plain_best: dict[str, float]) -> str:
    """The date-of-birth and country qualifiers, measured: every customer carries a birth year and a country (a
    positive its entry's where the list has them, a negative a year drawn from 1940–2000 and its locale's country);
    how many alerts on negatives go at the default threshold, and at the threshold that keeps the recall without them."""
    import random
    from dataclasses import replace

    rng = random.Random(23)
    entries = {e.id: e for e in sanctions.entries}
    carried = []
    for c in cases:
        if c.truth:
            entry = entries[c.truth]
            dob, country = (entry.dobs[0][:4] if entry.dobs else ""), (entry.countries[0] if entry.countries else "")
        else:
            dob, country = str(rng.randint(1940, 2000)), COUNTRIES[c.label]
        carried.append(Case(replace(c.customer, dob=dob, country=country), c.truth, c.label))
    true_score, best, _ = paybatch_run(index, carried)
    positives_n = sum(1 for c in cases if c.truth)
    negatives_n = len(cases) - positives_n

    def recall(scores: dict[str, float], t: float) -> float:
        return sum(scores.get(c.customer.id, 0.0) >= t for c in cases if c.truth) / positives_n

    def alerted(scores: dict[str, float], t: float) -> float:
        return sum(scores.get(c.customer.id, 0.0) >= t for c in cases if not c.truth) / negatives_n

    default = DEFAULT_POLICY.threshold
    target = recall(plain_true, default)
    equal = max((t / 1000 for t in range(850, 1000) if recall(true_score, t / 1000) >= target), default=default)
    return (f"Qualifiers (every customer with a birth year and a country): at {default} recall {recall(plain_true, default):.3f} → "
            f"{recall(true_score, default):.3f}, negatives alerted {alerted(plain_best, default):.2%} → "
            f"{alerted(best, default):.2%}; at equal recall ({target:.3f}, threshold {equal:.3f}) {alerted(best, equal):.2%}.")


def bulk_run(folder: Path, cases: list[Case]) -> dict[str, float]:
    """The nightly run on the real list (local[2] Spark, start included, alerts off): 300 k customers, 1 % of them
    variants, the rest Faker's people drawn again and again from the locales' pools (a real customer base repeats names)."""
    import random

    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.measure import run_measured

    rng = random.Random(17)
    variants = [c.customer.name for c in cases if c.truth]
    people = [c.customer.name for c in cases if not c.truth]
    names = [rng.choice(variants) if i % 100 == 0 else rng.choice(people) for i in range(BULK_CUSTOMERS)]
    path = folder / "customers.parquet"
    pq.write_table(pa.table({"id": [f"c{i}" for i in range(len(names))], "name": names}), path)
    return run_measured("bench.screening_run", str(path), str(LIST_FOLDER), str(folder / "out"))


def write_docs(lines: list[str], intro: str) -> None:
    text = DOCS.read_text()
    block = f"{MARK_START}\n{intro}\n\n" + "\n".join(lines) + f"\n{MARK_END}"
    if MARK_START in text:
        text = re.sub(re.escape(MARK_START) + r".*?" + re.escape(MARK_END), lambda _m: block, text, flags=re.S)
    else:
        text += f"\n## Screening on a real list, beside nomenklatura (bench/bench_screening_list.py)\n\n{block}\n"
    DOCS.write_text(text)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    numbers = [int(a) for a in argv if a.isdigit()]
    per_class, per_locale = (numbers + [PER_CLASS, PER_LOCALE][len(numbers):])[:2] if numbers else (PER_CLASS, PER_LOCALE)
    if not LIST_FOLDER.is_dir():
        print(f"skipped: the real list is not at {LIST_FOLDER}")
        return
    sanctions = parse(LIST_FOLDER)
    cases = positives(sanctions, per_class) + negatives(per_locale)
    counts: dict[str, int] = defaultdict(int)
    for c in cases:
        counts[c.label] += 1
        counts["recall: all classes" if c.truth else "alerted: all locales"] += 1
    index = ListIndex(sanctions)
    print(f"list: OFAC SDN 2021-04, {len(sanctions.entries):,} entries, {sanctions.name_count:,} names; "
          f"{sum(1 for c in cases if c.truth):,} variants, {sum(1 for c in cases if not c.truth):,} negatives")
    results, seconds = {}, {}
    true_score, best, seconds["paybatch"] = paybatch_run(index, cases)
    results["paybatch"] = rates(cases, true_score, best, DEFAULT_POLICY.threshold)
    qualified = qualifiers(index, sanctions, cases, true_score, best)  # the names-only scores of the run above
    print(qualified)
    nearest = nearest_entries(sanctions, cases)
    for name, threshold in ({} if "--paybatch-only" in argv else PEERS).items():
        peer_true, peer_best, seconds[name] = peer_run(Peer(name, sanctions), sanctions, cases, nearest)
        results[name] = rates(cases, peer_true, peer_best, threshold)
    if "--paybatch-only" not in argv:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="bench-screening-list-") as scratch:
            run = bulk_run(Path(scratch), cases)
        from bench.bench_screening import api_latency

        latency = api_latency(ListIndex(sanctions), [c.customer for c in cases])
        speed = (f"Real-time API on this list: one name p50 {latency['1']['p50_ms']:.1f} ms, p99 {latency['1']['p99_ms']:.1f} ms; "
                 f"100 names p99 {latency['100']['p99_ms']:.0f} ms. Nightly run on this list: {BULK_CUSTOMERS:,} customers "
                 "on local[2] Spark (start included, alerts off) in "
                 f"{run['wall']:.1f} s wall, {run['cpu']:.1f} CPU-s, peak {run['peak_mib']:,.0f} MiB "
                 f"({BULK_CUSTOMERS / run['wall']:,.0f} names/s).")
        print(speed)
    names = {"paybatch": f"paybatch {DEFAULT_POLICY.threshold}", **{n: f"{n} {t}" for n, t in PEERS.items() if n in results}}
    lines = render({names[e]: r for e, r in results.items()}, counts, {names[e]: s for e, s in seconds.items()})
    print("\n".join(lines))
    if "--misses" in argv:
        for c in cases:
            score = true_score.get(c.customer.id, 0.0) if c.truth else best.get(c.customer.id, 0.0)
            if (score >= DEFAULT_POLICY.threshold) != bool(c.truth):
                entry = next((e for e in sanctions.entries if e.id == c.truth), None)
                print(f"{c.label:<18} {score:.3f} {c.customer.name!r} -> {entry.names[:3] if entry else ''}")
    if per_class == PER_CLASS and per_locale == PER_LOCALE and len(results) == 1 + len(PEERS):
        intro = (f"Run {datetime.date.today().isoformat()}: OFAC SDN 2021-04 ({len(sanctions.entries):,} entries, "
                 f"{sanctions.name_count:,} names with aliases), {per_class} variants per class, {per_locale} Faker "
                 "negatives per locale. Recall is the share of a class's variants whose true entry scores at or above "
                 "the matcher's threshold; the locale rows are the share of that locale's negatives alerted on any "
                 "entry. The peers score each customer's 20 nearest entries (character n-gram TF-IDF) plus, for a "
                 "positive, its true entry; paybatch screens with its own index. " + speed + "\n\n" + qualified)
        write_docs(lines, intro)


if __name__ == "__main__":
    main()
