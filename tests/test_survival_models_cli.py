"""`trialkit survival` with strata, covariates, weights, the PH check, RMST contrasts, quartiles, follow-up,
competing risks and the forest, run end to end from the command line and compared with R.

Reference values: tests/reference/survival_models_cli_r.json, written by
tests/reference/make_survival_models_cli_reference.R (the R call behind each
number is in that script's header), on the ADaM fixtures of
fixtures/r_datasets/ and the built-in trial.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from r_reference import same

REF = json.loads((Path(__file__).parent / "reference" / "survival_models_cli_r.json").read_text())


def _run(run_cli, workspace: Path, argv: list[str], name: str = "t") -> dict:
    result = run_cli(["survival", "--no-plot", "--format", "json", "--name", name, *argv, "-w", workspace])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def colon_models(run_cli, tmp_path_factory, colon_workspace):
    import shutil

    ws = tmp_path_factory.mktemp("colon-models") / "ws"
    shutil.copytree(colon_workspace, ws)
    return ws


def _check_logrank(doc: dict, ref: dict) -> None:
    assert doc["logrank"]["df"] == ref["df"]
    same([doc["logrank"]["chisq"], doc["logrank"]["p"]], [ref["chisq"], ref["p"]])


def _check_cox(doc: dict, ref: dict) -> None:
    by_name = {r["term"] + (r["level"] or ""): r for r in doc["cox"]}  # R's coefficient names: TRT01ALevamisole, AGE
    assert sorted(by_name) == sorted(ref["names"])
    rows = [by_name[n] for n in ref["names"]]  # levels in TRT01AN / VARN order here, R's factor order there
    same([r["coef"] for r in rows], ref["coef"])
    same([r["se"] for r in rows], ref["se"])
    same([r["p"] for r in rows], ref["p"])
    same([math.exp(r["coef"]) for r in rows], [r["hr"] for r in rows], rel=1e-12)
    tests = {t["test"]: t for t in doc["cox_tests"]}
    for name, key in (("likelihood ratio", "lr"), ("Wald", "wald"), ("score (log-rank)", "score")):
        same([tests[name]["chisq"], tests[name]["df"], tests[name]["p"]], ref[key])
    assert doc["model"]["n"] == ref["n"] and doc["model"]["events"] == ref["events"]


def _check_zph(doc: dict, ref: dict) -> None:
    assert [z["term"] for z in doc["zph"]] == ref["terms"]
    same([z["chisq"] for z in doc["zph"]], ref["chisq"])
    same([z["df"] for z in doc["zph"]], ref["df"])
    same([z["p"] for z in doc["zph"]], ref["p"])


def test_stratified_adjusted_colon_analysis_matches_r_survdiff_coxph_and_cox_zph(run_cli, colon_models):
    ref = REF["colon_strata_covariates"]
    doc = _run(run_cli, colon_models, ref["argv"])
    _check_logrank(doc, ref["logrank"])
    _check_cox(doc, ref["cox"])
    _check_zph(doc, ref["zph"])
    assert doc["model"]["dropped"] == ref["n_dropped"]
    assert any(f"{ref['n_dropped']} " in n and "NODES" in n for n in doc["notes"]), doc["notes"]


def test_two_strata_peto_weights_breslow_ties_and_a_chosen_reference_level_match_r(run_cli, colon_models):
    ref = REF["colon_two_strata_breslow"]
    doc = _run(run_cli, colon_models, ref["argv"], "colon-two-strata-breslow")
    _check_logrank(doc, ref["logrank"])
    _check_cox(doc, ref["cox"])
    _check_zph(doc, ref["zph"])
    assert {r["reference"] for r in doc["cox"] if r["term"] == "DIFFER"} == {"Poor"}


def test_quartiles_follow_up_and_rmst_contrasts_of_colon_match_r(run_cli, colon_models):
    ref = REF["colon_strata_covariates"]
    doc = _run(run_cli, colon_models, ref["argv"], "quartiles")
    for q in ref["quantiles"]:
        mine = sorted((r for r in doc["quantiles"] if r["arm"] == q["arm"]), key=lambda r: r["prob"])
        same([r["time"] for r in mine], q["time"])
        same([r["lower"] for r in mine], q["lower"])
        same([r["upper"] for r in mine], q["upper"])
    assert [f["group"] for f in doc["follow_up_median"]] == [f["group"] for f in ref["follow_up"]]
    for key in ("median", "lower", "upper"):
        same([f[key] for f in doc["follow_up_median"]], [f[key] for f in ref["follow_up"]])
    for key in ("tau", "difference", "diff_se", "diff_lower", "diff_upper", "diff_p", "ratio", "ratio_lower",
                "ratio_upper", "ratio_p"):
        same([c[key] for c in doc["rmst_contrasts"]], [c[key] for c in ref["rmst_contrasts"]])


def test_veteran_stratified_by_cell_type_flags_the_karnofsky_ph_violation(run_cli, veteran_workspace, tmp_path):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(veteran_workspace, ws)
    ref = REF["veteran_celltype_karno"]
    doc = _run(run_cli, ws, ref["argv"])
    _check_logrank(doc, ref["logrank"])
    _check_cox(doc, ref["cox"])
    _check_zph(doc, ref["zph"])
    assert any("proportional hazards" in n and "KARNO" in n for n in doc["notes"]), doc["notes"]


def test_competing_death_and_transplant_in_pbc_match_cmprsk_cuminc_and_grays_test(run_cli, pbc_workspace, tmp_path):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(pbc_workspace, ws)
    ref = REF["pbc_competing"]
    doc = _run(run_cli, ws, ref["argv"])
    comp = doc["competing"]
    assert comp["event_types"] == ref["event_types"]
    for c in ref["cif"]:
        mine = sorted((r for r in comp["cif_landmarks"] if r["arm"] == c["arm"] and r["event"] == c["event"]),
                      key=lambda r: r["time"])
        same([r["time"] for r in mine], c["time"])
        same([r["estimate"] for r in mine], c["estimate"])
        same([r["std_err"] ** 2 for r in mine], c["var"])
    gray = {g["event"]: g for g in comp["gray"]}
    same([gray[e]["chisq"] for e in ref["gray"]["event"]], ref["gray"]["chisq"])
    same([gray[e]["p"] for e in ref["gray"]["event"]], ref["gray"]["p"])


def test_subgroup_forest_hazard_ratios_and_interaction_p_match_r(run_cli, colon_models):
    ref = REF["colon_forest"]
    doc = _run(run_cli, colon_models, ref["argv"], "colon-forest")
    for f in ref["forest"]:
        mine = [r for r in doc["forest"] if r["variable"] == f["variable"] and r["level"] == f["level"]]
        assert [r["arm"] for r in mine] == f["arms"]
        same([r["hr"] for r in mine], f["hr"])
        same([r["lower"] for r in mine], f["lower"])
        same([r["upper"] for r in mine], f["upper"])
        same([r["p_interaction"] for r in mine], [f["p_interaction"]] * len(mine))


def test_built_in_trial_quartiles_follow_up_and_rmst_contrasts_match_r(run_cli, seed_workspace, tmp_path):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(seed_workspace, ws)
    ref = REF["seed_default"]
    doc = _run(run_cli, ws, [])
    for q in ref["quantiles"]:
        mine = sorted((r for r in doc["quantiles"] if r["arm"] == q["arm"]), key=lambda r: r["prob"])
        same([r["time"] for r in mine], q["time"])
        same([r["lower"] for r in mine], q["lower"])
        same([r["upper"] for r in mine], q["upper"])
    for key in ("median", "lower", "upper"):
        same([f[key] for f in doc["follow_up_median"]], [f[key] for f in ref["follow_up"]])
    for key in ("difference", "diff_se", "diff_p", "ratio", "ratio_lower", "ratio_upper", "ratio_p"):
        same([c[key] for c in doc["rmst_contrasts"]], [c[key] for c in ref["rmst_contrasts"]])


def test_an_analysis_plan_runs_the_stratified_adjusted_model_with_the_same_numbers(run_cli, colon_models, tmp_path):
    ref = REF["colon_strata_covariates"]
    plan = tmp_path / "plan.toml"
    plan.write_text('[[analysis]]\nname = "os-adjusted"\nstage = "survival"\n'
                    'options = { strata = ["SURG"], covariate = ["AGE", "SEX", "NODES"], forest = "SEX", plot = false }\n')
    result = run_cli(["run", plan, "-w", colon_models])
    assert result.exit_code == 0, result.stderr
    doc = json.loads((colon_models / "analyses" / "os-adjusted" / "survival.json").read_text())
    _check_logrank(doc, ref["logrank"])
    _check_cox(doc, ref["cox"])
    _check_zph(doc, ref["zph"])
    assert doc["forest"] and (colon_models / "analyses" / "os-adjusted" / "forest.parquet").exists()


def test_the_terminal_summary_shows_every_new_table_at_80_columns(run_cli, pbc_workspace, tmp_path):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(pbc_workspace, ws)
    result = run_cli(["survival", "--endpoint", "DTHTX", "--strata", "SEX", "--covariate", "AGE", "--forest", "SEX",
                      "--times", "3y,6y", "--no-plot", "-w", ws], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    for title in ("Follow-up and quartiles", "Comparisons, stratified by SEX", "RMST to", "Cox proportional hazards",
                  "Proportional hazards (cox.zph", "Hazard ratios by subgroup", "Cumulative incidence by event type",
                  "Gray's test, Death"):
        assert title in result.stdout, title
    assert max(len(line) for line in result.stdout.splitlines() if line.startswith(("┃", "│"))) <= 80


def test_a_plan_can_make_the_stratified_adjusted_model_the_primary_analysis_and_the_report_shows_it(run_cli, colon_workspace,
                                                                                                    tmp_path):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(colon_workspace, ws)
    assert run_cli(["survival", "--no-plot", "-w", ws]).exit_code == 0  # an unstratified primary first
    plan = tmp_path / "plan.toml"
    plan.write_text('[[analysis]]\nname = "survival"\nstage = "survival"\n'
                    'options = { strata = ["SURG"], covariate = ["AGE", "SEX", "NODES"], plot = false }\n')
    result = run_cli(["run", plan, "-w", ws])
    assert result.exit_code == 0, result.stderr
    doc = json.loads((ws / "survival" / "survival.json").read_text())
    _check_cox(doc, REF["colon_strata_covariates"]["cox"])
    assert run_cli(["report", "-w", ws]).exit_code == 0
    html = (ws / "report.html").read_text()
    assert "Stratified by SURG" in html and "Log-rank, stratified by SURG" in html
