"""Manifest creation and dispatch: claim pending files, record the manifest, write its JSON, start a run.

Claiming is crash-safe without relying on the lock: files are claimed in chunks of at most
98, each chunk in one DynamoDB transaction together with the manifest record and one counter
shard (so TransactWriteItems' 100-item limit holds for prod's 100 files per manifest). Every file
update is conditional on ``status = pending`` and the etag that was read, and the manifest
record is appended in the same transaction — after any crash the record names exactly the
files claimed so far. A record left ``creating`` is finished by the scheduler.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger

from paybatch.aws import AwsClients
from paybatch.builder.batching import conversion_job, plan, policy_for
from paybatch.builder.errors import DateBusy
from paybatch.builder.locking import DateLock
from paybatch.contracts.manifest import Manifest, ManifestFile, manifest_key
from paybatch.contracts.tracking import FileStatus, ManifestStatus, iso, parse_iso, utcnow
from paybatch.jobs.launcher import JobLauncher, is_concurrency_refusal
from paybatch.retry import retrying
from paybatch.tracking_store import TrackingStore
from paybatch.transitions import Move, StatusMoves

CLAIM_CHUNK = 98  # + the manifest record + a counter shard = TransactWriteItems' limit of 100
# What planning (key, size, age, format) and claiming (bucket, key, size, etag) read of a pending file.
PACKING_ATTRIBUTES = ("date_prefix", "file_key", "bucket", "size_bytes", "etag", "upload_time", "input_format")
START_LEASE_SECONDS = 120
logger = Logger(service="manifest-builder")


class Dispatch(StrEnum):
    """What happened when a manifest's run was to be started."""

    STARTED = "started"
    NO_SLOT = "no-slot"  # refused by the concurrency cap: queued
    START_FAILED = "start-failed"  # any other refusal: queued with the reason
    SKIPPED = "skipped"  # someone else holds the start lease, or the manifest moved on


def new_batch_id(date_prefix: str, now: datetime) -> str:
    return f"{date_prefix.replace('-', '')}-{now:%H%M%S}-{uuid.uuid4().hex[:8]}"


