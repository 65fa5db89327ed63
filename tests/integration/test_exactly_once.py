"""Exactly once under the faults AWS really has: answers lost after the request was applied, racing commits,
re-runs of old batches, replaced objects, killed lock holders (issue 23; docs/reliability.md).

Each test injects its fault where it happens on AWS: a request that is applied and whose answer never arrives
(botocore's retry then meets the write the lost request made), commits made in the same second, a file
replaced between the etag check and the read, a run started twice, a lock holder SIGKILLed.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import botocore.client
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ReadTimeoutError

import lambda_manifest_builder.scheduler as scheduler_handler
from lambda_manifest_builder.scheduler import scheduler_for
from paybatch import faults
from paybatch.aws import AwsClients, local_process_env
from paybatch.builder.app import BuilderApp
from paybatch.builder.locking import DateLock
from paybatch.builder.scheduler import SchedulerReport
from paybatch.contracts.tracking import FileStatus, ManifestStatus
from paybatch.convert import manifest_run
from paybatch.convert.commit import commit_run
from paybatch.convert.manifest_run import ManifestResult, run_in_process, run_manifest
from paybatch.datasets import load_schema
from paybatch.dynamo import to_item
from paybatch.iceberg.catalog import data_dir, load, rows_table
from paybatch.ops.reprocess import retry_failed_files
from paybatch.sample_files import sample_file
from paybatch.storage import filesystem_for
from paybatch.transitions import FileChange, requeue_manifest
from tests.integration.builder_support import (
    deliver_all,
    faults_in_this_process,
    metric_counts,
    one_file_per_manifest_settings,
    status_counts,
)

pytestmark = pytest.mark.integration
DATE = "2025-12-23"
SCHEMA = load_schema("authorization")


@pytest.fixture
def app(clients):  # type: ignore[no-untyped-def]
    return BuilderApp.create(one_file_per_manifest_settings())


@contextmanager
def answer_lost(operation: str, then: Callable[[Any, dict[str, Any]], Exception], times: int = 1) -> Iterator[list[str]]:
    """The next ``times`` calls of ``operation`` (any client in this process) are sent and applied; the answer the
    caller gets is ``then(params)`` — what botocore's own retry of the lost request brought back."""
    original = botocore.client.BaseClient._make_api_call
    hits: list[str] = []

    def call(self: Any, name: str, params: dict[str, Any]) -> Any:
        result = original(self, name, params)
        if name == operation and len(hits) < times:
            hits.append(name)
            raise then(self, params)
        return result

    botocore.client.BaseClient._make_api_call = call  # type: ignore[method-assign]
    try:
        yield hits
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


def concurrent_modification(client: Any, params: dict[str, Any]) -> Exception:
    """Glue's answer to botocore's retry of an UpdateTable that was applied (its VersionId is stale now)."""
    error_class = client.exceptions.from_code("ConcurrentModificationException")
    return error_class({"Error": {"Code": "ConcurrentModificationException",  # type: ignore[no-any-return]
                                  "Message": "Update table failed due to concurrent modifications."}}, "UpdateTable")


def write_batch_file(app: BuilderApp, batch: str, rows: int = 3) -> str:
    fs, base = filesystem_for(data_dir(app.settings, "authorization"), app.settings.endpoint_url)
    table = pa.Table.from_pylist([{"sequence_number": i, "transaction_id": f"{batch}-{i}", "_batch_id": batch,
                                   "transaction_timestamp": dt.datetime(2025, 12, 23, tzinfo=dt.UTC)} for i in range(rows)],
                                 schema=SCHEMA.output_arrow_schema())
    path = f"{base}/dt={DATE}/batch_id={batch}/part-0.parquet"
    pq.write_table(table, path, filesystem=fs)
    return f"s3://{path}"


def run_manifest_record(app: BuilderApp, record: dict[str, Any]) -> ManifestResult:
    """What a conversion run does for the manifest (its record moved to running first, as dispatch does)."""
    if record["manifest_status"] != ManifestStatus.RUNNING:
        app.moves.move_manifest(record["manifest_date"], record["batch_id"], ManifestStatus.RUNNING,
                                expected=[ManifestStatus.QUEUED, ManifestStatus.CREATED])
    return run_manifest(app.settings, record["manifest_path"], run_in_process)


def rejects_of(app: BuilderApp) -> list[str]:
    return load(app.settings, "authorization_rejects").scan(selected_fields=("_batch_id",)).to_arrow().column("_batch_id").to_pylist()


