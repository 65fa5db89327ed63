"""PAYBATCH_FAULTS: errors in AWS's shapes from every client AwsClients makes; a bad spec is a clear error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from paybatch import faults
from paybatch.aws import AwsClients
from paybatch.config import Settings
from paybatch.dynamo import WriteFailed
from paybatch.tracking_store import TrackingStore


@pytest.fixture
def faulty(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv(faults.FAULTS_LOG, str(tmp_path))
    yield monkeypatch
    faults._injector = None


def clients_with(monkeypatch: pytest.MonkeyPatch, settings: Settings, spec: str) -> AwsClients:
    monkeypatch.setenv(faults.FAULTS, spec)
    return AwsClients(settings)


def test_a_transaction_conflict_arrives_as_aws_sends_it(faulty: pytest.MonkeyPatch, settings: Settings, tmp_path: Path) -> None:
    clients = clients_with(faulty, settings, "dynamodb:TransactWriteItems:TransactionConflict:1,seed=1")
    items = [{"ConditionCheck": {"TableName": "t", "Key": {"k": {"S": str(i)}}, "ConditionExpression": "attribute_exists(k)"}}
             for i in range(3)]
    with pytest.raises(ClientError) as caught:
        clients.dynamodb.transact_write_items(TransactItems=items)
    response = caught.value.response
    assert response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in response["CancellationReasons"]]
    assert len(reasons) == 3 and reasons.count("TransactionConflict") == 1 and reasons.count("None") == 2
    assert isinstance(caught.value, clients.dynamodb.exceptions.TransactionCanceledException)
    assert faults.read_fault_logs(tmp_path) == {"dynamodb:TransactWriteItems:TransactionConflict": 1}


def test_wildcards_and_probability_zero(faulty: pytest.MonkeyPatch, settings: Settings) -> None:
    clients = clients_with(faulty, settings, "s3:*:SlowDown:1,sqs:SendMessage:InternalError:0")
    with pytest.raises(ClientError) as caught:
        clients.s3.head_object(Bucket="b", Key="k")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    with Stubber(clients.sqs) as stub:  # probability 0: the call goes through (to the stub)
        stub.add_response("send_message", {"MessageId": "m1"}, {"QueueUrl": "q", "MessageBody": "x"})
        assert clients.sqs.send_message(QueueUrl="q", MessageBody="x")["MessageId"] == "m1"


def test_the_store_never_reads_a_write_it_could_not_make_as_success(faulty: pytest.MonkeyPatch, settings: Settings) -> None:
    """Conflicts on every attempt: the store raises WriteFailed, never "someone else moved it"."""
    clients = clients_with(faulty, settings, "dynamodb:TransactWriteItems:TransactionConflict:1")
    store = TrackingStore(clients)
    store.retry_pause = 0.0
    with pytest.raises(WriteFailed, match="TransactionConflict"):
        store.transact([{"ConditionCheck": {"TableName": "t", "Key": {"k": {"S": "1"}}, "ConditionExpression": "attribute_exists(k)"}}])


@pytest.mark.parametrize(("spec", "message"), [
    ("dynamodb:PutItem:Throttling:0.1", "unknown error 'Throttling'"),
    ("dynamodb:PutItem:ThrottlingException", "expected service:operation:error:probability"),
    ("dynamodb:PutItem:ThrottlingException:1.5", "the probability must be a number from 0 to 1"),
    ("dynamodb:PutItem:ThrottlingException:often", "the probability must be a number from 0 to 1"),
    ("seed=x", "the seed must be an integer"),
])
def test_a_bad_spec_names_the_rule(faulty: pytest.MonkeyPatch, settings: Settings, spec: str, message: str) -> None:
    faulty.setenv(faults.FAULTS, spec)
    with pytest.raises(faults.FaultSpecError, match=message):
        AwsClients(settings)


def test_the_same_seed_injects_the_same_faults() -> None:
    plan = faults.parse_faults("s3:*:SlowDown:0.3,seed=7")
    model = SimpleNamespace(name="GetObject", service_model=SimpleNamespace(service_id=SimpleNamespace(hyphenize=lambda: "s3")))
    injectors = [faults.FaultInjector(plan), faults.FaultInjector(plan)]
    runs = [[injector(model, {}) is not None for _ in range(200)] for injector in injectors]
    assert runs[0] == runs[1] and 30 < sum(runs[0]) < 90
