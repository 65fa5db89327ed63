"""How bulk plans and runs look in a terminal: the estimate table, the progress bar, a run and its result."""

from __future__ import annotations

import json
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from paybatch.cli.common import console, print_json


def duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"


def print_estimate(estimate: Any, title: str) -> None:
    table = Table(title=title, show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [("chunks", f"{estimate.chunks:,}"), ("concurrency", f"{estimate.concurrency} at once"),
            ("Glue per chunk", f"{estimate.dpus_per_run:g} DPUs, about {duration(estimate.seconds_per_chunk)}"),
            ("DPU-hours", f"{estimate.dpu_hours:,.1f}"), ("cost", f"${estimate.cost_usd:,.2f}"),
            ("wall time", duration(estimate.wall_seconds))]
    if estimate.rows:
        rows.insert(1, ("rows", f"{estimate.rows:,}"))
    rows.insert(2 if estimate.rows else 1, ("size", f"{estimate.bytes / 1e12:,.3f} TB" if estimate.bytes >= 1e11
                                            else f"{estimate.bytes / 2**20:,.1f} MiB"))
    for what, value in rows:
        table.add_row(what, value)
    console.print(table)
    measured = ", ".join(f"{name} {_value(r['value'])} ({r['measured']})" for name, r in estimate.rates.items())
    console.print(f"[dim]from measured rates (paybatch/pricing/rates.json, `make bench`): {measured}[/]")


def follow(control: Any, run_id: str, as_json: bool) -> dict[str, Any]:
    """A progress bar of chunks done until the execution ends."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("chunks"),
                  TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=console, transient=False,
                  disable=as_json) as progress:
        bar = progress.add_task(run_id, total=None, detail="")

        def show(status: dict[str, Any]) -> None:
            counts = status["counts"]
            done = counts.get("succeeded", 0) + counts.get("failed", 0) + counts.get("cancelled", 0)
            detail = " · ".join(f"{n} {k}" for k, n in sorted(counts.items()) if n)
            progress.update(bar, completed=done, total=len(status["chunks"]), detail=detail)

        return dict(control.wait(run_id, show))


def print_run(status: dict[str, Any], result: dict[str, Any] | None, as_json: bool) -> None:
    run = status["run"]
    if as_json:
        print_json({"run": {k: v for k, v in run.items() if k != "request"}, "request": json.loads(run.get("request", "{}")),
                    "counts": status["counts"], "execution": (status["execution"] or {}).get("status"), "result": result})
        return
    colour = {"succeeded": "green", "partial": "yellow", "failed": "red", "cancelled": "red"}.get(run["status"], "cyan")
    console.print(f"bulk run [bold]{run['run_id']}[/] ({run['kind']}): [{colour}]{run['status']}[/] · "
                  + " · ".join(f"{n} {k}" for k, n in sorted(status["counts"].items())))
    if run.get("error"):
        console.print(f"  [red]{run['error']}[/]")
    if result:
        console.print(f"  rows {result['rows']:,} · {result['bytes'] / 2**20:,.1f} MiB · {result['files']:,} files · "
                      f"{result['dpu_hours']:.3f} DPU-hours (${result['cost_usd']:.2f} at Glue's price) · "
                      f"{result['duration_seconds']:.0f} s")
        for failed in result["failed_chunks"][:20]:
            console.print(f"  [red]chunk {failed['chunk_id']}[/] {failed['status']} after {failed['attempts']} attempt(s): "
                          f"{failed['error']}")
        console.print(f"  result: {result['result_uri']}")
    if run["status"] in ("partial", "failed", "cancelled"):
        console.print(f"  continue it: paybatch bulk resume {run['run_id']} --env {run['env']}")


def _value(value: float | dict[str, float]) -> str:
    """A rate, or a rate measured at several points (``{x: y}``) as x → y pairs."""
    if isinstance(value, dict):
        return "[" + ", ".join(f"{_value(float(x))} → {_value(y)}" for x, y in value.items()) + "]"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,g}"