def visible_batches(app: BuilderApp) -> Counter[str]:
    rows = load(app.settings, "authorization").scan(selected_fields=("_batch_id",)).to_arrow()
    return Counter(rows.column("_batch_id").to_pylist())


# --- 1. a commit whose UpdateTable answer is lost ------------------------------------------------------------
def test_a_commit_whose_answer_is_lost_lands_once_and_leaves_the_table_readable(app: BuilderApp) -> None:
    rows_table(app.settings, SCHEMA)
    commit_run(app.settings, SCHEMA, "first", [write_batch_file(app, "first")], [])
    with answer_lost("UpdateTable", concurrent_modification) as hits:
        result = commit_run(app.settings, SCHEMA, "second", [write_batch_file(app, "second")], [])
    assert hits == ["UpdateTable"]
    assert visible_batches(app) == {"first": 3, "second": 3}  # readable, and the second batch's rows once
    table = load(app.settings, "authorization")
    assert result.snapshot_id == table.current_snapshot().snapshot_id
    assert table.current_snapshot().summary["paybatch.replaces"] == "_batch_id=second"


# --- 2. commits racing, batch ids made in the same second ----------------------------------------------------
def test_runs_of_batches_made_in_the_same_second_all_commit(app: BuilderApp) -> None:
    rows_table(app.settings, SCHEMA)
    batches = [f"20251223-101010-{i:08x}" for i in range(8)]  # alike in their first 16 characters
    commit_run(app.settings, SCHEMA, "20251223-101009-00000000", [write_batch_file(app, "20251223-101009-00000000")], [])
    files = {b: write_batch_file(app, b) for b in batches}
    errors: list[BaseException] = []

    def commit(batch: str) -> None:
        try:
            commit_run(app.settings, SCHEMA, batch, [files[batch]], [])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert visible_batches(app) == {b: 3 for b in ["20251223-101009-00000000", *batches]}


# --- DynamoDB: transactions whose answer is lost (11: an ambiguous claim, counters) ---------------------------
def test_transactions_whose_answers_are_lost_move_once_and_count_once(app: BuilderApp,
                                                                       tmp_path: Any) -> None:
    """Every other TransactWriteItems is applied and its answer lost: the token makes the retry a no-op."""
    with faults_in_this_process("dynamodb:TransactWriteItems:ResponseLost:0.5,seed=3", tmp_path):
        lossy = BuilderApp.create(app.settings)
        lossy.store.retry_pause = 0.0
        lossy.moves.store.retry_pause = 0.0
        keys = [f"{DATE}-lost-{i}.ndjson" for i in range(12)]
        for key in keys:
            item = {"date_prefix": DATE, "file_key": key, "status": "pending", "etag": f"e-{key}", "size_bytes": 100,
                    "upload_time": "2025-12-23T10:00:00.000000Z", "bucket": app.settings.buckets.input, "version": 1}
            assert lossy.moves.register(item, events={"file_uploaded": (1, 100)}).done
        record = lossy.builder.create_manifest(DATE, [app.store.get_file(DATE, k) for k in keys])
        assert record is not None and len(record["files"]) == len(keys)  # the claim landed once, the record kept
        for key in keys[:3]:
            assert lossy.moves.move_file(DATE, key, FileStatus.PROCESSING, expected=FileStatus.MANIFESTED,
                                         batch_id=record["batch_id"]).done
        batched = [FileChange(k, events={"run_started": (1, 0)} if k == keys[3] else {}) for k in keys[3:6]]
        for change in lossy.moves.move_files(DATE, batched, FileStatus.PROCESSING, expected=FileStatus.MANIFESTED,
                                             batch_id=record["batch_id"]):  # a chunk whose outcome stayed unknown
            assert lossy.moves.move_file(DATE, change.key, FileStatus.PROCESSING, expected=FileStatus.MANIFESTED,
                                         batch_id=record["batch_id"], events=change.events).done
    assert sum(faults.read_fault_logs(tmp_path).values()) >= 5  # answers were lost
    statuses = Counter(i["status"] for i in app.store.all_files())
    assert statuses == {"manifested": 6, "processing": 6}
    assert status_counts(app) == dict(statuses)  # the counters moved once per move, lost answers or not
    assert metric_counts(app)["file_uploaded"] == 12 and metric_counts(app)["run_started"] == 1


