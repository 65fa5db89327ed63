"""Index slices for the local endpoint: queries on a secondary index that cost what they return.

moto answers a query on a secondary index by sorting every item of the table and testing each one against the key
condition. On a production day's tracking table (about 676,000 items) an operator's refresh, a dozen small
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
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sortedcontainers import SortedList

# Requests that never change an item: every other DynamoDB request starts a new generation.
READ_ONLY = frozenset({
    "BatchGetItem", "DescribeContinuousBackups", "DescribeEndpoints", "DescribeLimits", "DescribeTable",
    "DescribeTimeToLive", "GetItem", "ListTables", "ListTagsOfResource", "Query", "Scan", "TransactGetItems",
})
# Requests that change only items, each through moto's Table.put_item/delete_item or its backend's update_item, which
# ``paybatch.local.dynamodb_reads.install`` routes through ``IndexSlices.written`` (transactions, rollbacks, batches).
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
    primary key's values), which is unique, so entries never compare their items. A sorted list (sortedcontainers)
    keeps an insert or a removal at O(log n) in partitions of hundreds of thousands of items."""

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
        """An item of ``table`` may have changed (put, updated in place, deleted, or put back by a rollback). An index
        that more than a quarter of its items have left or joined since its last query is dropped, to be built again
        in one pass."""
        key = primary_key(hash_value, range_value)
        for name, index in list(self.indexes.items()):
            if index.table is table:
                index.pending[key] = (hash_value, range_value)
                if len(index.pending) > max(1_000, len(index.filed) // 4):  # a bulk load: one pass is cheaper
                    del self.indexes[name]

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
        """The index's partitions, built on its first query and brought up to date with the items written since.

        Without the cyclic garbage collector meanwhile: building creates a tuple per item and no cycle, and in an
        endpoint holding millions of moto objects each full collection it would set off walks them all (it doubled
        a build over 400,000 items when measured)."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._up_to_date(table, index_name, hash_attr, range_attr)
        finally:
            if collecting:
                gc.enable()

    def _up_to_date(self, table: Any, index_name: str, hash_attr: str, range_attr: str | None) -> _Index | None:
        index = self.indexes.get((id(table), index_name))
        if index is None or index.table is not table or index.generation != self.generation:
            built = partitions(table, hash_attr, range_attr)
            if built is None:
                return None
            index = self.indexes[(id(table), index_name)] = _Index(table, self.generation, hash_attr, range_attr, *built)
        while index.pending:
            key, (hash_value, range_value) = index.pending.popitem()
            if not _refile(index, key, table.get_item(hash_value, range_value)):
                del self.indexes[(id(table), index_name)]
                return self._up_to_date(table, index_name, hash_attr, range_attr)  # built again: None if it cannot be sliced
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


def item_order(item: Any) -> tuple[Any, Any]:
    """A moto item's place in moto's order of a table's items (the endpoint sorts its walks on it)."""
    return primary_key(item.hash_key, item.range_key)


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
        key = item_order(item)
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
