"""One refresh of `monitor`, `diagnose` and `status` at a production day's volume: DynamoDB requests and wall time.

Seeds prod's tracking table on a private local endpoint with what two days of prod leave (items are kept two
days): 338,000 completed files a day (BENCH_OPS_FILES_PER_DAY) and their 3,380 manifests, plus what is active at
any moment — 2,000 pending files, 10 running manifests of 100 files, 20 failed files. Then measures one refresh
the way the commands do it, beside the read every operator view used before (every file not completed plus the
completed ones of the last two days, through the status index, at one day's volume: it takes minutes). Floor from the
issue: ≤ 200 requests and ≤ 2 s, independent of the number of completed items (printed at one day and at two).
The refresh is measured three ways: right after the seeding writes (a bulk load: the local endpoint then builds its
index partitions again, one pass over the table: ``paybatch.local.index_slices``),
after a minute of prod's writes (about 250 new files and 250 moves: what an operator's refresh follows), and again
with nothing written between.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import timedelta
from functools import partial
from typing import Any

FILES_PER_DAY = int(os.environ.get("BENCH_OPS_FILES_PER_DAY", "338000"))
PENDING, RUNNING_MANIFESTS, FAILED = 2_000, 10, 20


def _measure(clients: Any, read: Any) -> tuple[int, float]:
    count = [0]

    def one(**_: Any) -> None:
        count[0] += 1

    clients.dynamodb.meta.events.register("before-call.dynamodb", one)
    started = time.perf_counter()
    try:
        read()
    finally:
        clients.dynamodb.meta.events.unregister("before-call.dynamodb", one)
    return count[0], time.perf_counter() - started


def _seed(clients: Any, completed: int, start: int) -> None:
    from paybatch.contracts.tracking import iso, manifest_pk, utcnow
    from paybatch.dynamo import batch_write

    settings, now = clients.settings, utcnow()
    table = settings.tables.tracking
    files, manifests = [], []
    for i in range(start, start + completed):
        uploaded = now - timedelta(seconds=(i * 172_800) // max(1, 2 * FILES_PER_DAY))  # spread over two days
        batch = f"{iso(uploaded)[:10].replace('-', '')}-{i // 100:06d}"
        files.append({"date_prefix": iso(uploaded)[:10], "file_key": f"feed/{i:07d}.ndjson", "status": "completed",
                      "etag": f"{i:032x}", "size_bytes": 1_048_576, "upload_time": iso(uploaded), "batch_id": batch,
                      "completed_at": iso(uploaded + timedelta(minutes=5)), "rows_written": 2_900, "rows_rejected": 0,
                      "output_uri": f"s3://{settings.buckets.output}/warehouse/authorization/data/dt={iso(uploaded)[:10]}/"})
        if i % 100 == 99:
            manifests.append({"date_prefix": manifest_pk(iso(uploaded)[:10]), "file_key": batch, "batch_id": batch,
                              "manifest_date": iso(uploaded)[:10], "manifest_status": "completed", "file_count": 100,
                              "total_bytes": 104_857_600, "created_at": iso(uploaded), "finished_at": iso(uploaded + timedelta(minutes=5)),
                              "duration_seconds": 95.0, "job_name": settings.glue.jobs.convert, "run_id": f"jr_{batch}",
                              "files": [{"key": f"feed/{j:07d}.ndjson", "size": 1_048_576} for j in range(i - 99, i + 1)]})
    batch_write(clients.dynamodb, table, files)
    batch_write(clients.dynamodb, table, manifests)
    _seed_finished_buckets(clients, len(manifests))


def _seed_finished_buckets(clients: Any, manifests: int) -> None:
    """The buckets the seeded manifests would have been counted in: every shard of every hour and quarter hour of
    two days (``paybatch.counters``)."""
    from paybatch.contracts.tracking import utcnow
    from paybatch.counters import COUNTER_SHARDS, finished_bucket
    from paybatch.dynamo import batch_write

    now, job = utcnow(), clients.settings.glue.jobs.convert
    per_hour = max(1, manifests // (48 * COUNTER_SHARDS))
    items = [{"metric_date": finished_bucket(now - timedelta(hours=h)), "metric_type": f"shard#{s:02d}",
              "manifests:completed": per_hour, f"amount:billed_seconds:{job}": 95 * per_hour}
             for h in range(48) for s in range(COUNTER_SHARDS)]
    items += [{"metric_date": finished_bucket(now - timedelta(minutes=15 * q), 15), "metric_type": f"shard#{s:02d}",
               "amount:files_converted": 25 * per_hour, "amount:bytes_converted": 25 * per_hour * 1_048_576}
              for q in range(192) for s in range(COUNTER_SHARDS)]
    batch_write(clients.dynamodb, clients.settings.tables.metrics, items)


def _seed_active(clients: Any) -> None:
    from paybatch.contracts.tracking import iso, manifest_pk, utcnow
    from paybatch.dynamo import batch_write

    now, table = utcnow(), clients.settings.tables.tracking
    date = iso(now)[:10]
    items: list[dict[str, Any]] = [
        {"date_prefix": date, "file_key": f"new/{i:05d}.ndjson", "status": "pending", "etag": "e", "size_bytes": 1_048_576,
         "upload_time": iso(now - timedelta(seconds=i % 600))} for i in range(PENDING)]
    items += [{"date_prefix": date, "file_key": f"bad/{i:03d}.ndjson", "status": "failed", "etag": "e", "size_bytes": 10,
               "upload_time": iso(now - timedelta(hours=3)), "error": "not UTF-8"} for i in range(FAILED)]
    for m in range(RUNNING_MANIFESTS):
        batch = f"running-{m:03d}"
        items += [{"date_prefix": date, "file_key": f"run/{m}/{j:03d}.ndjson", "status": "processing", "etag": "e",
                   "size_bytes": 1_048_576, "upload_time": iso(now - timedelta(minutes=20)), "batch_id": batch} for j in range(100)]
        items.append({"date_prefix": manifest_pk(date), "file_key": batch, "batch_id": batch, "manifest_date": date,
                      "manifest_status": "running", "file_count": 100, "total_bytes": 104_857_600, "created_at": iso(now),
                      "job_name": clients.settings.glue.jobs.convert, "run_id": f"jr_{batch}", "attempts": 1,
                      "files": [{"key": f"run/{m}/{j:03d}.ndjson", "size": 1_048_576} for j in range(100)]})
    batch_write(clients.dynamodb, table, items)


def _a_minute_of_writes(clients: Any, minute: int) -> None:
    """What a minute of prod writes (338,000 files a day is about 235 a minute): new pending files, and as many files
    moved on (pending to processing, in a batch)."""
    from paybatch.contracts.tracking import iso, utcnow
    from paybatch.dynamo import batch_write

    now, table = utcnow(), clients.settings.tables.tracking
    date = iso(now)[:10]
    batch_write(clients.dynamodb, table, [
        {"date_prefix": date, "file_key": f"minute/{minute}/{i:03d}.ndjson", "status": "pending", "etag": "e",
         "size_bytes": 1_048_576, "upload_time": iso(now)} for i in range(250)])
    for i in range(250):
        clients.dynamodb.update_item(
            TableName=table, Key={"date_prefix": {"S": date}, "file_key": {"S": f"new/{minute * 250 + i:05d}.ndjson"}},
            UpdateExpression="SET #s = :s, batch_id = :b", ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "processing"}, ":b": {"S": f"minute-{minute}"}})


def run() -> list[dict[str, Any]]:
    from paybatch.local.stack import free_port  # the port first: paybatch's other modules load once the environment is set
    os.environ.update({"PAYBATCH_STATE_DIR": tempfile.mkdtemp(prefix="paybatch-bench-"),
                       "PAYBATCH_LOCAL_PORT": str(free_port()), "PAYBATCH_TARGET": "local"})
    from paybatch.aws import AwsClients
    from paybatch.config import load_settings
    from paybatch.local.stack import LocalStack
    from paybatch.ops.diagnose import diagnose
    from paybatch.ops.monitor import snapshot
    from paybatch.pipeline_status import pipeline_status
    from paybatch.tracking_store import TrackingStore

    stack = LocalStack(load_settings("prod"))
    stack.up(with_services=False)
    rows = []
    try:
        clients = AwsClients(stack.settings)
        store = TrackingStore(clients)
        _seed_active(clients)
        seeded = 0
        for total in (FILES_PER_DAY, 2 * FILES_PER_DAY):  # one day of completed files, then two
            started = time.perf_counter()
            _seed(clients, total - seeded, seeded)
            seeded = total
            print(f"  seeded {seeded:,} completed files in {time.perf_counter() - started:.0f} s")
            minute = seeded // FILES_PER_DAY
            reads: list[tuple[Any, ...]] = [("monitor refresh, the first after the seeding", lambda: snapshot(clients)),
                     ("monitor refresh, after a minute of prod's writes",
                      lambda: snapshot(clients), partial(_a_minute_of_writes, clients, minute)),
                     ("monitor refresh, the next", lambda: snapshot(clients)),
                     ("diagnose", lambda: diagnose(clients)), ("status", lambda: pipeline_status(store))]
            if total == FILES_PER_DAY:  # the old read, once: it takes minutes at prod volume
                reads.append(("before: every item of the last two days", lambda: (store.ops_files(), store.ops_manifests())))
            for name, read, *before in reads:
                for write in before:
                    write()
                requests, seconds = _measure(clients, read)
                rows.append({"completed": seeded, "read": name, "requests": requests, "seconds": round(seconds, 2)})
                print(f"  {seeded:>9,} completed · {name:<46} {requests:>6,} DynamoDB requests  {seconds:7.2f} s")
    finally:
        stack.down()
    return rows


def main() -> None:
    rows = run()
    refresh = [r for r in rows if r["read"].startswith("monitor refresh, after a minute")]
    print(f"monitor refresh after a minute of prod's writes: {refresh[-1]['requests']} requests and {refresh[-1]['seconds']} s "
          f"at {refresh[-1]['completed']:,} completed files, {refresh[0]['requests']} and {refresh[0]['seconds']} s at half the "
          "volume (floor ≤ 200 requests, ≤ 2 s); the first refresh after the seeding also pays the local endpoint building "
          "or updating its index partitions for every seeded item")


if __name__ == "__main__":
    main()
