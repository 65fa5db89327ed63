"""Helpers for manifest-builder tests: small-file settings, uploads, and delivering queue messages."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lambda_manifest_builder.handler import handle_batch
from paybatch import faults
from paybatch.aws import AwsClients
from paybatch.builder.app import BuilderApp
from paybatch.config import Settings, load_settings
from paybatch.local.poller import SqsPoller

# 1 KiB expected ±50 %: files of 512..1536 bytes are accepted. Builder tests start no conversion:
# no light path, and a Spark job name that is not deployed (manifests wait as queued with the reason).
SMALL = {"EXPECTED_FILE_SIZE_MB": str(1 / 1024), "SIZE_TOLERANCE_PERCENT": "50", "MAX_LOCK_WAIT_SECONDS": "2",
         "LIGHT_PATH_MAX_MB": "0", "GLUE_JOB_NAME": "paybatch-test-convert-not-deployed"}


def small_settings(**overrides: str) -> Settings:
    return load_settings("dev", environ={**os.environ, **SMALL, **overrides})


def one_file_per_manifest_settings() -> Settings:
    """Sample files of ~300 KB accepted, one per manifest, no run started: tests run each manifest themselves."""
    return small_settings(MAX_FILES_PER_MANIFEST="1", GLUE_JOB_NAME="not-deployed",
                          EXPECTED_FILE_SIZE_MB=str(300 / 1024), SIZE_TOLERANCE_PERCENT="99")


@contextmanager
def faults_in_this_process(spec: str, log_dir: Path | None = None) -> Iterator[None]:
    """``PAYBATCH_FAULTS`` (and its log) for the clients this process makes inside the block; a fresh injector each time."""
    saved = {name: os.environ.get(name) for name in (faults.FAULTS, faults.FAULTS_LOG)}
    os.environ[faults.FAULTS] = spec
    if log_dir is not None:
        os.environ[faults.FAULTS_LOG] = str(log_dir)
    faults._injector = None
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        faults._injector = None


def body(size: int = 1024, seed: str = "x") -> bytes:
    line = f'{{"transaction_id": "{seed}", "amount": 12.5, "pad": "'
    filler = max(0, size - len(line) - 3)
    return (line + "p" * filler + '"}\n').encode()[:size] if size else b""


def deliver_all(app: BuilderApp, max_rounds: int = 50) -> Counter[str]:
    """Poll the ingest queue through the real handler until it is empty; counts of poll outcomes."""
    poller = SqsPoller(app.clients, app.settings.queues.ingest, lambda e, c: handle_batch(e, c, app),
                       function_name="builder-test", wait_seconds=0)
    totals: Counter[str] = Counter()
    empty = 0
    for _ in range(max_rounds):
        result = poller.poll_once()
        totals["received"] += result.received
        totals["failed"] += result.failed
        empty = empty + 1 if result.received == 0 else 0
        if empty >= 2:
            break
    return totals


def files_by_status(app: BuilderApp) -> dict[str, str]:
    return {i["file_key"]: i["status"] for i in app.store.all_files()}


def metric_counts(app: BuilderApp) -> dict[str, int]:
    """Event counters summed over every date and shard, by event name (file_uploaded, file_manifested …)."""
    return {name.removeprefix("event:"): value for name, value in app.store.counts().items() if name.startswith("event:")}


def status_counts(app: BuilderApp) -> dict[str, int]:
    """Files per status by the counters (zeros left out): must equal the items, whatever happened."""
    return {name.removeprefix("files:"): value for name, value in app.store.counts().items()
            if name.startswith("files:") and value}


def clients_for(settings: Settings) -> AwsClients:
    return AwsClients(settings)


def manifest_files(app: BuilderApp) -> list[tuple[str, str]]:
    """(batch_id, key) for every file named by every manifest record."""
    return [(m["batch_id"], f["key"]) for m in app.store.all_manifests() for f in m.get("files", [])]
