"""What one generation run does: its request, its dates, and the tasks Spark will run.

Tasks depend only on the spec, the seed and the sequence allocations, never on how many
executors or partitions run them; that is what makes the output byte-identical across runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from paybatch.errors import PaybatchError
from paybatch.generate.sequences import Allocation
from paybatch.generate.spec import PAN_DIMENSION, TABLES
from paybatch.generate.tables import Chunk

FORMATS = ("parquet", "ndjson", "both")
MAX_DATES = 3660
FEED_SUBCHUNK_ROWS = 200_000  # rows encoded at a time while streaming one feed file (bounds task memory)


class GenerationRequestError(PaybatchError):
    """A generation request that cannot be run as given (dates, rows, tables, format)."""


@dataclass(frozen=True)
class JobSlice:
    """One generation job of a bulk run: ``rows`` rows of one date under one job index (one sequence range)."""

    date: str
    job_index: int
    rows: int


def job_slices(rows: int, dates: list[str] | tuple[str, ...], rows_per_job: int) -> list[JobSlice]:
    """Every job of a bulk generation, in (date, job index) order: a pure function of the request.

    Each date gets its share of ``rows`` (the remainder one row each to the first dates, as one run spreads
    them), cut into as few jobs of at most ``rows_per_job`` as fit, of near-equal size. Which jobs run
    together, and in what order, never changes a job's rows or its sequence range.
    """
    if rows < 1 or rows_per_job < 1 or not dates:
        raise GenerationRequestError("a bulk generation needs at least one row, one date and one row per job")
    base, extra = divmod(rows, len(dates))
    slices = []
    for i, date in enumerate(dates):
        day_rows = base + (1 if i < extra else 0)
        if day_rows == 0:
            continue
        jobs = -(-day_rows // rows_per_job)
        job_base, job_extra = divmod(day_rows, jobs)
        slices += [JobSlice(date, j, job_base + (1 if j < job_extra else 0)) for j in range(jobs)]
    return slices


def parse_dates(text: str) -> list[str]:
    """``FROM..TO`` (inclusive) or a single ``YYYY-MM-DD`` → every date in order."""
    first, sep, last = text.partition("..")
    try:
        start = dt.date.fromisoformat(first.strip())
        end = dt.date.fromisoformat(last.strip()) if sep else start
    except ValueError:
        raise GenerationRequestError(f"--dates {text!r}: expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD") from None
    if end < start:
        raise GenerationRequestError(f"--dates {text!r}: the range ends before it starts")
    days = (end - start).days + 1
    if days > MAX_DATES:
        raise GenerationRequestError(f"--dates {text!r}: {days} dates is more than {MAX_DATES}; split the run")
    return [(start + dt.timedelta(days=i)).isoformat() for i in range(days)]


def parse_slice_range(text: str) -> tuple[int, int]:
    """``FIRST..END`` (END exclusive) → (FIRST, END), as --job_slices passes a chunk's jobs."""
    first, sep, end = text.partition("..")
    try:
        bounds = int(first), int(end)
    except ValueError:
        bounds = (-1, -1)
    if not sep or bounds[0] < 0 or bounds[1] <= bounds[0]:
        raise GenerationRequestError(f"--job_slices {text!r}: expected FIRST..END with 0 <= FIRST < END")
    return bounds


