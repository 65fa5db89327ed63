"""The packing policy: which pending files go together into which manifest (pure, no I/O).

Oldest first; at most ``max_files`` files and ``max_bytes`` bytes per manifest; a full
manifest is emitted at once; the last, partial one only once its oldest file has waited
``max_wait_seconds`` (so no straggler waits forever); a file larger than the size cap on its
own gets a manifest of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PendingFile:
    key: str
    size: int
    uploaded: datetime


@dataclass(frozen=True)
class BatchPolicy:
    max_files: int
    max_bytes: int
    max_wait_seconds: float


def plan_manifests(pending: Sequence[PendingFile], policy: BatchPolicy, now: datetime,
                   *, flush: bool = False) -> list[list[PendingFile]]:
    """Group pending files into the manifests to emit now; files not returned stay pending.

    ``flush`` emits the last partial manifest regardless of its age (used on demand).
    """
    ordered = sorted(pending, key=lambda f: (f.uploaded, f.key))
    batches: list[list[PendingFile]] = []
    current: list[PendingFile] = []
    current_bytes = 0
    for item in ordered:
        if item.size > policy.max_bytes:
            batches.append([item])  # too big to share: alone, at once
            continue
        if current and (len(current) >= policy.max_files or current_bytes + item.size > policy.max_bytes):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += item.size
    if current:
        full = len(current) >= policy.max_files
        waited = (now - current[0].uploaded).total_seconds() >= policy.max_wait_seconds
        if full or waited or flush:
            batches.append(current)
    return batches
