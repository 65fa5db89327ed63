"""`paybatch local up/down/status` as users run them: twice-up is harmless, down leaves no process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import free_port

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
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr
