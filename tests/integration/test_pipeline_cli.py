"""The pipeline commands as scripts call them: status, files, wait, reprocess, and their errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from paybatch.aws import AwsClients
from paybatch.builder.app import BuilderApp
from paybatch.contracts.tracking import FileStatus, ManifestStatus
from tests.integration.builder_support import SMALL, body, deliver_all, small_settings, status_counts

pytestmark = pytest.mark.integration


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "paybatch", *args, "--env", "dev"], capture_output=True, text=True,
                          env={**os.environ, **SMALL, "MAX_FILES_PER_MANIFEST": "2"}, timeout=60)


def test_status_files_wait_and_reprocess(clients: AwsClients) -> None:
    app = BuilderApp.create(small_settings(MAX_FILES_PER_MANIFEST="2"))
    for i in range(3):
        app.clients.s3.put_object(Bucket=app.settings.buckets.input, Key=f"2025-12-23-c{i}.ndjson", Body=body())
    deliver_all(app)
    status = json.loads(cli("status", "--json").stdout)
    assert status["files"]["manifested"] == 2 and status["files"]["pending"] == 1
    assert status["backlog"]["pending"] == 1 and status["backlog"]["oldest_pending_age_seconds"] >= 0
    assert status["manifests"]["queued"] == 1 and status["idle"] is False
    pending = json.loads(cli("files", "--status", "pending", "--json").stdout)
    assert [f["file_key"] for f in pending] == ["2025-12-23-c2.ndjson"]
    assert cli("wait", "--timeout", "1", "--interval", "0.2").returncode == 1

    [manifest] = app.store.all_manifests()
    date, batch = manifest["manifest_date"], manifest["batch_id"]
    refused = cli("reprocess", "--batch-id", batch)
    assert refused.returncode == 2 and "only a finished manifest is re-run" in refused.stderr
    app.moves.move_manifest(date, batch, ManifestStatus.FAILED, expected=ManifestStatus.QUEUED, set_values={"last_error": "x"})
    for f in manifest["files"]:
        app.moves.move_file(date, f["key"], FileStatus.FAILED, expected=FileStatus.MANIFESTED, set_values={"error": "x"})
    app.moves.move_file("2025-12-23", "2025-12-23-c2.ndjson", FileStatus.FAILED, expected=FileStatus.PENDING,
                        set_values={"error": "removed"})
    again = cli("reprocess", "--batch-id", batch)
    assert again.returncode == 0, again.stderr
    assert app.store.get_manifest(date, batch)["manifest_status"] == ManifestStatus.QUEUED  # type: ignore[index]
    assert {app.store.get_file(date, f["key"])["status"] for f in manifest["files"]} == {"manifested"}  # type: ignore[index]
    assert status_counts(app) == dict(Counter(i["status"] for i in app.store.all_files()))  # reprocess moved the counters too
    retried = cli("reprocess", "--failed")
    assert retried.returncode == 0 and "1 failed file(s) back to pending" in retried.stdout
    assert app.store.get_file("2025-12-23", "2025-12-23-c2.ndjson")["attempts"] == 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("reprocess",), "give exactly one of --batch-id ID or --failed"),
        (("reprocess", "--batch-id", "nope"), "no manifest with batch id 'nope'"),
        (("files", "--status", "lost"), "unknown status 'lost'"),
    ],
)
def test_bad_arguments_are_clear_errors(clients: AwsClients, args: tuple[str, ...], message: str) -> None:
    result = cli(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_wait_returns_zero_when_idle(clients: AwsClients) -> None:
    assert cli("wait", "--timeout", "5").returncode == 0
