"""Operators' views read the status indexes, never scan the tracking table, and leave out old completed work."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from paybatch.aws import AwsClients
from paybatch.contracts.tracking import FileStatus, iso, utcnow
from paybatch.pipeline_status import pipeline_status
from paybatch.resources import MANIFEST_STATUS_INDEX, STATUS_INDEX
from paybatch.tracking_store import OPS_COMPLETED_DAYS, TrackingStore
from paybatch.transitions import Move, StatusMoves

pytestmark = pytest.mark.integration


def put_file(store: TrackingStore, key: str, status: FileStatus, age_days: float) -> None:
    uploaded = iso(utcnow() - timedelta(days=age_days))
    item = {"date_prefix": uploaded[:10], "file_key": key, "status": str(status), "upload_time": uploaded,
            "size_bytes": 1000, "file_size_mb": 0.001, "bucket": "in", "etag": "e", "version": 1}
    assert StatusMoves(store).register(item).outcome == Move.MOVED


def calls_of(store: TrackingStore, read: Any) -> tuple[Any, set[tuple[str, str | None]]]:
    calls: set[tuple[str, str | None]] = set()
    record = lambda params, model, **_: calls.add((model.name, params.get("IndexName")))  # noqa: E731
    store.ddb.meta.events.register("before-parameter-build.dynamodb", record)
    try:
        return read(), calls
    finally:
        store.ddb.meta.events.unregister("before-parameter-build.dynamodb", record)


def test_old_completed_files_are_left_out_and_nothing_is_scanned(clients: AwsClients) -> None:
    store = TrackingStore(clients)
    put_file(store, "new-done.ndjson", FileStatus.COMPLETED, 0.1)
    put_file(store, "old-done.ndjson", FileStatus.COMPLETED, OPS_COMPLETED_DAYS + 5)
    put_file(store, "old-pending.ndjson", FileStatus.PENDING, OPS_COMPLETED_DAYS + 5)  # stuck: must still show
    put_file(store, "old-failed.ndjson", FileStatus.FAILED, 30)
    put_file(store, "new-quarantined.ndjson", FileStatus.QUARANTINED, 0)
    files, calls = calls_of(store, store.ops_files)
    assert calls == {("Query", STATUS_INDEX)}
    assert sorted(f["file_key"] for f in files) == ["new-done.ndjson", "new-quarantined.ndjson", "old-failed.ndjson",
                                                    "old-pending.ndjson"]
    assert sorted(f["file_key"] for f in store.ops_files(completed_days=10)) == sorted(
        f["file_key"] for f in store.all_files())
    status, calls = calls_of(store, lambda: pipeline_status(store))
    assert calls == {("Query", STATUS_INDEX), ("Query", MANIFEST_STATUS_INDEX), ("Scan", None)}  # the scan: counter items
    # Counts from the counters: every file, the old completed one too, without reading a completed item.
    assert status["files"]["completed"] == 2 and status["files"]["pending"] == 1 and status["backlog"]["pending"] == 1
    assert status["files_total"] == 5


def dynamodb_requests(clients: AwsClients, read: Any) -> tuple[Any, int]:
    count = [0]

    def one(**_: Any) -> None:
        count[0] += 1

    clients.dynamodb.meta.events.register("before-call.dynamodb", one)
    try:
        return read(), count[0]
    finally:
        clients.dynamodb.meta.events.unregister("before-call.dynamodb", one)


def test_monitor_diagnose_and_status_cost_what_is_active_not_what_completed(clients: AwsClients) -> None:
    """A refresh's DynamoDB requests do not grow with the completed files (prod: 338 k a day, kept two days)."""
    from paybatch.dynamo import batch_write
    from paybatch.ops.diagnose import diagnose
    from paybatch.ops.monitor import snapshot

    store = TrackingStore(clients)
    put_file(store, "waiting.ndjson", FileStatus.PENDING, 0.01)
    put_file(store, "broken.ndjson", FileStatus.FAILED, 0.2)

    def complete(count: int, start: int) -> None:  # completed minutes ago: inside every window an operator looks at
        now = utcnow()
        batch_write(store.ddb, store.table, [
            {"date_prefix": iso(now)[:10], "file_key": f"done-{start + i:06d}.ndjson", "status": "completed",
             "upload_time": iso(now - timedelta(minutes=3)), "completed_at": iso(now - timedelta(minutes=1)),
             "size_bytes": 1000, "etag": "e", "batch_id": "b1", "output_uri": "s3://lake/" + "x" * 900}  # an item's size
            for i in range(count)])

    def refresh() -> tuple[dict[str, Any], Any, dict[str, Any]]:
        return snapshot(clients), diagnose(clients), pipeline_status(store)

    complete(20, 0)
    (few, _, _), requests_few = dynamodb_requests(clients, refresh)
    complete(3_000, 20)
    (many, diagnosis, _), requests_many = dynamodb_requests(clients, refresh)
    assert requests_many == requests_few <= 200
    assert many["backlog"]["pending"] == few["backlog"]["pending"] == 1
    assert diagnosis.facts["files"].get("failed") == 1 and "completed" not in diagnosis.facts["files"]
