"""The report checks a claims file's consistency claims (kind = "consistency") beside its data claims:
a table of rule, reported numbers and verdict, a summary line, and --check failing on an inconsistent number."""

from __future__ import annotations

import shutil

import pytest

from conftest import ROOT

PAPER = ROOT / "fixtures" / "seed_trial" / "paper_claims.toml"

INCONSISTENT = '''title = "A paper with an impossible mean"

[[claims]]
id = "mean-age"
kind = "consistency"
text = "Mean score 5.19 in 28 patients (integer scale)."
rule = "grim"
n = 28
value = "5.19"
'''


@pytest.fixture()
def workspace(tmp_path, seed_workspace):
    ws = tmp_path / "ws"
    shutil.copytree(seed_workspace, ws)
    return ws


def test_a_file_of_consistency_claims_only_is_checked_and_shown_in_the_report(workspace, run_cli):
    result = run_cli(["report", "--claims", PAPER, "--check", "-w", workspace])
    assert result.exit_code == 0, result.stderr
    assert "Consistency of the published numbers: 6 consistent, 0 inconsistent, 1 not checkable" in result.stdout
    html = (workspace / "report.html").read_text()
    assert "Consistency of the published numbers (from the paper alone)." in html
    assert "66.7% of 8 is not k/8" in html and "holds no claim about the data" in html


def test_an_inconsistent_number_fails_report_check_and_is_named(workspace, run_cli, tmp_path):
    claims = tmp_path / "paper.toml"
    claims.write_text(INCONSISTENT)
    result = run_cli(["report", "--claims", claims, "--check", "-w", workspace])
    assert result.exit_code == 1
    assert "claim mean-age inconsistent (grim)" in result.stderr
    assert "0 consistent, 1 inconsistent" in result.stdout


def test_the_markdown_report_lists_the_consistency_verdicts(workspace, run_cli):
    result = run_cli(["report", "--claims", PAPER, "--format", "md", "-w", workspace])
    assert result.exit_code == 0, result.stderr
    text = (workspace / "report.md").read_text()
    assert "| 2-high: " in text and "| km |" in text and "consistent: 87.5% of 8 is 7/8" in text
