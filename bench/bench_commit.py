"""The Iceberg commit's cost per run: CPU-seconds, wall time and requests, for runs of 1, 10 and 100 files.

Against a private local endpoint (its Glue catalog and S3), the commit a conversion run makes
(``paybatch.convert.commit.commit_run``: the batch's earlier rows out, its data files in) is timed for
runs adding 1, 10 and 100 data files to a table that already holds BENCH_COMMIT_HISTORY earlier runs
(default 20), so the table's own history is part of the cost, as it is in production. CPU is this
process's (pyiceberg runs in it); Glue requests are counted on pyiceberg's client; S3 objects written are
the table's new metadata, manifest list and manifests. Each size is committed BENCH_COMMIT_ROUNDS times
(default 3) as a re-run of the same batch; the median is shown.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections import Counter
from statistics import median
from typing import Any

SIZES = (1, 10, 100)
HISTORY = int(os.environ.get("BENCH_COMMIT_HISTORY", "20"))
ROUNDS = int(os.environ.get("BENCH_COMMIT_ROUNDS", "3"))


def run() -> list[dict[str, Any]]:
    from paybatch.local.stack import free_port  # the port first: paybatch's other modules load once the environment is set
    os.environ.update({"PAYBATCH_STATE_DIR": tempfile.mkdtemp(prefix="paybatch-bench-"),
                       "PAYBATCH_LOCAL_PORT": str(free_port()), "PAYBATCH_TARGET": "local"})
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    from paybatch.config import load_settings
    from paybatch.convert import commit
    from paybatch.datasets import load_schema
    from paybatch.iceberg.catalog import data_dir, rows_table
    from paybatch.local.stack import LocalStack
    from paybatch.storage import filesystem_for

    settings = load_settings("dev")
    schema = load_schema("authorization")
    stack = LocalStack(settings)
    stack.up(with_services=False)
    rows = []
    try:
        rows_table(settings, schema)
        fs, base = filesystem_for(data_dir(settings, "authorization"), settings.endpoint_url)

        def files_for(batch: str, count: int) -> list[str]:
            paths = []
            for i in range(count):
                day = dt.datetime(2025, 12, 1 + i % 28, tzinfo=dt.UTC)
                table = pa.Table.from_pylist([{"sequence_number": i, "transaction_id": f"T{i}", "_batch_id": batch,
                                               "transaction_timestamp": day}], schema=schema.output_arrow_schema())
                path = f"{base}/dt={day:%Y-%m-%d}/batch_id={batch}/part-{i:05d}-{time.monotonic_ns()}.parquet"
                pq.write_table(table, path, filesystem=fs)
                paths.append(f"s3://{path}")
            return paths

        for i in range(HISTORY):
            commit.commit_run(settings, schema, f"history-{i}", files_for(f"history-{i}", 5), [])
        metadata = f"{base.rsplit('/', 1)[0]}/metadata"
        for size in SIZES:
            samples = []
            for _ in range(ROUNDS):
                paths = files_for(f"bench-{size}", size)
                calls: Counter[str] = Counter()
                real_catalog_for = commit.catalog_for

                def counted(settings: Any, calls: Counter[str] = calls, real: Any = real_catalog_for) -> Any:
                    catalog = real(settings)
                    catalog.glue.meta.events.register("before-call", lambda model, **_: calls.update([model.name]))
                    return catalog

                commit.catalog_for = counted  # type: ignore[assignment]
                before = {i.path for i in fs.get_file_info(pafs.FileSelector(metadata, recursive=True))}
                cpu, wall = time.process_time(), time.perf_counter()
                try:
                    result = commit.commit_run(settings, schema, f"bench-{size}", paths, [])
                finally:
                    commit.catalog_for = real_catalog_for  # type: ignore[assignment]
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                after = {i.path for i in fs.get_file_info(pafs.FileSelector(metadata, recursive=True))}
                samples.append({"cpu": cpu, "wall": wall, "glue": sum(calls.values()), "s3_written": len(after - before),
                                "attempts": result.attempts})
            rows.append({"files": size, **{k: median(s[k] for s in samples) for k in samples[0]}})
    finally:
        stack.down()
    return rows


def main() -> None:
    rows = run()
    print(f"Iceberg commit per run (both tables: rows and rejects), table with {HISTORY} earlier runs, "
          f"median of {ROUNDS}, local endpoint")
    print(f"{'files':>6} {'CPU-s':>7} {'wall s':>7} {'Glue requests':>14} {'S3 objects written':>19}")
    for r in rows:
        print(f"{r['files']:>6} {r['cpu']:>7.2f} {r['wall']:>7.2f} {r['glue']:>14.0f} {r['s3_written']:>19.0f}")


if __name__ == "__main__":
    main()
