"""The packing lock (owner, expiry, fencing) and the scheduler's run supervision (retry, then fail)."""

from __future__ import annotations

import time

import pytest

from lambda_manifest_builder.scheduler import scheduler_for
from paybatch.aws import AwsClients
from paybatch.builder.app import BuilderApp
from paybatch.builder.locking import DateLock
from paybatch.builder.manifests import PACKING_ATTRIBUTES
from paybatch.contracts.tracking import ManifestStatus
from paybatch.jobs.launcher import TERMINAL_STATES
from tests.integration.builder_support import body, deliver_all, metric_counts, small_settings
from tests.integration.test_local_stack import _define_job

pytestmark = pytest.mark.integration


def test_lock_owner_expiry_takeover_and_fencing(clients: AwsClients) -> None:
    now = [1000.0]
    lock = DateLock(clients, clock=lambda: now[0])
    first = lock.try_acquire("2025-12-23")
    assert first is not None
    assert lock.try_acquire("2025-12-23") is None  # held
    assert lock.try_acquire("2025-12-24") is not None  # one lock per date
    now[0] += clients.settings.lock.ttl_seconds + 1  # the holder stalled past its lease
    second = lock.try_acquire("2025-12-23")
    assert second is not None and second.fence > first.fence
    assert lock.release(first) is False  # no longer the owner: cannot release someone else's lock
    assert lock.try_acquire("2025-12-23") is None
    assert lock.release(second) is True
    assert lock.try_acquire("2025-12-23") is not None


def test_acquire_waits_at_most_max_lock_wait(clients: AwsClients) -> None:
    lock = DateLock(clients)
    assert lock.acquire("2025-12-23") is not None
    started = time.monotonic()
    assert lock.acquire("2025-12-23", max_wait=0.5) is None
    assert 0.5 <= time.monotonic() - started < 3


def test_stalled_lock_holder_cannot_manifest_a_file_twice(clients: AwsClients) -> None:
    """Two builders both believe they hold the lock; each file still lands in one manifest."""
    app = BuilderApp.create(small_settings(MAX_FILES_PER_MANIFEST="10"))
    for i in range(4):
        app.clients.s3.put_object(Bucket=app.settings.buckets.input, Key=f"2025-12-23-s{i}.ndjson", Body=body())
    deliver_all(app)
    pending = app.builder.pending_files("2025-12-23")  # what the builder reads: only the attributes it packs with
    assert len(pending) == 4 and all(set(item) == set(PACKING_ATTRIBUTES) for item in pending)
    stalled = app.builder.create_manifest("2025-12-23", pending[:3], fence=1)  # old lease
    racer = app.builder.create_manifest("2025-12-23", pending, fence=2)  # took over the expired lock
    assert stalled is not None and racer is not None
    assert len(stalled["files"]) == 3 and [f["key"] for f in racer["files"]] == [pending[3]["file_key"]]
    assert metric_counts(app)["file_manifested"] == 4


def test_failed_runs_are_retried_then_the_manifest_fails(clients: AwsClients) -> None:
    base = small_settings(MAX_FILES_PER_MANIFEST="2")
    settings = base.model_copy(update={"glue": base.glue.model_copy(update={"run_retries": 1,
                                                                           "run_retry_backoff_seconds": 0})})
    _define_job(clients, settings.glue.jobs.convert, "raises.py", max_runs=2)
    app = BuilderApp.create(settings)
    for i in range(2):
        app.clients.s3.put_object(Bucket=settings.buckets.input, Key=f"2025-12-23-r{i}.ndjson", Body=body())
    deliver_all(app)
    [manifest] = app.store.all_manifests()
    assert manifest["manifest_status"] == ManifestStatus.RUNNING and manifest["attempts"] == 1
    scheduler = scheduler_for(app)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = app.store.all_manifests()[0]
        if current["manifest_status"] == ManifestStatus.FAILED:
            break
        if current["manifest_status"] == ManifestStatus.RUNNING:
            while app.launcher.get_job_run(current["job_name"], current["run_id"])["JobRunState"] not in TERMINAL_STATES:
                time.sleep(0.2)
        scheduler.run_once(sweep=False)
    final = app.store.all_manifests()[0]
    assert final["manifest_status"] == ManifestStatus.FAILED
    assert final["attempts"] == 2  # the first run and one retry
    assert "ValueError: job failed on purpose" in final["last_error"]
    files = app.store.all_files()
    assert {f["status"] for f in files} == {"failed"}
    assert all("job failed on purpose" in f["error"] for f in files)
    counts = metric_counts(app)
    assert (counts["run_started"], counts["run_failed"], counts["file_failed"]) == (2, 1, 2)
