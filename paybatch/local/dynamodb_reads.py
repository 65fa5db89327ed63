"""DynamoDB reads on the local endpoint that cost what they return, as they do on DynamoDB.

Index slices. moto answers a query on a secondary index by sorting every item of the table and testing each one against the
key condition. On a production day's tracking table (about 676,000 items) an operator's refresh, a dozen small
index queries, took 9–13 s: the time of those walks, not of what was read. Here each index keeps its partitions
(the items of one partition-key value, sorted on the index's sort key), and a query hands moto only the slice its
key condition and its page's start key can match. moto then applies the conditions, the order, the paging and the
projection exactly as before, on that slice: the answers are the same, a superset went in.

The partitions are built again on the first query after a write: the endpoint runs DynamoDB requests one at a
time and calls ``note_request`` for each, so a refresh between writes pays one pass over the table and each query
after it only its slice. Only string and number keys are sliced; any other query goes to moto whole.

Plain answers. moto writes every answer through a serializer that walks the API's model for each value: about
1 ms per item read, so 2,000 pending files took 2 s to send. An item read (GetItem, Query, Scan, BatchGetItem)
is already in DynamoDB's wire form, so when it holds only JSON values (no binary) it is written with ``json.dumps``
under the headers moto's serializer gives; anything else goes through the serializer as before.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

# Requests that never change an item: every other DynamoDB request starts a new generation.
READ_ONLY = frozenset({
    "BatchGetItem", "DescribeContinuousBackups", "DescribeEndpoints", "DescribeLimits", "DescribeTable",
    "DescribeTimeToLive", "GetItem", "ListTables", "ListTagsOfResource", "Query", "Scan", "TransactGetItems",
})
ITEM_READS = frozenset({"BatchGetItem", "GetItem", "Query", "Scan"})
LOWER_BOUNDS = {"=", ">", ">=", "BETWEEN", "BEGINS_WITH"}
UPPER_BOUNDS = {"=", "<", "<=", "BETWEEN"}


@dataclass
class _Partition:
    """One partition of an index: its items and their sort-key values, in sort-key order."""

    kind: str | None  # the sort key's type, "S" or "N" (None: the index has no sort key)
    keys: list[Any] = field(default_factory=list)
    items: list[Any] = field(default_factory=list)


@dataclass
class _Index:
    generation: int
    partitions: dict[Any, _Partition]


class IndexSlices:
    """The partitions of every secondary index, valid for one generation of writes."""

    def __init__(self) -> None:
        self.generation = 0
        self.indexes: dict[tuple[int, str], _Index] = {}

    def note_request(self, target: str) -> None:
        """Called for each DynamoDB request (``X-Amz-Target``), before it runs."""
        if target.rpartition(".")[2] not in READ_ONLY:
            self.generation += 1
            self.indexes.clear()

    def candidates(self, table: Any, index_name: str, hash_attr: str, hash_value: Any, range_attr: str | None,
                   comparison: str | None, bounds: list[Any], start_key: dict[str, Any] | None,
                   forward: bool) -> list[Any] | None:
        """The items a query's key condition can match (a superset, in sort-key order), or None when the query cannot
        be sliced."""
        hash_key = plain(hash_value)
        if hash_key is None:
            return None
        index = self.indexes.get((id(table), index_name))
        if index is None or index.generation != self.generation:
            built = partitions(table, hash_attr, range_attr)
            if built is None:
                return None
            index = self.indexes[(id(table), index_name)] = _Index(self.generation, built)
        partition = index.partitions.get(hash_key)
        if partition is None:
            return []
        low, high = 0, len(partition.items)
        values = [plain(b) for b in bounds]
        if comparison and values and all(v is not None and v[0] == partition.kind for v in values):
            if comparison in LOWER_BOUNDS:
                low = bisect.bisect_left(partition.keys, values[0][1], lo=low, hi=high)
            if comparison in UPPER_BOUNDS:
                high = bisect.bisect_right(partition.keys, values[-1][1], lo=low, hi=high)
        resume = plain_attribute(start_key.get(range_attr)) if start_key and range_attr else None
        if resume is not None and resume[0] == partition.kind:
            if forward:
                low = max(low, bisect.bisect_left(partition.keys, resume[1], lo=low, hi=high))
            else:
                high = min(high, bisect.bisect_right(partition.keys, resume[1], lo=low, hi=high))
        return partition.items[low:high]


def _not_plain(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} needs moto's serializer")


def plain(value: Any) -> Any:
    """A DynamoType's value when it is a string or a number (what the slices order on), else None."""
    if value is None:
        return None
    if value.type == "S":
        return ("S", value.value)
    if value.type == "N":
        return ("N", Decimal(value.value))
    return None


def plain_attribute(attribute: dict[str, Any] | None) -> Any:
    """The same for an attribute in a request's JSON form (a page's start key)."""
    if not attribute or len(attribute) != 1:
        return None
    kind, value = next(iter(attribute.items()))
    return ("S", value) if kind == "S" else ("N", Decimal(value)) if kind == "N" else None


def table_items(table: Any) -> list[Any]:
    """Every item of a moto table, in no particular order."""
    if table.range_key_attr:
        return [item for hash_set in table.items.values() for item in hash_set.values()]
    return list(table.items.values())


def partitions(table: Any, hash_attr: str, range_attr: str | None) -> dict[Any, _Partition] | None:
    """Every partition of an index, or None when a key is neither a string nor a number, or a sort key mixes the two."""
    grouped: dict[Any, list[tuple[Any, Any]]] = {}
    key_attrs = [hash_attr, range_attr] if range_attr else [hash_attr]
    for item in table_items(table):
        values = [item.attrs.get(attr) for attr in key_attrs]
        if any(value is None for value in values):
            continue  # not in the index
        keys = [plain(value) for value in values]
        if any(key is None for key in keys):
            return None
        grouped.setdefault(keys[0], []).append((keys[1] if range_attr else None, item))
    built = {}
    for hash_key, members in grouped.items():
        kinds = {key[0] for key, _ in members} if range_attr else {None}
        if len(kinds) > 1:
            return None
        if range_attr:
            members.sort(key=lambda member: member[0][1])
        built[hash_key] = _Partition(kinds.pop(), [key[1] if key else None for key, _ in members],
                                     [item for _, item in members])
    return built


SLICES = IndexSlices()


def install() -> None:
    """Route moto's secondary-index queries through the slices, and its item reads' answers through ``json.dumps``."""
    from moto.core.responses import ActionResult
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoResult

    serialized = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name in ITEM_READS:
            try:
                body = json.dumps(self.result, default=_not_plain)
            except TypeError:
                return serialized(self, context)
            status, headers, _ = ActionResult({}).execute_result(context)
            return status, headers, body
        return serialized(self, context)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]

    plain_query = Table.query

    def query(self: Any, hash_key: Any, range_comparison: str | None, range_objs: list[Any], limit: int,
              exclusive_start_key: dict[str, Any], scan_index_forward: bool, projection_expressions: Any,
              index_name: str | None = None, consistent_read: bool = False, filter_expression: Any = None,
              hash_key_conditions: Any = None, range_key_conditions: Any = None, **filter_kwargs: Any) -> Any:
        sliced = None
        if index_name and hash_key_conditions and len(hash_key_conditions) == 1 and len(range_key_conditions or []) <= 1:
            index = {i.name: i for i in self.all_indexes()}.get(index_name)
            schema = {k["KeyType"]: k["AttributeName"] for k in index.schema} if index else {}
            attr, value = hash_key_conditions[0]
            if index and attr == schema.get("HASH") and len(index.schema) == len(schema):
                sliced = SLICES.candidates(self, index_name, attr, value, schema.get("RANGE"), range_comparison,
                                           range_objs, exclusive_start_key, scan_index_forward)

        def ask() -> Any:
            return plain_query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                               scan_index_forward, projection_expressions, index_name, consistent_read,
                               filter_expression, hash_key_conditions=hash_key_conditions,
                               range_key_conditions=range_key_conditions, **filter_kwargs)

        if sliced is None:
            return ask()
        self.all_items = lambda: sliced  # this query only: requests run one at a time
        try:
            return ask()
        finally:
            del self.all_items

    Table.query = query  # type: ignore[method-assign]
