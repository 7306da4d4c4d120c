"""`trialkit biomarkers --model ancova|mmrm` end to end (CLI and plan) against R.

Reference values: tests/reference/ancova_r.json (make_ancova_reference.R: lm + car::Anova(type = 3) +
emmeans) and tests/reference/mmrm_r.json (make_mmrm_reference.R: nlme::gls + emmeans). The CLI derives
BASE and CHG itself (ABLFL), takes the ITT population and TRT01A groups; the R scripts start from the
delivered BASE, which is the same on these records.
"""

import json
import shutil

import pytest

from conftest import snapshot
from r_reference import same

from pathlib import Path

REF = Path(__file__).parent / "reference"
ANCOVA = json.loads((REF / "ancova_r.json").read_text())


@pytest.fixture(scope="module")
def seed_copy(seed_workspace, tmp_path_factory):
    """The session's built-in trial workspace must not change: these runs write to a copy."""
    ws = tmp_path_factory.mktemp("efficacy-seed") / "ws"
    shutil.copytree(seed_workspace, ws)
    return ws


@pytest.fixture(scope="module")
def pilot_copy(pilot_workspace, tmp_path_factory):
    ws = tmp_path_factory.mktemp("efficacy-pilot") / "ws"
    shutil.copytree(pilot_workspace, ws)
    return ws


def _efficacy(run_cli, ws, *args):
    result = run_cli(["biomarkers", "-w", ws, "--no-plot", "--format", "json", *args])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["efficacy"]


def _check_ancova(eff, ref):
    """LS means (equal weights), differences vs the reference (dunnettx), all pairs (Tukey), type III, dose."""
    same([r["estimate"] for r in eff["lsmeans"]], [r["estimate"] for r in ref["lsmeans_equal"]])
    same([r["se"] for r in eff["lsmeans"]], [r["se"] for r in ref["lsmeans_equal"]])
    same([r["lower"] for r in eff["lsmeans"]], [r["lower"] for r in ref["lsmeans_equal"]])
    vs = [r for r in eff["contrasts"] if r["comparison"] == "vs reference"]
    for key in ("estimate", "se", "t", "p", "lower", "upper"):
        same([r[key] for r in vs], [r[key] for r in ref["vs_reference_equal"]])
    same([r["p_adjusted"] for r in vs], [r["p_adjusted"] for r in ref["vs_reference_equal"]], rel=1e-6)
    pairs = [r for r in eff["contrasts"] if r["comparison"] == "pairwise"]
    same([r["estimate"] for r in pairs], [r["estimate"] for r in ref["pairwise_equal"]])
    same([r["p_adjusted"] for r in pairs], [r["p_adjusted"] for r in ref["pairwise_equal"]], rel=1e-6)
    assert [t["term"] for t in eff["tests"]] == [t["term"] for t in ref["tests"]]
    for key in ("num_df", "den_df", "f", "p"):
        same([t[key] for t in eff["tests"]], [t[key] for t in ref["tests"]])
    for key in ("estimate", "se", "df", "t", "p"):
        same([eff["dose"][0][key]], [ref["dose"][key]])


def test_ancova_of_the_built_in_trial_matches_lm_car_and_emmeans(seed_copy, run_cli):
    # R: lm(CHG ~ TRT01A + BASE + SEX) on ALB at Week 24; emmeans; lm(CHG ~ TRT01AN + BASE + SEX)
    eff = _efficacy(run_cli, seed_copy, "--param", "ALB", "--model", "ancova", "--covariate", "SEX")
    _check_ancova(eff, ANCOVA["seed"])
    assert eff["models"][0]["visit"] == "Week 24"  # the last scheduled visit, by default
    assert eff["models"][0]["impute"] == "observed cases"


def test_naming_base_as_a_covariate_changes_nothing(seed_copy, run_cli):
    eff = _efficacy(run_cli, seed_copy, "--param", "ALB", "--model", "ancova", "--covariate", "BASE", "--covariate",
                    "SEX", "--name", "alb-base-sex")
    _check_ancova(eff, ANCOVA["seed"])


def test_ancova_of_the_pilot_with_site_group_matches_r(pilot_copy, run_cli):
    # R: lm(CHG ~ TRTP + BASE + SITEGR1) on ADLBHY ALT at Week 24 (SITEGR1 a factor: 10 df)
    eff = _efficacy(run_cli, pilot_copy, "--param", "ALT", "--model", "ancova", "--covariate", "SITEGR1",
                    "--visit", "week 24")
    _check_ancova(eff, ANCOVA["pilot_observed"])
    assert eff["models"][0]["n_records"] == ANCOVA["pilot_observed"]["n_records"]


