"""`paybatch config show`: the resolved configuration of an environment."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from paybatch.cli.common import EnvOption, JsonOption, clean_errors, console, print_json, settings_for

app = typer.Typer(help="Inspect the typed configuration.", no_args_is_help=True)


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flatten(value, f"{name}.")
        else:
            rows.append((name, value))
    return rows


@app.command("show")
@clean_errors
def show(env: EnvOption = "dev", as_json: JsonOption = False) -> None:
    """Show every setting after environment-variable overrides, resource names included."""
    settings = settings_for(env)
    data = settings.summary()
    if as_json:
        print_json(data)
        return
    table = Table(title=f"paybatch configuration — {settings.env} (target: {settings.target})")
    table.add_column("setting", style="cyan")
    table.add_column("value")
    for name, value in _flatten(data):
        table.add_row(name, str(value))
    console.print(table)
