"""The one typed configuration model, loaded from environments/<env>/config.yaml.

The Lambda, the Glue jobs, the CLI, the local provisioner and the deploy code all read
this model, so a resource name or a cap has exactly one definition. Environment
variables with the seed's names (see ``constants.SETTING_OVERRIDES``) override the file.
"""

from __future__ import annotations

__all__ = [
    "BatchingConfig", "BucketsConfig", "BulkConfig", "CatalogConfig", "FileValidationConfig", "GeneratorConfig",
    "GlueConfig", "GlueJobsConfig", "InputRetentionConfig", "LambdaConfig", "LocalConfig", "LockConfig",
    "LoggingConfig", "QueuesConfig", "ScreeningConfig", "Settings", "SweepConfig", "TablesConfig", "TrackingConfig",
    "load_settings",
]

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from paybatch import constants
from paybatch.config.sections import (
    BatchingConfig,
    BucketsConfig,
    BulkConfig,
    CatalogConfig,
    FileValidationConfig,
    GeneratorConfig,
    GlueConfig,
    GlueJobsConfig,
    InputRetentionConfig,
    LambdaConfig,
    LocalConfig,
    LockConfig,
    LoggingConfig,
    QueuesConfig,
    ScreeningConfig,
    SweepConfig,
    TablesConfig,
    TrackingConfig,
)
from paybatch.errors import ConfigError
from paybatch.paths import config_dir


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
