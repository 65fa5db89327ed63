"""The README's commands, as a new user types them: every command and option exists, and the parser reads them.

Like chispa's README test: the examples are read out of README.md, not copied here, so a README that drifts from
the code fails this test. The concrete examples (no placeholder) run in `make test-readme`, in the order written,
after `make demo` (tests/readme/test_readme_in_order.py).
"""

from __future__ import annotations

from typing import Any

import pytest
import typer.main

from paybatch.cli.app import app
from tests.readme_commands import ReadmeCommand, readme_commands

COMMANDS = readme_commands()

def _cli_command(words: list[str]) -> Any:
    """The click command the leading words name: subcommand names are taken while the command has any."""
    command: Any = typer.main.get_command(app)
    for name in words:
        if not hasattr(command, "commands"):
            break
        assert name in command.commands, f"README names `paybatch ... {name}`, which is no subcommand of {command.name}"
        command = command.commands[name]
    assert not hasattr(command, "commands"), f"README's `paybatch {' '.join(words)}` stops at a group"
    return command


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.is_paybatch], ids=lambda c: c.text[:60])
def test_every_readme_command_and_option_exists(command: ReadmeCommand) -> None:
    for path in command.command_paths():
        cli = _cli_command(path)
        names = {opt for param in cli.params for opt in (*param.opts, *param.secondary_opts)}
        unknown = [o for o in command.options() if o not in names]
        assert not unknown, f"`{command.text}`: paybatch {' '.join(path)} has no option {unknown}"


def test_the_readme_parser_reads_what_a_user_sees() -> None:
    text = "```bash\npaybatch files --env dev [--json]   # all\npaybatch generate --rows N\n    [--seed S]\n```\n" \
           "```console\n$ X=1 paybatch config show --env dev\nerror: bad\n```\n"
    files, generate, config = readme_commands(text)
    assert files.text == "paybatch files --env dev [--json]" and files.is_synopsis
    assert generate.options() == ["--rows", "--seed"] and generate.is_synopsis
    assert config.env_assignments == {"X": "1"} and config.argv[:2] == ["paybatch", "config"] and not config.is_synopsis
    assert config.output == "error: bad"
    assert ReadmeCommand("paybatch queues|logs|upload --env dev", None).command_paths() == [["queues"], ["logs"], ["upload"]]


def test_every_concrete_example_runs_after_the_demo_or_says_why_not() -> None:
    """`make test-readme` runs every concrete example in order after `make demo` (tests/readme/); what it leaves
    out is named there with its reason."""
    from tests.readme.test_readme_in_order import NOT_RUN

    concrete = {c.text for c in COMMANDS if not c.is_synopsis}
    assert set(NOT_RUN) <= concrete, f"NOT_RUN names examples the README no longer has: {set(NOT_RUN) - concrete}"
    assert len(concrete - set(NOT_RUN)) >= 15


def test_the_readme_generate_examples_do_not_collide_with_the_demo() -> None:
    """A new user runs `make demo`, then the README: generating dates the demo already generated at another row count
    is refused (sequence ranges are kept per date), so the README's `generate --env` examples ask for other dates."""
    import re

    from paybatch.generate.plan import parse_dates
    from paybatch.paths import PROJECT_ROOT

    def dates_of(text: str) -> set[str]:
        return {str(d) for spec in re.findall(r"generate --env \S+ .*?--dates (\S+)", text) for d in parse_dates(spec)}

    demo = dates_of((PROJECT_ROOT / "scripts" / "demo.sh").read_text())
    readme = dates_of("\n".join(c.text for c in COMMANDS if c.is_paybatch and not c.is_synopsis))
    assert demo and readme and not demo & readme, sorted(demo & readme)
