"""``replace_rows`` / ``commit_tagged`` without a catalog: the retry loop against a table that loses races and answers.

The integration tests (tests/integration/test_exactly_once.py) commit to real Iceberg tables on the local endpoint;
these pin the loop's decisions one fault at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from pyiceberg.exceptions import CommitFailedException, CommitStateUnknownException, ValidationException

from paybatch.iceberg import commit
from paybatch.iceberg.commit import COMMIT_ID, CommitFailed, GiveUp, commit_tagged, remove_rows, replace_rows


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commit, "PAUSE_SECONDS", 0.0)


class Summary(dict[str, str]):
    """As pyiceberg's snapshot summary reads: a property it lacks is None."""

    def __missing__(self, key: str) -> None:
        return None


@dataclass
class Snapshot:
    snapshot_id: int
    sequence_number: int
    summary: Summary


@dataclass
class FakeTable:
    """A table whose transactions land (or not) and answer (or not) as scripted: one word per commit attempt."""

    script: list[str]  # "ok", "lost" (lands, then CommitStateUnknown), "conflict" (CommitFailed), "validation"
    landed: list[Snapshot] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    adds: list[list[str]] = field(default_factory=list)
    attempts: int = 0

    def name(self) -> tuple[str, str]:
        return ("db", "t")

    def snapshots(self) -> list[Snapshot]:
        return list(self.landed)

    def current_snapshot(self) -> Snapshot | None:
        return self.landed[-1] if self.landed else None

    def transaction(self) -> FakeTable.Tx:
        return FakeTable.Tx(self)

    class Tx:
        def __init__(self, table: FakeTable) -> None:
            self.table, self.properties = table, {}  # type: ignore[var-annotated]

        def __enter__(self) -> FakeTable.Tx:
            return self

        def delete(self, expression: Any, snapshot_properties: dict[str, str]) -> None:
            self.table.deletes.append(str(expression))
            self.properties = snapshot_properties

        def add_files(self, files: list[str], snapshot_properties: dict[str, str]) -> None:
            self.table.adds.append(files)
            self.properties = snapshot_properties

        def __exit__(self, *exc: Any) -> None:
            if exc[0] is not None:
                return
            table = self.table
            what = table.script[table.attempts] if table.attempts < len(table.script) else "ok"
            table.attempts += 1
            if what == "conflict":
                raise CommitFailedException("another commit won")
            if what == "validation":
                raise ValidationException("a concurrent commit added files that may hold the key")
            table.landed.append(Snapshot(100 + len(table.landed), len(table.landed) + 1, Summary(self.properties)))
            if what == "lost":
                raise CommitStateUnknownException("the answer was lost")


def test_a_lost_race_and_a_conflict_check_are_retried_until_the_commit_lands() -> None:
    table = FakeTable(["conflict", "validation", "ok"], landed=[Snapshot(1, 1, Summary(operation="append"))])
    done = replace_rows(lambda: table, "_batch_id", "b1", ["s3://x/1.parquet"], commit_id="c1")
    assert done.attempts == 3 and done.snapshot_id == 101
    assert [s.summary.get(COMMIT_ID) for s in table.landed] == [None, "c1"] and table.landed[-1].summary["paybatch.attempt"] == "3"


def test_a_commit_whose_answer_was_lost_is_found_and_not_made_twice() -> None:
    table = FakeTable(["lost"], landed=[Snapshot(1, 1, Summary(operation="append"))])
    done = replace_rows(lambda: table, "_batch_id", "b1", ["s3://x/1.parquet"], commit_id="c2")
    assert done.snapshot_id == 101 and done.attempts == 2  # the second attempt found it landed
    assert table.attempts == 1 and len(table.adds) == 1  # committed once


def test_a_commit_that_never_lands_fails_loudly_and_one_that_landed_last_is_still_found() -> None:
    never = FakeTable(["conflict"] * 5)
    with pytest.raises(CommitFailed, match="did not land after 5 attempts; last: CommitFailedException"):
        replace_rows(lambda: never, "_batch_id", "b1", ["f"], attempts=5)
    assert never.landed == []
    last_lost = FakeTable(["conflict"] * 4 + ["lost"])
    assert replace_rows(lambda: last_lost, "_batch_id", "b1", ["f"], commit_id="c3", attempts=5).snapshot_id == 100


def test_a_change_that_no_longer_applies_gives_up_without_committing() -> None:
    table = FakeTable([])

    def change(_table: Any, _tx: Any, _properties: dict[str, str]) -> None:
        raise GiveUp("the files to compact were replaced")

    with pytest.raises(GiveUp):
        commit_tagged(lambda: table, change, "compaction")
    assert table.landed == [] and table.attempts == 0


def test_removing_many_batches_is_one_delete_made_once_under_a_lost_answer() -> None:
    table = FakeTable(["lost"], landed=[Snapshot(1, 1, Summary(operation="append"))])
    done = remove_rows(lambda: table, "_batch_id", ["b2", "b1", "b3"], commit_id="c4")
    assert done.snapshot_id == 101 and table.attempts == 1 and table.adds == []
    assert len(table.deletes) == 1 and table.deletes[0] == "In(Reference(name='_batch_id'), {b1, b2, b3})"
    empty = FakeTable([])
    remove_rows(lambda: empty, "_batch_id", ["b1"])
    assert empty.deletes == []  # a table without a snapshot has nothing to remove