# --- 3. reprocess of an old batch whose files completed elsewhere ---------------------------------------------
def test_reprocess_of_an_old_batch_leaves_files_that_completed_in_a_later_batch(app: BuilderApp) -> None:
    key = f"{DATE}-again.ndjson"
    app.clients.s3.put_object(Bucket=app.settings.buckets.input, Key=key, Body=sample_file(60_000, 4, DATE))
    deliver_all(app)
    [first] = app.store.all_manifests()
    app.moves.move_manifest(DATE, first["batch_id"], ManifestStatus.RUNNING, expected=[ManifestStatus.QUEUED, ManifestStatus.CREATED])
    scheduler_for(app).fail_manifest(app.store.get_manifest(DATE, first["batch_id"]), "run died")  # type: ignore[arg-type]
    assert app.store.get_file(DATE, key)["status"] == "failed"  # type: ignore[index]
    # `paybatch reprocess --failed`: the file goes into a new batch, which converts it
    app.moves.move_file(DATE, key, FileStatus.PENDING, expected=FileStatus.FAILED, remove=["batch_id", "error"])
    app.builder.pack_date(DATE, flush=True)
    later = next(m for m in app.store.all_manifests() if m["batch_id"] != first["batch_id"])
    assert run_manifest_record(app, later).status == "completed"
    # now `paybatch reprocess --batch-id <first>`
    requeue_manifest(app.moves, app.store.get_manifest(DATE, first["batch_id"]), "reprocess requested")  # type: ignore[arg-type]
    item = app.store.get_file(DATE, key)
    assert item["status"] == "completed" and item["batch_id"] == later["batch_id"]  # type: ignore[index]
    run_manifest_record(app, app.store.get_manifest(DATE, first["batch_id"]))  # type: ignore[arg-type]
    rows = load(app.settings, "authorization").scan(selected_fields=("_source_file", "sequence_number")).to_arrow()
    assert max(Counter(zip(*(rows.column(c).to_pylist() for c in ("_source_file", "sequence_number")), strict=True)).values()) == 1
    assert app.store.get_file(DATE, key)["status"] == "completed"  # type: ignore[index]


# --- 9. quarantine's delete meets a new upload of the same key ------------------------------------------------
def test_quarantine_never_deletes_a_new_upload_of_the_same_key(app: BuilderApp) -> None:
    key = f"{DATE}-tiny.ndjson"
    bucket = app.settings.buckets.input
    app.clients.s3.put_object(Bucket=bucket, Key=key, Body=b"{}\n")  # too small: quarantined
    fresh = sample_file(60_000, 6, DATE)
    real = app.registry.quarantine.s3

    class UploadArrivesBeforeTheDelete:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def delete_object(self, **kwargs: Any) -> Any:
            if kwargs.get("Key") == key:
                real.put_object(Bucket=bucket, Key=key, Body=fresh)  # the producer re-uploads, right now
            return real.delete_object(**kwargs)

    app.registry.quarantine.s3 = UploadArrivesBeforeTheDelete()
    deliver_all(app)
    head = app.clients.s3.head_object(Bucket=bucket, Key=key)
    assert app.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read() == fresh  # the new upload is kept ...
    item = app.store.get_file(DATE, key)
    assert item["etag"] == head["ETag"].strip('"') and item["status"] == "manifested"  # type: ignore[index]  # ... and tracked
    copies = app.clients.s3.list_objects_v2(Bucket=app.settings.buckets.quarantine).get("Contents", [])
    assert [c["Key"] for c in copies] == [f"quarantine/{DATE}/too-small/{key}"]  # the tiny one was quarantined


# --- 10. a lock holder SIGKILLed -----------------------------------------------------------------------------
HOLDER = """
import sys, time
from paybatch.builder.locking import DateLock
from paybatch.aws import AwsClients
from paybatch.config import load_settings
lease = DateLock(AwsClients(load_settings("dev"))).acquire(sys.argv[1])
print("held" if lease else "refused", flush=True)
time.sleep(3600)
"""


def test_a_killed_lock_holder_frees_its_date_within_30_seconds(clients: Any) -> None:
    """The default configuration: a live holder keeps its date past one lease; killed, it frees it within 30 s."""
    date = "2025-12-30"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, date], stdout=subprocess.PIPE, start_new_session=True,
                              env=local_process_env(clients.settings))
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        lock = DateLock(clients)
        time.sleep(lock.lease_seconds * 1.3)
        assert lock.try_acquire(date) is None  # alive: its lease was renewed past its first expiry
        os.killpg(holder.pid, signal.SIGKILL)
        killed = time.monotonic()
        while (lease := lock.try_acquire(date)) is None and time.monotonic() - killed < 60:
            time.sleep(0.25)
        freed = time.monotonic() - killed
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    print(f"the date was packable again {freed:.1f} s after its holder was SIGKILLed")
    assert lease is not None and freed <= 30, f"the date was packable again {freed:.1f} s after its holder was killed"


