"""The tracking state machine: every file and manifest status move, its counters and its outcome, in one place.

Builder, quarantine, scheduler, conversion run and CLI all move statuses through ``StatusMoves``:

- the move must be one the contract allows (``FILE_TRANSITIONS`` / ``MANIFEST_TRANSITIONS``), else
  ``IllegalTransition`` — a bug, raised before anything is written;
- the write is conditional on the exact current status (and etag or batch id where given), and in the
  same transaction one random shard of the date's counters moves: the old status −1, the new +1, and the
  move's events (bytes, rows) — so the counters equal the items, and no one counter item is hot;
- the outcome is typed: ``MOVED``; ``ALREADY`` (the item is already where the move leads: another writer,
  or this one before a retry, made it — idempotent success); ``CONFLICT`` (the item is somewhere else, or
  gone: the caller decides). A write that could not be made raises ``WriteFailed`` and is never
  any of these.
- terminal items that may expire get the tracking TTL; nothing else ever does (an item outlives its object).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from paybatch.contracts.tracking import (
    EXPIRING_FILE_STATUSES,
    FILE_TRANSITIONS,
    MANIFEST_TRANSITIONS,
    TERMINAL_MANIFEST_STATUSES,
    FileStatus,
    ManifestStatus,
)
from paybatch.counters import CounterDelta, finished_manifest
from paybatch.dynamo import ConditionFailed, WriteFailed, to_item
from paybatch.errors import InternalFailure, PaybatchError
from paybatch.resources import TTL_ATTRIBUTE
from paybatch.tracking_store import TrackingStore

__all__ = ["IllegalTransition", "ManifestMovedOn", "Move", "MoveResult", "RunFence", "RunSuperseded", "StatusMoves",
           "WriteFailed"]

# How often a move re-reads and tries again when the item changes between its read and its write.
MOVE_ATTEMPTS = 5
# A new version of an object may replace the item of one that is still pending or has finished; not one in a run.
REPLACEABLE_FILE_STATUSES = frozenset({FileStatus.PENDING, FileStatus.COMPLETED, FileStatus.QUARANTINED, FileStatus.FAILED})
Events = Mapping[str, tuple[int, int]]  # event name → (count, bytes)


class Move(StrEnum):
    MOVED = "moved"
    ALREADY = "already"  # already in the target status (and batch): idempotent success
    CONFLICT = "conflict"  # in another status, another batch or version, or gone


@dataclass(frozen=True)
class MoveResult:
    outcome: Move
    previous: str | None = None  # the status it was moved from (MOVED) or found in (ALREADY, CONFLICT; None: no item)
    item: Mapping[str, Any] | None = None  # what was read, when the move had to read

    @property
    def done(self) -> bool:
        """The item is where the move leads (moved now, or before)."""
        return self.outcome != Move.CONFLICT


class IllegalTransition(InternalFailure):
    """A status move the tracking contract does not allow: a bug in the caller, raised before any write."""


class RunSuperseded(InternalFailure):
    """This run is no longer its manifest's recorded run (a newer start replaced it): it must write nothing more."""


class ManifestMovedOn(PaybatchError):
    """The manifest record being claimed into is no longer ``creating``: stop claiming into it."""


@dataclass(frozen=True)
class RunFence:
    """A conversion run's proof that it is its manifest's recorded run: every write it makes is conditional on it."""

    date_prefix: str
    batch_id: str
    run_token: str


# A run moves its files this many to a transaction, with its fence and a counter shard (DynamoDB's limit: 100 actions).
FILES_PER_TRANSACTION = 98


@dataclass(frozen=True)
class FileChange:
    """One file of a batched move (``StatusMoves.move_files``): what it sets and removes, its counter events."""

    key: str
    set_values: Mapping[str, Any] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    events: Events = field(default_factory=dict)
    expire: bool = True  # False: no tracking TTL yet, as ``move_file(expire=False)``


