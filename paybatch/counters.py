"""The sharded counters: what every status move adds to its date's counts, in the same transaction as the move.

Operators' counts (files and manifests per status, events and their bytes) are read from here, a few items per
date, never from the tracking items. Manifests that finish are counted again in the bucket of the hour they
finished in (``finished#YYYY-MM-DDTHH``), with the Glue seconds their run is billed, and in their quarter hour's
(``finished#YYYY-MM-DDTHH:MM``) with the files and bytes they converted: what `monitor` shows for the last day and
its throughput are 27 small queries, whatever a day converted.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from paybatch.contracts.tracking import ManifestStatus, iso, utcnow
from paybatch.dynamo import from_item, to_item, update
from paybatch.pricing import glue_billed_seconds

# Counter items per date: each transaction adds to one of these at random, so no one item is hot.
COUNTER_SHARDS = 16
FINISHED_PREFIX = "finished#"  # the buckets finished manifests are counted in, apart from the dates' counters
FAMILIES = ("files:", "manifests:", "event:", "bytes:", "amount:")


@dataclass(frozen=True)
class CounterDelta:
    """What one status move adds to its date's counters: files or manifests per status, and counted events.

    ``events`` maps an event name (file_completed, rows_written …) to (count, bytes); ``amounts`` other sums
    (``billed_seconds:<job>``).
    """

    metric_date: str
    files: Mapping[str, int] = field(default_factory=dict)
    manifests: Mapping[str, int] = field(default_factory=dict)
    events: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    amounts: Mapping[str, int] = field(default_factory=dict)

    def attributes(self) -> dict[str, int]:
        values = {f"files:{k}": v for k, v in self.files.items()}
        values.update({f"manifests:{k}": v for k, v in self.manifests.items()})
        values.update({f"amount:{k}": v for k, v in self.amounts.items()})
        for name, (count, total) in self.events.items():
            values[f"event:{name}"] = values.get(f"event:{name}", 0) + count
            if total:
                values[f"bytes:{name}"] = values.get(f"bytes:{name}", 0) + total
        return {k: v for k, v in values.items() if v}


def counter_update(metrics_table: str, delta: CounterDelta) -> dict[str, Any] | None:
    """The transaction item adding ``delta`` to one random shard of its date's counters; None when it counts nothing."""
    values = delta.attributes()
    if not values:
        return None
    shard = {"metric_date": delta.metric_date, "metric_type": f"shard#{random.randrange(COUNTER_SHARDS):02d}"}
    return {"Update": update(metrics_table, shard, add=values, set={"updated_at": iso(utcnow())})}


def bucket_start(at: dt.datetime, minutes: int) -> dt.datetime:
    """The start of the ``minutes``-long bucket (60: an hour, 15: a quarter) ``at`` falls in."""
    at = at.astimezone(dt.UTC)
    return at.replace(minute=at.minute - at.minute % minutes, second=0, microsecond=0)


def finished_bucket(at: dt.datetime, minutes: int = 60) -> str:
    """The bucket a manifest finishing at ``at`` is counted in: its hour's, or (15) its quarter hour's."""
    return f"{FINISHED_PREFIX}{bucket_start(at, minutes):%Y-%m-%dT%H}" + (f":{bucket_start(at, minutes):%M}" if minutes != 60 else "")


def finished_manifest(status: str, manifest: Mapping[str, Any] | None, values: Mapping[str, Any] | None) -> list[CounterDelta]:
    """A manifest that reached ``status`` (terminal) now: in its hour's bucket, with the Glue seconds its run is billed
    when the move knows its job (``manifest``, the record read before the move) and duration (``values``); and, when
    it converted anything, in its quarter hour's bucket with the files and bytes it converted (the throughput)."""
    record, values, now = manifest or {}, values or {}, utcnow()
    job, seconds = record.get("job_name"), values.get("duration_seconds")
    amounts = {f"billed_seconds:{job}": round(glue_billed_seconds(float(seconds)))} if job and seconds is not None else {}
    deltas = [CounterDelta(finished_bucket(now), manifests={status: 1}, amounts=amounts)]
    if status != ManifestStatus.FAILED and "file_count" in record:
        converted = int(record["file_count"]) - int(values.get("files_failed") or 0)
        deltas.append(CounterDelta(finished_bucket(now, 15), amounts={"files_converted": converted,
                                                                      "bytes_converted": int(record.get("total_bytes", 0))}))
    return deltas


def finished_since(ddb: Any, metrics_table: str, since: dt.datetime, now: dt.datetime, minutes: int = 60) -> dict[str, int]:
    """The buckets (hours, or with 15 quarter hours) from the one ``since`` falls in to ``now``'s, added up (a query each)."""
    totals: dict[str, int] = {}
    start = bucket_start(since, minutes)
    while start <= now:
        for name, value in read_counts(ddb, metrics_table, finished_bucket(start, minutes)).items():
            totals[name] = totals.get(name, 0) + value
        start += dt.timedelta(minutes=minutes)
    return totals


def by_prefix(counts: Mapping[str, int], family: str) -> dict[str, int]:
    """One family of counters by status: ``by_prefix({"files:pending": 3}, "files")`` → ``{"pending": 3}``."""
    return {name.removeprefix(f"{family}:"): n for name, n in counts.items() if name.startswith(f"{family}:")}


def read_counts(ddb: Any, metrics_table: str, metric_date: str | None = None) -> dict[str, int]:
    """The counters of one date (one query of its shards), or of every date (a scan of the counter items; the
    buckets of finished manifests, which count them a second time, left out)."""
    if metric_date:
        pages = ddb.get_paginator("query").paginate(
            TableName=metrics_table, KeyConditionExpression="metric_date = :d", ExpressionAttributeValues=to_item({":d": metric_date}))
    else:
        pages = ddb.get_paginator("scan").paginate(TableName=metrics_table)
    totals: dict[str, int] = {}
    for page in pages:
        for raw in page["Items"]:
            item = from_item(raw)
            if metric_date is None and str(item.get("metric_date", "")).startswith(FINISHED_PREFIX):
                continue
            for name, value in item.items():
                if name.startswith(FAMILIES):
                    totals[name] = totals.get(name, 0) + int(value)
    return totals
