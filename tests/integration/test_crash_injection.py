"""Crash injection: an exception between any two writes of registration, quarantine and manifest creation.

One clean run records every S3 and DynamoDB write the builder makes; then, for each write in turn,
the scenario runs again with an exception raised just before that write. After redelivery and a
scheduler pass the same invariants hold: every file in exactly one place, none in two manifests,
metrics equal to the files.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import paybatch.builder.scheduler as scheduler_module
import paybatch.builder.sweep as sweep_module
from lambda_manifest_builder.scheduler import scheduler_for
from paybatch.aws import AwsClients
from paybatch.builder.app import BuilderApp
from tests.conftest import drain, reset_endpoint
from tests.integration.builder_support import body, deliver_all, files_by_status, small_settings
from tests.integration.test_manifest_builder import assert_invariants

pytestmark = [pytest.mark.integration, pytest.mark.slow]

READ_PREFIXES = ("Get", "Head", "List", "Describe", "Query", "Scan")


class InjectedCrash(RuntimeError):
    """Raised by the test just before one chosen write."""


class WriteRecorder:
    """A botocore before-call hook that records writes and can crash before the N-th one."""

    def __init__(self, crash_at: int | None = None) -> None:
        self.writes: list[str] = []
        self.crash_at = crash_at

    def __call__(self, model: Any, **_: Any) -> None:
        if model.name.startswith(READ_PREFIXES):
            return
        index = len(self.writes)
        self.writes.append(f"{model.service_model.service_name}.{model.name}")
        if index == self.crash_at:
            raise InjectedCrash(f"crash before write #{index}: {self.writes[-1]}")

    def install(self, clients: AwsClients) -> None:
        for service in ("s3", "dynamodb"):
            clients.client(service).meta.events.register("before-call", self)


def scenario(app: BuilderApp, recorder: WriteRecorder) -> None:
    """3 good files (2 per manifest) and 1 too large; redelivery and scheduler passes until settled."""
    s = app.settings
    url = app.clients.queue_url(s.queues.ingest)
    app.clients.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "1"})
    drain(app.clients, s.queues.ingest)
    for i in range(3):
        app.clients.s3.put_object(Bucket=s.buckets.input, Key=f"2025-12-23-f{i}.ndjson", Body=body(1024, str(i)))
    app.clients.s3.put_object(Bucket=s.buckets.input, Key="2025-12-23-big.ndjson", Body=body(4096))
    recorder.install(app.clients)
    for _ in range(4):
        failed = deliver_all(app, max_rounds=5)["failed"]
        report = scheduler_for(app).run_once(flush=True)
        settled = set(files_by_status(app).values()) <= {"manifested", "quarantined"} and all(
            m["manifest_status"] == "queued" for m in app.store.all_manifests())
        if not failed and not report.errors and settled and len(files_by_status(app)) == 4:
            return
        time.sleep(1.1)  # the visibility timeout (failed records come back) and the lock's lease


@pytest.fixture
def fast_repairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "CREATED_GRACE_SECONDS", 0)
    monkeypatch.setattr(sweep_module, "SWEEP_GRACE_SECONDS", 0)


def test_crash_before_every_write_keeps_the_invariants(clients: AwsClients, fast_repairs: None) -> None:
    settings = small_settings(MAX_FILES_PER_MANIFEST="2", LOCK_TTL_SECONDS="1", LOCK_LEASE_SECONDS="1",
                              MAX_LOCK_WAIT_SECONDS="1.5")

    def fresh() -> BuilderApp:
        reset_endpoint(clients)
        return BuilderApp.create(settings)

    clean = WriteRecorder()
    app = fresh()
    scenario(app, clean)
    assert_invariants(app, 4)
    writes = clean.writes
    assert {"s3.CopyObject", "s3.DeleteObject", "s3.PutObject", "dynamodb.TransactWriteItems",
            "dynamodb.UpdateItem"} <= set(writes)
    assert len(writes) >= 15
    print(f"injecting a crash before each of {len(writes)} writes: {writes}")
    for index, write in enumerate(writes):
        app = fresh()
        recorder = WriteRecorder(crash_at=index)
        scenario(app, recorder)
        statuses = files_by_status(app)
        assert sorted(statuses.values()) == ["manifested", "manifested", "manifested", "quarantined"], (
            f"after a crash before write #{index} ({write}): {statuses}")
        assert_invariants(app, 4)
