"""The manifest builder against the local endpoint: events, quarantine, manifests, failures, concurrency."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from typing import Any

import pytest

from lambda_manifest_builder.handler import handle_batch
from lambda_manifest_builder.scheduler import scheduler_for
from paybatch.builder.app import BuilderApp
from paybatch.contracts.events import s3_message
from paybatch.contracts.manifest import Manifest
from paybatch.contracts.tracking import FileStatus, ManifestStatus
from paybatch.dynamo import from_item
from paybatch.resources import MANIFEST_STATUS_INDEX
from tests.conftest import drain
from tests.integration.builder_support import (
    body,
    deliver_all,
    files_by_status,
    manifest_files,
    metric_counts,
    small_settings,
    status_counts,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def app(clients):  # type: ignore[no-untyped-def]
    builder = BuilderApp.create(small_settings(MAX_FILES_PER_MANIFEST="3"))
    drain(builder.clients, builder.settings.queues.ingest)
    return builder


def put(app: BuilderApp, key: str, size: int = 1024, seed: str = "x") -> str:
    response = app.clients.s3.put_object(Bucket=app.settings.buckets.input, Key=key, Body=body(size, seed))
    return str(response["ETag"]).strip('"')


def send(app: BuilderApp, message: str) -> None:
    app.clients.sqs.send_message(QueueUrl=app.clients.queue_url(app.settings.queues.ingest), MessageBody=message)


def assert_invariants(app: BuilderApp, expected_files: int) -> None:
    """Every file in exactly one place, none in two manifests, manifests and metrics agree with the files."""
    items = app.store.all_files()
    assert len(items) == expected_files
    named = manifest_files(app)
    assert len(named) == len(set(k for _, k in named)), "a file is named by two manifests"
    by_key = {i["file_key"]: i for i in items}
    for batch_id, key in named:
        assert by_key[key]["status"] == FileStatus.MANIFESTED and by_key[key]["batch_id"] == batch_id
    manifested = [i for i in items if i["status"] == FileStatus.MANIFESTED]
    assert {i["file_key"] for i in manifested} == {k for _, k in named}
    quarantined = [i for i in items if i["status"] == FileStatus.QUARANTINED]
    for item in quarantined:
        bucket, _, key = item["quarantine_path"].removeprefix("s3://").partition("/")
        app.clients.s3.head_object(Bucket=bucket, Key=key)
    counts = metric_counts(app)
    assert counts.get("file_uploaded", 0) == expected_files
    assert counts.get("file_manifested", 0) == len(manifested)
    assert counts.get("file_quarantined", 0) == len(quarantined)
    assert counts.get("manifest_created", 0) == len(app.store.all_manifests())
    assert status_counts(app) == dict(Counter(i["status"] for i in items))  # the per-status counters equal the items
    for m in app.store.all_manifests():
        assert m["manifest_status"] != ManifestStatus.CREATING
        assert m["file_count"] == len(m["files"]) <= app.settings.batching.max_files_per_manifest


def listed_manifests_reading_no_file(app: BuilderApp) -> list[dict[str, Any]]:
    """``all_manifests`` with the DynamoDB calls it made: queries of the manifest index only, no scan."""
    calls: list[tuple[str, str | None]] = []
    record = lambda params, model, **_: calls.append((model.name, params.get("IndexName")))  # noqa: E731
    app.store.ddb.meta.events.register("before-parameter-build.dynamodb", record)
    try:
        manifests = app.store.all_manifests()
    finally:
        app.store.ddb.meta.events.unregister("before-parameter-build.dynamodb", record)
    assert calls and set(calls) == {("Query", MANIFEST_STATUS_INDEX)}
    scanned = [from_item(i) for i in app.store.ddb.scan(TableName=app.store.table)["Items"] if "manifest_status" in i]
    assert sorted(m["batch_id"] for m in manifests) == sorted(m["batch_id"] for m in scanned)
    assert [m["created_at"] for m in manifests] == sorted(m["created_at"] for m in manifests)
    return manifests


def test_files_tracked_quarantined_and_manifested(app: BuilderApp) -> None:
    for i in range(7):
        put(app, f"2025-12-23-file-{i:03}.ndjson", seed=str(i))
    put(app, "2025-12-23-huge.ndjson", 4096)
    put(app, "2025-12-23-tiny.ndjson", 10)
    put(app, "2025-12-23-empty.ndjson", 0)
    put(app, "2025-12-23-notes.csv")
    assert deliver_all(app)["failed"] == 0
    status = files_by_status(app)
    assert Counter(status.values()) == {"manifested": 6, "pending": 1, "quarantined": 4}
    reasons = {i["file_key"]: i["quarantine_reason"] for i in app.store.all_files() if "quarantine_reason" in i}
    assert reasons == {"2025-12-23-huge.ndjson": "too-large", "2025-12-23-tiny.ndjson": "too-small",
                       "2025-12-23-empty.ndjson": "too-small", "2025-12-23-notes.csv": "unsupported"}
    quarantined = {o["Key"] for o in app.clients.s3.list_objects_v2(Bucket=app.settings.buckets.quarantine)["Contents"]}
    assert "quarantine/2025-12-23/too-large/2025-12-23-huge.ndjson" in quarantined
    left = {o["Key"] for o in app.clients.s3.list_objects_v2(Bucket=app.settings.buckets.input)["Contents"]}
    assert not any(k in left for k in reasons), "originals are removed once the copy is verified"
    # Manifest JSON: the documented contract, pinned to each file's etag.
    manifests = listed_manifests_reading_no_file(app)
    assert len(manifests) == 2
    for record in manifests:
        key = record["manifest_path"].removeprefix(f"s3://{app.settings.buckets.manifest}/")
        assert key == f"manifests/2025-12-23/manifest-{record['batch_id']}.json"
        doc = Manifest.model_validate_json(
            app.clients.s3.get_object(Bucket=app.settings.buckets.manifest, Key=key)["Body"].read())
        assert doc.totals.file_count == 3 and doc.env == "dev" and doc.input_format == "ndjson"
        assert all(f.etag for f in doc.files)
        # No conversion job is deployed on this endpoint, so each manifest waits as queued with the reason.
        assert record["manifest_status"] == ManifestStatus.QUEUED
        assert "EntityNotFoundException" in record["queue_reason"]
    # The straggler is flushed by the scheduler once asked to (or once it waited max_wait_seconds).
    report = scheduler_for(app).run_once(flush=True)
    assert len(report.manifests_created) == 1
    assert_invariants(app, 11)


def test_duplicate_reordered_and_multipart_events_make_one_file(app: BuilderApp) -> None:
    s = app.settings
    key = "2025-12-23 report ünïcode+plus & space.ndjson"
    old_etag = put(app, key, seed="v1")
    new_etag = put(app, key, seed="v2")  # re-uploaded before anything was processed
    assert old_etag != new_etag
    send(app, s3_message(s.buckets.input, key, 1024, old_etag))  # late duplicate of the old version
    send(app, s3_message(s.buckets.input, key, 1024, new_etag))
    mpu = app.clients.s3.create_multipart_upload(Bucket=s.buckets.input, Key="2025-12-23-multipart.ndjson")
    part = app.clients.s3.upload_part(Bucket=s.buckets.input, Key="2025-12-23-multipart.ndjson", PartNumber=1,
                                      UploadId=mpu["UploadId"], Body=body(1024))
    app.clients.s3.complete_multipart_upload(
        Bucket=s.buckets.input, Key="2025-12-23-multipart.ndjson", UploadId=mpu["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    assert deliver_all(app)["failed"] == 0
    items = {i["file_key"]: i for i in app.store.all_files()}
    assert set(items) == {key, "2025-12-23-multipart.ndjson"}
    assert items[key]["etag"] == new_etag and items[key]["status"] == FileStatus.PENDING
    assert metric_counts(app)["file_uploaded"] == 2


def test_new_version_after_completion_is_processed_again(app: BuilderApp) -> None:
    key = "2025-12-23-again.ndjson"
    put(app, key, seed="v1")
    deliver_all(app)
    item = app.store.get_file("2025-12-23", key)
    assert item is not None
    app.moves.move_file("2025-12-23", key, FileStatus.FAILED, expected=FileStatus.PENDING, set_values={"error": "simulated"})
    new_etag = put(app, key, seed="v2")
    deliver_all(app)
    again = app.store.get_file("2025-12-23", key)
    assert again is not None
    assert (again["status"], again["etag"], again["version"]) == ("pending", new_etag, 2)


def test_object_removed_before_processing_fails_the_file(app: BuilderApp) -> None:
    put(app, "2025-12-23-gone.ndjson")
    deliver_all(app)
    app.clients.s3.delete_object(Bucket=app.settings.buckets.input, Key="2025-12-23-gone.ndjson")
    deliver_all(app)
    item = app.store.get_file("2025-12-23", "2025-12-23-gone.ndjson")
    assert item is not None and item["status"] == FileStatus.FAILED
    assert "removed from the input bucket" in item["error"]


def test_unrecognized_message_is_reported_failed_and_dead_lettered(app: BuilderApp) -> None:
    s = app.settings
    url = app.clients.queue_url(s.queues.ingest)
    app.clients.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "1"})
    put(app, "2025-12-23-fine.ndjson")
    send(app, "this is not json")
    event_outcomes = []
    for _ in range(s.queues.max_receive_count + 2):
        got = deliver_all(app, max_rounds=3)
        event_outcomes.append(got["failed"])
        time.sleep(1.1)
    assert sum(event_outcomes) == s.queues.max_receive_count
    assert drain(app.clients, s.queues.dlq) == ["this is not json"]
    assert files_by_status(app) == {"2025-12-23-fine.ndjson": "pending"}


def test_handler_reports_only_the_bad_record(app: BuilderApp) -> None:
    good = s3_message(app.settings.buckets.input, "2025-12-23-x.ndjson", 1024, put(app, "2025-12-23-x.ndjson"))
    event = {"Records": [
        {"messageId": "1", "receiptHandle": "r1", "body": good, "attributes": {"ApproximateReceiveCount": "1"},
         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn", "awsRegion": "us-east-1"},
        {"messageId": "2", "receiptHandle": "r2", "body": json.dumps({"Records": [{"eventSource": "aws:sns"}]}),
         "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
         "eventSource": "aws:sqs", "eventSourceARN": "arn", "awsRegion": "us-east-1"},
    ]}
    assert handle_batch(event, None, app) == {"batchItemFailures": [{"itemIdentifier": "2"}]}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_eight_builders_in_parallel_exactly_once(clients) -> None:  # type: ignore[no-untyped-def]
    """8 concurrent builders, 2,000 files, 25 % duplicate events: every file in one place, metrics equal."""
    app = BuilderApp.create(small_settings())
    s = app.settings
    drain(app.clients, s.queues.ingest)
    n = int(os.environ.get("PAYBATCH_CONCURRENCY_FILES", "2000"))
    sizes = [1024 if i % 20 else 4096 for i in range(n)]  # 5 % too large → quarantined
    keys = [f"2025-12-{23 + i % 3}-file-{i:05}.ndjson" for i in range(n)]
    etags: dict[str, str] = {}

    def upload(part: int) -> None:
        for i in range(part, n, 8):
            etags[keys[i]] = put(app, keys[i], sizes[i], seed=str(i))

    run_threads([lambda p=p: upload(p) for p in range(8)])
    url = app.clients.queue_url(s.queues.ingest)
    dupes = [s3_message(s.buckets.input, keys[i], sizes[i], etags[keys[i]]) for i in range(0, n, 4)]
    for start in range(0, len(dupes), 10):
        app.clients.sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(j), "MessageBody": b} for j, b in enumerate(dupes[start:start + 10])])
    results: list[Counter[str]] = []
    run_threads([lambda: results.append(deliver_all(BuilderApp.create(s), max_rounds=10_000))] * 8)
    assert sum(r["received"] for r in results) >= n + len(dupes)
    assert sum(r["failed"] for r in results) == 0
    scheduler_for(app).run_once(flush=True, sweep=True)
    statuses = Counter(files_by_status(app).values())
    assert statuses == {"manifested": n - n // 20, "quarantined": n // 20}
    assert_invariants(app, n)


def run_threads(targets: list) -> None:  # type: ignore[type-arg]
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_scheduler_sweep_registers_a_file_whose_notification_was_lost(app: BuilderApp, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import paybatch.builder.sweep as sweep_module

    monkeypatch.setattr(sweep_module, "SWEEP_GRACE_SECONDS", 0)
    put(app, "2025-12-23-lost.ndjson")
    assert len(drain(app.clients, app.settings.queues.ingest)) == 1  # the notification is lost
    report = scheduler_for(app).run_once()
    assert report.files_swept == 1
    assert files_by_status(app) == {"2025-12-23-lost.ndjson": "pending"}
    assert scheduler_for(app).run_once().files_swept == 0  # tracked now: swept once only
