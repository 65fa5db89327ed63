"""The committed tables: peek at them, query them with SQL, keep them tidy (same calls on AWS and locally)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from paybatch.cli.common import EnvOption, JsonOption, clean_errors, console, print_json, settings_for
from paybatch.errors import PaybatchError


def register(app: typer.Typer) -> None:
    app.command("peek")(peek)
    app.command("query")(query)
    app.command("maintain")(maintain)


def _print_table(title: str, rows: list[dict[str, object]]) -> None:
    table = Table(title=title)
    for column in (rows[0] if rows else {}):
        table.add_column(str(column))
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


@clean_errors
def peek(
    env: EnvOption = "dev",
    kind: Annotated[str, typer.Option(help="parquet (the converted rows) or rejects.")] = "parquet",
    dataset: Annotated[str, typer.Option(help="The dataset whose table to read.")] = "authorization",
    limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 5,
) -> None:
    """Read a committed table (the dataset's rows, or its rejects): rows per date and batch, and a few rows."""
    import pyarrow.compute as pc
    from pyiceberg.exceptions import NoSuchTableError

    from paybatch.datasets import load_schema
    from paybatch.iceberg.catalog import load, rejects_table_name, rows_table_name

    if kind not in ("parquet", "rejects"):
        raise PaybatchError(f"unknown kind {kind!r}; one of parquet, rejects")
    settings = settings_for(env)
    schema = load_schema(dataset)
    name = rows_table_name(schema) if kind == "parquet" else rejects_table_name(schema)
    try:
        iceberg = load(settings, name)
    except NoSuchTableError:
        raise PaybatchError(f"no table {settings.catalog.database}.{name} yet: it is created by the first run that "
                            "commits (`paybatch status` shows the runs)") from None
    rows = iceberg.scan().to_arrow()
    day_of = schema.partition.source if kind == "parquet" else "_ingested_at"
    with_day = rows.append_column("dt", pc.cast(rows.column(day_of), "date32")) if rows.num_rows else rows
    snapshot = iceberg.current_snapshot()
    title = f"{settings.catalog.database}.{name} — {rows.num_rows} row(s), snapshot {snapshot.snapshot_id if snapshot else '-'}"
    counts = (with_day.group_by(["dt", "_batch_id"]).aggregate([([], "count_all")]).sort_by("dt").to_pylist()
              if rows.num_rows else [])
    _print_table(title, [{"dt": c["dt"], "batch_id": c["_batch_id"], "rows": c["count_all"]} for c in counts])
    columns = ["line_number", "reason", "source_file"] if kind == "rejects" else \
        ["sequence_number", "transaction_timestamp", "transaction_type", "amount", "currency", "_source_file"]
    sample = rows.select([c for c in columns if c in rows.column_names]).slice(0, limit)
    _print_table(f"first {sample.num_rows} row(s)", sample.to_pylist())


@clean_errors
def query(
    sql: Annotated[str, typer.Argument(help="SQL over the catalog's tables, e.g. \"select count(*) from authorization\".")],
    env: EnvOption = "dev",
    as_json: JsonOption = False,
    limit: Annotated[int, typer.Option(min=1, help="Rows to print at most.")] = 50,
) -> None:
    """Answer SQL now, over the committed tables of the environment's catalog (DuckDB over the Iceberg scans)."""
    from paybatch.iceberg.query import run_query

    result = run_query(settings_for(env), sql)
    rows = result.slice(0, limit).to_pylist()
    if as_json:
        print_json(rows)
        return
    _print_table(f"{result.num_rows} row(s)" + (f", first {limit}" if result.num_rows > limit else ""), rows)


@clean_errors
def maintain(env: EnvOption = "dev", as_json: JsonOption = False) -> None:
    """Housekeeping of the converted tables: expire old snapshots, compact small files, remove orphan files."""
    from paybatch.iceberg.maintenance import maintain as run

    reports = run(settings_for(env))
    if as_json:
        print_json(reports)
    else:
        _print_table(f"maintenance of {settings_for(env).catalog.database}", reports)
    if any(r["errors"] for r in reports):
        raise typer.Exit(1)
