"""The tracking contract: file and manifest statuses, their legal moves, and item keys.

A file moves only forward, each move a conditional write on the expected current status
(enforced by ``paybatch.transitions``, which every writer goes through):

    pending → manifested → processing → completed
    pending → quarantining → quarantined          (size or extension out of bounds)
    pending | manifested | processing → failed     (failed is retryable: back to pending)
    processing → processing | manifested           (a retried run takes its files again)
    failed | completed → manifested                 (`paybatch reprocess --batch-id`: same manifest again)

A manifest: creating → created → queued ⇄ running → completed | partial | failed, and a finished
one back to queued (`paybatch reprocess --batch-id`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum


class FileStatus(StrEnum):
    PENDING = "pending"
    QUARANTINING = "quarantining"
    QUARANTINED = "quarantined"
    MANIFESTED = "manifested"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class ManifestStatus(StrEnum):
    CREATING = "creating"  # files being claimed; the record names exactly those claimed so far
    CREATED = "created"  # all files claimed; JSON and run may still be missing
    QUEUED = "queued"  # waiting for a free run slot (or a retry's backoff)
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIAL = "partial"  # some files failed, the rest converted
    FAILED = "failed"


class QuarantineReason(StrEnum):
    TOO_LARGE = "too-large"
    TOO_SMALL = "too-small"
    UNSUPPORTED = "unsupported"


FILE_TRANSITIONS: dict[FileStatus, frozenset[FileStatus]] = {
    FileStatus.PENDING: frozenset({FileStatus.MANIFESTED, FileStatus.QUARANTINING, FileStatus.FAILED}),
    FileStatus.QUARANTINING: frozenset({FileStatus.QUARANTINED}),
    FileStatus.MANIFESTED: frozenset({FileStatus.PROCESSING, FileStatus.FAILED, FileStatus.COMPLETED}),
    FileStatus.PROCESSING: frozenset({FileStatus.COMPLETED, FileStatus.FAILED, FileStatus.MANIFESTED, FileStatus.PROCESSING}),
    FileStatus.FAILED: frozenset({FileStatus.PENDING, FileStatus.MANIFESTED}),  # retry / reprocess
    FileStatus.COMPLETED: frozenset({FileStatus.MANIFESTED}),  # reprocess of its manifest only
    FileStatus.QUARANTINED: frozenset(),
}

_FINISHED = frozenset({ManifestStatus.COMPLETED, ManifestStatus.PARTIAL, ManifestStatus.FAILED})
MANIFEST_TRANSITIONS: dict[ManifestStatus, frozenset[ManifestStatus]] = {
    ManifestStatus.CREATING: frozenset({ManifestStatus.CREATED}),
    ManifestStatus.CREATED: frozenset({ManifestStatus.QUEUED, ManifestStatus.RUNNING, *_FINISHED}),
    ManifestStatus.QUEUED: frozenset({ManifestStatus.QUEUED, ManifestStatus.RUNNING, *_FINISHED}),
    ManifestStatus.RUNNING: frozenset({ManifestStatus.QUEUED, *_FINISHED}),  # a failed run is retried: queued again
    ManifestStatus.COMPLETED: frozenset({ManifestStatus.QUEUED}),  # reprocess
    ManifestStatus.PARTIAL: frozenset({ManifestStatus.QUEUED}),
    ManifestStatus.FAILED: frozenset({ManifestStatus.QUEUED}),
}

# Where a file can rest for good; anything else is still in flight.
TERMINAL_FILE_STATUSES = frozenset({FileStatus.COMPLETED, FileStatus.QUARANTINED, FileStatus.FAILED})
IN_FLIGHT_FILE_STATUSES = frozenset(FileStatus) - TERMINAL_FILE_STATUSES
TERMINAL_MANIFEST_STATUSES = _FINISHED
# The only file items the tracking TTL may remove: their objects are gone (quarantine moved them) or expire
# first (input retention, when configured). A failed file waits for an operator; nothing in flight expires.
EXPIRING_FILE_STATUSES = frozenset({FileStatus.COMPLETED, FileStatus.QUARANTINED})

# ``error_kind`` of a file that failed because its object was removed or replaced before or while it was
# converted: the same bytes uploaded again are a file to convert, not a duplicate of a failure.
OBJECT_GONE = "object_gone"

MANIFEST_PK_PREFIX = "manifest#"
LOCK_PK_PREFIX = "lock#"
LOCK_SK = "lock"


def date_prefix_for(key: str, pattern: str, fallback: datetime) -> str:
    """The partition date of a file: YYYY-MM-DD from its key by ``pattern``, else the event date."""
    match = re.search(pattern, key)
    if match:
        candidate = match.group(1)
        try:
            datetime.strptime(candidate, "%Y-%m-%d")
            return candidate
        except ValueError:
            pass
    return fallback.astimezone(UTC).strftime("%Y-%m-%d")


def manifest_pk(date_prefix: str) -> str:
    return f"{MANIFEST_PK_PREFIX}{date_prefix}"


def lock_pk(date_prefix: str) -> str:
    return f"{LOCK_PK_PREFIX}{date_prefix}"


def iso(moment: datetime) -> str:
    """Timestamps as sortable ISO-8601 UTC strings (the status index sorts on them)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
