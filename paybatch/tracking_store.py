"""DynamoDB access for file items, manifest records and counters: requests, reads and retries.

What a status move may do, and its counters, is decided in ``paybatch.transitions``; this module
builds the requests and sends them through ``paybatch.dynamo``. A write either lands, raises ``ConditionFailed``
(an item was not as expected: another writer moved it) or raises ``WriteFailed`` (nothing was written).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from paybatch.aws import AwsClients
from paybatch.contracts.tracking import (
    FileStatus,
    ManifestStatus,
    iso,
    manifest_pk,
    utcnow,
)
from paybatch.counters import CounterDelta, counter_update, read_counts
from paybatch.dynamo import batch_get, from_item, one_of, to_item, to_value, transact, update, write_if
from paybatch.resources import MANIFEST_STATUS_INDEX, STATUS_INDEX, TRACKING_PK, TRACKING_SK
from paybatch.retry import retrying

# Completed files and manifests older than this (by upload or creation) are left out of operators' views.
OPS_COMPLETED_DAYS = 2.0


class TrackingStore:
    """The tracking and metrics tables of one environment."""

    retry_pause = 0.05  # seconds before the first retry of a conflicting transaction, doubled each time

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self.ddb = clients.dynamodb
        self.table = clients.settings.tables.tracking
        self.metrics_table = clients.settings.tables.metrics
        self.ttl_seconds = clients.settings.tracking.ttl_days * 86400

    # --- building blocks -------------------------------------------------------------------
    def expiry(self) -> int:
        return int(time.time()) + self.ttl_seconds

    def counter_item(self, delta: CounterDelta) -> dict[str, Any] | None:
        """The Update of one random shard of the date's counters (``paybatch.counters``), or None."""
        return counter_update(self.metrics_table, delta)

    def transact(self, items: list[dict[str, Any]], attempts: int = 8) -> None:
        """One transaction (``paybatch.dynamo.transact``: one request token over its retries)."""
        transact(self.ddb, items, attempts)

    def _update(self, key: Mapping[str, Any], set_values: Mapping[str, Any], condition: str,
                condition_values: Mapping[str, Any], remove: Iterable[str] = ()) -> dict[str, Any]:
        names = {token: attr for token, attr in (("#status", "status"), ("#mstatus", "manifest_status"), ("#etag", "etag"))
                 if token in condition}
        return update(self.table, key, set=set_values, remove=remove, condition=condition, names=names, values=condition_values)

    # --- files ---------------------------------------------------------------------------------
    def get_file(self, date_prefix: str, file_key: str) -> dict[str, Any] | None:
        response = retrying(self.ddb.get_item,
                            TableName=self.table, Key=to_item({TRACKING_PK: date_prefix, TRACKING_SK: file_key}), ConsistentRead=True)
        return from_item(response["Item"]) if "Item" in response else None

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

    def _query_index(self, index: str, key_attr: str, value: str, filters: Mapping[str, str] | None = None,
                     attributes: Sequence[str] | None = None, since: tuple[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Items of one index partition; ``since`` = (the index's sort key, lowest value) reads only a recent range."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": key_attr},
            "ExpressionAttributeValues": to_item({":v": value}),
        }
        if since:
            kwargs["KeyConditionExpression"] += " AND #s >= :s"
            kwargs["ExpressionAttributeNames"]["#s"] = since[0]
            kwargs["ExpressionAttributeValues"][":s"] = to_value(since[1])
        if attributes:
            kwargs["ExpressionAttributeNames"].update({f"#p{i}": name for i, name in enumerate(attributes)})
            kwargs["ProjectionExpression"] = ", ".join(f"#p{i}" for i in range(len(attributes)))
        if filters:
            clauses = []
            for i, (attr, val) in enumerate(filters.items()):
                kwargs["ExpressionAttributeNames"][f"#f{i}"] = attr
                kwargs["ExpressionAttributeValues"][f":f{i}"] = to_value(val)
                clauses.append(f"#f{i} = :f{i}")
            kwargs["FilterExpression"] = " AND ".join(clauses)
        for page in self.ddb.get_paginator("query").paginate(**kwargs):
            for item in page["Items"]:
                yield from_item(item)

    def files_with_status(self, status: FileStatus, date_prefix: str | None = None,
                          attributes: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Files in one status, oldest upload first (status-index), optionally for one date.

        ``attributes`` names the only ones to return (the builder's hot path reads fewer bytes).
        """
        filters = {TRACKING_PK: date_prefix} if date_prefix else None
        return retrying(lambda: list(self._query_index(STATUS_INDEX, "status", str(status), filters, attributes)))

    def oldest_with_status(self, status: FileStatus) -> dict[str, Any] | None:
        """The file waiting longest in one status: one item read from the status-index, whatever the table's size."""
        response = self.ddb.query(TableName=self.table, IndexName=STATUS_INDEX, KeyConditionExpression="#k = :v",
                                  ExpressionAttributeNames={"#k": "status"}, ExpressionAttributeValues=to_item({":v": str(status)}),
                                  ScanIndexForward=True, Limit=1)
        return from_item(response["Items"][0]) if response["Items"] else None

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

    def unfinished_files(self) -> list[dict[str, Any]]:
        """Every file not completed (pending, in flight, quarantined, failed): what an operator's refresh reads.

        Completed files are nearly all of the table; their counts come from the counters, never from the items.
        """
        return [item for status in FileStatus if status != FileStatus.COMPLETED
                for item in retrying(lambda s=status: list(self._query_index(STATUS_INDEX, "status", str(s))))]

    def unfinished_manifests(self) -> list[dict[str, Any]]:
        """Every manifest not completed (being made, queued, running, failed or partial), oldest first."""
        items = [m for status in ManifestStatus if status != ManifestStatus.COMPLETED for m in self.manifests_with_status(status)]
        return sorted(items, key=lambda m: m.get("created_at", ""))

    def all_files(self) -> list[dict[str, Any]]:
        """Every file item (a scan: for the CLI and tests, not the hot path)."""
        items = []
        for page in self.ddb.get_paginator("scan").paginate(TableName=self.table):
            for raw in page["Items"]:
                item = from_item(raw)
                if "status" in item:
                    items.append(item)
        return items

    def _partition(self, pk: str) -> list[dict[str, Any]]:
        items = []
        for page in self.ddb.get_paginator("query").paginate(
                TableName=self.table, KeyConditionExpression="#pk = :pk", ExpressionAttributeNames={"#pk": TRACKING_PK},
                ExpressionAttributeValues=to_item({":pk": pk})):
            items += [from_item(i) for i in page["Items"]]
        return items

    def files_for_date(self, date_prefix: str) -> list[dict[str, Any]]:
        """Every file of one date (a query on the table's partition key, not a scan)."""
        return [item for item in self._partition(date_prefix) if "status" in item]

    def file_etags_for_date(self, date_prefix: str) -> tuple[dict[str, str], int]:
        """key → etag of every file of one date, from one query of its partition; and the pages read."""
        etags: dict[str, str] = {}
        pages = 0
        for page in self.ddb.get_paginator("query").paginate(
                TableName=self.table, KeyConditionExpression="#pk = :pk", ProjectionExpression="#sk, etag",
                ExpressionAttributeNames={"#pk": TRACKING_PK, "#sk": TRACKING_SK},
                ExpressionAttributeValues=to_item({":pk": date_prefix})):
            pages += 1
            for raw in page["Items"]:
                item = from_item(raw)
                if "etag" in item:
                    etags[item[TRACKING_SK]] = item["etag"]
        return etags, pages

    def file_etags(self, keys: Sequence[tuple[str, str]]) -> tuple[dict[tuple[str, str], str], int]:
        """(date, key) → etag for the files that have an item, 100 keys per BatchGetItem; and the requests made."""
        items, requests = batch_get(self.ddb, self.table, [{TRACKING_PK: d, TRACKING_SK: k} for d, k in keys],
                                    projection="#pk, #sk, etag", names={"#pk": TRACKING_PK, "#sk": TRACKING_SK})
        return {(item[TRACKING_PK], item[TRACKING_SK]): item["etag"] for item in items}, requests

    def save_item(self, pk: str, sk: str, attributes: Mapping[str, Any]) -> None:
        """Write a bookkeeping item of the scheduler's own (not a file or manifest: no status, no counters)."""
        retrying(self.ddb.put_item, TableName=self.table, Item=to_item({TRACKING_PK: pk, TRACKING_SK: sk, **attributes}))

    # --- manifests -----------------------------------------------------------------------------
    def manifests_for_date(self, date_prefix: str) -> list[dict[str, Any]]:
        """Every manifest of one date (a query on its partition)."""
        return self._partition(manifest_pk(date_prefix))

    def get_manifest(self, date_prefix: str, batch_id: str) -> dict[str, Any] | None:
        return self.get_file(manifest_pk(date_prefix), batch_id)

    def annotate_manifest(self, date_prefix: str, batch_id: str, values: Mapping[str, Any]) -> None:
        """Set bookkeeping attributes on an existing manifest record (no status move, no counters)."""
        update = self._update(self.manifest_key(date_prefix, batch_id), values, "attribute_exists(manifest_status)", {})
        retrying(self.ddb.update_item, **update)

    def manifest_key(self, date_prefix: str, batch_id: str) -> dict[str, str]:
        return {TRACKING_PK: manifest_pk(date_prefix), TRACKING_SK: batch_id}

    def manifests_with_status(self, status: ManifestStatus) -> list[dict[str, Any]]:
        return retrying(lambda: list(self._query_index(MANIFEST_STATUS_INDEX, "manifest_status", str(status))))

    def all_manifests(self) -> list[dict[str, Any]]:
        """Every manifest, oldest first. Only manifests carry ``manifest_status``, so its index holds
        nothing else: one query per status reads the manifests alone, where a scan read every file."""
        items = [item for status in ManifestStatus for item in self.manifests_with_status(status)]
        return sorted(items, key=lambda m: m.get("created_at", ""))

    def manifest_update_item(self, date_prefix: str, batch_id: str,
                             expected: ManifestStatus | Sequence[ManifestStatus], new: ManifestStatus | None,
                             set_values: Mapping[str, Any] | None = None, remove: Iterable[str] = (),
                             run_token: str | None = None) -> dict[str, Any]:
        expected_list = [expected] if isinstance(expected, str) else list(expected)  # one status, or several
        placeholders = {f":e{i}": str(s) for i, s in enumerate(expected_list)}
        condition = "#mstatus IN (" + ", ".join(placeholders) + ")"
        if run_token is not None:  # only the manifest's recorded run may record its result
            condition += " AND run_token = :rt"
            placeholders[":rt"] = run_token
        attrs: dict[str, Any] = {"updated_at": iso(utcnow()), **(set_values or {})}
        if new is not None:
            attrs["manifest_status"] = str(new)
        return self._update(self.manifest_key(date_prefix, batch_id), attrs, condition, placeholders, remove)

    def manifest_claim_item(self, date_prefix: str, batch_id: str, entries: list[dict[str, Any]], *, env: str,
                            created_at: str, input_format: str, fence: int, manifest_path: str,
                            bulk_run: str | None = None) -> dict[str, Any]:
        """The Update that appends claimed files to a manifest record still ``creating`` (creating it if new).

        ``bulk_run`` marks a manifest a bulk backfill owns: its run is started, watched and retried by that
        run's state machine, not by the scheduler.
        """
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": to_item(self.manifest_key(date_prefix, batch_id)),
            "UpdateExpression": (
                "SET manifest_status = :creating, files = list_append(if_not_exists(files, :empty), :files), "
                "file_count = if_not_exists(file_count, :zero) + :n, "
                "total_bytes = if_not_exists(total_bytes, :zero) + :bytes, "
                "batch_id = :bid, #date = :date, created_at = if_not_exists(created_at, :now), updated_at = :now, "
                "env = :env, input_format = :fmt, fence = :fence, attempts = if_not_exists(attempts, :zero), "
                "manifest_path = :path"
            ),
            "ConditionExpression": "attribute_not_exists(manifest_status) OR manifest_status = :creating",
            "ExpressionAttributeNames": {"#date": "manifest_date"},
            "ExpressionAttributeValues": to_item({
                ":creating": str(ManifestStatus.CREATING), ":empty": [], ":files": entries, ":zero": 0,
                ":n": len(entries), ":bytes": sum(e["size"] for e in entries), ":bid": batch_id,
                ":date": date_prefix, ":now": created_at, ":env": env, ":fmt": input_format, ":fence": fence,
                ":path": manifest_path,
            }),
        }
        if bulk_run:
            update["UpdateExpression"] += ", bulk_run = :bulk"
            update["ExpressionAttributeValues"][":bulk"] = to_value(bulk_run)
        return update

    def run_fence(self, date_prefix: str, batch_id: str, run_token: str) -> dict[str, Any]:
        """The ConditionCheck a run adds to each of its writes: the manifest still names this run as its run."""
        return {"ConditionCheck": {"TableName": self.table, "Key": to_item(self.manifest_key(date_prefix, batch_id)),
                                   "ConditionExpression": "run_token = :rt",
                                   "ExpressionAttributeValues": to_item({":rt": run_token})}}

    def take_start_lease(self, date_prefix: str, batch_id: str, seconds: float, statuses: Sequence[ManifestStatus],
                         run_token: str) -> dict[str, Any] | None:
        """A short lease on starting a manifest's run (so two dispatchers do not start it twice), recording the token
        of the run about to start (the only run whose writes the manifest then accepts): the record, or None."""
        now = time.time()
        in_status, values = one_of("manifest_status", statuses)
        lease = {"start_lease": now + seconds, "run_token": run_token}
        request = {**update(self.table, self.manifest_key(date_prefix, batch_id), set=lease,
                            condition=f"{in_status} AND (attribute_not_exists(start_lease) OR start_lease < :now OR run_token = :rt)",
                            values={**values, ":now": now, ":rt": run_token}), "ReturnValues": "ALL_NEW"}
        answer: dict[str, Any] = {}

        def take(**kwargs: Any) -> None:
            answer.update(self.ddb.update_item(**kwargs))

        # the same token retakes the lease it may already hold, so a lost answer's retry lands (and returns the record)
        if not write_if(take, request):
            return None
        return from_item(answer["Attributes"]) if "Attributes" in answer else self.get_manifest(date_prefix, batch_id)

    def delete_manifest(self, date_prefix: str, batch_id: str, expected: ManifestStatus) -> bool:
        return write_if(self.ddb.delete_item, {"TableName": self.table, "Key": to_item(self.manifest_key(date_prefix, batch_id)),
                                               "ConditionExpression": "manifest_status = :s",
                                               "ExpressionAttributeValues": to_item({":s": str(expected)})})

    # --- counters ------------------------------------------------------------------------------
    def counts(self, metric_date: str | None = None) -> dict[str, int]:
        """The counters of one date, or of every date (``paybatch.counters.read_counts``)."""
        return read_counts(self.ddb, self.metrics_table, metric_date)
