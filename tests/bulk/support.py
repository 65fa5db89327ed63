"""What the bulk tests share: the services process, a chunk-run killer, and reading what a run wrote."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from paybatch.aws import AwsClients, local_process_env
from paybatch.bulk.ledger import BulkLedger
from paybatch.config import Settings
from paybatch.local.launcher import LocalLauncher
from paybatch.local.processes import terminate

LAKE_ROLES = ("lake", "lake_authorization", "lake_clearing", "lake_chargeback", "restricted")


class Services:
    """`paybatch local up`'s background process (pollers, scheduler, bulk worker and watch), started and killed at will."""

    def __init__(self, settings: Settings, log: Path, extra_env: dict[str, str] | None = None) -> None:
        self.settings, self.log, self.extra_env = settings, log, extra_env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**local_process_env(self.settings), **self.extra_env}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "paybatch.local.services", "--env", self.settings.env],
                                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL, no goodbye: what a crash (or a pulled plug) leaves."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        for pid in LocalLauncher(self.settings).run_pids():
            terminate(pid)


def kill_job_runs(settings: Settings) -> int:
    pids = LocalLauncher(settings).run_pids()
    for pid in pids:
        terminate(pid, timeout=5)
    return len(pids)


@contextmanager
def chunk_killer(clients: AwsClients, run_id: str, kills: dict[int, int]) -> Iterator[dict[int, list[str]]]:
    """SIGKILL the Glue run (a local job process) of chunk N as soon as it starts, ``kills[N]`` times.

    Yields the job runs killed per chunk. A killed run reports nothing: the worker's watch finds it dead.
    """
    ledger, launcher = BulkLedger(clients), LocalLauncher(clients.settings)
    killed: dict[int, list[str]] = {chunk: [] for chunk in kills}
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            for chunk_id, times in kills.items():
                if len(killed[chunk_id]) >= times:
                    continue
                chunk = ledger.get_chunk(run_id, chunk_id)
                if not chunk or chunk["status"] != "running" or chunk.get("job_run_id") in killed[chunk_id]:
                    continue
                record = launcher.store.read(chunk["job_name"], chunk["job_run_id"])
                if record.get("Pid"):
                    try:
                        os.killpg(int(record["Pid"]), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    killed[chunk_id].append(chunk["job_run_id"])
            stop.wait(0.2)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield killed
    finally:
        stop.set()
        thread.join(timeout=5)


def lake_objects(clients: AwsClients) -> dict[str, tuple[str, Any]]:
    """Every object the generator wrote to the lake buckets: s3 path → (SHA-256, LastModified)."""
    found: dict[str, tuple[str, Any]] = {}
    buckets = clients.settings.buckets.model_dump()
    for role in LAKE_ROLES:
        bucket = buckets[role]
        for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                body = clients.s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                found[f"{bucket}/{obj['Key']}"] = (hashlib.sha256(body).hexdigest(), obj["LastModified"])
    return found


def allocations(clients: AwsClients) -> list[tuple[str, str, int, int]]:
    """The counter table's (date, job) records: (date, job, start, count), sorted."""
    items = clients.dynamodb.scan(TableName=clients.settings.tables.counters)["Items"]
    return sorted((i["partition_key"]["S"].split("#", 1)[1], i["allocation"]["S"], int(i["start"]["N"]), int(i["count"]["N"]))
                  for i in items if i["allocation"]["S"] != "next")


def wait_for(predicate: Any, timeout: float, what: str, poll: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
