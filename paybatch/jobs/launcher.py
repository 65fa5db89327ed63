"""The job launcher: start, watch and list Glue job runs, on AWS Glue or in local Spark.

Both launchers speak Glue's shapes (``JobRun`` dicts with ``Id``, ``JobRunState``,
``StartedOn``, ``CompletedOn``, ``ErrorMessage``, ``Arguments``) and Glue's states, and both
refuse a run over the job's MaxConcurrentRuns with ``ConcurrentRunsExceeded``, a botocore
``ClientError`` carrying Glue's own error code. Callers never ask which one they have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from botocore.exceptions import ClientError

from paybatch.aws import AwsClients

RUNNING_STATES = frozenset({"STARTING", "RUNNING", "STOPPING", "WAITING"})
FAILED_STATES = frozenset({"FAILED", "TIMEOUT", "ERROR", "STOPPED", "EXPIRED"})
TERMINAL_STATES = FAILED_STATES | {"SUCCEEDED"}

CONCURRENT_RUNS_CODE = "ConcurrentRunsExceededException"


class ConcurrentRunsExceeded(ClientError):  # type: ignore[misc]
    """Glue refused a run because the job already has MaxConcurrentRuns runs in flight."""

    def __init__(self, job_name: str, limit: int | None = None) -> None:
        limit_text = f" ({limit})" if limit is not None else ""
        super().__init__(
            {
                "Error": {
                    "Code": CONCURRENT_RUNS_CODE,
                    "Message": f"Concurrent runs exceeded for {job_name}{limit_text}",
                }
            },
            "StartJobRun",
        )
        self.job_name = job_name


def is_concurrency_refusal(exc: BaseException) -> bool:
    """True for Glue's refusal from either launcher (or a raw boto3 ClientError)."""
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == CONCURRENT_RUNS_CODE


class JobLauncher(Protocol):
    """What the pipeline needs from compute: Glue's start/get/list calls."""

    def start_job_run(self, job_name: str, arguments: Mapping[str, str]) -> str: ...

    def get_job_run(self, job_name: str, run_id: str) -> dict[str, Any]: ...

    def list_job_runs(self, job_name: str) -> list[dict[str, Any]]: ...

    def stop_job_run(self, job_name: str, run_id: str) -> None: ...


class GlueLauncher:
    """Starts runs on AWS Glue with boto3."""

    def __init__(self, clients: AwsClients) -> None:
        self._glue = clients.glue

    def start_job_run(self, job_name: str, arguments: Mapping[str, str]) -> str:
        try:
            response = self._glue.start_job_run(JobName=job_name, Arguments=dict(arguments))
        except ClientError as exc:
            if is_concurrency_refusal(exc):
                raise ConcurrentRunsExceeded(job_name) from exc
            raise
        return str(response["JobRunId"])

    def get_job_run(self, job_name: str, run_id: str) -> dict[str, Any]:
        return dict(self._glue.get_job_run(JobName=job_name, RunId=run_id, PredecessorsIncluded=False)["JobRun"])

    def list_job_runs(self, job_name: str) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = []
        for page in self._glue.get_paginator("get_job_runs").paginate(JobName=job_name):
            runs.extend(page["JobRuns"])
        return runs

    def stop_job_run(self, job_name: str, run_id: str) -> None:
        response = self._glue.batch_stop_job_run(JobName=job_name, JobRunIds=[run_id])
        for error in response.get("Errors", []):
            detail = error.get("ErrorDetail", {})
            if detail.get("ErrorCode") != "InvalidInputException":  # already finished: nothing to stop
                raise ClientError({"Error": {"Code": detail.get("ErrorCode", "Unknown"), "Message": detail.get("ErrorMessage", "")}},
                                  "BatchStopJobRun")
