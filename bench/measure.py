"""What every benchmark measures the same way: machine CPU time, wall time, peak memory of a child process.

CPU time is the machine's (/proc/stat), so Spark's JVM and its Python workers (which rusage
cannot see) are counted; run nothing else meanwhile. Peak memory is the largest sum of resident
sets over the child's whole process tree (the JVM and Python workers included), sampled from
/proc every 0.1 s; the tree itself is re-read every second, because walking all of /proc is what
the sampling costs (at every sample it added about 0.06 CPU-s per second to every engine's count).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def machine_cpu_seconds() -> float:
    """User + nice + system + irq + softirq time of every CPU, in seconds."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:8]
    ticks = sum(int(v) for i, v in enumerate(fields) if i != 3 and i != 4)  # minus idle and iowait
    return ticks / os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def tree_pids(root: int) -> list[int]:
    """``root`` and every descendant."""
    tree, pending, found = _children(), [root], []
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending += tree.get(pid, [])
    return found


def rss_mib(pids: list[int]) -> float:
    """Resident memory of these processes (those still running), in MiB."""
    total, page = 0, os.sysconf("SC_PAGE_SIZE")
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            pass
    return total / 2**20


def run_measured(module: str, *args: str) -> dict[str, Any]:
    """Run ``python -m module args…``; its last stdout line is JSON, returned with wall, cpu and peak_mib added."""
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    cpu0, wall0 = machine_cpu_seconds(), time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env=env, cwd=ROOT)
    assert process.stdout is not None
    peak = [0.0]
    finished = threading.Event()

    def sample() -> None:
        pids, ticks = [process.pid], 0
        while not finished.wait(0.1):
            if ticks % 10 == 0:
                pids = tree_pids(process.pid)
            ticks += 1
            peak[0] = max(peak[0], rss_mib(pids))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout = process.stdout.read()
    _, status, _ = os.wait4(process.pid, 0)
    finished.set()
    sampler.join()
    wall, cpu = time.perf_counter() - wall0, machine_cpu_seconds() - cpu0
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise RuntimeError(f"{module} {' '.join(args)} failed (exit {code})")
    result: dict[str, Any] = json.loads(stdout.splitlines()[-1])
    result.update(wall=wall, cpu=cpu, peak_mib=peak[0])
    return result
