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
