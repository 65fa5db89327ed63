"""One Iceberg commit per conversion run: the batch's earlier rows out, the data files of its good files in.

A run's tasks write Parquet data files under the tables' data folders; nothing of them is visible until
this commit. It is one Iceberg transaction per table (the dataset's, then its rejects'): delete every row
of this batch id (a re-run replaces, never adds) and add the data files of the files that converted. The
files of a file that failed are never committed (the run deletes them). Concurrent runs commit with
Iceberg's optimistic concurrency (the Glue table's VersionId): a commit that lost the race reloads the
table and tries again. Data files of a run that died before its commit are left unreferenced, and
``paybatch maintain`` removes them.
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from paybatch.catalog import catalog_for, rejects_table, rows_table
from paybatch.config import Settings
from paybatch.datasets import DatasetSchema
from paybatch.errors import PaybatchError

COMMIT_ATTEMPTS = 30  # prod runs 30 at once: each may lose the race to all the others once


class CommitFailed(PaybatchError):
    """The run's commit kept losing to concurrent commits (or was refused): nothing of the run is visible."""


@dataclass(frozen=True)
class RunCommit:
    snapshot_id: int | None  # the dataset table's snapshot holding this run's rows
    rejects_snapshot_id: int | None
    attempts: int  # commits tried (1 = no conflict)


def commit_run(settings: Settings, schema: DatasetSchema, batch_id: str, row_files: Sequence[str],
               reject_files: Sequence[str]) -> RunCommit:
    """Commit a run's data files (``s3://`` URIs) to the dataset's tables; returns the snapshot ids."""
    catalog = catalog_for(settings)
    rejects_id, tries_rejects = _replace_batch(lambda: rejects_table(settings, schema, catalog), batch_id, reject_files)
    rows_id, tries_rows = _replace_batch(lambda: rows_table(settings, schema, catalog), batch_id, row_files)
    return RunCommit(rows_id, rejects_id, max(tries_rows, tries_rejects))


def _replace_batch(load: Callable[[], Any], batch_id: str, files: Sequence[str]) -> tuple[int | None, int]:
    from pyiceberg.exceptions import CommitFailedException
    from pyiceberg.expressions import EqualTo, Reference

    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        table = load()
        try:
            with table.transaction() as tx:
                if table.current_snapshot() is not None:
                    with warnings.catch_warnings():  # "did not match any records": a first run has nothing to replace
                        warnings.simplefilter("ignore", UserWarning)
                        tx.delete(EqualTo(term=Reference("_batch_id"), literal=batch_id))  # type: ignore[call-arg]
                if files:
                    tx.add_files(list(files))
        except CommitFailedException:
            time.sleep(min(2.0, 0.05 * 2 ** min(attempt, 6)) * random.uniform(0.5, 1.5))
            continue
        snapshot = table.current_snapshot()
        return (snapshot.snapshot_id if snapshot else None), attempt
    raise CommitFailed(f"batch {batch_id}: the commit to {load().name()} lost to concurrent commits {COMMIT_ATTEMPTS} times")
