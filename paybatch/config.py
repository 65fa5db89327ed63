"""The one typed configuration model, loaded from environments/<env>/config.yaml.

The Lambda, the Glue jobs, the CLI, the local provisioner and the deploy code all read
this model, so a resource name or a cap has exactly one definition. Environment
variables with the seed's names (see ``constants.SETTING_OVERRIDES``) override the file.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from paybatch import constants
from paybatch.errors import ConfigError
from paybatch.paths import config_dir

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


class Settings(BaseModel):
    """Everything one environment (dev or prod) needs, resolved and validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,19}$")]
    region: str = "us-east-1"
    target: Literal["local", "aws"] = "local"
    buckets: BucketsConfig
    tables: TablesConfig
    queues: QueuesConfig
    batching: BatchingConfig
    file_validation: FileValidationConfig
    lock: LockConfig = LockConfig()
    tracking: TrackingConfig = TrackingConfig()
    input_retention: InputRetentionConfig = InputRetentionConfig()
    sweep: SweepConfig = SweepConfig()
    catalog: CatalogConfig
    glue: GlueConfig
    generator: GeneratorConfig = GeneratorConfig()
    screening: ScreeningConfig
    bulk: BulkConfig
    lambda_: LambdaConfig = Field(alias="lambda")
    local: LocalConfig
    logging: LoggingConfig = LoggingConfig()

    @model_validator(mode="after")
    def _queue_outlives_lambda(self) -> Settings:
        if self.queues.visibility_timeout_seconds < self.lambda_.timeout_seconds:
            raise ValueError(
                f"queues.visibility_timeout_seconds ({self.queues.visibility_timeout_seconds}) must be at least "
                f"lambda.timeout_seconds ({self.lambda_.timeout_seconds}), or SQS redelivers a batch still in work"
            )
        return self

    @model_validator(mode="after")
    def _items_outlive_objects(self) -> Settings:
        days = self.input_retention.expire_after_days
        if days is not None and self.tracking.ttl_days <= days + 1:
            raise ValueError(
                f"tracking.ttl_days ({self.tracking.ttl_days}) must exceed input_retention.expire_after_days ({days}) by "
                "more than a day (S3 expires objects within a day of their date), or the sweep would convert an "
                "expired item's object again"
            )
        return self

    @model_validator(mode="after")
    def _heartbeats_in_time(self) -> Settings:
        local = self.target == "local"
        watch = self.local.scheduler_interval_seconds if local else self.lambda_.schedule_minutes * 60
        setting = "local.scheduler_interval_seconds" if local else "lambda.schedule_minutes"
        if self.bulk.heartbeat_seconds < 2 * watch:
            raise ValueError(
                f"bulk.heartbeat_seconds ({self.bulk.heartbeat_seconds}) must be at least twice the interval of the watch that "
                f"sends heartbeats ({watch:g}s: {setting}), or running chunks time out"
            )
        return self

    @model_validator(mode="after")
    def _no_dev_key_on_aws(self) -> Settings:
        if self.target == "aws" and self.generator.pan_hash_key.startswith("local:"):
            raise ValueError("generator.pan_hash_key is a local dev key; on AWS it must come from ssm:… or secretsmanager:…")
        return self

    @property
    def ndjson_file_mb(self) -> float:
        """Size of the generator's NDJSON feed files: the configured size, else what the builder expects."""
        return self.generator.ndjson_file_mb or self.file_validation.expected_file_size_mb

    @property
    def endpoint_url(self) -> str | None:
        """The AWS endpoint every client uses: the local server, or None for real AWS."""
        return f"http://127.0.0.1:{self.local.port}" if self.target == "local" else None

    @property
    def account_id(self) -> str:
        return constants.LOCAL_ACCOUNT_ID if self.target == "local" else ""

    def summary(self) -> dict[str, Any]:
        """The resolved configuration as plain data, for `config show` and status output."""
        data = self.model_dump(mode="json", by_alias=True)
        data["endpoint_url"] = self.endpoint_url
        data["file_validation"]["min_bytes"] = self.file_validation.min_bytes
        data["file_validation"]["max_bytes"] = self.file_validation.max_bytes
        return data


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot override {dotted}: {part} is not a section")
        node = child
    node[leaf] = value


def _describe(errors: ValidationError, sources: Mapping[str, str], raw: Mapping[str, Any]) -> str:
    lines = []
    for err in errors.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
        where = f" (from {sources[loc]})" if loc in sources else ""
        value = err.get("input")
        if isinstance(value, dict):
            shown = ""
        else:
            shown = f" = {value!r}"
        lines.append(f"  {loc or '(top level)'}{where}{shown}: {err['msg']}")
    return "\n".join(lines)


def _read_config(path: Path) -> str | None:
    """The file's text; also from inside a zip (Glue imports paybatch from paybatch.zip, configs included)."""
    if path.is_file():
        return path.read_text()
    archive, sep, member = str(path).partition(".zip/")
    if sep and Path(archive + ".zip").is_file():
        with zipfile.ZipFile(archive + ".zip") as bundle:
            try:
                return bundle.read(member).decode()
            except KeyError:
                return None
    return None


def load_settings(
    env: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    directory: Path | None = None,
) -> Settings:
    """Load and validate one environment's settings, applying environment-variable overrides.

    Raises ConfigError naming the setting, the value and the reason on any problem.
    """
    environ = os.environ if environ is None else environ
    env = env or environ.get(constants.ENV_NAME) or "dev"
    base = directory or config_dir(environ)
    path = base / env / "config.yaml"
    if path.is_relative_to(Path.cwd()):  # messages name the file the way the user would type it
        path = path.relative_to(Path.cwd())
    text = _read_config(path)
    if text is None:
        known = sorted(p.parent.name for p in base.glob("*/config.yaml"))
        hint = "" if known else f"; set {constants.CONFIG_DIR} to the folder that holds <env>/config.yaml"
        raise ConfigError(f"unknown environment {env!r}: no {path} (known environments: {', '.join(known) or 'none'}){hint}")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, not {type(data).__name__}")

    sources: dict[str, str] = {}
    for var, dotted in constants.SETTING_OVERRIDES.items():
        if var in environ:
            _set_dotted(data, dotted, environ[var])
            sources[dotted.replace("lambda_", "lambda")] = f"environment variable {var}"
    if constants.TARGET in environ:
        data["target"] = environ[constants.TARGET]
        sources["target"] = f"environment variable {constants.TARGET}"
    elif any(var in environ for var in constants.AWS_RUNTIME_MARKERS):
        data["target"] = "aws"  # inside a Glue job or a Lambda function nothing is local
        sources["target"] = "the AWS runtime (Glue or Lambda)"
    data.setdefault("env", env)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration for environment {env!r} ({path}):\n{_describe(exc, sources, data)}") from None
