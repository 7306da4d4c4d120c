"""Installed, the folders live under one namespace, and a built wheel works on its own."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(args, cwd, **kw):
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, **kw)


def test_trialkit_cli_imports_and_no_top_level_cli_module_exists(tmp_path):
    ok = _run([sys.executable, "-c", "import trialkit.cli, trialkit.analyses, trialkit.schemas, trialkit.fixtures"], tmp_path)
    assert ok.returncode == 0, ok.stderr
    for name in ("cli", "analyses", "schemas", "fixtures"):
        bad = _run([sys.executable, "-c", f"import {name}"], tmp_path)
        assert bad.returncode != 0, f"a top-level module {name!r} is importable"


def test_wheel_installs_in_a_fresh_venv_and_runs_help(tmp_path):
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", ROOT], tmp_path)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("trialkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("trialkit-")}
    assert tops == {"trialkit"}
    assert "trialkit/fixtures/seed_trial/adsl.csv" in names

    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path).returncode == 0
    installed = _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-deps", "--no-index", wheel], tmp_path)
    assert installed.returncode == 0, installed.stderr
    # the dependencies come from this environment; trialkit itself only from the wheel
    site = Path(_run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = _run([venv / "bin" / "python", "-c", "import trialkit.cli; print(trialkit.cli.__file__)"], tmp_path)
    assert str(site) in where.stdout, where.stdout + where.stderr
    helped = _run([venv / "bin" / "trialkit", "--help"], tmp_path)
    assert helped.returncode == 0 and "ingest" in helped.stdout
    demo = _run([venv / "bin" / "trialkit", "ingest", "-w", tmp_path / "ws"], tmp_path)
    assert demo.returncode == 0, demo.stderr
