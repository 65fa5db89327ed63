"""Background processes of the local environment, each with a pid file and a log file.

`local down` stops only what `local up` started: a pid is signalled only if the process
behind it still runs the command line recorded when it was started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def pid_alive(pid: int | None) -> bool:
    """True if a process with this pid exists and is not a zombie."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False



def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


@dataclass(frozen=True)
class ManagedProcess:
    """One named background process of a local environment (e.g. the endpoint or the services)."""

    name: str
    folder: Path

    @property
    def pid_file(self) -> Path:
        return self.folder / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.folder / f"{self.name}.log"

    def _record(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def pid(self) -> int | None:
        """The pid if the recorded process is alive and still runs what we started, else None."""
        record = self._record()
        if not record:
            return None
        pid = int(record["pid"])
        if not pid_alive(pid) or _cmdline(pid) != record.get("cmdline"):
            return None
        return pid

    def start(self, argv: Sequence[str], env: Mapping[str, str]) -> int:
        """Start detached (own session) unless already running; returns the pid."""
        running = self.pid()
        if running:
            return running
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env),
                start_new_session=True,
            )
        # The child runs exactly ``argv``: that is the command line `pid()` later checks against /proc.
        self.pid_file.write_text(json.dumps({"pid": process.pid, "cmdline": list(argv), "started": time.time()}))
        return process.pid

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM the process group, then SIGKILL after ``timeout``; True if something was stopped."""
        pid = self.pid()
        stopped = False
        if pid:
            stopped = terminate(pid, timeout)
        self.pid_file.unlink(missing_ok=True)
        return stopped


def terminate(pid: int, timeout: float = 10.0) -> bool:
    """Stop a process and its group (it was started in its own session), waiting for it to go."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                _reap(pid)
                return True
            _reap(pid)
            time.sleep(0.05)
    return not pid_alive(pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
