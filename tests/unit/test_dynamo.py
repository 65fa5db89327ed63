"""The DynamoDB toolkit without an endpoint: requests checked against DynamoDB's own API model (botocore's Stubber),
and the faults AWS really has — a condition that fails, throttling, an answer lost after the write was applied."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.stub import Stubber

from paybatch import dynamo
from paybatch.dynamo import ConditionFailed, WriteFailed, from_item, holds, one_of, to_item, transact, update, write_if


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamo, "PAUSE", 0.0)


def client() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def error(code: str, **extra: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, **extra}, "Op")


def lost() -> ReadTimeoutError:
    return ReadTimeoutError(endpoint_url="http://127.0.0.1")


class Answers:
    """A DynamoDB call that answers (or fails) as scripted, and records what it was sent."""

    def __init__(self, *answers: Any) -> None:
        self.answers, self.calls = list(answers), []  # type: ignore[var-annotated]

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)


def test_values_go_in_and_come_back_plain() -> None:
    values = {"n": 3, "x": 2.5, "big": 10**12, "s": "a", "list": [1, 1.5, {"k": 0.25}], "flag": True, "none": None}
    item = to_item(values)
    assert item["x"] == {"N": "2.5"} and item["n"] == {"N": "3"}
    assert from_item(item) == values and isinstance(from_item(item)["n"], int)
    assert from_item({"d": {"N": "4.0"}})["d"] == 4 and to_item({"d": Decimal("1.1")}) == {"d": {"N": "1.1"}}


def test_an_update_is_valid_for_dynamodb_and_names_every_attribute() -> None:
    condition, allowed = one_of("#status", ["pending", "failed"])
    request = update("t", {"pk": "2024-01-01", "sk": "a.ndjson"}, set={"status": "running", "size": 1.5},
                     remove=["error", "lease"], add={"fence": 1}, append={"log": [{"attempt": 1}]},
                     condition=f"{condition} AND #etag = :etag", names={"#status": "status", "#etag": "etag"},
                     values={**allowed, ":etag": "e1"})
    assert request["UpdateExpression"] == ("SET #s0 = :s0, #s1 = :s1, #l0 = list_append(if_not_exists(#l0, :empty_list), :l0) "
                                           "ADD #a0 :a0 REMOVE #r0, #r1")
    assert request["ConditionExpression"] == "#status IN (:e0, :e1) AND #etag = :etag"
    assert request["ExpressionAttributeNames"]["#s0"] == "status" and request["ExpressionAttributeNames"]["#r1"] == "lease"
    ddb = client()
    with Stubber(ddb) as stub:  # the request matches UpdateItem's model (names, values, types)
        stub.add_response("update_item", {}, {**request, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"})
        assert write_if(ddb.update_item, request) is True
        stub.assert_no_pending_responses()


def test_a_failed_condition_is_false_and_a_throttled_write_is_retried() -> None:
    request = update("t", {"pk": "a"}, set={"status": "done"}, condition="attribute_exists(pk)")
    assert write_if(Answers(error("ConditionalCheckFailedException")), request) is False
    throttled = Answers(error("ProvisionedThroughputExceededException"), error("ThrottlingException"), {})
    assert write_if(throttled, request) is True and len(throttled.calls) == 3


def test_after_a_lost_answer_a_failed_condition_is_checked_against_the_item() -> None:
    request = update("t", {"pk": "a"}, set={"status": "running", "job_run_id": "jr_1"}, condition="#status = :p",
                     names={"#status": "status"}, values={":p": "pending"})
    ours = {"pk": {"S": "a"}, "status": {"S": "running"}, "job_run_id": {"S": "jr_1"}}
    theirs = {"pk": {"S": "a"}, "status": {"S": "running"}, "job_run_id": {"S": "jr_2"}}
    landed = holds({"status": "running", "job_run_id": "jr_1"})
    # applied, its answer lost; the retry's condition fails on our own write: it landed
    assert write_if(Answers(lost(), error("ConditionalCheckFailedException", Item=ours)), request, landed=landed) is True
    # applied by someone else meanwhile: not ours
    assert write_if(Answers(lost(), error("ConditionalCheckFailedException", Item=theirs)), request, landed=landed) is False
    # without a lost answer a failed condition is never read as ours
    assert write_if(Answers(error("ConditionalCheckFailedException", Item=ours)), request, landed=landed) is False


def test_a_write_that_could_not_be_made_never_reads_as_success() -> None:
    request = update("t", {"pk": "a"}, set={"x": 1})
    with pytest.raises(WriteFailed) as refused:
        write_if(Answers(error("ValidationException")), request)
    assert not refused.value.maybe_applied
    with pytest.raises(WriteFailed) as unknown:
        write_if(Answers(*[lost()] * 3), request, attempts=3)
    assert unknown.value.maybe_applied


def test_a_transaction_keeps_one_token_and_names_the_items_whose_condition_failed() -> None:
    conflict = error("TransactionCanceledException", CancellationReasons=[{"Code": "None"}, {"Code": "TransactionConflict"}])
    failed = error("TransactionCanceledException", CancellationReasons=[{"Code": "None"}, {"Code": "ConditionalCheckFailed"}])
    ddb = type("Ddb", (), {})()
    ddb.transact_write_items = Answers(conflict, lost(), failed)
    with pytest.raises(ConditionFailed) as raised:
        transact(ddb, [{"Put": {}}, {"Update": {}}])
    assert raised.value.indices == [1] and raised.value.ambiguous  # after a lost answer: read before deciding
    assert len({c["ClientRequestToken"] for c in ddb.transact_write_items.calls}) == 1  # DynamoDB applies a token once
    ddb.transact_write_items = Answers(error("TransactionCanceledException", CancellationReasons=[{"Code": "ValidationError"}]))
    with pytest.raises(WriteFailed):
        transact(ddb, [{"Put": {}}])


def test_unprocessed_keys_and_items_are_sent_again() -> None:
    ddb = client()
    key = {"pk": {"S": "a"}, "sk": {"S": "1"}}
    other = {"pk": {"S": "a"}, "sk": {"S": "2"}}
    with Stubber(ddb) as stub:
        stub.add_response("batch_get_item", {"Responses": {"t": [{**key, "etag": {"S": "e1"}}]},
                                             "UnprocessedKeys": {"t": {"Keys": [other], "ConsistentRead": True}}})
        stub.add_response("batch_get_item", {"Responses": {"t": [{**other, "etag": {"S": "e2"}}]}})
        items, requests = dynamo.batch_get(ddb, "t", [{"pk": "a", "sk": "1"}, {"pk": "a", "sk": "2"}, {"pk": "a", "sk": "1"}])
    assert sorted(i["etag"] for i in items) == ["e1", "e2"] and requests == 2
    with Stubber(ddb) as stub:
        stub.add_response("batch_write_item", {"UnprocessedItems": {"t": [{"PutRequest": {"Item": key}}]}})
        stub.add_response("batch_write_item", {}, {"RequestItems": {"t": [{"PutRequest": {"Item": key}}]}})
        dynamo.batch_write(ddb, "t", [{"pk": "a", "sk": "1"}])
        stub.assert_no_pending_responses()
