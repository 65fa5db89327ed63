"""Starting and steering bulk runs: what `paybatch bulk generate|convert|status|list|resume|cancel` call.

A run is planned here (its chunks written to S3 and to the ledger), then one execution of the bulk state
machine processes them. Planning does the work that must not depend on chunking:
- **generation** allocates every (date, job) sequence range in the counter table, in job order, before any
  chunk runs; chunks then only reuse ranges, so the rows are the same however the jobs are chunked or how
  many run at once, and running the same request again reuses the same ranges and rewrites the same objects;
- **conversion** registers every object under the prefix in the tracking table (the manifest builder's own
  registration: a file already tracked, converted or in flight, is left alone) and packs the new ones into
  manifests with the builder's policy, marked as this run's; one chunk per manifest.

``resume`` starts a new execution over the chunks not yet succeeded (earlier executions are stopped
first); ``cancel`` stops the execution and the chunks' Glue runs.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date as Date
from typing import Any

from botocore.exceptions import ClientError

from paybatch.aws import AwsClients, account_id
from paybatch.builder.app import BuilderApp
from paybatch.builder.batching import conversion_job, route_of
from paybatch.builder.errors import DateBusy
from paybatch.bulk.backfill import list_prefix
from paybatch.bulk.definition import state_machine_arn
from paybatch.bulk.kinds import ChunkKind
from paybatch.bulk.ledger import TERMINAL_RUN_STATUSES, BulkLedger, ChunkStatus, RunStatus
from paybatch.bulk.plan import BulkPlanError, GenerationPlan
from paybatch.bulk.worker import RUN_CANCELLED, BulkWorker, result_key
from paybatch.config import Settings
from paybatch.contracts.tracking import date_prefix_for, iso, utcnow
from paybatch.errors import PaybatchError
from paybatch.generate.sequences import DynamoSequenceLedger
from paybatch.generate.spec import load_spec
from paybatch.jobs.launcher import JobLauncher
from paybatch.launchers import launcher_for
from paybatch.retry import retrying
from paybatch.storage import head_object

Progress = Callable[[int, int], None]


def check_run_options(max_concurrency: int | None, tolerance: float | None) -> None:
    """A bulk run's options, refused before anything is written (a ledger run, a sequence range)."""
    if max_concurrency is not None and max_concurrency < 1:
        raise BulkPlanError(f"--max-concurrency must be at least 1 (got {max_concurrency})")
    if tolerance is not None and not 0 <= tolerance <= 100:
        raise BulkPlanError(f"--tolerate must be a percentage 0..100 (got {tolerance})")


def new_run_id(kind: ChunkKind) -> str:
    return f"{kind}-{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


class BulkRunEnded(PaybatchError):
    """`bulk cancel` of a run that already ended: its outcome stands, nothing is written."""


