"""The Spark session for a job: Glue's own context on AWS, local Spark over s3a on a laptop.

Locally, ``s3://`` and ``s3a://`` both map to Hadoop's S3AFileSystem pointed at the local
endpoint (path-style, no TLS), so job code uses the same ``s3://bucket/key`` paths it uses
on Glue. Timestamps are written as TIMESTAMP_MICROS and the session runs in UTC.

A local session is tuned for what paybatch asks of it: the JVM only schedules tasks whose work
runs in Python workers, so it starts with the client compiler only, from an AppCDS archive of
Spark's classes when ``make setup`` has built one, and the workers fork from a daemon that has
already imported paybatch (:mod:`paybatch.spark_worker`). Together they take a session's start
from about 13 to about 6 CPU-seconds (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from paybatch import constants
from paybatch.errors import PaybatchError
from paybatch.paths import cds_archive, jars_dir

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


def submitted() -> bool:
    """True in a driver that spark-submit started (a cluster, as the harness in tests/cluster/ runs jobs)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


# C2 compilation pays off for long-running JVM work; a paybatch session's JVM only schedules Python tasks.
CLIENT_COMPILER_ONLY = "-XX:TieredStopAtLevel=1"
LOG_CONFIG = Path(__file__).with_name("spark-log4j2.properties")  # no start-up banner, no NativeCodeLoader warning
LOCAL_JVM_OPTIONS = ("-Duser.timezone=UTC", CLIENT_COMPILER_ONLY)


def local_jvm_options() -> str:
    """The driver JVM's options: UTC, client compiler only, quiet logging, and Spark's classes from the CDS archive
    if built."""
    options = list(LOCAL_JVM_OPTIONS)
    log_config = LOG_CONFIG.resolve()
    if log_config.is_file():  # not when paybatch is imported from a zip (Glue's --extra-py-files): Spark's own then
        options.append(f"-Dlog4j2.configurationFile={log_config.as_uri()}")
    dump_to = os.environ.get(_CDS_DUMP)
    archive = cds_archive()
    if dump_to:
        options.append(f"-XX:ArchiveClassesAtExit={dump_to}")
    elif archive is not None and archive.is_file():
        # A stale archive (another JDK or Spark) is skipped by the JVM; the logging switch keeps that quiet.
        options += [f"-XX:SharedArchiveFile={archive}", "-Xlog:cds=off", "-Xlog:cds+dynamic=off"]
    return " ".join(options)


def local_conf(endpoint_url: str | None, cores: int | None = None) -> dict[str, str]:
    """Spark settings for local mode, with s3a aimed at ``endpoint_url`` when one is given."""
    cores = cores or os.cpu_count() or 2
    jvm_options = local_jvm_options()
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
        "spark.driver.extraJavaOptions": jvm_options,
        "spark.executor.extraJavaOptions": jvm_options,
        "spark.python.daemon.module": "paybatch.spark_worker",
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

    if submitted():  # spark-submit started this driver: the master, executors and their Python are its to say
        builder = SparkSession.builder.appName(app_name)
        for key, value in COMMON_CONF.items():
            builder = builder.config(key, value)
        submitted_session: SparkSession = builder.getOrCreate()
        return submitted_session

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers use this interpreter and its packages
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    builder = SparkSession.builder.appName(app_name)
    for key, value in local_conf(endpoint_url, cores).items():
        builder = builder.config(key, value)
    local_session: SparkSession = builder.getOrCreate()
    return local_session


_CDS_DUMP = "PAYBATCH_SPARK_CDS_DUMP"  # set only for the warm-up run that writes the archive
_CDS_WARMUP = """
import sys
from paybatch.spark import get_spark
spark = get_spark("paybatch-cds", cores=2)
gateway = spark.sparkContext._gateway
spark.sparkContext.parallelize(range(4), 2).map(lambda x: x + 1).collect()
frame = spark.createDataFrame([(1, "a")], "id long, name string")
frame.write.mode("overwrite").parquet(sys.argv[1])
spark.read.parquet(sys.argv[1]).count()
spark.stop()
gateway.proc.stdin.close()  # the JVM exits on end of input, and writes the archive as it exits
gateway.proc.wait()
"""


def build_cds_archive(force: bool = False) -> Path | None:
    """Write the AppCDS archive of the classes a local session loads (once per JDK and Spark version).

    A fresh JVM runs a representative session with ``-XX:ArchiveClassesAtExit``; the archive is
    moved into place only when that JVM has exited cleanly, so a half-written one is never used.
    """
    archive = cds_archive()
    if archive is None or (archive.is_file() and not force):
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(f".{os.getpid()}.partial")
    with tempfile.TemporaryDirectory(prefix="paybatch-cds-") as scratch:
        env = {**os.environ, _CDS_DUMP: str(partial), "SPARK_LOCAL_IP": "127.0.0.1"}
        done = subprocess.run([sys.executable, "-c", _CDS_WARMUP, f"{scratch}/warmup.parquet"], env=env,
                              capture_output=True, text=True, check=False)
    if done.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise PaybatchError(f"could not build the Spark CDS archive: {done.stderr.strip()[-500:]}")
    partial.replace(archive)
    return archive


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


if __name__ == "__main__":  # `python -m paybatch.spark`: build the CDS archive (make setup runs this)
    try:
        existing = cds_archive()
        if existing is None or not existing.is_file() or "--force" in sys.argv:
            print(f"Spark CDS archive: {build_cds_archive(force=True) or 'off'}")
    except PaybatchError as exc:  # an optimisation: say why, and let setup go on
        print(f"warning: {exc}", file=sys.stderr)
