"""The README's commands, as a new user types them: every command and option exists, and the examples run.

Like chispa's README test: the examples are read out of README.md, not copied here, so a README that
drifts from the code fails this test. A concrete example (no placeholder) is either run as written or
listed in NOT_RUN with the reason and the test that covers it instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import typer.main
from typer.testing import CliRunner

from paybatch.aws import AwsClients
from paybatch.cli.app import app
from tests.conftest import free_port
from tests.readme_commands import ReadmeCommand, readme_commands

COMMANDS = readme_commands()

# Concrete examples this test does not run, and why (each is run elsewhere).
NOT_RUN = {
    "make demo": "CI's own end-to-end run (.ci/run)",
    "make test": "this very run",
    "paybatch local up --env dev": "would start services on the session's shared endpoint: tests/integration/test_local_cli.py",
    "paybatch local down --env dev": "would stop the session's shared endpoint: tests/integration/test_local_cli.py",
    "paybatch wait --env dev --timeout 300": "needs the poller and Glue runs: make demo, tests/integration/test_pipeline_cli.py",
    'paybatch query --env dev "select count(*) from authorization"': "needs a converted table: tests/integration/test_iceberg_output.py",
    "paybatch maintain --env dev": "needs converted tables: tests/integration/test_iceberg_output.py",
    "paybatch diagnose --env dev": "exits 1 on purpose while anything needs a look: tests/integration/test_operations.py",
    "paybatch glue-errors --env prod": "needs the local prod environment: tests/integration/test_operations.py",
    "paybatch scale-test --env dev --phases 10,100": "110 files through the pipeline: tests/integration/test_operations.py",
}
# Only the size of the first example is scaled down (1,000,000 rows are a minute of this test's budget).
SCALED = {"--rows 1000000": "--rows 7000"}


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


def test_every_concrete_example_is_run_or_says_why_not() -> None:
    concrete = {c.text for c in COMMANDS if not c.is_synopsis}
    assert set(NOT_RUN) <= concrete, f"NOT_RUN names examples the README no longer has: {set(NOT_RUN) - concrete}"
    assert {c.text for c in _runnable()} | set(NOT_RUN) == concrete


def _runnable() -> list[ReadmeCommand]:
    return [c for c in COMMANDS if c.is_paybatch and not c.is_synopsis and c.text not in NOT_RUN]


def _run(command: ReadmeCommand, env: dict[str, str] | None = None) -> str:
    args = command.text
    for old, new in SCALED.items():
        args = args.replace(old, new)
    argv = ReadmeCommand(args, None).argv[1:]
    result = CliRunner().invoke(app, argv, env={**command.env_assignments, **(env or {})}, catch_exceptions=False)
    expected = 2 if command.output and command.output.startswith("error:") else 0
    assert result.exit_code == expected, f"`{command.text}` exited {result.exit_code}:\n{result.output}"
    return result.output


@pytest.mark.integration
@pytest.mark.slow
def test_readme_examples_run_as_written(clients: AwsClients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # `./payments` lands here, as in a new user's folder
    ran = []
    for command in _runnable():
        if "--output ./payments" in command.text:
            # generating into a folder works with no environment running: nothing listens on this port
            output = _run(command, {"PAYBATCH_LOCAL_PORT": str(free_port())})
            assert "labelled local key" in output
            lake = sorted((tmp_path / "payments" / "lake").rglob("*.parquet"))
            assert {p.relative_to(tmp_path / "payments" / "lake").parts[0] for p in lake} >= {"authorization", "clearing"}
            assert sum(pq.read_metadata(p).num_rows for p in lake if "/authorization/" in str(p)) == 10_000
            assert list((tmp_path / "payments" / "input").rglob("*.ndjson")), "--format both writes the feed files too"
        elif command.output is not None:  # from the repository's root, as the README's console shows
            monkeypatch.chdir(Path(__file__).resolve().parents[2])
            output = _run(command)
            monkeypatch.chdir(tmp_path)
        else:
            output = _run(command)
        if command.output is not None:  # a console block shows the output: it must be what the command prints
            assert [line.rstrip() for line in output.strip().splitlines()] == command.output.splitlines()
        if "--json" in command.argv:
            json.loads(output)
        ran.append(command.text)
    assert len(ran) >= 7, ran  # a parser that stopped finding examples must not pass quietly
    assert os.environ.get("PAYBATCH_LOCAL_PORT")  # the session endpoint is untouched


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
