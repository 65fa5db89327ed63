"""Lambda entry point of the bulk worker: work-queue batches, Glue job state changes, and its schedule.

- SQS records (``Records``): chunk and aggregate tasks, one at a time; a record that cannot be taken now
  (no free Glue run slot) or that failed is reported in ``batchItemFailures`` and comes back.
- ``aws.glue`` "Glue Job State Change": settles the chunk whose run ended.
- a scheduled event: the watch (heartbeats, settling runs that ended without an event).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from paybatch.bulk.kinds import RetryLater
from paybatch.bulk.worker import BulkWorker
from paybatch.config import load_settings
from paybatch.retry import retrying

logger = Logger(service="bulk-worker")
RETRY_LATER_SECONDS = 20


@lru_cache(maxsize=4)
def worker_for(env: str | None = None) -> BulkWorker:
    return BulkWorker(load_settings(env))


def on_job_state_change(event: dict[str, Any], env: str | None = None) -> dict[str, Any]:
    """A Glue job state change for ``env``'s bulk worker (the local job runner calls it by name when a run ends)."""
    return handle(event, None, worker_for(env))


def handle(event: dict[str, Any], context: Any, worker: BulkWorker) -> dict[str, Any]:
    if "Records" in event:
        def record_handler(record: SQSRecord) -> None:
            try:
                worker.handle_message(json.loads(record.body))
            except RetryLater:
                # Back in RETRY_LATER_SECONDS, not after the queue's whole visibility timeout.
                queue = record.event_source_arn.rsplit(":", 1)[-1]
                worker.clients.sqs.change_message_visibility(QueueUrl=retrying(worker.clients.queue_url, queue),
                                                             ReceiptHandle=record.receipt_handle,
                                                             VisibilityTimeout=RETRY_LATER_SECONDS)
                raise

        # One per call (safe when the local poller runs threads); a failed record is reported, not raised, even when
        # it is the whole batch (batches are of one).
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return dict(process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context))
    if event.get("source") == "aws.glue":
        settled = worker.on_job_event(event.get("detail", {}))
        return {"settled": settled}
    report = worker.watch()
    if report.errors:
        logger.warning("bulk watch errors", errors=report.errors)
    return report.__dict__


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, worker_for())
