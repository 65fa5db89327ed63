"""The local endpoint runs Amazon States Language itself (moto's interpreter, switched on by provisioning).

The case the bulk state machine relies on: a ``.waitForTaskToken`` task that fails, is retried with backoff,
and is heartbeated while its retry runs. moto gave every retry the first attempt's token, whose stored failure
the first heartbeat read back (the retry failed at once); the endpoint gives each attempt its own token.
"""

from __future__ import annotations

import itertools
import json
import time

import pytest

from paybatch.aws import AwsClients

pytestmark = pytest.mark.integration


def test_a_retried_task_gets_a_fresh_token_and_survives_heartbeats(clients: AwsClients) -> None:
    sqs, sfn = clients.sqs, clients.client("stepfunctions")
    queue = sqs.create_queue(QueueName="sfn-probe")["QueueUrl"]
    definition = {"StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "HeartbeatSeconds": 30,
                 "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token", "retry.$": "$$.State.RetryCount"}},
                 "Retry": [{"ErrorEquals": ["Probe.Failed"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 2}],
                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}], "End": True},
        "Caught": {"Type": "Fail", "Error": "Caught"}}}
    arn = sfn.create_state_machine(name="probe", definition=json.dumps(definition),
                                   roleArn="arn:aws:iam::123456789012:role/probe")["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name="probe-1", input="{}")["executionArn"]
    tokens, received = [], []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        for message in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", []):
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            body = json.loads(message["Body"])
            tokens.append(body["token"])
            received.append(time.monotonic())
            if body["retry"] < 2:
                sfn.send_task_failure(taskToken=body["token"], error="Probe.Failed", cause="not yet")
            else:
                sfn.send_task_heartbeat(taskToken=body["token"])
                time.sleep(1)
                sfn.send_task_heartbeat(taskToken=body["token"])
                sfn.send_task_success(taskToken=body["token"], output=json.dumps({"done": True}))
    result = sfn.describe_execution(executionArn=execution)
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {"done": True}
    assert len(tokens) == 3 and len(set(tokens)) == 3  # one token per attempt
    waits = [b - a for a, b in itertools.pairwise(received)]
    assert waits[0] >= 0.9 and waits[1] >= 1.9  # the Retry's backoff: 1 s, then 2 s
