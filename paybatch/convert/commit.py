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

from collections.abc import Sequence
from dataclasses import dataclass

from paybatch.catalog import BATCH_COLUMN, catalog_for, rejects_table, rows_table
from paybatch.config import Settings
from paybatch.datasets import DatasetSchema
from paybatch.iceberg.commit import CommitFailed, new_commit_id, replace_rows

__all__ = ["CommitFailed", "RunCommit", "commit_run"]


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
