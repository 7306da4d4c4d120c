"""Workspaces where the analysis stages have run, shared by the report tests (built once per session).

Copies a ready workspace (ingested and validated, from conftest) and runs each
analysis stage that is registered; the report tests read it (and write
reports with --out elsewhere, or report files the report itself ignores).
"""

from __future__ import annotations

import shutil
from pathlib import Path

STAGES = ("survival", "biomarkers", "safety")
#: options the built-in trial's claims need (they read S(6m) and S(2y)), as `make demo` runs the stages
BUILTIN_OPTIONS = {"survival": ["--times", "6m,2y"]}
_CACHE: dict[tuple[str, str], tuple[Path, tuple[str, ...]]] = {}


def registered_stages() -> set[str]:
    from trialkit.cli.app import app

    return {c.name for c in app.registered_commands} & set(STAGES)


def missing_stages() -> list[str]:
    return [s for s in STAGES if s not in registered_stages()]


def run_stages(ws: Path, run_cli, extra: dict[str, list[str]] | None = None) -> tuple[str, ...]:
    """Run every registered stage on ``ws``; returns the stages that ran."""
    ran = []
    for stage in STAGES:
        if stage not in registered_stages():
            continue
        r = run_cli([stage, "--workspace", ws, "--format", "json", *((extra or {}).get(stage, []))])
        assert r.exit_code == 0, f"trialkit {stage} failed: {r.stderr}"
        ran.append(stage)
    return tuple(ran)


def staged_copy(source: Path, tmp_root: Path, run_cli, name: str,
                extra: dict[str, list[str]] | None = None) -> tuple[Path, tuple[str, ...]]:
    """A copy of ``source`` with every registered stage run, with ``extra`` options (cached by source and name)."""
    key = (str(source), name)
    if key not in _CACHE:
        ws = tmp_root / name
        shutil.copytree(source, ws)
        _CACHE[key] = (ws, run_stages(ws, run_cli, extra))
    return _CACHE[key]
