"""DynamoDB reads on the local endpoint that cost what they return, as they do on DynamoDB.

Index slices (:mod:`paybatch.local.index_slices`): an index query is handed only the items its key condition and page
can match, from partitions kept up to date as items are written.

Plain answers. moto writes every answer through a serializer that walks the API's model for each value: about
1 ms per item read, so 2,000 pending files took 2 s to send. An item read (GetItem, Query, Scan, BatchGetItem)
is already in DynamoDB's wire form, so when it holds only JSON values (no binary) it is written with ``json.dumps``
under the headers moto's serializer gives; anything else goes through the serializer as before.
"""

from __future__ import annotations

import json
from typing import Any

from paybatch.local.index_slices import IndexSlices

ITEM_READS = frozenset({"BatchGetItem", "GetItem", "Query", "Scan"})


def _not_plain(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} needs moto's serializer")


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
