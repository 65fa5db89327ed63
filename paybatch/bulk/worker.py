"""The bulk worker: takes each chunk task from the state machine, starts its compute, and answers its task token.

It is a Lambda on AWS (the work queue's event source, the Glue job state-change rule and a schedule) and a
poller plus a periodic call in `paybatch local up`'s services process locally; the code is the same.

- **chunk** (a work-queue message with a task token): a chunk already succeeded is answered at once (a
  resume, a redelivery); a chunk whose Glue run is still going takes the new token and keeps it; otherwise
  its compute starts — a generation chunk as one run of the generate job, a conversion chunk as its
  manifest's run (light or Spark by size, as the manifest builder routes it) — and is recorded as running.
- **settle** (a Glue run ended: the state-change event on AWS, the watch everywhere): the chunk's outcome
  is recorded in the ledger (conditional on that run still being the chunk's), then the token is answered
  with SendTaskSuccess, or SendTaskFailure ``BulkChunk.Failed`` that the state machine retries with backoff.
- **watch** (periodic): heartbeats the tokens of chunks whose runs are still going, settles those that ended
  without an event, and marks runs whose execution ended outside the aggregation (stopped, timed out).
- **aggregate** (the last task): every chunk's outcome from the ledger → one result in S3 and on the
  completion queue; ``within_tolerance`` decides whether the execution succeeds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

from paybatch.aws import AwsClients
from paybatch.bulk.kinds import ChunkKind, ChunkWork, RetryLater, work_for
from paybatch.bulk.ledger import (
    BulkLedger,
    ChunkRef,
    ChunkStatus,
    RunStatus,
)
from paybatch.config import Settings
from paybatch.contracts.tracking import iso, parse_iso, utcnow
from paybatch.jobs.launcher import FAILED_STATES, RUNNING_STATES, JobLauncher
from paybatch.launchers import launcher_for
from paybatch.pricing import GLUE_MINIMUM_SECONDS, dpus, glue_run_cost
from paybatch.retry import retrying

logger = logging.getLogger(__name__)

CHUNK_FAILED = "BulkChunk.Failed"
RUN_CANCELLED = "BulkRun.Cancelled"
SUPERSEDED = "BulkRun.Superseded"
STALE_TOKEN_CODES = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


def result_key(run_id: str) -> str:
    return f"bulk/{run_id}/result.json"


def run_seconds(job_run: Mapping[str, Any]) -> float:
    """How long a Glue run ran (Glue's ExecutionTime where given, else its timestamps)."""
    if job_run.get("ExecutionTime"):
        return float(job_run["ExecutionTime"])
    started, completed = job_run.get("StartedOn"), job_run.get("CompletedOn")
    if isinstance(started, str):
        started = parse_iso(started)
    if isinstance(completed, str):
        completed = parse_iso(completed)
    if isinstance(started, datetime) and isinstance(completed, datetime):
        return max(0.0, (completed - started).total_seconds())
    return 0.0


def run_cost(job_run: Mapping[str, Any]) -> tuple[float, float]:
    """(DPU-seconds, dollars) of a Glue run at Glue's prices (for a local run: what it would have cost on Glue)."""
    seconds = run_seconds(job_run)
    run_dpus = dpus(str(job_run.get("WorkerType")), float(job_run.get("NumberOfWorkers") or 0))
    if job_run.get("DPUSeconds"):  # auto scaling: Glue reports what it used (still at least a minute of its workers)
        used = float(job_run["DPUSeconds"])
        return used, glue_run_cost(max(used, GLUE_MINIMUM_SECONDS * run_dpus), 1.0)
    return seconds * run_dpus, glue_run_cost(seconds, run_dpus)


@dataclass
class WatchReport:
    heartbeats: int = 0
    settled: int = 0
    runs_closed: int = 0
    errors: list[str] = field(default_factory=list)


class BulkWorker:
    def __init__(self, settings: Settings, clients: AwsClients | None = None, launcher: JobLauncher | None = None) -> None:
        self.settings = settings
        self.clients = clients or AwsClients(settings)
        self.ledger = BulkLedger(self.clients)
        self.launcher = launcher or launcher_for(settings, self.clients)
        self.sfn = self.clients.client("stepfunctions")

    @cached_property
    def kinds(self) -> dict[ChunkKind, ChunkWork]:
        """What each kind of chunk runs (``paybatch.bulk.kinds``)."""
        return work_for(self.settings, self.clients, self.launcher)

    # --- answering the state machine ---------------------------------------------------------------
    def _answer(self, call: str, **kwargs: Any) -> bool:
        """A SendTask* call; a token that expired (the state machine gave up on it) is not an error here."""
        try:
            retrying(getattr(self.sfn, call), **kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in STALE_TOKEN_CODES:
                logger.info("task token no longer wanted (%s)", exc.response["Error"]["Code"])
                return False
            raise
        return True

    def succeed(self, token: str, output: Mapping[str, Any]) -> bool:
        return self._answer("send_task_success", taskToken=token, output=json.dumps(output, default=str))

    def fail(self, token: str, error: str, cause: str) -> bool:
        return self._answer("send_task_failure", taskToken=token, error=error, cause=cause[:32000])

    def heartbeat(self, token: str) -> bool:
        return self._answer("send_task_heartbeat", taskToken=token)

    # --- messages ------------------------------------------------------------------------------------
    def handle_message(self, body: Mapping[str, Any]) -> None:
        action = body.get("action")
        if action == "chunk":
            self.take_chunk(body)
        elif action == "aggregate":
            run = self.ledger.get_run(str(body["run_id"]))
            if body.get("execution") and body["execution"] != run.get("execution"):  # an execution a resume replaced
                self.fail(str(body["task_token"]), SUPERSEDED, f"run {run['run_id']} continues in {run.get('execution')}")
                return
            result = self.aggregate(str(body["run_id"]), str(body.get("execution", "")))
            self.succeed(str(body["task_token"]), compact_result(result))
        else:
            raise ValueError(f"unknown bulk work action {action!r}")

    def take_chunk(self, message: Mapping[str, Any]) -> None:
        run_id, spec, token = str(message["run_id"]), dict(message["chunk"]), str(message["task_token"])
        execution, chunk_id = str(message.get("execution", "")), int(spec["chunk_id"])
        order = task_order(execution, int(message.get("retry", 0)))
        run = self.ledger.find_run(run_id)
        record = self.ledger.get_chunk(run_id, chunk_id)
        if run is None or record is None:
            self.fail(token, CHUNK_FAILED, f"bulk run {run_id} chunk {chunk_id} is not in the ledger")
            return
        if run["status"] == RunStatus.CANCELLED or record["status"] == ChunkStatus.CANCELLED:
            self.fail(token, RUN_CANCELLED, f"bulk run {run_id} was cancelled")
            return
        if record["status"] == ChunkStatus.SUCCEEDED:
            self.succeed(token, {**chunk_summary(record), "skipped": "already done"})
            return
        recorded = int(record.get("task_order", -1))
        if order < recorded:  # a late copy of an older task, or one from an execution a resume replaced: end it (not retried)
            self.fail(token, SUPERSEDED, f"chunk {chunk_id} answers a newer task (execution {record.get('execution')})")
            return
        if order == recorded and token == record.get("task_token"):
            return  # the same task delivered again: the chunk already answers it
        if record.get("job_run_id") and record["status"] in (ChunkStatus.RUNNING, ChunkStatus.FAILED):
            job_run = self.launcher.get_job_run(record["job_name"], record["job_run_id"])
            still_going = job_run["JobRunState"] in RUNNING_STATES
            if still_going or record["status"] == ChunkStatus.RUNNING:
                if self.ledger.adopt_run(run_id, chunk_id, task_token=token, execution=execution, task_order=order,
                                         job_run_id=record["job_run_id"]):
                    if still_going:  # its run goes on: this task waits for it
                        self.heartbeat(token)
                    else:  # it ended and nobody settled it yet: settle now, answering this task
                        self.settle(ChunkRef(run_id, chunk_id), job_run)
                    return
                record = self.ledger.get_chunk(run_id, chunk_id) or record
        kind = self.kinds[ChunkKind(run["kind"])]
        try:
            job_name, job_run_id, route = kind.start(run, spec)
        except RetryLater:
            self.heartbeat(token)
            raise
        except Exception as exc:  # noqa: BLE001 - any refusal fails this attempt; the state machine retries it
            error = f"could not start chunk {chunk_id}: {type(exc).__name__}: {exc}"
            logger.warning(error)
            self.ledger.fail_unstarted(run_id, chunk_id, error)
            self.fail(token, CHUNK_FAILED, error)
            return
        started = self.ledger.start_chunk(run_id, chunk_id, task_token=token, execution=execution, task_order=order, job_name=job_name,
                                          job_run_id=job_run_id, route=route, attempts=int(record.get("attempts", 0)))
        if not started:  # a second delivery of this task started it first: ours is redundant
            kind.stop(job_name, job_run_id)
            return
        job_run = self.launcher.get_job_run(job_name, job_run_id)
        if job_run["JobRunState"] not in RUNNING_STATES:  # a light run can end before we look
            self.settle(ChunkRef(run_id, chunk_id), job_run)

    # --- settling ------------------------------------------------------------------------------------
    def settle(self, ref: ChunkRef, job_run: Mapping[str, Any]) -> bool:
        """Record the outcome of a chunk whose Glue run ended, then answer its token; False if not ours to settle."""
        record = self.ledger.get_chunk(ref.run_id, ref.chunk_id)
        if record is None or record["status"] != ChunkStatus.RUNNING or record.get("job_run_id") != job_run["Id"]:
            return False
        if job_run["JobRunState"] in RUNNING_STATES:
            return False
        run = self.ledger.get_run(ref.run_id)
        outcome = self.kinds[ChunkKind(run["kind"])].outcome(record, job_run)
        ok, values, error = outcome.ok, outcome.values, outcome.error
        dpu_seconds, cost = run_cost(job_run)
        values = {**values, "dpu_seconds": round(dpu_seconds, 1), "cost_usd": round(cost, 4),
                  "duration_seconds": round(run_seconds(job_run), 1), "job_state": job_run["JobRunState"]}
        if error:
            values["last_error"] = error[:2000]
        moved = self.ledger.finish_chunk(ref.run_id, ref.chunk_id, job_run["Id"],
                                         ChunkStatus.SUCCEEDED if ok else ChunkStatus.FAILED, values)
        if not moved:
            return False
        logger.info("bulk chunk %s/%s %s", ref.run_id, ref.chunk_id, "succeeded" if ok else f"failed: {error}")
        token = str(record.get("task_token", ""))
        if ok:
            self.succeed(token, {**chunk_summary({**record, **values}), "status": "succeeded"})
        else:
            self.fail(token, CHUNK_FAILED, error or "failed")
        return True

    def on_job_event(self, detail: Mapping[str, Any]) -> bool:
        """A Glue Job State Change event (EventBridge): settle the chunk whose run it is, if any."""
        if detail.get("state") not in FAILED_STATES | {"SUCCEEDED"}:
            return False
        ref = self.ledger.chunk_for_job_run(str(detail["jobRunId"]))
        if ref is None:
            return False
        return self.settle(ref, self.launcher.get_job_run(str(detail["jobName"]), str(detail["jobRunId"])))

    # --- the periodic watch --------------------------------------------------------------------------
    def watch(self) -> WatchReport:
        report = WatchReport()
        for chunk in list(self.ledger.running_chunks()):
            if not chunk.get("job_run_id"):
                continue
            try:
                job_run = self.launcher.get_job_run(chunk["job_name"], chunk["job_run_id"])
                if job_run["JobRunState"] in RUNNING_STATES:
                    report.heartbeats += self.heartbeat(str(chunk["task_token"]))
                elif self.settle(ChunkRef(chunk["run_id"], int(chunk["chunk_id"])), job_run):
                    report.settled += 1
            except Exception as exc:  # noqa: BLE001 - one chunk's trouble must not stop the others' heartbeats
                report.errors.append(f"chunk {chunk['run_id']}/{chunk['chunk_id']}: {type(exc).__name__}: {exc}")
        for run in self.ledger.active_runs():
            try:
                report.runs_closed += self.close_if_ended(run)
            except Exception as exc:  # noqa: BLE001
                report.errors.append(f"run {run['run_id']}: {type(exc).__name__}: {exc}")
        return report

    def close_if_ended(self, run: Mapping[str, Any]) -> bool:
        """A run whose execution ended without the aggregation recording it (stopped, timed out, failed early)."""
        arn = run.get("execution_arn")
        if not arn:
            return False
        execution = retrying(self.sfn.describe_execution, executionArn=arn)
        if execution["status"] == "RUNNING":
            return False
        error = f"execution {execution['status']}: {execution.get('error') or ''} {execution.get('cause') or ''}".strip()
        return self.ledger.update_run(run["run_id"], {"status": str(RunStatus.FAILED), "error": error[:2000],
                                                      "finished_at": iso(utcnow())}, expected={RunStatus.RUNNING})

    # --- aggregation ---------------------------------------------------------------------------------
    def aggregate(self, run_id: str, execution: str = "") -> dict[str, Any]:
        """Every chunk's outcome → the run's result (S3 and the completion queue) and status."""
        run = self.ledger.get_run(run_id)
        chunks = self.ledger.chunks(run_id)
        done = [c for c in chunks if c["status"] == ChunkStatus.SUCCEEDED]
        failed = [c for c in chunks if c["status"] != ChunkStatus.SUCCEEDED]
        percent = 100.0 * len(failed) / max(1, len(chunks))
        tolerated = float(run["tolerated_failure_percent"])
        within = percent <= tolerated
        status = RunStatus.SUCCEEDED if not failed else RunStatus.PARTIAL if within else RunStatus.FAILED
        started = parse_iso(str(run["created_at"]))
        result: dict[str, Any] = {
            "type": "bulk_run_result", "run_id": run_id, "kind": run["kind"], "env": self.settings.env, "status": str(status),
            "execution": execution, "within_tolerance": within, "tolerated_failure_percent": tolerated,
            "failed_percent": round(percent, 2),
            "chunks": {"total": len(chunks), "succeeded": len(done), "skipped": sum(1 for c in done if c.get("skipped")),
                       "failed": len(failed)},
            "failed_chunks": [{"chunk_id": c["chunk_id"], "status": c["status"], "attempts": c.get("attempts", 0),
                               "error": str(c.get("last_error", ""))[:500]} for c in failed],
            "rows": sum(int(c.get("rows", 0)) for c in done),
            "rows_rejected": sum(int(c.get("rows_rejected", 0)) for c in done),
            "bytes": sum(int(c.get("bytes", 0)) for c in done),
            "files": sum(int(c.get("files", 0)) for c in done),
            "dpu_hours": round(sum(float(c.get("dpu_seconds", 0)) for c in chunks) / 3600, 3),
            "cost_usd": round(sum(float(c.get("cost_usd", 0)) for c in chunks), 4),
            "started_at": run["created_at"], "finished_at": iso(utcnow()),
            "duration_seconds": round((utcnow() - started).total_seconds(), 1),
            "outputs": sorted({o for c in done for o in c.get("outputs", [])})[:200],
            "result_uri": f"s3://{self.settings.buckets.artifacts}/{result_key(run_id)}",
        }
        body = json.dumps(result, indent=2, default=str)
        retrying(self.clients.s3.put_object, Bucket=self.settings.buckets.artifacts, Key=result_key(run_id), Body=body.encode(),
                 ContentType="application/json")
        queue = retrying(self.clients.queue_url, self.settings.queues.completion)
        retrying(self.clients.sqs.send_message, QueueUrl=queue, MessageBody=json.dumps(result, default=str))
        self.ledger.update_run(run_id, {"status": str(status), "result": compact_result(result), "finished_at": result["finished_at"]},
                               expected={RunStatus.RUNNING})
        return result


def task_order(execution: str, retry: int) -> int:
    """Which of two tasks for the same chunk is newer: executions ``<run>-<n>`` in order, then the retry count."""
    attempt = execution.rsplit("-", 1)[-1]
    return (int(attempt) if attempt.isdigit() else 0) * 1000 + retry


def chunk_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("chunk_id", "rows", "bytes", "files", "attempts", "job_run_id", "duration_seconds", "cost_usd")
    return {k: record[k] for k in keys if k in record}


def compact_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """What the state machine carries and the run item keeps (the whole result, failed chunks listed, is in S3)."""
    keys = ("run_id", "status", "within_tolerance", "failed_percent", "chunks", "rows", "bytes", "files", "dpu_hours",
            "cost_usd", "duration_seconds", "result_uri")
    return {k: result[k] for k in keys if k in result}
