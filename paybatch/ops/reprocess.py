"""`paybatch reprocess --failed`: every failed file back to pending, with nothing of its old batch left visible.

A manifest the scheduler failed (its run kept failing) may have had a commit land before the run died: its
rows and rejects are visible under the old batch id. The scheduler removes them when it can (it needs
pyiceberg, which the builder's Lambda bundle does not ship); whatever it could not is removed here, before the
files go back to pending, so their new batch's rows are the only ones visible.
"""

from __future__ import annotations

from typing import Any

from paybatch.config import Settings
from paybatch.contracts.tracking import FileStatus
from paybatch.convert.commit import retract_failed_manifest
from paybatch.tracking_store import TrackingStore
from paybatch.transitions import Move, StatusMoves


def retry_failed_files(settings: Settings, store: TrackingStore) -> int:
    """Every failed file → pending (its failed batch's committed rows removed first); how many moved."""
    moves = StatusMoves(store)
    manifests: dict[tuple[str, str], dict[str, Any] | None] = {}
    count = 0
    for item in store.files_with_status(FileStatus.FAILED):
        batch_id = item.get("batch_id")
        if batch_id and (item["date_prefix"], batch_id) not in manifests:
            record = store.get_manifest(item["date_prefix"], batch_id)
            manifests[item["date_prefix"], batch_id] = record
            if record is not None:
                retract_failed_manifest(settings, store, record)
        moved = moves.move_file(item["date_prefix"], item["file_key"], FileStatus.PENDING, expected=FileStatus.FAILED,
                                set_values={"attempts": int(item.get("attempts", 0)) + 1},
                                remove=["batch_id", "manifest_path", "error", "error_kind"], etag=item["etag"],
                                events={"file_retried": (1, int(item["size_bytes"]))})
        count += moved.outcome == Move.MOVED
    return count
