"""Every AWS resource an environment has, derived from its Settings.

The local provisioner and the CDK stack both build from these specs, so resource names,
key schemas, indexes and TTL cannot drift between a laptop and AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paybatch.config import Settings
from paybatch.paths import GLUE_JOBS_DIR

# Tracking-table key attributes and indexes (also used by the lock and manifest items).
TRACKING_PK = "date_prefix"
TRACKING_SK = "file_key"
STATUS_INDEX = "status-index"
MANIFEST_STATUS_INDEX = "manifest-status-index"
TTL_ATTRIBUTE = "ttl"
# Bulk-run ledger keys: (run id, "run" | "chunk#NNNNN"), and ("jobrun#<Glue run id>", "ref") to find a run's chunk.
BULK_PK = "run_id"
BULK_SK = "item"


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition_key: str
    sort_key: str


@dataclass(frozen=True)
class TableSpec:
    role: str
    name: str
    partition_key: str
    sort_key: str
    indexes: tuple[IndexSpec, ...] = ()
    ttl_attribute: str | None = None

    @property
    def attributes(self) -> dict[str, str]:
        """Every key attribute (table and indexes) with its DynamoDB type (all strings here)."""
        names = [self.partition_key, self.sort_key]
        for index in self.indexes:
            names += [index.partition_key, index.sort_key]
        return {name: "S" for name in dict.fromkeys(names)}


@dataclass(frozen=True)
class QueueSpec:
    role: str
    name: str
    visibility_timeout_seconds: int
    retention_seconds: int
    dead_letter_queue: str | None = None
    max_receive_count: int | None = None


@dataclass(frozen=True)
class GlueJobSpec:
    role: str
    name: str
    script: str  # file name under glue_jobs/
    command: str  # glueetl (Glue 5.1: Python 3.11, which paybatch needs)
    max_concurrent_runs: int
    default_arguments: dict[str, str] = field(default_factory=dict)
    workers: tuple[str, int] | None = None  # (worker type, count); None: the environment's glue settings

    @property
    def script_path(self) -> Path:
        return GLUE_JOBS_DIR / self.script


def table_specs(settings: Settings) -> list[TableSpec]:
    """Tracking (with its status GSIs and TTL), metrics, partition counters, and the lock table if separate."""
    t = settings.tables
    tracking = TableSpec(
        role="tracking",
        name=t.tracking,
        partition_key=TRACKING_PK,
        sort_key=TRACKING_SK,
        indexes=(
            IndexSpec(STATUS_INDEX, "status", "upload_time"),
            IndexSpec(MANIFEST_STATUS_INDEX, "manifest_status", "created_at"),
        ),
        ttl_attribute=TTL_ATTRIBUTE,
    )
    specs = [
        tracking,
        TableSpec(role="metrics", name=t.metrics, partition_key="metric_date", sort_key="metric_type"),
        TableSpec(role="counters", name=t.counters, partition_key="partition_key", sort_key="allocation"),
        TableSpec(role="bulk", name=settings.bulk.table, partition_key=BULK_PK, sort_key=BULK_SK),
    ]
    if t.lock and t.lock != t.tracking:
        specs.append(
            TableSpec(role="lock", name=t.lock or t.tracking, partition_key=TRACKING_PK, sort_key=TRACKING_SK, ttl_attribute=TTL_ATTRIBUTE)
        )
    return specs


def bucket_names(settings: Settings) -> dict[str, str]:
    """Every bucket by role (input, manifest, output, quarantine, artifacts, lake buckets)."""
    return dict(settings.buckets.model_dump())


def queue_specs(settings: Settings) -> list[QueueSpec]:
    """The file-event queue with its DLQ and redrive policy, and the completion queue."""
    q = settings.queues
    retention = q.message_retention_days * 86400
    return [
        QueueSpec("dlq", q.dlq, q.visibility_timeout_seconds, 14 * 86400),
        QueueSpec("ingest", q.ingest, q.visibility_timeout_seconds, retention, q.dlq, q.max_receive_count),
        QueueSpec("completion", q.completion, 60, retention),
        QueueSpec("screening_alerts", settings.screening.alerts_queue, 60, 14 * 86400),
        QueueSpec("screening_alerts_dlq", settings.screening.alerts_dlq, 60, 14 * 86400),
        QueueSpec("bulk_work_dlq", settings.bulk.work_dlq, 60, 14 * 86400),
        # A chunk task the worker could not take yet (no free Glue run slot) comes back after the visibility timeout
        # (at least the worker Lambda's timeout, as SQS requires); the state machine's heartbeat and retries bound
        # how long a chunk can wait in all.
        QueueSpec("bulk_work", settings.bulk.work_queue, q.visibility_timeout_seconds, retention, settings.bulk.work_dlq,
                  BULK_WORK_MAX_RECEIVES),
    ]


BULK_WORK_MAX_RECEIVES = 20


def glue_default_arguments(settings: Settings) -> dict[str, str]:
    """The seed's default arguments every Glue job of this environment gets."""
    art = settings.buckets.artifacts
    arguments = {
        "--env": settings.env,
        "--enable-metrics": "true",
        "--enable-spark-ui": "true",
        "--spark-event-logs-path": f"s3://{art}/glue/sparkui/",
        "--enable-job-insights": "true",
        "--enable-continuous-cloudwatch-log": "true",
        "--enable-glue-datacatalog": "true",
        "--job-language": "python",
        "--TempDir": f"s3://{art}/glue/tmp/",
        "--extra-py-files": f"s3://{art}/{LIBRARY_KEY}",
    }
    if settings.glue.auto_scaling:
        arguments["--enable-auto-scaling"] = "true"
    return arguments