class BulkControl:
    def __init__(self, settings: Settings, clients: AwsClients | None = None, launcher: JobLauncher | None = None) -> None:
        self.settings = settings
        self.clients = clients or AwsClients(settings)
        self._launcher = launcher
        self.ledger = BulkLedger(self.clients)
        self.sfn = self.clients.client("stepfunctions")
        self._account: str | None = None

    @property
    def launcher(self) -> JobLauncher:
        if self._launcher is None:
            self._launcher = launcher_for(self.settings, self.clients)
        return self._launcher

    @property
    def account(self) -> str:
        if self._account is None:
            self._account = account_id(self.clients)
        return self._account

    # --- generation ----------------------------------------------------------------------------------
    def allocate(self, plan: GenerationPlan, on_progress: Progress | None = None) -> None:
        """Every job's sequence range, in job order (a range recorded earlier is reused, never moved)."""

        spec = load_spec(None)
        sequences = DynamoSequenceLedger(self.clients.dynamodb, self.settings.tables.counters, spec.sequence_start)
        for done, job in enumerate(plan.jobs, 1):
            sequences.allocate(job.date, job.job_index, job.rows)
            if on_progress:
                on_progress(done, len(plan.jobs))

    def start_generation(self, plan: GenerationPlan, *, max_concurrency: int | None = None, tolerance: float | None = None,
                         on_progress: Progress | None = None) -> dict[str, Any]:
        check_run_options(max_concurrency, tolerance)  # before any sequence range is reserved
        self.allocate(plan, on_progress)
        return self._start(ChunkKind.GENERATE, plan.request, plan.chunks, max_concurrency, tolerance, new_run_id(ChunkKind.GENERATE))

    # --- conversion ----------------------------------------------------------------------------------
    def start_conversion(self, prefix_uri: str, since: Date | None = None, *, max_concurrency: int | None = None,
                         tolerance: float | None = None, on_progress: Progress | None = None) -> dict[str, Any]:
        """Register the prefix's objects, pack the new ones into this run's manifests, start the run.

        Returns the run, or (with ``run_id`` None) what the registration found when nothing is left to convert.
        """

        app = BuilderApp.create(self.settings)
        run_id = new_run_id(ChunkKind.CONVERT)
        objects = list(list_prefix(self.clients, prefix_uri, since))
        outcomes: Counter[str] = Counter()
        ours: dict[str, set[str]] = {}
        for done, obj in enumerate(objects, 1):
            head = head_object(self.clients.s3, obj.bucket, obj.key)
            if head is None:
                outcomes["gone"] += 1
                continue
            date_prefix = date_prefix_for(obj.key, self.settings.file_validation.date_prefix_pattern, head["LastModified"])
            registration = app.registry.register_object(obj.bucket, obj.key, head, date_prefix, accept_large=True)
            outcomes[str(registration.outcome)] += 1
            ours.setdefault(date_prefix, set()).add(obj.key)
            if on_progress:
                on_progress(done, len(objects))
        chunks: list[dict[str, Any]] = []
        for date_prefix, keys in sorted(ours.items()):
            try:
                records = app.builder.pack(date_prefix, flush=True, keys=keys, bulk_run=run_id,
                                           lock_wait_seconds=self.settings.lock.max_wait_seconds + 5)
            except DateBusy as exc:
                raise BulkPlanError(str(exc)) from None
            for record in records:
                chunk_id = len(chunks)
                route = route_of(self.settings, conversion_job(self.settings, int(record["total_bytes"])))
                chunks.append({"chunk_id": chunk_id, "item": f"chunk#{chunk_id:05d}", "kind": str(ChunkKind.CONVERT), "date": date_prefix,
                               "batch_id": record["batch_id"], "files": int(record["file_count"]),
                               "bytes": int(record["total_bytes"]), "route": route})
        found = {"objects": len(objects), **dict(outcomes)}
        if not chunks:
            return {"run_id": None, "registration": found}
        request = {"prefix": prefix_uri, "since": since.isoformat() if since else None, "registration": found}
        return self._start(ChunkKind.CONVERT, request, chunks, max_concurrency, tolerance, run_id)

    # --- the execution -------------------------------------------------------------------------------
    def _execution_input(self, run: dict[str, Any], chunks_key: str, count: int) -> dict[str, Any]:
        return {"run_id": run["run_id"], "kind": run["kind"], "chunk_count": count,
                "chunks": {"bucket": self.settings.buckets.artifacts, "key": chunks_key},
                "max_concurrency": int(run["max_concurrency"]), "heartbeat_seconds": self.settings.bulk.heartbeat_seconds,
                "chunk_timeout_seconds": self.settings.bulk.chunk_timeout_minutes * 60}

    def _launch(self, run: dict[str, Any], chunks: list[dict[str, Any]], attempt: int) -> str:
        key = f"bulk/{run['run_id']}/chunks-{attempt}.json"
        retrying(self.clients.s3.put_object, Bucket=self.settings.buckets.artifacts, Key=key,
                 Body=json.dumps(chunks).encode(), ContentType="application/json")
        name = f"{run['run_id']}-{attempt}"
        arn = self.sfn.start_execution(stateMachineArn=state_machine_arn(self.settings, self.account), name=name,
                                       input=json.dumps(self._execution_input(run, key, len(chunks))))["executionArn"]
        self.ledger.update_run(run["run_id"], {"execution_arn": arn, "execution": name, "attempt": attempt,
                                               "status": str(RunStatus.RUNNING), "error": None,
                                               "chunks_uri": f"s3://{self.settings.buckets.artifacts}/{key}"})
        return str(arn)

    def _start(self, kind: ChunkKind, request: dict[str, Any], chunks: list[dict[str, Any]], max_concurrency: int | None,
               tolerance: float | None, run_id: str) -> dict[str, Any]:
        check_run_options(max_concurrency, tolerance)
        run = {"run_id": run_id, "kind": str(kind), "env": self.settings.env, "status": str(RunStatus.RUNNING),
               "created_at": iso(utcnow()), "request": json.dumps(request), "chunk_count": len(chunks),
               "max_concurrency": max_concurrency or self.settings.bulk.max_concurrency,
               "tolerated_failure_percent": self.settings.bulk.tolerated_failure_percent if tolerance is None else tolerance}
        self.ledger.create_run(run, chunks)
        self._launch(run, chunks, 1)
        return self.ledger.get_run(run_id)

    # --- control -------------------------------------------------------------------------------------
    def execution_status(self, run: dict[str, Any]) -> dict[str, Any] | None:
        if not run.get("execution_arn"):
            return None
        try:
            return dict(retrying(self.sfn.describe_execution, executionArn=run["execution_arn"]))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return None
            raise

    def resume(self, run_id: str, *, redrive: bool = False) -> dict[str, Any]:
        """Run the chunks not yet succeeded in a new execution (or, with ``redrive``, Step Functions' RedriveExecution)."""
        run = self.ledger.get_run(run_id)
        execution = self.execution_status(run)
        if redrive:
            if not execution or execution["status"] not in ("FAILED", "ABORTED", "TIMED_OUT"):
                raise BulkPlanError(f"run {run_id}: only a failed, aborted or timed-out execution can be redriven "
                                    f"(it is {execution['status'] if execution else 'missing'}); use resume without --redrive")
            self.sfn.redrive_execution(executionArn=run["execution_arn"])
            self.ledger.update_run(run_id, {"status": str(RunStatus.RUNNING), "redriven_at": iso(utcnow())})
            return self.ledger.get_run(run_id)
        if execution and execution["status"] == "RUNNING":
            self.sfn.stop_execution(executionArn=run["execution_arn"], error="BulkRun.Resumed",
                                    cause="stopped by `paybatch bulk resume`, which continues in a new execution")
        chunks = self.ledger.chunks(run_id)
        remaining = [json.loads(c["spec"]) for c in chunks if c["status"] != ChunkStatus.SUCCEEDED]
        if not remaining:
            raise BulkPlanError(f"run {run_id}: every chunk already succeeded; nothing to resume")
        attempt = int(run.get("attempt", 1)) + 1
        for chunk in chunks:  # the new execution owns what is not done; the old one's tasks are superseded
            if chunk["status"] == ChunkStatus.CANCELLED:
                self.ledger.reopen_chunk(run_id, int(chunk["chunk_id"]))
            if chunk["status"] != ChunkStatus.SUCCEEDED:
                self.ledger.hand_to_execution(run_id, int(chunk["chunk_id"]), f"{run_id}-{attempt}", attempt * 1000 - 1)
        self.ledger.update_run(run_id, {"status": str(RunStatus.RUNNING), "resumed_at": iso(utcnow())})
        self._launch(run, remaining, attempt)
        return self.ledger.get_run(run_id)

    def cancel(self, run_id: str) -> dict[str, Any]:
        """Stop the execution and every chunk's Glue run still going; chunks not done are marked cancelled."""
        run = self.ledger.get_run(run_id)
        if run["status"] in TERMINAL_RUN_STATUSES:
            raise BulkRunEnded(f"bulk run {run_id} already ended {run['status']}: nothing to cancel")
        execution = self.execution_status(run)
        if execution and execution["status"] == "RUNNING":
            self.sfn.stop_execution(executionArn=run["execution_arn"], error="BulkRun.Cancelled", cause="`paybatch bulk cancel`")
        if not self.ledger.update_run(run_id, {"status": str(RunStatus.CANCELLED), "finished_at": iso(utcnow())},
                                      expected={RunStatus.RUNNING}):  # it ended meanwhile: its outcome stands
            raise BulkRunEnded(f"bulk run {run_id} ended {self.ledger.get_run(run_id)['status']} before it could be cancelled")

        worker = BulkWorker(self.settings, self.clients, self.launcher)
        kind = worker.kinds[ChunkKind(run["kind"])]  # a conversion run finishes its manifest (all or nothing)
        stopped = 0
        for chunk in self.ledger.chunks(run_id):
            if chunk["status"] == ChunkStatus.RUNNING and chunk.get("job_run_id"):
                stopped += kind.stop(chunk["job_name"], chunk["job_run_id"])
            if self.ledger.cancel_chunk(run_id, int(chunk["chunk_id"])) and chunk.get("task_token"):
                worker.fail(str(chunk["task_token"]), RUN_CANCELLED, f"bulk run {run_id} was cancelled")  # ends its waiting task
        return {**self.ledger.get_run(run_id), "runs_stopped": stopped}

    def status(self, run_id: str) -> dict[str, Any]:
        run = self.ledger.get_run(run_id)
        chunks = self.ledger.chunks(run_id)
        counts = Counter(str(c["status"]) for c in chunks)
        execution = self.execution_status(run)
        return {"run": run, "chunks": chunks, "counts": dict(counts), "execution": execution}

    def wait(self, run_id: str, on_progress: Callable[[dict[str, Any]], None] | None = None, *, poll: float = 2.0,
             timeout: float | None = None) -> dict[str, Any]:
        """Until the run's execution ends; returns the final status (``on_progress`` gets each poll's)."""
        deadline = time.monotonic() + timeout if timeout else None
        while True:
            status = self.status(run_id)
            if on_progress:
                on_progress(status)
            execution = status["execution"]
            ended = execution is None or execution["status"] != "RUNNING"
            if ended and (status["run"]["status"] in TERMINAL_RUN_STATUSES or execution is None):
                return status
            if ended:  # the execution ended outside the aggregation (stopped, timed out): record it, as the watch would

                BulkWorker(self.settings, self.clients).close_if_ended(status["run"])
                return self.status(run_id)
            if deadline and time.monotonic() > deadline:
                raise BulkPlanError(f"run {run_id} still running after {timeout:.0f}s; `paybatch bulk status {run_id}` follows it")
            time.sleep(poll)

    def result(self, run_id: str) -> dict[str, Any] | None:
        """The aggregated result kept in S3 (None before the aggregation ran)."""

        try:
            body = self.clients.s3.get_object(Bucket=self.settings.buckets.artifacts, Key=result_key(run_id))["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise
        return dict(json.loads(body))

