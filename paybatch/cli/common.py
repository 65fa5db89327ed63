"""What every command shares: the --env option, settings loading, JSON output, clean errors."""

from __future__ import annotations

import functools
import json
import sys
import traceback
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from botocore.exceptions import EndpointConnectionError, NoCredentialsError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from paybatch.config import Settings, load_settings
from paybatch.errors import InternalFailure, PaybatchError

# Piped output (scripts, CI logs) gets wide tables instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, soft_wrap=True)

EnvOption = Annotated[str, typer.Option("--env", "-e", help="Environment: a folder under environments/ (dev, prod).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]

F = TypeVar("F", bound=Callable[..., Any])


def settings_for(env: str) -> Settings:
    return load_settings(env)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str, sort_keys=False))


def clean_errors(func: F) -> F:
    """A user error: one clear message, exit 2, no traceback. An internal failure: its traceback and a summary, exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PaybatchError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True)
            raise typer.Exit(2) from None
        except InternalFailure as exc:  # not the user's doing: the traceback is what a fix needs
            traceback.print_exc()
            err_console.print(f"[bold red]internal failure:[/] {escape(type(exc).__name__)}: {escape(str(exc))} "
                              "(not caused by the input; the traceback above says where)", highlight=False, markup=True)
            raise typer.Exit(1) from None
        except (EndpointConnectionError, NoCredentialsError) as exc:
            hint = "is the local environment up? (paybatch local up)" if "127.0.0.1" in str(exc) else "check the AWS credentials and region"
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}; {hint}", highlight=False, markup=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def kv_table(title: str, rows: dict[str, Any]) -> Table:
    """Two columns, name and value, under a title."""
    table = Table(title=title, show_header=False)
    table.add_column("")
    table.add_column("", justify="right")
    for key, value in rows.items():
        table.add_row(str(key), str(value))
    return table
