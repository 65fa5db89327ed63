"""The cost model: Glue, Lambda, DynamoDB, S3 and SQS for a daily volume, from measured throughput and list prices.

Unit prices are us-east-1 on-demand list prices (checked 2026-11); the conversion throughput is what
`make bench` last measured, read from paybatch/ops/rates.json (which the benchmark writes). The design
documents' estimate assumed Spark's native JSON reader (≈ 20 MiB per CPU-second), which is printed
beside ours for the same volume.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from paybatch.config import Settings
from paybatch.ops.rates import rate

GLUE_DPU_HOUR = 0.44  # per DPU-hour, billed per second with a 1-minute minimum per run (Glue 2.0+)
VCPU_PER_DPU = 4
DPU_PER_WORKER = {"G.025X": 0.25, "G.1X": 1.0, "G.2X": 2.0, "G.4X": 4.0, "G.8X": 8.0}
LAMBDA_GB_SECOND = 0.0000166667
LAMBDA_REQUEST = 0.20 / 1_000_000
DYNAMODB_WRITE = 0.625 / 1_000_000  # on-demand write request unit
DYNAMODB_READ = 0.125 / 1_000_000
S3_PUT = 0.005 / 1_000
S3_GET = 0.0004 / 1_000
SQS_REQUEST = 0.40 / 1_000_000

MEASURED_MIB_PER_CPU_SECOND = rate("convert_mib_per_cpu_second")  # what `make bench` last measured (paybatch/ops/rates.json)
DESIGN_MIB_PER_CPU_SECOND = 20.0  # Spark's native JSON reader: the design documents' own assumption, not a measurement
BUILDER_WRITES_PER_FILE = rate("builder_ddb_writes_per_file")  # the builder bench, 8 builders (rates.json)
BUILDER_READS_PER_FILE = rate("builder_ddb_reads_per_file")
S3_REQUESTS_PER_FILE = rate("builder_s3_requests_per_file")
LAMBDA_SECONDS_PER_FILE = 0.05


@dataclass(frozen=True)
class CostEstimate:
    files_per_day: int
    file_size_gb: float
    mib_per_cpu_second: float
    glue_dpu_hours_per_day: float
    glue_per_day: float
    lambda_per_day: float
    dynamodb_per_day: float
    s3_per_day: float
    sqs_per_day: float

    @property
    def total_per_day(self) -> float:
        return self.glue_per_day + self.lambda_per_day + self.dynamodb_per_day + self.s3_per_day + self.sqs_per_day

    @property
    def per_month(self) -> float:
        return self.total_per_day * 30

    @property
    def per_tb(self) -> float:
        tb_per_day = self.files_per_day * self.file_size_gb / 1024
        return self.total_per_day / tb_per_day if tb_per_day else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_per_day": round(self.total_per_day, 2), "per_month": round(self.per_month, 2),
                "per_tb": round(self.per_tb, 4)}


def glue_run_cost(seconds: float, dpus: float) -> float:
    """One run: per-second billing with Glue's 1-minute minimum."""
    return max(seconds, 60.0) / 3600 * dpus * GLUE_DPU_HOUR


def estimate(settings: Settings, files_per_day: int, file_size_gb: float, mib_per_cpu_second: float) -> CostEstimate:
    """Daily cost of converting ``files_per_day`` files of ``file_size_gb`` at the given throughput."""
    if files_per_day < 0 or file_size_gb <= 0 or mib_per_cpu_second <= 0:
        raise ValueError("files per day must be ≥ 0, the file size and the throughput > 0")
    mib = files_per_day * file_size_gb * 1024
    cpu_seconds = mib / mib_per_cpu_second
    dpu_hours = cpu_seconds / VCPU_PER_DPU / 3600
    manifests = math.ceil(files_per_day / settings.batching.max_files_per_manifest)
    dpus = settings.glue.number_of_workers * DPU_PER_WORKER[settings.glue.worker_type]
    minimum = manifests * 60 / 3600 * dpus  # each run bills at least a minute of its DPUs
    dpu_hours = max(dpu_hours, minimum)
    memory_gb = settings.lambda_.memory_mb / 1024
    return CostEstimate(
        files_per_day=files_per_day, file_size_gb=file_size_gb, mib_per_cpu_second=mib_per_cpu_second,
        glue_dpu_hours_per_day=round(dpu_hours, 2), glue_per_day=dpu_hours * GLUE_DPU_HOUR,
        lambda_per_day=files_per_day * (LAMBDA_SECONDS_PER_FILE * memory_gb * LAMBDA_GB_SECOND
                                        + LAMBDA_REQUEST / settings.lambda_.batch_size),
        # the builder's writes and reads, plus the converter's three status writes per file
        dynamodb_per_day=files_per_day * (BUILDER_WRITES_PER_FILE * DYNAMODB_WRITE + BUILDER_READS_PER_FILE * DYNAMODB_READ
                                          + 3 * DYNAMODB_WRITE),
        s3_per_day=files_per_day * (S3_REQUESTS_PER_FILE * S3_PUT + 2 * S3_GET) + manifests * 2 * S3_PUT,
        sqs_per_day=files_per_day * 3 * SQS_REQUEST,
    )
