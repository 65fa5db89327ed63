"""Synthetic payments: paybatch's generator beside dbldatagen on the same 26 authorization columns.

Each engine runs in its own process (Spark local[2]), alternating, BENCH_GENERATE_ROUNDS times
(default 3) over BENCH_GENERATE_ROWS authorizations (default 4,000,000), and once over 1,000 rows
to measure each engine's fixed start-up cost (Spark session, workers, planning), which gives the
marginal rate (rows per CPU-second with the start-up subtracted) beside the whole-run rate. Then paybatch alone
writes all six tables and the PAN dimension for 1 M and BENCH_GENERATE_SCALE_ROWS (default
10 M) authorizations. Measured as bench/measure.py describes; wall time includes Spark's start.
Floors from the issue: ≥ 3× dbldatagen's rows per CPU-second for the authorization table; all six
tables for 10 M authorizations within 3 minutes; 1 M in ≤ 30 s wall with the driver under 1 GB.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from statistics import median
from typing import Any

from bench.measure import run_measured
from paybatch.pricing import rates

ROWS = int(os.environ.get("BENCH_GENERATE_ROWS", "4000000"))
STARTUP_ROWS = 1_000
SCALE_ROWS = int(os.environ.get("BENCH_GENERATE_SCALE_ROWS", "10000000"))
ROUNDS = int(os.environ.get("BENCH_GENERATE_ROUNDS", "3"))
FILE_ROWS = (62_500, 125_000, 250_000, 500_000, 1_000_000)  # rows per file of the size curve
OURS, THEIRS, ALL = "paybatch, authorization", "dbldatagen, authorization (same columns)", "paybatch, all six tables + PAN dimension"


def run(engine: str, rows: int) -> dict[str, Any]:
    """One measured run; ``bytes`` is what it wrote, each table once (not again for its family's lake bucket)."""
    out = tempfile.mkdtemp(prefix="bench-generate-")
    try:
        result = run_measured("bench.generate_engines", engine, str(rows), out)
        by_root: dict[str, int] = {}
        for p in Path(out).rglob("*"):
            if p.is_file() and len(p.relative_to(out).parts) > 1:
                root = p.relative_to(out).parts[0]
                by_root[root] = by_root.get(root, 0) + p.stat().st_size
        result["bytes"] = sum(n for root, n in by_root.items() if not root.startswith("lake_"))
        result["table_bytes"] = by_root.get("lake", 0)  # the six tables once (their family buckets hold a second copy)
        result["pan_bytes"] = by_root.get("restricted", 0)
        return result
    finally:
        shutil.rmtree(out, ignore_errors=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    runs: dict[str, list[dict[str, Any]]] = {OURS: [], THEIRS: []}
    startup = {engine: run(engine, STARTUP_ROWS) for engine in runs}
    for round_index in range(ROUNDS):
        for engine in ([OURS, THEIRS] if round_index % 2 == 0 else [THEIRS, OURS]):
            runs[engine].append(run(engine, ROWS))
    print(f"authorization table, {ROWS:,} rows, 26 columns, snappy Parquet, median of {ROUNDS} rounds, 2 cores")
    print(f"{'engine':<42} {'rows/s':>9} {'rows/CPU-s':>11} {'start-up CPU-s':>15} {'marginal rows/CPU-s':>20} "
          f"{'peak MiB':>9} {'driver MiB':>11}")
    per_cpu, marginal = {}, {}
    for engine, results in runs.items():
        wall, cpu = median(r["wall"] for r in results), median(r["cpu"] for r in results)
        per_cpu[engine] = ROWS / cpu
        marginal[engine] = (ROWS - STARTUP_ROWS) / max(cpu - startup[engine]["cpu"], 1e-9)
        print(f"{engine:<42} {ROWS / wall:>9,.0f} {ROWS / cpu:>11,.0f} {startup[engine]['cpu']:>15.1f} "
              f"{marginal[engine]:>20,.0f} {max(r['peak_mib'] for r in results):>9,.0f} "
              f"{max(r['driver_peak_mib'] for r in results):>11,.0f}")
    ratio, steady = per_cpu[OURS] / per_cpu[THEIRS], marginal[OURS] / marginal[THEIRS]
    print(f"paybatch / dbldatagen: {ratio:.2f}× rows per CPU-second over the whole run (floor 3×: {verdict(ratio >= 3)}), "
          f"{steady:.2f}× marginal")
    print(f"\n{ALL}:")
    for rows, limit in ((1_000_000, 30.0), (SCALE_ROWS, 180.0)):
        r = run(ALL, rows)
        driver_ok = r["driver_peak_mib"] < 1024
        floor = f"≤ {limit:.0f} s" + (" and driver < 1 GiB" if rows == 1_000_000 else "")
        ok = r["wall"] <= limit and (driver_ok or rows != 1_000_000)
        print(f"  {rows:>10,} authorizations: {r['wall']:6.1f} s wall, {rows / r['cpu']:>9,.0f} rows/CPU-s, "
              f"{r['bytes'] / rows:,.0f} bytes/row, peak {r['peak_mib']:,.0f} MiB, driver {r['driver_peak_mib']:,.0f} MiB "
              f"(floor {floor}: {verdict(ok)})")
    # The bulk planner's figures (paybatch bulk plan): the larger run, whose start-up weighs least.
    path = rates.record({"generate_rows_per_cpu_second": rows / r["cpu"]}, by="bench/bench_generate.py", digits=0)
    print(f"  recorded generate_rows_per_cpu_second in {path}")
    sizes()


def sizes() -> None:
    """Bytes per row by rows per Parquet file (one date, one file per table), recorded for the planner; then the
    planner's size for two other shapes of run beside what those runs wrote (floor: within 10 %)."""
    from paybatch.bulk.plan import generation_bytes

    curve, pan = {}, 0
    for rows in FILE_ROWS:
        r = run(ALL, rows)
        curve[str(rows)], pan = r["table_bytes"] / rows, r["pan_bytes"]
    rates.record({"generate_bytes_per_row_by_file_rows": curve, "generate_pan_dimension_bytes": pan},
                 by="bench/bench_generate.py", digits=1)
    print("\nbytes per authorization row, the six tables each once, by rows per file: "
          + ", ".join(f"{int(k):,} → {v:.1f}" for k, v in curve.items()) + f"; the PAN dimension {pan:,} bytes (recorded)")
    for label, rows, days in (("1 M rows over 7 dates (README's example)", 1_000_000, 7),
                              (f"{SCALE_ROWS // 1_000_000} M rows over {SCALE_ROWS // 1_000_000} dates", SCALE_ROWS,
                               SCALE_ROWS // 1_000_000)):
        r = run(f"{ALL}, {days} dates", rows)
        planned = generation_bytes([rows // days + (1 if d < rows % days else 0) for d in range(days)], pan_dimension=True)
        written = r["table_bytes"] + r["pan_bytes"]
        error = planned / written - 1
        print(f"  {label}: planned {planned / 1e6:,.1f} MB, written {written / 1e6:,.1f} MB ({error:+.1%}; "
              f"floor within 10 %: {verdict(abs(error) <= 0.10)})")


if __name__ == "__main__":
    main()
