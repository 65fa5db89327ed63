"""The kinds of bulk chunk, each behind one interface: how a chunk's compute starts, what its ended run came to,
and how a redundant or cancelled run is stopped.

- ``generation``: a contiguous range of the request's generation jobs, run as one run of the generate job; its
  result (rows, bytes, sequence allocations) is the JSON the run writes at ``--result_uri``. A run a cancel or a
  duplicate start made redundant is stopped (its output is rewritten, byte for byte, by the run that goes on).
- ``conversion``: one manifest of the backfill, run through the manifest builder's own dispatch (light or Spark
  by size); its outcome is the manifest's record. A conversion run is never stopped mid-way: it commits all of
  its manifest or nothing, and the manifest's run fence makes a second start harmless.

Their plans and estimates are ``paybatch.bulk.plan`` (``plan_generation``, ``estimate_generation``,
``estimate_conversion``) and ``paybatch.bulk.backfill`` (``preview_conversion``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, NamedTuple, Protocol

from botocore.exceptions import ClientError

from paybatch.aws import AwsClients
from paybatch.builder.app import BuilderApp
from paybatch.builder.batching import route_of
from paybatch.builder.manifests import Dispatch
from paybatch.config import Settings
from paybatch.contracts.tracking import ManifestStatus, utcnow
from paybatch.generate.spec import PAN_DIMENSION
from paybatch.jobs.launcher import RUNNING_STATES, JobLauncher, is_concurrency_refusal
from paybatch.retry import retrying
from paybatch.storage import split_s3_uri
from paybatch.transitions import requeue_manifest


class ChunkKind(StrEnum):
    GENERATE = "generate"
    CONVERT = "convert"


class RetryLater(Exception):
    """The chunk cannot start yet (no free Glue run slot): the message comes back after the visibility timeout."""


class StartedRun(NamedTuple):
    job_name: str
    job_run_id: str
    route: str  # light | spark


@dataclass(frozen=True)
class Outcome:
    ok: bool
    values: dict[str, Any] = field(default_factory=dict)  # what the chunk's ledger item records (rows, bytes, outputs …)
    error: str = ""


def chunk_result_uri(settings: Settings, run_id: str, chunk_id: int, attempt: str) -> str:
    return f"s3://{settings.buckets.artifacts}/bulk/{run_id}/chunks/{chunk_id:05d}/{attempt}.json"


class ChunkWork(Protocol):
    kind: ChunkKind

    def start(self, run: Mapping[str, Any], spec: Mapping[str, Any]) -> StartedRun:
        """Start (or adopt) the chunk's compute; ``RetryLater`` when no run slot is free."""

    def outcome(self, chunk: Mapping[str, Any], job_run: Mapping[str, Any]) -> Outcome:
        """What the chunk (its ledger item) came to, once its run ``job_run`` ended."""

    def stop(self, job_name: str, job_run_id: str) -> bool:
        """Stop a run made redundant (a duplicate start, a cancel); False if this kind lets its runs finish."""


@dataclass
class GenerationChunks:
    settings: Settings
    clients: AwsClients
    launcher: JobLauncher
    kind: ChunkKind = ChunkKind.GENERATE

    def start(self, run: Mapping[str, Any], spec: Mapping[str, Any]) -> StartedRun:
        request = json.loads(run["request"])
        tables = [t for t in request["tables"] if t != PAN_DIMENSION or spec.get("pan_dimension")]
        attempt = utcnow().strftime("%Y%m%dT%H%M%S%f")
        arguments = {
            "--env": self.settings.env, "--rows": str(request["rows"]), "--dates": f"{request['dates'][0]}..{request['dates'][-1]}",
            "--rows_per_job": str(request["rows_per_job"]), "--job_slices": f"{spec['jobs'][0]}..{spec['jobs'][1]}",
            "--seed": str(request["seed"]), "--format": request["format"], "--tables": ",".join(tables),
            "--quality": "true" if request["quality"] else "false",
            "--result_uri": chunk_result_uri(self.settings, run["run_id"], int(spec["chunk_id"]), attempt),
        }
        if request.get("output"):
            arguments["--output"] = request["output"]
        job = self.settings.glue.jobs.generate
        try:
            run_id = self.launcher.start_job_run(job, arguments)
        except Exception as exc:
            if is_concurrency_refusal(exc):
                raise RetryLater(str(exc)) from exc
            raise
        return StartedRun(job, run_id, "spark")

    def outcome(self, record: Mapping[str, Any], job_run: Mapping[str, Any]) -> Outcome:
        state = job_run["JobRunState"]
        if state != "SUCCEEDED":
            return Outcome(False, {}, f"run {job_run['Id']} {state}: {job_run.get('ErrorMessage') or 'no error message'}")
        uri = job_run.get("Arguments", {}).get("--result_uri") or ""
        try:
            bucket, key = split_s3_uri(uri)
            result = json.loads(retrying(self.clients.s3.get_object, Bucket=bucket, Key=key)["Body"].read())
        except (ClientError, ValueError, IndexError) as exc:
            return Outcome(False, {}, f"run {job_run['Id']} SUCCEEDED but its result {uri or '(none)'} cannot be read: {exc}")
        tables = result.get("tables", {})
        files = [f for f in result.get("files", []) if not f["role"].startswith("lake_")]
        return Outcome(True, {
            "rows": int(tables.get("authorization", {}).get("rows", 0)),
            "bytes": sum(int(t["bytes"]) for t in tables.values()),
            "files": len(files),
            "allocations": [[a["date"], a["job_index"], a["start"], a["count"]] for a in result.get("allocations", [])],
            "outputs": sorted({f["uri"].rsplit("/", 2)[0] for f in files})[:50],
            "result_uri": uri,
        }, "")

    def stop(self, job_name: str, job_run_id: str) -> bool:
        if self.launcher.get_job_run(job_name, job_run_id)["JobRunState"] not in RUNNING_STATES:
            return False
        self.launcher.stop_job_run(job_name, job_run_id)
        return True


