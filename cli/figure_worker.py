"""Figures drawn in a second process while the stage writes its tables.

On a small trial, a stage's figures (matplotlib's import, then a 300 dpi PNG and an SVG of each)
took as long as all the rest of ``trialkit survival``. ``FigurePool`` starts ``python -m
trialkit.cli.figure_worker MODULE...`` when the command begins: the worker imports matplotlib and
the figure modules while the stage reads and computes. The stage then sends each figure's drawing
call (a module-level function of ``analyses/`` that returns ``{"png": bytes, "svg": bytes}``, and its
arguments) and writes its tables while the figures are drawn on the other core.

The bytes are those of drawing in-process: the same functions, fonts and settings. If the worker
cannot start, dies or fails on a figure, that figure is drawn in-process, so a failure gives the
same error as before. The worker ends when its input closes: when the command finishes, fails or is
killed, it exits too. ``TRIALKIT_FIGURE_WORKER=0`` draws everything in-process. The console script
starts it (``prestart``) before importing the CLI, so it loads matplotlib while the CLI loads too.
"""

from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Sequence

__all__ = ["COMMANDS", "FigurePool", "prestart"]


#: command -> the modules its figure process preloads (the commands that draw through a FigurePool)
COMMANDS = {"survival": ("trialkit.analyses.survival.figure", "trialkit.analyses.survival.zph_figure")}
_prestarted: dict[tuple[str, ...], subprocess.Popen] = {}


def prestart(argv: Sequence[str]) -> None:
    """Start the figure process of the command in ``argv`` (the console script's arguments) before the CLI
    is even imported, when it will draw: the command's ``FigurePool`` then takes it over. Nothing for other
    commands, for ``--no-plot`` and for ``--help``."""
    words = list(argv)
    command = next((w for i, w in enumerate(words)
                    if not w.startswith("-") and (i == 0 or words[i - 1] not in ("-w", "--workspace"))), None)
    if command not in COMMANDS or {"--no-plot", "--help", "-h"} & set(words):
        return
    if os.environ.get("TRIALKIT_FIGURE_WORKER", "1") == "0":
        return
    preload = COMMANDS[command]
    try:
        _prestarted[tuple(preload)] = _start(preload)
    except OSError:
        pass


def _start(preload: Sequence[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "trialkit.cli.figure_worker", *preload],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


class FigurePool:
    """Drawing calls sent to one worker process; ``results()`` returns each figure's bytes by name."""

    def __init__(self, preload: Sequence[str] = (), *, enabled: bool = True) -> None:
        self._proc: subprocess.Popen | None = None
        self._calls: list[tuple[str, Callable, tuple, dict]] = []
        early = _prestarted.pop(tuple(preload), None)
        if not enabled or os.environ.get("TRIALKIT_FIGURE_WORKER", "1") == "0":
            if early is not None:
                early.kill()
                early.wait()
            return
        if early is not None and early.poll() is None:
            self._proc = early
            return
        try:
            self._proc = _start(preload)
        except OSError:
            self._proc = None

    def submit(self, name: str, func: Callable, *args, **kwargs) -> None:
        """Queue ``func(*args, **kwargs)`` as the figure ``name`` (the worker starts on it at once)."""
        self._calls.append((name, func, args, kwargs))
        if self._proc is None:
            return
        try:
            pickle.dump((name, func.__module__, func.__qualname__, args, kwargs), self._proc.stdin,
                        protocol=pickle.HIGHEST_PROTOCOL)
            self._proc.stdin.flush()
        except Exception:  # a broken pipe or an argument that does not pickle: draw here instead
            self.close()

    def results(self) -> dict[str, dict[str, bytes]]:
        """Every submitted figure's bytes, from the worker where it drew them, else drawn here."""
        done: dict[str, dict[str, bytes]] = {}
        if self._proc is not None:
            try:
                self._proc.stdin.close()
                for _ in self._calls:
                    name, ok, value = pickle.load(self._proc.stdout)
                    if ok:
                        done[name] = value
            except Exception:  # the worker died (EOF) or wrote something else: draw the rest here
                pass
            self.close()
        for name, func, args, kwargs in self._calls:
            if name not in done:
                done[name] = func(*args, **kwargs)
        return done

    def close(self) -> None:
        """Stop the worker (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except Exception:
                pass
        if proc.poll() is None:
            proc.kill()
        proc.wait()

    def __enter__(self) -> FigurePool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _serve(preload: Sequence[str]) -> None:
    """Import matplotlib and ``preload``, then draw each call read from stdin until it closes."""
    from trialkit.analyses.figures import use_agg

    use_agg()
    import matplotlib.backends.backend_agg  # noqa: F401  (loaded while the stage computes)
    import matplotlib.figure  # noqa: F401

    for module in preload:
        importlib.import_module(module)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    drawn = []
    while True:  # draw each call as it comes; answer once the input closes, so that neither side waits on
        try:     # the other with a full pipe (the stage sends every call before it reads an answer)
            name, module, qualname, args, kwargs = pickle.load(inp)
        except EOFError:
            break
        try:
            drawn.append((name, True, getattr(importlib.import_module(module), qualname)(*args, **kwargs)))
        except Exception:  # the stage draws it again in-process and reports the error there
            drawn.append((name, False, None))
    for value in drawn:
        pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


if __name__ == "__main__":
    try:
        _serve(sys.argv[1:])
    except (BrokenPipeError, KeyboardInterrupt):  # the stage ended first
        pass
