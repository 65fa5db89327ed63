"""The sections of the configuration model: one typed model per block of environments/<env>/config.yaml."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

_BUCKET_RE = re.compile(r"^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TABLE_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_QUEUE_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_JOB_RE = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _name(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"not a valid {what} name")
        return value

    return AfterValidator(check)


BucketName = Annotated[str, _name(_BUCKET_RE, "S3 bucket (3-63 lowercase letters, digits, '.', '-')")]
TableName = Annotated[str, _name(_TABLE_RE, "DynamoDB table")]
QueueName = Annotated[str, _name(_QUEUE_RE, "SQS queue")]
JobName = Annotated[str, _name(_JOB_RE, "Glue job")]


class BucketsConfig(_Section):
    """S3 buckets: the pipeline's own and the generator's lake buckets."""

    input: BucketName
    manifest: BucketName
    output: BucketName
    quarantine: BucketName
    artifacts: BucketName
    lake: BucketName
    lake_authorization: BucketName
    lake_clearing: BucketName
    lake_chargeback: BucketName
    restricted: BucketName  # the PAN dimension: the only place clear card numbers exist


class TablesConfig(_Section):
    """DynamoDB tables. ``lock`` may name the tracking table, as in the seed."""

    tracking: TableName
    metrics: TableName
    counters: TableName
    lock: TableName | None = None

    @model_validator(mode="after")
    def _lock_defaults_to_tracking(self) -> TablesConfig:
        if self.lock is None:
            object.__setattr__(self, "lock", self.tracking)
        return self


class QueuesConfig(_Section):
    """SQS queues: file events (with its dead-letter queue) and conversion completions."""

    ingest: QueueName
    dlq: QueueName
    completion: QueueName
    max_receive_count: PositiveInt = 3
    visibility_timeout_seconds: PositiveInt = 300
    message_retention_days: Annotated[int, Field(ge=1, le=14)] = 4


class BatchingConfig(_Section):
    """How pending files are packed into manifests."""

    max_files_per_manifest: Annotated[int, Field(gt=0, le=1000)]
    max_batch_size_gb: PositiveFloat
    max_wait_seconds: PositiveInt = 300
    light_path_max_mb: Annotated[float, Field(ge=0)] = 0
    # A conversion run converts an uncompressed NDJSON file above this size as newline-aligned byte ranges,
    # one Spark task each (same rows, rejects and line numbers as one task). 0: never split.
    split_file_mb: Annotated[float, Field(ge=0)] = 0


class FileValidationConfig(_Section):
    """Which files are accepted; the rest are quarantined with a reason."""

    expected_file_size_mb: PositiveFloat
    size_tolerance_percent: Annotated[float, Field(ge=0, le=100)]
    allowed_extensions: tuple[str, ...] = (".ndjson", ".ndjson.gz", ".jsonl", ".json", ".parquet")
    date_prefix_pattern: str = r"(\d{4}-\d{2}-\d{2})"

    @field_validator("date_prefix_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        if compiled.groups < 1:
            raise ValueError("needs one capture group that matches YYYY-MM-DD")
        return value

    @property
    def min_bytes(self) -> int:
        return int(self.expected_file_size_mb * (1 - self.size_tolerance_percent / 100) * 1024 * 1024)

    @property
    def max_bytes(self) -> int:
        return int(self.expected_file_size_mb * (1 + self.size_tolerance_percent / 100) * 1024 * 1024)


class LockConfig(_Section):
    """The per-date packing lock: an optimisation against contention, not the guarantee.

    A holder's lease lasts ``lease_seconds`` and is renewed while the holder lives, up to ``ttl_seconds`` in all:
    a holder that is killed blocks its date for one lease, not for the whole TTL.
    """

    ttl_seconds: PositiveInt = 300
    lease_seconds: PositiveInt = 15
    max_wait_seconds: Annotated[float, Field(ge=0)] = 10

    @model_validator(mode="after")
    def _lease_within_ttl(self) -> LockConfig:
        if self.lease_seconds > self.ttl_seconds:
            raise ValueError(f"lease_seconds ({self.lease_seconds}) must not exceed ttl_seconds ({self.ttl_seconds})")
        return self


class TrackingConfig(_Section):
    """File tracking records: the TTL removes only completed and quarantined items (never one in flight or failed)."""

    ttl_days: PositiveInt = 7


class InputRetentionConfig(_Section):
    """Raw input kept after conversion: a converted object is tagged, and an S3 lifecycle rule expires it this
    many days after upload (null keeps raw input for good, and then completed items never expire either)."""

    expire_after_days: PositiveInt | None = 3


class CatalogConfig(_Section):
    """The Glue Data Catalog: where the converted tables (Iceberg) and the generator's lake tables are registered,
    and the housekeeping of the Iceberg tables (`paybatch maintain`, and the scheduler once an hour)."""

    database: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,99}$")]
    lake_database: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,99}$")]
    snapshot_retention_days: PositiveFloat = 7  # snapshots older than this are expired (time travel that far)
    keep_snapshots: PositiveInt = 10  # ... but never the newest this many
    orphan_min_age_hours: PositiveFloat = 24  # an unreferenced data file older than this is removed
    compact_min_files: Annotated[int, Field(ge=2)] = 8  # a partition with this many small files is compacted
    compact_small_file_mb: PositiveFloat = 64  # "small"
    maintain_every_minutes: PositiveFloat = 60


class SweepConfig(_Section):
    """The scheduler's input sweep, which finds objects whose notification was lost.

    Every pass lists the prefixes of the open dates (today and the last ``open_days``, and every date with a
    file still in flight); a full walk of the bucket goes on in slices of ``full_pages_per_pass`` list pages a
    pass, its place kept in the tracking table, and starts again once a day.
    """

    open_days: Annotated[int, Field(ge=0, le=31)] = 1
    date_prefix: str = "{date}"  # where one date's objects are in the input bucket: a key prefix with {date}
    full_pages_per_pass: Annotated[int, Field(ge=1)] = 20

    @field_validator("date_prefix")
    @classmethod
    def _has_date(cls, value: str) -> str:
        if "{date}" not in value or value.replace("{date}", "").count("{"):
            raise ValueError("must be a key prefix holding {date} (and no other placeholder), e.g. '{date}' or 'incoming/{date}/'")
        return value


class GlueJobsConfig(_Section):
    """Glue job names."""

    convert: JobName
    convert_light: JobName
    generate: JobName
    maintain: JobName


class GlueConfig(_Section):
    """Glue job sizing and behaviour (Glue 5.1: Spark 3.5.6, Python 3.11)."""

    version: Literal["5.0", "5.1"] = "5.1"
    worker_type: Literal["G.025X", "G.1X", "G.2X", "G.4X", "G.8X"]
    number_of_workers: Annotated[int, Field(ge=2, le=1000)]
    max_concurrent_runs: Annotated[int, Field(ge=1, le=1000)]
    timeout_minutes: Annotated[int, Field(ge=1, le=10080)] = 120
    max_retries: Annotated[int, Field(ge=0, le=10)] = 0
    run_retries: Annotated[int, Field(ge=0, le=10)] = 2
    run_retry_backoff_seconds: Annotated[float, Field(ge=0)] = 30
    auto_scaling: bool = False
    jobs: GlueJobsConfig


class GeneratorConfig(_Section):
    """The payments generator: where its HMAC key comes from and the size of its NDJSON feed files."""

    pan_hash_key: str = "local:paybatch-LOCAL-DEV-ONLY-pan-hash-key"
    ndjson_file_mb: PositiveFloat | None = None  # default: file_validation.expected_file_size_mb
    quality_max_rows: Annotated[int, Field(ge=1_000)] = 500_000  # rows per table the quality suite reads back

    @field_validator("pan_hash_key")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if not value.startswith(("local:", "ssm:", "secretsmanager:")) or value.endswith(":"):
            raise ValueError("must be local:TEXT (a labelled dev key), ssm:/parameter-name or secretsmanager:secret-id")
        return value


class ScreeningConfig(_Section):
    """Sanctions screening: the nightly job, its alerts (queue and optional signed webhook), the real-time API."""

    alerts_queue: QueueName
    alerts_dlq: QueueName  # alerts the webhook refused after its last retry (a dead-letter record each)
    job: JobName
    threshold: Annotated[float, Field(gt=0, le=1)] = 0.92
    customers_per_task: Annotated[int, Field(ge=100)] = 20_000
    schedule: Annotated[str, Field(pattern=r"^cron\(\d{1,2} \d{1,2} \* \* \? \*\)$")] = "cron(0 1 * * ? *)"  # daily, UTC
    customers_uri: str | None = None  # what the nightly run screens (s3://…); unset: no nightly run
    webhook_url: str | None = None
    webhook_secret: str | None = None  # local:TEXT, ssm:/name or secretsmanager:id (the HMAC key)
    webhook_retries: Annotated[int, Field(ge=0, le=10)] = 4
    webhook_backoff_seconds: Annotated[float, Field(ge=0)] = 0.5  # doubled after each failed try
    api_function: str


class BulkConfig(_Section):
    """Bulk runs on Step Functions (`paybatch bulk`): the state machine, its work queue and ledger, and their limits."""

    state_machine: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,80}$")]
    table: TableName  # the run ledger: one item per run and per chunk (outcomes the aggregation reads)
    work_queue: QueueName  # chunk tasks (with their task tokens) for the bulk worker
    work_dlq: QueueName
    worker_function: str
    max_concurrency: Annotated[int, Field(ge=1, le=1000)] = 3  # chunks in flight at once (the Map's MaxConcurrency)
    tolerated_failure_percent: Annotated[float, Field(ge=0, le=100)] = 10  # more failed chunks than this fails the run
    heartbeat_seconds: Annotated[int, Field(ge=1, le=86400)] = 900  # a chunk whose worker went quiet this long is retried
    chunk_timeout_minutes: Annotated[int, Field(ge=1, le=10080)] = 480
    rows_per_job: PositiveInt = 1_500_000  # one generation job: a (date, job index) slice with its own sequence range
    jobs_per_chunk: PositiveInt = 10  # generation jobs per chunk (one Glue run)


class LambdaConfig(_Section):
    """The manifest builder and scheduler Lambdas (and the local poller that stands in)."""

    builder_function: str
    scheduler_function: str
    batch_size: Annotated[int, Field(ge=1, le=10)] = 10
    reserved_concurrency: PositiveInt = 10
    memory_mb: Annotated[int, Field(ge=128, le=10240)] = 512
    timeout_seconds: Annotated[int, Field(ge=1, le=900)] = 300
    schedule_minutes: PositiveInt = 5


class LocalConfig(_Section):
    """The local stand-in for AWS: endpoint port and background service cadence."""

    port: Annotated[int, Field(ge=1024, le=65535)]
    poller_concurrency: Annotated[int, Field(ge=1, le=32)] = 2
    poll_wait_seconds: Annotated[int, Field(ge=0, le=20)] = 2
    scheduler_interval_seconds: PositiveFloat = 10


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
