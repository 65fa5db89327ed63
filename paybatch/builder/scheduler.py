"""The periodic handler (EventBridge rule; the local scheduler thread locally): what makes "nothing lost" true.

Each pass repairs every state a crash or a failed write can leave:
1. finishes quarantine moves a crash left half-done;
2. finishes manifests a crash left ``creating`` (older than the lock lease) or ``created``;
3. watches running runs through the launcher: retries failed ones with backoff up to
   ``glue.run_retries``, then marks the manifest and its unfinished files failed;
4. fails files left ``manifested`` or ``processing`` under a manifest that finished or vanished
   (the run's own move of them could not be made), so none stays in flight for good;
5. starts queued manifests while run slots are free;
   (a bulk backfill's manifests, marked ``bulk_run``, are left to that run's state machine in 2, 3 and 5)
6. flushes stragglers: packs every date whose oldest pending file waited too long;
7. sweeps the input bucket (``paybatch.builder.sweep``): an object with no tracking item (a
   lost notification), or a newer version than the one tracked, is registered, whatever its age;
8. every ``catalog.maintain_every_minutes``, keeps the Iceberg tables tidy (expire snapshots, compact small
   files, remove the data files of runs that died before committing).

What belongs to other parts — whether a bulk run still drives a manifest, removing a failed batch's committed
rows, the tables' housekeeping — comes in as ``SchedulerHooks`` (wired by ``lambda_manifest_builder.scheduler``),
so the builder imports none of them; a hook left out is a step skipped.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from paybatch.builder.app import BuilderApp
from paybatch.builder.manifests import Dispatch
from paybatch.builder.sweep import InputSweep
from paybatch.config import Settings
from paybatch.contracts.tracking import TERMINAL_MANIFEST_STATUSES, FileStatus, ManifestStatus, iso, parse_iso, utcnow
from paybatch.jobs.launcher import FAILED_STATES
from paybatch.tracking_store import TrackingStore
from paybatch.transitions import Move

logger = Logger(service="manifest-scheduler")

CREATED_GRACE_SECONDS = 30  # a builder normally dispatches within this
MAINTAIN_CURSOR = ("maintain#tables", "last")
SCREENING_CURSOR = ("screening#nightly", "last")


def cron_time(expression: str) -> tuple[int, int]:
    """(hour, minute) of a daily EventBridge cron such as ``cron(0 1 * * ? *)``."""
    fields = expression.removeprefix("cron(").removesuffix(")").split()
    if len(fields) != 6 or not fields[0].isdigit() or not fields[1].isdigit():
        raise ValueError(f"screening.schedule {expression!r} is not a daily cron(M H * * ? *)")
    return int(fields[1]), int(fields[0])


@dataclass(frozen=True)
class SchedulerHooks:
    """What the scheduler hands over to the parts above the builder (each optional: left out, its step is skipped)."""

    # The status of a bulk run (``"running"``, …), or None if there is no such run (``paybatch.bulk``).
    bulk_run_status: Callable[[str], str | None] | None = None
    # Remove what a failed manifest's batch committed (``paybatch.convert.commit.retract_failed_manifest``).
    retract: Callable[[Settings, TrackingStore, Mapping[str, Any]], bool] | None = None
    # The tables' housekeeping, a report per table (``paybatch.iceberg.maintenance.maintain``).
    maintain: Callable[[Settings, datetime], list[dict[str, Any]]] | None = None


@dataclass
class SchedulerReport:
    quarantines_finished: int = 0
    manifests_repaired: int = 0
    runs_retried: int = 0
    manifests_failed: int = 0
    files_repaired: int = 0
    runs_started: int = 0
    manifests_created: list[str] = field(default_factory=list)
    files_swept: int = 0
    sweep_requests: int = 0
    tables_maintained: int = 0
    screening_runs_started: int = 0
    errors: list[str] = field(default_factory=list)


class Scheduler:
    def __init__(self, app: BuilderApp, hooks: SchedulerHooks | None = None) -> None:
        self.app = app
        self.hooks = hooks or SchedulerHooks()
        self.settings = app.settings
        self.store = app.store
        self._bulk_runs: dict[str, str | None] = {}

    def bulk_owned(self, record: dict[str, Any]) -> bool:
        """A manifest a bulk backfill still drives: its run is running, or being planned (younger than the lock lease).

        Once that run ends (or was never created), its leftover manifests are the scheduler's like any other.
        """
        run_id = record.get("bulk_run")
        if not run_id or self.hooks.bulk_run_status is None:
            return False
        if run_id not in self._bulk_runs:
            self._bulk_runs[run_id] = self.hooks.bulk_run_status(run_id)
        status = self._bulk_runs[run_id]
        if status is None:
            return (utcnow() - parse_iso(record["created_at"])).total_seconds() < self.settings.lock.ttl_seconds
        return status == "running"

    def run_once(self, *, flush: bool = False, sweep: bool = True) -> SchedulerReport:
        report = SchedulerReport()
        for step in (self.finish_quarantines, self.repair_manifests, self.watch_runs, self.repair_orphaned_files,
                     self.start_queued):
            try:
                step(report)
            except Exception as exc:
                logger.exception("scheduler step failed", step=step.__name__)
                report.errors.append(f"{step.__name__}: {type(exc).__name__}: {exc}")
        try:
            for date_prefix in self.app.builder.pending_dates():
                report.manifests_created += self.app.builder.pack_date(date_prefix, flush=flush)
        except Exception as exc:
            logger.exception("packing failed")
            report.errors.append(f"pack: {type(exc).__name__}: {exc}")
        if sweep:
            try:
                self.sweep_input(report)
            except Exception as exc:
                logger.exception("input sweep failed")
                report.errors.append(f"sweep: {type(exc).__name__}: {exc}")
            try:
                self.maintain_tables(report)
            except Exception as exc:
                logger.exception("table maintenance failed")
                report.errors.append(f"maintain: {type(exc).__name__}: {exc}")
            try:
                self.screen_customers(report)
            except Exception as exc:
                logger.exception("nightly screening failed to start")
                report.errors.append(f"screening: {type(exc).__name__}: {exc}")
        return report

    def screen_customers(self, report: SchedulerReport, *, now: datetime | None = None, due: bool = False) -> str | None:
        """Start the nightly screening run once a day, at the configured cron time (``due``: the rule says it is time).

        On AWS an EventBridge rule with the schedule invokes this Lambda (``{"action": "screen-customers"}``); locally
        the scheduler's loop checks the time. Either way the day's cursor in the tracking table starts it once.
        """
        screening = self.settings.screening
        if not screening.customers_uri:
            return None
        now = now or utcnow()
        if not due:
            hour, minute = cron_time(screening.schedule)
            if (now.hour, now.minute) < (hour, minute):
                return None
        last = self.store.get_file(*SCREENING_CURSOR)
        if last and last.get("date") == now.date().isoformat():
            return None
        self.store.save_item(*SCREENING_CURSOR, {"date": now.date().isoformat(), "at": iso(now)})  # first: once a day
        run_id = self.app.launcher.start_job_run(screening.job, {"--customers": screening.customers_uri})
        report.screening_runs_started += 1
        return run_id

    def maintain_tables(self, report: SchedulerReport) -> None:
        """The tables' housekeeping, when it is due (its last run is kept in the tracking table).

        The scheduler's Lambda has no pyiceberg, so no hook: on AWS the maintain Glue job does this on its schedule.
        """
        maintain = self.hooks.maintain
        if maintain is None:
            return
        now = utcnow()
        last = self.store.get_file(*MAINTAIN_CURSOR)
        if last and (now - parse_iso(last["at"])).total_seconds() < self.settings.catalog.maintain_every_minutes * 60:
            return
        self.store.save_item(*MAINTAIN_CURSOR, {"at": iso(now)})  # first: a slow pass must not start it twice
        for table in maintain(self.settings, now):
            report.tables_maintained += 1
            report.errors += [f"maintain {table['table']}: {e}" for e in table["errors"]]

    def finish_quarantines(self, report: SchedulerReport) -> None:
        for item in self.store.files_with_status(FileStatus.QUARANTINING):
            try:
                self.app.registry.quarantine.move(item)
            except Exception as exc:  # noqa: BLE001 - one file's trouble must not hold up the others
                report.errors.append(f"quarantine {item['file_key']}: {type(exc).__name__}: {exc}")
                continue
            report.quarantines_finished += 1

    def repair_manifests(self, report: SchedulerReport) -> None:
        now = utcnow()
        lease = timedelta(seconds=self.settings.lock.ttl_seconds)
        for record in self.store.manifests_with_status(ManifestStatus.CREATING):
            if now - parse_iso(record["updated_at"]) > lease:
                with self.each(report, "finalize", record):
                    self.app.builder.finalize(record["manifest_date"], record["batch_id"])
                    report.manifests_repaired += 1
        for record in self.store.manifests_with_status(ManifestStatus.CREATED):
            if self.bulk_owned(record):
                continue  # a bulk backfill's manifest: its run starts it (paybatch.bulk)
            if (now - parse_iso(record["updated_at"])).total_seconds() > CREATED_GRACE_SECONDS:
                with self.each(report, "dispatch", record):
                    outcome = self.app.builder.dispatch(record)
                    report.manifests_repaired += 1
                    report.runs_started += outcome == Dispatch.STARTED

    @contextmanager
    def each(self, report: SchedulerReport, what: str, record: dict[str, Any]) -> Iterator[None]:
        """One manifest's repair: its failure is reported, and the pass goes on with the others."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - one manifest's trouble must not hold up the others (next pass retries)
            logger.warning("manifest repair failed", step=what, batch_id=record.get("batch_id"), error=str(exc))
            report.errors.append(f"{what} {record.get('batch_id')}: {type(exc).__name__}: {exc}")

    def watch_runs(self, report: SchedulerReport) -> None:
        for record in self.store.manifests_with_status(ManifestStatus.RUNNING):
            if self.bulk_owned(record):
                continue  # a bulk backfill's manifest: its state machine retries it, with its own backoff
            with self.each(report, "watch", record):
                self.watch_run(record, report)

    def watch_run(self, record: dict[str, Any], report: SchedulerReport) -> None:
        """Retry (or fail) one running manifest whose run ended without recording its result."""
        run = self.app.launcher.get_job_run(record["job_name"], record["run_id"])
        state = run["JobRunState"]
        if state in FAILED_STATES:
            error = f"run {record['run_id']} {state}: {run.get('ErrorMessage', 'no error message')}"
        elif state == "SUCCEEDED":
            # The job records completed/partial itself; a success that did not is a failed attempt.
            current = self.store.get_manifest(record["manifest_date"], record["batch_id"])
            if current is None or current["manifest_status"] != ManifestStatus.RUNNING:
                return
            error = f"run {record['run_id']} SUCCEEDED but did not record the manifest's result"
        else:
            return
        self.retry_or_fail(record, error, report)

    def retry_or_fail(self, record: dict[str, Any], error: str, report: SchedulerReport) -> None:
        date_prefix, batch_id = record["manifest_date"], record["batch_id"]
        attempts = int(record.get("attempts", 1))
        if attempts <= self.settings.glue.run_retries:
            # Jittered, so runs that failed together (a conflict, a throttled burst) do not retry together.
            backoff = min(3600.0, self.settings.glue.run_retry_backoff_seconds * 2 ** (attempts - 1)) * random.uniform(0.5, 1.5)
            moved = self.app.moves.move_manifest(
                date_prefix, batch_id, ManifestStatus.QUEUED, expected=ManifestStatus.RUNNING,
                set_values={"last_error": error[:2000], "retry_after": time.time() + backoff,
                            "queue_reason": f"retry {attempts}/{self.settings.glue.run_retries} after: {error[:500]}"},
            )
            if moved.outcome == Move.MOVED:
                report.runs_retried += 1
                logger.warning("run failed; retrying", batch_id=batch_id, attempt=attempts, error=error)
            return
        self.fail_manifest(record, error)
        report.manifests_failed += 1

    def fail_manifest(self, record: dict[str, Any], error: str) -> None:
        """The manifest and every file of it still in flight → failed (each file retryable by `reprocess`)."""
        date_prefix, batch_id = record["manifest_date"], record["batch_id"]
        moved = self.app.moves.move_manifest(
            date_prefix, batch_id, ManifestStatus.FAILED, expected=[ManifestStatus.RUNNING, ManifestStatus.QUEUED],
            set_values={"last_error": error[:2000], "finished_at": iso(utcnow())},
            events={"run_failed": (1, int(record.get("total_bytes", 0)))},
        )
        if moved.outcome == Move.CONFLICT:
            return
        for entry in record["files"]:
            self.fail_file(date_prefix, entry["key"], batch_id, int(entry["size"]), error)
        logger.error("manifest failed after retries", batch_id=batch_id, error=error)
        self.retract(date_prefix, batch_id)

    def retract(self, date_prefix: str, batch_id: str) -> None:
        """Remove what a commit of the failed batch may have left visible (its run may have died after committing).

        Needs pyiceberg: the scheduler's Lambda has none (no hook), so on AWS `paybatch reprocess --failed` does it
        before the files go back to pending (``paybatch.ops.reprocess``).
        """
        retract_failed_manifest = self.hooks.retract
        if retract_failed_manifest is None:
            return
        record = self.store.get_manifest(date_prefix, batch_id)
        if record is not None:
            try:
                retract_failed_manifest(self.settings, self.store, record)
            except Exception as exc:  # noqa: BLE001 - `reprocess --failed` retracts it before any retry
                logger.warning("could not remove the failed batch's committed rows", batch_id=batch_id, error=str(exc))

    def fail_file(self, date_prefix: str, key: str, batch_id: str, size: int, error: str) -> bool:
        """One file of ``batch_id`` still manifested or processing → failed; False if it was not (any more)."""
        moved = self.app.moves.move_file(
            date_prefix, key, FileStatus.FAILED, expected=[FileStatus.MANIFESTED, FileStatus.PROCESSING],
            set_values={"error": error[:2000]}, batch_id=batch_id, events={"file_failed": (1, size)},
        )
        return moved.outcome == Move.MOVED

    def repair_orphaned_files(self, report: SchedulerReport) -> None:
        """Files in flight under a manifest that finished (or is gone): the run could not move them, so fail them.

        They stay retryable (`paybatch reprocess --batch-id` re-runs the batch, replacing its output).
        """
        manifests: dict[tuple[str, str], dict[str, Any] | None] = {}
        for status in (FileStatus.MANIFESTED, FileStatus.PROCESSING):
            for item in self.store.files_with_status(status):
                date_prefix, batch_id = item["date_prefix"], item.get("batch_id")
                if not batch_id:
                    continue
                if (date_prefix, batch_id) not in manifests:
                    manifests[date_prefix, batch_id] = self.store.get_manifest(date_prefix, batch_id)
                record = manifests[date_prefix, batch_id]
                state = record["manifest_status"] if record else None
                if state is not None and state not in TERMINAL_MANIFEST_STATUSES:
                    continue
                why = f"left {status} under batch {batch_id}, whose manifest is {state or 'gone'}; re-run the batch"
                if self.fail_file(date_prefix, item["file_key"], batch_id, int(item.get("size_bytes", 0)), why):
                    report.files_repaired += 1
                    logger.warning("repaired a file stranded in flight", key=item["file_key"], batch_id=batch_id, why=why)

    def start_queued(self, report: SchedulerReport) -> None:
        queued = sorted((r for r in self.store.manifests_with_status(ManifestStatus.QUEUED) if not self.bulk_owned(r)),
                        key=lambda r: r["created_at"])
        now = time.time()
        for record in queued:
            if float(record.get("retry_after", 0)) > now:
                continue
            outcome = None
            with self.each(report, "dispatch", record):
                outcome = self.app.builder.dispatch(record)
            if outcome == Dispatch.STARTED:
                report.runs_started += 1
            elif outcome == Dispatch.NO_SLOT:
                break  # no free slot: the rest wait for the next pass

    def sweep_input(self, report: SchedulerReport) -> None:
        result = InputSweep(self.app).run()
        report.files_swept += result.registered
        report.sweep_requests += result.requests
        report.errors += result.errors
