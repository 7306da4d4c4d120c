"""What every command shares: the workspace option, output formats, error handling.

Nothing here imports polars or a statistics library: ``trialkit --help``
must stay instant.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from enum import Enum
from typing import Annotated, Any, Callable, Optional

import typer

__all__ = [
    "WorkspaceOpt",
    "PopulationOpt",
    "SubgroupOpt",
    "NameOpt",
    "Format",
    "FormatOpt",
    "TableOrJson",
    "TableOrJsonOpt",
    "workspace_from",
    "handles_errors",
    "stdout",
    "stderr",
    "emit_json",
    "emit_csv",
    "csv_text",
    "csv_safe",
    "is_terminal",
    "printable",
    "safe",
    "rendered",
]

WorkspaceOpt = Annotated[
    Optional[str],
    typer.Option(
        "--workspace",
        "-w",
        metavar="DIR",
        help="Workspace folder (default: $TRIALKIT_WORKSPACE, else ./trialkit-work). Also accepted before the command.",
        show_default=False,
    ),
]


PopulationOpt = Annotated[
    Optional[str],
    typer.Option("--population", metavar="FLAG",
                 help="ADSL Y/N flag of the analysis population (ITTFL, SAFFL, EFFFL, ...; ALL for every subject). "
                      "Default: SAFFL for safety, ITTFL for survival and biomarkers, when ADSL has it.",
                 show_default=False),
]
SubgroupOpt = Annotated[
    Optional[list[str]],
    typer.Option("--subgroup", metavar="VAR=VALUE",
                 help="Analyse only the ADSL subjects with VAR = VALUE (SEX=F, AGEGR1=>80); repeat to combine with 'and'.",
                 show_default=False),
]
NameOpt = Annotated[
    Optional[str],
    typer.Option("--name", metavar="NAME",
                 help="Name of this analysis (default: the stage's name for its primary analysis, else one made from "
                      "the options that differ, e.g. survival-arm-high). Results go to analyses/NAME/.",
                 show_default=False),
]


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


FormatOpt = Annotated[
    Format,
    typer.Option("--format", "-f", help="table: rich tables for people; json / csv: results on stdout for pipelines."),
]


class TableOrJson(str, Enum):
    table = "table"
    json = "json"


#: For commands whose output is one nested document, which has no CSV form.
TableOrJsonOpt = Annotated[
    TableOrJson,
    typer.Option("--format", "-f", help="table: rich tables for people; json: the document on stdout for pipelines."),
]


def workspace_from(ctx: typer.Context, option: str | None):
    """The per-command --workspace, else the global one, else env/default."""
    from .workspace import resolve_workspace

    root = (ctx.find_root().obj or {}) if ctx is not None else {}
    return resolve_workspace(option or root.get("workspace"))


def is_terminal(stream=None) -> bool:
    stream = stream or sys.stderr
    return hasattr(stream, "isatty") and stream.isatty()


@functools.lru_cache(maxsize=None)
def _console(err: bool):
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            """The reader of a pipe went away (| head): quiet, and exit as a shell command killed by SIGPIPE
            (141), not with rich's exit code 1, which reads as a data problem."""
            self.quiet = True
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except OSError:
                pass
            raise typer.Exit(141)

    return _Console(stderr=err, highlight=False, soft_wrap=not is_terminal(sys.stderr if err else sys.stdout))


def stdout():
    return _console(False)


def stderr():
    return _console(True)


def emit_json(obj: Any) -> None:
    from .workspace import dumps

    sys.stdout.write(dumps(obj))


def printable(text: Any) -> str:
    """Text from the data as the terminal may show it: no ANSI escape sequences, no control characters but tab
    and newline (``analyses.formatting.printable``). For ``Text`` objects and plain writes."""
    from trialkit.analyses.formatting import printable as _printable

    return _printable(text)


def safe(text: Any) -> str:
    """Text from the data inside a rich markup string: printable, and with its ``[...]`` shown literally.

    Every value that comes from data, options, paths or messages goes through this in a ``console.print``
    f-string (``f"[dim]Note:[/] {safe(note)}"``), so a label like ``[/]\\x1b[31mRED`` prints as ``[/]RED``.
    """
    from rich.markup import escape

    return escape(printable(text))


def _fail(message: str, hint: str | None, code: int) -> None:
    console = stderr()
    console.print(f"[bold red]Error:[/] {safe(message)}")
    if hint:
        console.print(f"[dim]Hint:[/] {safe(hint)}")
    raise typer.Exit(code)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is so that the running stage rolls back like on Ctrl-C."""


#: the interrupting signal received, if any ("TERM"): a polars panic that follows it is that interruption
SIGNALLED: list[str | None] = [None]


def _on_sigterm(signum, frame) -> None:
    SIGNALLED[0] = "TERM"
    raise Terminated()


def _interrupted_panic(exc: BaseException) -> int | None:
    """The exit code when ``exc`` is a polars panic caused by Ctrl-C or SIGTERM reaching Python inside one of
    polars' callbacks (pyo3 turns the exception into a PanicException, a BaseException); None otherwise."""
    if type(exc).__name__ != "PanicException":
        return None
    if SIGNALLED[0] == "TERM" or "Terminated" in str(exc):
        return 143
    return 130 if "KeyboardInterrupt" in str(exc) else None


