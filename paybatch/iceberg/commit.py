"""Replace one key's rows in an Iceberg table, exactly once, whatever the commit's answer was.

``replace_rows`` is the one way the project replaces a batch's (or a run's) rows: in one Iceberg transaction,
delete every row whose ``column`` equals ``value`` and add the given data files. It owns every retry:

- every attempt's snapshots carry the commit's id (``paybatch.commit-id``), its key and the attempt number in
  their summary properties;
- before each attempt the table is reloaded, and if a snapshot with the commit's id is there, an earlier
  attempt landed (its answer was lost): that is the result, nothing is committed again;
- any failure of an attempt — lost to a concurrent commit (``CommitFailedException``), refused by Iceberg's
  conflict check (``ValidationException``: a concurrent commit added files that may hold the same key), an
  answer lost (``CommitStateUnknownException`` from ``OutcomeAwareGlueCatalog``), throttling, 5xx, a dropped
  connection — is retried after a jittered pause, from a fresh load, up to ``COMMIT_ATTEMPTS`` times;
- pyiceberg never retries nor cleans up a commit whose outcome is unknown (``paybatch.iceberg.glue``); files
  an attempt wrote and no snapshot references are removed by ``paybatch maintain`` (orphans).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pyiceberg.exceptions import CommitFailedException, CommitStateUnknownException, ValidationException
from pyiceberg.expressions import EqualTo, In, Reference

from paybatch.errors import InternalFailure

logger = logging.getLogger(__name__)

COMMIT_ATTEMPTS = 30  # prod runs 30 at once: each may lose the race to all the others once
COMMIT_ID = "paybatch.commit-id"
COMMIT_KEY = "paybatch.replaces"
COMMIT_ATTEMPT = "paybatch.attempt"
# What one attempt may meet and still be worth retrying (its outcome is checked before the next attempt).
RETRYABLE = (CommitFailedException, CommitStateUnknownException, ValidationException, BotoCoreError, ClientError, OSError)
PAUSE_SECONDS = 0.05
MAX_PAUSE_SECONDS = 2.0


class CommitFailed(InternalFailure):
    """The commit did not land after every attempt (the last error is named): nothing of it is visible."""


@dataclass(frozen=True)
class Replaced:
    snapshot_id: int | None  # the table's snapshot holding the new rows (None: the table is still empty)
    attempts: int  # attempts made (1 = no conflict, no fault)
    commit_id: str


def new_commit_id() -> str:
    return uuid.uuid4().hex


def landed_snapshot(table: Any, commit_id: str) -> int | None:
    """The newest snapshot an attempt of ``commit_id`` committed, or None if none landed."""
    ours = [s for s in table.snapshots() if s.summary is not None and s.summary[COMMIT_ID] == commit_id]
    return max(ours, key=lambda s: s.sequence_number or 0).snapshot_id if ours else None


class GiveUp(Exception):
    """Raised by a change that no longer applies to the table as it now is (nothing is committed, no retry)."""


def commit_tagged(load: Callable[[], Any], change: Callable[[Any, Any, dict[str, str]], None], key: str, *,
                  commit_id: str | None = None, attempts: int = COMMIT_ATTEMPTS) -> Replaced:
    """Apply ``change(table, transaction, snapshot_properties)`` in one transaction, exactly once (module docstring).

    ``key`` names what the change replaces (``column=value``, or the files a compaction rewrites), for the logs and
    the snapshots' summary. ``change`` runs again on a fresh table after a failed attempt; it raises ``GiveUp`` if
    what it was to replace is gone (a compaction beaten by a run), and then nothing is committed.
    """
    commit_id = commit_id or new_commit_id()
    last: BaseException | None = None
    name = "the table"
    for attempt in range(1, attempts + 1):
        try:
            table = load()
            name = str(table.name())
            done = landed_snapshot(table, commit_id)
            if done is not None:
                return Replaced(done, attempt, commit_id)
            properties = {COMMIT_ID: commit_id, COMMIT_KEY: key, COMMIT_ATTEMPT: str(attempt)}
            with table.transaction() as tx:
                change(table, tx, properties)
        except RETRYABLE as exc:
            last = exc
            logger.warning("commit %s of %s to %s: attempt %d failed (%s: %s); checking and retrying",
                           commit_id, key, name, attempt, type(exc).__name__, exc)
            time.sleep(min(MAX_PAUSE_SECONDS, PAUSE_SECONDS * 2 ** min(attempt, 6)) * random.uniform(0.5, 1.5))
            continue
        snapshot = landed_snapshot(table, commit_id)
        if snapshot is None:  # nothing to delete and nothing to add: the table is as it was
            current = table.current_snapshot()
            snapshot = current.snapshot_id if current else None
        return Replaced(snapshot, attempt, commit_id)
    try:  # the last attempt's answer may have been lost too
        done = landed_snapshot(load(), commit_id)
    except RETRYABLE:
        done = None
    if done is not None:
        return Replaced(done, attempts, commit_id)
    raise CommitFailed(f"{key}: the commit to {name} did not land after {attempts} attempts; "
                       f"last: {type(last).__name__}: {last}")


def replace_rows(load: Callable[[], Any], column: str, value: str, files: Sequence[str], *,
                 commit_id: str | None = None, attempts: int = COMMIT_ATTEMPTS) -> Replaced:
    """Rows with ``column == value`` out, ``files`` (data file URIs) in, in one snapshot (see the module docstring)."""

    def change(table: Any, tx: Any, properties: dict[str, str]) -> None:
        if table.current_snapshot() is not None:
            with warnings.catch_warnings():  # "did not match any records": a first run has nothing to replace
                warnings.simplefilter("ignore", UserWarning)
                tx.delete(EqualTo(term=Reference(column), literal=value), snapshot_properties=properties)  # type: ignore[call-arg]
        if files:
            tx.add_files(list(files), snapshot_properties=properties)

    return commit_tagged(load, change, f"{column}={value}", commit_id=commit_id, attempts=attempts)


def remove_rows(load: Callable[[], Any], column: str, values: Sequence[str], *,
                commit_id: str | None = None, attempts: int = COMMIT_ATTEMPTS) -> Replaced:
    """Rows whose ``column`` is one of ``values`` out, in one snapshot, exactly once (as ``replace_rows``)."""

    def change(table: Any, tx: Any, properties: dict[str, str]) -> None:
        if table.current_snapshot() is not None and values:
            with warnings.catch_warnings():  # "did not match any records"
                warnings.simplefilter("ignore", UserWarning)
                tx.delete(In(Reference(column), literals=set(values)), snapshot_properties=properties)  # type: ignore[call-arg]

    return commit_tagged(load, change, f"{column} in {len(values)} values", commit_id=commit_id, attempts=attempts)
