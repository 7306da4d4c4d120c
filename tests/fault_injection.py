"""Fault injection: kill trialkit stages at random points and check that each workspace ends as before or after.

Run by ``tests/test_fault_injection.py`` in a fresh interpreter (``python tests/fault_injection.py --kills N``),
which prints one JSON line: the cases run and every failure. It imports trialkit and its libraries once and
forks a child per run, so a kill costs the stage's work, not an interpreter's start. It never computes with
polars itself (a process that has must not fork), only hashes files.

Each kill case: copy a prepared "before" workspace, run a stage in a child and kill it (SIGKILL or SIGTERM)
either after a random delay within the stage's run time or at a random file switch of its commit (the child
kills itself at its k-th ``os.replace``, or ``os.unlink``); then run ``trialkit results`` (any command recovers
what a killed run left) and compare the workspace with the "before" and the "after" of an uninterrupted run:
it must equal one of them byte for byte, its manifest must match every file, and no temporary file or
transaction folder may remain.
"""

from __future__ import annotations

import argparse
import importlib
import hashlib
import json
import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path

#: (name, before state, command) in the order the states are made; each command's "after" is the next state
#: where the name says so.
CASES = [
    ("ingest-new", "empty", ["ingest"]),
    ("validate", "ingested", ["validate"]),
    ("survival", "validated", ["survival", "--no-plot"]),
    ("survival-arm", "survival", ["survival", "--no-plot", "--arm", "high", "--arm", "low"]),
    ("safety", "survival", ["safety", "--no-plot"]),
    ("biomarkers", "safety", ["biomarkers", "--no-plot", "--param", "ALB"]),
    ("report", "biomarkers", ["report"]),
    ("ingest-again", "report", ["ingest"]),
]
#: the state each case's uninterrupted run leaves, when later cases start from it
AFTER_NAME = {"ingest-new": "ingested", "validate": "validated", "survival": "survival", "safety": "safety",
              "biomarkers": "biomarkers", "report": "report"}
TIMEOUT = 120.0
#: modules the stages import when they run, imported once before forking
WARM = ["trialkit.cli.app", "polars", "pyarrow.parquet", "scipy.stats", "trialkit.analyses.ingest",
        "trialkit.analyses.validation", "trialkit.analyses.survival.pipeline", "trialkit.analyses.safety.pipeline",
        "trialkit.analyses.biomarkers.pipeline", "trialkit.analyses.report.document", "trialkit.analyses.ard",
        "trialkit.analyses.populations", "trialkit.cli.report", "trialkit.cli.tables", "trialkit.cli.workspace",
        "trialkit.cli.analysis", "trialkit.cli.readers", "trialkit.schemas.adam", "trialkit.schemas.outputs",
        "sksurv.linear_model", "great_tables", "rich.console", "rich.table"]