def install_signal_handlers() -> None:
    """SIGTERM interrupts like Ctrl-C (the stage rolls back) instead of killing the process outright."""
    import signal

    signal.signal(signal.SIGTERM, _on_sigterm)


def handles_errors(func: Callable) -> Callable:
    """Turn trialkit's errors (and anything unexpected) into one line and an exit code.

    Errors of the file system that no reader mapped are I/O errors (exit 2) naming the path; "unexpected ...
    trialkit bug" is left for real bugs.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from trialkit.schemas.errors import TrialkitError

        from . import transaction

        commits = transaction.COMMITS[0]
        try:
            return func(*args, **kwargs)
        except TrialkitError as exc:
            _fail(exc.message, exc.hint, exc.exit_code)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except KeyboardInterrupt as exc:
            code = 143 if isinstance(exc, Terminated) else 130
            if transaction.COMMITS[0] != commits:
                _fail("interrupted after its outputs were committed; the workspace holds them", None, code)
            _fail("interrupted; the workspace was left as it was", None, code)
        except BrokenPipeError:  # the reader of a pipe went away (| head): nothing left to say
            try:
                sys.stdout = open(os.devnull, "w")
            except OSError:
                pass
            raise typer.Exit(141)
        except OSError as exc:
            where = exc.filename if exc.filename is not None else "a file"
            _fail(f"cannot use {where} ({exc.strerror or exc})",
                  "check the path, that it is the kind of file expected (not a folder), and its permissions", 2)
        except BaseException as exc:  # a bug (Exception, or a polars panic): still no traceback for the user
            code = _interrupted_panic(exc)
            if code is not None:  # an interruption that surfaced through polars: roll back like any other
                if transaction.COMMITS[0] != commits:
                    _fail("interrupted after its outputs were committed; the workspace holds them", None, code)
                _fail("interrupted; the workspace was left as it was", None, code)
            if os.environ.get("TRIALKIT_DEBUG") or not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            _fail(
                f"unexpected {type(exc).__name__}: {first}",
                "this is a trialkit bug; re-run with TRIALKIT_DEBUG=1 for the traceback and report it",
                1,
            )

    return wrapper


class Rendered:
    """A command's output, rendered while its stage runs and printed once the stage has committed."""

    def __init__(self) -> None:
        self.out = ""
        self.err = ""

    def emit(self) -> None:
        for stream, text in ((sys.stdout, self.out), (sys.stderr, self.err)):
            if text:
                stream.write(text)
                stream.flush()


@contextlib.contextmanager
def rendered():
    """Render output inside a stage, before its commit: a label that cannot be printed fails the stage, which
    then leaves the workspace as it was, instead of failing after the outputs were committed."""
    import io

    result = Rendered()
    raw = io.StringIO()
    with stdout().capture() as out, stderr().capture() as err, contextlib.redirect_stdout(raw):
        yield result
    result.out = raw.getvalue() + out.get()
    result.err = err.get()


#: a text cell a spreadsheet would run as a formula (OWASP, CSV injection): = + - @ tab or carriage return first
_FORMULA_START = r"^[=+\-@\t\r]"
#: text that is a plain number ("-1.5", "+2", "3e-4"): a spreadsheet reads it as that number, so it is left alone
_PLAIN_NUMBER = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"


def csv_safe(df):
    """``df`` with its text cells safe to open in a spreadsheet; numeric, date and boolean columns untouched.

    In every text (String, Categorical, Enum) column: ANSI escape sequences and control characters other than tab
    and newline are removed; then a cell that begins with ``=``, ``+``, ``-``, ``@`` or a tab, and is not a plain
    number, gets a leading ``'`` (OWASP's advice against CSV injection), so ``=HYPERLINK(...)`` reads as text
    and ``-1.5`` stays -1.5.
    """
    import polars as pl

    from trialkit.analyses.formatting import CONTROL_PATTERN, ESCAPE_PATTERN

    def cell(name: str) -> pl.Expr:
        text = pl.col(name).cast(pl.String).str.replace_all(ESCAPE_PATTERN, "").str.replace_all(CONTROL_PATTERN, "")
        formula = text.str.contains(_FORMULA_START) & ~text.str.contains(_PLAIN_NUMBER)
        return pl.when(formula).then(pl.lit("'") + text).otherwise(text).alias(name)

    texts = [c for c, t in df.schema.items() if t in (pl.String, pl.Categorical) or isinstance(t, pl.Enum)]
    return df.with_columns(cell(c) for c in texts) if texts else df


def csv_text(df) -> str:
    """One frame as CSV text, its text cells made safe by ``csv_safe``."""
    return csv_safe(df).write_csv()


def emit_csv(tables: dict[str, Any]) -> None:
    """Several result tables as one long CSV on stdout, the first column naming the table (cells: ``csv_safe``)."""
    import polars as pl

    frames = [csv_safe(df).select(pl.lit(name).alias("table"), pl.all().cast(pl.String))
              for name, df in tables.items() if df is not None]
    if frames:
        sys.stdout.write(pl.concat(frames, how="diagonal").write_csv())
