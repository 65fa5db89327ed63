"""The local stand-in for Lambda's SQS event source mapping and EventBridge schedule.

The poller long-polls a queue and calls a handler with the exact event Lambda sends
(``Records[]`` with messageId, receiptHandle, body, attributes, eventSource, eventSourceARN,
awsRegion). Like Lambda it deletes only the messages not reported in ``batchItemFailures``
(all of them stay if the handler raises), so failed messages come back after the visibility
timeout and reach the DLQ after maxReceiveCount. The handler never knows it is not on AWS.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from paybatch.aws import AwsClients
from paybatch.retry import retrying

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LocalLambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    region: str
    account_id: str
    memory_limit_in_mb: int = 512
    timeout_seconds: int = 300
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_event(messages: list[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """Lambda's SQS event for received messages."""
    records = []
    for message in messages:
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes", {})),
                "messageAttributes": dict(message.get("MessageAttributes", {})),
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def scheduled_event(rule_arn: str, region: str, account_id: str) -> dict[str, Any]:
    """EventBridge's "Scheduled Event" shape, as the periodic rule delivers it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


@dataclass
class PollResult:
    received: int = 0
    deleted: int = 0
    failed: int = 0
    handler_error: str | None = None


class SqsPoller:
    """Delivers one queue's messages to a handler in Lambda's batches, keeping Lambda's failure rules."""

    def __init__(
        self,
        clients: AwsClients,
        queue_name: str,
        handler: Handler,
        *,
        function_name: str,
        batch_size: int = 10,
        wait_seconds: int = 2,
        timeout_seconds: int = 300,
    ) -> None:
        self.clients = clients
        self.handler = handler
        self.function_name = function_name
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds
        self.timeout_seconds = timeout_seconds
        self.queue_url = retrying(clients.queue_url, queue_name, attempts=10)  # a 5xx at start must not kill the poller
        self.queue_arn = clients.queue_arn(queue_name)

    def poll_once(self) -> PollResult:
        """Receive up to one batch, invoke the handler, delete what succeeded."""
        settings = self.clients.settings
        response = self.clients.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        result = PollResult(received=len(messages))
        if not messages:
            return result
        event = sqs_event(messages, self.queue_arn, settings.region)
        context = LocalLambdaContext(
            self.function_name, settings.region, settings.account_id, timeout_seconds=self.timeout_seconds
        )
        try:
            outcome = self.handler(event, context)
        except Exception as exc:  # noqa: BLE001 - Lambda retries the whole batch when the handler raises
            log.warning("handler %s raised %s: %s; the batch returns after the visibility timeout",
                        self.function_name, type(exc).__name__, exc)
            result.failed = len(messages)
            result.handler_error = f"{type(exc).__name__}: {exc}"
            return result
        failures = outcome.get("batchItemFailures", []) if isinstance(outcome, Mapping) else []
        failed_ids = {item["itemIdentifier"] for item in failures}
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self.clients.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        result.deleted = len(done)
        result.failed = len(messages) - len(done)
        return result

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set; errors reaching the endpoint are logged and retried."""
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("polling %s failed; retrying", self.queue_url)
                stop.wait(1.0)


class Schedule:
    """Invokes a handler with EventBridge's scheduled event every ``interval`` seconds."""

    def __init__(self, clients: AwsClients, handler: Handler, *, function_name: str, interval: float) -> None:
        self.clients = clients
        self.handler = handler
        self.function_name = function_name
        self.interval = interval

    def fire(self) -> Any:
        settings = self.clients.settings
        rule_arn = f"arn:aws:events:{settings.region}:{settings.account_id}:rule/{self.function_name}-schedule"
        context = LocalLambdaContext(self.function_name, settings.region, settings.account_id)
        return self.handler(scheduled_event(rule_arn, settings.region, settings.account_id), context)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            try:
                self.fire()
            except Exception:
                log.exception("scheduled handler %s failed", self.function_name)
