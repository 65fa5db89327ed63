"""The local endpoint's speed-ups of moto answer exactly what moto's own code does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table
from moto.sqs.models import Queue, sqs_backends

from paybatch.local.endpoint import LazyQueueAttributes, sorted_items

ORIGINAL = Queue.attributes  # the endpoint patches the class only in its own process


ACCOUNT, REGION = "123456789012", "us-east-1"
KINDS = {
    "plain": {},
    "ordered.fifo": {"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    "guarded": {"KmsMasterKeyId": "alias/x", "Policy": json.dumps({"Version": "2012-10-17"}),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dead",
                                             "maxReceiveCount": 3})},
}


@pytest.fixture
def backend() -> Any:
    backend = sqs_backends[ACCOUNT][REGION]
    backend.create_queue("dead")
    yield backend
    sqs_backends[ACCOUNT].reset()


@pytest.mark.parametrize("name", KINDS)
def test_lazy_attributes_equal_moto_s_own(backend: Any, name: str) -> None:
    queue: Queue = backend.create_queue(name, **KINDS[name])
    lazy = LazyQueueAttributes(queue)
    for i in range(3):
        backend.send_message(name, f"body {i}", group_id="g" if queue.fifo_queue else None)
    assert dict(lazy) == ORIGINAL.fget(queue)  # type: ignore[attr-defined]
    assert lazy["ApproximateNumberOfMessages"] == 3  # counted when read, not when made
    assert lazy.get("ContentBasedDeduplication") == ORIGINAL.fget(queue).get("ContentBasedDeduplication")  # type: ignore[attr-defined]
    assert "NoSuchAttribute" not in lazy
    with pytest.raises(KeyError):
        lazy["NoSuchAttribute"]


@pytest.mark.parametrize("range_key", [None, ("seq", "N"), ("name", "S")])
def test_items_come_in_moto_s_own_order(range_key: tuple[str, str] | None) -> None:
    backend = dynamodb_backends[ACCOUNT][REGION]
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        schema.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
        attributes.append({"AttributeName": range_key[0], "AttributeType": range_key[1]})
    try:
        table = backend.create_table("ordered", schema=schema, attr=attributes, billing_mode="PAY_PER_REQUEST",
                                     throughput=None, indexes=None, global_indexes=None, streams=None, sse_specification=None,
                                     tags=[], deletion_protection_enabled=False, warm_throughput=None)
        for i in (7, 30, 4, 100, 25, 1, 9):
            item = {"pk": {"S": f"p{i % 3}" if range_key else f"p{i}"}}
            if range_key:
                item[range_key[0]] = {"N": str(i)} if range_key[1] == "N" else {"S": f"n{i}"}
            backend.put_item("ordered", item)
        original = [item.to_json() for item in Table.all_items(table)]
        assert [item.to_json() for item in sorted_items(table)] == original
        assert len(original) == 7
    finally:
        dynamodb_backends[ACCOUNT].reset()
