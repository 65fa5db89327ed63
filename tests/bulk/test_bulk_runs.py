"""Bulk runs through the local endpoint's own Step Functions interpreter (the same ASL the stack deploys).

Each chunk is a real job run (a local Spark process, as a Glue run); faults are real too: job processes are
SIGKILLed as they start, and the services process (the worker) is killed mid-run.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from paybatch.aws import AwsClients
from paybatch.bulk.control import BulkControl
from paybatch.bulk.ledger import BulkLedger
from paybatch.bulk.plan import plan_generation
from paybatch.contracts.tracking import parse_iso
from paybatch.generate.engine import table_key
from paybatch.generate.plan import GenerationRequest, parse_dates
from paybatch.generate.spec import load_spec
from paybatch.storage import filesystem_for
from tests.bulk.support import Services, allocations, chunk_killer, kill_job_runs, lake_objects, wait_for
from tests.conftest import drain, reset_endpoint

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

DATES = "2024-02-01..2024-02-10"


@pytest.fixture
def services(clients: AwsClients, tmp_path: Path) -> Iterator[Services]:
    running = Services(clients.settings, tmp_path / "services.log")
    running.start()
    yield running
    running.stop()


def request(rows: int, dates: str = DATES) -> GenerationRequest:
    return GenerationRequest(rows=rows, dates=tuple(parse_dates(dates)), quality=False)


def most_at_once(chunks: list[dict]) -> int:
    """The most chunks whose job runs overlapped in time."""
    edges = []
    for chunk in chunks:
        starts = [parse_iso(e["started_at"]) for e in chunk.get("attempt_log", []) if "started_at" in e]
        ends = [parse_iso(e["ended_at"]) for e in chunk.get("attempt_log", []) if "ended_at" in e]
        edges += [(t, 1) for t in starts] + [(t, -1) for t in ends]
    level = peak = 0
    for _, step in sorted(edges):
        level += step
        peak = max(peak, level)
    return peak


def authorization_ids(clients: AwsClients) -> list[str]:
    """Every authorization's transaction id (T<date><sequence number>: unique across dates)."""
    fs, root = filesystem_for(f"s3://{clients.settings.buckets.lake}/authorization", clients.settings.endpoint_url)
    return ds.dataset(root, filesystem=fs, format="parquet").to_table(columns=["transaction_id"]).column(0).to_pylist()


def test_rows_do_not_depend_on_chunking_and_a_rerun_rewrites_the_same_bytes(clients: AwsClients, services: Services) -> None:
    settings = clients.settings
    control = BulkControl(settings, clients)
    plan20 = plan_generation(settings, request(40_000), rows_per_job=2_000, chunks=20)
    assert len(plan20.jobs) == 20 and len(plan20.chunks) == 20
    run = control.start_generation(plan20, max_concurrency=3)
    status = control.wait(run["run_id"], timeout=600)
    assert status["run"]["status"] == "succeeded", status["run"]
    assert status["execution"]["status"] == "SUCCEEDED"
    assert 2 <= most_at_once(status["chunks"]) <= 3  # bounded by the Map's MaxConcurrency
    first, ranges = lake_objects(clients), allocations(clients)
    result = control.result(run["run_id"])
    assert result and result["rows"] == 40_000 and result["chunks"] == {"total": 20, "succeeded": 20, "skipped": 0, "failed": 0}

    # every (date, job) range consecutive from the spec's first sequence number: no gap, no overlap
    start = load_spec(None).sequence_start
    for date, group in itertools.groupby(ranges, key=lambda r: r[0]):
        spans = sorted((s, c) for _, _, s, c in group)
        assert spans[0][0] == start and all(a + n == b for (a, n), (b, _) in itertools.pairwise(spans)), (date, spans)
        assert sum(n for _, n in spans) == 4_000
    ids = authorization_ids(clients)
    assert len(ids) == 40_000 and len(set(ids)) == 40_000

    # the same request again: the same ranges reused, every object rewritten with the same bytes
    again = control.start_generation(plan_generation(settings, request(40_000), rows_per_job=2_000, chunks=20), max_concurrency=3)
    assert control.wait(again["run_id"], timeout=600)["run"]["status"] == "succeeded"
    second = lake_objects(clients)
    assert {k: h for k, (h, _) in second.items()} == {k: h for k, (h, _) in first.items()}
    assert all(second[k][1] > first[k][1] for k in first)  # rewritten, not left alone
    assert allocations(clients) == ranges

    # a fresh environment, the same jobs in 2 chunks: the same objects, byte for byte
    reset_endpoint(clients)
    plan2 = plan_generation(settings, request(40_000), rows_per_job=2_000, chunks=2)
    assert plan2.jobs == plan20.jobs and len(plan2.chunks) == 2
    two = control.start_generation(plan2, max_concurrency=3)
    assert control.wait(two["run_id"], timeout=600)["run"]["status"] == "succeeded"
    assert {k: h for k, (h, _) in lake_objects(clients).items()} == {k: h for k, (h, _) in first.items()}
    assert allocations(clients) == ranges


