"""The sharded counters: what every status move adds to its date's counts, in the same transaction as the move.

Operators' counts (files and manifests per status, events and their bytes) are read from here, a few items per
date, never from the tracking items.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from paybatch.contracts.tracking import iso, utcnow
from paybatch.dynamo import from_item, to_item, update

# Counter items per date: each transaction adds to one of these at random, so no one item is hot.
COUNTER_SHARDS = 16


@dataclass(frozen=True)
class CounterDelta:
    """What one status move adds to its date's counters: files or manifests per status, and counted events.

    ``events`` maps an event name (file_completed, rows_written …) to (count, bytes).
    """

    metric_date: str
    files: Mapping[str, int] = field(default_factory=dict)
    manifests: Mapping[str, int] = field(default_factory=dict)
    events: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def attributes(self) -> dict[str, int]:
        values = {f"files:{k}": v for k, v in self.files.items()}
        values.update({f"manifests:{k}": v for k, v in self.manifests.items()})
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


def by_prefix(counts: Mapping[str, int], family: str) -> dict[str, int]:
    """One family of counters by status: ``by_prefix({"files:pending": 3}, "files")`` → ``{"pending": 3}``."""
    return {name.removeprefix(f"{family}:"): n for name, n in counts.items() if name.startswith(f"{family}:")}


def read_counts(ddb: Any, metrics_table: str, metric_date: str | None = None) -> dict[str, int]:
    """The counters of one date (one query of its shards), or of every date (a scan of the counter items)."""
    if metric_date:
        pages = ddb.get_paginator("query").paginate(
            TableName=metrics_table, KeyConditionExpression="metric_date = :d", ExpressionAttributeValues=to_item({":d": metric_date}))
    else:
        pages = ddb.get_paginator("scan").paginate(TableName=metrics_table)
    totals: dict[str, int] = {}
    for page in pages:
        for raw in page["Items"]:
            for name, value in from_item(raw).items():
                if name.startswith(("files:", "manifests:", "event:", "bytes:")):
                    totals[name] = totals.get(name, 0) + int(value)
    return totals
