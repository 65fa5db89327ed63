"""The tracking state machine: every typed outcome, the enforced contract, counters equal to items, the TTL rule."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest

from paybatch import faults
from paybatch.builder.app import BuilderApp
from paybatch.contracts.tracking import FILE_TRANSITIONS, FileStatus, ManifestStatus, iso, manifest_pk, utcnow
from paybatch.counters import by_prefix, finished_since
from paybatch.dynamo import WriteFailed, to_item
from paybatch.transitions import FileChange, IllegalTransition, Move, RunFence, RunSuperseded, StatusMoves
from tests.integration.builder_support import small_settings, status_counts

pytestmark = pytest.mark.integration
DATE = "2025-12-23"


@pytest.fixture
def app(clients):  # type: ignore[no-untyped-def]
    return BuilderApp.create(small_settings())


def new_file(key: str, status: FileStatus = FileStatus.PENDING, **extra: Any) -> dict[str, Any]:
    return {"date_prefix": DATE, "file_key": key, "status": str(status), "etag": "e1", "size_bytes": 100,
            "upload_time": "2025-12-23T10:00:00.000000Z", "bucket": "in", "version": 1, **extra}


def test_moved_already_and_conflict(app: BuilderApp) -> None:
    moves = app.moves
    assert moves.register(new_file("a")).outcome == Move.MOVED
    assert moves.register(new_file("a")).outcome == Move.ALREADY  # an item exists for the key
    first = moves.move_file(DATE, "a", FileStatus.FAILED, expected=FileStatus.PENDING, set_values={"error": "x"})
    assert (first.outcome, first.previous) == (Move.MOVED, "pending")
    again = moves.move_file(DATE, "a", FileStatus.FAILED, expected=FileStatus.PENDING)
    assert (again.outcome, again.previous) == (Move.ALREADY, "failed")  # another writer (or a retry) did it
    other = moves.move_file(DATE, "a", FileStatus.MANIFESTED, expected=FileStatus.PENDING)
    assert (other.outcome, other.previous) == (Move.CONFLICT, "failed")
    gone = moves.move_file(DATE, "nope", FileStatus.FAILED, expected=FileStatus.PENDING)
    assert (gone.outcome, gone.previous) == (Move.CONFLICT, None)


def test_several_expected_statuses_read_first_and_count_exactly(app: BuilderApp) -> None:
    moves = app.moves
    moves.register(new_file("m", batch_id="b1"))
    moves.register(new_file("p", batch_id="b1"))
    moves.move_file(DATE, "m", FileStatus.MANIFESTED, expected=FileStatus.PENDING, batch_id="b1")
    moves.move_file(DATE, "p", FileStatus.MANIFESTED, expected=FileStatus.PENDING, batch_id="b1")
    moves.move_file(DATE, "p", FileStatus.PROCESSING, expected=FileStatus.MANIFESTED, batch_id="b1")
    for key in ("m", "p"):
        result = moves.move_file(DATE, key, FileStatus.FAILED, expected=[FileStatus.MANIFESTED, FileStatus.PROCESSING], batch_id="b1")
        assert result.outcome == Move.MOVED
    assert status_counts(app) == {"failed": 2}
    wrong_batch = moves.move_file(DATE, "m", FileStatus.PENDING, expected=FileStatus.FAILED, batch_id="b2")
    assert wrong_batch.outcome == Move.CONFLICT


def test_the_contract_is_enforced_before_any_write(app: BuilderApp) -> None:
    app.moves.register(new_file("q"))
    with pytest.raises(IllegalTransition, match="pending → completed"):
        app.moves.move_file(DATE, "q", FileStatus.COMPLETED, expected=FileStatus.PENDING)
    with pytest.raises(IllegalTransition, match="quarantined → pending"):
        app.moves.move_file(DATE, "q", FileStatus.PENDING, expected=FileStatus.QUARANTINED)
    with pytest.raises(IllegalTransition, match="running → created"):
        app.moves.move_manifest(DATE, "b", ManifestStatus.CREATED, expected=ManifestStatus.RUNNING)
    assert app.store.get_file(DATE, "q")["status"] == "pending"  # type: ignore[index]
    assert FileStatus.COMPLETED not in FILE_TRANSITIONS[FileStatus.PENDING]


def test_a_write_that_cannot_be_made_raises_and_changes_nothing(app: BuilderApp, monkeypatch: pytest.MonkeyPatch) -> None:
    app.moves.register(new_file("w"))
    monkeypatch.setenv(faults.FAULTS, "dynamodb:TransactWriteItems:TransactionConflict:1")
    try:
        faulty = BuilderApp.create(app.settings)
        faulty.store.retry_pause = 0.0
        with pytest.raises(WriteFailed, match="TransactionConflict"):
            faulty.moves.move_file(DATE, "w", FileStatus.FAILED, expected=FileStatus.PENDING)
    finally:
        faults._injector = None
    assert app.store.get_file(DATE, "w")["status"] == "pending"  # type: ignore[index]
    assert status_counts(app) == {"pending": 1}


def test_throttling_is_retried_then_lands(app: BuilderApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """Half the transactions throttled after botocore's retries: the store retries and every move lands once."""
    monkeypatch.setenv(faults.FAULTS, "dynamodb:TransactWriteItems:TransactionConflict:0.5,seed=3")
    try:
        faulty = BuilderApp.create(app.settings)
        faulty.store.retry_pause = 0.001
        for i in range(20):
            assert faulty.moves.register(new_file(f"t{i}")).outcome == Move.MOVED
            assert faulty.moves.move_file(DATE, f"t{i}", FileStatus.FAILED, expected=FileStatus.PENDING).outcome == Move.MOVED
        injected = faults.injector_from_env().injected  # type: ignore[union-attr]
    finally:
        faults._injector = None
    assert sum(injected.values()) >= 10
    assert status_counts(app) == {"failed": 20}
    shards = app.clients.dynamodb.query(TableName=app.store.metrics_table, KeyConditionExpression="metric_date = :d",
                                        ExpressionAttributeValues={":d": {"S": DATE}})["Items"]
    assert len(shards) >= 8  # 40 moves spread over the shards: no one counter item in every transaction


