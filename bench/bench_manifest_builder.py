"""Manifest builder throughput and AWS requests per file, with 1, 4 and 8 builders in parallel.

Runs prod's batching configuration (100 files per manifest) against a private local endpoint;
only the expected file size is shrunk (to the ~1 KiB sample file ± 20 %) so thousands of files fit.
No conversion runs: the bench names a conversion job that is not deployed, so each manifest's
start is refused and it waits as queued — the builder's own work (including the start attempt)
is all that is measured.
Requests are counted on every client the builders use (`paybatch.ops.prod_day.RequestCounter`), the
scheduler's flush pass included (amortised over the files). Floor from the issue: at most
3 DynamoDB write requests per file. Throughput here is moto's, not DynamoDB's: compare runs,
not absolute numbers with AWS.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections import Counter
from typing import Any

from paybatch.ops.prod_day import PROD_FILES_PER_DAY, RequestCounter
from paybatch.pricing.rates import record

FILES = int(os.environ.get("BENCH_BUILDER_FILES", "1000"))
WORKERS = (1, 4, 8)


def run() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from paybatch.local.stack import free_port  # the port first: paybatch's other modules load once the environment is set
    os.environ.update({"PAYBATCH_STATE_DIR": tempfile.mkdtemp(prefix="paybatch-bench-"),
                       "PAYBATCH_LOCAL_PORT": str(free_port()), "PAYBATCH_TARGET": "local"})
    from lambda_manifest_builder.handler import handle_batch
    from lambda_manifest_builder.scheduler import scheduler_for
    from paybatch.builder.app import BuilderApp
    from paybatch.config import load_settings
    from paybatch.local.poller import SqsPoller
    from paybatch.local.stack import LocalStack
    from paybatch.sample_files import sample_file

    payload = sample_file(1024, seed=1, date_prefix="2025-12-23")  # whole lines: a little under 1 KiB
    settings = load_settings("prod", environ={**os.environ, "EXPECTED_FILE_SIZE_MB": str(len(payload) / 2**20),
                                              "LIGHT_PATH_MAX_MB": "0", "GLUE_JOB_NAME": "bench-convert-not-deployed"})
    stack = LocalStack(load_settings("prod"))  # deploys prod's jobs; the builders name one that is not there
    stack.up(with_services=False)
    rows = []
    try:
        for workers in WORKERS:
            stack.reset()
            setup = BuilderApp.create(settings)
            queue = setup.clients.queue_url(settings.queues.ingest)
            setup.clients.sqs.purge_queue(QueueUrl=queue)
            for i in range(FILES):
                setup.clients.s3.put_object(Bucket=settings.buckets.input, Key=f"2025-12-23-bench-{i:06}.ndjson",
                                            Body=payload)
            counter = RequestCounter()

            def builder(counter: RequestCounter = counter) -> None:
                app = BuilderApp.create(settings)
                counter.install(app.clients, "builder")
                poller = SqsPoller(app.clients, settings.queues.ingest, lambda e, c: handle_batch(e, c, app),
                                   function_name="bench", wait_seconds=0)
                empty = 0
                while empty < 2:
                    empty = empty + 1 if poller.poll_once().received == 0 else 0

            started = time.perf_counter()
            threads = [threading.Thread(target=builder) for _ in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
            flush_app = BuilderApp.create(settings)
            counter.install(flush_app.clients, "scheduler")
            scheduler_for(flush_app).run_once(flush=True, sweep=False)
            statuses = Counter(i["status"] for i in flush_app.store.all_files())
            rows.append({
                "workers": workers, "files": FILES, "seconds": elapsed, "files_per_s": FILES / elapsed,
                "ddb_writes": counter.total("dynamodb", writes=True) / FILES,
                "ddb_reads": counter.total("dynamodb", writes=False) / FILES,
                "s3": counter.total("s3") / FILES,
                "sqs": counter.total("sqs") / FILES,
                "manifested": statuses.get("manifested", 0), "statuses": dict(statuses),
                "manifests": len(flush_app.store.all_manifests()),
            })
        sweep = sweep_requests(stack, settings, payload)
    finally:
        stack.down()
    return rows, sweep




def sweep_requests(stack: Any, settings: Any, payload: bytes) -> dict[str, Any]:
    """Requests of one input-sweep pass with FILES tracked objects on an open date, then projected to prod volume.

    The old sweep listed the whole bucket and read one item per object every pass: ``objects / 1000``
    list pages + ``objects`` GetItem. This one lists the open dates' prefixes and reads their items with
    one query per date; the rest of the bucket is walked a slice a pass.
    """
    from lambda_manifest_builder.handler import handle_batch
    from paybatch.builder.app import BuilderApp
    from paybatch.builder.sweep import InputSweep
    from paybatch.contracts.tracking import utcnow
    from paybatch.local.poller import SqsPoller

    stack.reset()
    app = BuilderApp.create(settings)
    today = utcnow().strftime("%Y-%m-%d")
    for i in range(FILES):
        app.clients.s3.put_object(Bucket=settings.buckets.input, Key=f"{today}/bench-{i:06}.ndjson", Body=payload)
    poller = SqsPoller(app.clients, settings.queues.ingest, lambda e, c: handle_batch(e, c, app), function_name="bench",
                       wait_seconds=0)
    empty = 0
    while empty < 2:
        empty = empty + 1 if poller.poll_once().received == 0 else 0
    first = InputSweep(app).run()  # the day's first pass also walks the whole bucket (one slice: it is small)
    quiet = InputSweep(app).run()
    open_days = settings.sweep.open_days + 1
    per_object = (quiet.requests - 1) / FILES  # less the cursor read
    prod_objects = PROD_FILES_PER_DAY * open_days
    kept = PROD_FILES_PER_DAY * (settings.input_retention.expire_after_days or settings.tracking.ttl_days)
    return {
        "objects": FILES, "first_pass": first.requests, "quiet_pass": quiet.requests, "per_object": per_object,
        "prod_open_objects": prod_objects, "prod_requests": round(1 + per_object * prod_objects)
        + settings.sweep.full_pages_per_pass * 11,  # a full-walk slice: a list page + 10 BatchGetItem per page
        "old_prod_requests": (kept // 1000) + kept, "kept_objects": kept,
    }


def main() -> None:
    rows, sweep = run()
    print(f"manifest builder, prod batching (100 files/manifest), {FILES} files of 1 KiB, local endpoint (moto)")
    print(f"{'workers':>7} {'seconds':>8} {'files/s':>8} {'DDB writes/file':>16} {'DDB reads/file':>15} "
          f"{'S3 req/file':>12} {'SQS req/file':>13} {'manifests':>9}  file statuses")
    for r in rows:
        print(f"{r['workers']:>7} {r['seconds']:>8.1f} {r['files_per_s']:>8.1f} {r['ddb_writes']:>16.2f} "
              f"{r['ddb_reads']:>15.2f} {r['s3']:>12.2f} {r['sqs']:>13.2f} {r['manifests']:>9}  {r['statuses']}")
    busiest = max(rows, key=lambda r: r["workers"])
    written = record({"builder_ddb_writes_per_file": busiest["ddb_writes"], "builder_ddb_reads_per_file": busiest["ddb_reads"],
                      "builder_s3_requests_per_file": busiest["s3"]}, by="bench/bench_manifest_builder.py", digits=2)
    print(f"recorded in {written.name} ({busiest['workers']} builders): the cost model's requests per file")
    worst = max(r["ddb_writes"] for r in rows)
    complete = all(r["manifested"] == r["files"] for r in rows)
    print(f"floor: ≤ 3 DynamoDB write requests per file → {worst:.2f} {'PASS' if worst <= 3 else 'FAIL'}; "
          f"every file manifested: {'yes' if complete else 'NO'}")
    print(f"input sweep, {sweep['objects']} tracked objects on an open date: first pass of the day "
          f"{sweep['first_pass']} requests, a quiet pass {sweep['quiet_pass']} ({sweep['per_object']:.4f} per open object)")
    print(f"  at prod volume ({PROD_FILES_PER_DAY:,} files a day, {sweep['prod_open_objects']:,} on open dates): "
          f"≈ {sweep['prod_requests']:,} requests a pass, against ≈ {sweep['old_prod_requests']:,} for the old sweep "
          f"over {sweep['kept_objects']:,} kept objects")


if __name__ == "__main__":
    main()