def test_ancova_with_locf_matches_r_on_independently_carried_records(pilot_copy, run_cli):
    # R: the Week 24 LOCF records built by a loop in make_ancova_reference.R, then the same lm/emmeans
    eff = _efficacy(run_cli, pilot_copy, "--param", "ALT", "--model", "ancova", "--covariate", "SITEGR1",
                    "--impute", "locf")
    _check_ancova(eff, ANCOVA["pilot_locf"])
    model = eff["models"][0]
    assert model["impute"] == "LOCF" and model["n_records"] == ANCOVA["pilot_locf"]["n_records"]
    assert 0 < model["n_locf"] < model["n_records"]


def test_efficacy_results_reach_the_ard_and_the_named_analysis_folder(seed_workspace, tmp_path, run_cli):
    ws = tmp_path / "ws"
    shutil.copytree(seed_workspace, ws)
    result = run_cli(["biomarkers", "-w", ws, "--no-plot", "--param", "ALB", "--model", "ancova"])
    assert result.exit_code == 0, result.stderr
    assert "LS mean change from baseline (ANCOVA, Week 24" in result.stdout
    import polars as pl

    ard = pl.read_parquet(ws / "ard.parquet").filter(pl.col("table").str.starts_with("efficacy_"))
    assert set(ard["table"].unique()) == {"efficacy_models", "efficacy_lsmeans", "efficacy_contrasts",
                                          "efficacy_tests", "efficacy_dose"}
    assert ard["method"].str.starts_with("ANCOVA of the change from baseline (CHG) at Week 24").all()
    folder = next((ws / "analyses").iterdir())
    assert (folder / "efficacy_lsmeans.parquet").exists() and not (folder / "efficacy_covariance.parquet").exists()


@pytest.mark.parametrize("args, message, code", [
    (["--model", "ancova"], "--model ancova needs the endpoint: name it with --param", 2),
    (["--param", "ALB", "--model", "ancova", "--visit", "Week 99"], "--visit 'Week 99' is not a scheduled post-baseline visit of ALB", 2),
    (["--param", "ALB", "--model", "ancova", "--covariate", "SEXX"], "--covariate SEXX: no such variable in ADLB or ADSL", 2),
    (["--param", "ALB", "--model", "ancova", "--covariate", "TRT01AN"], "ANCOVA design is singular: TRT01AN", 1),
    (["--param", "ALB", "--model", "mmrm", "--covariate", "TRT01AN"], "column TRT01AN is a linear combination", 1),
    (["--param", "ALB", "--model", "ancova", "--subgroup", "SEX=F", "--arm", "low", "--arm", "high"],
     "1 group(s) have records; an efficacy model compares two or more", 1),
])
def test_bad_efficacy_options_are_one_line_errors_that_change_nothing(seed_workspace, tmp_path, run_cli, args, message,
                                                                      code):
    ws = tmp_path / "ws"
    shutil.copytree(seed_workspace, ws)
    before = snapshot(ws)
    result = run_cli(["biomarkers", "-w", ws, "--no-plot", *args])
    assert result.exit_code == code
    first = result.stderr.strip().splitlines()[0]
    assert first.startswith("Error: ") and message in first, result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(ws) == before


MMRM = {f["id"]: f for f in json.loads((REF / "mmrm_r.json").read_text(), strict=False)["fits"]}


