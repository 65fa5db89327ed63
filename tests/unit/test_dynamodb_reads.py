"""The local endpoint's item reads (paybatch.local.dynamodb_reads, paybatch.local.index_slices) answer what moto
answers: index queries handed only their slice give the same items in the same order and pages, for every kind of key
condition, also after every kind of write, and answers written
with ``json.dumps`` parse as the serializer's do (binary values still go through the serializer). One difference is
allowed, as DynamoDB allows it: walking the table, moto may end a query whose last page filled exactly with one
more, empty, page."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoResult

from paybatch.local import dynamodb_reads, index_slices
from paybatch.local.dynamodb_reads import SLICES
from paybatch.local.endpoint import item_level_transaction_snapshots

INDEXES = {  # name: (partition key, sort key and its type)
    "by-upload": ("status", ("uploaded_at", "S")),
    "by-size": ("status", ("size", "N")),
    "by-date": ("date", None),
}
STATUSES = ["PENDING", "COMPLETED", "FAILED", "NONE_SUCH"]
CONDITIONS = ["", "= :a", "< :a", "<= :a", "> :a", ">= :a", "BETWEEN :a AND :b", "begins_with"]


def _items(rng: random.Random) -> Iterator[dict[str, Any]]:
    for n in range(120):
        item: dict[str, Any] = {"pk": {"S": f"2024-01-0{n % 4}"}, "sk": {"S": f"file-{rng.randrange(10_000):05d}-{n}"}}
        if rng.random() < 0.9:
            item["status"] = {"S": rng.choice(STATUSES[:3])}
        if rng.random() < 0.9:
            item["uploaded_at"] = {"S": f"2024-01-01T{rng.randrange(24):02d}:{rng.randrange(60):02d}"}
        if rng.random() < 0.9:
            item["size"] = {"N": str(rng.choice([rng.randrange(-50, 5000), rng.randrange(100) / 4]))}
        if rng.random() < 0.8:
            item["date"] = {"S": f"d{rng.randrange(3)}"}
        if rng.random() < 0.1:
            item["digest"] = {"B": rng.randbytes(8)}  # binary: answered by moto's serializer
        if rng.random() < 0.2:
            item["detail"] = {"M": {"tags": {"SS": ["a", "b"]}, "sizes": {"NS": ["1", "2.5"]}, "ok": {"BOOL": True},
                                    "none": {"NULL": True}, "list": {"L": [{"S": "x"}, {"N": "3"}]}}}
        yield item


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(Table, "query", Table.query)  # put back after the test, whatever install() did
    monkeypatch.setattr(DynamoResult, "execute_result", DynamoResult.execute_result)
    for cls, name in ((Table, "put_item"), (Table, "delete_item"), (DynamoDBBackend, "update_item"),
                      (DynamoDBBackend, "transact_write_items")):
        monkeypatch.setattr(cls, name, getattr(cls, name))
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
        attributes = {"pk": "S", "sk": "S", "status": "S", "uploaded_at": "S", "size": "N", "date": "S"}
        client.create_table(
            TableName="tracking", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": t} for k, t in attributes.items()],
            GlobalSecondaryIndexes=[
                {"IndexName": name, "Projection": {"ProjectionType": "ALL"},
                 "KeySchema": [{"AttributeName": hash_attr, "KeyType": "HASH"}]
                 + ([{"AttributeName": rng[0], "KeyType": "RANGE"}] if rng else [])}
                for name, (hash_attr, rng) in INDEXES.items()])
        for item in _items(random.Random(7)):
            client.put_item(TableName="tracking", Item=item)
        SLICES.note_request("DynamoDB_20120810.CreateTable")  # as the endpoint notes it: no partitions of other tables
        yield client


def _queries() -> Iterator[dict[str, Any]]:
    for (name, (hash_attr, rng)), status, condition, forward, page in itertools.product(
            INDEXES.items(), STATUSES, CONDITIONS, (True, False), (None, 9)):
        if rng is None and condition:
            continue
        key = {"status": status} if hash_attr == "status" else {"date": "d1" if status == "PENDING" else "d9"}
        values: dict[str, Any] = {":h": {"S": next(iter(key.values()))}}
        expression = "#h = :h"
        names = {"#h": hash_attr}
        if condition:
            names["#r"] = rng[0]
            low, high = ({"S": "2024-01-01T08"}, {"S": "2024-01-01T17:30"}) if rng[1] == "S" else ({"N": "12.5"}, {"N": "1200"})
            if condition == "begins_with":
                expression += " AND begins_with(#r, :a)"
                values[":a"] = low if rng[1] == "S" else None
                if values[":a"] is None:
                    continue  # begins_with takes strings only
            else:
                expression += f" AND #r {condition}"
                values[":a"] = low
                if ":b" in condition:
                    values[":b"] = high
        query = {"TableName": "tracking", "IndexName": name, "KeyConditionExpression": expression,
                 "ExpressionAttributeNames": names, "ExpressionAttributeValues": values, "ScanIndexForward": forward}
        if page:
            query["PaginationConfig"] = {"PageSize": page}
        yield query


def _answers(client: Any) -> list[Any]:
    answers = []
    for query in _queries():
        pages = client.get_paginator("query").paginate(**query)
        answers.append([page["Items"] for page in pages if page["Items"]])
    keys = [{"pk": item["pk"], "sk": item["sk"]} for item in answers[0][0][:5]]
    answers.append(client.get_item(TableName="tracking", Key=keys[0])["Item"])
    answers.append(client.get_item(TableName="tracking", Key={"pk": {"S": "x"}, "sk": {"S": "none"}}).get("Item"))
    answers.append(client.batch_get_item(RequestItems={"tracking": {"Keys": keys}})["Responses"])
    scan = client.scan(TableName="tracking", FilterExpression="#s = :s", ExpressionAttributeNames={"#s": "status"},
                       ExpressionAttributeValues={":s": {"S": "FAILED"}}, ReturnConsumedCapacity="TOTAL")
    answers.append({k: v for k, v in scan.items() if k != "ResponseMetadata"})
    return answers


def test_sliced_queries_answer_what_moto_answers(ddb: Any) -> None:
    walked = _answers(ddb)
    dynamodb_reads.install()
    sliced = _answers(ddb)
    assert len(walked) > 200
    assert sliced == walked
    assert any("digest" in item for item in walked[-1]["Items"])
    assert sum(len(items) for answer in walked[:-4] for items in answer) > 1_000  # the queries do find items
    assert walked[-4] and walked[-3] is None and len(walked[-2]["tracking"]) == 5


def test_a_write_is_seen_by_the_next_query(ddb: Any) -> None:
    dynamodb_reads.install()
    query = {"TableName": "tracking", "IndexName": "by-upload", "KeyConditionExpression": "#h = :h",
             "ExpressionAttributeNames": {"#h": "status"}, "ExpressionAttributeValues": {":h": {"S": "RUNNING"}}}
    assert ddb.query(**query)["Items"] == []
    SLICES.note_request("DynamoDB_20120810.UpdateItem")
    ddb.put_item(TableName="tracking", Item={"pk": {"S": "2024-01-09"}, "sk": {"S": "new"}, "status": {"S": "RUNNING"},
                                             "uploaded_at": {"S": "2024-01-09T00:00"}})
    assert [i["sk"]["S"] for i in ddb.query(**query)["Items"]] == ["new"]
    SLICES.note_request("DynamoDB_20120810.GetItem")  # a read keeps the partitions
    assert SLICES.indexes


def test_a_bounded_query_is_handed_its_slice_only(ddb: Any) -> None:
    for n in range(100):
        ddb.put_item(TableName="tracking", Item={"pk": {"S": "sized"}, "sk": {"S": f"{n}"}, "status": {"S": "COMPLETED"},
                                                 "size": {"N": str(1000 + n)}})
    dynamodb_reads.install()
    ddb.query(TableName="tracking", IndexName="by-size", KeyConditionExpression="#h = :h",
              ExpressionAttributeNames={"#h": "status"}, ExpressionAttributeValues={":h": {"S": "COMPLETED"}})
    (index,) = SLICES.indexes.values()
    partition = index.partitions[("S", "COMPLETED")]
    backend_table = dynamodb_backends["123456789012"]["us-east-1"].tables["tracking"]
    handed = SLICES.candidates(backend_table, "by-size", "status", DynamoType({"S": "COMPLETED"}), "size", "BETWEEN",
                               [DynamoType({"N": "1010"}), DynamoType({"N": "1019"})], None, True)
    assert handed is not None
    assert len(partition.entries) > 100
    assert sorted(i.attrs["sk"].value for i in handed if i.attrs["pk"].value == "sized") == [str(n) for n in range(10, 20)]
    assert len(handed) < 20  # a few of the random items may share the range


def _write_at_random(client: Any, rng: random.Random, n: int) -> None:
    """One write of every kind an index must follow: new items, items moved within and between partitions, in place,
    out of and into the index, deleted, in batches, and transactions that roll back."""
    def key() -> dict[str, Any]:
        item = rng.choice(client.scan(TableName="tracking", ProjectionExpression="pk, sk")["Items"])
        return {"pk": item["pk"], "sk": item["sk"]}

    kind = n % 8
    if kind == 0:  # a new item, or a whole item put over an old one (new sort key, maybe new partition)
        target = key() if rng.random() < 0.5 else {"pk": {"S": "2024-01-05"}, "sk": {"S": f"new-{n}"}}
        client.put_item(TableName="tracking", Item={**target, "status": {"S": rng.choice(STATUSES[:3])},
                                                     "uploaded_at": {"S": f"2024-01-01T{rng.randrange(24):02d}:00"},
                                                     "size": {"N": str(rng.randrange(5000))}, "date": {"S": "d1"}})
    elif kind == 1:  # in place: a new sort key in the same partition
        client.update_item(TableName="tracking", Key=key(), UpdateExpression="SET uploaded_at = :u",
                           ExpressionAttributeValues={":u": {"S": f"2024-01-01T{rng.randrange(24):02d}:{n % 60:02d}"}})
    elif kind == 2:  # in place: another partition, and a sort key of equal value to others
        client.update_item(TableName="tracking", Key=key(), UpdateExpression="SET #s = :s, #z = :z",
                           ExpressionAttributeNames={"#s": "status", "#z": "size"},
                           ExpressionAttributeValues={":s": {"S": rng.choice(STATUSES[:3])}, ":z": {"N": "100"}})
    elif kind == 3:  # out of an index
        client.update_item(TableName="tracking", Key=key(), UpdateExpression="REMOVE #s",
                           ExpressionAttributeNames={"#s": "status"})
    elif kind == 4:
        client.delete_item(TableName="tracking", Key=key())
    elif kind == 5:  # a batch of puts and deletes
        client.batch_write_item(RequestItems={"tracking": [
            {"PutRequest": {"Item": {"pk": {"S": "2024-01-06"}, "sk": {"S": f"batch-{n}-{i}"},
                                     "status": {"S": "PENDING"}, "size": {"N": str(i)}}}} for i in range(3)]
            + [{"DeleteRequest": {"Key": key()}}]})
    elif kind == 6:  # a transaction whose last condition fails: its first two writes are rolled back
        first, second = key(), key()
        while second == first:
            second = key()
        with pytest.raises(client.exceptions.TransactionCanceledException):
            client.transact_write_items(TransactItems=[
                {"Update": {"TableName": "tracking", "Key": first, "UpdateExpression": "SET #s = :s",
                            "ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": {":s": {"S": "FAILED"}}}},
                {"Delete": {"TableName": "tracking", "Key": second}},
                {"ConditionCheck": {"TableName": "tracking", "Key": {"pk": {"S": "none"}, "sk": {"S": "none"}},
                                    "ConditionExpression": "attribute_exists(pk)"}}])
    else:  # a transaction that lands
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": "tracking", "Key": key(), "UpdateExpression": "SET #s = :s, uploaded_at = :u",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":s": {"S": "COMPLETED"}, ":u": {"S": "2024-01-01T12:00"}}}}])


def test_writes_are_followed_item_by_item_and_queries_still_answer_what_moto_answers(
        ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An index is built once, in one pass over the table; every write after it moves only its items (on a production
    day's table, a pass was 1.5 s of the first refresh after any write)."""
    builds = []
    build = index_slices.partitions
    monkeypatch.setattr(index_slices, "partitions", lambda *args: builds.append(args[1:]) or build(*args))
    dynamodb_reads.install()
    item_level_transaction_snapshots()  # the endpoint's rollback (moto's own replaces the tables with deep copies)
    queries = [query for query in _queries() if "PaginationConfig" not in query]  # paging: the test above
    rng = random.Random(11)

    walk = {"whole table": False}
    slice_of = SLICES.candidates
    monkeypatch.setattr(SLICES, "candidates", lambda *args: None if walk["whole table"] else slice_of(*args))

    def answers(sample: list[dict[str, Any]], whole_table: bool) -> list[Any]:
        walk["whole table"] = whole_table  # None: moto walks every item, as without the slices
        return [[page["Items"] for page in ddb.get_paginator("query").paginate(**query) if page["Items"]]
                for query in sample]

    for n in range(40):  # five of each kind
        _write_at_random(ddb, rng, n)
        sample = rng.sample(queries, 8)
        assert answers(sample, whole_table=False) == answers(sample, whole_table=True), f"after write {n} (kind {n % 8})"
    assert sorted(set(builds)) == sorted({("status", "uploaded_at"), ("status", "size"), ("date", None)})
    assert len(builds) == 3, f"an index was built again after a write: {builds}"

    for first in range(0, 1_100, 25):  # a bulk load, more items than the index holds: built again, in one pass
        ddb.batch_write_item(RequestItems={"tracking": [{"PutRequest": {"Item": {
            "pk": {"S": "2024-01-07"}, "sk": {"S": f"bulk-{i:04d}"}, "status": {"S": "COMPLETED"}, "date": {"S": "d1"},
            "uploaded_at": {"S": f"2024-01-01T{i % 24:02d}:00"}, "size": {"N": str(i)}}}} for i in range(first, first + 25)]})
    sample = rng.sample(queries, 20)
    assert answers(sample, whole_table=False) == answers(sample, whole_table=True)
    assert len(builds) == 3 + len({name for name in (q["IndexName"] for q in sample)})
