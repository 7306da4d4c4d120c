"""The ``trialkit`` console script.

A command that draws figures in a second process (``figure_worker.COMMANDS``) has that process
started here, before the CLI itself is imported: it loads matplotlib while this process loads
typer, polars and the stage. Then the CLI runs as ``app.main``, and the process ends without the
interpreter's teardown (``_leave``).
"""

from __future__ import annotations

import sys


def main() -> None:
    from .figure_worker import prestart

    prestart(sys.argv[1:])
    from .app import main as run

    try:
        run()
    except SystemExit as done:
        _leave(done.code)
    _leave(0)


def _leave(code) -> None:
    """Exit with ``code`` without the interpreter's teardown.

    By here the command has committed or rolled back its stage, released the workspace lock, closed its files
    and stopped its figure process; what is left is freeing every module's objects, which with polars loaded
    took 0.2 s of every command.
    """
    import os

    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): Python would print it and exit 1
        sys.stderr.write(f"{code}\n")
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed pipe (trialkit ... | head): nothing more can be said
            pass
    os._exit(code)
