"""`paybatch bulk`: chunked generation and backfills on Step Functions, with their plan, progress and control."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from paybatch.cli.bulk_views import follow, print_estimate, print_run
from paybatch.cli.common import EnvOption, JsonOption, clean_errors, console, print_json, settings_for
from paybatch.errors import PaybatchError

if TYPE_CHECKING:
    from paybatch.generate.plan import GenerationRequest

app = typer.Typer(help="Bulk runs on Step Functions: TB-scale generation and backfills in chunks, with bounded "
                       "concurrency, retries, partial success, resume and one aggregated result.", no_args_is_help=True)

TargetOption = Annotated[float | None, typer.Option("--target-tb", min=1e-6,
                                                    help="Generate this many terabytes (rows from the measured bytes per row).")]
RowsOption = Annotated[int | None, typer.Option("--rows", min=1, help="Authorization rows in total (instead of --target-tb).")]
DatesOption = Annotated[str | None, typer.Option("--dates", help="Partition dates FROM..TO (inclusive).")]
RowsPerJobOption = Annotated[int | None, typer.Option("--rows-per-job", min=1,
                                                     help="Rows per generation job (default: bulk.rows_per_job).")]
JobsPerChunkOption = Annotated[int | None, typer.Option("--jobs-per-chunk", min=1,
                                                       help="Jobs per chunk, one Glue run each (default: bulk.jobs_per_chunk).")]
ChunksOption = Annotated[int | None, typer.Option("--chunks", min=1, help="Exactly this many chunks (instead of --jobs-per-chunk).")]
ConcurrencyOption = Annotated[int | None, typer.Option("--max-concurrency", min=1,
                                                      help="Chunks in flight at once (default: bulk.max_concurrency).")]
TolerateOption = Annotated[float | None, typer.Option(
    "--tolerate", min=0, max=100,
    help="Percent of chunks that may fail with the run still a (partial) success (default: bulk.tolerated_failure_percent).")]
WaitOption = Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the run with a progress display until it ends.")]
PrefixOption = Annotated[str | None, typer.Option("--prefix", help="Backfill: every object under this s3:// prefix.")]
SinceOption = Annotated[str | None, typer.Option("--since", help="Only objects modified on or after this date (YYYY-MM-DD).")]


def _rows(target_tb: float | None, rows: int | None, rows_per_job: int) -> int:
    from paybatch.bulk.plan import rows_for_target

    if (target_tb is None) == (rows is None):
        raise PaybatchError("give exactly one of --target-tb N or --rows N")
    return rows if rows is not None else rows_for_target(target_tb or 0, rows_per_job)


def _request(target_tb: float | None, rows: int | None, dates: str, seed: int, format: str, tables: list[str] | None,
             output: str | None, quality: bool, rows_per_job: int) -> GenerationRequest:
    from paybatch.generate.plan import GenerationRequest, parse_dates  # the generator's modules: off the CLI's start
    from paybatch.generate.spec import PAN_DIMENSION, TABLES

    chosen = tuple(t.strip() for item in tables or [] for t in item.split(",") if t.strip()) or (*TABLES, PAN_DIMENSION)
    return GenerationRequest(rows=_rows(target_tb, rows, rows_per_job), dates=tuple(parse_dates(dates)), seed=seed, format=format,
                             tables=chosen, output=output, quality=quality)


def _default_dates() -> str:
    """The year up to yesterday (UTC): what `bulk plan` sizes when no dates are given."""
    end = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    return f"{end - dt.timedelta(days=364)}..{end}"


def _since(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise PaybatchError(f"--since {text!r}: expected YYYY-MM-DD") from None


@clean_errors
def generate(
    env: EnvOption = "dev",
    target_tb: TargetOption = None,
    rows: RowsOption = None,
    dates: DatesOption = None,
    rows_per_job: RowsPerJobOption = None,
    jobs_per_chunk: JobsPerChunkOption = None,
    chunks: ChunksOption = None,
    seed: Annotated[int, typer.Option(min=0, help="Same seed and options, same bytes.")] = 0,
    format: Annotated[str, typer.Option("--format", help="parquet, ndjson or both.")] = "parquet",
    tables: Annotated[list[str] | None, typer.Option(help="Tables to write (default: all six and the PAN dimension).")] = None,
    output: Annotated[str | None, typer.Option("--output", help="An s3:// prefix instead of the environment's buckets.")] = None,
    quality: Annotated[bool, typer.Option("--quality/--no-quality", help="Run the quality suite in every chunk.")] = True,
    max_concurrency: ConcurrencyOption = None,
    tolerate: TolerateOption = None,
    wait: WaitOption = True,
    as_json: JsonOption = False,
) -> None:
    """Generate in chunks of (date, job) slices; the rows do not depend on the chunking, and a rerun rewrites the same bytes."""
    from paybatch.bulk.control import BulkControl
    from paybatch.bulk.plan import plan_generation

    if dates is None:
        raise PaybatchError("--dates FROM..TO is required")
    settings = settings_for(env)
    plan = plan_generation(settings, _request(target_tb, rows, dates, seed, format, tables, output, quality,
                                                      rows_per_job or settings.bulk.rows_per_job),
                           rows_per_job=rows_per_job, jobs_per_chunk=jobs_per_chunk, chunks=chunks)
    control = BulkControl(settings)
    with Progress(TextColumn("allocating sequence ranges"), BarColumn(), MofNCompleteColumn(), TextColumn("jobs"),
                  console=console, transient=True, disable=as_json) as progress:
        bar = progress.add_task("allocate", total=len(plan.jobs))
        run = control.start_generation(plan, max_concurrency=max_concurrency, tolerance=tolerate,
                                       on_progress=lambda done, total: progress.update(bar, completed=done))
    _started(control, run, f"{len(plan.jobs):,} jobs in {len(plan.chunks):,} chunks", wait, as_json)


@clean_errors
def convert(
    env: EnvOption = "dev",
    prefix: PrefixOption = None,
    since: SinceOption = None,
    max_concurrency: ConcurrencyOption = None,
    tolerate: TolerateOption = None,
    wait: WaitOption = True,
    as_json: JsonOption = False,
) -> None:
    """Backfill a prefix: register its objects in the tracking table (files already tracked are left alone), one chunk per manifest."""
    from paybatch.bulk.control import BulkControl

    if not prefix:
        raise PaybatchError("--prefix s3://bucket/prefix is required")
    control = BulkControl(settings_for(env))
    with Progress(TextColumn("registering objects"), BarColumn(), MofNCompleteColumn(), console=console, transient=True,
                  disable=as_json) as progress:
        bar = progress.add_task("register", total=None)
        run = control.start_conversion(prefix, _since(since), max_concurrency=max_concurrency, tolerance=tolerate,
                                       on_progress=lambda done, total: progress.update(bar, completed=done, total=total))
    if run.get("run_id") is None:
        found = run["registration"]
        if as_json:
            print_json({"run_id": None, "registration": found})
            return
        console.print(f"nothing to convert under {prefix}: " + " · ".join(f"{n} {k}" for k, n in found.items()))
        return
    found = json.loads(run["request"])["registration"]
    _started(control, run, "registered: " + " · ".join(f"{n} {k}" for k, n in found.items()), wait, as_json)


def _started(control: Any, run: dict[str, Any], what: str, wait: bool, as_json: bool) -> None:
    if not as_json:
        console.print(f"bulk run [bold]{run['run_id']}[/] started: {what}, at most {run['max_concurrency']} at once "
                      f"(execution {run['execution']})")
    if not wait:
        if as_json:
            print_json({"run_id": run["run_id"], "execution_arn": run["execution_arn"], "chunks": run["chunk_count"]})
        return
    status = follow(control, run["run_id"], as_json)
    print_run(status, control.result(run["run_id"]), as_json)
    if status["run"]["status"] in ("failed", "cancelled"):
        raise typer.Exit(1)


@clean_errors
def plan(
    env: EnvOption = "dev",
    target_tb: TargetOption = None,
    rows: RowsOption = None,
    dates: DatesOption = None,
    rows_per_job: RowsPerJobOption = None,
    jobs_per_chunk: JobsPerChunkOption = None,
    chunks: ChunksOption = None,
    prefix: PrefixOption = None,
    since: SinceOption = None,
    max_concurrency: ConcurrencyOption = None,
    as_json: JsonOption = False,
) -> None:
    """What a bulk run would take: chunks, DPU-hours, dollars and wall time at the environment's concurrency (nothing starts)."""
    from paybatch.bulk.plan import estimate_generation

    settings = settings_for(env)
    if prefix:
        estimate, title = _plan_conversion(settings, prefix, _since(since), max_concurrency)
    else:
        request = _request(target_tb, rows, dates or _default_dates(), 0, "parquet", None, None, True,
                           rows_per_job or settings.bulk.rows_per_job)
        from paybatch.bulk.plan import plan_generation

        planned = plan_generation(settings, request, rows_per_job=rows_per_job, jobs_per_chunk=jobs_per_chunk, chunks=chunks)
        estimate = estimate_generation(settings, planned.chunks, planned.jobs, max_concurrency)
        title = (f"bulk generate on {env}: {len(request.dates)} dates ({request.dates[0]}..{request.dates[-1]}), "
                 f"{len(planned.jobs):,} jobs of ≤ {planned.request['rows_per_job']:,} rows")
    if as_json:
        print_json(estimate.to_dict())
        return
    print_estimate(estimate, title)


