"""Environment variable names, in one place, as the seed documents and AWS name them."""

from __future__ import annotations

# Selects which environments/<env>/config.yaml to load (the Lambda and Glue jobs read it too).
ENV_NAME = "PAYBATCH_ENV"
# "local" (default: the local endpoint on 127.0.0.1) or "aws".
TARGET = "PAYBATCH_TARGET"
# Set by AWS inside Glue jobs and Lambda functions: their presence means target "aws" unless TARGET says otherwise.
AWS_RUNTIME_MARKERS = ("GLUE_VERSION", "GLUE_PYTHON_VERSION", "AWS_LAMBDA_FUNCTION_NAME")
# Folder that holds <env>/config.yaml; defaults to the repository's environments/.
CONFIG_DIR = "PAYBATCH_CONFIG_DIR"
# Where the local environment keeps pid files, logs and job-run records.
STATE_DIR = "PAYBATCH_STATE_DIR"
# Folder with the two s3a jars for local Spark.
JARS_DIR = "PAYBATCH_JARS_DIR"
# The AppCDS archive local Spark starts from: a path, or "off" (default: .cache/spark/, built by `make setup`).
SPARK_CDS = "PAYBATCH_SPARK_CDS"
# NDJSON blocks: "auto" (the compiled strict parser where built, else Arrow's reader) or "arrow"
JSON_PARSER = "PAYBATCH_JSON_PARSER"

# Seed names that override the configuration file, mapped to the setting they override.
SETTING_OVERRIDES: dict[str, str] = {
    "MAX_FILES_PER_MANIFEST": "batching.max_files_per_manifest",
    "MAX_BATCH_SIZE_GB": "batching.max_batch_size_gb",
    "MAX_WAIT_SECONDS": "batching.max_wait_seconds",
    "LIGHT_PATH_MAX_MB": "batching.light_path_max_mb",
    "SPLIT_FILE_MB": "batching.split_file_mb",
    "EXPECTED_FILE_SIZE_MB": "file_validation.expected_file_size_mb",
    "SIZE_TOLERANCE_PERCENT": "file_validation.size_tolerance_percent",
    "LOCK_TTL_SECONDS": "lock.ttl_seconds",
    "LOCK_LEASE_SECONDS": "lock.lease_seconds",
    "MAX_LOCK_WAIT_SECONDS": "lock.max_wait_seconds",
    "TRACKING_TTL_DAYS": "tracking.ttl_days",
    "TRACKING_TABLE": "tables.tracking",
    "METRICS_TABLE": "tables.metrics",
    "LOCK_TABLE": "tables.lock",
    "COUNTER_TABLE": "tables.counters",
    "INPUT_BUCKET": "buckets.input",
    "MANIFEST_BUCKET": "buckets.manifest",
    "OUTPUT_BUCKET": "buckets.output",
    "QUARANTINE_BUCKET": "buckets.quarantine",
    "GLUE_JOB_NAME": "glue.jobs.convert",
    "LOG_LEVEL": "logging.level",
    "PAYBATCH_LOCAL_PORT": "local.port",
    "PAN_HASH_KEY": "generator.pan_hash_key",
}

# What local processes get so that every boto3 client and Spark reach the local endpoint.
LOCAL_ACCESS_KEY = "testing"
LOCAL_SECRET_KEY = "testing"  # noqa: S105 - moto's fixed local credential, not a secret
LOCAL_ACCOUNT_ID = "123456789012"

# Lambda entry points (the deploy code and the local poller use the same ones).
BUILDER_HANDLER = "lambda_manifest_builder.handler.lambda_handler"
SCHEDULER_HANDLER = "lambda_manifest_builder.scheduler.lambda_handler"
BULK_WORKER_HANDLER = "paybatch.bulk.handler.lambda_handler"
SCREENING_API_HANDLER = "paybatch.screening.api.lambda_handler"
JOB_STATE_CHANGE_HANDLER = "paybatch.bulk.handler.on_job_state_change"  # the local job runner's "EventBridge rule"
