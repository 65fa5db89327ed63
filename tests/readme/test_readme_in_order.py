"""A new user's first hour: `make demo`, then every concrete example of the README in the order it is written.

Run by `make test-readme` (CI runs it last): the demo on the default ports and state folder, as on a fresh
clone, then each example through bash from the repository's root (`./payments` examples from an empty folder),
with the exit code the README states (2 for a shown `error:`, 1 where its comment says it exits 1, else 0), the
output a console block shows, and never a traceback. Nothing is scaled down: the README's 1 M rows are 1 M rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.readme_commands import readme_commands

ROOT = Path(__file__).resolve().parents[2]
# Examples this harness does not run after the demo, and why.
NOT_RUN = {"make demo": "run first, by this harness", "make test": "CI runs it on its own"}


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBATCH_")}  # a new user's shell
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _shell(text: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", text], cwd=cwd, env=_environment(), capture_output=True, text=True, timeout=timeout)


def test_make_demo_then_every_readme_example_in_order(tmp_path: Path) -> None:
    demo = _shell("make demo", ROOT, 1800)
    assert demo.returncode == 0, f"make demo exited {demo.returncode}:\n{demo.stdout[-3000:]}\n{demo.stderr[-3000:]}"
    ran = []
    try:
        for command in readme_commands():
            if command.is_synopsis or command.text in NOT_RUN:
                continue
            cwd = tmp_path if "./payments" in command.text else ROOT
            done = _shell(command.text, cwd, 1200)
            shown = f"`{command.text}` exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            assert done.returncode == command.exit_code, shown
            assert "Traceback" not in done.stdout + done.stderr, shown
            if command.output is not None:  # a console block shows what the command prints
                printed = (done.stdout + done.stderr).strip().splitlines()
                assert [line.rstrip() for line in printed] == command.output.splitlines(), shown
            ran.append(command.text)
    finally:
        for env in ("dev", "prod"):
            _shell(f"paybatch local down --env {env}", ROOT, 120)
    assert len(ran) >= 15, ran  # a parser that stopped finding examples must not pass quietly
    assert (tmp_path / "payments" / "lake" / "authorization").is_dir()
