"""DynamoDB the one way, for every table (tracking, counters, the bulk ledger, date locks, sequence ranges).

- ``to_item`` / ``from_item``: plain Python values ↔ DynamoDB's typed attributes (floats go as Decimal;
  integral numbers come back as int).
- ``update``: an ``UpdateItem`` request (also a transaction's ``Update``) from attribute names and values —
  ``set``, ``remove``, ``add``, ``append`` (to a list that may not exist yet) — with a condition whose
  ``#name`` and ``:value`` placeholders the caller names.
- ``write_if``: a conditional write → True if it was made, False if the condition failed; throttling, 5xx
  and lost answers are retried. A lost answer means an earlier attempt may have been applied, and then a
  failed condition may be that very attempt: the item is read back with the failure
  (``ReturnValuesOnConditionCheckFailure``) and ``landed`` decides. A write that could not be made raises
  ``WriteFailed``, never reads as success.
- ``transact``: ``TransactWriteItems`` with one ``ClientRequestToken`` over every attempt (DynamoDB applies a
  repeated token once), ``ConditionFailed`` naming the items whose condition failed.
- ``batch_get`` / ``batch_write``: what DynamoDB leaves unprocessed is sent again.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotoConnectionError

from paybatch.errors import InternalFailure
from paybatch.retry import is_retryable, retrying

ATTEMPTS = 8
PAUSE = 0.05  # seconds before the first retry, doubled each time (jittered), at most MAX_PAUSE
MAX_PAUSE = 2.0
_RETRYABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
_SER = TypeSerializer()
_DESER = TypeDeserializer()


class ConditionFailed(Exception):
    """Items of a conditional write or transaction were not as expected (``indices``: which ones).

    ``ambiguous``: an earlier attempt of the same write may have been applied (its answer was lost), so the
    condition may have failed on this very write: read the item before deciding.
    """

    def __init__(self, indices: Sequence[int], *, ambiguous: bool = False) -> None:
        super().__init__(f"condition failed for item(s) {list(indices)}")
        self.indices = list(indices)
        self.ambiguous = ambiguous


class WriteFailed(InternalFailure):
    """A write could not be made (conflicts, throttling or errors outlasted every retry): nothing was written.

    Never a "someone else moved it": that is a ``ConditionFailed`` (or ``write_if``'s False). Callers let it
    propagate, so the message, the run or the scheduler pass is retried. ``maybe_applied``: an attempt's answer
    was lost, so the write may have been made after all — the retry of the unit of work is conditional and safe
    either way.
    """

    def __init__(self, message: str, *, maybe_applied: bool = False) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


class ReadFailed(InternalFailure):
    """Items could not be read: DynamoDB kept some keys unprocessed through every retry."""


# --- values ----------------------------------------------------------------------------------------------------
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


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _SER.serialize(_plain_to_ddb(v)) for k, v in values.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _ddb_to_plain(_DESER.deserialize(v)) for k, v in item.items()}


def to_value(value: Any) -> dict[str, Any]:
    """One typed attribute value (for a placeholder added to a request built elsewhere)."""
    return dict(_SER.serialize(_plain_to_ddb(value)))


# --- requests --------------------------------------------------------------------------------------------------
def update(table: str, key: Mapping[str, Any], *, set: Mapping[str, Any] | None = None,
           remove: Iterable[str] = (), add: Mapping[str, int] | None = None, append: Mapping[str, list[Any]] | None = None,
           condition: str | None = None, names: Mapping[str, str] | None = None,
           values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An ``UpdateItem`` request (or a transaction's ``Update``): attribute names are placeholders of their own,
    so any name is safe; ``condition`` uses the caller's ``#name`` (``names``) and ``:value`` (``values``) ones."""
    all_names: dict[str, str] = dict(names or {})
    all_values: dict[str, Any] = dict(values or {})
    sets, adds = [], []
    for i, (attr, value) in enumerate((set or {}).items()):
        all_names[f"#s{i}"], all_values[f":s{i}"] = attr, value
        sets.append(f"#s{i} = :s{i}")
    for i, (attr, items) in enumerate((append or {}).items()):
        all_names[f"#l{i}"], all_values[f":l{i}"] = attr, list(items)
        all_values[":empty_list"] = []
        sets.append(f"#l{i} = list_append(if_not_exists(#l{i}, :empty_list), :l{i})")
    for i, (attr, amount) in enumerate((add or {}).items()):
        all_names[f"#a{i}"], all_values[f":a{i}"] = attr, amount
        adds.append(f"#a{i} :a{i}")
    removes = []
    for i, attr in enumerate(remove):
        all_names[f"#r{i}"] = attr
        removes.append(f"#r{i}")
    clauses = [("SET", sets), ("ADD", adds), ("REMOVE", removes)]
    request: dict[str, Any] = {
        "TableName": table, "Key": to_item(key),
        "UpdateExpression": " ".join(f"{word} {', '.join(parts)}" for word, parts in clauses if parts),
        "ExpressionAttributeNames": all_names,
    }
    if all_values:
        request["ExpressionAttributeValues"] = to_item(all_values)
    if condition:
        request["ConditionExpression"] = condition
    return request


def one_of(name: str, allowed: Iterable[str], prefix: str = "e") -> tuple[str, dict[str, str]]:
    """``#name IN (:e0, :e1 …)`` and its values: a condition that the attribute holds one of ``allowed``."""
    placeholders = {f":{prefix}{i}": str(value) for i, value in enumerate(allowed)}
    return f"{name} IN ({', '.join(placeholders)})", placeholders


def holds(values: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool]:
    """``landed`` for a write that set ``values``: the item read back holds every one of them."""
    expected = from_item(to_item(values))  # compared as DynamoDB gives them back
    return lambda item: all(item.get(name) == value for name, value in expected.items())


# --- writes ----------------------------------------------------------------------------------------------------
def _pause(attempt: int) -> None:
    time.sleep(min(MAX_PAUSE, PAUSE * 2**attempt) * random.uniform(0.5, 1.5))


def write_if(call: Callable[..., Any], request: Mapping[str, Any], *, landed: Callable[[Mapping[str, Any]], bool] | None = None,
             attempts: int = ATTEMPTS) -> bool:
    """``call(**request)`` (``update_item``, ``put_item``, ``delete_item``): True if written, False if its condition
    failed. After a lost answer a failed condition is checked with ``landed`` on the item as it now is (without
    ``landed`` it counts as not written). Raises ``WriteFailed`` when no attempt could be made to land."""
    lost = False
    last = "no attempt made"
    for attempt in range(attempts):
        try:
            call(**request, ReturnValuesOnConditionCheckFailure="ALL_OLD")
            return True
        except (BotoConnectionError, ReadTimeoutError) as exc:
            lost = True
            last = f"{type(exc).__name__} (the answer was lost: the write may have been made)"
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                if lost and landed is not None:
                    item = exc.response.get("Item")
                    return bool(item) and landed(from_item(item))
                return False
            if not is_retryable(exc):
                raise WriteFailed(f"write to {request.get('TableName')} refused: {exc}", maybe_applied=lost) from exc
            last = exc.response["Error"]["Code"]
        if attempt + 1 < attempts:
            _pause(attempt)
    raise WriteFailed(f"write to {request.get('TableName')} not made after {attempts} attempts: {last}", maybe_applied=lost)


def transact(ddb: Any, items: list[dict[str, Any]], attempts: int = ATTEMPTS) -> None:
    """TransactWriteItems, retried on conflicts, throttling and lost answers.

    Every attempt carries the same ``ClientRequestToken``: when an attempt was applied and its answer lost (a read
    timeout, a dropped connection), the retry within DynamoDB's 10-minute window succeeds without writing again.
    Raises ``ConditionFailed`` (naming the items whose condition failed; ``ambiguous`` when an earlier attempt may
    have been applied, so the caller reads before deciding) or ``WriteFailed`` (the retries ran out, or the error
    was not one to retry; ``maybe_applied`` after a lost answer).
    """
    last = "no attempt made"
    token = uuid.uuid4().hex
    unknown = False  # an attempt may have been applied (its answer was lost)
    for attempt in range(attempts):
        try:
            ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
            return
        except (BotoConnectionError, ReadTimeoutError) as exc:
            unknown = True
            last = f"{type(exc).__name__} (the answer was lost: the write may have been made)"
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            reasons = exc.response.get("CancellationReasons") or [] if code == "TransactionCanceledException" else []
            failed = [i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"]
            if failed:
                raise ConditionFailed(failed, ambiguous=unknown) from None
            causes = sorted({str(r.get("Code")) for r in reasons if r.get("Code") not in {None, "None"}})
            last = f"{code} ({', '.join(causes)})" if causes else code
            retryable = (code == "TransactionCanceledException" and causes and set(causes) <= _RETRYABLE_REASONS) \
                or is_retryable(exc)
            if not retryable:
                raise WriteFailed(f"write refused: {last}: {exc}", maybe_applied=unknown) from exc
        if attempt + 1 < attempts:
            _pause(attempt)
    raise WriteFailed(f"write not made after {attempts} attempts: {last}", maybe_applied=unknown)


def batch_write(ddb: Any, table: str, items: Sequence[Mapping[str, Any]], attempts: int = ATTEMPTS) -> None:
    """Put ``items`` (plain values), 25 per BatchWriteItem, sending again what DynamoDB left unprocessed."""
    for start in range(0, len(items), 25):
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": to_item(i)}} for i in items[start:start + 25]]}
        for attempt in range(attempts):
            pending = retrying(ddb.batch_write_item, RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
            _pause(attempt)
        else:
            raise WriteFailed(f"items could not be written to {table}: BatchWriteItem kept them unprocessed")


def batch_get(ddb: Any, table: str, keys: Sequence[Mapping[str, Any]], *, names: Mapping[str, str] | None = None,
              projection: str | None = None, attempts: int = ATTEMPTS) -> tuple[list[dict[str, Any]], int]:
    """The items of ``keys`` that exist (consistent reads, 100 keys per BatchGetItem), and the requests made."""
    found: list[dict[str, Any]] = []
    requests = 0
    unique = list({tuple(sorted(k.items())): k for k in keys}.values())
    for start in range(0, len(unique), 100):
        request: dict[str, Any] = {"Keys": [to_item(k) for k in unique[start:start + 100]], "ConsistentRead": True}
        if projection:
            request["ProjectionExpression"] = projection
        if names:
            request["ExpressionAttributeNames"] = dict(names)
        pending: dict[str, Any] = {table: request}
        for attempt in range(attempts):
            response = retrying(ddb.batch_get_item, RequestItems=pending)
            requests += 1
            found += [from_item(raw) for raw in response["Responses"].get(table, [])]
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
            _pause(attempt)
        else:
            raise ReadFailed(f"items of {table} could not be read: BatchGetItem kept returning unprocessed keys")
    return found, requests