def _plan_conversion(settings: Any, prefix: str, since: dt.date | None, max_concurrency: int | None) -> tuple[Any, str]:
    """A backfill's manifests as `bulk convert` will pack them (``paybatch.bulk.backfill``: the tracking table is only read)."""
    from paybatch.aws import AwsClients
    from paybatch.bulk.backfill import preview_conversion
    from paybatch.bulk.plan import estimate_conversion

    preview = preview_conversion(AwsClients(settings), prefix, since)
    left = preview.tracked + preview.quarantined
    if not preview.chunks:
        raise PaybatchError(f"nothing to convert under {prefix} ({left} object(s) already tracked or not convertible)")
    title = (f"bulk convert on {settings.env}: {prefix}, {preview.new_files:,} new files, {preview.pending_files:,} pending, "
             f"in {len(preview.chunks):,} manifests ({preview.tracked:,} already tracked, {preview.quarantined:,} to quarantine)")
    return estimate_conversion(settings, preview.chunks, max_concurrency), title


@clean_errors
def status(
    run_id: Annotated[str, typer.Argument(help="The bulk run (see `paybatch bulk list`).")],
    env: EnvOption = "dev",
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow it until it ends.")] = False,
    chunks: Annotated[bool, typer.Option("--chunks", help="List every chunk with its attempts and outcome.")] = False,
    as_json: JsonOption = False,
) -> None:
    """One bulk run: its chunks by status, the execution, and the aggregated result once there is one."""
    from paybatch.bulk.control import BulkControl

    control = BulkControl(settings_for(env))
    current = follow(control, run_id, as_json) if wait else control.status(run_id)
    print_run(current, control.result(run_id), as_json)
    if chunks and not as_json:
        table = Table(title=f"chunks of {run_id}")
        for column in ("chunk", "status", "attempts", "job run", "rows", "seconds", "error"):
            table.add_column(column)
        for chunk in current["chunks"]:
            table.add_row(str(chunk["chunk_id"]), chunk["status"], str(chunk.get("attempts", 0)), str(chunk.get("job_run_id", ""))[:20],
                          f"{chunk.get('rows', 0):,}", str(chunk.get("duration_seconds", "")), str(chunk.get("last_error", ""))[:80])
        console.print(table)