def _check_mmrm(eff, ref, ddfm):
    """LS means by visit and differences vs the reference at each visit, against gls + the reference's df."""
    ours = {(r["visit"], r["group"]): r for r in eff["lsmeans"]}
    theirs = {(r["visit"], r["group"]): r for r in eff["contrasts"]}
    if ddfm == "residual":
        # SAS DDFM=RESIDUAL and anova.gls: N - rank(X) for every test (emmeans' df.error for gls is one less)
        means, diffs = ref["lsmeans_emmeans_df_error"], ref["contrasts_emmeans_df_error"]
        tests = {t["term"]: t for t in eff["tests"]}
        for t in ref["anova_marginal"]:
            assert tests[t["term"]]["den_df"] == t["den_df"] and tests[t["term"]]["num_df"] == t["num_df"]
            same([tests[t["term"]]["f"], tests[t["term"]]["p"]], [t["f"], t["p"]], rel=1e-6)
    else:  # the exact Satterthwaite df written out in make_mmrm_reference.R (SAS DDFM=SATTERTHWAITE)
        means, diffs = ref["satterthwaite"]["lsmeans"], ref["satterthwaite"]["contrasts"]
        same([ours[(r["visit"], r["group"])]["df"] for r in means], [r["df"] for r in means], rel=1e-5)
        same([theirs[(r["visit"], r["group"])]["p"] for r in diffs], [r["p"] for r in diffs], rel=1e-5)
        for r in means:  # limits near 0: to 1e-6 of the SE
            for key in ("lower", "upper"):
                assert ours[(r["visit"], r["group"])][key] == pytest.approx(r[key], abs=1e-6 * r["se"])
    assert len(ours) == len(means)
    # estimates to 1e-6 of their SE (an LS mean can be near 0), SEs to 1e-6 relative
    for mine, ref_rows in ((ours, means), (theirs, diffs)):
        for r in ref_rows:
            got = mine[(r["visit"], r["group"])]
            assert got["estimate"] == pytest.approx(r["estimate"], abs=1e-6 * r["se"])
            assert got["se"] == pytest.approx(r["se"], rel=1e-6)


@pytest.mark.parametrize("ddfm", ["satterthwaite", "residual"])
def test_mmrm_of_the_built_in_trial_matches_gls_and_emmeans(seed_copy, run_cli, ddfm):
    # R: gls(CHG ~ BASE + ARM * AVISIT, correlation = corCompSymm(form = ~ vis | USUBJID), method = "REML")
    eff = _efficacy(run_cli, seed_copy, "--param", "ALB", "--model", "mmrm", "--cov", "cs", "--ddfm", ddfm)
    ref = MMRM["seed_alb_cs"]
    _check_mmrm(eff, ref, ddfm)
    model = eff["models"][0]
    assert model["converged"] and model["n_records"] == ref["n_records"] and model["n_subjects"] == ref["n_subjects"]
    assert model["loglik_reml"] == pytest.approx(ref["loglik_reml"], rel=1e-8)


@pytest.mark.parametrize("cov", ["cs", "ar1"])
def test_mmrm_of_the_pilot_matches_gls_with_satterthwaite_df(pilot_copy, run_cli, cov):
    # R: gls(CHG ~ BASE + ARM * AVISIT, correlation = corCompSymm / corAR1(form = ~ vis | USUBJID)) on ADLBHY ALT
    eff = _efficacy(run_cli, pilot_copy, "--param", "ALT", "--model", "mmrm", "--cov", cov, "--ddfm",
                    "satterthwaite")
    ref = MMRM[f"pilot_alt_{cov}"]
    _check_mmrm(eff, ref, "satterthwaite")
    model = eff["models"][0]
    assert model["n_records"] == ref["n_records"] and model["n_dropped"] == ref["n_dropped"]
    assert {r["row_visit"] for r in eff["covariance"]} >= {"Week 2", "Week 24"}


def test_a_plan_runs_the_pilot_efficacy_models_with_the_numbers_of_the_commands(pilot_copy, tmp_path, run_cli):
    # the same models as above, from an analysis plan: ANCOVA with site group, MMRM (cs, Satterthwaite)
    plan = tmp_path / "efficacy.toml"
    plan.write_text('[[analysis]]\nname = "alt-ancova"\nstage = "biomarkers"\n'
                    'options = { param = "ALT", model = "ancova", covariate = ["SITEGR1"], plot = false }\n\n'
                    '[[analysis]]\nname = "alt-mmrm"\nstage = "biomarkers"\n'
                    'options = { param = "ALT", model = "mmrm", cov = "cs", ddfm = "satterthwaite", plot = false }\n')
    result = run_cli(["run", plan, "--workspace", pilot_copy])
    assert result.exit_code == 0, result.stderr
    ancova = json.loads((pilot_copy / "analyses" / "alt-ancova" / "biomarkers.json").read_text())["efficacy"]
    _check_ancova(ancova, ANCOVA["pilot_observed"])
    mmrm = json.loads((pilot_copy / "analyses" / "alt-mmrm" / "biomarkers.json").read_text())["efficacy"]
    _check_mmrm(mmrm, MMRM["pilot_alt_cs"], "satterthwaite")
