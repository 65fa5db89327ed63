"""Planning a bulk run: the job list, its chunks, and the estimate from measured rates (no AWS needed)."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from paybatch.bulk.plan import BulkPlanError, estimate_generation, generation_bytes, generation_chunks, rate_value, rows_for_target
from paybatch.cli.app import app
from paybatch.config import load_settings
from paybatch.generate.plan import GenerationRequestError, job_slices, parse_dates, parse_slice_range
from paybatch.pricing import GLUE_DPU_HOUR
from paybatch.pricing.rates import curve, on_curve

runner = CliRunner()


@settings(max_examples=200, deadline=None)
@given(rows=st.integers(1, 10**9), days=st.integers(1, 40), per_job=st.integers(1, 5 * 10**7))
def test_jobs_cover_every_row_once_in_date_and_job_order(rows: int, days: int, per_job: int) -> None:
    per_job = max(per_job, rows // 20_000)  # at most ~20,000 jobs per example
    dates = parse_dates(f"2024-01-01..2024-{1 + (days - 1) // 28:02d}-{1 + (days - 1) % 28:02d}")[:days]
    jobs = job_slices(rows, dates, per_job)
    assert sum(j.rows for j in jobs) == rows
    assert all(0 < j.rows <= per_job for j in jobs)
    assert [(j.date, j.job_index) for j in jobs] == sorted((j.date, j.job_index) for j in jobs)
    for date in {j.date for j in jobs}:
        sizes = [j.rows for j in jobs if j.date == date]
        assert [j.job_index for j in jobs if j.date == date] == list(range(len(sizes)))
        assert max(sizes) - min(sizes) <= 1  # near-equal jobs within a date


@settings(max_examples=200, deadline=None)
@given(jobs=st.integers(1, 500), per_chunk=st.integers(1, 50), chunks=st.integers(1, 500))
def test_chunks_are_contiguous_even_ranges_of_the_job_list(jobs: int, per_chunk: int, chunks: int) -> None:
    listed = job_slices(jobs * 10, ["2024-01-01"], 10)
    for specs in (generation_chunks(listed, jobs_per_chunk=per_chunk), generation_chunks(listed, chunks=min(chunks, jobs))):
        ranges = [tuple(s["jobs"]) for s in specs]
        assert ranges[0][0] == 0 and ranges[-1][1] == jobs
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
        sizes = [b - a for a, b in ranges]
        assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
        assert [s["chunk_id"] for s in specs] == list(range(len(specs)))
        assert [s["pan_dimension"] for s in specs] == [True] + [False] * (len(specs) - 1)  # written once


def test_chunking_errors_name_the_problem() -> None:
    jobs = job_slices(100, ["2024-01-01"], 10)
    with pytest.raises(BulkPlanError, match="--chunks 11 is more than the 10 jobs"):
        generation_chunks(jobs, chunks=11)
    with pytest.raises(BulkPlanError, match="at least 1"):
        generation_chunks(jobs, chunks=0)
    with pytest.raises(BulkPlanError, match="nothing to generate"):
        generation_chunks([], jobs_per_chunk=1)
    with pytest.raises(GenerationRequestError):
        job_slices(0, ["2024-01-01"], 10)
    with pytest.raises(BulkPlanError, match="more than 0"):
        rows_for_target(0, 1_500_000)
    assert parse_slice_range("3..7") == (3, 7)
    for bad in ("7..3", "3", "a..b", "-1..2"):
        with pytest.raises(GenerationRequestError, match="--job_slices"):
            parse_slice_range(bad)


def test_the_estimate_follows_the_measured_rates_and_the_environment() -> None:
    prod = load_settings("prod", environ={"PAYBATCH_TARGET": "aws"})
    rows = rows_for_target(10, prod.bulk.rows_per_job)
    jobs = job_slices(rows, parse_dates("2025-01-01..2025-12-31"), prod.bulk.rows_per_job)
    chunks = generation_chunks(jobs, jobs_per_chunk=prod.bulk.jobs_per_chunk)
    estimate = estimate_generation(prod, chunks, jobs)
    assert estimate.bytes == pytest.approx(10e12, rel=1e-3)  # the target, in the jobs the plan makes
    assert estimate.chunks == len(chunks) and estimate.rows == rows
    assert estimate.concurrency == min(prod.bulk.max_concurrency, prod.glue.max_concurrent_runs)
    assert estimate.dpus_per_run == prod.glue.number_of_workers * 2  # G.2X
    assert estimate.cost_usd == pytest.approx(estimate.dpu_hours * GLUE_DPU_HOUR, rel=0.01)
    assert estimate.wall_seconds >= estimate.seconds_per_chunk * (len(chunks) // estimate.concurrency) * 0.99
    assert set(estimate.rates) == {"generate_rows_per_cpu_second", "generate_bytes_per_row_by_file_rows",
                                   "generate_pan_dimension_bytes", "bulk_chunk_overhead_seconds"}
    fewer = estimate_generation(prod, chunks, jobs, max_concurrency=3)
    assert fewer.concurrency == 3 and fewer.wall_seconds > estimate.wall_seconds and fewer.cost_usd == estimate.cost_usd


def test_bulk_plan_target_tb_prints_chunks_dpu_hours_cost_and_wall_time() -> None:
    out = runner.invoke(app, ["bulk", "plan", "--env", "prod", "--target-tb", "10", "--dates", "2025-01-01..2025-12-31"])
    assert out.exit_code == 0, out.output
    for label in ("chunks", "DPU-hours", "cost", "wall time", "10.00", " TB", "30 at once", "148.2", "8,692,626"):
        assert label in out.output, label
    data = json.loads(runner.invoke(app, ["bulk", "plan", "--env", "prod", "--target-tb", "10", "--json"]).output)
    assert data["chunks"] > 0 and data["dpu_hours"] > 0 and data["cost_usd"] > 0 and data["wall_seconds"] > 0


@pytest.mark.parametrize(("args", "message"), [
    (["bulk", "plan", "--env", "dev"], "exactly one of --target-tb N or --rows N"),
    (["bulk", "plan", "--env", "dev", "--rows", "10", "--target-tb", "1"], "exactly one of --target-tb N or --rows N"),
    (["bulk", "plan", "--env", "dev", "--rows", "10", "--dates", "2024-02-30"], "--dates"),
    (["bulk", "plan", "--env", "dev", "--rows", "10", "--dates", "2024-01-01", "--chunks", "5", "--rows-per-job", "5"],
     "--chunks 5 is more than the 2 jobs"),
    (["bulk", "generate", "--env", "dev", "--rows", "10"], "--dates FROM..TO is required"),
    (["bulk", "generate", "--env", "dev", "--rows", "10", "--dates", "2024-01-01", "--output", "/tmp/x"], "not a local folder"),
    (["bulk", "convert", "--env", "dev"], "--prefix s3://bucket/prefix is required"),
    (["bulk", "convert", "--env", "dev", "--prefix", "s3://b/p", "--since", "yesterday"], "--since 'yesterday'"),
    # Numbers no run can have: refused by name before anything is planned (issue #26).
    (["bulk", "plan", "--env", "dev", "--rows", "0"], "--rows"),
    (["bulk", "plan", "--env", "dev", "--rows", "-10"], "--rows"),
    (["bulk", "plan", "--env", "dev", "--rows", "10", "--max-concurrency", "-4"], "--max-concurrency"),
    (["bulk", "plan", "--env", "dev", "--rows", "10", "--max-concurrency", "0"], "--max-concurrency"),
    (["bulk", "plan", "--env", "dev", "--rows", "10", "--rows-per-job", "0"], "--rows-per-job"),
    (["bulk", "plan", "--env", "dev", "--rows", "10", "--jobs-per-chunk", "0"], "--jobs-per-chunk"),
    (["bulk", "plan", "--env", "dev", "--rows", "10", "--chunks", "-1"], "--chunks"),
    (["bulk", "plan", "--env", "dev", "--rows", "10", "--tolerate", "150"], "--tolerate"),
    (["bulk", "generate", "--env", "dev", "--rows", "10", "--dates", "2024-01-01", "--tolerate", "-1"], "--tolerate"),
    (["wait", "--env", "dev", "--timeout", "-1"], "--timeout"),
    (["wait", "--env", "dev", "--interval", "0"], "--interval"),
])
def test_bad_requests_get_a_clear_error_and_start_nothing(args: list[str], message: str) -> None:
    out = runner.invoke(app, args)
    assert out.exit_code == 2, out.output
    assert message in out.output
    assert "Traceback" not in out.output and (out.exception is None or isinstance(out.exception, SystemExit))


def test_a_runs_cost_bills_at_least_a_minute_of_its_workers() -> None:
    from datetime import UTC, datetime, timedelta

    from paybatch.bulk.worker import run_cost

    start = datetime(2026, 1, 1, tzinfo=UTC)
    run = {"StartedOn": start, "CompletedOn": start + timedelta(seconds=30), "WorkerType": "G.1X", "NumberOfWorkers": 10}
    assert run_cost(run) == (300.0, pytest.approx(60 / 3600 * 10 * GLUE_DPU_HOUR))  # 30 s used, a minute billed
    long_run = {**run, "ExecutionTime": 600}
    assert run_cost(long_run) == (6000.0, pytest.approx(600 / 3600 * 10 * GLUE_DPU_HOUR))
    scaled = {**long_run, "DPUSeconds": 1200.0}  # auto scaling: what Glue reports
    assert run_cost(scaled) == (1200.0, pytest.approx(1200 / 3600 * GLUE_DPU_HOUR))
    tiny = {**run, "DPUSeconds": 100.0}
    assert run_cost(tiny)[1] == pytest.approx(600 / 3600 * GLUE_DPU_HOUR)


def test_the_size_follows_the_files_a_run_writes() -> None:
    """1 M rows over 7 dates (files of 143 k rows) take far more bytes than over 1 date (one file of 1 M): each file
    repeats its dictionaries. The estimate is each file at the bytes per row measured for its size (make bench)."""
    points = curve("generate_bytes_per_row_by_file_rows")
    one_date = generation_bytes([1_000_000], pan_dimension=False)
    seven = generation_bytes([142_858] * 6 + [142_852], pan_dimension=False)
    assert one_date == pytest.approx(1_000_000 * on_curve(points, 1_000_000), rel=1e-6)
    assert seven > 1.8 * one_date
    # A 1.5 M-row job is a file of 1 M and one of 500 k; the PAN dimension is counted once, by the chunk that writes it.
    job = generation_bytes([1_500_000], pan_dimension=False)
    assert job == pytest.approx(1_000_000 * on_curve(points, 1_000_000) + 500_000 * on_curve(points, 500_000), rel=1e-6)
    assert generation_bytes([1_500_000], pan_dimension=True) - job == rate_value("generate_pan_dimension_bytes")


def test_the_curve_is_straight_between_points_on_a_log_scale_and_flat_beyond() -> None:
    points = [(1_000.0, 300.0), (100_000.0, 100.0)]
    assert on_curve(points, 10) == 300.0 and on_curve(points, 10**7) == 100.0
    assert on_curve(points, 10_000) == pytest.approx(200.0)
