"""The stand-ins of a simulated production day (``paybatch.ops.prod_day``): the day's clock, the input objects
prod's 3.5 GB files would be, and conversion runs that last what the measured rate says and then make the run's
tracking writes through the run's own functions."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.awsrequest import AWSResponse

from paybatch.aws import AwsClients
from paybatch.builder.app import BuilderApp
from paybatch.config import Settings
from paybatch.contracts.manifest import Manifest
from paybatch.contracts.tracking import ManifestStatus
from paybatch.convert.commit import RunCommit
from paybatch.convert.manifest_run import read_manifest
from paybatch.convert.run_moves import ManifestResult, complete_files, record_result, take_files
from paybatch.jobs.launcher import ConcurrentRunsExceeded
from paybatch.ops.scale_test import LINE_BYTES_ESTIMATE
from paybatch.pricing import job_dpus, run_seconds
from paybatch.pricing.rates import rate
from paybatch.transitions import RunFence

DAY = date(2030, 6, 3)  # the simulated day (its own endpoint: no real data shares it)


@dataclass(frozen=True)
class DayFile:
    key: str
    size: int
    etag: str
    arrival: float  # seconds after midnight
    real: bool  # a real (small) object in the input bucket


class SimClock:
    """The simulated day's time, moved forward by the simulation (never by the code it runs)."""

    def __init__(self) -> None:
        self.start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
        self.seconds = 0.0

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)


class InputObjects:
    """botocore handlers answering S3 HeadObject for the day's files that have no real object."""

    def __init__(self, files: list[DayFile], clock: SimClock) -> None:
        self.files = {f.key: f for f in files if not f.real}
        self.clock = clock

    def install(self, clients: AwsClients) -> None:
        events = clients.s3.meta.events
        events.register("before-parameter-build.s3.HeadObject", self.remember, unique_id="prod-day-key")
        events.register_last("before-call.s3.HeadObject", self.answer, unique_id="prod-day-head")

    def remember(self, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["prod_day_key"] = params.get("Key")

    def answer(self, context: Mapping[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        found = self.files.get(context.get("prod_day_key") or "")
        if found is None:
            return None  # a real object: the endpoint answers
        parsed = {"ContentLength": found.size, "ETag": f'"{found.etag}"',
                  "LastModified": self.clock.start + timedelta(seconds=found.arrival),
                  "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}}
        return AWSResponse(url="", status_code=200, headers={}, raw=None), parsed


@dataclass
class SimRun:
    run_id: str
    job: str
    arguments: dict[str, str]
    manifest: Manifest
    started: float
    ends: float
    state: str = "RUNNING"


def conversion_seconds(settings: Settings, job: str, total_bytes: int) -> float:
    """How long a run converts ``total_bytes`` on the job's workers at the measured rate (Glue's 1-minute minimum)."""
    cpu_seconds = total_bytes / 2**20 / rate("convert_mib_per_cpu_second")
    return max(60.0, run_seconds(cpu_seconds, job_dpus(settings, job)))


class StandInRuns:
    """The job launcher for the simulated day: Glue's concurrency limit, runs that last their measured time."""

    def __init__(self, settings: Settings, clients: AwsClients, clock: SimClock) -> None:
        self.settings, self.clients, self.clock = settings, clients, clock
        self.runs: dict[str, SimRun] = {}
        self.refused = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def running(self) -> int:
        return sum(r.state == "RUNNING" for r in self.runs.values())

    def start_job_run(self, job_name: str, arguments: Mapping[str, str]) -> str:
        manifest = read_manifest(self.clients, arguments["--manifest_path"])  # what the run reads first
        with self._lock:
            if self.running() >= self.settings.glue.max_concurrent_runs:
                self.refused += 1
                raise ConcurrentRunsExceeded(job_name, self.settings.glue.max_concurrent_runs)
            run_id = f"jr_day_{len(self.runs):06d}"
            seconds = conversion_seconds(self.settings, job_name, manifest.totals.total_bytes)
            self.runs[run_id] = SimRun(run_id, job_name, dict(arguments), manifest, self.clock.seconds, self.clock.seconds + seconds)
            self.most_running = max(self.most_running, self.running())
            return run_id

    def get_job_run(self, job_name: str, run_id: str) -> dict[str, Any]:
        run = self.runs[run_id]
        return {"Id": run_id, "JobName": job_name, "JobRunState": run.state, "Arguments": run.arguments,
                "StartedOn": self.clock.start + timedelta(seconds=run.started)}

    def list_job_runs(self, job_name: str) -> list[dict[str, Any]]:
        return [self.get_job_run(job_name, r.run_id) for r in self.runs.values() if r.job == job_name]

    def stop_job_run(self, job_name: str, run_id: str) -> None:
        self.runs[run_id].state = "STOPPED"

    def due(self) -> list[SimRun]:
        with self._lock:
            return sorted((r for r in self.runs.values() if r.state == "RUNNING" and r.ends <= self.clock.seconds),
                          key=lambda r: r.ends)


def finish_run(app: BuilderApp, run: SimRun, clock: SimClock) -> None:
    """The run's tracking writes, made through the run's own functions: take each file, complete it, record the result."""
    manifest, token = run.manifest, run.arguments["--run_token"]
    date_prefix, batch_id = manifest.date_prefix, manifest.batch_id
    fence = RunFence(date_prefix, batch_id, token)
    taken_all = take_files(app.moves, date_prefix, [e.key for e in manifest.files], batch_id, clock(), fence)
    taken = [e for e in manifest.files if taken_all[e.key].done]
    summary = ManifestResult(batch_id=batch_id, status=str(ManifestStatus.COMPLETED),
                             duration_seconds=round(run.ends - run.started, 1), output_uri="s3://stand-in/")
    rows = {e.key: max(1, e.size // LINE_BYTES_ESTIMATE) for e in taken}
    converted = [(e, {"lines_read": rows[e.key], "rows_written": rows[e.key], "rows_rejected": 0, "partitions": [date_prefix]})
                 for e in taken]
    completed = complete_files(app.moves, date_prefix, converted, batch_id, fence)
    for entry in taken:
        if completed[entry.key].done:
            summary.lines_read += rows[entry.key]
            summary.rows_written += rows[entry.key]
            app.moves.allow_expiry(date_prefix, entry.key, entry.etag)  # after the object's tag (not made here)
    failures = len(manifest.files) - len(taken)
    status = ManifestStatus.COMPLETED if failures == 0 else ManifestStatus.PARTIAL
    record_result(app.moves, manifest, summary, status, failures, RunCommit(None, None, 1, "stand-in"), token)
    run.state = "SUCCEEDED"
