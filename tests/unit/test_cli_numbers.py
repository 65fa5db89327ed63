"""Every number a command takes is checked where it is read: a negative (or zero where nothing can be zero) value
is refused by name with exit 2, before anything runs — never a traceback, never a loop that waits forever.

The options are found by walking the CLI, so an option added later is held to the same rule.
"""

from __future__ import annotations

import typing
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from paybatch.cli.app import app

# Checked in the command instead, with a message of its own (tested where named).
CHECKED_IN_THE_COMMAND = {"screen run --threshold": "tests/integration/test_screening_errors.py"}


def numeric_options() -> list[tuple[list[str], Any]]:
    found = []

    def walk(command: Any, path: list[str]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
            return
        for param in command.params:
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is None or not param.opts or not param.opts[0].startswith("--"):
                continue
            if {int, float} & ({descriptor.annotation} | set(typing.get_args(descriptor.annotation))):
                found.append((path, param))

    walk(typer.main.get_command(app), [])
    return found


OPTIONS = numeric_options()


def test_every_numeric_option_has_a_lower_bound() -> None:
    unbounded = [f"{' '.join(path)} {param.opts[0]}" for path, param in OPTIONS
                 if param.min is None and f"{' '.join(path)} {param.opts[0]}" not in CHECKED_IN_THE_COMMAND]
    assert len(OPTIONS) > 40 and unbounded == []


@pytest.mark.parametrize(("path", "param"), [o for o in OPTIONS if o[1].min is not None],
                         ids=[f"{' '.join(p)} {o.opts[0]}" for p, o in OPTIONS if o.min is not None])
def test_a_negative_number_is_refused_by_name(path: list[str], param: Any) -> None:
    result = CliRunner().invoke(app, [*path, param.opts[0], "-5"])  # first: checked before anything else is read
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{param.opts[0]}'" in result.output and "Traceback" not in result.output