# --- 6 and 11. one batch started twice (a StartJobRun whose answer was lost) ---------------------------------
class LostFirstAnswer:
    """A launcher whose first StartJobRun starts the run and loses the answer; it keeps every run's arguments."""

    def __init__(self) -> None:
        self.started: list[dict[str, str]] = []

    def start_job_run(self, job_name: str, arguments: Mapping[str, str]) -> str:
        self.started.append(dict(arguments))
        if len(self.started) == 1:
            raise ReadTimeoutError(endpoint_url="StartJobRun (answer lost after the run started)")
        return f"jr_{len(self.started)}"

    def get_job_run(self, job_name: str, run_id: str) -> dict[str, Any]:
        return {"Id": run_id, "JobRunState": "RUNNING"}

    def list_job_runs(self, job_name: str) -> list[dict[str, Any]]:
        return []

    def stop_job_run(self, job_name: str, run_id: str) -> None:
        return None


def test_a_batch_started_twice_has_one_writer(app: BuilderApp) -> None:
    launcher = LostFirstAnswer()
    twice = BuilderApp.create(app.settings.model_copy(update={"batching": app.settings.batching.model_copy(
        update={"max_files_per_manifest": 3, "light_path_max_mb": 0})}), launcher=launcher)
    keys = [f"{DATE}-twice-{i}.ndjson" for i in range(3)]
    for i, key in enumerate(keys):
        twice.clients.s3.put_object(Bucket=twice.settings.buckets.input, Key=key, Body=sample_file(60_000, 10 + i, DATE))
    deliver_all(twice)  # packs the three files and dispatches: the first start's answer is lost → queued
    [record] = twice.store.all_manifests()
    assert record["manifest_status"] == "queued" and len(launcher.started) == 1
    twice.store.ddb.update_item(TableName=twice.store.table, Key=to_item(twice.store.manifest_key(DATE, record["batch_id"])),
                                UpdateExpression="REMOVE start_lease")  # its start lease has run out
    scheduler_for(twice).start_queued(SchedulerReport())  # the scheduler starts it again: a second run of the batch
    assert len(launcher.started) == 2 and twice.store.get_manifest(DATE, record["batch_id"])["manifest_status"] == "running"  # type: ignore[index]
    scheduler = scheduler_for(twice)

    def first_runner(tasks: Sequence[Any], work: Callable[[Any], Any]) -> list[Any]:
        return run_in_process(tasks, work)

    def second_runner(tasks: Sequence[Any], work: Callable[[Any], Any]) -> list[Any]:
        scheduler.repair_orphaned_files(SchedulerReport())  # the scheduler's pass, while this run converts
        return run_in_process(tasks, work)

    first, second = ([run_manifest(twice.settings, args["--manifest_path"], runner, run_token=args.get("--run_token"))
                      for args, runner in zip(launcher.started, (first_runner, second_runner), strict=True)])
    items = {k: twice.store.get_file(DATE, k) for k in keys}
    assert {k: i["status"] for k, i in items.items()} == dict.fromkeys(keys, "completed")  # type: ignore[index]
    rows = load(twice.settings, "authorization").scan(selected_fields=("_source_file", "sequence_number")).to_arrow()
    pairs = Counter(zip(*(rows.column(c).to_pylist() for c in ("_source_file", "sequence_number")), strict=True))
    assert max(pairs.values()) == 1  # no row twice
    per_file = Counter(source.rpartition("/")[2] for source, _ in pairs)
    assert all(per_file[k] == items[k]["rows_written"] for k in keys)  # type: ignore[index]
    assert status_counts(twice) == {"completed": 3}
    assert first.status == "superseded" and second.status == "completed"  # the older start wrote nothing


