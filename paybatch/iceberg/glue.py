"""pyiceberg's Glue catalog, made honest about commits whose outcome is unknown.

A commit ends in Glue's ``UpdateTable`` (conditional on the table's ``VersionId``). When its answer is lost,
botocore sends it again; the retry meets the version the lost request already wrote and gets
``ConcurrentModificationException``, which pyiceberg turns into ``CommitFailedException`` — "did not land" —
and then deletes the manifest list of the snapshot that *did* land: every later scan fails. Here every
failure of the catalog's commit step is ``CommitStateUnknownException`` instead, which pyiceberg neither
retries nor cleans up after. The caller (``paybatch.iceberg.commit.replace_rows``) reloads the table and
checks whether its tagged snapshot landed before it tries again.
"""

from __future__ import annotations

from typing import Any

from pyiceberg.catalog.glue import GlueCatalog
from pyiceberg.exceptions import CommitStateUnknownException, NoSuchTableError


class OutcomeAwareGlueCatalog(GlueCatalog):
    """``GlueCatalog`` whose ``commit_table`` raises ``CommitStateUnknownException`` for any failure it cannot rule out."""

    def commit_table(self, table: Any, requirements: Any, updates: Any) -> Any:
        try:
            return super().commit_table(table, requirements, updates)
        except NoSuchTableError:
            raise
        except Exception as exc:
            raise CommitStateUnknownException(f"the commit to {table.name()} may or may not have landed: "
                                              f"{type(exc).__name__}: {exc}") from exc
