"""What a bulk run will do before it runs: its chunks, and what they cost in DPU-hours, dollars and wall time.

Chunks are plain JSON (the state machine reads them from S3, one Map item each). A generation chunk is a
contiguous range of the request's job list (``paybatch.generate.plan.job_slices``) run as one Glue run; a
conversion chunk is one manifest. Estimates come from measured rates (``paybatch/pricing/rates.json``, written
by `make bench`) and the unit prices in ``paybatch.ops.cost``; nothing here is a hand-copied figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from paybatch.bulk.ledger import chunk_item
from paybatch.config import Settings
from paybatch.errors import PaybatchError
from paybatch.generate.plan import GenerationRequest, JobSlice, job_slices
from paybatch.generate.spec import load_spec
from paybatch.pricing import glue_dpu_hours, glue_run_cost, job_dpus, run_seconds
from paybatch.pricing.rates import curve, on_curve
from paybatch.pricing.rates import load as load_rates
from paybatch.resources import glue_job_specs

TB = 10**12


class BulkPlanError(PaybatchError):
    """A bulk request that cannot be planned as given."""


def chunk_item_key(chunk_id: int) -> str:
    return chunk_item(chunk_id)


def generation_chunks(jobs: list[JobSlice], *, jobs_per_chunk: int | None = None, chunks: int | None = None,
                      with_pan: bool = True) -> list[dict[str, Any]]:
    """Contiguous ranges of the job list, as even as they can be: ``chunks`` of them, or ``jobs_per_chunk`` jobs each.

    The PAN dimension is written once, by the first chunk (it depends only on the seed and the key).
    """
    if not jobs:
        raise BulkPlanError("nothing to generate")
    if chunks is not None:
        if chunks < 1:
            raise BulkPlanError(f"--chunks must be at least 1 (got {chunks})")
        if chunks > len(jobs):
            raise BulkPlanError(f"--chunks {chunks} is more than the {len(jobs)} jobs; lower --rows-per-job for more jobs")
        count = chunks
    else:
        count = math.ceil(len(jobs) / max(1, jobs_per_chunk or 1))
    base, extra = divmod(len(jobs), count)
    specs, first = [], 0
    for chunk_id in range(count):
        end = first + base + (1 if chunk_id < extra else 0)
        part = jobs[first:end]
        specs.append({"chunk_id": chunk_id, "item": chunk_item_key(chunk_id), "kind": "generate", "jobs": [first, end],
                      "rows": sum(j.rows for j in part), "dates": [part[0].date, part[-1].date],
                      "pan_dimension": with_pan and chunk_id == 0})
        first = end
    return specs


def rows_for_target(target_tb: float, rows_per_job: int) -> int:
    """Authorization rows whose six tables (each written once) come to ``target_tb`` terabytes, in jobs of
    ``rows_per_job`` rows, at the bytes per row measured for files of their size."""
    if target_tb <= 0:
        raise BulkPlanError(f"--target-tb must be more than 0 (got {target_tb})")
    return math.ceil(target_tb * TB * rows_per_job / generation_bytes([rows_per_job], pan_dimension=False))


BYTES_CURVE = "generate_bytes_per_row_by_file_rows"


def generation_bytes(job_rows: Sequence[int], *, pan_dimension: bool) -> int:
    """What a generation writes, each table once: every job's rows (one date's) cut into Parquet files of the spec's
    ``rows_per_file``, each file at the bytes per row measured for files of its size (a small file's dictionaries
    repeat: 1 M rows in files of 143 k take twice the bytes of one file), plus the PAN dimension once."""
    rates = load_rates()
    if BYTES_CURVE not in rates:
        raise BulkPlanError(f"no measured {BYTES_CURVE} in paybatch/pricing/rates.json: run `make bench` once")
    points = curve(BYTES_CURVE)
    per_file = load_spec().volumes.rows_per_file
    total = 0.0
    for rows in job_rows:
        full, rest = divmod(rows, per_file)
        total += full * per_file * on_curve(points, per_file) + (rest * on_curve(points, rest) if rest else 0.0)
    return int(total + (rate_value("generate_pan_dimension_bytes") if pan_dimension else 0))


def rate_value(name: str) -> float:
    rates = load_rates()
    if name not in rates:
        raise BulkPlanError(f"no measured {name} in paybatch/pricing/rates.json: run `make bench` once")
    return float(rates[name]["value"])


@dataclass(frozen=True)
class GenerationPlan:
    request: dict[str, Any]
    jobs: list[JobSlice]
    chunks: list[dict[str, Any]]


def plan_generation(settings: Settings, request: GenerationRequest, *, rows_per_job: int | None = None,
                    jobs_per_chunk: int | None = None, chunks: int | None = None) -> GenerationPlan:
    """The jobs and chunks of a bulk generation (no side effects)."""
    if request.output and not request.output.startswith("s3://"):
        raise BulkPlanError(f"--output {request.output}: a bulk run writes to the environment's buckets or an s3:// prefix, "
                            "not a local folder (its chunks run as Glue jobs)")
    per_job = rows_per_job or settings.bulk.rows_per_job
    jobs = job_slices(request.rows, request.dates, per_job)
    if len(jobs) > 100_000:
        raise BulkPlanError(f"{len(jobs)} jobs is more than the 100,000 job indexes a date's ledger holds; raise --rows-per-job")
    specs = generation_chunks(jobs, jobs_per_chunk=jobs_per_chunk or settings.bulk.jobs_per_chunk, chunks=chunks,
                              with_pan="pan_dimension" in request.tables)
    stored = {"rows": request.rows, "dates": list(request.dates), "rows_per_job": per_job, "seed": request.seed,
              "format": request.format, "tables": list(request.tables), "quality": request.quality, "output": request.output}
    return GenerationPlan(stored, jobs, specs)


@dataclass
class BulkEstimate:
    """A bulk run's size and price at this environment's Glue capacity and concurrency."""

    kind: str
    chunks: int
    rows: int
    bytes: int
    concurrency: int
    dpus_per_run: float
    seconds_per_chunk: float
    dpu_hours: float
    cost_usd: float
    wall_seconds: float
    rates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _job_capacity(settings: Settings, role: str) -> tuple[float, int]:
    """(DPUs per run, MaxConcurrentRuns) of one Glue job of this environment."""
    spec = next(s for s in glue_job_specs(settings) if s.role == role)
    return job_dpus(settings, role), spec.max_concurrent_runs


def _estimate(settings: Settings, kind: str, chunk_work: list[float], rows: int, size: int, role: str,
              rate_names: tuple[str, ...], max_concurrency: int | None) -> BulkEstimate:
    """``chunk_work``: CPU-seconds of compute per chunk (without start-up)."""
    dpus, job_runs = _job_capacity(settings, role)
    concurrency = min(max_concurrency or settings.bulk.max_concurrency, job_runs, max(1, len(chunk_work)))
    overhead = rate_value("bulk_chunk_overhead_seconds")
    seconds = [run_seconds(work, dpus) + overhead for work in chunk_work]
    cost = sum(glue_run_cost(s, dpus) for s in seconds)
    dpu_hours = sum(glue_dpu_hours(s, dpus) for s in seconds)
    # Chunks are near-equal; the slowest wave decides (a greedy fill of `concurrency` slots).
    slots = [0.0] * concurrency
    for s in sorted(seconds, reverse=True):
        slots[slots.index(min(slots))] += s
    rates = load_rates()
    return BulkEstimate(kind=kind, chunks=len(chunk_work), rows=rows, bytes=size, concurrency=concurrency, dpus_per_run=dpus,
                        seconds_per_chunk=round(max(seconds), 1), dpu_hours=round(dpu_hours, 2), cost_usd=round(cost, 2),
                        wall_seconds=round(max(slots), 1),
                        rates={n: {k: rates[n][k] for k in ("value", "measured", "by")}
                               for n in (*rate_names, "bulk_chunk_overhead_seconds")})


def estimate_generation(settings: Settings, chunks: list[dict[str, Any]], jobs: Sequence[JobSlice],
                        max_concurrency: int | None = None) -> BulkEstimate:
    """``chunks`` over ``jobs`` (``GenerationPlan``): the size from each chunk's jobs and files, the time from rows."""
    per_cpu = rate_value("generate_rows_per_cpu_second")
    rows = sum(int(c["rows"]) for c in chunks)
    size = sum(generation_bytes([j.rows for j in jobs[c["jobs"][0]:c["jobs"][1]]], pan_dimension=bool(c.get("pan_dimension")))
               for c in chunks)
    return _estimate(settings, "generate", [int(c["rows"]) / per_cpu for c in chunks], rows, size, "generate",
                     ("generate_rows_per_cpu_second", BYTES_CURVE, "generate_pan_dimension_bytes"), max_concurrency)


