"""The Spark session for a job: Glue's own context on AWS, local Spark over s3a on a laptop.

Locally, ``s3://`` and ``s3a://`` both map to Hadoop's S3AFileSystem pointed at the local
endpoint (path-style, no TLS), so job code uses the same ``s3://bucket/key`` paths it uses
on Glue. Timestamps are written as TIMESTAMP_MICROS and the session runs in UTC.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from paybatch import constants
from paybatch.errors import PaybatchError
from paybatch.paths import jars_dir

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

T = TypeVar("T")
R = TypeVar("R")

REQUIRED_JARS = ("hadoop-aws-3.3.1.jar", "aws-java-sdk-bundle-1.11.901.jar")

COMMON_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.parquet.compression.codec": "snappy",
}


def running_on_glue() -> bool:
    """Glue sets GLUE_VERSION (and ships awsglue); a laptop has neither."""
    return "GLUE_VERSION" in os.environ or "GLUE_PYTHON_VERSION" in os.environ


def local_conf(endpoint_url: str | None, cores: int | None = None) -> dict[str, str]:
    """Spark settings for local mode, with s3a aimed at ``endpoint_url`` when one is given."""
    cores = cores or os.cpu_count() or 2
    conf = {
        **COMMON_CONF,
        "spark.master": f"local[{cores}]",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.sql.shuffle.partitions": str(max(2, cores * 2)),
        "spark.default.parallelism": str(max(2, cores * 2)),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.adaptive.enabled": "true",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    }
    if endpoint_url:
        folder = jars_dir()
        missing = [name for name in REQUIRED_JARS if not (folder / name).is_file()]
        if missing:
            raise PaybatchError(
                f"local Spark needs the s3a jars {', '.join(missing)} in {folder}: run `make setup` "
                f"(or point {constants.JARS_DIR} at a folder that has them)"
            )
        s3a = {
            "fs.s3a.endpoint": endpoint_url,
            "fs.s3a.path.style.access": "true",
            "fs.s3a.connection.ssl.enabled": "false",
            "fs.s3a.access.key": os.environ.get("AWS_ACCESS_KEY_ID", constants.LOCAL_ACCESS_KEY),
            "fs.s3a.secret.key": os.environ.get("AWS_SECRET_ACCESS_KEY", constants.LOCAL_SECRET_KEY),
            "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
            "fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            "fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            "fs.s3a.change.detection.mode": "none",
            "fs.s3a.fast.upload": "true",
        }
        conf["spark.jars"] = ",".join(str(Path(folder) / name) for name in REQUIRED_JARS)
        conf.update({f"spark.hadoop.{key}": value for key, value in s3a.items()})
    return conf


def get_spark(app_name: str = "paybatch", *, endpoint_url: str | None = None, cores: int | None = None) -> SparkSession:
    """The session for this process: Glue's on AWS, else a local one (created once, then reused).

    ``endpoint_url`` defaults to AWS_ENDPOINT_URL, which the local launcher sets for job runs.
    """
    from pyspark.sql import SparkSession

    if running_on_glue():
        from awsglue.context import GlueContext
        from pyspark.context import SparkContext

        glue_context = GlueContext(SparkContext.getOrCreate())
        session: SparkSession = glue_context.spark_session
        for key, value in COMMON_CONF.items():
            session.conf.set(key, value)
        return session

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers use this interpreter and its packages
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    builder = SparkSession.builder.appName(app_name)
    for key, value in local_conf(endpoint_url, cores).items():
        builder = builder.config(key, value)
    local_session: SparkSession = builder.getOrCreate()
    return local_session


def run_tasks(
    spark: SparkSession,
    tasks: Sequence[T],
    work: Callable[[T], R],
    *,
    slices: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[R]:
    """Run ``work`` on every task as Spark tasks (one partition per task unless ``slices`` says fewer).

    Results come back in task order. ``on_progress(done, total)`` is called from a watcher
    thread as Spark reports finished partitions.
    """
    if not tasks:
        return []
    context = spark.sparkContext
    partitions = max(1, min(len(tasks), slices or len(tasks)))
    group = f"paybatch-{uuid.uuid4().hex[:8]}"
    context.setJobGroup(group, f"{len(tasks)} paybatch tasks")
    done = threading.Event()

    def watch() -> None:
        tracker = context.statusTracker()
        while not done.wait(0.5):
            finished = 0
            for job_id in tracker.getJobIdsForGroup(group):
                job = tracker.getJobInfo(job_id)
                for stage_id in job.stageIds if job else []:
                    stage = tracker.getStageInfo(stage_id)
                    finished += stage.numCompletedTasks if stage else 0
            if on_progress:
                on_progress(finished, partitions)

    watcher = threading.Thread(target=watch, daemon=True) if on_progress else None
    if watcher:
        watcher.start()
    try:
        results: list[R] = context.parallelize(list(tasks), partitions).map(work).collect()
    finally:
        done.set()
        if watcher:
            watcher.join()
        context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    if on_progress:
        on_progress(partitions, partitions)
    return results
