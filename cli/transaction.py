"""A stage's writes as one transaction, and the lock that gives a workspace one writer at a time.

Layout (everything trialkit keeps for itself is under ``<workspace>/.trialkit/``, never listed in the manifest):

- ``lock``: held (``flock``, exclusive) by the one writer for its whole run; while held it names the holder's
  command and PID, so a second writer can say who is in the way.
- ``commit.lock``: held exclusively while a commit switches files in, shared by a reader (``trialkit results``)
  while it reads, so a reader never sees half a commit.
- ``txn-<pid>-<n>/``: a stage's outputs, written there first. ``journal.json`` appears in it (by one rename)
  only when every output is written: that rename is the commit point. The journal lists the moves into place
  (``manifest.json`` last) and the removals; applying it is idempotent.

Recovery, at the start of every command that opens the workspace: a transaction folder with a journal belongs
to a run killed while it switched files in, and is finished (rolled forward); one without a journal belongs to
a run killed before its commit point, and is deleted (rolled back). Either way the workspace ends as the
killed run's "after" or its "before", and the command says what it did.

The OS releases an ``flock`` when its holder dies, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import threading
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from trialkit.schemas.errors import InputOutputError, UsageError

__all__ = ["STATE_DIR", "Transaction", "hold", "reading", "recover", "lock_timeout"]

STATE_DIR = ".trialkit"
JOURNAL = "journal.json"
LOCK_TIMEOUT_ENV = "TRIALKIT_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 300.0

#: workspaces (resolved) whose lock this process holds: the lock is re-entrant within one process (``trialkit
#: run`` holds it for a whole plan while each stage it runs takes it again).
_HELD: set[Path] = set()
_SEQ = itertools.count(1)
#: commits made in this process (a one-item list, shared by reference): an interrupt after a commit says so
COMMITS = [0]


def _state(ws: Path) -> Path:
    return ws / STATE_DIR


def lock_timeout() -> float:
    """Seconds a second writer waits for the lock ($TRIALKIT_LOCK_TIMEOUT; 0 fails at once)."""
    raw = os.environ.get(LOCK_TIMEOUT_ENV)
    if raw is None or raw == "":
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value >= 0 and value != float("inf")):
        raise UsageError(f"{LOCK_TIMEOUT_ENV}={raw!r} is not a number of seconds",
                         f"set {LOCK_TIMEOUT_ENV} to the seconds to wait for another trialkit run (0: fail at once)")
    return value


def _io_error(action: str, path: Path, exc: OSError, hint: str) -> InputOutputError:
    return InputOutputError(f"cannot {action} {path} ({exc.strerror or exc})", hint)


def _open_lock(path: Path):
    for _attempt in range(50):
        try:
            path.parent.mkdir(exist_ok=True)
            return open(path, "a+", encoding="utf-8")
        except FileNotFoundError:  # the state folder went away between the two calls: another run tidied up
            continue
        except OSError as exc:
            raise _io_error("create the workspace lock", path, exc,
                            "the workspace must be a folder you can write to; pass --workspace DIR") from exc
    raise InputOutputError(f"cannot create the workspace lock {path}", "run the command again")


def _is_current(f, path: Path) -> bool:
    """Whether the locked file is still the one at ``path``: a releasing holder deletes the lock file, so a
    waiter may have locked a file that is gone, and must lock the new one instead."""
    try:
        return os.fstat(f.fileno()).st_ino == os.stat(path).st_ino
    except OSError:
        return False


def _lock(path: Path, mode: int, *, wait: bool, fcntl):
    """Open ``path`` and flock it (``mode``), retrying on a file its holder deleted meanwhile; None when it is
    held by another process and ``wait`` is false."""
    while True:
        f = _open_lock(path)
        try:
            fcntl.flock(f, mode | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            if wait:
                raise
            return f, False
        except OSError as exc:
            f.close()
            raise _io_error("lock", path, exc, "the workspace must be on a file system that supports locks") from exc
        if _is_current(f, path):
            return f, True
        f.close()


def _release(ws: Path, f, fcntl) -> None:
    """Give the writer lock back, deleting trialkit's state folder when nothing else is in it (a workspace
    holds only its outputs between runs). The commit lock goes only when no reader holds it."""
    state = _state(ws)
    commit = state / "commit.lock"
    try:
        if commit.exists():
            with open(commit, "r", encoding="utf-8") as c:
                try:
                    fcntl.flock(c, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    commit.unlink(missing_ok=True)
                except BlockingIOError:
                    pass
        (state / "lock").unlink(missing_ok=True)
        state.rmdir()
    except OSError:
        pass  # a reader holds the commit lock, or something else is in the folder: it stays
    finally:
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def _holder(f) -> str:
    try:
        f.seek(0)
        info = json.loads(f.read() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another trialkit run"
    return f"`{info.get('command', 'trialkit')}` (PID {info.get('pid', '?')}, since {info.get('since', '?')})"


@contextmanager
def hold(ws: Path, *, create: bool = False) -> Iterator[None]:
    """Hold the workspace's writer lock for the block (waiting at most ``lock_timeout()``), after recovering
    what an interrupted run left. ``create``: make the workspace folder if it does not exist (ingest)."""
    import fcntl

    key = ws.resolve()
    if key in _HELD:
        yield
        return
    created = False
    if not ws.exists():
        if not create:
            yield  # nothing to lock: the stage's first read says the workspace holds no data
            return
        try:
            ws.mkdir(parents=True)
        except OSError as exc:
            raise _io_error("create the workspace", ws, exc, "check the path and its permissions") from exc
        created = True
    try:
        f = _acquire(_state(ws) / "lock", fcntl)
        try:
            f.seek(0)
            f.truncate()
            f.write(json.dumps({"pid": os.getpid(), "command": _command_line(),
                                "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
            f.flush()
        except OSError:
            pass  # the holder's name is a courtesy; the lock itself holds
        _HELD.add(key)
        try:
            recover(ws)
            yield
        finally:
            _HELD.discard(key)
            _release(ws, f, fcntl)
    finally:
        if created:
            try:
                ws.rmdir()  # a first ingest that failed leaves no workspace behind
            except OSError:
                pass


def _acquire(path: Path, fcntl):
    f, ok = _lock(path, fcntl.LOCK_EX, wait=False, fcntl=fcntl)
    if ok:
        return f
    timeout = lock_timeout()
    holder = _holder(f)
    f.close()
    if timeout == 0:
        raise InputOutputError(f"the workspace {path.parent.parent} is in use by {holder}",
                               f"wait for it to finish, or set {LOCK_TIMEOUT_ENV}=SECONDS to wait for it")
    from .common import safe, stderr

    stderr().print(f"waiting up to {timeout:g} s for the workspace, in use by {safe(holder)}")
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(0.05)
        f, ok = _lock(path, fcntl.LOCK_EX, wait=False, fcntl=fcntl)
        if ok:
            return f
        if time.monotonic() >= deadline:
            holder = _holder(f)
            f.close()
            raise InputOutputError(f"the workspace {path.parent.parent} is still in use by {holder} after {timeout:g} s",
                                   f"wait for it to finish, or set {LOCK_TIMEOUT_ENV} to wait longer")
        f.close()


def _command_line() -> str:
    import shlex

    return " ".join(["trialkit", *(shlex.quote(a) for a in sys.argv[1:])])


@contextmanager
def reading(ws: Path) -> Iterator[None]:
    """A reader's consistent view: no commit switches files in while the block reads. What an interrupted
    writer left (a half-applied commit, unfinished outputs) is recovered first, when no writer is at work."""
    import fcntl

    state = _state(ws)
    if ws.resolve() in _HELD or not state.is_dir():
        yield  # this process is the writer, or no writer is at work here
        return
    try:
        f, free = _lock(state / "lock", fcntl.LOCK_EX, wait=False, fcntl=fcntl)
    except InputOutputError:
        free = False  # a read-only workspace: nothing to recover, and nobody at work in it
    else:
        f.close()
    if free:  # no writer at work: recover what a killed one left, and tidy trialkit's state folder away
        with hold(ws):
            pass
        if not state.is_dir():
            yield
            return
    try:
        f, _ = _lock(state / "commit.lock", fcntl.LOCK_SH, wait=True, fcntl=fcntl)
    except InputOutputError:
        yield
        return
    try:
        yield
    finally:
        f.close()


def recover(ws: Path) -> list[str]:
    """Finish or undo what interrupted runs left (the caller holds the writer lock); says what it did."""
    state = _state(ws)
    done: list[str] = []
    if state.is_dir():
        for folder in sorted(p for p in state.iterdir() if p.name.startswith("txn-") and p.is_dir()):
            journal = folder / JOURNAL
            if journal.exists():
                try:
                    plan = json.loads(journal.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    plan = None
                if plan is not None:
                    with _commit_lock(ws):
                        _apply(ws, folder, plan)
                    done.append(f"finished the commit of `{plan.get('command', 'trialkit')}` "
                                f"(PID {plan.get('pid', '?')}), interrupted while it switched its outputs in")
                    continue
            shutil.rmtree(folder, ignore_errors=True)
            done.append(f"removed the unfinished outputs of an interrupted run ({folder.name})")
    stale = [p for p in ws.rglob(".*.tmp") if p.is_file() and STATE_DIR not in p.relative_to(ws).parts]
    for p in stale:  # temporary files of trialkit versions that wrote beside their outputs
        p.unlink(missing_ok=True)
    if stale:
        done.append(f"removed {len(stale)} temporary file(s) an interrupted run left")
    if done:
        from .common import safe, stderr

        for line in done:
            stderr().print(f"[yellow]Recovered:[/] {safe(line)}")
    return done


@contextmanager
def _commit_lock(ws: Path) -> Iterator[None]:
    import fcntl

    f, _ = _lock(_state(ws) / "commit.lock", fcntl.LOCK_EX, wait=True, fcntl=fcntl)
    try:
        yield
    finally:
        f.close()


def _apply(ws: Path, folder: Path, plan: dict) -> None:
    """Switch a journal's outputs in (idempotent: a move whose staged file is gone was already made)."""
    files = folder / "files"
    for staged, final in plan["moves"]:
        src = files / staged
        if src.exists():
            dst = ws / final
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
    for rel in plan["removals"]:
        (ws / rel).unlink(missing_ok=True)
    for rel in plan.get("prune", []):  # folders the removals emptied
        try:
            (ws / rel).rmdir()
        except OSError:
            pass
    if plan.get("manifest"):
        src = files / plan["manifest"]
        if src.exists():
            os.replace(src, ws / "manifest.json")
    shutil.rmtree(folder, ignore_errors=True)