def test_only_finished_items_carry_the_ttl(app: BuilderApp) -> None:
    moves = app.moves
    moves.register(new_file("c", batch_id="b"))
    assert "ttl" not in app.store.get_file(DATE, "c")  # type: ignore[operator]
    for new, old in ((FileStatus.MANIFESTED, FileStatus.PENDING), (FileStatus.PROCESSING, FileStatus.MANIFESTED)):
        moves.move_file(DATE, "c", new, expected=old, batch_id="b")
        assert "ttl" not in app.store.get_file(DATE, "c")  # type: ignore[operator]
    moves.move_file(DATE, "c", FileStatus.COMPLETED, expected=FileStatus.PROCESSING, batch_id="b")
    assert "ttl" in app.store.get_file(DATE, "c")  # type: ignore[operator]
    moves.move_file(DATE, "c", FileStatus.MANIFESTED, expected=FileStatus.COMPLETED, batch_id="b")  # reprocess
    assert "ttl" not in app.store.get_file(DATE, "c")  # type: ignore[operator]
    moves.move_file(DATE, "c", FileStatus.FAILED, expected=FileStatus.MANIFESTED, batch_id="b")
    assert "ttl" not in app.store.get_file(DATE, "c")  # type: ignore[operator]  # failed waits for an operator


def test_without_input_retention_completed_items_never_expire(clients) -> None:  # type: ignore[no-untyped-def]
    settings = small_settings()
    settings = settings.model_copy(update={"input_retention": settings.input_retention.model_copy(update={"expire_after_days": None})})
    app = BuilderApp.create(settings)
    moves = StatusMoves(app.store)
    moves.register(new_file("k", batch_id="b"))
    for new, old in ((FileStatus.MANIFESTED, FileStatus.PENDING), (FileStatus.PROCESSING, FileStatus.MANIFESTED),
                     (FileStatus.COMPLETED, FileStatus.PROCESSING)):
        moves.move_file(DATE, "k", new, expected=old, batch_id="b")
    assert "ttl" not in app.store.get_file(DATE, "k")  # type: ignore[operator]


def test_manifest_counters_start_at_created(app: BuilderApp) -> None:
    files = [new_file(f"f{i}") for i in range(3)]
    for item in files:
        app.moves.register(item)
    record = app.builder.create_manifest(DATE, files)
    assert record is not None and record["manifest_status"] == "created"
    counts = app.store.counts(DATE)
    assert counts["manifests:created"] == 1 and counts["files:manifested"] == 3 and counts["files:pending"] == 0
    assert Counter(i["status"] for i in app.store.all_files()) == {"manifested": 3}



