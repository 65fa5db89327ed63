"""Local stand-in for AWS Glue: runs a job's entry script in a local Spark process.

moto's Glue records job definitions but executes nothing, so the local launcher reads the
definition from the local endpoint (script location, default arguments, MaxConcurrentRuns,
timeout) exactly as Glue would, then runs the script in a child process through
``paybatch.local.job_runner``. Each run is a JSON record under the state directory, so the
CLI, the scheduler and tests in other processes see the same runs.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paybatch import faults
from paybatch.aws import AwsClients, local_process_env
from paybatch.config import Settings
from paybatch.jobs.launcher import RUNNING_STATES, ConcurrentRunsExceeded
from paybatch.local.processes import pid_alive, terminate
from paybatch.paths import state_dir


def _now() -> str:
    return datetime.now(UTC).isoformat()


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write a run record so a reader never sees half of it."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    tmp.replace(path)


class RunStore:
    """The run records of one local environment: runs/<job>/<run_id>.json plus a per-job lock."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def job_dir(self, job_name: str) -> Path:
        path = self.root / job_name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def record_path(self, job_name: str, run_id: str) -> Path:
        return self.job_dir(job_name) / f"{run_id}.json"

    @contextmanager
    def locked(self, job_name: str) -> Iterator[None]:
        with open(self.job_dir(job_name) / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read(self, job_name: str, run_id: str) -> dict[str, Any]:
        path = self.record_path(job_name, run_id)
        if not path.is_file():
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "EntityNotFoundException", "Message": f"Job run {run_id} of {job_name} not found"}},
                "GetJobRun",
            )
        return self._settle(path, json.loads(path.read_text()))

    def all(self, job_name: str) -> list[dict[str, Any]]:
        runs = [self._settle(p, json.loads(p.read_text())) for p in self.job_dir(job_name).glob("jr_*.json")]
        return sorted(runs, key=lambda r: r["StartedOn"], reverse=True)

    def jobs(self) -> list[str]:
        return sorted(p.name for p in self.root.glob("*") if p.is_dir()) if self.root.is_dir() else []

    @staticmethod
    def _settle(path: Path, record: dict[str, Any]) -> dict[str, Any]:
        """A run whose process died without reporting is an ERROR, as Glue reports lost runs."""
        if record["JobRunState"] in RUNNING_STATES and not pid_alive(record.get("Pid")):
            record["JobRunState"] = "ERROR"
            record["ErrorMessage"] = "run process exited without reporting a result (killed or crashed); see its log"
            record["CompletedOn"] = _now()
            write_json_atomic(path, record)
        return record


def to_glue_shape(record: Mapping[str, Any]) -> dict[str, Any]:
    """A run record as Glue's JobRun dict: timestamps as datetimes, internal fields dropped."""
    shaped = {k: v for k, v in record.items() if k not in {"Pid", "ScriptLocation"}}
    for key in ("StartedOn", "CompletedOn", "LastModifiedOn"):
        if shaped.get(key):
            shaped[key] = datetime.fromisoformat(shaped[key])
    return shaped


class LocalLauncher:
    """Runs Glue jobs defined on the local endpoint as local Spark processes."""

    def __init__(self, settings: Settings, clients: AwsClients | None = None) -> None:
        self.settings = settings
        self.clients = clients or AwsClients(settings)
        self.store = RunStore(state_dir(settings.env) / "runs")

    def _definition(self, job_name: str) -> dict[str, Any]:
        job = self.clients.glue.get_job(JobName=job_name)["Job"]
        return dict(job)

    def start_job_run(self, job_name: str, arguments: Mapping[str, str]) -> str:
        faults.at_call("glue", "StartJobRun", lost=False)  # PAYBATCH_FAULTS, as Glue's own API would meet them
        run_id = self._start(job_name, arguments)
        faults.at_call("glue", "StartJobRun", lost=True)  # the run started; its answer may be lost
        return run_id

    def _start(self, job_name: str, arguments: Mapping[str, str]) -> str:
        job = self._definition(job_name)
        limit = int(job.get("ExecutionProperty", {}).get("MaxConcurrentRuns", 1))
        merged = {**job.get("DefaultArguments", {}), **dict(arguments)}
        with self.store.locked(job_name):
            active = [r for r in self.store.all(job_name) if r["JobRunState"] in RUNNING_STATES]
            if len(active) >= limit:
                raise ConcurrentRunsExceeded(job_name, limit)
            run_id = "jr_" + uuid.uuid4().hex + uuid.uuid4().hex
            record: dict[str, Any] = {
                "Id": run_id,
                "Attempt": 0,
                "JobName": job_name,
                "JobRunState": "STARTING",
                "Arguments": merged,
                "StartedOn": _now(),
                "LastModifiedOn": _now(),
                "Timeout": int(job.get("Timeout") or self.settings.glue.timeout_minutes),
                "GlueVersion": job.get("GlueVersion"),
                "WorkerType": job.get("WorkerType"),
                "NumberOfWorkers": job.get("NumberOfWorkers"),
                "ScriptLocation": job["Command"]["ScriptLocation"],
                "LogPath": str(self.store.job_dir(job_name) / f"{run_id}.log"),
            }
            path = self.store.record_path(job_name, run_id)
            write_json_atomic(path, record)
            with open(record["LogPath"], "ab") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "paybatch.local.job_runner", str(path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=local_process_env(self.settings),
                    start_new_session=True,
                )
            record["Pid"] = process.pid
            write_json_atomic(path, record)
        return run_id

    def get_job_run(self, job_name: str, run_id: str) -> dict[str, Any]:
        return to_glue_shape(self.store.read(job_name, run_id))

    def list_job_runs(self, job_name: str) -> list[dict[str, Any]]:
        return [to_glue_shape(r) for r in self.store.all(job_name)]

    def stop_job_run(self, job_name: str, run_id: str) -> None:
        """Stop a run in flight (its process group), recorded as Glue records a stopped run."""
        with self.store.locked(job_name):
            path = self.store.record_path(job_name, run_id)
            record = self.store.read(job_name, run_id)
            if record["JobRunState"] not in RUNNING_STATES:
                return
            if record.get("Pid"):
                terminate(int(record["Pid"]))
            record.update(JobRunState="STOPPED", ErrorMessage="stopped on request", CompletedOn=_now(), LastModifiedOn=_now())
            write_json_atomic(path, record)

    def run_pids(self) -> list[int]:
        """Pids of runs still in flight, so `local down` can stop them."""
        return [
            int(r["Pid"])
            for job in self.store.jobs()
            for r in self.store.all(job)
            if r["JobRunState"] in RUNNING_STATES and r.get("Pid")
        ]