class Transaction:
    """One stage's staged outputs: write them with ``new_file``, then ``commit`` (or ``abort``)."""

    def __init__(self, ws: Path) -> None:
        self.ws = ws
        self.folder: Path | None = None
        self.committed = False

    def new_file(self, final: Path) -> Path:
        """A fresh path in the transaction folder for an output that will become ``final``."""
        self._check_destination(final)
        if self.folder is None:
            state = _state(self.ws)
            try:
                state.mkdir(exist_ok=True)
                self.folder = state / f"txn-{os.getpid()}-{next(_SEQ)}"
                shutil.rmtree(self.folder, ignore_errors=True)
                (self.folder / "files").mkdir(parents=True)
            except OSError as exc:
                raise _io_error("write in the workspace", self.ws, exc,
                                "the workspace must be a folder you can write to; pass --workspace DIR") from exc
        return self.folder / "files" / f"{next(_SEQ):05d}-{final.name}"

    def _check_destination(self, final: Path) -> None:
        """Refuse, before anything is written, an output whose folder is a file."""
        p = final.parent
        while p != self.ws and p != p.parent:
            if p.exists() and not p.is_dir():
                raise InputOutputError(f"cannot write {final}: {p} is a file, not a folder",
                                       f"move or delete {p}, then run the command again")
            p = p.parent
        if final.is_dir():
            raise InputOutputError(f"cannot write {final}: a folder of that name is in the way",
                                   f"move or delete the folder {final}, then run the command again")

    def commit(self, moves: list[tuple[Path, Path]], removals: list[Path], manifest: Path, command: str) -> None:
        """Write the journal (the commit point), then switch the outputs in. SIGINT and SIGTERM wait until the
        switch is done, so an interrupted commit is one that was killed outright, which recovery finishes."""
        assert self.folder is not None, "the manifest is always staged"
        folders = {a for p in removals for a in p.relative_to(self.ws).parents if a != Path(".")}
        emptied = sorted((self.ws / a for a in folders), key=lambda p: (-len(p.parts), p))
        plan = {
            "command": command,
            "pid": os.getpid(),
            "moves": [[src.name, dst.relative_to(self.ws).as_posix()] for src, dst in moves],
            "removals": [p.relative_to(self.ws).as_posix() for p in removals],
            "prune": [p.relative_to(self.ws).as_posix() for p in emptied],
            "manifest": manifest.name,
        }
        tmp = self.folder / f".{JOURNAL}.tmp"
        blocked = {signal.SIGINT, signal.SIGTERM}
        old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        # the mask holds this thread only: a signal sent to the process reaches another thread (BLAS's, polars')
        # and Python would still run its handler here, mid-switch; so the handlers wait too, and run after
        deferred: list[int] = []
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            for s in blocked:
                handler = signal.getsignal(s)
                if handler is not None:
                    handlers[s] = signal.signal(s, lambda signum, frame: deferred.append(signum))
        try:
            with _commit_lock(self.ws):
                tmp.write_text(json.dumps(plan), encoding="utf-8")
                os.replace(tmp, self.folder / JOURNAL)
                self.committed = True
                COMMITS[0] += 1
                _apply(self.ws, self.folder, plan)
        except OSError as exc:
            if self.committed:
                raise InputOutputError(
                    f"the outputs of this run could not all be switched into {self.ws} ({exc.strerror or exc})",
                    "fix the cause (free space, permissions); the next trialkit command finishes the switch") from exc
            raise _io_error("commit the outputs in", self.ws, exc, "check free space and permissions") from exc
        finally:
            for s, handler in handlers.items():
                signal.signal(s, handler)
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
            for s in deferred:  # delivered now that the outputs are switched in
                os.kill(os.getpid(), s)
        self.folder = None

    def abort(self) -> None:
        if self.folder is not None and not self.committed:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