# --- 5. a file replaced between the etag check and the read ---------------------------------------------------
def test_a_file_replaced_while_it_is_converted_commits_nothing_under_the_old_etag(app: BuilderApp) -> None:
    key = f"{DATE}-replaced.ndjson"
    bucket = app.settings.buckets.input
    app.clients.s3.put_object(Bucket=bucket, Key=key, Body=sample_file(60_000, 20, DATE))
    deliver_all(app)
    [record] = app.store.all_manifests()

    def replaced_then_converted(tasks: Sequence[Any], work: Callable[[Any], Any]) -> list[Any]:
        app.clients.s3.put_object(Bucket=bucket, Key=key, Body=sample_file(60_000, 21, DATE))  # after the etag check
        return run_in_process(tasks, work)

    app.moves.move_manifest(DATE, record["batch_id"], ManifestStatus.RUNNING, expected=[ManifestStatus.QUEUED, ManifestStatus.CREATED])
    result = run_manifest(app.settings, record["manifest_path"], replaced_then_converted)
    item = app.store.get_file(DATE, key)
    assert result.status == "failed" and item["status"] == "failed" and "changed" in item["error"]  # type: ignore[index]
    assert visible_batches(app) == {}  # nothing of either version under the old etag
    deliver_all(app)  # the new version's notification: its own batch converts it, once
    newer = next(m for m in app.store.all_manifests() if m["batch_id"] != record["batch_id"])
    assert run_manifest_record(app, newer).status == "completed"
    assert visible_batches(app) == {newer["batch_id"]: app.store.get_file(DATE, key)["rows_written"]}  # type: ignore[index]


# --- 7. the "converted" tag could not be set --------------------------------------------------------------------
def test_a_completed_file_whose_object_could_not_be_tagged_never_expires(app: BuilderApp) -> None:
    keys = [f"{DATE}-tagged.ndjson", f"{DATE}-untagged.ndjson"]
    for i, key in enumerate(keys):
        app.clients.s3.put_object(Bucket=app.settings.buckets.input, Key=key, Body=sample_file(60_000, 30 + i, DATE))
    deliver_all(app)
    tagged_batch, untagged_batch = sorted(app.store.all_manifests(), key=lambda m: m["files"][0]["key"])
    assert run_manifest_record(app, tagged_batch).status == "completed"  # tagging works
    with faults_in_this_process("s3:PutObjectTagging:SlowDown:1"):  # "untagged": every tag refused
        assert run_manifest_record(app, untagged_batch).status == "completed"
    tagged, untagged = (app.store.get_file(DATE, k) for k in keys)
    assert tagged["status"] == untagged["status"] == "completed"  # type: ignore[index]
    assert "ttl" in tagged  # type: ignore[operator]  # its object expires first, then its item
    assert "ttl" not in untagged  # type: ignore[operator]  # an untagged object never expires: neither does its item


# --- 8. the same bytes uploaded again after the object was gone --------------------------------------------------
def test_the_same_bytes_uploaded_again_after_the_object_was_gone_are_converted(app: BuilderApp) -> None:
    key = f"{DATE}-back.ndjson"
    bucket = app.settings.buckets.input
    data = sample_file(60_000, 40, DATE)
    app.clients.s3.put_object(Bucket=bucket, Key=key, Body=data)
    deliver_all(app)
    [record] = app.store.all_manifests()
    app.clients.s3.delete_object(Bucket=bucket, Key=key)  # removed after it was manifested
    deliver_all(app)
    assert run_manifest_record(app, record).status == "failed"
    assert app.store.get_file(DATE, key)["status"] == "failed"  # type: ignore[index]
    app.clients.s3.put_object(Bucket=bucket, Key=key, Body=data)  # the producer uploads it again: same bytes, same etag
    deliver_all(app)
    again = [m for m in app.store.all_manifests() if m["batch_id"] != record["batch_id"]]
    assert len(again) == 1, app.store.get_file(DATE, key)
    assert run_manifest_record(app, again[0]).status == "completed"
    assert visible_batches(app) == {again[0]["batch_id"]: app.store.get_file(DATE, key)["rows_written"]}  # type: ignore[index]


