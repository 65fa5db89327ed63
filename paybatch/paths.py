"""Where paybatch finds its configuration, jars and local state on this machine."""

from __future__ import annotations

import os
from collections.abc import Mapping
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


GLUE_JOBS_DIR = PROJECT_ROOT / "glue_jobs"
