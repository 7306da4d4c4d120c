"""Named analyses, populations and subgroups, analysis plans, and claims that name an analysis."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from trialkit.schemas.errors import NoDataError, UsageError
from trialkit.analyses.plan import command_args, parse_plan
from trialkit.analyses.populations import parse_subgroup, population_flags, select_subjects
from trialkit.cli.analysis import analysis_name

ROOT = Path(__file__).resolve().parents[1]
SEED_PLAN = ROOT / "fixtures" / "seed_trial" / "plan.toml"
PILOT_PLAN = ROOT / "docs" / "examples" / "cdiscpilot01-plan.toml"


def _hashes(ws: Path, *folders: str) -> dict[str, str]:
    out = {}
    for folder in folders:
        for p in sorted((ws / folder).rglob("*")):
            if p.is_file():
                out[p.relative_to(ws).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _copy(src: Path, tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(src, ws)
    return ws


# ------------------------------------------------------------------ populations and subgroups (pure)
ADSL = pl.DataFrame({"USUBJID": ["1", "2", "3", "4"], "TRT01A": ["A", "A", "B", "B"], "SEX": ["F", "M", "F", "M"],
                     "AGEGR1": [">80", "<65", ">80", "65-80"], "ITTFL": ["Y", "Y", "Y", "Y"],
                     "EFFFL": ["Y", "N", "Y", None], "SAFFL": ["Y", "Y", "N", "Y"], "AGE": [81, 50, 85, 70],
                     "RANDFL": ["Y", "Y", "X", "Y"]})


def test_a_subgroup_value_is_everything_after_the_first_equals_sign():
    sub = parse_subgroup("agegr1=>80")
    assert (sub.variable, sub.value) == ("AGEGR1", ">80")


@pytest.mark.parametrize("text", ["SEX", "=F", "SEX=", "1X=2"])
def test_a_subgroup_that_is_not_var_equals_value_is_a_usage_error(text):
    with pytest.raises(UsageError, match="is not VAR=VALUE"):
        parse_subgroup(text)


def test_population_flags_are_the_y_n_variables():
    assert population_flags(ADSL) == ["ITTFL", "EFFFL", "SAFFL"]


def test_default_population_is_saffl_for_safety_and_ittfl_for_efficacy():
    kept, sel = select_subjects(ADSL, "safety")
    assert kept["USUBJID"].to_list() == ["1", "2", "4"] and sel.population == "SAFFL"
    kept, sel = select_subjects(ADSL, "survival")
    assert kept.height == 4 and sel.population == "ITTFL" and sel.population_source == "default"


def test_population_and_subgroups_combine_with_and():
    kept, sel = select_subjects(ADSL, "survival", "efffl", [parse_subgroup("SEX=F"), parse_subgroup("AGEGR1=>80")])
    assert kept["USUBJID"].to_list() == ["1", "3"]
    assert sel.description == 'EFFFL = "Y", subgroup SEX = F and AGEGR1 = >80: 2 of 4 ADSL subjects'


def test_a_numeric_subgroup_compares_as_a_number():
    kept, _ = select_subjects(ADSL, "survival", None, [parse_subgroup("AGE=85")])
    assert kept["USUBJID"].to_list() == ["3"]


def test_population_all_keeps_every_subject_whatever_the_flags():
    kept, sel = select_subjects(ADSL, "safety", "ALL")
    assert kept.height == 4 and sel.population is None


@pytest.mark.parametrize(("population", "message"), [
    ("PPROTFL", "ADSL has no variable PPROTFL"),
    ("RANDFL", "RANDFL is not a Y/N flag"),
])
def test_a_population_that_is_not_a_y_n_flag_is_refused_with_the_flags_there_are(population, message):
    with pytest.raises(UsageError, match=message) as exc:
        select_subjects(ADSL, "survival", population)
    assert "ITTFL, EFFFL, SAFFL" in exc.value.hint


def test_a_subgroup_that_keeps_nobody_names_the_values_there_are():
    with pytest.raises(NoDataError, match="keeps no ADSL subject") as exc:
        select_subjects(ADSL, "survival", None, [parse_subgroup("SEX=X")])
    assert "F, M" in exc.value.hint


# ------------------------------------------------------------------ names
def test_the_primary_analysis_is_named_after_its_stage():
    assert analysis_name("survival", {}) == "survival"


def test_other_analyses_are_named_from_the_options_that_differ():
    assert analysis_name("survival", {"population": "EFFFL", "subgroup": ["AGEGR1=>80"], "arm": ["high", "placebo"],
                                      "parity": "r", "cox": False}) == \
        "survival-efffl-agegr1-gt-80-arm-high-placebo-parity-r-no-cox"


# ------------------------------------------------------------------ plans (pure)
def test_the_builtin_plan_parses_into_the_three_primary_analyses_and_two_efficacy_models():
    plan = parse_plan(SEED_PLAN.read_text(), "plan.toml")
    assert [(a.name, a.stage, a.primary) for a in plan.analyses] == [
        ("biomarkers", "biomarkers", True), ("survival", "survival", True), ("safety", "safety", True),
        ("efficacy-alb-ancova", "biomarkers", False), ("efficacy-alb-mmrm", "biomarkers", False)]
    assert command_args(plan.analyses[1]) == ["survival", "--times", "6m,2y"]
    assert command_args(plan.analyses[4]) == ["biomarkers", "--name", "efficacy-alb-mmrm", "--model", "mmrm",
                                              "--param", "ALB", "--no-plot"]


def test_a_plan_entry_becomes_the_equivalent_stage_command():
    plan = parse_plan('[[analysis]]\nname = "s80"\nstage = "survival"\nsubgroup = "AGEGR1=>80"\n'
                      'population = "EFFFL"\noptions = { arm = ["high", "placebo"], "rmst-tau" = "90", plot = false }\n',
                      "p.toml")
    assert command_args(plan.analyses[0]) == ["survival", "--name", "s80", "--population", "EFFFL", "--subgroup",
                                              "AGEGR1=>80", "--arm", "high", "--arm", "placebo", "--no-plot",
                                              "--rmst-tau", "90"]


@pytest.mark.parametrize(("text", "message"), [
    ('[[analysis]]\nstage = "km"\n', "stage must be one of biomarkers, survival, safety"),
    ('[[analysis]]\nstage = "survival"\n[[analysis]]\nstage = "survival"\n', "the name is used twice"),
    ('[[analysis]]\nname = "safety"\nstage = "survival"\n', "is the primary safety analysis' name"),
    ('[[analysis]]\nstage = "survival"\noptions = { name = "x" }\n', "option name is set by the plan entry"),
    ('[[analysis]]\nstage = "survival"\nbogus = 1\n', "unknown key(s) bogus"),
    ('title = "t"\n', "no [[analysis]] entry"),
    ('[[analysis]\n', "is not valid TOML"),
])
def test_a_malformed_plan_is_a_usage_error_naming_file_and_analysis(text, message):
    with pytest.raises(UsageError, match="p.toml") as exc:
        parse_plan(text, "p.toml")
    assert message in exc.value.message


# ------------------------------------------------------------------ end to end on the built-in trial
@pytest.fixture(scope="module")
def planned_seed(seed_workspace, tmp_path_factory, run_cli) -> Path:
    """The built-in trial after `trialkit run` of its plan (as make demo leaves it; do not modify)."""
    ws = tmp_path_factory.mktemp("planned") / "ws"
    shutil.copytree(seed_workspace, ws)
    result = run_cli(["run", "--workspace", ws])
    assert result.exit_code == 0, result.stderr
    return ws


def test_exploring_after_the_plan_changes_nothing_in_the_primary_analyses(planned_seed, tmp_path, run_cli):
    ws = _copy(planned_seed, tmp_path)
    before = _hashes(ws, "survival", "safety", "biomarkers")
    for args in (["survival", "--arm", "high"], ["survival", "--no-plot"], ["survival", "--format", "json"],
                 ["survival", "--subgroup", "SEX=M", "--no-plot"], ["safety", "--no-plot", "--subgroup", "SEX=M"],
                 ["safety", "--format", "csv"]):
        result = run_cli([*args, "--workspace", ws])
        assert result.exit_code == 0, (args, result.stderr)
    assert _hashes(ws, "survival", "safety", "biomarkers") == before
    report = run_cli(["report", "--check", "--workspace", ws])
    assert report.exit_code == 0, report.stdout + report.stderr
    assert "Claims: 8 reproduced by construction, 0 not reproduced, 0 not evaluable" in report.stdout
    html = (ws / "report.html").read_text()
    for name, label in (("survival-arm-high", "trialkit survival --arm high"),
                        ("survival-sex-m", "subgroup SEX = M"), ("safety-sex-m", "subgroup SEX = M")):
        assert name in html and label in html
    manifest = json.loads((ws / "manifest.json").read_text())
    assert manifest["analyses"]["survival-sex-m"]["folder"] == "analyses/survival-sex-m"
    assert manifest["analyses"]["survival-sex-m"]["subgroup"] == "SEX = M"
    assert manifest["analyses"]["survival"]["options"]["times"] == "6m,2y"


def test_the_plan_writes_what_the_stage_commands_write_byte_for_byte(planned_seed, seed_workspace, tmp_path, run_cli):
    ws = _copy(seed_workspace, tmp_path)
    for args in (["biomarkers"], ["survival", "--times", "6m,2y"], ["safety"],
                 ["biomarkers", "--name", "efficacy-alb-ancova", "--param", "ALB", "--model", "ancova", "--no-plot"],
                 ["biomarkers", "--name", "efficacy-alb-mmrm", "--param", "ALB", "--model", "mmrm", "--no-plot"]):
        assert run_cli([*args, "--workspace", ws]).exit_code == 0
    folders = ("survival", "safety", "biomarkers", "analyses")
    assert _hashes(ws, *folders) == _hashes(planned_seed, *folders)
    assert (ws / "ard.parquet").read_bytes() == (planned_seed / "ard.parquet").read_bytes()
    ours = json.loads((ws / "manifest.json").read_text())
    theirs = json.loads((planned_seed / "manifest.json").read_text())
    assert ours["analyses"] == theirs["analyses"]


def test_run_only_runs_the_named_analysis(seed_workspace, tmp_path, run_cli):
    ws = _copy(seed_workspace, tmp_path)
    result = run_cli(["run", str(SEED_PLAN), "--only", "survival", "--no-plot", "--workspace", ws])
    assert result.exit_code == 0, result.stderr
    assert (ws / "survival" / "survival.json").exists() and not (ws / "safety").exists()
    assert "trialkit survival --times 6m,2y --no-plot" in result.stdout


def test_run_refuses_an_unknown_option_before_running_anything(seed_workspace, tmp_path, run_cli):
    ws = _copy(seed_workspace, tmp_path)
    plan = tmp_path / "p.toml"
    plan.write_text('[[analysis]]\nstage = "safety"\n\n[[analysis]]\nname = "s2"\nstage = "survival"\n'
                    'options = { timez = "1y" }\n')
    result = run_cli(["run", str(plan), "--workspace", ws])
    assert result.exit_code == 2
    assert "analysis 's2': survival has no option timez" in result.stderr
    assert not (ws / "safety").exists()


def test_a_name_taken_by_another_stage_is_refused(seed_workspace, tmp_path, run_cli):
    ws = _copy(seed_workspace, tmp_path)
    assert run_cli(["safety", "--name", "mine", "--no-plot", "--workspace", ws]).exit_code == 0
    result = run_cli(["survival", "--name", "mine", "--no-plot", "--workspace", ws])
    assert result.exit_code == 2 and "already exists" in result.stderr and "safety analysis" in result.stderr


def test_a_named_analysis_cannot_be_rerun_on_other_subjects_under_its_name(seed_workspace, tmp_path, run_cli):
    ws = _copy(seed_workspace, tmp_path)
    assert run_cli(["survival", "--name", "women", "--subgroup", "SEX=F", "--no-plot", "--workspace", ws]).exit_code == 0
    result = run_cli(["survival", "--name", "women", "--no-plot", "--workspace", ws])
    assert result.exit_code == 2
    assert "--name women: that analysis was run with --subgroup SEX=F, this run has no --subgroup" in result.stderr
    assert run_cli(["survival", "--name", "women", "--subgroup", "SEX=F", "--no-plot", "--workspace", ws]).exit_code == 0


def test_population_and_subgroup_are_stated_in_the_json(seed_workspace, tmp_path, run_cli):
    ws = _copy(seed_workspace, tmp_path)
    result = run_cli(["survival", "--subgroup", "SEX=F", "--no-plot", "--format", "json", "--workspace", ws])
    analysis = json.loads(result.stdout)["analysis"]
    assert analysis["name"] == "survival-sex-f" and analysis["subgroup"] == "SEX = F"
    assert analysis["population"] == "ITTFL" and analysis["n_selected"] < analysis["n_adsl"]


def test_a_claim_can_read_a_named_analysis(planned_seed, tmp_path, run_cli):
    ws = _copy(planned_seed, tmp_path)
    assert run_cli(["survival", "--name", "os-subset", "--arm", "low", "--arm", "high", "--no-plot",
                    "--workspace", ws]).exit_code == 0
    claims = tmp_path / "claims.toml"
    claims.write_text('[[claims]]\nid = "x"\ntext = "Two arms"\n\n  [[claims.checks]]\n  stage = "survival"\n'
                      '  analysis = "os-subset"\n  key = "logrank"\n  field = "df"\n  compare = "equal"\n  value = 1\n'
                      '\n[[claims]]\nid = "y"\ntext = "Three arms"\n\n  [[claims.checks]]\n  stage = "survival"\n'
                      '  key = "logrank"\n  field = "df"\n  compare = "equal"\n  value = 2\n'
                      '\n[[claims]]\nid = "z"\ntext = "Missing"\n\n  [[claims.checks]]\n  stage = "survival"\n'
                      '  analysis = "nope"\n  key = "logrank"\n  field = "df"\n  compare = "equal"\n  value = 2\n'
                      '\n[[claims]]\nid = "ard"\ntext = "From the ARD"\n\n  [[claims.checks]]\n  stage = "survival"\n'
                      '  analysis = "os-subset"\n  table = "ard"\n  where = { table = "tests", stat_name = "df" }\n'
                      '  field = "stat"\n  compare = "equal"\n  value = 1\n')
    result = run_cli(["report", "--claims", claims, "--workspace", ws])
    assert result.exit_code == 0, result.stderr
    assert "Claims: 3 reproduced by construction, 0 not reproduced, 1 not evaluable" in result.stdout


# ------------------------------------------------------------------ the CDISC pilot
@pytest.mark.realdata
def test_the_pilot_example_plan_runs_its_six_analyses(pilot_workspace, tmp_path, run_cli):
    ws = _copy(pilot_workspace, tmp_path)
    result = run_cli(["run", str(PILOT_PLAN), "--no-plot", "--workspace", ws])
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((ws / "manifest.json").read_text())["analyses"]
    assert set(manifest) == {"safety", "safety-female", "survival", "survival-high-vs-placebo", "survival-over-80",
                             "survival-efficacy"}
    adsl = pl.read_parquet(ws / "adsl.parquet")
    n_over80 = adsl.filter((pl.col("ITTFL") == "Y") & (pl.col("AGEGR1") == ">80")).height
    n_efficacy = adsl.filter(pl.col("EFFFL") == "Y").height
    assert 0 < n_over80 < n_efficacy < adsl.height
    over80 = json.loads((ws / "analyses" / "survival-over-80" / "survival.json").read_text())["analysis"]
    assert over80["subgroup"] == "AGEGR1 = >80" and over80["n_selected"] == n_over80
    efficacy = json.loads((ws / "analyses" / "survival-efficacy" / "survival.json").read_text())
    assert efficacy["analysis"]["n_selected"] == n_efficacy and sum(a["n"] for a in efficacy["arms"]) == n_efficacy