def _statuses(expected: str | Iterable[str]) -> list[str]:
    return [str(expected)] if isinstance(expected, str) else [str(s) for s in expected]


class StatusMoves:
    """Moves of file and manifest statuses for one environment (see the module docstring)."""

    def __init__(self, store: TrackingStore) -> None:
        self.store = store
        self.expire_completed = store.clients.settings.input_retention.expire_after_days is not None

    # --- files -------------------------------------------------------------------------------------
    def _ttl_change(self, new: str, expiring: Collection[str]) -> tuple[dict[str, Any], list[str]]:
        if new in expiring:
            return {TTL_ATTRIBUTE: self.store.expiry()}, []
        return {}, [TTL_ATTRIBUTE]

    def _file_expiring(self) -> frozenset[str]:
        statuses = {str(s) for s in EXPIRING_FILE_STATUSES}
        return frozenset(statuses if self.expire_completed else statuses - {str(FileStatus.COMPLETED)})

    def register(self, item: Mapping[str, Any], events: Events | None = None) -> MoveResult:
        """A file never seen before enters (pending or quarantining); ``ALREADY`` if an item exists for its key."""
        put = {"Put": {"TableName": self.store.table, "Item": to_item(item), "ConditionExpression": "attribute_not_exists(#k)",
                       "ExpressionAttributeNames": {"#k": "file_key"}}}
        delta = CounterDelta(item["date_prefix"], files={str(item["status"]): 1}, events=dict(events or {}))
        try:
            self._transact([put], delta)
        except ConditionFailed:
            return MoveResult(Move.ALREADY)
        return MoveResult(Move.MOVED)

    def replace_version(self, item: Mapping[str, Any], existing: Mapping[str, Any], events: Events | None = None) -> MoveResult:
        """A new version of the object replaces a finished (or still pending) one, if the item is still what was read."""
        old = str(existing["status"])
        new = str(item["status"])
        if old not in REPLACEABLE_FILE_STATUSES or new not in {FileStatus.PENDING, FileStatus.QUARANTINING}:
            raise IllegalTransition(f"file {item['file_key']}: a new version ({new}) cannot replace one that is {old}")
        put = {"Put": {"TableName": self.store.table, "Item": to_item(item),
                       "ConditionExpression": "#status = :st AND #etag = :et",
                       "ExpressionAttributeNames": {"#status": "status", "#etag": "etag"},
                       "ExpressionAttributeValues": to_item({":st": old, ":et": existing["etag"]})}}
        files = {old: -1}
        files[new] = files.get(new, 0) + 1
        try:
            self._transact([put], CounterDelta(item["date_prefix"], files=files, events=dict(events or {})))
        except ConditionFailed as failed:
            now = self.store.get_file(item["date_prefix"], item["file_key"]) if failed.ambiguous else None
            if now is not None and now.get("etag") == item["etag"] and now.get("status") == new:
                return MoveResult(Move.ALREADY, old, now)  # our own put, whose answer was lost
            return MoveResult(Move.CONFLICT, old)
        return MoveResult(Move.MOVED, old)

    def move_file(self, date_prefix: str, file_key: str, new: FileStatus, *, expected: FileStatus | Iterable[FileStatus],
                  set_values: Mapping[str, Any] | None = None, remove: Iterable[str] = (), etag: str | None = None,
                  batch_id: str | None = None, events: Events | None = None, fence: RunFence | None = None,
                  expire: bool = True) -> MoveResult:
        """Move one file from one of ``expected`` to ``new`` (pinned to ``etag`` / ``batch_id`` when given).

        ``fence``: only while that run is still its manifest's recorded run, else ``RunSuperseded``.
        ``expire=False``: no tracking TTL yet, even for a status that expires (``allow_expiry`` sets it later).
        """
        allowed = _statuses(expected)
        for status in allowed:
            if FileStatus(new) not in FILE_TRANSITIONS[FileStatus(status)]:
                raise IllegalTransition(f"file {file_key}: {status} → {new} is not a move the tracking contract allows")
        ttl_set, ttl_remove = self._ttl_change(str(new), self._file_expiring() if expire else frozenset())
        known: str | None = allowed[0] if len(allowed) == 1 else None  # one candidate: write first, read only on failure
        item: dict[str, Any] | None = None
        for _ in range(MOVE_ATTEMPTS):
            if known is None:
                item = self.store.get_file(date_prefix, file_key)
                verdict = self._classify(item, "status", allowed, str(new), etag=etag, batch_id=batch_id)
                if verdict is not None:
                    return verdict
                assert item is not None
                known = str(item["status"])
            update = self.store.file_transition_item(
                date_prefix, file_key, FileStatus(known), new, {**(set_values or {}), **ttl_set},
                [*remove, *ttl_remove], etag=etag, batch_id=batch_id)
            delta = CounterDelta(date_prefix, files={known: -1, str(new): 1} if known != str(new) else {}, events=dict(events or {}))
            checks = [self.store.run_fence(fence.date_prefix, fence.batch_id, fence.run_token)] if fence else []
            try:
                self._transact([{"Update": update}, *checks], delta)
            except ConditionFailed as failed:
                if fence and 1 in failed.indices:
                    raise RunSuperseded(f"file {file_key}: batch {fence.batch_id} has a newer run; this one stops") from None
                known = None  # moved under us: read what it is now
                continue
            return MoveResult(Move.MOVED, known, item)
        raise WriteFailed(f"file {file_key}: its item kept changing under {MOVE_ATTEMPTS} attempts to move it to {new}")

    def move_files(self, date_prefix: str, changes: Sequence[FileChange], new: FileStatus, *, expected: FileStatus,
                   batch_id: str, fence: RunFence | None = None) -> list[FileChange]:
        """A batch's files ``expected`` → ``new``, ``FILES_PER_TRANSACTION`` to a transaction (one fence check, one counter
        shard). Returns the changes not made (in another status or batch; a chunk whose outcome stayed unknown) for the
        caller to move alone: ``move_file`` reads first, so what an earlier attempt made reads as ALREADY."""
        if FileStatus(new) not in FILE_TRANSITIONS[FileStatus(expected)]:
            raise IllegalTransition(f"files of {batch_id}: {expected} → {new} is not a move the tracking contract allows")
        left: list[FileChange] = []
        expiring = self._file_expiring()
        for start in range(0, len(changes), FILES_PER_TRANSACTION):
            chunk = list(changes[start:start + FILES_PER_TRANSACTION])
            while chunk:
                updates = []
                for change in chunk:
                    ttl_set, ttl_remove = self._ttl_change(str(new), expiring if change.expire else frozenset())
                    updates.append({"Update": self.store.file_transition_item(
                        date_prefix, change.key, expected, new, {**change.set_values, **ttl_set},
                        [*change.remove, *ttl_remove], batch_id=batch_id)})
                events: dict[str, tuple[int, int]] = {}
                for name, (count, size) in (e for change in chunk for e in change.events.items()):
                    events[name] = (events.get(name, (0, 0))[0] + count, events.get(name, (0, 0))[1] + size)
                files = {str(expected): -len(chunk), str(new): len(chunk)} if expected != new else {}
                delta = CounterDelta(date_prefix, files=files, events=events)
                checks = [self.store.run_fence(fence.date_prefix, fence.batch_id, fence.run_token)] if fence else []
                try:
                    self._transact([*updates, *checks], delta)
                    break
                except ConditionFailed as failed:
                    if fence and len(chunk) in failed.indices:
                        raise RunSuperseded(f"files of {batch_id}: the batch has a newer run; this one stops") from None
                    if failed.ambiguous:  # an earlier attempt may have landed: each file is read and moved alone
                        left += chunk
                        break
                    refused = set(failed.indices)
                    left += [c for i, c in enumerate(chunk) if i in refused]
                    chunk = [c for i, c in enumerate(chunk) if i not in refused]
        return left

    def allow_expiry(self, date_prefix: str, file_key: str, etag: str) -> bool:
        """Give a completed file its tracking TTL, once its object is tagged for input retention (so the object
        expires before its item, and the sweep never meets an untracked object that was converted).
        False if the item is no longer that completed version."""
        if str(FileStatus.COMPLETED) not in self._file_expiring():
            return False
        update = self.store.file_transition_item(date_prefix, file_key, FileStatus.COMPLETED, FileStatus.COMPLETED,
                                                 {TTL_ATTRIBUTE: self.store.expiry()}, etag=etag)
        try:
            self.store.transact([{"Update": update}])
        except ConditionFailed:
            return False
        return True

    def claim(self, date_prefix: str, files: Sequence[Mapping[str, Any]], batch_id: str, set_values: Mapping[str, Any],
              manifest_update: dict[str, Any]) -> list[int]:
        """pending → manifested for ``files`` (pinned to their etags), with the manifest's record, all in one transaction.

        Returns the indices of the files that were no longer pending (nothing was written; claim the rest again).
        Raises ``ManifestMovedOn`` when the manifest record is no longer ``creating``.
        """
        claims = [{"Update": self.store.file_transition_item(
            date_prefix, f["file_key"], FileStatus.PENDING, FileStatus.MANIFESTED, {**set_values, "batch_id": batch_id},
            [TTL_ATTRIBUTE], etag=f["etag"])} for f in files]
        delta = CounterDelta(date_prefix, files={str(FileStatus.PENDING): -len(files), str(FileStatus.MANIFESTED): len(files)},
                             events={"file_manifested": (len(files), sum(int(f["size_bytes"]) for f in files))})
        try:
            self._transact([{"Update": manifest_update}, *claims], delta)
        except ConditionFailed as failed:
            if failed.ambiguous and self._claimed(date_prefix, batch_id, files):
                return []  # an earlier attempt whose answer was lost made this very claim
            if 0 in failed.indices:
                raise ManifestMovedOn(f"manifest {batch_id} is no longer being created") from None
            return [i - 1 for i in failed.indices]
        return []

    def _claimed(self, date_prefix: str, batch_id: str, files: Sequence[Mapping[str, Any]]) -> bool:
        record = self.store.get_manifest(date_prefix, batch_id) or {}
        named = {(f["key"], f["etag"]) for f in record.get("files", [])}
        return all((f["file_key"], f["etag"]) in named for f in files)

    # --- manifests ---------------------------------------------------------------------------------
    def move_manifest(self, date_prefix: str, batch_id: str, new: ManifestStatus, *,
                      expected: ManifestStatus | Iterable[ManifestStatus], set_values: Mapping[str, Any] | None = None,
                      remove: Iterable[str] = (), events: Events | None = None, run_token: str | None = None) -> MoveResult:
        """Move one manifest record from one of ``expected`` to ``new`` (``run_token``: only as its recorded run)."""
        allowed = _statuses(expected)
        for status in allowed:
            if ManifestStatus(new) not in MANIFEST_TRANSITIONS[ManifestStatus(status)]:
                raise IllegalTransition(f"manifest {batch_id}: {status} → {new} is not a move the tracking contract allows")
        ttl_set, ttl_remove = self._ttl_change(str(new), terminal := {str(s) for s in TERMINAL_MANIFEST_STATUSES})
        known: str | None = allowed[0] if len(allowed) == 1 else None
        item: dict[str, Any] | None = None
        for _ in range(MOVE_ATTEMPTS):
            if known is None:
                item = self.store.get_manifest(date_prefix, batch_id)
                if run_token is not None and item is not None and item.get("run_token") != run_token:
                    raise RunSuperseded(f"manifest {batch_id} has a newer run than this one; its result is not recorded")
                verdict = self._classify(item, "manifest_status", allowed, str(new))
                if verdict is not None:
                    return verdict
                assert item is not None
                known = str(item["manifest_status"])
            update = self.store.manifest_update_item(date_prefix, batch_id, ManifestStatus(known), new,
                                                     {**(set_values or {}), **ttl_set}, [*remove, *ttl_remove],
                                                     run_token=run_token)
            # A manifest is counted from ``created`` on: ``creating`` records may still vanish (no file claimed).
            counted = {known: -1} if known != ManifestStatus.CREATING else {}
            manifests = {**counted, str(new): counted.get(str(new), 0) + 1} if known != str(new) else {}
            finished = finished_manifest(str(new), item, set_values) if manifests and str(new) in terminal else []
            try:  # a finished manifest is counted in its hour's bucket too (what `monitor` reads for the last day)
                self._transact([{"Update": update}], CounterDelta(date_prefix, manifests=manifests, events=dict(events or {})), *finished)
            except ConditionFailed:
                known = None
                continue
            return MoveResult(Move.MOVED, known, item)
        raise WriteFailed(f"manifest {batch_id}: its record kept changing under {MOVE_ATTEMPTS} attempts to move it to {new}")

    # --- shared ------------------------------------------------------------------------------------
    def _transact(self, items: list[dict[str, Any]], *deltas: CounterDelta) -> None:
        counters = [counter for delta in deltas if (counter := self.store.counter_item(delta))]
        self.store.transact([*items, *counters])

    @staticmethod
    def _classify(item: Mapping[str, Any] | None, attribute: str, allowed: Sequence[str], new: str, *,
                  etag: str | None = None, batch_id: str | None = None) -> MoveResult | None:
        """None if the item may be moved now; otherwise why not (ALREADY or CONFLICT)."""
        if item is None:
            return MoveResult(Move.CONFLICT, None, None)
        status = str(item.get(attribute))
        ours = (etag is None or item.get("etag") == etag) and (batch_id is None or item.get("batch_id") == batch_id)
        if status in allowed and ours:
            return None
        if status == new and ours:
            return MoveResult(Move.ALREADY, status, item)
        return MoveResult(Move.CONFLICT, status, item)


