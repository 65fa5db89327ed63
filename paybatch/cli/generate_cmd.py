"""`paybatch generate`: the six payment tables and the PAN dimension (and NDJSON feed files), on Spark."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from paybatch.cli.common import EnvOption, JsonOption, clean_errors, console, print_json, settings_for
from paybatch.generate.spec import PAN_DIMENSION, TABLES

TABLES_HELP = f"Tables to write (comma-separated or repeated): {', '.join((*TABLES, PAN_DIMENSION))}."
OUTPUT_HELP = "One local folder or s3:// prefix for everything, instead of the environment's buckets."
REPORTS_HELP = "Where Data Docs and the profile go (default: <output>/reports or .paybatch/<env>/reports/generate-<run>)."


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for item in values or [] for v in item.split(",") if v.strip())


@clean_errors
def generate(
    env: EnvOption = "dev",
    rows: Annotated[int, typer.Option(min=1, help="Authorization rows in total, spread evenly over the dates.")] = 10_000,
    dates: Annotated[str, typer.Option(help="Partition dates: YYYY-MM-DD or FROM..TO (inclusive).")] = "2024-01-01",
    format: Annotated[str, typer.Option("--format", help="parquet (the lake tables), ndjson (the feed files) or both.")] = "parquet",
    seed: Annotated[int, typer.Option(min=0, help="Same seed and options, same bytes.")] = 0,
    tables: Annotated[list[str] | None, typer.Option(help=TABLES_HELP)] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help=OUTPUT_HELP)] = None,
    only_dates: Annotated[list[str] | None, typer.Option(help="Regenerate just these dates of the request (same bytes).")] = None,
    job_index: Annotated[int, typer.Option(min=0, help="This job's sequence slot; a retry with the same index reuses its range.")] = 0,
    spec: Annotated[str | None, typer.Option(help="Generator spec YAML (default: paybatch/generate/payments.yaml).")] = None,
    quality: Annotated[bool, typer.Option("--quality/--no-quality", help="Run the quality suite; write Data Docs and the profile.")] = True,
    reports_dir: Annotated[str | None, typer.Option(help=REPORTS_HELP)] = None,
    ndjson_file_mb: Annotated[float | None, typer.Option(
        min=0.001, help="Feed file size (default: the environment's expected file size).")] = None,
    records_per_file: Annotated[int | None, typer.Option(
        min=1, help="Exactly this many records per feed file (instead of a size).")] = None,
    slices: Annotated[int | None, typer.Option(
        min=1, help="Spark partitions to spread the tasks over (output does not depend on it).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Generate synthetic payments: authorization, clearing, chargeback, their _hash tables and the PAN dimension."""
    from paybatch.generate.job import generate as run_generation

    settings = settings_for(env)
    from paybatch.generate.plan import GenerationRequest, parse_dates  # numpy, pyarrow, boto3: off the CLI's start

    request = GenerationRequest(
        rows=rows, dates=tuple(parse_dates(dates)), seed=seed, format=format,
        tables=_split(tables) or (*TABLES, PAN_DIMENSION), only_dates=_split(only_dates), job_index=job_index,
        output=output, spec_path=spec, quality=quality, reports_dir=reports_dir, ndjson_file_mb=ndjson_file_mb,
        ndjson_rows_per_file=records_per_file,
    )
    with Progress(TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TextColumn("tasks"), TimeElapsedColumn(),
                  console=console, transient=True, disable=as_json) as progress:
        bar = progress.add_task("generate", total=None)
        result = run_generation(settings, request, slices=slices,
                                on_progress=lambda done, total: progress.update(bar, completed=done, total=total))
    if as_json:
        print_json(result.to_dict())
        return
    table = Table(title=f"generated {result.dates[0]}{'..' + result.dates[-1] if len(result.dates) > 1 else ''} "
                        f"(seed {result.seed}) in {result.duration_seconds:.1f} s")
    for column in ("table", "rows", "files", "MiB"):
        table.add_column(column, justify="right" if column != "table" else "left")
    for name, totals in result.table_totals().items():
        table.add_row(name, f"{totals['rows']:,}", str(totals["files"]), f"{totals['bytes'] / 2**20:,.1f}")
    console.print(table)
    if result.pan_hash_key != settings.generator.pan_hash_key:  # a local folder with no environment running
        console.print(f"[yellow]note:[/] environment {env!r} is not running, so PANs were hashed with the labelled local key "
                      f"(not a secret; the one `paybatch local up` seeds, so hashes match a local environment's)")
    roles = sorted({f["role"] for f in result.files})
    for role in roles:
        first = next(f for f in result.files if f["role"] == role)
        console.print(f"  {role:<19} {first['uri'].removesuffix(first['key'])}")
    if result.quality:
        console.print(f"quality: [green]passed[/] {sum(s['expectations'] for s in result.quality['suites'].values())} expectations "
                      f"on {', '.join(result.quality['dates_checked'])}")
        console.print(f"  data docs  {result.quality['data_docs']}\n  profile    {result.quality['profile']}")
        for suite, why in result.quality.get("suites_skipped", {}).items():
            console.print(f"  [dim]not checked: {suite} ({why})[/]")
