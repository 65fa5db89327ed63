"""test-production-scale.sh: phases of growing file counts pushed through the real pipeline.

Each phase generates N feed files (the payments generator, one partition date per phase),
lets them land in the input bucket, waits until every one is terminal, and verifies that every
file completed and that counts reconcile (lines read = rows written + rows rejected, and rows
written = rows generated). It reports throughput and projected cost, and stops at the first
failed phase. The phases' rows go through the environment's own tables (that is what is tested); when a
phase ends, its batches' rows and rejects are removed from them again (unless ``keep_rows``), so readers of
those tables are left with nothing of the test. Its tracking items expire as any others, and its files stay
counted in the counters of the phase's date.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from paybatch.aws import AwsClients
from paybatch.contracts.tracking import TERMINAL_FILE_STATUSES, TERMINAL_MANIFEST_STATUSES, FileStatus
from paybatch.convert.commit import retract_batches
from paybatch.datasets import load_schema
from paybatch.errors import PaybatchError
from paybatch.generate.job import generate
from paybatch.generate.plan import GenerationRequest
from paybatch.ops.cost import MEASURED_MIB_PER_CPU_SECOND, estimate
from paybatch.ops.diagnose import require_resources
from paybatch.tracking_store import TrackingStore

BASE_DATE = dt.date(2031, 1, 1)  # phases use their own dates, far from real data, so they never mix with it
LINE_BYTES_ESTIMATE = 640  # an authorization NDJSON line; used to size files near the expected size


@dataclass
class PhaseResult:
    files: int
    date: str
    passed: bool = False
    completed: int = 0
    rows_generated: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    lines_read: int = 0
    seconds: float = 0.0
    files_per_minute: float = 0.0
    mb_per_second: float = 0.0
    projected_cost_per_day: float = 0.0
    rows_removed: bool = False  # its batches' rows taken out of the tables again when it ended
    problems: list[str] = field(default_factory=list)


def parse_phases(text: str) -> list[int]:
    try:
        phases = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise PaybatchError(f"--phases {text!r}: expected file counts such as 10,100,1000") from None
    if not phases or any(p < 1 for p in phases):
        raise PaybatchError(f"--phases {text!r}: every phase needs at least one file")
    return phases


def run_dates(count: int, now: float | None = None) -> list[str]:
    """One fresh date per phase (offset by the minute the run starts), so runs never see each other's files."""
    offset = int((now or time.time()) // 60) % 20_000
    return [(BASE_DATE + dt.timedelta(days=offset + i)).isoformat() for i in range(count)]


def run_phase(clients: AwsClients, files: int, date: str, *, timeout: float, spark: Any = None,
              wait: Callable[[float], None] = time.sleep, keep_rows: bool = False) -> PhaseResult:
    settings = clients.settings
    result = PhaseResult(files, date)
    rows_per_file = max(1, int(settings.file_validation.expected_file_size_mb * 2**20 / LINE_BYTES_ESTIMATE))
    started = time.monotonic()
    request = GenerationRequest(rows=files * rows_per_file, dates=(date,), format="ndjson", tables=("authorization",),
                                quality=False, ndjson_rows_per_file=rows_per_file)
    generated = generate(settings, request, spark=spark, clients=clients)
    result.rows_generated = sum(f["rows"] for f in generated.files)
    store = TrackingStore(clients)
    deadline = time.monotonic() + timeout
    while True:
        items = store.files_for_date(date)
        done = [f for f in items if f["status"] in TERMINAL_FILE_STATUSES]
        # The manifests too: a run moves its files before it records the manifest's totals.
        recorded = all(m.get("manifest_status") in TERMINAL_MANIFEST_STATUSES for m in store.manifests_for_date(date))
        if len(items) >= files and len(done) == len(items) and recorded:
            break
        if time.monotonic() > deadline:
            result.problems.append(f"timed out after {timeout:.0f} s: {len(done)} of {files} files terminal")
            break
        wait(2)
    result.seconds = round(time.monotonic() - started, 1)
    result.completed = sum(1 for f in items if f["status"] == FileStatus.COMPLETED)
    manifests = store.manifests_for_date(date)
    result.lines_read = sum(int(m.get("lines_read", 0)) for m in manifests)
    result.rows_written = sum(int(m.get("rows_written", 0)) for m in manifests)
    result.rows_rejected = sum(int(m.get("rows_rejected", 0)) for m in manifests)
    if result.completed != files:
        other = {str(f["status"]) for f in items if f["status"] != FileStatus.COMPLETED}
        result.problems.append(f"{result.completed} of {files} files completed (others: {sorted(other) or 'missing'})")
    if result.lines_read != result.rows_written + result.rows_rejected:
        result.problems.append(f"counts do not reconcile: {result.lines_read} lines read ≠ {result.rows_written} written + "
                               f"{result.rows_rejected} rejected")
    if result.rows_written != result.rows_generated:
        result.problems.append(f"{result.rows_written} rows written but {result.rows_generated} generated")
    megabytes = sum(int(f.get("size_bytes", 0)) for f in items) / 2**20
    result.files_per_minute = round(files / result.seconds * 60, 1) if result.seconds else 0.0
    result.mb_per_second = round(megabytes / result.seconds, 2) if result.seconds else 0.0
    if items:  # this phase's rate, sustained for a day, at the measured conversion throughput
        per_day = int(result.files_per_minute * 1440)
        result.projected_cost_per_day = round(estimate(settings, per_day, megabytes / len(items) / 1024,
                                                       MEASURED_MIB_PER_CPU_SECOND).total_per_day, 2)
    result.passed = not result.problems
    if not keep_rows and manifests:
        retract_batches(settings, load_schema("authorization"), sorted(str(m["batch_id"]) for m in manifests))
        result.rows_removed = True
    return result


def run_scale_test(clients: AwsClients, phases: list[int], *, timeout: float, spark: Any = None,
                   on_phase: Callable[[PhaseResult], None] | None = None, keep_rows: bool = False) -> list[dict[str, Any]]:
    """Run the phases in order; stop after the first that fails. Each phase's rows leave the tables when it ends
    (``keep_rows``: they stay)."""
    require_resources(clients)
    results = []
    for files, date in zip(phases, run_dates(len(phases)), strict=True):
        result = run_phase(clients, files, date, timeout=timeout, spark=spark, keep_rows=keep_rows)
        results.append(asdict(result))
        if on_phase:
            on_phase(result)
        if not result.passed:
            break
    return results
