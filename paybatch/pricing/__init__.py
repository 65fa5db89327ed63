"""What AWS charges, and the one way the project turns Glue workers and seconds into DPUs and dollars.

Unit prices are us-east-1 on-demand list prices (checked 2026-11). Measured throughput (what `make bench` last
measured) is in ``paybatch.pricing.rates``; the daily cost model over both is ``paybatch.ops.cost``. Bulk plans,
bulk results, `monitor`, `report`, `cost` and the scale test all price Glue through ``dpus`` and ``glue_run_cost``.
"""

from __future__ import annotations

from paybatch.config import Settings
from paybatch.resources import glue_job_specs

GLUE_DPU_HOUR = 0.44  # per DPU-hour, billed per second with a 1-minute minimum per run (Glue 2.0+)
GLUE_MINIMUM_SECONDS = 60.0
VCPU_PER_DPU = 4
DPU_PER_WORKER = {"G.025X": 0.25, "G.1X": 1.0, "G.2X": 2.0, "G.4X": 4.0, "G.8X": 8.0}
LAMBDA_GB_SECOND = 0.0000166667
LAMBDA_REQUEST = 0.20 / 1_000_000
DYNAMODB_WRITE = 0.625 / 1_000_000  # on-demand write request unit
DYNAMODB_READ = 0.125 / 1_000_000
S3_PUT = 0.005 / 1_000
S3_GET = 0.0004 / 1_000
SQS_REQUEST = 0.40 / 1_000_000


def dpus(worker_type: str, workers: float) -> float:
    """DPUs of ``workers`` workers of ``worker_type`` (an unknown type counts as G.1X, one DPU a worker)."""
    return float(workers) * DPU_PER_WORKER.get(worker_type, 1.0)


def job_dpus(settings: Settings, job: str) -> float:
    """DPUs of one run of a Glue job of this environment, by role (``convert``) or name (``paybatch-dev-convert``)."""
    for spec in glue_job_specs(settings):
        if job in (spec.role, spec.name):
            worker_type, workers = spec.workers or (settings.glue.worker_type, settings.glue.number_of_workers)
            return dpus(worker_type, workers)
    return dpus(settings.glue.worker_type, settings.glue.number_of_workers)


def run_seconds(cpu_seconds: float, run_dpus: float) -> float:
    """Wall seconds of ``cpu_seconds`` of work spread over every vCPU of a run of ``run_dpus`` DPUs."""
    return cpu_seconds / (run_dpus * VCPU_PER_DPU)


def glue_billed_seconds(seconds: float) -> float:
    """Seconds Glue bills for one run of ``seconds``: per second, at least a minute."""
    return max(seconds, GLUE_MINIMUM_SECONDS)


def glue_dpu_hours(seconds: float, run_dpus: float) -> float:
    """DPU-hours Glue bills for one run: per second, at least a minute."""
    return glue_billed_seconds(seconds) / 3600 * run_dpus


def glue_billed_cost(billed_seconds: float, run_dpus: float) -> float:
    """Dollars of runs already billed ``billed_seconds`` in all (each run's minimum applied) on ``run_dpus`` DPUs."""
    return billed_seconds / 3600 * run_dpus * GLUE_DPU_HOUR


def glue_run_cost(seconds: float, run_dpus: float) -> float:
    """Dollars of one run of ``seconds`` on ``run_dpus`` DPUs."""
    return glue_dpu_hours(seconds, run_dpus) * GLUE_DPU_HOUR
