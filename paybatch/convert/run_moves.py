"""A conversion run's tracking writes: take its files, complete them, record its result.

Each is conditional on the run's fence (``paybatch.transitions.RunFence``: only the manifest's recorded run writes),
and a run's files move a transaction per hundred (``StatusMoves.move_files``), any file a transaction refused alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from paybatch.contracts.manifest import Manifest, ManifestFile
from paybatch.contracts.tracking import FileStatus, ManifestStatus, iso, utcnow
from paybatch.convert.commit import RunCommit
from paybatch.transitions import FileChange, Move, MoveResult, RunFence, StatusMoves


@dataclass
class ManifestResult:
    batch_id: str
    status: str
    files: list[dict[str, Any]] = field(default_factory=list)
    lines_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    duration_seconds: float = 0.0
    output_uri: str = ""


def take_file(moves: StatusMoves, date: str, key: str, batch_id: str, now: datetime, fence: RunFence | None = None
              ) -> MoveResult:
    """manifested (or processing: a retried attempt) → processing. A file an earlier attempt of this batch
    completed is taken again (completed → manifested → processing), as the batch's output is rewritten whole
    (never by a superseded run: ``fence`` makes each move conditional on this run being the manifest's run)."""
    taken = moves.move_file(date, key, FileStatus.PROCESSING, expected=[FileStatus.MANIFESTED, FileStatus.PROCESSING],
                            set_values={"processing_started_at": iso(now)}, batch_id=batch_id, fence=fence)
    if taken.outcome == Move.CONFLICT and taken.previous == FileStatus.COMPLETED:
        moves.move_file(date, key, FileStatus.MANIFESTED, expected=FileStatus.COMPLETED, batch_id=batch_id, fence=fence)
        taken = moves.move_file(date, key, FileStatus.PROCESSING, expected=FileStatus.MANIFESTED,
                                set_values={"processing_started_at": iso(now)}, batch_id=batch_id, fence=fence)
    return taken


def take_files(moves: StatusMoves, date: str, keys: Sequence[str], batch_id: str, now: datetime,
               fence: RunFence | None = None) -> dict[str, MoveResult]:
    """``take_file`` for a run's files: the manifested ones a transaction per hundred, any other (a retried attempt's
    processing or completed file, or one no longer in this batch) alone."""
    stamp = {"processing_started_at": iso(now)}
    left = moves.move_files(date, [FileChange(k, stamp) for k in keys], FileStatus.PROCESSING, expected=FileStatus.MANIFESTED,
                            batch_id=batch_id, fence=fence)
    taken = {k: MoveResult(Move.MOVED, str(FileStatus.MANIFESTED)) for k in keys}
    for change in left:
        taken[change.key] = take_file(moves, date, change.key, batch_id, now, fence)
    return taken


def complete_files(moves: StatusMoves, date: str, converted: Sequence[tuple[ManifestFile, Mapping[str, Any]]], batch_id: str,
                   fence: RunFence | None) -> dict[str, MoveResult]:
    """processing → completed with each file's counts, a transaction per hundred files (any a transaction refused:
    alone). Not yet expirable: that waits for the object's tag (``StatusMoves.allow_expiry``)."""
    changes = [FileChange(entry.key, {**{k: result[k] for k in ("lines_read", "rows_written", "rows_rejected")},
                                      "completed_at": iso(utcnow()), "partitions": result["partitions"]},
                          ("error", "error_kind"), expire=False,
                          events={"file_completed": (1, entry.size), "rows_written": (result["rows_written"], 0),
                                  "rows_rejected": (result["rows_rejected"], 0)})
               for entry, result in converted]
    left = moves.move_files(date, changes, FileStatus.COMPLETED, expected=FileStatus.PROCESSING, batch_id=batch_id, fence=fence)
    completed = {c.key: MoveResult(Move.MOVED, str(FileStatus.PROCESSING)) for c in changes}
    for c in left:
        completed[c.key] = moves.move_file(date, c.key, FileStatus.COMPLETED, expected=FileStatus.PROCESSING,
                                           set_values=c.set_values, remove=c.remove, batch_id=batch_id, fence=fence,
                                           expire=False, events=c.events)
    return completed


def record_result(moves: StatusMoves, manifest: Manifest, summary: ManifestResult, status: ManifestStatus, failures: int,
                  committed: RunCommit, run_token: str | None) -> MoveResult:
    """The manifest → its terminal status with the run's totals (only by the manifest's current run)."""
    run_metric = "run_failed" if status == ManifestStatus.FAILED else "run_succeeded"
    return moves.move_manifest(
        manifest.date_prefix, manifest.batch_id, status,
        expected=[ManifestStatus.RUNNING, ManifestStatus.QUEUED, ManifestStatus.CREATED],
        set_values={"lines_read": summary.lines_read, "rows_written": summary.rows_written,
                    "rows_rejected": summary.rows_rejected, "files_failed": failures, "finished_at": iso(utcnow()),
                    "duration_seconds": summary.duration_seconds, "output_uri": summary.output_uri,
                    "snapshot_id": committed.snapshot_id, "rejects_snapshot_id": committed.rejects_snapshot_id,
                    "commit_attempts": committed.attempts, "commit_id": committed.commit_id},
        events={run_metric: (1, manifest.totals.total_bytes)}, run_token=run_token,
    )
