"""DynamoDB access for file items, manifest records, locks' table neighbours and metric counters.

Shared by the manifest builder, the scheduler, the conversion job and the CLI. Every status
move is a conditional write on the expected current status; every counter in the metrics
table moves in the same transaction as the status change it counts, so counts equal files.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from paybatch.aws import AwsClients
from paybatch.contracts.tracking import (
    FileStatus,
    ManifestStatus,
    iso,
    manifest_pk,
    utcnow,
)
from paybatch.resources import MANIFEST_STATUS_INDEX, STATUS_INDEX, TRACKING_PK, TRACKING_SK

# Completed files and manifests older than this (by upload or creation) are left out of operators' views.
OPS_COMPLETED_DAYS = 2.0

_SER = TypeSerializer()
_DESER = TypeDeserializer()


def to_ddb(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _SER.serialize(_plain_to_ddb(v)) for k, v in values.items()}


def from_ddb(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _ddb_to_plain(_DESER.deserialize(v)) for k, v in item.items()}


def _plain_to_ddb(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _plain_to_ddb(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_to_ddb(v) for v in value]
    return value


def _ddb_to_plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _ddb_to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ddb_to_plain(v) for v in value]
    return value


class ConditionFailed(Exception):
    """A conditional write (or items of a transaction) found a status other than expected."""

    def __init__(self, indices: Sequence[int] = ()) -> None:
        super().__init__(f"condition failed for item(s) {list(indices)}")
        self.indices = list(indices)


@dataclass(frozen=True)
class MetricDelta:
    """One counter move in the metrics table: +count files (or runs) and +bytes for a date."""

    metric_date: str
    metric_type: str
    count: int = 1
    total_bytes: int = 0


class TrackingStore:
    """The tracking and metrics tables of one environment."""

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self.ddb = clients.dynamodb
        self.table = clients.settings.tables.tracking
        self.metrics_table = clients.settings.tables.metrics
        self.ttl_seconds = clients.settings.tracking.ttl_days * 86400

    # --- building blocks -------------------------------------------------------------------
    def expiry(self) -> int:
        return int(time.time()) + self.ttl_seconds

    def metric_item(self, delta: MetricDelta) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.metrics_table,
                "Key": to_ddb({"metric_date": delta.metric_date, "metric_type": delta.metric_type}),
                "UpdateExpression": "ADD #c :c, #b :b SET updated_at = :now",
                "ExpressionAttributeNames": {"#c": "count", "#b": "total_bytes"},
                "ExpressionAttributeValues": to_ddb({":c": delta.count, ":b": delta.total_bytes, ":now": iso(utcnow())}),
            }
        }

    def transact(self, items: list[dict[str, Any]], attempts: int = 8) -> None:
        """TransactWriteItems with retries on conflicts; ConditionFailed names the items that failed."""
        for attempt in range(attempts):
            try:
                self.ddb.transact_write_items(TransactItems=items)
                return
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                failed = [i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"]
                if failed:
                    raise ConditionFailed(failed) from None
                retryable = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
                if not any(r.get("Code") in retryable for r in reasons) and reasons:
                    raise
                time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5))
        raise ConditionFailed([]) from None

    def _update(self, key: Mapping[str, Any], set_values: Mapping[str, Any], condition: str,
                condition_values: Mapping[str, Any], remove: Iterable[str] = (),
                table: str | None = None) -> dict[str, Any]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets = []
        for i, (attr, value) in enumerate(set_values.items()):
            names[f"#s{i}"] = attr
            values[f":s{i}"] = value
            sets.append(f"#s{i} = :s{i}")
        removes = []
        for i, attr in enumerate(remove):
            names[f"#r{i}"] = attr
            removes.append(f"#r{i}")
        expression = ("SET " + ", ".join(sets)) if sets else ""
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        for token, attr in (("#status", "status"), ("#mstatus", "manifest_status"), ("#etag", "etag")):
            if token in condition:
                names[token] = attr
        values.update(condition_values)
        return {
            "TableName": table or self.table,
            "Key": to_ddb(key),
            "UpdateExpression": expression.strip(),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_ddb(values),
        }

    # --- files ---------------------------------------------------------------------------------
    def get_file(self, date_prefix: str, file_key: str) -> dict[str, Any] | None:
        response = self.ddb.get_item(
            TableName=self.table, Key=to_ddb({TRACKING_PK: date_prefix, TRACKING_SK: file_key}), ConsistentRead=True
        )
        return from_ddb(response["Item"]) if "Item" in response else None

    def put_new_file(self, item: Mapping[str, Any], metrics: Sequence[MetricDelta]) -> bool:
        """Register a file never seen before; False if an item for the key already exists."""
        put = {
            "Put": {
                "TableName": self.table,
                "Item": to_ddb(item),
                "ConditionExpression": "attribute_not_exists(#k)",
                "ExpressionAttributeNames": {"#k": TRACKING_SK},
            }
        }
        try:
            self.transact([put, *(self.metric_item(m) for m in metrics)])
        except ConditionFailed:
            return False
        return True

    def replace_file(self, item: Mapping[str, Any], expected_status: str, expected_etag: str,
                     metrics: Sequence[MetricDelta]) -> bool:
        """Replace a file's item by a new version of the object, if it is still what we read."""
        put = {
            "Put": {
                "TableName": self.table,
                "Item": to_ddb(item),
                "ConditionExpression": "#status = :st AND #etag = :et",
                "ExpressionAttributeNames": {"#status": "status", "#etag": "etag"},
                "ExpressionAttributeValues": to_ddb({":st": expected_status, ":et": expected_etag}),
            }
        }
        try:
            self.transact([put, *(self.metric_item(m) for m in metrics)])
        except ConditionFailed:
            return False
        return True

    def file_transition_item(self, date_prefix: str, file_key: str, expected: FileStatus | Sequence[FileStatus],
                             new: FileStatus, set_values: Mapping[str, Any] | None = None,
                             remove: Iterable[str] = (), etag: str | None = None,
                             batch_id: str | None = None) -> dict[str, Any]:
        """The Update for one conditional status move (optionally pinned to an etag or batch)."""
        expected_list = [expected] if isinstance(expected, str) else list(expected)  # one status, or several
        placeholders = {f":e{i}": str(s) for i, s in enumerate(expected_list)}
        condition = "#status IN (" + ", ".join(placeholders) + ")"
        values: dict[str, Any] = dict(placeholders)
        if etag is not None:
            condition += " AND #etag = :etag"
            values[":etag"] = etag
        if batch_id is not None:
            condition += " AND batch_id = :bid"
            values[":bid"] = batch_id
        attrs = {"status": str(new), "updated_at": iso(utcnow()), **(set_values or {})}
        return self._update({TRACKING_PK: date_prefix, TRACKING_SK: file_key}, attrs, condition, values, remove)

    def transition_file(self, date_prefix: str, file_key: str, expected: FileStatus | Sequence[FileStatus],
                        new: FileStatus, set_values: Mapping[str, Any] | None = None, remove: Iterable[str] = (),
                        metrics: Sequence[MetricDelta] = (), etag: str | None = None,
                        batch_id: str | None = None) -> bool:
        """Move one file's status; False if it was not in an expected status (someone else moved it)."""
        update = self.file_transition_item(date_prefix, file_key, expected, new, set_values, remove, etag, batch_id)
        try:
            self.transact([{"Update": update}, *(self.metric_item(m) for m in metrics)])
        except ConditionFailed:
            return False
        return True

    def _query_index(self, index: str, key_attr: str, value: str, filters: Mapping[str, str] | None = None,
                     attributes: Sequence[str] | None = None, since: tuple[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Items of one index partition; ``since`` = (the index's sort key, lowest value) reads only a recent range."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": key_attr},
            "ExpressionAttributeValues": to_ddb({":v": value}),
        }
        if since:
            kwargs["KeyConditionExpression"] += " AND #s >= :s"
            kwargs["ExpressionAttributeNames"]["#s"] = since[0]
            kwargs["ExpressionAttributeValues"][":s"] = _SER.serialize(since[1])
        if attributes:
            kwargs["ExpressionAttributeNames"].update({f"#p{i}": name for i, name in enumerate(attributes)})
            kwargs["ProjectionExpression"] = ", ".join(f"#p{i}" for i in range(len(attributes)))
        if filters:
            clauses = []
            for i, (attr, val) in enumerate(filters.items()):
                kwargs["ExpressionAttributeNames"][f"#f{i}"] = attr
                kwargs["ExpressionAttributeValues"][f":f{i}"] = _SER.serialize(val)
                clauses.append(f"#f{i} = :f{i}")
            kwargs["FilterExpression"] = " AND ".join(clauses)
        for page in self.ddb.get_paginator("query").paginate(**kwargs):
            for item in page["Items"]:
                yield from_ddb(item)

    def files_with_status(self, status: FileStatus, date_prefix: str | None = None,
                          attributes: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Files in one status, oldest upload first (status-index), optionally for one date.

        ``attributes`` names the only ones to return (the builder's hot path reads fewer bytes).
        """
        filters = {TRACKING_PK: date_prefix} if date_prefix else None
        return list(self._query_index(STATUS_INDEX, "status", str(status), filters, attributes))

    def oldest_with_status(self, status: FileStatus) -> dict[str, Any] | None:
        """The file waiting longest in one status: one item read from the status-index, whatever the table's size."""
        response = self.ddb.query(TableName=self.table, IndexName=STATUS_INDEX, KeyConditionExpression="#k = :v",
                                  ExpressionAttributeNames={"#k": "status"}, ExpressionAttributeValues=to_ddb({":v": str(status)}),
                                  ScanIndexForward=True, Limit=1)
        return from_ddb(response["Items"][0]) if response["Items"] else None

    def ops_files(self, completed_days: float = OPS_COMPLETED_DAYS) -> list[dict[str, Any]]:
        """What operators look at: every file not completed, and the completed ones uploaded in the last days.

        Read from the status index only. Completed files are nearly all of the table (at prod volume,
        338,000 a day for the tracking TTL), so a scan is never the right read for a monitor or a report.
        """
        cutoff = iso(utcnow() - timedelta(days=completed_days))
        return [item for status in FileStatus for item in self._query_index(
            STATUS_INDEX, "status", str(status), since=("upload_time", cutoff) if status == FileStatus.COMPLETED else None)]

    def ops_manifests(self, completed_days: float = OPS_COMPLETED_DAYS) -> list[dict[str, Any]]:
        """Every manifest not completed, and the completed ones created in the last days, oldest first."""
        cutoff = iso(utcnow() - timedelta(days=completed_days))
        items = [item for status in ManifestStatus for item in self._query_index(
            MANIFEST_STATUS_INDEX, "manifest_status", str(status),
            since=("created_at", cutoff) if status == ManifestStatus.COMPLETED else None)]
        return sorted(items, key=lambda m: m.get("created_at", ""))

    def all_files(self) -> list[dict[str, Any]]:
        """Every file item (a scan: for the CLI and tests, not the hot path)."""
        items = []
        for page in self.ddb.get_paginator("scan").paginate(TableName=self.table):
            for raw in page["Items"]:
                item = from_ddb(raw)
                if "status" in item:
                    items.append(item)
        return items

    def _partition(self, pk: str) -> list[dict[str, Any]]:
        items = []
        for page in self.ddb.get_paginator("query").paginate(
                TableName=self.table, KeyConditionExpression="#pk = :pk", ExpressionAttributeNames={"#pk": TRACKING_PK},
                ExpressionAttributeValues=to_ddb({":pk": pk})):
            items += [from_ddb(i) for i in page["Items"]]
        return items

    def files_for_date(self, date_prefix: str) -> list[dict[str, Any]]:
        """Every file of one date (a query on the table's partition key, not a scan)."""
        return [item for item in self._partition(date_prefix) if "status" in item]

    # --- manifests -----------------------------------------------------------------------------
    def manifests_for_date(self, date_prefix: str) -> list[dict[str, Any]]:
        """Every manifest of one date (a query on its partition)."""
        return self._partition(manifest_pk(date_prefix))

    def get_manifest(self, date_prefix: str, batch_id: str) -> dict[str, Any] | None:
        return self.get_file(manifest_pk(date_prefix), batch_id)

    def manifest_key(self, date_prefix: str, batch_id: str) -> dict[str, str]:
        return {TRACKING_PK: manifest_pk(date_prefix), TRACKING_SK: batch_id}

    def manifests_with_status(self, status: ManifestStatus) -> list[dict[str, Any]]:
        return list(self._query_index(MANIFEST_STATUS_INDEX, "manifest_status", str(status)))

    def all_manifests(self) -> list[dict[str, Any]]:
        """Every manifest, oldest first. Only manifests carry ``manifest_status``, so its index holds
        nothing else: one query per status reads the manifests alone, where a scan read every file."""
        items = [item for status in ManifestStatus for item in self.manifests_with_status(status)]
        return sorted(items, key=lambda m: m.get("created_at", ""))

    def manifest_update_item(self, date_prefix: str, batch_id: str,
                             expected: ManifestStatus | Sequence[ManifestStatus], new: ManifestStatus | None,
                             set_values: Mapping[str, Any] | None = None, remove: Iterable[str] = ()) -> dict[str, Any]:
        expected_list = [expected] if isinstance(expected, str) else list(expected)  # one status, or several
        placeholders = {f":e{i}": str(s) for i, s in enumerate(expected_list)}
        condition = "#mstatus IN (" + ", ".join(placeholders) + ")"
        attrs: dict[str, Any] = {"updated_at": iso(utcnow()), **(set_values or {})}
        if new is not None:
            attrs["manifest_status"] = str(new)
        return self._update(self.manifest_key(date_prefix, batch_id), attrs, condition, placeholders, remove)

    def update_manifest(self, date_prefix: str, batch_id: str, expected: ManifestStatus | Sequence[ManifestStatus],
                        new: ManifestStatus | None, set_values: Mapping[str, Any] | None = None,
                        remove: Iterable[str] = (), metrics: Sequence[MetricDelta] = ()) -> bool:
        update = self.manifest_update_item(date_prefix, batch_id, expected, new, set_values, remove)
        try:
            self.transact([{"Update": update}, *(self.metric_item(m) for m in metrics)])
        except ConditionFailed:
            return False
        return True

    def delete_manifest(self, date_prefix: str, batch_id: str, expected: ManifestStatus) -> bool:
        try:
            self.ddb.delete_item(
                TableName=self.table, Key=to_ddb(self.manifest_key(date_prefix, batch_id)),
                ConditionExpression="manifest_status = :s", ExpressionAttributeValues=to_ddb({":s": str(expected)}),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # --- metrics -------------------------------------------------------------------------------
    def metrics(self, metric_date: str | None = None) -> list[dict[str, Any]]:
        if metric_date:
            response = self.ddb.query(
                TableName=self.metrics_table, KeyConditionExpression="metric_date = :d",
                ExpressionAttributeValues=to_ddb({":d": metric_date}),
            )
            return [from_ddb(i) for i in response["Items"]]
        items = []
        for page in self.ddb.get_paginator("scan").paginate(TableName=self.metrics_table):
            items += [from_ddb(i) for i in page["Items"]]
        return items

    def add_metrics(self, metrics: Sequence[MetricDelta]) -> None:
        """Counters that do not belong to a status move (e.g. runs started)."""
        for delta in metrics:
            update = self.metric_item(delta)["Update"]
            self.ddb.update_item(**update)
