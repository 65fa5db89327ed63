"""`paybatch local up/down/status` as users run them: twice-up is harmless, down leaves no process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from paybatch.local.stack import free_port

pytestmark = pytest.mark.integration


def _paybatch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "paybatch", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_up_twice_status_and_down(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "PAYBATCH_STATE_DIR": str(tmp_path), "PAYBATCH_LOCAL_PORT": str(free_port())}
    first = _paybatch("local", "up", "--env", "dev", "--json", env=env)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["ready"], report
    pids = {report["endpoint"]["pid"], report["services"]["pid"]}
    second = _paybatch("local", "up", "--env", "dev", "--json", env=env)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert {again["endpoint"]["pid"], again["services"]["pid"]} == pids  # nothing started twice
    status = json.loads(_paybatch("local", "status", "--env", "dev", "--json", env=env).stdout)
    assert status["endpoint_url"] == f"http://127.0.0.1:{env['PAYBATCH_LOCAL_PORT']}"
    assert status["resources"]["tables"]["tracking"]["indexes"]["status-index"] == {"HASH": "status", "RANGE": "upload_time"}
    down = _paybatch("local", "down", "--env", "dev", env=env)
    assert down.returncode == 0 and "endpoint" in down.stdout and "services" in down.stdout
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] == "Z"
    after = json.loads(_paybatch("local", "status", "--env", "dev", "--json", env=env).stdout)
    assert after["endpoint"]["healthy"] is False and after["services"]["running"] is False
    assert "nothing was running" in _paybatch("local", "down", "--env", "dev", env=env).stdout


def test_port_taken_by_a_stranger_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        env = {**os.environ, "PAYBATCH_STATE_DIR": str(tmp_path), "PAYBATCH_LOCAL_PORT": str(port)}
        result = _paybatch("local", "up", "--env", "dev", env=env)
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr and "PAYBATCH_LOCAL_PORT=<port>" in result.stderr
    assert "Traceback" not in result.stderr


DOCUMENTED_FAULTS = "dynamodb:*:ThrottlingException:0.1,s3:*:SlowDown:0.05,sqs:*:InternalError:0.05"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_up_under_the_documented_faults_succeeds(tmp_path, seed: int) -> None:  # type: ignore[no-untyped-def]
    """docs/reliability.md's whole-service rules, with lost answers on every write besides: provisioning absorbs them."""
    rules = f"{DOCUMENTED_FAULTS},*:Create*:ResponseLost:0.1,*:Put*:ResponseLost:0.1,seed={seed}"
    env = {**os.environ, "PAYBATCH_STATE_DIR": str(tmp_path), "PAYBATCH_LOCAL_PORT": str(free_port()),
           "PAYBATCH_FAULTS": rules, "PAYBATCH_FAULTS_LOG": str(tmp_path / "faults")}
    try:
        result = _paybatch("local", "up", "--env", "dev", "--json", env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Traceback" not in result.stderr
        assert json.loads(result.stdout)["ready"]
    finally:
        _paybatch("local", "down", "--env", "dev", env=env)
    injected = "".join(p.read_text() for p in (tmp_path / "faults").glob("*.log"))
    assert "ThrottlingException" in injected and "ResponseLost" in injected  # the faults did happen


def test_a_fault_that_outlasts_the_retries_is_one_sentence(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "PAYBATCH_STATE_DIR": str(tmp_path), "PAYBATCH_LOCAL_PORT": str(free_port()),
           "PAYBATCH_FAULTS": "dynamodb:CreateTable:ThrottlingException:1"}
    try:
        result = _paybatch("local", "up", "--env", "dev", "--no-services", env=env)
    finally:
        _paybatch("local", "down", "--env", "dev", env=env)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "could not create table paybatch-dev-file-tracking" in result.stderr
    assert "ThrottlingException through 10 attempts" in result.stderr
