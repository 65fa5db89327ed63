"""`paybatch scale-test`: growing phases through an environment's pipeline, or a simulated production day."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from paybatch.cli.common import EnvOption, JsonOption, clean_errors, console, kv_table, print_json, settings_for
from paybatch.errors import PaybatchError
from paybatch.paths import state_dir


class ProductionDay(StrEnum):
    """The days `scale-test --day` can simulate (prod's: its configuration and 338,000 files)."""

    prod = "prod"


@clean_errors
def scale_test(
    env: EnvOption = "dev",
    phases: Annotated[str, typer.Option(help="File counts per phase, comma-separated.")] = "10,100,1000",
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for each phase.")] = 1800,
    keep_rows: Annotated[bool, typer.Option(
        "--keep-rows", help="Leave the phases' rows in the environment's tables (by default a phase's batches are "
                            "removed from them again when it ends).")] = False,
    as_json: JsonOption = False,
    day: Annotated[ProductionDay | None, typer.Option(
        "--day", help="Instead of phases: simulate a production day through the real builder on a private endpoint "
                      "(its own tables; --env and --phases do not apply) and write an HTML report.")] = None,
    files: Annotated[int | None, typer.Option(
        min=1, max=1_000_000, help="With --day: the window of the day around its peak holding this many files "
                                   "(default: the whole day, 338,000).")] = None,
    builders: Annotated[int, typer.Option(min=1, max=32, help="With --day: builder Lambdas at once.")] = 4,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="With --day: the HTML report (default: .paybatch/prod/reports/prod-day.html).")] = None,
) -> None:
    """Generate, upload, wait and verify in phases of growing size; stop at the first failed phase.

    With --day prod: a production day's file events through the real builder code, conversion standing in at
    the measured rate, reported as HTML with charts."""
    if day is not None:
        _production_day(files, builders, output, as_json)
        return
    from paybatch.aws import AwsClients
    from paybatch.ops.scale_test import parse_phases, run_scale_test

    clients = AwsClients(settings_for(env))
    counts = parse_phases(phases)
    settings = clients.settings
    if settings.target == "local":
        from paybatch.local.stack import LocalStack

        if not LocalStack(settings).services.pid():
            raise PaybatchError(f"the local pipeline services of {env!r} are not running: start them with `paybatch local up --env {env}`")
    results = run_scale_test(clients, counts, timeout=timeout, keep_rows=keep_rows,
                             on_phase=None if as_json else lambda r: console.print(
                                 f"phase {r.files} files: {'[green]PASS[/]' if r.passed else '[red]FAIL[/]'} in {r.seconds} s"
                                 + (", its rows removed from the tables again" if r.rows_removed else "")))
    if as_json:
        print_json(results)
    else:
        table = Table(title=f"scale test of {env}")
        for column in ("files", "date", "result", "completed", "rows written", "rejected", "seconds", "files/min", "MB/s",
                       "projected $/day"):
            table.add_column(column, justify="right")
        for r in results:
            table.add_row(str(r["files"]), r["date"], "PASS" if r["passed"] else "FAIL", str(r["completed"]), f"{r['rows_written']:,}",
                          str(r["rows_rejected"]), str(r["seconds"]), str(r["files_per_minute"]), str(r["mb_per_second"]),
                          f"{r['projected_cost_per_day']:,.2f}")
        console.print(table)
        for r in results:
            for problem in r["problems"]:
                console.print(f"[red]phase {r['files']}:[/] {problem}")
    if not all(r["passed"] for r in results) or len(results) < len(counts):
        raise typer.Exit(1)


def _production_day(files: int | None, builders: int, output: Path | None, as_json: bool) -> None:
    from paybatch.config import load_settings
    from paybatch.ops.prod_day import PROD_FILES_PER_DAY, simulate
    from paybatch.ops.prod_day_report import figures, render

    settings = load_settings("prod")
    path = output or state_dir("prod") / "reports" / "prod-day.html"
    if path.exists() and path.is_dir():
        raise PaybatchError(f"--output {path}: is a folder; name the HTML file to write")
    count = files or PROD_FILES_PER_DAY
    day = simulate(settings, count, workers=builders, progress=None if as_json else lambda line: console.print(line))
    result = figures(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result))
    result["report"] = str(path)
    if as_json:
        print_json(result)
    else:
        console.print(kv_table(f"a production day, simulated ({count:,} files)", {
            "statuses": result["statuses"], "manifests": result["manifests"],
            "every file terminal once": "yes" if result["every_file_terminal_once"] else "NO: " + "; ".join(result["problems"]),
            "DynamoDB write requests per file": f"{result['dynamodb_write_requests_per_file']} (floor ≤ {result['write_floor']:g}: "
                                                f"{'met' if result['write_floor_met'] else 'NOT met'})",
            "… by caller": result["dynamodb_write_requests_per_file_by_role"],
            "date lock waits": f"{result['lock']['waited']:,} of {result['lock']['taken']:,} ({result['lock']['wait_seconds']} s)",
            "runs started / refused for a slot": f"{result['runs']['started']:,} / {result['runs']['refused_for_slots']:,}",
            "cost per file / per production day": f"${result['cost_per_file']:.6f} / ${result['cost_per_prod_day']:,.2f}",
            "report": str(path)}))
    if not result["every_file_terminal_once"]:
        raise typer.Exit(1)
