"""The fuzzer's seed corpus and every crash it ever found, replayed; and a short coverage-guided run.

`make fuzz` runs the same target for longer (tests/fuzz/fuzz_ndjson.py); a crash it finds is written
to tests/fuzz/crashes/ and from then on replayed here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).parents[1] / "fuzz"
CASES = sorted(p for d in ("corpus", "crashes") for p in (FUZZ / d).iterdir() if not p.name.startswith("."))


@pytest.mark.parametrize("case", CASES, ids=[f"{p.parent.name}/{p.name}" for p in CASES])
def test_each_kept_case_is_rows_or_rejects_the_same_either_way(case: Path) -> None:
    """In a child process: a case that crashes the parser would take pytest down with it."""
    code = f"import sys; sys.argv=['x']; from tests.fuzz.fuzz_ndjson import check; check(open({str(case)!r}, 'rb').read())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_short_coverage_guided_run_finds_nothing(tmp_path: Path) -> None:
    scratch = tmp_path / "corpus"
    scratch.mkdir()
    result = subprocess.run(
        [sys.executable, str(FUZZ / "fuzz_ndjson.py"), str(scratch), str(FUZZ / "corpus"), "-max_total_time=20",
         f"-artifact_prefix={tmp_path}/", "-rss_limit_mb=4096", "-print_final_stats=1"],
        capture_output=True, text=True, timeout=180, env={**__import__("os").environ, "PYTHONPATH": str(FUZZ.parents[1])},
    )
    crashes = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "oom-", "timeout-"))]
    assert result.returncode == 0 and not crashes, (crashes, result.stderr[-3000:])
    runs = [line for line in result.stderr.splitlines() if line.startswith("stat::number_of_executed_units")]
    assert runs and int(runs[0].split(":")[-1]) > 1000, result.stderr[-2000:]  # it really fuzzed