@clean_errors
def list_runs(env: EnvOption = "dev", as_json: JsonOption = False) -> None:
    """Every bulk run of the environment, newest first."""
    from paybatch.aws import AwsClients
    from paybatch.bulk.ledger import BulkLedger

    runs = BulkLedger(AwsClients(settings_for(env))).runs()
    if as_json:
        print_json([{k: v for k, v in r.items() if k != "request"} for r in runs])
        return
    table = Table(title=f"bulk runs ({env})")
    for column in ("run", "kind", "status", "chunks", "created", "result"):
        table.add_column(column)
    for run in runs:
        result = run.get("result") or {}
        table.add_row(run["run_id"], run["kind"], run["status"], str(run["chunk_count"]), run["created_at"][:19],
                      f"{result.get('rows', 0):,} rows, {result.get('chunks', {}).get('failed', 0)} failed" if result else "")
    console.print(table)


@clean_errors
def resume(
    run_id: Annotated[str, typer.Argument(help="The bulk run to continue.")],
    env: EnvOption = "dev",
    redrive: Annotated[bool, typer.Option(
        "--redrive", help="On AWS: Step Functions' RedriveExecution of the failed execution instead.")] = False,
    wait: WaitOption = True,
    as_json: JsonOption = False,
) -> None:
    """Continue an interrupted, failed or partial run: only the chunks not yet succeeded run again."""
    from paybatch.bulk.control import BulkControl

    control = BulkControl(settings_for(env))
    run = control.resume(run_id, redrive=redrive)
    remaining = sum(1 for c in control.ledger.chunks(run_id) if c["status"] != "succeeded")
    _started(control, run, f"resumed ({remaining} chunk(s) not yet succeeded)", wait, as_json)


@clean_errors
def cancel(
    run_id: Annotated[str, typer.Argument(help="The bulk run to stop.")],
    env: EnvOption = "dev",
    as_json: JsonOption = False,
) -> None:
    """Stop a run: its execution, and the Glue runs of its generation chunks (a conversion run finishes its manifest)."""
    from paybatch.bulk.control import BulkControl

    run = BulkControl(settings_for(env)).cancel(run_id)
    if as_json:
        print_json({k: v for k, v in run.items() if k != "request"})
        return
    console.print(f"bulk run {run_id} cancelled; {run['runs_stopped']} Glue run(s) stopped. "
                  f"Manifests it packed and did not convert go to the live pipeline's scheduler; "
                  f"`paybatch bulk resume {run_id}` continues it instead.")


app.command("generate")(generate)
app.command("convert")(convert)
app.command("plan")(plan)
app.command("status")(status)
app.command("list")(list_runs)
app.command("resume")(resume)
app.command("cancel")(cancel)