def test_a_finished_manifest_is_counted_in_its_hour_with_its_billed_seconds(app: BuilderApp) -> None:
    """What `monitor` reads for the last day and its throughput: the hour's and quarter hour's buckets, not the
    manifests; the dates' totals count each manifest once."""
    batches = []
    for n, seconds in enumerate((30.0, 600.0)):
        files = [new_file(f"h{n}-{i}") for i in range(2)]
        for item in files:
            app.moves.register(item)
        record = app.builder.create_manifest(DATE, files)
        assert record is not None
        app.store.annotate_manifest(DATE, record["batch_id"], {"job_name": "paybatch-test-convert"})
        batches.append((record, seconds))
    for record, seconds in batches:
        moved = app.moves.move_manifest(DATE, record["batch_id"], ManifestStatus.COMPLETED,
                                        expected=[ManifestStatus.CREATED, ManifestStatus.RUNNING],
                                        set_values={"duration_seconds": seconds, "finished_at": iso(utcnow())})
        assert moved.outcome == Move.MOVED
    again = app.moves.move_manifest(DATE, batches[0][0]["batch_id"], ManifestStatus.COMPLETED,
                                    expected=[ManifestStatus.RUNNING], set_values={"duration_seconds": 30.0})
    assert again.outcome == Move.ALREADY  # a retry adds nothing
    now = utcnow()
    day = finished_since(app.clients.dynamodb, app.settings.tables.metrics, now - dt.timedelta(days=1), now)
    assert by_prefix(day, "manifests") == {"completed": 2}
    assert by_prefix(day, "amount:billed_seconds") == {"paybatch-test-convert": 60 + 600}  # a run bills a minute at least
    assert finished_since(app.clients.dynamodb, app.settings.tables.metrics, now - dt.timedelta(days=3),
                          now - dt.timedelta(days=2)) == {}
    assert app.store.counts()["manifests:completed"] == 2  # the dates' totals leave the buckets out
    quarter = finished_since(app.clients.dynamodb, app.settings.tables.metrics, now - dt.timedelta(minutes=15), now, minutes=15)
    assert quarter == {"amount:files_converted": 4, "amount:bytes_converted": 400}  # the throughput's buckets

def _manifested(moves: StatusMoves, keys: list[str], batch: str = "b1") -> None:
    for key in keys:
        moves.register(new_file(key))
        moves.move_file(DATE, key, FileStatus.MANIFESTED, expected=FileStatus.PENDING, set_values={"batch_id": batch})


def test_a_batch_of_files_moves_in_one_transaction_per_hundred(app: BuilderApp) -> None:
    """A run's files: 250 moved in 3 transactions (98 files, its fence and a counter shard each), counted exactly."""
    _manifested(app.moves, [f"f{i:03d}" for i in range(250)])
    calls: Counter[str] = Counter()
    app.clients.dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))
    changes = [FileChange(f"f{i:03d}", {"processing_started_at": "now"}) for i in range(250)]
    left = app.moves.move_files(DATE, changes, FileStatus.PROCESSING, expected=FileStatus.MANIFESTED, batch_id="b1")
    assert left == [] and calls == Counter({"TransactWriteItems": 3})
    assert status_counts(app) == {"processing": 250}


def test_a_file_moved_by_another_writer_is_left_out_and_the_rest_move(app: BuilderApp) -> None:
    _manifested(app.moves, ["a", "b", "c"])
    app.moves.move_file(DATE, "b", FileStatus.FAILED, expected=FileStatus.MANIFESTED)  # another writer got there first
    left = app.moves.move_files(DATE, [FileChange(k) for k in "abc"], FileStatus.PROCESSING,
                                expected=FileStatus.MANIFESTED, batch_id="b1")
    assert [c.key for c in left] == ["b"]
    assert status_counts(app) == {"processing": 2, "failed": 1}


def test_a_superseded_run_moves_none_of_its_files(app: BuilderApp) -> None:
    _manifested(app.moves, ["a", "b"])
    record = {"date_prefix": manifest_pk(DATE), "file_key": "b1", "batch_id": "b1", "manifest_status": "running",
              "run_token": "newer"}
    app.clients.dynamodb.put_item(TableName=app.store.table, Item=to_item(record))
    with pytest.raises(RunSuperseded):
        app.moves.move_files(DATE, [FileChange(k) for k in "ab"], FileStatus.PROCESSING, expected=FileStatus.MANIFESTED,
                             batch_id="b1", fence=RunFence(DATE, "b1", "older"))
    assert status_counts(app) == {"manifested": 2}


def test_a_batched_move_whose_answer_is_lost_lands_once(app: BuilderApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every other transaction's answer lost after it was applied: each chunk is sent again with its token, and
    every file is moved once, counted once."""
    _manifested(app.moves, [f"f{i:03d}" for i in range(200)])
    monkeypatch.setenv(faults.FAULTS, "dynamodb:TransactWriteItems:ResponseLost:0.5,seed=3")
    try:
        faulty = BuilderApp.create(app.settings)
        faulty.store.retry_pause = 0.001
        changes = [FileChange(f"f{i:03d}", events={"file_taken": (1, 100)}) for i in range(200)]
        left = faulty.moves.move_files(DATE, changes, FileStatus.PROCESSING, expected=FileStatus.MANIFESTED, batch_id="b1")
        for change in left:  # what a caller does with them: move each alone, which reads first
            assert faulty.moves.move_file(DATE, change.key, FileStatus.PROCESSING, expected=FileStatus.MANIFESTED,
                                          batch_id="b1").done
        injected = faults.injector_from_env().injected  # type: ignore[union-attr]
    finally:
        faults._injector = None
    assert sum(injected.values()) >= 1
    assert status_counts(app) == {"processing": 200}