def requeue_manifest(moves: StatusMoves, record: Mapping[str, Any], reason: str, *, keep_bulk_run: bool = False) -> MoveResult:
    """A finished manifest (or one whose run died unrecorded) → queued, its finished files → manifested: run it again.

    The manifest first: once it is queued, the scheduler's repair no longer fails its files as stranded. The
    run that follows replaces the batch's earlier output (one commit per batch), so nothing is doubled.
    Used by `paybatch reprocess --batch-id` (which hands a bulk backfill's manifest back to the scheduler) and
    by a bulk run's retry of its chunk (``keep_bulk_run``: the bulk run starts it).
    """
    date_prefix, batch_id = record["manifest_date"], record["batch_id"]
    moved = moves.move_manifest(date_prefix, batch_id, ManifestStatus.QUEUED, expected=record["manifest_status"],
                                set_values={"attempts": 0, "queue_reason": reason[:1000]},
                                remove=["last_error", "retry_after", "rows_retracted", *([] if keep_bulk_run else ["bulk_run"])])
    if moved.outcome != Move.MOVED:
        raise ManifestMovedOn(f"manifest {batch_id} is {moved.previous or 'gone'}, not {record['manifest_status']}: not queued again")
    for entry in record["files"]:
        # Only files that are still this batch's, at the version it named: a file that failed here and then
        # completed in a later batch (or was replaced by a new upload) is not taken back.
        moves.move_file(date_prefix, entry["key"], FileStatus.MANIFESTED, expected=[FileStatus.FAILED, FileStatus.COMPLETED],
                        remove=["error", "error_kind"], batch_id=batch_id, etag=entry["etag"],
                        events={"file_reprocessed": (1, int(entry["size"]))})
    return moved