def test_retries_with_backoff_and_partial_success_within_tolerance(clients: AwsClients, services: Services) -> None:
    settings = clients.settings
    control = BulkControl(settings, clients)
    plan = plan_generation(settings, request(10_000), rows_per_job=1_000, chunks=10)
    run_id = control.start_generation(plan, max_concurrency=3, tolerance=10)["run_id"]
    with chunk_killer(clients, run_id, {3: 2, 7: 3}) as killed:  # chunk 3 dies twice then runs; chunk 7 dies every time
        status = control.wait(run_id, timeout=600)
    assert len(killed[3]) == 2 and len(killed[7]) == 3
    unfinished = [c for c in status["chunks"] if c["status"] != "succeeded"]
    assert status["execution"]["status"] == "SUCCEEDED", json.dumps(unfinished, default=str)  # 1 of 10 failed: within the 10 % tolerated
    assert status["run"]["status"] == "partial"
    chunks = {c["chunk_id"]: c for c in status["chunks"]}
    assert chunks[3]["status"] == "succeeded" and chunks[3]["attempts"] == 3
    assert chunks[7]["status"] == "failed" and chunks[7]["attempts"] == 3
    assert all(c["status"] == "succeeded" and c["attempts"] == 1 for i, c in chunks.items() if i not in (3, 7))
    # the state machine's Retry: 5 s, then 10 s, between an attempt's end and the next one's start
    log = chunks[3]["attempt_log"]
    starts = [parse_iso(e["started_at"]) for e in log if "started_at" in e]
    ends = [parse_iso(e["ended_at"]) for e in log if "ended_at" in e]
    waits = [(s - e).total_seconds() for e, s in zip(ends, starts[1:], strict=False)]
    assert len(waits) == 2 and 4.5 <= waits[0] < waits[1] and waits[1] >= 9.5, waits

    result = control.result(run_id)
    assert result and result["status"] == "partial" and result["within_tolerance"]
    assert [f["chunk_id"] for f in result["failed_chunks"]] == [7]
    assert "run" in result["failed_chunks"][0]["error"] and result["rows"] == 9_000
    messages = [json.loads(m) for m in drain(clients, settings.queues.completion)]
    assert [m["run_id"] for m in messages if m.get("type") == "bulk_run_result"] == [run_id]


def test_more_failures_than_tolerated_fail_the_execution(clients: AwsClients, services: Services) -> None:
    control = BulkControl(clients.settings, clients)
    plan = plan_generation(clients.settings, request(5_000, "2024-03-01..2024-03-05"), rows_per_job=1_000, chunks=5)
    run_id = control.start_generation(plan, max_concurrency=3, tolerance=10)["run_id"]
    with chunk_killer(clients, run_id, {2: 3}):
        status = control.wait(run_id, timeout=600)
    assert status["execution"]["status"] == "FAILED" and status["execution"]["error"] == "BulkRun.TooManyChunksFailed"
    assert status["run"]["status"] == "failed"
    result = control.result(run_id)
    assert result and not result["within_tolerance"] and result["failed_percent"] == 20.0
    assert [f["chunk_id"] for f in result["failed_chunks"]] == [2]


def test_services_killed_mid_run_then_resume_redoes_nothing(clients: AwsClients, services: Services) -> None:
    settings = clients.settings
    control, ledger = BulkControl(settings, clients), BulkLedger(clients)
    plan = plan_generation(settings, request(12_000, "2024-04-01..2024-04-04"), rows_per_job=1_000, chunks=12)
    run_id = control.start_generation(plan, max_concurrency=3)["run_id"]
    wait_for(lambda: sum(c["status"] == "succeeded" for c in ledger.chunks(run_id)) >= 4, 300, "4 chunks done")
    services.kill()
    kill_job_runs(settings)  # the runs in flight die with them
    before = {c["chunk_id"]: c for c in ledger.chunks(run_id)}
    done = {i for i, c in before.items() if c["status"] == "succeeded"}
    assert 4 <= len(done) < 12
    objects = lake_objects(clients)

    services.start()
    resumed = control.resume(run_id)
    assert resumed["execution"].endswith("-2")
    status = control.wait(run_id, timeout=600)
    assert status["run"]["status"] == "succeeded" and status["execution"]["status"] == "SUCCEEDED"
    after = {c["chunk_id"]: c for c in status["chunks"]}
    for chunk_id in done:  # not run again: same run, one attempt, objects untouched
        assert after[chunk_id]["attempts"] == 1 and after[chunk_id]["job_run_id"] == before[chunk_id]["job_run_id"]
    done_jobs = [plan.jobs[j] for i in done for j in range(*plan.chunks[i]["jobs"])]
    now = lake_objects(clients)
    spec = load_spec(None)
    prefixes = [table_key(spec, "authorization", job.date, job.job_index, 0).split("authorization/", 1)[1].rsplit("-c", 1)[0]
                for job in done_jobs]  # <date folder>/part-j<job>: the objects of a job, in every table
    untouched = [k for k in objects if any(p in k for p in prefixes)]
    assert untouched and all(now[k] == objects[k] for k in untouched)
    ids = authorization_ids(clients)  # nothing written twice
    assert len(ids) == 12_000 and len(set(ids)) == 12_000
    executions = clients.client("stepfunctions").list_executions(stateMachineArn=status["execution"]["stateMachineArn"])["executions"]
    assert sorted(e["name"] for e in executions if e["name"].startswith(run_id)) == [f"{run_id}-1", f"{run_id}-2"]


