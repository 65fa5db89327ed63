"""The CLI tells a user's error (one line, exit 2) from an internal failure (its traceback and a summary, exit 1)."""

from __future__ import annotations

import pytest
import typer

from paybatch.builder.errors import DateBusy, FileBusy
from paybatch.cli.common import clean_errors
from paybatch.dynamo import WriteFailed
from paybatch.errors import InternalFailure, PaybatchError
from paybatch.iceberg.commit import CommitFailed
from paybatch.transitions import IllegalTransition


def raising(exc: Exception) -> typer.Exit:
    @clean_errors
    def command() -> None:
        raise exc

    with pytest.raises(typer.Exit) as exited:
        command()
    return exited.value


def test_a_users_error_is_one_line_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert raising(PaybatchError("--rows must be at least 1")).exit_code == 2
    err = capsys.readouterr().err
    assert "--rows must be at least 1" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("exc", [IllegalTransition("pending → completed is not a move"), WriteFailed("throttled 8 times"),
                                 CommitFailed("did not land"), FileBusy("in a run")])
def test_an_internal_failure_keeps_its_traceback(exc: Exception, capsys: pytest.CaptureFixture[str]) -> None:
    assert raising(exc).exit_code == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and f"internal failure: {type(exc).__name__}: {exc}" in err


def test_the_kinds_do_not_mix() -> None:
    assert not issubclass(InternalFailure, PaybatchError) and not issubclass(PaybatchError, InternalFailure)
    assert issubclass(DateBusy, PaybatchError)  # "another builder holds it — try again": the user can act

