"""``trialkit claims check``: consistency claims without data, data claims with a workspace, exit codes,
JSON, errors, 80 columns."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from trialkit.cli import common

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed_trial"
PAPER = SEED / "paper_claims.toml"


def _run(run_cli, args, width: int = 80):
    common._console.cache_clear()  # the console reads COLUMNS when it is created
    try:
        return run_cli(["claims", "check", *args], env={"COLUMNS": str(width), "TRIALKIT_WORKSPACE": None})
    finally:
        common._console.cache_clear()


def _data_claims(ids: tuple[str, ...]) -> str:
    """Claims of the seed trial's claims.toml with these ids, as TOML text."""
    text = (SEED / "claims.toml").read_text()
    blocks = text.split("[[claims]]")[1:]
    return "".join("[[claims]]" + b for b in blocks if any(f'id = "{i}"\n' in b for i in ids))


@pytest.fixture(scope="module")
def survival_ws(seed_workspace, tmp_path_factory, run_cli) -> Path:
    """The seed workspace (a copy) after trialkit survival --times 6m,2y."""
    ws = tmp_path_factory.mktemp("claims") / "ws"
    shutil.copytree(seed_workspace, ws)
    r = run_cli(["survival", "--times", "6m,2y", "-w", ws])
    assert r.exit_code == 0, r.stderr
    return ws


def test_the_seed_papers_claims_check_without_data_at_80_columns(run_cli):
    r = _run(run_cli, [PAPER])
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert "│ 2-low     │ km        │ S at 2 years = 66.7% of n = 8      │ consistent    │" in out
    assert "2-low consistent: 66.7% of 8 is not k/8 (5/8 = 62.5%, 6/8 = 75.0%) and needs 2" in out
    assert "3-logrank not checkable: no test statistic reported; p = 0.3328 implies chi2(2)" in out
    assert out.rstrip().endswith("Claims: 6 consistent, 1 not checkable")


def test_an_inconsistent_claim_exits_1_and_says_why(run_cli, tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[[claims]]\nid = "t"\nkind = "consistency"\ntext = "t(28) = 2.20, p = .06"\n'
                 'rule = "statcheck"\ntest = "t"\ndf = 28\nstatistic = "2.20"\np = ".06"\n')
    r = _run(run_cli, [f])
    assert r.exit_code == 1
    assert "t inconsistent: t(28) = 2.20 gives p = 0.03623 two-sided" in r.stdout
    assert "decision error" in r.stdout


def test_json_lists_every_claim_with_its_verdict_and_numbers(run_cli):
    r = _run(run_cli, [PAPER, "--json"])
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["workspace"] is None and doc["summary"] == {"consistent": 6, "not checkable": 1}
    low = next(c for c in doc["claims"] if c["id"] == "2-low")
    assert low["rule"] == "km" and low["verdict"] == "consistent" and low["rounding"] == "half-up"
    assert low["feasible"] == ["2/3 = 66.67%: 2 censored, then 2 deaths among the 6 at risk"]
    assert low["numbers"] == {"survival": pytest.approx(2 / 3, rel=1e-12), "deaths": 2, "censorings": 2}


def test_data_claims_without_a_workspace_are_listed_as_not_evaluable(run_cli, tmp_path):
    f = tmp_path / "mixed.toml"
    f.write_text(PAPER.read_text() + _data_claims(("2", "3")))
    r = _run(run_cli, [f])
    assert r.exit_code == 0
    assert "Claims: 6 consistent, 1 not checkable, 2 not evaluable" in r.stdout
    assert "needs a workspace" in r.stdout and "pass -w DIR" in r.stderr


def test_data_claims_with_a_workspace_are_checked_as_report_checks_them(run_cli, survival_ws, tmp_path):
    f = tmp_path / "mixed.toml"
    f.write_text(PAPER.read_text() + _data_claims(("2", "3")))
    r = _run(run_cli, [f, "-w", survival_ws])
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "Claims: 6 consistent, 1 not checkable, 2 reproduced" in r.stdout
    assert "3 reproduced: reanalysis: Three-group log-rank p: 0.332801." in r.stdout
    # a data claim the reanalysis does not reproduce fails the command
    f.write_text(PAPER.read_text() + _data_claims(("3",)).replace("value = 0.3328", "value = 0.05"))
    r = _run(run_cli, [f, "-w", survival_ws, "--json"])
    assert r.exit_code == 1
    three = next(c for c in json.loads(r.stdout)["claims"] if c["id"] == "3")
    assert three["verdict"] == "not reproduced" and "p = 0.332801" in three["explanation"]


@pytest.mark.parametrize("content, message", [
    ("[[claims]\n", "is not valid TOML"),
    ('[[claims]]\nid = "k"\nkind = "consistency"\ntext = "x"\nrule = "km"\nsurvival = "50%"\n',
     "claim 'k': rule 'km' needs n"),
    ('[[claims]]\nid = "k"\nkind = "consistency"\ntext = "x"\nrule = "grim"\nn = 0\nvalue = "5%"\n',
     "claim 'k': n must be a whole number >= 1, not 0"),
    ('[[claims]]\nid = "k"\nkind = "consistency"\ntext = "x"\nrule = "magic"\n', "claim 'k': rule must be one of"),
])
def test_a_mistake_in_the_file_is_one_line_and_exit_2(run_cli, tmp_path, content, message):
    f = tmp_path / "bad.toml"
    f.write_text(content)
    r = _run(run_cli, [f])
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: claims file ") and message in r.stderr
    assert "Traceback" not in r.stderr and "Hint:" in r.stderr


def test_a_missing_file_or_workspace_is_a_usage_error(run_cli, tmp_path):
    r = _run(run_cli, [tmp_path / "absent.toml"])
    assert r.exit_code == 2 and "does not exist" in r.stderr
    r = _run(run_cli, [PAPER, "-w", tmp_path / "nowhere"])
    assert r.exit_code == 2 and "workspace" in r.stderr and "does not exist" in r.stderr


def test_the_same_file_gives_the_same_bytes(run_cli):
    first, second = _run(run_cli, [PAPER, "--json"]), _run(run_cli, [PAPER, "--json"])
    assert first.stdout == second.stdout
    assert _run(run_cli, [PAPER]).stdout == _run(run_cli, [PAPER]).stdout
