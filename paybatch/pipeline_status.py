"""A snapshot of the pipeline for operators and scripts: files and manifests per status, backlog, runs."""

from __future__ import annotations

from collections import Counter
from typing import Any

from paybatch.contracts.tracking import (
    IN_FLIGHT_FILE_STATUSES,
    TERMINAL_MANIFEST_STATUSES,
    FileStatus,
    ManifestStatus,
    parse_iso,
    utcnow,
)
from paybatch.counters import by_prefix
from paybatch.tracking_store import TrackingStore


def pipeline_status(store: TrackingStore, files: list[dict[str, Any]] | None = None,
                    manifests: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Counts per status, the oldest pending file's age, manifests per status and the runs in flight.

    The counts come from the counters (``paybatch.transitions`` moves them with every status): exact, and
    read from a few items per date whatever the number of files. ``files`` and ``manifests`` are the items
    when the caller has already read them; by default only the pending files and the creating and running
    manifests are read, as the backlog and the runs are taken from them.
    """
    # The counts come from the counters: read only what the backlog and the runs need (never the completed files).
    files = store.files_with_status(FileStatus.PENDING) if files is None else files
    manifests = [m for s in (ManifestStatus.CREATING, ManifestStatus.RUNNING) for m in store.manifests_with_status(s)] \
        if manifests is None else manifests
    counters = store.counts()
    file_counts = Counter(by_prefix(counters, "files"))
    manifest_counts = Counter(by_prefix(counters, "manifests"))
    pending = [f for f in files if f["status"] == FileStatus.PENDING]
    oldest = min((parse_iso(f["upload_time"]) for f in pending), default=None)
    in_flight = sum(file_counts.get(str(s), 0) for s in IN_FLIGHT_FILE_STATUSES)
    active_manifests = sum(c for s, c in manifest_counts.items() if ManifestStatus(s) not in TERMINAL_MANIFEST_STATUSES)
    active_manifests += sum(1 for m in manifests if m["manifest_status"] == ManifestStatus.CREATING)  # not counted yet
    return {
        "files": {str(s): file_counts.get(str(s), 0) for s in FileStatus},
        "files_total": sum(file_counts.values()),
        "backlog": {
            "pending": len(pending),
            "pending_bytes": sum(int(f["size_bytes"]) for f in pending),
            "oldest_pending_age_seconds": round((utcnow() - oldest).total_seconds(), 1) if oldest else None,
        },
        "manifests": {str(s): manifest_counts.get(str(s), 0) for s in ManifestStatus},
        "runs": [
            {"batch_id": m["batch_id"], "job_name": m.get("job_name"), "run_id": m.get("run_id"),
             "attempts": m.get("attempts", 0)}
            for m in manifests if m["manifest_status"] == ManifestStatus.RUNNING
        ],
        "quarantine_reasons": {k.removeprefix("event:file_quarantined:"): v for k, v in counters.items()
                               if k.startswith("event:file_quarantined:")},
        "idle": in_flight == 0 and active_manifests == 0,
    }