@dataclass
class ConversionChunks:
    settings: Settings
    clients: AwsClients
    launcher: JobLauncher
    kind: ChunkKind = ChunkKind.CONVERT

    @cached_property
    def app(self) -> BuilderApp:
        """The manifest builder's parts (conversion chunks are its manifests)."""
        return BuilderApp.create(self.settings, self.launcher)

    def start(self, run: Mapping[str, Any], spec: Mapping[str, Any]) -> StartedRun:
        """Get the chunk's manifest running (or adopt its run) through the manifest builder's own dispatch."""
        date, batch_id = str(spec["date"]), str(spec["batch_id"])
        store = self.app.store
        record = store.get_manifest(date, batch_id)
        if record is None:
            raise ValueError(f"manifest {batch_id} of {date} is gone")
        status = ManifestStatus(record["manifest_status"])
        if status == ManifestStatus.RUNNING:
            job_run = self.launcher.get_job_run(record["job_name"], record["run_id"])
            if job_run["JobRunState"] in RUNNING_STATES:
                return StartedRun(record["job_name"], record["run_id"], route_of(self.settings, record["job_name"]))
            requeue_manifest(self.app.moves, record, f"its run {record['run_id']} ended {job_run['JobRunState']} unrecorded",
                              keep_bulk_run=True)
        elif status in (ManifestStatus.FAILED, ManifestStatus.PARTIAL):
            requeue_manifest(self.app.moves, record, "bulk run retry", keep_bulk_run=True)
        elif status == ManifestStatus.COMPLETED:
            return StartedRun(record["job_name"], record["run_id"], route_of(self.settings, record["job_name"]))  # settled at once
        record = store.get_manifest(date, batch_id) or record
        outcome = self.app.builder.dispatch(record)
        if outcome == Dispatch.NO_SLOT:
            raise RetryLater(f"no free run slot for manifest {batch_id}")
        current = store.get_manifest(date, batch_id) or {}
        if outcome == Dispatch.START_FAILED or not current.get("run_id"):
            raise RuntimeError(current.get("queue_reason") or f"manifest {batch_id} did not start ({outcome})")
        return StartedRun(current["job_name"], current["run_id"], route_of(self.settings, current["job_name"]))

    def outcome(self, chunk: Mapping[str, Any], job_run: Mapping[str, Any]) -> Outcome:
        spec = json.loads(chunk["spec"])
        record = self.app.store.get_manifest(str(spec["date"]), str(spec["batch_id"])) or {}
        status = record.get("manifest_status")
        values = {"rows": int(record.get("rows_written", 0)), "rows_rejected": int(record.get("rows_rejected", 0)),
                  "lines_read": int(record.get("lines_read", 0)), "bytes": int(record.get("total_bytes", 0)),
                  "files": int(record.get("file_count", 0)), "outputs": [record["output_uri"]] if record.get("output_uri") else []}
        if status == ManifestStatus.COMPLETED:
            return Outcome(True, values, "")
        if status in (ManifestStatus.FAILED, ManifestStatus.PARTIAL):
            last = f"; {record['last_error']}" if record.get("last_error") else ""
            return Outcome(False, values, f"manifest {spec['batch_id']} {status}: {record.get('files_failed', '?')} file(s) failed{last}")
        state = job_run["JobRunState"]
        unrecorded = "ended without recording the manifest's result" if state == "SUCCEEDED" else "no error message"
        why = job_run.get("ErrorMessage") or unrecorded
        return Outcome(False, values, f"run {job_run['Id']} {state}: {why}")

    def stop(self, job_name: str, job_run_id: str) -> bool:
        return False  # all or nothing per manifest: its run finishes, and only the manifest's recorded run may commit


def work_for(settings: Settings, clients: AwsClients, launcher: JobLauncher) -> dict[ChunkKind, ChunkWork]:
    return {ChunkKind.GENERATE: GenerationChunks(settings, clients, launcher),
            ChunkKind.CONVERT: ConversionChunks(settings, clients, launcher)}