def snapshot(ws: Path) -> dict[str, str]:
    if not ws.exists():
        return {}
    out = {}
    for p in sorted(ws.rglob("*")):
        if p.is_file():
            out[p.relative_to(ws).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def manifest_problems(ws: Path, files: dict[str, str]) -> list[str]:
    if not files:
        return []
    if "manifest.json" not in files:
        return ["no manifest.json"]
    listed = json.loads((ws / "manifest.json").read_text())["files"]
    problems = []
    for rel, entry in listed.items():
        if rel not in files:
            problems.append(f"manifest lists missing {rel}")
        elif entry.get("sha256") != files[rel]:
            problems.append(f"hash of {rel} differs from the manifest")
    for rel in files:
        if rel != "manifest.json" and rel not in listed:
            problems.append(f"{rel} is not in the manifest")
    return problems


def _child(ws: Path, args: list[str], log: Path, kill_at: tuple[str, int, int] | None,
           modules: Path | None = None) -> None:
    """In the forked child: run trialkit ``args`` in-process, then exit with its code."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    if kill_at is not None:
        name, k, sig = kill_at
        original = getattr(os, name)
        calls = [0]

        def wrapped(*a, **kw):
            calls[0] += 1
            if calls[0] == k:
                os.kill(os.getpid(), sig)
            return original(*a, **kw)

        setattr(os, name, wrapped)
    sys.argv = ["trialkit", "--workspace", str(ws), *args]
    code = 0
    try:
        from trialkit.cli.app import main

        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        code = 99
    if modules is not None:
        modules.write_text("\n".join(sorted(sys.modules)))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run(ws: Path, args: list[str], log: Path, *, kill_after: float | None = None, sig: int = signal.SIGKILL,
        kill_at: tuple[str, int, int] | None = None, modules: Path | None = None) -> tuple[str, float]:
    """Fork a child running trialkit; kill it after ``kill_after`` seconds if given. Returns how it ended."""
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(ws, args, log, kill_at, modules)
    killed = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        elapsed = time.monotonic() - start
        if done:
            break
        if kill_after is not None and not killed and elapsed >= kill_after:
            os.kill(pid, sig)
            killed = True
        if elapsed > TIMEOUT:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "hung", elapsed
        time.sleep(0.002)
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}", elapsed
    return f"exit {os.WEXITSTATUS(status)}", elapsed


def warm_up(modules: list[str]) -> None:
    """Import what a stage imported, and render a table once, so that each child starts where a second run in
    one process would (neither computes with polars)."""
    import io

    for name in modules:
        if name not in sys.modules and not name.startswith("__"):
            try:
                importlib.import_module(name)
            except Exception:  # a module that only imports inside another: its parent brought it
                pass
    from rich.console import Console
    from rich.table import Table

    table = Table("a", "b", title="warm-up")
    table.add_row("1", "2")
    Console(file=io.StringIO(), width=100).print(table, "text")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=1,
                        help="processes sharing the kills, each with its own folder under --dir")
    opts = parser.parse_args()
    if opts.workers > 1:
        sys.exit(fan_out(opts))
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1767225600")
    os.environ["TRIALKIT_LOCK_TIMEOUT"] = "0"
    os.environ["COLUMNS"] = "100"
    # Import what the stages use before forking (so each child starts warm); nothing here computes with polars.
    for module in WARM:
        importlib.import_module(module)

    rng = random.Random(opts.seed)
    root = opts.dir
    states = root / "states"
    ws = root / "ws"  # every run happens at the same path, so outputs that name it compare equal
    log = root / "child.log"
    states.mkdir(parents=True, exist_ok=True)

    # The states, and each case's "after" and uninterrupted run time.
    (states / "empty").mkdir(exist_ok=True)
    after: dict[str, dict[str, str]] = {}
    before: dict[str, dict[str, str]] = {}
    duration: dict[str, float] = {}
    replaces: dict[str, int] = {}
    failures: list[dict] = []
    for name, start, args in CASES:
        shutil.rmtree(ws, ignore_errors=True)
        if start != "empty":
            shutil.copytree(states / start, ws, symlinks=True)
        before[name] = snapshot(ws)
        ended, took = run(ws, args, log, modules=root / "modules.txt")
        if ended != "exit 0":
            print(json.dumps({"error": f"uninterrupted {name} ended with {ended}", "log": log.read_text()[-3000:]}))
            sys.exit(1)
        after[name] = snapshot(ws)
        duration[name] = took
        replaces[name] = sum(1 for rel in after[name] if after[name][rel] != before[name].get(rel)) + 1
        if name in AFTER_NAME:
            shutil.copytree(ws, states / AFTER_NAME[name], symlinks=True, dirs_exist_ok=True)
        warm_up((root / "modules.txt").read_text().split())

    for name, start, args in CASES:  # time each stage again, warm, as the children will run it
        shutil.rmtree(ws, ignore_errors=True)
        if start != "empty":
            shutil.copytree(states / start, ws, symlinks=True)
        ended, duration[name] = run(ws, args, log)

    outcomes: dict[str, int] = {}
    for i in range(opts.kills):
        name, start, args = CASES[i % len(CASES)]
        shutil.rmtree(ws, ignore_errors=True)
        if start != "empty":
            shutil.copytree(states / start, ws, symlinks=True)
        sig = rng.choice([signal.SIGKILL, signal.SIGTERM])
        if rng.random() < 0.5:
            how = f"{signal.Signals(sig).name} after {{:.3f}} s"
            delay = rng.uniform(0, duration[name] * 1.1)
            ended, _ = run(ws, args, log, kill_after=delay, sig=sig)
            how = how.format(delay)
        else:
            target = rng.choice(["replace", "replace", "unlink"])
            k = rng.randint(1, max(1, replaces[name] if target == "replace" else 3))
            how = f"{signal.Signals(sig).name} at os.{target} #{k}"
            ended, _ = run(ws, args, log, kill_at=(target, k, sig))
        killed_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        outcomes[ended] = outcomes.get(ended, 0) + 1
        left = snapshot(ws)
        had_state = any(rel.startswith(".trialkit/txn-") for rel in left)
        recovered, _ = run(ws, ["results", "--analysis", "-"], log)  # a reader that prints little
        recovery_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        files = snapshot(ws)
        problems = []
        if ended == "hung" or recovered == "hung":
            problems.append(f"hung ({ended}, recovery {recovered})")
        if files != before[name] and files != after[name]:
            extra = sorted(set(files) - set(before[name]) - set(after[name]))
            differ = sorted(r for r in files if r in after[name] and files[r] != after[name][r]
                            and files[r] != before[name].get(r))
            problems.append(f"neither before nor after (extra {extra[:5]}, differing {differ[:5]})")
        problems += manifest_problems(ws, files)
        leftovers = [r for r in files if r.endswith(".tmp") or r.startswith(".trialkit/")]
        if leftovers:
            problems.append(f"left over: {leftovers[:5]}")
        if had_state and "Recovered" not in recovery_log:
            problems.append("recovery did not say what it did")
        if ended.startswith("exit") and ended not in ("exit 0", "exit 130", "exit 143"):
            problems.append(f"the killed run ended with {ended}")
        if problems:
            failures.append({"case": name, "kill": how, "ended": ended, "problems": problems,
                             "log": killed_log, "recovery": recovery_log})
    print(json.dumps({"kills": opts.kills, "seed": opts.seed, "outcomes": outcomes,
                      "durations": {k: round(v, 3) for k, v in duration.items()}, "failures": failures}))


def fan_out(opts) -> int:
    """Split the kills over ``opts.workers`` fresh interpreters and merge their JSON lines."""
    import subprocess

    share = [opts.kills // opts.workers + (i < opts.kills % opts.workers) for i in range(opts.workers)]
    procs = [subprocess.Popen([sys.executable, __file__, "--kills", str(n), "--seed", str(opts.seed + i),
                               "--dir", str(opts.dir / f"worker{i}")], stdout=subprocess.PIPE, text=True)
             for i, n in enumerate(share) if n]
    merged: dict = {"kills": 0, "seed": opts.seed, "outcomes": {}, "durations": {}, "failures": []}
    for p in procs:
        out, _ = p.communicate()
        part = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"error": f"worker exited {p.returncode}"}
        if "error" in part:
            print(json.dumps(part))
            return 1
        merged["kills"] += part["kills"]
        merged["durations"] = part["durations"]
        merged["failures"] += part["failures"]
        for k, v in part["outcomes"].items():
            merged["outcomes"][k] = merged["outcomes"].get(k, 0) + v
    print(json.dumps(merged))
    return 0


if __name__ == "__main__":
    main()
