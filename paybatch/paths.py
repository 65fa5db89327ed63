"""Where paybatch finds its configuration, jars and local state on this machine."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from paybatch import constants

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Folder holding <env>/config.yaml (PAYBATCH_CONFIG_DIR or the repository's environments/)."""
    environ = os.environ if environ is None else environ
    return Path(environ.get(constants.CONFIG_DIR) or PROJECT_ROOT / "environments")


def state_dir(env: str, environ: Mapping[str, str] | None = None) -> Path:
    """Folder with one local environment's pid files, logs and job-run records."""
    environ = os.environ if environ is None else environ
    root = Path(environ.get(constants.STATE_DIR) or PROJECT_ROOT / ".paybatch")
    return root / env


def jars_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Folder with hadoop-aws and the AWS SDK bundle, fetched by `make setup`."""
    environ = os.environ if environ is None else environ
    return Path(environ.get(constants.JARS_DIR) or PROJECT_ROOT / ".cache" / "jars")


def cds_archive(environ: Mapping[str, str] | None = None) -> Path | None:
    """The AppCDS archive local Spark starts from (PAYBATCH_SPARK_CDS: a path, or "off" for none).

    The default name carries the pyspark version and the java binary, so an upgrade builds a new one.
    """
    environ = os.environ if environ is None else environ
    chosen = environ.get(constants.SPARK_CDS)
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    try:
        spark = version("pyspark")
    except PackageNotFoundError:
        return None
    java_home = environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java") or "java"
    runtime = hashlib.sha256(os.path.realpath(java).encode()).hexdigest()[:12]
    return PROJECT_ROOT / ".cache" / "spark" / f"cds-spark{spark}-{runtime}.jsa"


GLUE_JOBS_DIR = PROJECT_ROOT / "glue_jobs"
