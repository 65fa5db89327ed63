"""One SQS batch of S3 event notifications: register each record, then pack the dates that received files.

The manifest builder's Lambda handler is this plus its Powertools wiring (``lambda_manifest_builder.handler``);
the simulated production day (``paybatch.ops.prod_day``) calls it the same way, without publishing metrics.
Each record is registered on its own: a record that fails (unknown message, a file busy in a run, a quarantine
copy that did not verify) is reported in ``batchItemFailures`` and comes back after the visibility timeout, then
goes to the DLQ; the others are done.
"""

from __future__ import annotations

from typing import Any, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from paybatch.builder.app import BuilderApp
from paybatch.builder.tracking import Outcome
from paybatch.contracts.events import UnrecognizedMessage, parse_s3_message

logger = Logger(service="manifest-builder")


class MetricSink(Protocol):
    """Where the batch's counts go: Powertools' ``Metrics`` in the Lambda."""

    def add_metric(self, *, name: str, unit: MetricUnit, value: float) -> Any: ...


def handle_sqs_batch(event: dict[str, Any], context: Any, app: BuilderApp, metrics: MetricSink) -> PartialItemFailureResponse:
    """Register every record of one SQS batch, then pack the touched dates."""
    touched: set[str] = set()

    def record_handler(record: SQSRecord) -> None:
        try:
            events = parse_s3_message(record.body)
        except UnrecognizedMessage as exc:
            logger.error("unrecognized message sent back for the DLQ", message_id=record.message_id, reason=str(exc))
            raise
        for s3_event in events:
            result = app.registry.handle(s3_event)
            logger.info("file event", key=s3_event.key, event=s3_event.event_name, outcome=str(result.outcome),
                        date_prefix=result.date_prefix)
            metrics.add_metric(name=f"files_{result.outcome.replace('-', '_')}", unit=MetricUnit.Count, value=1)
            if result.outcome in {Outcome.REGISTERED, Outcome.NEW_VERSION} and result.date_prefix:
                touched.add(result.date_prefix)

    processor = BatchProcessor(event_type=EventType.SQS)  # one per call: safe when the local poller runs threads
    response = process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                        context=context)
    for date_prefix in sorted(touched):
        try:
            created = app.builder.pack_date(date_prefix)
        except Exception:
            logger.exception("packing failed; files stay pending for the scheduler", date_prefix=date_prefix)
            continue
        if created:
            logger.info("manifests created", date_prefix=date_prefix, batch_ids=created)
            metrics.add_metric(name="manifests_created", unit=MetricUnit.Count, value=len(created))
    return response