def estimate_conversion(settings: Settings, chunks: list[dict[str, Any]], max_concurrency: int | None = None) -> BulkEstimate:
    per_cpu = rate_value("convert_mib_per_cpu_second")
    size = sum(int(c["bytes"]) for c in chunks)
    light = [c for c in chunks if c.get("route") == "light"]
    role = "convert" if len(light) < len(chunks) else "convert_light"
    work = [int(c["bytes"]) / 1024 / 1024 / per_cpu for c in chunks]
    estimate = _estimate(settings, "convert", work, 0, size, role, ("convert_mib_per_cpu_second",), max_concurrency)
    if light and role == "convert":  # light chunks run on the small job: price them at its DPUs
        light_dpus = job_dpus(settings, "convert_light")
        heavy_dpus = estimate.dpus_per_run
        overhead = rate_value("bulk_chunk_overhead_seconds")
        for c in light:
            work_seconds = int(c["bytes"]) / 1024 / 1024 / per_cpu
            heavy = run_seconds(work_seconds, heavy_dpus) + overhead
            small = run_seconds(work_seconds, light_dpus) + overhead
            estimate.cost_usd = round(estimate.cost_usd - glue_run_cost(heavy, heavy_dpus) + glue_run_cost(small, light_dpus), 2)
            estimate.dpu_hours = round(estimate.dpu_hours - glue_dpu_hours(heavy, heavy_dpus) + glue_dpu_hours(small, light_dpus), 2)
    return estimate