# --- 4. a manifest failed after its run's commit landed -----------------------------------------------------------
def died_after_its_commit(app: BuilderApp, key: str, body: bytes, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A manifest whose run committed and then died; the scheduler has failed it (its retries spent)."""
    app.clients.s3.put_object(Bucket=app.settings.buckets.input, Key=key, Body=body)
    deliver_all(app)
    [record] = [m for m in app.store.all_manifests() if m["files"][0]["key"] == key]
    real_commit = manifest_run.commit_outputs

    def commit_then_die(*args: Any, **kwargs: Any) -> Any:
        real_commit(*args, **kwargs)
        raise SystemExit("the run died right after its commit landed")

    monkeypatch.setattr(manifest_run, "commit_outputs", commit_then_die)
    with pytest.raises(SystemExit):
        run_manifest_record(app, record)
    monkeypatch.setattr(manifest_run, "commit_outputs", real_commit)
    assert set(visible_batches(app)) == {record["batch_id"]}  # the commit landed
    scheduler_for(app).fail_manifest(app.store.get_manifest(DATE, record["batch_id"]), "run died")  # type: ignore[arg-type]
    assert app.store.get_file(DATE, key)["status"] == "failed"  # type: ignore[index]
    return record


def test_a_manifest_failed_after_its_commit_landed_shows_nothing_and_its_retry_shows_once(
        app: BuilderApp, monkeypatch: pytest.MonkeyPatch) -> None:
    key = f"{DATE}-died.ndjson"
    record = died_after_its_commit(app, key, sample_file(60_000, 50, DATE) + b'{"transaction_id": \n', monkeypatch)
    assert visible_batches(app) == {} and rejects_of(app) == []  # failing the manifest removed rows and rejects
    assert retry_failed_files(app.settings, app.store) == 1  # `paybatch reprocess --failed`
    app.builder.pack_date(DATE, flush=True)
    later = next(m for m in app.store.all_manifests() if m["batch_id"] != record["batch_id"])
    assert run_manifest_record(app, later).status == "completed"
    assert visible_batches(app) == {later["batch_id"]: app.store.get_file(DATE, key)["rows_written"]}  # type: ignore[index]
    assert rejects_of(app) == [later["batch_id"]]


def test_reprocess_failed_removes_what_the_scheduler_could_not(app: BuilderApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """On AWS the scheduler (a Lambda without pyiceberg) cannot retract: `reprocess --failed` does it first."""
    monkeypatch.setattr(scheduler_handler, "_has_iceberg", lambda: False)  # as in the Lambda bundle
    record = died_after_its_commit(app, f"{DATE}-died2.ndjson", sample_file(60_000, 51, DATE), monkeypatch)
    assert set(visible_batches(app)) == {record["batch_id"]}  # still visible after the failure ...
    assert retry_failed_files(app.settings, app.store) == 1
    assert visible_batches(app) == {}  # ... removed before the file went back to pending


# --- pyiceberg's own clients under PAYBATCH_FAULTS ----------------------------------------------------------------
def test_commits_under_faults_in_pyiceberg_own_glue_and_s3_io_land_once(app: BuilderApp,
                                                                        tmp_path: Any) -> None:
    rows_table(app.settings, SCHEMA)
    batches = [f"20251223-111111-{i:08x}" for i in range(6)]
    files = {b: write_batch_file(app, b) for b in batches}
    with faults_in_this_process("s3:*:SlowDown:0.1,s3:PutObject:ResponseLost:0.1,glue:UpdateTable:ResponseLost:0.3,"
                                      "glue:*:InternalServiceException:0.1,seed=5", tmp_path):
        for batch in batches:
            commit_run(app.settings, SCHEMA, batch, [files[batch]], [])
        commit_run(app.settings, SCHEMA, batches[0], [files[batches[0]]], [])  # a re-run replaces, under faults too
    injected = faults.read_fault_logs(tmp_path)
    assert injected["glue:UpdateTable:ResponseLost"] > 0 and injected["s3:PutObject:ResponseLost"] > 0
    assert sum(n for k, n in injected.items() if k.startswith("s3:GetObject")) > 0  # pyiceberg's reads met faults too
    assert visible_batches(app) == dict.fromkeys(batches, 3)  # each batch once; the table reads whole


def test_the_services_start_when_their_first_queue_lookup_meets_a_5xx(app: BuilderApp,
                                                                      tmp_path: Any) -> None:
    """Found by the campaign's seed 15: the services process died at start on one InternalError from GetQueueUrl."""
    from paybatch.local.poller import SqsPoller

    with faults_in_this_process("sqs:GetQueueUrl:InternalError:0.6,seed=3", tmp_path):
        poller = SqsPoller(AwsClients(app.settings), app.settings.queues.ingest, lambda e, c: {}, function_name="t")
    assert poller.queue_url.endswith(app.settings.queues.ingest)
    assert faults.read_fault_logs(tmp_path)["sqs:GetQueueUrl:InternalError"] >= 1  # its lookup did meet the fault
