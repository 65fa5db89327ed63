"""`paybatch convert`: convert files now, without the pipeline (same converter, same output contract)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from paybatch.cli.common import clean_errors, console, print_json
from paybatch.config import FileValidationConfig
from paybatch.contracts.tracking import utcnow
from paybatch.datasets import load_schema
from paybatch.errors import PaybatchError

Engine = Literal["auto", "arrow", "spark"]


def _files_of(path: str) -> list[str]:
    """A file as given; a folder as the convertible files under it (hidden ones left out), in name order."""
    if path.startswith("s3://") or Path(path).is_file():
        return [path]
    folder = Path(path)
    if not folder.is_dir():
        raise PaybatchError(f"no such file: {path}")
    allowed = tuple(FileValidationConfig.model_fields["allowed_extensions"].default)
    files = sorted(str(f) for f in folder.rglob("*") if f.is_file() and f.name.endswith(allowed)
                   and not any(part.startswith(".") for part in f.relative_to(folder).parts))
    if not files:
        raise PaybatchError(f"no files to convert in {path} (looked for {', '.join(allowed)})")
    return files


def _check_output(output: str) -> None:
    """A local output must be a folder this user can create or write: refused before anything is converted."""
    if output.startswith("s3://"):
        return
    target = Path(output)
    if target.exists() and not target.is_dir():
        raise PaybatchError(f"--output {output} is a file, not a folder")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PaybatchError(f"--output {output}: cannot create the folder ({exc.strerror})") from None


@clean_errors
def convert(
    paths: Annotated[list[str], typer.Argument(
        help="NDJSON (.ndjson, .jsonl, .json, .gz) or Parquet files — local paths or s3:// URIs — or local folders of them.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Local folder or s3:// prefix for parquet/ and rejects/.")],
    dataset: Annotated[str, typer.Option(help="Dataset schema (paybatch/schemas/<name>.yaml).")] = "authorization",
    engine: Annotated[str, typer.Option(help="auto (arrow for one file, spark for several), arrow or spark.")] = "auto",
    batch_id: Annotated[str | None, typer.Option(help="Batch id of the output (default: a new one).")] = None,
    target_file_mb: Annotated[float, typer.Option(min=1, help="Roll output files at about this size.")] = 256,
    as_json: Annotated[bool, typer.Option("--json", help="Print the per-file results as JSON.")] = False,
) -> None:
    """Convert files to Hive-partitioned Parquet (dt=…/batch_id=…) with a rejects dataset, now."""
    if engine not in ("auto", "arrow", "spark"):
        raise PaybatchError(f"unknown engine {engine!r}; one of auto, arrow, spark")
    schema = load_schema(dataset)
    paths = [file for path in paths for file in _files_of(path)]
    _check_output(output)
    batch = batch_id or f"adhoc-{utcnow():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    started = utcnow()
    date = started.strftime("%Y-%m-%d")
    sources = [p if p.startswith("s3://") else str(Path(p).resolve()) for p in paths]

    from paybatch.convert.files import convert_file  # pyarrow: off the CLI's start

    def work(task: tuple[int, str]) -> dict[str, Any]:
        return convert_file(task[1], output, schema, batch, task[0], started, date, target_mb=target_file_mb).to_dict()

    tasks = list(enumerate(sources))
    if engine == "spark" or (engine == "auto" and len(tasks) > 1):
        from paybatch.convert.manifest_run import spark_runner
        from paybatch.spark import get_spark

        results = spark_runner(get_spark("paybatch-convert"))(tasks, work)
    else:
        results = [work(t) for t in tasks]
    if as_json:
        print_json(results)
    else:
        table = Table(title=f"batch {batch} → {output}")
        for column in ("file", "lines", "rows", "rejected", "partitions", "error"):
            table.add_column(column)
        for r in results:
            table.add_row(str(r["source"]), str(r["lines_read"]), str(r["rows_written"]), str(r["rows_rejected"]),
                          ", ".join(r["partitions"]), str(r["error"] or ""))
        console.print(table)
    if any(r["error"] for r in results):
        raise typer.Exit(1)