@dataclass(frozen=True)
class GenerationRequest:
    """Everything a run needs besides the environment: the CLI and the Glue job both build one."""

    rows: int
    dates: tuple[str, ...]
    seed: int = 0
    format: str = "parquet"
    tables: tuple[str, ...] = (*TABLES, PAN_DIMENSION)
    only_dates: tuple[str, ...] = ()
    job_index: int = 0
    output: str | None = None
    spec_path: str | None = None
    quality: bool = True
    reports_dir: str | None = None
    ndjson_file_mb: float | None = None
    ndjson_rows_per_file: int | None = None  # overrides ndjson_file_mb: exactly this many records per feed file
    slices: tuple[JobSlice, ...] = ()  # a bulk chunk: exactly these (date, job) jobs instead of rows spread over dates

    def __post_init__(self) -> None:
        if self.rows < 1:
            raise GenerationRequestError(f"--rows must be at least 1 (got {self.rows})")
        if not self.dates:
            raise GenerationRequestError("no dates to generate")
        if self.format not in FORMATS:
            raise GenerationRequestError(f"--format {self.format!r}: one of {', '.join(FORMATS)}")
        unknown = [t for t in self.tables if t not in (*TABLES, PAN_DIMENSION)]
        if unknown:
            raise GenerationRequestError(f"unknown tables {unknown}; known: {', '.join((*TABLES, PAN_DIMENSION))}")
        outside = [d for d in self.only_dates if d not in self.dates]
        if outside:
            raise GenerationRequestError(f"--only-dates {outside} are not inside --dates {self.dates[0]}..{self.dates[-1]}")
        if not 0 <= self.job_index < 100_000:
            raise GenerationRequestError(f"--job-index must be 0..99999 (got {self.job_index})")
        if not 0 <= self.seed < 2**63:
            raise GenerationRequestError(f"--seed must be 0..2**63-1 (got {self.seed})")
        if self.ndjson_rows_per_file is not None and self.ndjson_rows_per_file < 1:
            raise GenerationRequestError(f"--records-per-file must be at least 1 (got {self.ndjson_rows_per_file})")
        outside_slices = sorted({s.date for s in self.slices} - set(self.dates))
        if outside_slices:
            raise GenerationRequestError(f"job slices for {outside_slices} are not inside --dates {self.dates[0]}..{self.dates[-1]}")
        if self.rows // len(self.dates) >= 2**31:
            raise GenerationRequestError("more than 2**31 rows per date in one job: split the run with --job-index")

    @property
    def parquet(self) -> bool:
        return self.format in ("parquet", "both")

    @property
    def ndjson(self) -> bool:
        return self.format in ("ndjson", "both")

    def rows_per_date(self) -> dict[str, int]:
        """The total spread evenly, the remainder one row each to the first dates (a pure function of the request)."""
        base, extra = divmod(self.rows, len(self.dates))
        return {d: base + (1 if i < extra else 0) for i, d in enumerate(self.dates)}

    def selected_dates(self) -> list[str]:
        return [d for d in self.dates if not self.only_dates or d in self.only_dates]


@dataclass(frozen=True)
class TableTask:
    """Build one chunk and write its rows of the requested tables."""

    chunk: Chunk
    job_index: int
    tables: tuple[str, ...]
    kind: str = "tables"


@dataclass(frozen=True)
class FeedTask:
    """Write one NDJSON feed file of authorization rows (streamed in sub-chunks)."""

    chunk: Chunk
    job_index: int
    part: int
    kind: str = "feed"


@dataclass(frozen=True)
class PanTask:
    """Write the restricted PAN dimension."""

    kind: str = "pan"


Task = TableTask | FeedTask | PanTask


@dataclass
class Plan:
    tasks: list[Task] = field(default_factory=list)


def chunks(allocation: Allocation, rows_per_chunk: int) -> list[Chunk]:
    """The allocation cut into chunks of at most ``rows_per_chunk`` rows."""
    out = []
    for index, first in enumerate(range(0, allocation.count, rows_per_chunk)):
        out.append(Chunk(allocation.date, allocation.start, allocation.count, first, min(rows_per_chunk, allocation.count - first), index))
    return out


def feed_chunks(allocation: Allocation, rows_per_file: int) -> list[Chunk]:
    """Feed files of near-equal row counts, so no small remainder file falls outside the size window."""
    files = max(1, round(allocation.count / max(1, rows_per_file)))
    base, extra = divmod(allocation.count, files)
    out, first = [], 0
    for part in range(files):
        size = base + (1 if part < extra else 0)
        out.append(Chunk(allocation.date, allocation.start, allocation.count, first, size, part))
        first += size
    return out


def build_plan(request: GenerationRequest, allocations: list[Allocation], rows_per_file: int,
               feed_rows: dict[str, int]) -> Plan:
    """Tasks for every allocation: table chunks (Parquet), feed files (NDJSON), the PAN dimension."""
    plan = Plan()
    if PAN_DIMENSION in request.tables and request.parquet:
        plan.tasks.append(PanTask())
    tables = tuple(t for t in request.tables if t in TABLES)
    for allocation in allocations:
        if request.parquet and tables:
            plan.tasks += [TableTask(c, allocation.job_index, tables) for c in chunks(allocation, rows_per_file)]
        if request.ndjson:
            plan.tasks += [FeedTask(c, allocation.job_index, c.index) for c in feed_chunks(allocation, feed_rows[allocation.date])]
    return plan
