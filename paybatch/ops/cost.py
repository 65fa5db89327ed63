"""The cost model: Glue, Lambda, DynamoDB, S3 and SQS for a daily volume, from measured throughput and list prices.

Unit prices and Glue's DPU arithmetic are ``paybatch.pricing``'s; the conversion throughput is what
`make bench` last measured, read from paybatch/pricing/rates.json (which the benchmark writes). The design
documents' estimate assumed Spark's native JSON reader (≈ 20 MiB per CPU-second), which is printed
beside ours for the same volume.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from paybatch.config import Settings
from paybatch.pricing import (
    DYNAMODB_READ,
    DYNAMODB_WRITE,
    GLUE_DPU_HOUR,
    LAMBDA_GB_SECOND,
    LAMBDA_REQUEST,
    S3_GET,
    S3_PUT,
    SQS_REQUEST,
    VCPU_PER_DPU,
    glue_dpu_hours,
    job_dpus,
)
from paybatch.pricing.rates import rate

MEASURED_MIB_PER_CPU_SECOND = rate("convert_mib_per_cpu_second")  # what `make bench` last measured (paybatch/pricing/rates.json)
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


def estimate(settings: Settings, files_per_day: int, file_size_gb: float, mib_per_cpu_second: float) -> CostEstimate:
    """Daily cost of converting ``files_per_day`` files of ``file_size_gb`` at the given throughput."""
    if files_per_day < 0 or file_size_gb <= 0 or mib_per_cpu_second <= 0:
        raise ValueError("files per day must be ≥ 0, the file size and the throughput > 0")
    mib = files_per_day * file_size_gb * 1024
    cpu_seconds = mib / mib_per_cpu_second
    dpu_hours = cpu_seconds / VCPU_PER_DPU / 3600
    manifests = math.ceil(files_per_day / settings.batching.max_files_per_manifest)
    minimum = manifests * glue_dpu_hours(0, job_dpus(settings, "convert"))  # each run bills at least a minute of its DPUs
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
