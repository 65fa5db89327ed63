"""`paybatch screen` refuses what it cannot do with one sentence, exit code 2 and no traceback, before any Spark starts.

Each case runs the real command in its own process (as a user types it) against the local endpoint, with a copy
of the dev configuration changed to miss one thing: the endpoint, the alert queue, the bucket, the list version.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from paybatch.aws import AwsClients
from paybatch.local.stack import free_port
from paybatch.screening import bulk

pytestmark = pytest.mark.integration
DEV_CONFIG = Path(__file__).resolve().parents[2] / "environments" / "dev" / "config.yaml"


def screen(tmp_path: Path, *args: str, changes: dict[str, str] | None = None,
           environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``paybatch screen ARGS`` with the dev configuration, ``changes`` made to its text."""
    text = DEV_CONFIG.read_text()
    for old, new in (changes or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    (tmp_path / "environments" / "dev").mkdir(parents=True, exist_ok=True)
    (tmp_path / "environments" / "dev" / "config.yaml").write_text(text)
    env = {**os.environ, "PAYBATCH_CONFIG_DIR": str(tmp_path / "environments"), "COLUMNS": "200", **(environ or {})}
    return subprocess.run([sys.executable, "-m", "paybatch", "screen", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def assert_refused(done: subprocess.CompletedProcess[str], *phrases: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output and "Exception in thread" not in output, output
    assert "SparkContext" not in output and "log4j" not in output, output  # refused before Spark started
    for phrase in phrases:
        assert phrase in " ".join(output.split()), output


@pytest.fixture
def customers(tmp_path: Path) -> str:
    path = tmp_path / "customers.csv"
    path.write_text("id,name\n1,John Smith\n")
    return str(path)


def test_alerts_on_with_no_endpoint_says_what_is_missing_and_how_to_run_without(tmp_path: Path, customers: str) -> None:
    done = screen(tmp_path, "run", "--customers", customers, environ={"PAYBATCH_LOCAL_PORT": str(free_port())})
    assert_refused(done, "paybatch-dev-screening-alerts", "cannot be reached", "--no-alerts")


def test_alerts_on_with_no_queue_says_so(clients: AwsClients, tmp_path: Path, customers: str) -> None:
    done = screen(tmp_path, "run", "--customers", customers,
                  changes={"alerts_queue: paybatch-dev-screening-alerts": "alerts_queue: paybatch-dev-no-such-queue"})
    assert_refused(done, "paybatch-dev-no-such-queue", "does not exist", "--no-alerts")


def test_a_missing_bucket_is_named(clients: AwsClients, tmp_path: Path, customers: str) -> None:
    done = screen(tmp_path, "run", "--customers", customers, "--no-alerts",
                  changes={"artifacts: paybatch-dev-artifacts": "artifacts: paybatch-dev-no-such-bucket"})
    assert_refused(done, "paybatch-dev-no-such-bucket", "does not exist", "--output")


def test_a_missing_list_version_is_named(clients: AwsClients, tmp_path: Path, customers: str) -> None:
    done = screen(tmp_path, "run", "--customers", customers, "--no-alerts", "--output", str(tmp_path / "out"),
                  "--list", "0123456789abcdef")
    assert_refused(done, "no sanctions list 0123456789abcdef", "screen list update")


@pytest.mark.parametrize("value", ["0", "-0.5", "1.01"])
def test_a_threshold_outside_0_1_is_refused(tmp_path: Path, customers: str, value: str) -> None:
    assert_refused(screen(tmp_path, "run", "--customers", customers, "--threshold", value), "outside (0, 1]")


@pytest.mark.parametrize(("option", "value"), [("--entries", "0"), ("--entries", "-5"), ("--customers", "0"), ("--customers", "-3")])
def test_sample_refuses_counts_below_one(tmp_path: Path, option: str, value: str) -> None:
    assert_refused(screen(tmp_path, "sample", "--out", str(tmp_path / "s"), option, value), option, "greater than or equal to 1")
    assert not (tmp_path / "s").exists()


def test_serve_on_a_busy_port_or_an_invalid_one(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert_refused(screen(tmp_path, "serve", "--port", str(port), "--list", "/nonexistent"), f"127.0.0.1:{port}", "--port")
    assert_refused(screen(tmp_path, "serve", "--port", "70000"), "--port", "less than or equal to 65535")
    assert_refused(screen(tmp_path, "serve", "--port", "-1"), "--port")


def test_the_checks_come_before_spark(clients: AwsClients, monkeypatch: pytest.MonkeyPatch, customers: str) -> None:
    """In process: the run refuses a missing queue without ever asking for a Spark session."""
    from paybatch.config import load_settings

    def no_spark(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("Spark was started before the checks")

    monkeypatch.setattr("paybatch.spark.get_spark", no_spark)
    settings = load_settings("dev")
    settings = settings.model_copy(update={"screening": settings.screening.model_copy(update={"alerts_queue": "paybatch-dev-gone"})})
    with pytest.raises(bulk.ScreeningSetupError, match=r"paybatch-dev-gone.*does not exist.*--no-alerts"):
        bulk.run_screening(settings, customers)
