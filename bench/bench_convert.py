"""NDJSON → Parquet: paybatch's converter beside Spark's JSON reader, DuckDB and pyarrow.

Generates the input once, deterministically, with paybatch's own generator: BENCH_CONVERT_FILES
feed files of about BENCH_CONVERT_FILE_MB each of the 26-field authorization feed (default
8 × 128 MiB = 1 GiB, seed 0, cached in .cache/bench). Then runs every engine
in its own process, alternating, BENCH_CONVERT_ROUNDS times (default 3). CPU, wall and peak memory
are measured as bench/measure.py describes. Runs over the same number of 1 MiB files (the median of as
many rounds) measure each engine's start-up cost; the marginal rate subtracts it.
Floors from the issue: paybatch ≥ 5× Spark's native reader and ≥ 0.6× DuckDB in MiB per CPU-second.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

from bench.convert_engines import ENGINES
from bench.measure import ROOT, run_measured
from paybatch.pricing import GLUE_DPU_HOUR, VCPU_PER_DPU
from paybatch.pricing.rates import record

FILES = int(os.environ.get("BENCH_CONVERT_FILES", "8"))
FILE_MB = int(os.environ.get("BENCH_CONVERT_FILE_MB", "128"))
ROUNDS = int(os.environ.get("BENCH_CONVERT_ROUNDS", "3"))
PROD_FILES_PER_DAY, PROD_FILE_GB = 338_000, 3.5
DATE = "2025-12-23"


BYTES_PER_RECORD = 698  # the authorization feed's mean NDJSON line, newline included


def input_folder(files: int = FILES, file_mb: int = FILE_MB) -> Path:
    """``files`` feed files of about ``file_mb`` MiB, written by `paybatch generate` (the same bytes every time)."""
    root = ROOT / ".cache" / "bench" / f"feed-{files}x{file_mb}MiB"
    folder = root / "input" / DATE
    if len(list(folder.glob("*.ndjson"))) == files:
        return folder
    shutil.rmtree(root, ignore_errors=True)
    per_file = max(1, (file_mb << 20) // BYTES_PER_RECORD)
    env = {**os.environ, "PAYBATCH_TARGET": "local", "PAN_HASH_KEY": "local:bench-convert", "SPARK_LOCAL_IP": "127.0.0.1"}
    subprocess.run([sys.executable, "-m", "paybatch", "generate", "--rows", str(files * per_file), "--dates", DATE,
                    "--format", "ndjson", "--tables", "authorization", "--records-per-file", str(per_file),
                    "--seed", "0", "--no-quality", "--output", str(root)], env=env, check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return folder


def single_file_folders(source: Path) -> tuple[Path, Path]:
    """One input file alone, and all of them concatenated into one file: the same task over 1× and N× the bytes."""
    files = sorted(source.glob("*.ndjson"))
    one, whole = source.parent / "one-file", source.parent / "one-big-file"
    for folder, parts in ((one, files[:1]), (whole, files)):
        target = folder / "feed.ndjson"
        if not target.is_file():
            folder.mkdir(exist_ok=True)
            with open(target.with_suffix(".partial"), "wb") as out:
                for part in parts:
                    with open(part, "rb") as handle:
                        shutil.copyfileobj(handle, out, 16 << 20)
            target.with_suffix(".partial").replace(target)
    return one, whole


def run_engine(engine: str, source: Path) -> dict[str, float]:
    out = tempfile.mkdtemp(prefix="bench-convert-")
    try:
        return run_measured("bench.convert_engines", engine, str(source), out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.glob("*.ndjson")) / 2**20


def main() -> None:
    source = input_folder()
    mib = _mib(source)
    tiny = input_folder(FILES, 1)  # the same number of files, 1 MiB each: what every run costs before the data does
    tiny_mib = _mib(tiny)
    startup_runs: dict[str, list[float]] = {name: [] for name in ENGINES}
    for _ in range(ROUNDS):
        for engine in ENGINES:
            startup_runs[engine].append(run_engine(engine, tiny)["cpu"])
    startup = {engine: {"cpu": median(cpus)} for engine, cpus in startup_runs.items()}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in ENGINES}
    for round_index in range(ROUNDS):
        order = list(ENGINES) if round_index % 2 == 0 else list(reversed(ENGINES))
        for engine in order:
            runs[engine].append(run_engine(engine, source))
    print(f"NDJSON → Parquet, {FILES} × {FILE_MB} MiB = {mib:.0f} MiB, median of {ROUNDS} rounds, 2 cores")
    print(f"{'engine':<34} {'rows':>10} {'MiB/s':>7} {'MiB/CPU-s':>10} {'start-up CPU-s':>15} {'marginal MiB/CPU-s':>19} "
          f"{'peak MiB':>9}")
    summary, marginal = {}, {}
    for engine, results in runs.items():
        wall, cpu = median(r["wall"] for r in results), median(r["cpu"] for r in results)
        peak = max(r["peak_mib"] for r in results)
        summary[engine] = mib / cpu
        marginal[engine] = (mib - tiny_mib) / max(cpu - startup[engine]["cpu"], 1e-9)
        print(f"{engine:<34} {int(results[0]['rows']):>10} {mib / wall:>7.1f} {mib / cpu:>10.1f} {startup[engine]['cpu']:>15.1f} "
              f"{marginal[engine]:>19.1f} {peak:>9.0f}")
    ours = summary["paybatch (spark, task per file)"]
    spark = summary["spark native, explicit schema"]
    duck = summary["duckdb"]
    print(f"paybatch / spark native: {ours / spark:.2f}× (floor 5×: {'PASS' if ours >= 5 * spark else 'FAIL'}); "
          f"paybatch / duckdb: {ours / duck:.2f}× (floor 0.6×: {'PASS' if ours >= 0.6 * duck else 'FAIL'})")
    m_ours, m_spark, m_duck = (marginal[e] for e in ("paybatch (spark, task per file)", "spark native, explicit schema", "duckdb"))
    print(f"at the margin (start-up subtracted): paybatch / spark native {m_ours / m_spark:.2f}×, paybatch / duckdb {m_ours / m_duck:.2f}×")
    one, whole = single_file_folders(source)
    small, big = run_engine("paybatch (light path)", one), run_engine("paybatch (light path)", whole)
    print(f"memory does not grow with the file: one {_mib(one):.0f} MiB file peaks at {small['peak_mib']:.0f} MiB, "
          f"one {_mib(whole):.0f} MiB file at {big['peak_mib']:.0f} MiB (the whole converting process; a task holds "
          f"one 16 MiB block and at most one row group of rows)")
    written = record({"convert_mib_per_cpu_second": ours, "spark_json_mib_per_cpu_second": spark}, by="bench/bench_convert.py")
    print(f"recorded in {written.relative_to(ROOT)}: paybatch {ours:.1f}, Spark's reader {spark:.1f} MiB per CPU-second "
          "(the cost model's rates)")
    for engine in ("paybatch (spark, task per file)", "spark native, explicit schema"):
        cpu_hours_per_tb = (1024 * 1024 / summary[engine]) / 3600
        per_tb = cpu_hours_per_tb / VCPU_PER_DPU * GLUE_DPU_HOUR
        per_day = per_tb * PROD_FILES_PER_DAY * PROD_FILE_GB / 1024
        print(f"projected Glue cost, {engine}: ${per_tb:.2f} per TB, ${per_day:,.0f} per day at prod volume "
              f"({PROD_FILES_PER_DAY:,} files × {PROD_FILE_GB} GB)")


if __name__ == "__main__":
    main()
