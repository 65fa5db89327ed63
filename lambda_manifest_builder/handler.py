"""Lambda entry point for SQS batches of S3 event notifications (Powertools, partial batch failures).

The batch's work is ``paybatch.builder.events.handle_sqs_batch``; this adds the Lambda's context logging and
its CloudWatch metrics (flushed after each invocation).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

from paybatch.builder.app import BuilderApp, app_for
from paybatch.builder.events import handle_sqs_batch

logger = Logger(service="manifest-builder")
metrics = Metrics(namespace="paybatch", service="manifest-builder")


def handle_batch(event: dict[str, Any], context: Any, app: BuilderApp) -> PartialItemFailureResponse:
    """One batch with this Lambda's metrics (the local poller and the tests call this too)."""
    return handle_sqs_batch(event, context, app, metrics)


@metrics.log_metrics(raise_on_empty_metrics=False)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return handle_batch(event, context, app_for())
