"""Bulk runs on Step Functions: what the orchestration costs per chunk, and bulk generation against one run.

On a private local environment (its own endpoint, services and state folder):

1. **Per-chunk overhead**: BENCH_BULK_CHUNKS (default 8) chunks of 1,000 rows each, one at a time
   (max concurrency 1), so compute is negligible: wall time per chunk is the fixed cost of a chunk —
   the state machine's task, the worker, the job run's start (a local Spark process here, Glue's start-up
   on AWS is not measured) and settling. The part that is orchestration alone (wall per chunk minus the
   job runs' own execution time) is printed beside it. Recorded as ``bulk_chunk_overhead_seconds`` in
   paybatch/pricing/rates.json, which `paybatch bulk plan` adds to every chunk's compute.
2. **Bulk against one run**: BENCH_BULK_ROWS (default 10,000,000) authorizations, all six tables, over
   10 dates, through `paybatch bulk generate` (BENCH_BULK_GEN_CHUNKS chunks, default 10, at the dev
   environment's concurrency) and through one `paybatch generate` run into the same buckets. Quality
   suites off in both (timed by bench_generate). The ratio of wall times is the price of chunking on 2 cores.
"""

from __future__ import annotations

import os
import tempfile
import time
from statistics import mean
from typing import Any

CHUNKS = int(os.environ.get("BENCH_BULK_CHUNKS", "8"))
ROWS = int(os.environ.get("BENCH_BULK_ROWS", "10000000"))
GEN_CHUNKS = int(os.environ.get("BENCH_BULK_GEN_CHUNKS", "10"))
DATES = "2024-05-01..2024-05-10"


def _bulk(control: Any, settings: Any, rows: int, dates: str, chunks: int, concurrency: int) -> dict[str, Any]:
    from paybatch.bulk.plan import plan_generation
    from paybatch.generate.plan import GenerationRequest, parse_dates

    request = GenerationRequest(rows=rows, dates=tuple(parse_dates(dates)), quality=False)
    plan = plan_generation(settings, request, rows_per_job=max(1, -(-rows // chunks)), chunks=chunks)
    started = time.monotonic()
    run = control.start_generation(plan, max_concurrency=concurrency)
    status = control.wait(run["run_id"], poll=0.5)
    wall = time.monotonic() - started
    if status["run"]["status"] != "succeeded":
        raise RuntimeError(f"bulk run {run['run_id']} ended {status['run']['status']}: {status['run'].get('error')}")
    return {"wall": wall, "chunks": status["chunks"]}


def main() -> None:
    from paybatch.local.stack import free_port  # the port first: paybatch's other modules load once the environment is set
    os.environ.update({"PAYBATCH_STATE_DIR": tempfile.mkdtemp(prefix="paybatch-bench-bulk-"),
                       "PAYBATCH_LOCAL_PORT": str(free_port()), "PAYBATCH_TARGET": "local"})
    from paybatch.bulk.control import BulkControl
    from paybatch.config import load_settings
    from paybatch.generate.job import generate
    from paybatch.generate.plan import GenerationRequest, parse_dates
    from paybatch.local.stack import LocalStack
    from paybatch.pricing import rates

    settings = load_settings("dev")
    stack = LocalStack(settings)
    stack.up()
    try:
        control = BulkControl(settings)
        small = _bulk(control, settings, CHUNKS * 1_000, "2024-04-01", CHUNKS, 1)
        per_chunk = small["wall"] / CHUNKS
        in_jobs = mean(float(c.get("duration_seconds", 0)) for c in small["chunks"])
        print(f"per-chunk overhead, {CHUNKS} chunks of 1,000 rows one at a time: {per_chunk:.1f} s wall per chunk "
              f"({in_jobs:.1f} s inside the job run: a local Spark process starting and writing; "
              f"{per_chunk - in_jobs:.1f} s state machine, worker, launch and settling)")
        path = rates.record({"bulk_chunk_overhead_seconds": per_chunk}, by="bench/bench_bulk.py")
        print(f"  recorded bulk_chunk_overhead_seconds in {path}")

        bulk = _bulk(control, settings, ROWS, DATES, GEN_CHUNKS, settings.bulk.max_concurrency)
        started = time.monotonic()
        generate(settings, GenerationRequest(rows=ROWS, dates=tuple(parse_dates(DATES)), quality=False, job_index=1))
        one = time.monotonic() - started
        print(f"{ROWS:,} authorizations, all six tables, 10 dates, 2 cores:")
        print(f"  {'one paybatch generate run':<44} {one:7.1f} s wall  {ROWS / one:>10,.0f} rows/s")
        print(f"  {f'paybatch bulk generate, {GEN_CHUNKS} chunks at {settings.bulk.max_concurrency} at once':<44} "
              f"{bulk['wall']:7.1f} s wall  {ROWS / bulk['wall']:>10,.0f} rows/s")
        print(f"  overhead ratio (bulk / one run): {bulk['wall'] / one:.2f}×")
    finally:
        stack.down()


if __name__ == "__main__":
    main()