def test_backfill_converts_only_what_is_not_converted_yet_and_splits_a_large_file(clients: AwsClients, tmp_path: Path) -> None:
    """A prefix backfilled twice: the second run converts only the new objects; a 40 MB file goes as byte ranges."""
    from paybatch.sample_files import sample_file
    from paybatch.tracking_store import TrackingStore

    services = Services(clients.settings, tmp_path / "services.log", {"SPLIT_FILE_MB": "8"})
    services.start()
    try:
        settings = clients.settings
        bucket = "paybatch-dev-archive-test"
        clients.s3.create_bucket(Bucket=bucket)

        def put(key: str, mb: float, seed: int) -> int:
            body = sample_file(int(mb * 2**20), seed, key.split("/")[1])
            clients.s3.put_object(Bucket=bucket, Key=key, Body=body)
            return body.count(b"\n")

        lines = {f"feeds/2024-06-01/old-{i}.ndjson": put(f"feeds/2024-06-01/old-{i}.ndjson", 8, i) for i in range(2)}
        control = BulkControl(settings, clients)
        first = control.start_conversion(f"s3://{bucket}/feeds/2024-06-01/old-")
        assert control.wait(first["run_id"], timeout=300)["run"]["status"] == "succeeded"
        lines |= {f"feeds/2024-06-0{d}/new-{d}.ndjson": put(f"feeds/2024-06-0{d}/new-{d}.ndjson", 8, 10 + d) for d in (1, 2)}
        lines["feeds/2024-06-02/huge.ndjson"] = put("feeds/2024-06-02/huge.ndjson", 40, 99)  # above the 15 MiB window

        second = control.start_conversion(f"s3://{bucket}/feeds/")
        assert json.loads(second["request"])["registration"] == {"objects": 5, "duplicate": 2, "registered": 3}
        status = control.wait(second["run_id"], timeout=300)
        assert status["run"]["status"] == "succeeded"
        store = TrackingStore(clients)
        manifests = [m for m in store.all_manifests() if m.get("bulk_run") == second["run_id"]]
        assert sorted(f["key"] for m in manifests for f in m["files"]) == sorted(k for k in lines if "old-" not in k)
        files = {key: store.get_file(key.split("/")[1], key) for key in lines}
        assert all(f and f["status"] == "completed" for f in files.values()), {k: f and f["status"] for k, f in files.items()}
        for key, count in lines.items():  # every line accounted for once
            assert files[key]["lines_read"] == count == files[key]["rows_written"] + files[key]["rows_rejected"]
        result = control.result(second["run_id"])
        assert result and result["rows"] == sum(files[k]["rows_written"] for k in lines if "old-" not in k)
        # the large file was converted by several tasks, one per byte range
        huge = next(m for m in manifests if any(f["key"].endswith("huge.ndjson") for f in m["files"]))
        fs, root = filesystem_for(huge["output_uri"], settings.endpoint_url)
        parts = [i.path for i in fs.get_file_info(pafs_selector(root)) if f"batch_id={huge['batch_id']}" in i.path]
        assert len({p.split("-r")[1][:4] for p in parts if "-r" in p.rsplit("/", 1)[1]}) >= 4, parts
    finally:
        services.stop()


def pafs_selector(root: str):  # type: ignore[no-untyped-def]
    import pyarrow.fs as pafs

    return pafs.FileSelector(root, recursive=True)


def test_bulk_cli_follows_a_run_then_lists_shows_and_refuses(clients: AwsClients, services: Services) -> None:
    """The commands as an operator types them: `bulk generate` with its progress, `list`, `status`, a refused `resume`."""
    from typer.testing import CliRunner

    from paybatch.cli.app import app

    runner = CliRunner()
    out = runner.invoke(app, ["bulk", "generate", "--env", "dev", "--rows", "4000", "--dates", "2024-07-01..2024-07-02",
                              "--rows-per-job", "1000", "--chunks", "2", "--no-quality"])
    assert out.exit_code == 0, out.output
    assert "succeeded · 2 succeeded" in out.output and "rows 4,000" in out.output
    run_id = BulkLedger(clients).runs()[0]["run_id"]
    listed = runner.invoke(app, ["bulk", "list", "--env", "dev"])
    assert run_id in listed.output and "succeeded" in listed.output
    shown = runner.invoke(app, ["bulk", "status", run_id, "--env", "dev", "--chunks"])
    assert shown.exit_code == 0 and "chunks of" in shown.output
    again = runner.invoke(app, ["bulk", "resume", run_id, "--env", "dev"])
    assert again.exit_code == 2 and "every chunk already succeeded" in again.output
    missing = runner.invoke(app, ["bulk", "status", "no-such-run", "--env", "dev"])
    assert missing.exit_code == 2 and "no bulk run 'no-such-run'" in missing.output
