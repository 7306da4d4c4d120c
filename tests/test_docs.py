"""The CLI reference is generated from --help and must not drift; the README tours every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_matches_the_help_text(tmp_path):
    out = tmp_path / "cli.md"
    typer = Path(sys.executable).with_name("typer")
    subprocess.run([typer, "trialkit.cli.app", "utils", "docs", "--name", "trialkit",
                    "--title", "trialkit command reference", "--output", out], check=True, capture_output=True)
    assert out.read_text() == (ROOT / "docs" / "cli.md").read_text(), "docs/cli.md is stale: run `make docs`"


def test_readme_tours_every_command():
    from trialkit.cli.app import app

    readme = (ROOT / "README.md").read_text()
    names = [c.name for c in app.registered_commands]
    assert names
    for name in names:
        assert f"trialkit {name}" in readme or f"trialkit -w W {name}" in readme, name
