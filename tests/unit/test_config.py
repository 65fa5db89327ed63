"""The typed configuration: reference values, overrides and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from paybatch.config import load_settings
from paybatch.errors import ConfigError


def test_dev_and_prod_reference_values() -> None:
    dev = load_settings("dev", environ={})
    prod = load_settings("prod", environ={})
    assert (dev.batching.max_files_per_manifest, dev.batching.max_batch_size_gb) == (50, 200)
    assert (dev.file_validation.expected_file_size_mb, dev.file_validation.size_tolerance_percent) == (10, 50)
    assert (dev.glue.max_concurrent_runs, dev.glue.number_of_workers, dev.glue.worker_type) == (5, 10, "G.1X")
    assert dev.logging.level == "DEBUG"
    assert (prod.batching.max_files_per_manifest, prod.batching.max_batch_size_gb) == (100, 500)
    assert (prod.file_validation.expected_file_size_mb, prod.file_validation.size_tolerance_percent) == (3500, 20)
    assert (prod.glue.max_concurrent_runs, prod.glue.number_of_workers, prod.glue.worker_type) == (30, 20, "G.2X")
    assert prod.logging.level == "INFO"
    for s in (dev, prod):
        assert (s.lock.ttl_seconds, s.lock.max_wait_seconds, s.tracking.ttl_days) == (300, 10, 7)
        assert s.glue.version == "5.1"
        assert s.tables.lock == s.tables.tracking


def test_size_window_is_derived_from_expected_size_and_tolerance() -> None:
    dev = load_settings("dev", environ={})
    assert dev.file_validation.min_bytes == 5 * 1024 * 1024
    assert dev.file_validation.max_bytes == 15 * 1024 * 1024


def test_seed_environment_variables_override_the_file() -> None:
    s = load_settings(
        "dev",
        environ={
            "MAX_FILES_PER_MANIFEST": "7",
            "MAX_BATCH_SIZE_GB": "1.5",
            "EXPECTED_FILE_SIZE_MB": "20",
            "SIZE_TOLERANCE_PERCENT": "10",
            "LOCK_TTL_SECONDS": "60",
            "MAX_LOCK_WAIT_SECONDS": "2",
            "TRACKING_TABLE": "my-tracking",
            "METRICS_TABLE": "my-metrics",
            "LOCK_TABLE": "my-locks",
            "MANIFEST_BUCKET": "my-manifests",
            "QUARANTINE_BUCKET": "my-quarantine",
            "GLUE_JOB_NAME": "my-convert-job",
        },
    )
    assert s.batching.max_files_per_manifest == 7
    assert s.batching.max_batch_size_gb == 1.5
    assert s.file_validation.expected_file_size_mb == 20
    assert s.file_validation.size_tolerance_percent == 10
    assert s.lock.ttl_seconds == 60 and s.lock.max_wait_seconds == 2
    assert (s.tables.tracking, s.tables.metrics, s.tables.lock) == ("my-tracking", "my-metrics", "my-locks")
    assert (s.buckets.manifest, s.buckets.quarantine) == ("my-manifests", "my-quarantine")
    assert s.glue.jobs.convert == "my-convert-job"


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("MAX_FILES_PER_MANIFEST", "abc", "batching.max_files_per_manifest (from environment variable MAX_FILES_PER_MANIFEST) = 'abc'"),
        ("MAX_FILES_PER_MANIFEST", "0", "greater than 0"),
        ("SIZE_TOLERANCE_PERCENT", "150", "size_tolerance_percent"),
        ("LOCK_TTL_SECONDS", "-1", "lock.ttl_seconds"),
        ("MANIFEST_BUCKET", "Not_A_Bucket", "buckets.manifest (from environment variable MANIFEST_BUCKET) = 'Not_A_Bucket'"),
        ("TRACKING_TABLE", "x", "tables.tracking"),
        ("PAYBATCH_TARGET", "mars", "target (from environment variable PAYBATCH_TARGET) = 'mars'"),
    ],
)
def test_invalid_override_names_setting_value_and_reason(var: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings("dev", environ={var: value})
    assert expected in str(err.value)


def test_unknown_environment_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown environment 'staging'.*known environments: dev, prod"):
        load_settings("staging", environ={})


def test_bad_yaml_and_unknown_keys_are_reported(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.yaml").write_text("env: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings("broken", environ={}, directory=tmp_path)
    source = (Path(__file__).parents[2] / "environments" / "dev" / "config.yaml").read_text()
    (tmp_path / "typo").mkdir()
    (tmp_path / "typo" / "config.yaml").write_text(source.replace("batching:", "batching:\n  max_filez: 3"))
    with pytest.raises(ConfigError, match=r"batching.max_filez.*Extra inputs are not permitted"):
        load_settings("typo", environ={}, directory=tmp_path)


def test_visibility_timeout_must_cover_the_lambda_timeout(tmp_path: Path) -> None:
    source = (Path(__file__).parents[2] / "environments" / "dev" / "config.yaml").read_text()
    (tmp_path / "short").mkdir()
    (tmp_path / "short" / "config.yaml").write_text(source.replace("visibility_timeout_seconds: 60", "visibility_timeout_seconds: 5"))
    with pytest.raises(ConfigError, match="visibility_timeout_seconds"):
        load_settings("short", environ={}, directory=tmp_path)


def test_cli_config_show_prod_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "paybatch", "config", "show", "--env", "prod", "--json"],
        capture_output=True, text=True, check=True,
    )
    data = json.loads(out.stdout)
    assert data["env"] == "prod"
    assert data["batching"]["max_files_per_manifest"] == 100
    assert data["tables"]["tracking"] == "paybatch-prod-file-tracking"
    assert data["buckets"]["quarantine"] == "paybatch-prod-quarantine"
    assert data["endpoint_url"].startswith("http://127.0.0.1:")


def test_cli_config_error_is_one_line_no_traceback() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "paybatch", "config", "show", "--env", "dev"],
        capture_output=True, text=True, env={**__import__("os").environ, "MAX_BATCH_SIZE_GB": "lots"},
    )
    assert out.returncode == 2
    assert "batching.max_batch_size_gb (from environment variable MAX_BATCH_SIZE_GB) = 'lots'" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


@pytest.mark.parametrize(("old", "new", "message"), [
    ("expire_after_days: 3 ", "expire_after_days: 6 ", r"tracking.ttl_days \(7\) must exceed input_retention.expire_after_days \(6\)"),
    ('date_prefix: "{date}"', 'date_prefix: "incoming/"', r"sweep.date_prefix.*must be a key prefix holding \{date\}"),
    ('date_prefix: "{date}"', 'date_prefix: "{date}/{hour}"', r"and no other placeholder"),
    ("open_days: 1 ", "open_days: -1 ", r"sweep.open_days"),
])
def test_retention_and_sweep_settings_are_checked(tmp_path: Path, old: str, new: str, message: str) -> None:
    source = (Path(__file__).parents[2] / "environments" / "dev" / "config.yaml").read_text()
    assert old in source
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.yaml").write_text(source.replace(old, new))
    with pytest.raises(ConfigError, match=message):
        load_settings("bad", environ={}, directory=tmp_path)


def test_raw_input_may_be_kept_for_good(tmp_path: Path) -> None:
    source = (Path(__file__).parents[2] / "environments" / "dev" / "config.yaml").read_text()
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "config.yaml").write_text(source.replace("expire_after_days: 3 ", "expire_after_days: null "))
    assert load_settings("keep", environ={}, directory=tmp_path).input_retention.expire_after_days is None


def test_the_glue_jobs_additional_modules_are_the_locked_pins() -> None:
    """Declared once: every job's --additional-python-modules holds requirements.lock's pins."""
    from paybatch.config import load_settings
    from paybatch.resources import glue_job_specs

    lock = (Path(__file__).parents[2] / "requirements.lock").read_text().splitlines()
    specs = glue_job_specs(load_settings("prod", environ={}))
    for spec in specs:
        modules = spec.default_arguments["--additional-python-modules"].split(",")
        assert set(modules) <= set(lock), (spec.role, set(modules) - set(lock))
        assert {"pydantic==2.14.3", "pyyaml==6.0.3"} <= set(modules)
