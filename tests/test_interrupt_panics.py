"""A Ctrl-C or SIGTERM that reaches Python inside a polars callback comes back as a polars PanicException (a
BaseException): trialkit treats it as the interruption it is, never as a traceback."""

from __future__ import annotations

import pytest
import typer

from trialkit.cli import common


class PanicException(BaseException):  # what pyo3 raises, by name
    pass


def _run(exc: BaseException) -> int:
    @common.handles_errors
    def command() -> None:
        raise exc

    with pytest.raises(typer.Exit) as ended:
        command()
    return ended.value.exit_code


def test_a_panic_after_sigterm_exits_143_as_an_interruption(monkeypatch, capsys):
    monkeypatch.setattr(common, "SIGNALLED", ["TERM"])
    assert _run(PanicException("Python exception in a callback")) == 143
    assert "interrupted; the workspace was left as it was" in capsys.readouterr().err


def test_a_panic_carrying_keyboardinterrupt_exits_130(monkeypatch):
    monkeypatch.setattr(common, "SIGNALLED", [None])
    assert _run(PanicException("KeyboardInterrupt")) == 130


def test_any_other_polars_panic_is_a_one_line_bug_report(monkeypatch, capsys):
    monkeypatch.setattr(common, "SIGNALLED", [None])
    assert _run(PanicException("index out of bounds")) == 1
    err = capsys.readouterr().err
    assert "unexpected PanicException: index out of bounds" in err and "Traceback" not in err


def test_a_sigterm_after_the_command_ended_kills_quietly_instead_of_raising(monkeypatch):
    import signal
    import sys

    from trialkit.cli.app import main

    monkeypatch.setattr(sys, "argv", ["trialkit", "--help"])
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit):
            main()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)
