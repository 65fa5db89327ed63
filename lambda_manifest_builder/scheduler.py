"""Lambda entry point of the periodic pass (EventBridge rules; the local services process's timer).

The scheduler itself is ``paybatch.builder.scheduler``; this module wires in what it hands over to the parts
above the builder (``scheduler_for``) and reports the pass as metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from paybatch.builder.app import BuilderApp, app_for
from paybatch.builder.scheduler import Scheduler, SchedulerHooks, SchedulerReport
from paybatch.bulk.ledger import BulkLedger
from paybatch.config import Settings
from paybatch.contracts.tracking import FileStatus, parse_iso, utcnow
from paybatch.tracking_store import TrackingStore

logger = Logger(service="manifest-scheduler")
metrics = Metrics(namespace="paybatch", service="scheduler")


def _retract(settings: Settings, store: TrackingStore, record: Mapping[str, Any]) -> bool:
    from paybatch.convert.commit import retract_failed_manifest  # Iceberg: absent from the scheduler's Lambda bundle

    return retract_failed_manifest(settings, store, record)


def _maintain(settings: Settings, now: datetime) -> list[dict[str, Any]]:
    from paybatch.iceberg.maintenance import maintain  # Iceberg: absent from the scheduler's Lambda bundle

    return maintain(settings, now)


def _has_iceberg() -> bool:
    try:
        import pyiceberg  # noqa: F401
    except ImportError:
        return False
    return True


def scheduler_for(app: BuilderApp) -> Scheduler:
    """The scheduler with the bulk ledger's run status and, where pyiceberg is installed, retraction and upkeep."""
    ledger = BulkLedger(app.clients)

    def bulk_run_status(run_id: str) -> str | None:
        run = ledger.find_run(run_id)
        return None if run is None else str(run["status"])

    iceberg = _has_iceberg()
    return Scheduler(app, SchedulerHooks(bulk_run_status=bulk_run_status, retract=_retract if iceberg else None,
                                         maintain=_maintain if iceberg else None))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    app = app_for()
    scheduler = scheduler_for(app)
    if event.get("action") == "screen-customers":  # the nightly screening rule
        nightly = SchedulerReport()
        run_id = scheduler.screen_customers(nightly, due=True)
        return {"screening_run": run_id, **nightly.__dict__}
    report = scheduler.run_once()
    logger.info("scheduler pass", **report.__dict__)
    oldest = app.store.oldest_with_status(FileStatus.PENDING)
    age = (utcnow() - parse_iso(str(oldest["upload_time"]))).total_seconds() if oldest else 0.0
    metrics.add_metric(name="oldest_pending_file_age_seconds", unit=MetricUnit.Seconds, value=age)  # the stack alarms on it
    return report.__dict__