# What each job needs beyond the modules Glue 5.1 provides (tests/cluster/glue-5.1-provided.txt): Glue pip-installs
# them at job start (--additional-python-modules). Pins as requirements.lock's (a test keeps them equal); the cluster
# harness (make test-cluster) runs every job in an environment of Glue's modules plus exactly these.
# - every job: paybatch's config (pydantic, pyyaml) and the pyarrow the converter and generator are tested on
#   (Glue 5.1 provides 22; paybatch declares >=25,<26)
# - conversion and housekeeping: pyiceberg (core: a delete that rewrites a compacted file)
# - generation: the quality suite (great-expectations)
GLUE_BASE_MODULES = ("pyarrow==25.0.1", "pydantic==2.14.3", "pyyaml==6.0.3")
ICEBERG_MODULES = (*GLUE_BASE_MODULES, "pyiceberg==0.12.0", "pyiceberg-core==0.10.1")
GENERATE_MODULES = (*GLUE_BASE_MODULES, "great-expectations==1.24.1")
# - screening: the matcher's libraries, and pyiceberg for the matches table
SCREEN_MODULES = (*ICEBERG_MODULES, "rapidfuzz==3.14.6", "jellyfish==1.3.0", "anyascii==0.3.3", "nicknames==1.0.1")


def glue_job_specs(settings: Settings) -> list[GlueJobSpec]:
    """The Glue jobs whose entry scripts this repository ships: the converter, its light path, the generator and
    the tables' housekeeping."""
    arguments = glue_default_arguments(settings)
    jobs = settings.glue.jobs
    runs = settings.glue.max_concurrent_runs
    light_arguments = {k: v for k, v in arguments.items() if k in {"--env", "--TempDir", "--extra-py-files",
                                                                   "--job-language", "--enable-metrics"}}
    iceberg = {"--additional-python-modules": ",".join(ICEBERG_MODULES)}
    generation = {"--additional-python-modules": ",".join(GENERATE_MODULES)}
    return [
        GlueJobSpec("convert", jobs.convert, "convert_manifest.py", "glueetl", runs, {**arguments, **iceberg}),
        GlueJobSpec("convert_light", jobs.convert_light, "convert_manifest_light.py", "glueetl", runs,
                    {**light_arguments, **iceberg}, workers=LIGHT_WORKERS),
        GlueJobSpec("generate", jobs.generate, "generate_payments.py", "glueetl", runs, {**arguments, **generation}),
        GlueJobSpec("maintain", jobs.maintain, "maintain_tables.py", "glueetl", 1, {**light_arguments, **iceberg},
                    workers=LIGHT_WORKERS),
        GlueJobSpec("screen", settings.screening.job, "screen_customers.py", "glueetl", 1,
                    {**arguments, "--additional-python-modules": ",".join(SCREEN_MODULES)}),
    ]


# The light path runs in the driver of the smallest Spark job. A Glue Python shell job would be cheaper,
# but it offers Python 3.9 at most and paybatch needs 3.11 (as Glue 5.1's Spark jobs have).
LIGHT_WORKERS = ("G.1X", 2)
LIBRARY_KEY = "glue/lib/paybatch.zip"  # the --extra-py-files library (paybatch + environment configs)


def glue_role_name(settings: Settings) -> str:
    """The IAM role Glue jobs run as (created by the CDK stack)."""
    return f"paybatch-{settings.env}-glue"


def job_definition(settings: Settings, spec: GlueJobSpec, role_arn: str) -> dict[str, Any]:
    """The CreateJob request for one job: local provisioning, deploy-glue.sh and the stack agree on it."""
    glue = settings.glue
    definition: dict[str, Any] = {
        "Name": spec.name,
        "Role": role_arn,
        "Command": {"Name": spec.command, "ScriptLocation": f"s3://{settings.buckets.artifacts}/{glue_script_key(spec)}",
                    "PythonVersion": "3"},
        "DefaultArguments": dict(spec.default_arguments),
        "ExecutionProperty": {"MaxConcurrentRuns": spec.max_concurrent_runs},
        "MaxRetries": glue.max_retries,
        "Timeout": glue.timeout_minutes,
    }
    worker_type, workers = spec.workers or (glue.worker_type, glue.number_of_workers)
    definition.update(GlueVersion=glue.version, WorkerType=worker_type, NumberOfWorkers=workers)
    return definition


def glue_script_key(spec: GlueJobSpec) -> str:
    """Where an entry script lives in the artifacts bucket (uploaded by provisioning and deploy-glue.sh)."""
    return f"glue/scripts/{spec.script}"