class ManifestBuilder:
    """Packs a date's pending files into manifests and gets their conversion runs started."""

    def __init__(self, clients: AwsClients, store: TrackingStore, moves: StatusMoves, lock: DateLock, launcher: JobLauncher,
                 *, clock: Callable[[], datetime] = utcnow) -> None:
        self.clients = clients
        self.settings = clients.settings
        self.store = store
        self.moves = moves
        self.lock = lock
        self.launcher = launcher
        self.clock = clock
        self.policy = policy_for(self.settings.batching)

    # --- packing ---------------------------------------------------------------------------------
    def plan(self, pending: Sequence[Mapping[str, Any]], flush: bool = False) -> list[list[Mapping[str, Any]]]:
        """The manifests due now among ``pending`` (``paybatch.builder.batching.plan`` under this builder's policy)."""
        return plan(pending, self.policy, self.clock(), flush=flush)

    def pending_files(self, date_prefix: str) -> list[dict[str, Any]]:
        """The pending files of one date, with only what planning and claiming read."""
        return self.store.files_with_status(FileStatus.PENDING, date_prefix, attributes=PACKING_ATTRIBUTES)

    def pack_date(self, date_prefix: str, *, flush: bool = False) -> list[str]:
        """Emit every manifest that is due for one date and start their runs; returns the batch ids created."""
        return [r["batch_id"] for r in self.pack(date_prefix, flush=flush)]

    def pack(self, date_prefix: str, *, flush: bool = False, keys: Collection[str] | None = None,
             bulk_run: str | None = None, lock_wait_seconds: float = 0.0) -> list[dict[str, Any]]:
        """Claim a date's due pending files (only ``keys``, if given) into manifests, under the date's lock.

        Without ``bulk_run`` each manifest's run is started (or queued). With it the manifests belong to that bulk
        backfill, whose state machine starts them: only their JSON is written. The lock is another builder's for a
        moment at most; ``lock_wait_seconds`` > 0 waits that long for it and then raises ``DateBusy``, 0 leaves
        the files pending for the next pass. Returns the manifest records created.
        """

        def due() -> list[list[Mapping[str, Any]]]:
            pending = self.pending_files(date_prefix)
            return self.plan([f for f in pending if keys is None or f["file_key"] in keys], flush)

        if not due():
            return []  # nothing due: no lock taken, no write made
        lease = self.lock.acquire(date_prefix)
        deadline = time.monotonic() + lock_wait_seconds
        while lease is None and time.monotonic() < deadline:
            time.sleep(0.1)
            lease = self.lock.acquire(date_prefix)
        if lease is None:
            if lock_wait_seconds > 0:
                raise DateBusy(f"could not take the packing lock of {date_prefix} within {lock_wait_seconds:.0f} s; "
                               "another builder holds it — try again")
            return []  # another builder is packing this date; our files are safe as pending
        created = []
        try:
            for batch in due():
                record = self.create_manifest(date_prefix, list(batch), fence=lease.fence, bulk_run=bulk_run)
                if record:
                    created.append(record)
        finally:
            self.lock.release(lease)
        for record in created:
            if bulk_run:
                self.write_manifest_json(record)
            else:
                self.dispatch(record)
        return created

    def pending_dates(self) -> list[str]:
        return sorted({i["date_prefix"] for i in self.store.files_with_status(FileStatus.PENDING)})

    # --- claiming --------------------------------------------------------------------------------
    def _claim_chunk(self, date_prefix: str, batch_id: str, files: Sequence[Mapping[str, Any]], header: dict[str, Any]
                     ) -> list[Mapping[str, Any]]:
        """Claim as many of ``files`` as are still pending, atomically with the manifest record."""
        remaining = list(files)
        while remaining:
            entries = [{"bucket": f["bucket"], "key": f["file_key"], "size": int(f["size_bytes"]), "etag": f["etag"]}
                       for f in remaining]
            manifest_update = self.store.manifest_claim_item(date_prefix, batch_id, entries, env=self.settings.env, **header)
            lost = set(self.moves.claim(date_prefix, remaining, batch_id,
                                        {"manifest_path": header["manifest_path"], "manifested_at": header["created_at"]},
                                        manifest_update))
            if not lost:
                return remaining
            remaining = [f for j, f in enumerate(remaining) if j not in lost]
        return []

    def create_manifest(self, date_prefix: str, files: Sequence[Mapping[str, Any]], *, fence: int = 0,
                        bulk_run: str | None = None) -> dict[str, Any] | None:
        """Claim ``files`` (those still pending) into a new manifest; None if none could be claimed.

        With ``bulk_run`` the manifest belongs to that bulk backfill (``paybatch.bulk``), which starts its run.
        """
        now = self.clock()
        batch_id = new_batch_id(date_prefix, now)
        header = {
            "created_at": iso(now),
            "input_format": files[0].get("input_format", "ndjson"),
            "fence": fence,
            "manifest_path": f"s3://{self.settings.buckets.manifest}/{manifest_key(date_prefix, batch_id)}",
        }
        if bulk_run:
            header["bulk_run"] = bulk_run
        claimed = 0
        for start in range(0, len(files), CLAIM_CHUNK):
            claimed += len(self._claim_chunk(date_prefix, batch_id, files[start : start + CLAIM_CHUNK], header))
        if claimed == 0:
            self.store.delete_manifest(date_prefix, batch_id, ManifestStatus.CREATING)
            return None
        return self.finalize(date_prefix, batch_id)

    def finalize(self, date_prefix: str, batch_id: str) -> dict[str, Any] | None:
        """creating → created, counting the manifest and its files; also how the scheduler repairs a crash."""
        record = self.store.get_manifest(date_prefix, batch_id)
        if record is None or record["manifest_status"] != ManifestStatus.CREATING:
            return record
        if not record.get("files"):
            self.store.delete_manifest(date_prefix, batch_id, ManifestStatus.CREATING)
            return None
        path = f"s3://{self.settings.buckets.manifest}/{manifest_key(date_prefix, batch_id)}"
        self.moves.move_manifest(date_prefix, batch_id, ManifestStatus.CREATED, expected=ManifestStatus.CREATING,
                                 set_values={"manifest_path": path},
                                 events={"manifest_created": (1, int(record["total_bytes"]))})
        return self.store.get_manifest(date_prefix, batch_id)

    # --- dispatch --------------------------------------------------------------------------------
    def manifest_document(self, record: dict[str, Any]) -> Manifest:
        return Manifest.build(
            batch_id=record["batch_id"], env=record["env"], date_prefix=record["manifest_date"],
            created_at=parse_iso(record["created_at"]), input_format=record.get("input_format", "ndjson"),
            files=[ManifestFile(**f) for f in record["files"]],
        )

    def write_manifest_json(self, record: dict[str, Any]) -> str:
        document = self.manifest_document(record)
        key = manifest_key(document.date_prefix, document.batch_id)
        retrying(  # the same bytes every time: safe to repeat after a lost answer
            self.clients.s3.put_object, Bucket=self.settings.buckets.manifest, Key=key, ContentType="application/json",
            Body=json.dumps(document.model_dump(mode="json"), indent=2).encode(),
        )
        return f"s3://{self.settings.buckets.manifest}/{key}"

    def job_for(self, total_bytes: int) -> str:
        return conversion_job(self.settings, total_bytes)

    def _claim_start(self, date_prefix: str, batch_id: str, run_token: str) -> dict[str, Any] | None:
        """A short lease on starting the run, so two dispatchers do not start it twice; the record, or None.

        It records ``run_token``, which the run is given: only the run holding the manifest's current token may
        write (``paybatch.transitions.RunFence``), so a run started twice (a crash or a lost StartJobRun answer
        before the start was recorded) has one writer, the newer.
        """
        return self.store.take_start_lease(date_prefix, batch_id, START_LEASE_SECONDS,
                                           [ManifestStatus.CREATED, ManifestStatus.QUEUED], run_token)

    def dispatch(self, record: dict[str, Any]) -> Dispatch:
        """Write the JSON and start the run (or leave the manifest queued with the reason)."""
        date_prefix, batch_id = record["manifest_date"], record["batch_id"]
        path = self.write_manifest_json(record)
        run_token = uuid.uuid4().hex
        current = self._claim_start(date_prefix, batch_id, run_token)
        if current is None:
            return Dispatch.SKIPPED  # another builder or the scheduler is starting it
        job = self.job_for(int(record["total_bytes"]))
        try:
            run_id = self.launcher.start_job_run(
                job, {"--manifest_path": path, "--batch_id": batch_id, "--env": self.settings.env, "--run_token": run_token}
            )
        except Exception as exc:  # noqa: BLE001 - any refusal leaves the manifest queued with the reason
            no_slot = is_concurrency_refusal(exc)
            reason = "waiting for a free run slot" if no_slot else f"{type(exc).__name__}: {exc}"
            self.moves.move_manifest(date_prefix, batch_id, ManifestStatus.QUEUED,
                                     expected=[ManifestStatus.CREATED, ManifestStatus.QUEUED],
                                     set_values={"queue_reason": reason[:1000]}, remove=["start_lease"])
            return Dispatch.NO_SLOT if no_slot else Dispatch.START_FAILED
        moved = self.moves.move_manifest(
            date_prefix, batch_id, ManifestStatus.RUNNING, expected=[ManifestStatus.CREATED, ManifestStatus.QUEUED],
            set_values={"run_id": run_id, "job_name": job, "run_started_at": iso(self.clock()),
                        "attempts": int(current.get("attempts", 0)) + 1},
            remove=["start_lease", "queue_reason"], events={"run_started": (1, int(record["total_bytes"]))},
        )
        if moved.outcome == Move.CONFLICT:  # the run recorded its result first (a light run can be that quick)
            logger.info("run finished before it was recorded as started", batch_id=batch_id, status=moved.previous)
        return Dispatch.STARTED
