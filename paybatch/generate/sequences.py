"""Sequence-number ranges per partition date, recorded per (date, job index) in the counter table.

The seed bumped a counter on every job start, so a retried job got a new range (gaps, and
duplicates once both attempts wrote). Here the first start of (date, job) records its range in
the same transaction that advances the date's high-water mark; every later start of that job
reads the record back and reuses the range. Ranges of different jobs never overlap, and within
a date they are consecutive from ``sequence_start``.
"""

from __future__ import annotations

import fcntl
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from paybatch.contracts.tracking import utcnow
from paybatch.dynamo import ConditionFailed, WriteFailed, from_item, to_item, transact, update
from paybatch.errors import PaybatchError
from paybatch.retry import retrying

HIGH_WATER = "next"
MAX_ATTEMPTS = 50


class SequenceAllocationError(PaybatchError):
    """A job asked again for a date's range with a different row count, or the ledger is unusable."""


@dataclass(frozen=True)
class Allocation:
    date: str
    job_index: int
    start: int
    count: int
    reused: bool = False

    @property
    def end(self) -> int:
        """Last sequence number of the range (inclusive)."""
        return self.start + self.count - 1


def partition_key(date: str) -> str:
    return f"authorization#{date}"


def job_key(job_index: int) -> str:
    return f"job#{job_index:05d}"


def _reuse(date: str, job_index: int, start: int, recorded: int, count: int) -> Allocation:
    if recorded != count:
        raise SequenceAllocationError(
            f"{date} job {job_index} already holds sequence numbers {start}..{start + recorded - 1} for {recorded} rows; "
            f"this run asks for {count}. Re-run with the same --rows to regenerate it, or use a new --job-index for more rows"
        )
    return Allocation(date, job_index, start, count, reused=True)


class SequenceLedger(Protocol):
    def allocate(self, date: str, job_index: int, count: int) -> Allocation: ...

    def allocations(self, date: str) -> list[Allocation]: ...


class DynamoSequenceLedger:
    """The partition-counter table: a high-water item per date and one record per (date, job)."""

    def __init__(self, client: Any, table: str, sequence_start: int) -> None:
        self.client, self.table, self.sequence_start = client, table, sequence_start

    def _get(self, date: str, sort_key: str) -> dict[str, Any] | None:
        item = retrying(self.client.get_item, TableName=self.table, ConsistentRead=True,
                        Key=to_item({"partition_key": partition_key(date), "allocation": sort_key})).get("Item")
        return from_item(item) if item else None

    def allocate(self, date: str, job_index: int, count: int) -> Allocation:
        for _ in range(MAX_ATTEMPTS):
            existing = self._get(date, job_key(job_index))
            if existing:
                return _reuse(date, job_index, int(existing["start"]), int(existing["count"]), count)
            high = self._get(date, HIGH_WATER)
            start = int(high["next_start"]) if high else self.sequence_start
            record = {"partition_key": partition_key(date), "allocation": job_key(job_index), "start": start, "count": count,
                      "created_at": utcnow().isoformat()}
            moved = update(self.table, {"partition_key": partition_key(date), "allocation": HIGH_WATER}, set={"next_start": start + count},
                           condition="next_start = :expected" if high else "attribute_not_exists(next_start)",
                           values={":expected": start} if high else None)
            try:
                transact(self.client, [{"Put": {"TableName": self.table, "Item": to_item(record),
                                                "ConditionExpression": "attribute_not_exists(partition_key)"}},
                                       {"Update": moved}])
            except ConditionFailed:
                continue  # another job moved the high-water mark or took this job's slot: read again
            except WriteFailed as exc:
                if exc.maybe_applied:
                    continue  # the answer was lost: this job's record, read again, says whether it landed
                raise SequenceAllocationError(f"cannot allocate sequence numbers in {self.table}: {exc}") from exc
            return Allocation(date, job_index, start, count)
        raise SequenceAllocationError(f"gave up allocating {date} job {job_index} after {MAX_ATTEMPTS} contended attempts")

    def allocations(self, date: str) -> list[Allocation]:
        items = [from_item(i) for i in retrying(self.client.query, TableName=self.table, ConsistentRead=True,
                                                KeyConditionExpression="partition_key = :pk",
                                                ExpressionAttributeValues=to_item({":pk": partition_key(date)}))["Items"]]
        return sorted((Allocation(date, int(i["allocation"][4:]), int(i["start"]), int(i["count"]))
                       for i in items if i["allocation"] != HIGH_WATER), key=lambda a: a.start)


class FileSequenceLedger:
    """The same records in a JSON file beside a local output folder (generation without any AWS endpoint)."""

    def __init__(self, path: Path, sequence_start: int) -> None:
        self.path, self.sequence_start = path, sequence_start

    def _locked(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path.with_suffix(".lock"), "w")
        fcntl.flock(handle, fcntl.LOCK_EX)
        return handle

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
        except json.JSONDecodeError as exc:
            raise SequenceAllocationError(f"the sequence ledger {self.path} is not valid JSON ({exc}); restore it or "
                                          "generate into a new folder") from exc
        return data

    def allocate(self, date: str, job_index: int, count: int) -> Allocation:
        lock = self._locked()
        try:
            data = self._read()
            day = data.setdefault(date, {HIGH_WATER: self.sequence_start, "jobs": {}})
            existing = day["jobs"].get(str(job_index))
            if existing:
                return _reuse(date, job_index, existing["start"], existing["count"], count)
            start = day[HIGH_WATER]
            day["jobs"][str(job_index)] = {"start": start, "count": count, "created_at": utcnow().isoformat()}
            day[HIGH_WATER] = start + count
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            tmp.replace(self.path)
            return Allocation(date, job_index, start, count)
        finally:
            lock.close()

    def allocations(self, date: str) -> list[Allocation]:
        jobs = self._read().get(date, {}).get("jobs", {})
        return sorted((Allocation(date, int(j), v["start"], v["count"]) for j, v in jobs.items()), key=lambda a: a.start)
