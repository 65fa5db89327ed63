"""Job arguments behave like Glue's, plus optional arguments with defaults."""

from __future__ import annotations

import pytest

from paybatch.errors import JobArgumentError
from paybatch.jobs.args import parse_argv, resolve_job_args

GLUE_ARGV = [
    "script.py", "--JOB_ID", "j_1", "--JOB_RUN_ID", "jr_1", "--job-bookmark-option", "job-bookmark-disable",
    "--JOB_NAME", "convert", "--manifest_path", "s3://b/manifests/m.json", "--enable-metrics", "--TempDir", "s3://t/",
]


def test_glue_argv_with_optional_defaults() -> None:
    args = resolve_job_args(GLUE_ARGV, required=["manifest_path"], optional={"engine": "auto", "target_mb": "128"})
    assert args["manifest_path"] == "s3://b/manifests/m.json"
    assert args["engine"] == "auto" and args["target_mb"] == "128"
    assert args["JOB_NAME"] == "convert" and args["JOB_RUN_ID"] == "jr_1"


def test_optional_given_overrides_default_and_equals_form() -> None:
    args = resolve_job_args(["s.py", "--engine=arrow", "--manifest_path", "x"], required=["manifest_path"],
                            optional={"engine": "auto"})
    assert args["engine"] == "arrow"


def test_bare_flag_reads_true() -> None:
    assert parse_argv(["--enable-metrics", "--x", "1"]) == {"enable-metrics": "true", "x": "1"}


def test_missing_required_arguments_are_all_named() -> None:
    with pytest.raises(JobArgumentError, match="--manifest_path, --env"):
        resolve_job_args(["s.py", "--JOB_NAME", "j"], required=["manifest_path", "env"])
