"""One Iceberg commit per conversion run: the batch's earlier rows out, the data files of its good files in.

A run's tasks write Parquet data files under the tables' data folders; nothing of them is visible until
this commit. It is one ``paybatch.iceberg.commit.replace_rows`` per table (the dataset's rejects, then its
rows): delete every row of this batch id (a re-run replaces, never adds) and add the data files of the files
that converted. The files of a file that failed are never committed (the run deletes them). Concurrent
runs, conflicts and lost answers are ``replace_rows``'s to absorb: each commit is tagged with one commit id,
and an attempt whose answer was lost is found in the table instead of being committed twice. Data files of
a run that died before its commit are left unreferenced, and ``paybatch maintain`` removes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from paybatch.config import Settings
from paybatch.contracts.tracking import ManifestStatus
from paybatch.datasets import DatasetSchema, load_schema
from paybatch.iceberg.catalog import BATCH_COLUMN, catalog_for, rejects_table, rows_table
from paybatch.iceberg.commit import CommitFailed, new_commit_id, remove_rows, replace_rows
from paybatch.tracking_store import TrackingStore

__all__ = ["RETRACTED", "CommitFailed", "RunCommit", "commit_run", "retract_batch", "retract_batches", "retract_failed_manifest"]

RETRACTED = "rows_retracted"  # set on a failed manifest once its batch's committed rows are removed


@dataclass(frozen=True)
class RunCommit:
    snapshot_id: int | None  # the dataset table's snapshot holding this run's rows
    rejects_snapshot_id: int | None
    attempts: int  # commits tried (1 = no conflict)
    commit_id: str = ""  # the id both tables' snapshots of this commit carry (``paybatch.commit-id``)


def commit_run(settings: Settings, schema: DatasetSchema, batch_id: str, row_files: Sequence[str],
               reject_files: Sequence[str], *, commit_id: str | None = None) -> RunCommit:
    """Commit a run's data files (``s3://`` URIs) to the dataset's tables; returns the snapshot ids."""
    catalog = catalog_for(settings)
    commit_id = commit_id or new_commit_id()
    rejects = replace_rows(lambda: rejects_table(settings, schema, catalog), BATCH_COLUMN, batch_id, reject_files,
                           commit_id=commit_id)
    rows = replace_rows(lambda: rows_table(settings, schema, catalog), BATCH_COLUMN, batch_id, row_files, commit_id=commit_id)
    return RunCommit(rows.snapshot_id, rejects.snapshot_id, max(rows.attempts, rejects.attempts), commit_id)


def retract_batch(settings: Settings, schema: DatasetSchema, batch_id: str) -> RunCommit:
    """Remove every row and reject a batch committed, from both tables (a manifest that failed after its run's
    commit landed: its files go back to pending and are converted in a new batch, so nothing may stay visible)."""
    return commit_run(settings, schema, batch_id, [], [])


def retract_batches(settings: Settings, schema: DatasetSchema, batch_ids: Sequence[str]) -> RunCommit:
    """Remove every row and reject of these batches from both tables, a commit each (a scale test's, when it ends)."""
    catalog, commit_id = catalog_for(settings), new_commit_id()
    rejects = remove_rows(lambda: rejects_table(settings, schema, catalog), BATCH_COLUMN, batch_ids, commit_id=commit_id)
    rows = remove_rows(lambda: rows_table(settings, schema, catalog), BATCH_COLUMN, batch_ids, commit_id=commit_id)
    return RunCommit(rows.snapshot_id, rejects.snapshot_id, max(rows.attempts, rejects.attempts), commit_id)


def retract_failed_manifest(settings: Settings, store: TrackingStore, record: Mapping[str, Any]) -> bool:
    """Remove what a failed manifest's batch committed (both tables), once; True if it was done now."""
    if record.get("manifest_status") != ManifestStatus.FAILED or record.get(RETRACTED):
        return False
    retract_batch(settings, load_schema(str(record.get("schema_name", "authorization"))), str(record["batch_id"]))
    store.annotate_manifest(str(record["manifest_date"]), str(record["batch_id"]), {RETRACTED: True})
    return True
