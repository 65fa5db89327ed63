"""The scheduler repairs every stuck state, and its input sweep costs what is new, not what the bucket holds."""

from __future__ import annotations

from datetime import timedelta

import pytest

import paybatch.builder.sweep as sweep_module
from lambda_manifest_builder.scheduler import scheduler_for
from paybatch.builder.app import BuilderApp
from paybatch.builder.scheduler import SchedulerReport
from paybatch.builder.sweep import InputSweep
from paybatch.contracts.tracking import FileStatus, ManifestStatus, utcnow
from paybatch.retention import mark_converted
from tests.conftest import drain
from tests.integration.builder_support import body, deliver_all, small_settings, status_counts

pytestmark = pytest.mark.integration


@pytest.fixture
def app(clients, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sweep_module, "SWEEP_GRACE_SECONDS", 0)
    builder = BuilderApp.create(small_settings(MAX_FILES_PER_MANIFEST="2"))
    drain(builder.clients, builder.settings.queues.ingest)
    return builder


def put(app: BuilderApp, key: str, seed: str = "x") -> None:
    app.clients.s3.put_object(Bucket=app.settings.buckets.input, Key=key, Body=body(1024, seed))


def test_lost_notifications_are_found_on_open_dates_and_by_the_full_walk(app: BuilderApp) -> None:
    today = utcnow().strftime("%Y-%m-%d")
    put(app, f"{today}-lost.ndjson")
    put(app, "2020-01-01-old-lost.ndjson")  # years old and untracked: still found (the full walk)
    drain(app.clients, app.settings.queues.ingest)
    result = InputSweep(app).run()
    assert result.registered == 2
    assert {i["file_key"] for i in app.store.all_files()} == {f"{today}-lost.ndjson", "2020-01-01-old-lost.ndjson"}
    put(app, f"{today}-later.ndjson")  # after today's full walk: the open-date listing finds it
    drain(app.clients, app.settings.queues.ingest)
    second = InputSweep(app).run()
    assert second.registered == 1 and second.full_walk_pages == 0


def test_a_pass_costs_the_open_dates_not_the_whole_bucket(app: BuilderApp) -> None:
    for i in range(30):
        put(app, f"2021-03-{1 + i % 28:02d}-old-{i:02d}.ndjson")
    deliver_all(app)
    InputSweep(app).run()  # today's full walk
    quiet = InputSweep(app).run()
    assert quiet.registered == 0 and quiet.objects_seen == 0
    assert quiet.requests == 1 + app.settings.sweep.open_days + 1  # the cursor, one list per open date


def test_the_full_walk_resumes_where_the_last_pass_stopped(app: BuilderApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(InputSweep, "page_keys", 2)
    settings = app.settings.model_copy(update={"sweep": app.settings.sweep.model_copy(update={"full_pages_per_pass": 1})})
    sliced = BuilderApp.create(settings)
    for i in range(5):
        put(app, f"2021-01-0{i + 1}-f.ndjson")
    drain(app.clients, app.settings.queues.ingest)
    found = [InputSweep(sliced).run().registered for _ in range(4)]
    assert found == [2, 2, 1, 0]  # two keys a pass, then today's walk is done


def test_an_object_converted_before_its_item_expired_is_not_converted_again(app: BuilderApp) -> None:
    put(app, "2021-05-05-done.ndjson")
    drain(app.clients, app.settings.queues.ingest)
    mark_converted(app.clients.s3, app.settings.buckets.input, "2021-05-05-done.ndjson")
    assert InputSweep(app).run().registered == 0
    assert app.store.all_files() == []


def test_files_stranded_under_a_finished_or_vanished_manifest_are_failed(app: BuilderApp) -> None:
    for i in range(4):
        put(app, f"2025-12-23-s{i}.ndjson", seed=str(i))
    deliver_all(app)
    manifests = sorted(app.store.all_manifests(), key=lambda m: m["files"][0]["key"])
    assert len(manifests) == 2
    date = "2025-12-23"
    done, running = manifests
    # `done`: its run recorded completed, but one file's move was never made (a write that failed).
    app.moves.move_manifest(date, done["batch_id"], ManifestStatus.COMPLETED, expected=[ManifestStatus.RUNNING, ManifestStatus.QUEUED])
    stranded = done["files"][0]["key"]
    app.moves.move_file(date, stranded, FileStatus.PROCESSING, expected=FileStatus.MANIFESTED, batch_id=done["batch_id"])
    app.moves.move_file(date, done["files"][1]["key"], FileStatus.PROCESSING, expected=FileStatus.MANIFESTED, batch_id=done["batch_id"])
    app.moves.move_file(date, done["files"][1]["key"], FileStatus.COMPLETED, expected=FileStatus.PROCESSING, batch_id=done["batch_id"])
    # `running`: its record is gone (expired or deleted by hand) while its files wait.
    app.clients.dynamodb.delete_item(TableName=app.store.table, Key={"date_prefix": {"S": f"manifest#{date}"},
                                                                      "file_key": {"S": running["batch_id"]}})
    report = SchedulerReport()
    scheduler_for(app).repair_orphaned_files(report)
    assert report.files_repaired == 3
    statuses = {i["file_key"]: (i["status"], i.get("error", "")) for i in app.store.all_files()}
    assert statuses[stranded][0] == "failed" and "whose manifest is completed" in statuses[stranded][1]
    assert statuses[done["files"][1]["key"]][0] == "completed"
    assert all(statuses[f["key"]][0] == "failed" and "gone" in statuses[f["key"]][1] for f in running["files"])
    assert status_counts(app) == {"failed": 3, "completed": 1}


def test_a_file_under_a_live_manifest_is_left_alone(app: BuilderApp) -> None:
    for i in range(2):
        put(app, f"2025-12-23-l{i}.ndjson", seed=str(i))
    deliver_all(app)
    report = SchedulerReport()
    scheduler_for(app).repair_orphaned_files(report)
    assert report.files_repaired == 0
    assert {i["status"] for i in app.store.all_files()} == {"manifested"}


def test_the_input_bucket_expires_converted_objects_only(app: BuilderApp) -> None:
    rules = app.clients.s3.get_bucket_lifecycle_configuration(Bucket=app.settings.buckets.input)["Rules"]
    expire = next(r for r in rules if r["ID"] == "expire-converted-input")
    assert expire["Filter"] == {"Tag": {"Key": "paybatch-converted", "Value": "true"}}
    assert expire["Expiration"]["Days"] == app.settings.input_retention.expire_after_days
    assert app.settings.tracking.ttl_days > expire["Expiration"]["Days"] + 1
    assert timedelta(days=app.settings.tracking.ttl_days) > timedelta(days=expire["Expiration"]["Days"])
