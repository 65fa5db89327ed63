"""Registration: turning S3 object events into exactly one tracking item per object version.

The event only says "something happened to this key"; the object itself (HEAD) says which
version is current, so repeated, reordered and multipart-double events all land on the same
item. The same object twice is one file; the same key re-uploaded with a different etag is
a new version and is processed again (if the old version is in a conversion run, the new
one waits: the message is retried, and the scheduler's sweep is the backstop).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from paybatch.aws import AwsClients
from paybatch.builder.errors import FileBusy
from paybatch.builder.quarantine import Quarantine, classify
from paybatch.contracts.events import S3ObjectEvent
from paybatch.contracts.manifest import input_format_for
from paybatch.contracts.tracking import (
    OBJECT_GONE,
    FileStatus,
    date_prefix_for,
    iso,
    utcnow,
)
from paybatch.storage import head_object
from paybatch.tracking_store import TrackingStore
from paybatch.transitions import REPLACEABLE_FILE_STATUSES, Move, StatusMoves


class Outcome(StrEnum):
    REGISTERED = "registered"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"
    NEW_VERSION = "new-version"
    STALE = "stale"  # the event names an object that no longer exists
    REMOVED = "removed"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Registration:
    outcome: Outcome
    date_prefix: str | None = None
    key: str | None = None


class FileRegistry:
    """Registers object events in the tracking table and starts quarantine where needed."""

    def __init__(self, clients: AwsClients, store: TrackingStore, moves: StatusMoves, quarantine: Quarantine) -> None:
        self.clients = clients
        self.settings = clients.settings
        self.store = store
        self.moves = moves
        self.quarantine = quarantine

    def date_prefix(self, key: str, fallback: datetime) -> str:
        return date_prefix_for(key, self.settings.file_validation.date_prefix_pattern, fallback)

    def handle(self, event: S3ObjectEvent) -> Registration:
        if event.bucket != self.settings.buckets.input:
            return Registration(Outcome.IGNORED)
        if event.removed:
            return self.removed(event)
        return self.created(event)

    def _new_item(self, bucket: str, key: str, head: dict[str, Any], date_prefix: str, version: int,
                  accept_large: bool = False) -> dict[str, Any]:
        size = int(head["ContentLength"])
        etag = str(head["ETag"]).strip('"')
        uploaded: datetime = head["LastModified"]
        item: dict[str, Any] = {
            "date_prefix": date_prefix,
            "file_key": key,
            "bucket": bucket,
            "etag": etag,
            "size_bytes": size,
            "file_size_mb": round(size / 1024 / 1024, 3),
            "upload_time": iso(uploaded),
            "registered_at": iso(utcnow()),
            "updated_at": iso(utcnow()),
            "input_format": input_format_for([key]),
            "attempts": 0,
            "version": version,
        }
        reason = classify(key, size, self.settings.file_validation, accept_large=accept_large)
        if reason:
            item["status"] = str(FileStatus.QUARANTINING)
            item["quarantine_reason"] = str(reason)
            item["error"] = self._reason_text(reason, size)
            if accept_large and reason == "too-large":
                item["error"] += "; compressed input cannot be split into byte ranges: split it upstream"
        else:
            item["status"] = str(FileStatus.PENDING)
        return item

    def _reason_text(self, reason: str, size: int) -> str:
        rules = self.settings.file_validation
        if reason == "unsupported":
            return f"unsupported extension (allowed: {', '.join(rules.allowed_extensions)})"
        return f"{size} bytes is outside the expected {rules.min_bytes}..{rules.max_bytes} bytes"

    def created(self, event: S3ObjectEvent) -> Registration:
        head = head_object(self.clients.s3, event.bucket, event.key)
        if head is None:
            return Registration(Outcome.STALE, key=event.key)
        date_prefix = self.date_prefix(event.key, head["LastModified"])
        return self.register_object(event.bucket, event.key, head, date_prefix)

    def register_object(self, bucket: str, key: str, head: dict[str, Any], date_prefix: str, *,
                        accept_large: bool = False) -> Registration:
        """Register the current version of one object (from an event, the scheduler's sweep or a bulk backfill).

        ``accept_large``: a backfill's oversized uncompressed NDJSON is converted in byte ranges, not quarantined.
        """
        etag = str(head["ETag"]).strip('"')
        item = self._new_item(bucket, key, head, date_prefix, version=1, accept_large=accept_large)
        uploaded = {"file_uploaded": (1, item["size_bytes"])}
        if self.moves.register(item, uploaded).outcome == Move.MOVED:
            return self._after_write(item, Outcome.REGISTERED)  # the common case: one write, no read
        for _ in range(5):  # a concurrent writer may move the item between our read and write
            existing = self.store.get_file(date_prefix, key)
            if existing is None:
                if self.moves.register(item, uploaded).outcome == Move.MOVED:
                    return self._after_write(item, Outcome.REGISTERED)
                continue
            status = FileStatus(existing["status"])
            reuploaded = status == FileStatus.FAILED and existing.get("error_kind") == OBJECT_GONE
            if existing["etag"] == etag and not reuploaded:
                if existing["status"] == FileStatus.QUARANTINING:
                    return self._after_write(existing, Outcome.DUPLICATE)
                return Registration(Outcome.DUPLICATE, date_prefix, key)
            # A new version — or the same bytes back after the file failed because its object was gone.
            if status in REPLACEABLE_FILE_STATUSES:
                item = self._new_item(bucket, key, head, date_prefix, version=int(existing.get("version", 1)) + 1,
                                      accept_large=accept_large)
                if status == FileStatus.PENDING:  # the old version never left pending: still one file
                    events = {"file_uploaded": (0, item["size_bytes"] - int(existing["size_bytes"]))}
                else:
                    events = {"file_uploaded": (1, item["size_bytes"])}
                if self.moves.replace_version(item, existing, events).outcome == Move.MOVED:
                    return self._after_write(item, Outcome.NEW_VERSION)
                continue
            raise FileBusy(
                f"s3://{bucket}/{key} was re-uploaded (etag {etag}) while version {existing['etag']} is "
                f"{status}; it will be registered once that run ends"
            )
        raise FileBusy(f"s3://{bucket}/{key}: the tracking item kept changing under registration; retrying later")

    def _after_write(self, item: dict[str, Any], outcome: Outcome) -> Registration:
        if item["status"] == FileStatus.QUARANTINING:
            self.quarantine.move(item)
            return Registration(Outcome.QUARANTINED, item["date_prefix"], item["file_key"])
        return Registration(outcome, item["date_prefix"], item["file_key"])

    def removed(self, event: S3ObjectEvent) -> Registration:
        """An object was deleted: a file still pending fails (nothing left to convert)."""
        if head_object(self.clients.s3, event.bucket, event.key) is not None:
            return Registration(Outcome.IGNORED, key=event.key)  # re-uploaded since; its own event follows
        date_prefix = self.date_prefix(event.key, event.event_time)
        existing = self.store.get_file(date_prefix, event.key)
        if existing is None or existing["status"] != FileStatus.PENDING:
            # Unknown, or quarantine's own delete, or already in a run (which checks the etag itself).
            return Registration(Outcome.IGNORED, date_prefix, event.key)
        moved = self.moves.move_file(
            date_prefix, event.key, FileStatus.FAILED, expected=FileStatus.PENDING,
            set_values={"error": "the object was removed from the input bucket before it was converted",
                        "error_kind": OBJECT_GONE},
            etag=existing["etag"], events={"file_removed": (1, int(existing["size_bytes"]))},
        )
        return Registration(Outcome.REMOVED if moved.outcome == Move.MOVED else Outcome.IGNORED, date_prefix, event.key)
