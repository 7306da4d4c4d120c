"""Shared fixtures: the real-data folder, ready workspaces, and an in-process CLI runner.

Tests that need ../shared/data skip with a visible reason when it is absent,
except under CI=true, where its absence is a failure: CI must run them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trialkit.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
PILOT = ROOT.parent / "shared" / "data" / "cdiscpilot01"
SEED = ROOT / "fixtures" / "seed_trial"


def _require_shared() -> Path:
    if not (PILOT / "adsl.xpt").exists():
        reason = f"real-data tests need {PILOT} (the shared CDISC pilot), which is absent"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " and CI=true requires them")
        pytest.skip(reason)
    return PILOT


@pytest.fixture(scope="session")
def pilot_dir() -> Path:
    return _require_shared()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones included) with its SHA-256: equal snapshots, equal bytes."""
    import hashlib

    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def invoke(args: list[str], env: dict[str, str] | None = None):
    """Run the real trialkit command in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)


@pytest.fixture(scope="session")
def run_cli():
    return invoke


def _ready(workspace: Path, *source: Path) -> Path:
    ingest = invoke(["ingest", *source, "--workspace", workspace])
    assert ingest.exit_code == 0, ingest.stderr
    validate = invoke(["validate", "--workspace", workspace])
    assert validate.exit_code in (0, 1), validate.stderr
    return workspace


@pytest.fixture(scope="session")
def seed_workspace(tmp_path_factory) -> Path:
    """A workspace holding the built-in trial, ingested and validated (do not modify)."""
    return _ready(tmp_path_factory.mktemp("seed") / "ws")


@pytest.fixture(scope="session")
def pilot_workspace(tmp_path_factory, pilot_dir) -> Path:
    """A workspace holding the CDISC pilot, ingested and validated (do not modify)."""
    return _ready(tmp_path_factory.mktemp("pilot") / "ws", pilot_dir)


R_DATASETS = ROOT / "fixtures" / "r_datasets"


@pytest.fixture(scope="session")
def colon_workspace(tmp_path_factory) -> Path:
    """R's colon trial (3 arms, OS and RFS, covariates with missing values), ingested and validated (do not modify)."""
    return _ready(tmp_path_factory.mktemp("colon") / "ws", R_DATASETS / "colon")


@pytest.fixture(scope="session")
def veteran_workspace(tmp_path_factory) -> Path:
    """R's veteran trial (2 arms, cell type, Karnofsky score), ingested and validated (do not modify)."""
    return _ready(tmp_path_factory.mktemp("veteran") / "ws", R_DATASETS / "veteran")


@pytest.fixture(scope="session")
def pbc_workspace(tmp_path_factory) -> Path:
    """R's pbc trial (2 arms; DTHTX with competing death and transplant), ingested and validated (do not modify)."""
    return _ready(tmp_path_factory.mktemp("pbc") / "ws", R_DATASETS / "pbc")
