"""The bulk-run ledger (DynamoDB): one item per run and per chunk, and a reference from each Glue run to its chunk.

Every chunk status change is a conditional write here, so the worker, the watch, a second delivery of the
same task and the state machine's own ``RecordChunkFailed`` step cannot undo one another:

    pending → running → succeeded                   (terminal: a resume or a redelivery never redoes it)
                      ↘ failed → running            (the state machine's retry, or `bulk resume`)
    pending | running | failed → cancelled → pending   (`bulk cancel`, then `bulk resume`)

A chunk is settled (succeeded or failed) only by the Glue run it is recorded with, so the late end of an
earlier attempt cannot overwrite the outcome of a later one. The aggregation and the tolerated-failure
check read the outcomes here, on AWS and locally alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from paybatch.aws import AwsClients
from paybatch.contracts.tracking import iso, utcnow
from paybatch.dynamo import batch_write, from_item, holds, one_of, to_item, update, write_if
from paybatch.errors import PaybatchError
from paybatch.resources import BULK_PK, BULK_SK
from paybatch.retry import retrying

RUN_ITEM = "run"
REF_ITEM = "ref"


class ChunkStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # every chunk done
    PARTIAL = "partial"  # some chunks failed, within the tolerance
    FAILED = "failed"  # more failed than tolerated, or the execution failed
    CANCELLED = "cancelled"


TERMINAL_RUN_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.CANCELLED})


class BulkRunNotFound(PaybatchError):
    """No run with this id in the ledger."""


def chunk_item(chunk_id: int) -> str:
    return f"chunk#{chunk_id:05d}"


def job_run_key(job_run_id: str) -> str:
    return f"jobrun#{job_run_id}"


@dataclass(frozen=True)
class ChunkRef:
    run_id: str
    chunk_id: int


class BulkLedger:
    """Reads and conditional writes of one environment's bulk-run table."""

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self.table = clients.settings.bulk.table
        self.ddb = clients.dynamodb

    # --- reads -----------------------------------------------------------------------------------
    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = retrying(self.ddb.get_item, TableName=self.table, ConsistentRead=True, Key=to_item({BULK_PK: pk, BULK_SK: sk})).get("Item")
        return from_item(item) if item else None

    def get_run(self, run_id: str) -> dict[str, Any]:
        run = self._get(run_id, RUN_ITEM)
        if run is None:
            raise BulkRunNotFound(f"no bulk run {run_id!r} in {self.table} (see `paybatch bulk list`)")
        return run

    def find_run(self, run_id: str) -> dict[str, Any] | None:
        return self._get(run_id, RUN_ITEM)

    def get_chunk(self, run_id: str, chunk_id: int) -> dict[str, Any] | None:
        return self._get(run_id, chunk_item(chunk_id))

    def chunks(self, run_id: str) -> list[dict[str, Any]]:
        """Every chunk of a run, in chunk order."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table, "ConsistentRead": True,
            "KeyConditionExpression": "#pk = :run AND begins_with(#sk, :chunk)",
            "ExpressionAttributeNames": {"#pk": BULK_PK, "#sk": BULK_SK},
            "ExpressionAttributeValues": to_item({":run": run_id, ":chunk": "chunk#"}),
        }
        while True:
            page = retrying(self.ddb.query, **kwargs)
            items += [from_item(i) for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def runs(self) -> list[dict[str, Any]]:
        """Every run, newest first (a scan: runs are few, and chunks are skipped server-side)."""
        runs: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table, "FilterExpression": "#sk = :run",
                                  "ExpressionAttributeNames": {"#sk": BULK_SK}, "ExpressionAttributeValues": to_item({":run": RUN_ITEM})}
        for page in self.ddb.get_paginator("scan").paginate(**kwargs):
            runs += [from_item(i) for i in page["Items"]]
        return sorted(runs, key=lambda r: r["created_at"], reverse=True)

    def active_runs(self) -> list[dict[str, Any]]:
        return [r for r in self.runs() if r["status"] == RunStatus.RUNNING]

    def chunk_for_job_run(self, job_run_id: str) -> ChunkRef | None:
        ref = self._get(job_run_key(job_run_id), REF_ITEM)
        return ChunkRef(ref["bulk_run_id"], int(ref["chunk_id"])) if ref else None

    # --- writes ----------------------------------------------------------------------------------
    def create_run(self, run: Mapping[str, Any], chunks: Sequence[Mapping[str, Any]]) -> None:
        """The run item (only if new) and one pending item per chunk."""
        item = {BULK_PK: run["run_id"], BULK_SK: RUN_ITEM, **run}
        request = {"TableName": self.table, "Item": to_item(item), "ConditionExpression": "attribute_not_exists(#pk)",
                   "ExpressionAttributeNames": {"#pk": BULK_PK}}
        if not write_if(self.ddb.put_item, request, landed=holds(item)):
            raise PaybatchError(f"bulk run {run['run_id']} already exists")
        batch_write(self.ddb, self.table, [
            {BULK_PK: run["run_id"], BULK_SK: chunk_item(int(c["chunk_id"])), "chunk_id": int(c["chunk_id"]),
             "status": str(ChunkStatus.PENDING), "attempts": 0, "spec": json.dumps(c, sort_keys=True), "updated_at": iso(utcnow())}
            for c in chunks])

    def update_run(self, run_id: str, values: Mapping[str, Any], *, expected: set[RunStatus] | None = None) -> bool:
        """Set run attributes; with ``expected``, only while the run's status is one of them. True if written."""
        values = {**values, "updated_at": iso(utcnow())}
        condition, allowed = one_of("#status", sorted(expected)) if expected else (None, {})
        request = update(self.table, {BULK_PK: run_id, BULK_SK: RUN_ITEM}, set=values, condition=condition,
                         names={"#status": "status"} if expected else None, values=allowed)
        return write_if(self.ddb.update_item, request, landed=holds(values))

    def _move_chunk(self, run_id: str, chunk_id: int, to: ChunkStatus, condition: str, values: Mapping[str, Any],
                    condition_values: Mapping[str, Any], *, append_attempt: Mapping[str, Any] | None = None,
                    remove: tuple[str, ...] = ()) -> bool:
        """One conditional move of a chunk; after a lost answer, it landed if the chunk holds what it set."""
        values = {**values, "status": str(to), "updated_at": iso(utcnow())}
        request = update(self.table, {BULK_PK: run_id, BULK_SK: chunk_item(chunk_id)}, set=values, remove=remove,
                         append={"attempt_log": [dict(append_attempt)]} if append_attempt is not None else None,
                         condition=condition, names={"#status": "status"}, values=condition_values)
        return write_if(self.ddb.update_item, request, landed=holds(values))

    def start_chunk(self, run_id: str, chunk_id: int, *, task_token: str, execution: str, task_order: int, job_name: str,
                    job_run_id: str, route: str, attempts: int) -> bool:
        """pending | failed | running (its earlier run is over) → running with this Glue run; and the run → chunk reference.

        ``attempts`` is the count the caller read: the write only lands if nobody started the chunk meanwhile.
        (A chunk ``bulk resume`` reopened after a cancel is pending again.)
        """
        retrying(self.ddb.put_item, TableName=self.table, Item=to_item({BULK_PK: job_run_key(job_run_id), BULK_SK: REF_ITEM,
                                                                         "bulk_run_id": run_id, "chunk_id": chunk_id}))
        now = iso(utcnow())
        return self._move_chunk(
            run_id, chunk_id, ChunkStatus.RUNNING,
            "#status IN (:pending, :failed, :running) AND attempts = :attempts",
            {"task_token": task_token, "execution": execution, "task_order": task_order, "job_name": job_name,
             "job_run_id": job_run_id, "route": route, "attempts": attempts + 1, "started_at": now},
            {":pending": str(ChunkStatus.PENDING), ":failed": str(ChunkStatus.FAILED), ":running": str(ChunkStatus.RUNNING),
             ":attempts": attempts},
            append_attempt={"attempt": attempts + 1, "job_run_id": job_run_id, "started_at": now, "execution": execution},
            remove=("last_error",),
        )

    def adopt_run(self, run_id: str, chunk_id: int, *, task_token: str, execution: str, task_order: int,
                  job_run_id: str) -> bool:
        """A newer task for a chunk whose Glue run is still going (a retry after a missed heartbeat, a resume): the
        chunk answers this task from now on, and is running again if it had been given up on meanwhile.

        ``task_order`` (execution attempt, then the state's retry count) keeps a late delivery of an older task
        from taking the token back.
        """
        return self._move_chunk(run_id, chunk_id, ChunkStatus.RUNNING,
                                "#status IN (:running, :failed) AND job_run_id = :run "
                                "AND (attribute_not_exists(task_order) OR task_order < :order)",
                                {"task_token": task_token, "execution": execution, "task_order": task_order},
                                {":running": str(ChunkStatus.RUNNING), ":failed": str(ChunkStatus.FAILED), ":run": job_run_id,
                                 ":order": task_order})

    def hand_to_execution(self, run_id: str, chunk_id: int, execution: str, task_order: int) -> bool:
        """A chunk not yet done now belongs to a new execution (`bulk resume`): the older execution's tasks for it are
        superseded, and its give-up step can no longer mark it failed."""
        values = {"execution": execution, "task_order": task_order, "updated_at": iso(utcnow())}
        request = update(self.table, {BULK_PK: run_id, BULK_SK: chunk_item(chunk_id)}, set=values, condition="#status <> :succeeded",
                         names={"#status": "status"}, values={":succeeded": str(ChunkStatus.SUCCEEDED)})
        return write_if(self.ddb.update_item, request, landed=holds(values))

    def finish_chunk(self, run_id: str, chunk_id: int, job_run_id: str, to: ChunkStatus, values: Mapping[str, Any]) -> bool:
        """running (with this Glue run) → succeeded | failed; False if the chunk moved on (another attempt, cancelled)."""
        assert to in (ChunkStatus.SUCCEEDED, ChunkStatus.FAILED)
        now = iso(utcnow())
        return self._move_chunk(run_id, chunk_id, to, "#status = :running AND job_run_id = :run",
                                {**values, "finished_at": now}, {":running": str(ChunkStatus.RUNNING), ":run": job_run_id},
                                append_attempt={"job_run_id": job_run_id, "ended_at": now, "outcome": str(to)})

    def skip_chunk(self, run_id: str, chunk_id: int, why: str) -> bool:
        """pending → succeeded without work (what it would write is already there, e.g. a backfill's known files)."""
        return self._move_chunk(run_id, chunk_id, ChunkStatus.SUCCEEDED, "#status = :pending",
                                {"skipped": why, "finished_at": iso(utcnow()), "attempts": 0}, {":pending": str(ChunkStatus.PENDING)})

    def fail_unstarted(self, run_id: str, chunk_id: int, error: str) -> bool:
        """pending | failed | running → failed, when the chunk's compute could not even be started."""
        return self._move_chunk(run_id, chunk_id, ChunkStatus.FAILED, "#status IN (:pending, :failed, :running)",
                                {"last_error": error[:2000], "finished_at": iso(utcnow())},
                                {":pending": str(ChunkStatus.PENDING), ":failed": str(ChunkStatus.FAILED),
                                 ":running": str(ChunkStatus.RUNNING)})

    def cancel_chunk(self, run_id: str, chunk_id: int) -> bool:
        return self._move_chunk(run_id, chunk_id, ChunkStatus.CANCELLED, "#status IN (:pending, :failed, :running)", {},
                                {":pending": str(ChunkStatus.PENDING), ":failed": str(ChunkStatus.FAILED),
                                 ":running": str(ChunkStatus.RUNNING)})

    def reopen_chunk(self, run_id: str, chunk_id: int) -> bool:
        """cancelled → pending (`bulk resume` of a cancelled run)."""
        return self._move_chunk(run_id, chunk_id, ChunkStatus.PENDING, "#status = :cancelled", {},
                                {":cancelled": str(ChunkStatus.CANCELLED)})

    def running_chunks(self) -> Iterator[dict[str, Any]]:
        """Chunks in flight, across the runs still running (what the watch heartbeats and settles)."""
        for run in self.active_runs():
            for chunk in self.chunks(run["run_id"]):
                if chunk["status"] == ChunkStatus.RUNNING:
                    yield chunk
