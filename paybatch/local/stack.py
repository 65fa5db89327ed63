"""`paybatch local up/down/status`: the local AWS endpoint, its resources and background services."""

from __future__ import annotations

import socket
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from paybatch.aws import AwsClients, endpoint_answers, local_process_env
from paybatch.config import Settings
from paybatch.errors import LocalStackError
from paybatch.local.launcher import LocalLauncher
from paybatch.local.processes import ManagedProcess, terminate
from paybatch.local.provision import all_present, describe_resources, provision
from paybatch.paths import state_dir
from paybatch.retry import retrying


def free_port() -> int:
    """A loopback port nothing listens on now (a private endpoint's, a test's)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class LocalStack:
    """One environment's local stand-in for AWS, with everything it started tracked by pid."""

    def __init__(self, settings: Settings) -> None:
        if settings.target != "local" or not settings.endpoint_url:
            raise LocalStackError(f"environment {settings.env!r} targets AWS (PAYBATCH_TARGET=aws); unset it to run locally")
        self.settings = settings
        self.url: str = settings.endpoint_url
        self.folder = state_dir(settings.env)
        self.endpoint = ManagedProcess("endpoint", self.folder)
        self.services = ManagedProcess("services", self.folder)

    def _log_tail(self, process: ManagedProcess, lines: int = 15) -> str:
        try:
            return "\n".join(process.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def start_endpoint(self, timeout: float = 30.0) -> None:
        port = self.settings.local.port
        if not self.endpoint.pid() and port_open(port):
            env = self.settings.env
            raise LocalStackError(
                f"port {port} on 127.0.0.1 is already in use by a process paybatch did not start for {env!r}; stop it, or "
                f"run {env!r} on another port: PAYBATCH_LOCAL_PORT=<port> paybatch local up --env {env} (and the same "
                f"variable for every command of {env!r} in that shell), or set local.port in environments/{env}/config.yaml"
            )
        argv = [sys.executable, "-m", "paybatch.local.endpoint", "-H", "127.0.0.1", "-p", str(port)]
        pid = self.endpoint.start(argv, local_process_env(self.settings))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if endpoint_answers(self.url):
                return
            if not self.endpoint.pid():
                raise LocalStackError(f"the local endpoint (pid {pid}) exited at start:\n{self._log_tail(self.endpoint)}")
            time.sleep(0.2)
        raise LocalStackError(f"the local endpoint did not answer on {self.url} within {timeout:.0f}s; log: {self.endpoint.log_file}")

    def start_services(self) -> int:
        argv = [sys.executable, "-m", "paybatch.local.services", "--env", self.settings.env]
        pid = self.services.start(argv, local_process_env(self.settings))
        time.sleep(0.5)
        if not self.services.pid():
            raise LocalStackError(f"the local services process exited at start:\n{self._log_tail(self.services)}")
        return pid

    def up(self, *, with_services: bool = True) -> dict[str, Any]:
        """Start the endpoint, provision every resource, start poller + scheduler. Idempotent."""
        self.start_endpoint()
        provision(AwsClients(self.settings))
        if with_services:
            self.start_services()
        return self.status()

    def reset(self) -> None:
        """Wipe every resource's contents on the endpoint and provision again (tests, benchmarks)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310 - loopback
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - loopback only
        provision(AwsClients(self.settings))

    def down(self) -> list[str]:
        """Stop the services, any job runs in flight and the endpoint; returns what was stopped."""
        stopped = []
        if self.services.stop():
            stopped.append("services")
        runs = LocalLauncher(self.settings).run_pids() if self.folder.is_dir() else []
        for pid in runs:
            terminate(pid)
        if runs:
            stopped.append(f"{len(runs)} job run(s)")
        if self.endpoint.stop():
            stopped.append("endpoint")
        return stopped

    def status(self) -> dict[str, Any]:
        healthy = self.endpoint.pid() is not None and endpoint_answers(self.url)
        report: dict[str, Any] = {
            "env": self.settings.env,
            "endpoint_url": self.url,
            "state_dir": str(self.folder),
            "endpoint": {"pid": self.endpoint.pid(), "healthy": healthy, "log": str(self.endpoint.log_file)},
            "services": {"pid": self.services.pid(), "running": self.services.pid() is not None,
                         "log": str(self.services.log_file)},
        }
        if healthy:
            resources = retrying(describe_resources, AwsClients(self.settings), attempts=10)  # reads: safe to repeat
            report["resources"] = resources
            report["ready"] = all_present(resources) and report["services"]["running"]
        else:
            report["resources"] = None
            report["ready"] = False
        return report
