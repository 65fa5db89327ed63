"""DynamoDB reads on the local endpoint that cost what they return, as they do on DynamoDB.

Index slices. moto answers a query on a secondary index by sorting every item of the table and testing each one against the
key condition. On a production day's tracking table (about 676,000 items) an operator's refresh, a dozen small
index queries, took 9–13 s: the time of those walks, not of what was read. Here each index keeps its partitions
(the items of one partition-key value, sorted on the index's sort key), and a query hands moto only the slice its
key condition and its page's start key can match. moto then applies the conditions, the order, the paging and the
projection exactly as before, on that slice: the answers are the same, a superset went in.

An index's partitions are built on its first query, in one pass over the table, and then kept as DynamoDB keeps its
indexes: every item write (moto's ``Table.put_item`` and ``delete_item``, its backend's in-place ``update_item``;
transactions, their rollbacks and batches all go through them) notes the item's key, and the next query of the
index moves just those items. Requests that change a table in any other way (the endpoint calls ``note_request``
for each) start over. Within equal sort keys items are ordered by primary key, as moto's walk orders them. Only
string and number keys are sliced; any other query goes to moto whole.

Plain answers. moto writes every answer through a serializer that walks the API's model for each value: about
1 ms per item read, so 2,000 pending files took 2 s to send. An item read (GetItem, Query, Scan, BatchGetItem)
is already in DynamoDB's wire form, so when it holds only JSON values (no binary) it is written with ``json.dumps``
under the headers moto's serializer gives; anything else goes through the serializer as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sortedcontainers import SortedList

# Requests that never change an item: every other DynamoDB request starts a new generation.
READ_ONLY = frozenset({
    "BatchGetItem", "DescribeContinuousBackups", "DescribeEndpoints", "DescribeLimits", "DescribeTable",
    "DescribeTimeToLive", "GetItem", "ListTables", "ListTagsOfResource", "Query", "Scan", "TransactGetItems",
})
ITEM_READS = frozenset({"BatchGetItem", "GetItem", "Query", "Scan"})
# Requests that change only items, each through moto's Table.put_item/delete_item or its backend's update_item, which
# ``install`` routes through ``IndexSlices.written`` (transactions and their rollbacks, batches included).
ITEM_WRITES = frozenset({"BatchWriteItem", "DeleteItem", "PutItem", "TransactWriteItems", "UpdateItem"})
LOWER_BOUNDS = {"=", ">", ">=", "BETWEEN", "BEGINS_WITH"}
UPPER_BOUNDS = {"=", "<", "<=", "BETWEEN"}


class _Top:
    """Greater than any primary key: ``(value, TOP)`` bounds every position whose sort-key value is ``value``."""

    def __lt__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return True


TOP = _Top()


@dataclass
class _Partition:
    """One partition of an index: ``(position, item)`` entries in order of position, (sort-key value or None, then the
    primary key's values), which is unique, so entries never compare their items. A sorted list (sortedcontainers) keeps an insert or
    a removal at O(log n) in partitions of hundreds of thousands of items."""

    kind: str | None  # the sort key's type, "S" or "N" (None: the index has no sort key)
    entries: SortedList = field(default_factory=SortedList)

    def at_least(self, value: Any) -> int:
        return int(self.entries.bisect_left(((value,),)))

    def beyond(self, value: Any) -> int:
        return int(self.entries.bisect_left(((value, TOP),)))


@dataclass
class _Index:
    """One index's partitions, where each item is filed, and the items written since they were last brought up to
    date."""

    table: Any
    generation: int
    hash_attr: str
    range_attr: str | None
    partitions: dict[Any, _Partition]
    filed: dict[Any, tuple[Any, Any]]  # primary key: (partition key, position)
    pending: dict[Any, tuple[Any, Any]] = field(default_factory=dict)  # primary key: its DynamoType values


class IndexSlices:
    """The partitions of every secondary index, kept up to date item by item as items are written."""

    def __init__(self) -> None:
        self.generation = 0
        self.indexes: dict[tuple[int, str], _Index] = {}

    def note_request(self, target: str) -> None:
        """Called for each DynamoDB request (``X-Amz-Target``), before it runs: a request that may change a table other
        than through its items' writes (which ``written`` follows) starts a new generation."""
        if target.rpartition(".")[2] not in READ_ONLY | ITEM_WRITES:
            self.generation += 1
            self.indexes.clear()

    def written(self, table: Any, hash_value: Any, range_value: Any) -> None:
        """An item of ``table`` may have changed (put, updated in place, deleted, or put back by a rollback)."""
        key = primary_key(hash_value, range_value)
        for index in self.indexes.values():
            if index.table is table:
                index.pending[key] = (hash_value, range_value)

    def candidates(self, table: Any, index_name: str, hash_attr: str, hash_value: Any, range_attr: str | None,
                   comparison: str | None, bounds: list[Any], start_key: dict[str, Any] | None,
                   forward: bool) -> list[Any] | None:
        """The items a query's key condition can match (a superset, in sort-key order), or None when the query cannot
        be sliced."""
        hash_key = plain(hash_value)
        if hash_key is None:
            return None
        index = self._index(table, index_name, hash_attr, range_attr)
        if index is None:
            return None
        partition = index.partitions.get(hash_key)
        if partition is None:
            return []
        low, high = 0, len(partition.entries)
        values = [plain(b) for b in bounds]
        if comparison and values and all(v is not None and v[0] == partition.kind for v in values):
            if comparison in LOWER_BOUNDS:
                low = partition.at_least(values[0][1])
            if comparison in UPPER_BOUNDS:
                high = partition.beyond(values[-1][1])
        resume = plain_attribute(start_key.get(range_attr)) if start_key and range_attr else None
        if resume is not None and resume[0] == partition.kind:
            if forward:
                low = max(low, partition.at_least(resume[1]))
            else:
                high = min(high, partition.beyond(resume[1]))
        return [item for _, item in partition.entries[low:high]] if low < high else []

    def _index(self, table: Any, index_name: str, hash_attr: str, range_attr: str | None) -> _Index | None:
        """The index's partitions, built on its first query and brought up to date with the items written since."""
        index = self.indexes.get((id(table), index_name))
        if (index is None or index.table is not table or index.generation != self.generation
                or len(index.pending) > max(1_000, len(index.filed) // 4)):  # a bulk load: one pass is cheaper
            built = partitions(table, hash_attr, range_attr)
            if built is None:
                return None
            index = self.indexes[(id(table), index_name)] = _Index(table, self.generation, hash_attr, range_attr, *built)
        while index.pending:
            key, (hash_value, range_value) = index.pending.popitem()
            if not _refile(index, key, table.get_item(hash_value, range_value)):
                del self.indexes[(id(table), index_name)]
                return self._index(table, index_name, hash_attr, range_attr)  # built again: None if it cannot be sliced
        return index


def _refile(index: _Index, key: Any, item: Any) -> bool:
    """Move one item to where it now belongs (or out, when deleted or no longer in the index); False when it can no
    longer be sliced (a key that is neither a string nor a number, or a sort key of the other type)."""
    was = index.filed.pop(key, None)
    if was is not None:
        partition = index.partitions[was[0]]
        del partition.entries[partition.entries.bisect_left((was[1],))]
        if not partition.entries:
            del index.partitions[was[0]]
    filing = None if item is None else index_keys(item, index.hash_attr, index.range_attr)
    if filing is None:
        return True
    if filing is False:
        return False
    hash_key, sort_key = filing
    partition = index.partitions.setdefault(hash_key, _Partition(sort_key[0] if sort_key else None))
    if sort_key and sort_key[0] != partition.kind:
        return False
    position = (sort_key[1] if sort_key else None, *key)
    partition.entries.add((position, item))
    index.filed[key] = (hash_key, position)
    return True


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


def primary_key(hash_value: Any, range_value: Any) -> tuple[Any, Any]:
    """An item's primary key as moto orders items (its keys' cast values): ties between equal sort keys follow it."""
    return _cast(hash_value), None if range_value is None else _cast(range_value)


def _cast(value: Any) -> Any:
    return value.value if value.type == "S" else value.cast_value  # a string's is itself (moto's property is slow)


def index_keys(item: Any, hash_attr: str, range_attr: str | None) -> Any:
    """An item's (partition key, sort key) in an index as plain values; None when it is not in the index, False when a
    key is neither a string nor a number. (Called for every item when an index is built: kept to plain branches.)"""
    attrs = item.attrs
    hash_value = attrs.get(hash_attr)
    range_value = attrs.get(range_attr) if range_attr else None
    if hash_value is None or (range_attr and range_value is None):
        return None
    hash_key = plain(hash_value)
    sort_key = plain(range_value) if range_attr else None
    if hash_key is None or (range_attr and sort_key is None):
        return False
    return hash_key, sort_key


def partitions(table: Any, hash_attr: str, range_attr: str | None) -> tuple[dict[Any, _Partition], dict[Any, Any]] | None:
    """Every partition of an index and where each item is filed, or None when an index key is neither a string nor a
    number, or a sort key mixes the two."""
    grouped: dict[Any, list[tuple[Any, Any]]] = {}
    filed: dict[Any, tuple[Any, Any]] = {}
    kinds: dict[Any, str | None] = {}
    for item in table_items(table):
        filing = index_keys(item, hash_attr, range_attr)
        if filing is None:
            continue  # not in the index
        if filing is False:
            return None
        hash_key, sort_key = filing
        kind = sort_key[0] if sort_key else None
        if kinds.setdefault(hash_key, kind) != kind:
            return None
        key = primary_key(item.hash_key, item.range_key)
        position = (sort_key[1] if sort_key else None, *key)
        grouped.setdefault(hash_key, []).append((position, item))
        filed[key] = (hash_key, position)
    built = {}
    for hash_key, members in grouped.items():
        members.sort(key=_position)  # positions are unique and flat: the sorted list's own sort then only checks them
        built[hash_key] = _Partition(kinds[hash_key], SortedList(members))
    return built, filed


def _position(entry: tuple[Any, Any]) -> Any:
    return entry[0]


SLICES = IndexSlices()


def install() -> None:
    """Route moto's secondary-index queries through the slices, and its item reads' answers through ``json.dumps``."""
    from moto.core.responses import ActionResult
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoResult

    def written(table: Any, key: dict[str, Any]) -> None:
        """An item write asked of ``table`` with this key (or whole item) in the request's form."""
        if table.hash_key_attr not in key or (table.range_key_attr and table.range_key_attr not in key):
            return  # refused before anything was written
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        SLICES.written(table, DynamoType(key[table.hash_key_attr]), range_value)

    plain_put, plain_delete, plain_update = Table.put_item, Table.delete_item, DynamoDBBackend.update_item

    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return plain_put(self, item_attrs, *args, **kwargs)
        finally:  # an error may come after the write (moto's own checks): follow the item either way
            written(self, item_attrs)

    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        try:
            return plain_delete(self, hash_key, range_key)
        finally:
            SLICES.written(self, hash_key, range_key)

    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return plain_update(self, table_name, key, *args, **kwargs)  # may change the item in place
        finally:
            if table_name in self.tables:
                written(self.tables[table_name], key)

    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]

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
