"""The Cox engine and model against R's coxph (survival 3.5-3), coefficient by coefficient.

Reference values: tests/reference/make_cox_reference.R (run from the repository root:
``Rscript tests/reference/make_cox_reference.R``) writes cox_r.json. Each case records its R call, e.g.

    coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A + SEX + EXTENT + NODES + strata(SURG), data, ties = "efron" | "breslow")

and from it coef(fit), sqrt(diag(vcov(fit))), summary(fit)$conf.int, summary(fit)$coefficients[, 5],
fit$loglik, and summary(fit)'s likelihood-ratio, Wald and score (log-rank) tests (unrounded).
Tolerance: rel=1e-6.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from r_reference import same

from trialkit.analyses.survival.cox import (COX_COLUMNS, COX_TERM_COLUMNS, COX_TEST_COLUMNS, cox_by_group,
                                            cox_model)
from trialkit.analyses.survival.coxfit import CoxProblem, cox_information, fit_cox
from trialkit.analyses.survival.km import derive_survival_data
from trialkit.analyses.survival.modeldata import attach_variables, locate_variables, model_data, parse_covariate

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((Path(__file__).parent / "reference" / "cox_r.json").read_text())
CASES = REF["cases"]
STATS = ("coef", "se", "hr", "lower", "upper", "p")


def _datasets(request, name: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    if name == "pilot":
        ws = request.getfixturevalue("pilot_workspace")
        return pl.read_parquet(ws / "adtte.parquet"), pl.read_parquet(ws / "adsl.parquet")
    folder = ROOT / "fixtures" / ("seed_trial" if name == "seed" else f"r_datasets/{name}")
    return pl.read_csv(folder / "adtte.csv", infer_schema_length=None), pl.read_csv(folder / "adsl.csv",
                                                                                      infer_schema_length=None)


def _model(request, key: str):
    case = CASES[key]
    adtte, adsl = _datasets(request, case["data"])
    groups = case["groups"]
    covariates = [parse_covariate(c) for c in case["covariates"]]
    variables = [*case["strata"], *(c.name for c in covariates)]
    data = derive_survival_data(adtte, adsl, case["paramcd"], groups)
    if variables:
        data = attach_variables(data, adtte, adsl, case["paramcd"], variables)
    return model_data(data, groups, groups[0], case["strata"], covariates, locate_variables(adtte, adsl, variables))


@pytest.fixture(params=list(CASES) + ([] if "pilot_ttde" in CASES else ["pilot_ttde"]))
def case(request):
    if request.param not in CASES:
        pytest.skip("cox_r.json has no pilot case (the pilot was absent when it was made)")
    return request.param, CASES[request.param], _model(request, request.param)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_model_coefficients_match_coxph(case, ties):
    key, ref, md = case
    terms = cox_model(md, ties).terms
    want = ref[ties]["terms"]
    got = terms.filter(pl.col("estimable"))
    assert [(r["term"], r["level"]) for r in got.iter_rows(named=True)] == [(w["term"], w.get("level")) for w in want], \
        ref["call"]
    for row, w in zip(got.iter_rows(named=True), want):
        same([row[c] for c in STATS], [w[c] for c in STATS])


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_model_loglik_and_global_tests_match_summary_coxph(case, ties):
    key, ref, md = case
    res = cox_model(md, ties)
    r = ref[ties]
    same([res.fit.loglik_null, res.fit.loglik], r["loglik"])
    tests = {t["test"]: t for t in res.tests.iter_rows(named=True)}
    for name, k in (("likelihood ratio", "lr"), ("Wald", "wald"), ("score (log-rank)", "score")):
        same([tests[name]["chisq"], tests[name]["p"]], [r["tests"][k]["chisq"], r["tests"][k]["p"]])
        assert tests[name]["df"] == r["tests"][k]["df"]
        assert (tests[name]["n"], tests[name]["events"]) == (r["n"], r["events"])


def test_cox_model_frames_have_fixed_columns():
    data = derive_survival_data(*_datasets(None, "seed"), "OS", CASES["seed_trt"]["groups"])
    res = cox_model(model_data(data, CASES["seed_trt"]["groups"], "Low dose"))
    assert res.terms.schema == pl.Schema(COX_TERM_COLUMNS)
    assert res.tests.schema == pl.Schema(COX_TEST_COLUMNS)
    assert res.tests["test"].to_list() == ["likelihood ratio", "Wald", "score (log-rank)"]
    assert cox_by_group(data, CASES["seed_trt"]["groups"], "Low dose").schema == pl.Schema(COX_COLUMNS)


def test_arm_without_events_is_fitted_as_the_limit_without_it():
    # R (the reference): coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A, subset = !TRT01A %in% c("Medium dose"))
    ref = CASES["seed_trt"]
    assert ref["no_events"] == ["Medium dose"]
    data = derive_survival_data(*_datasets(None, "seed"), "OS", ref["groups"])
    res = cox_model(model_data(data, ref["groups"], ref["groups"][0]))
    medium = res.terms.filter(pl.col("level") == "Medium dose").row(0, named=True)
    assert medium["estimable"] is False
    assert medium["reason"] == "no events in Medium dose: its hazard ratio is 0 (monotone likelihood), not estimable"
    assert "fitted without Medium dose (no events): the limit of the MLE" in res.notes


def test_stratified_model_reports_its_strata_in_the_tests():
    md = _model(None, "colon_strata_surg_sex")
    assert set(md.frame["_stratum"].unique()) == {"SURG=Long, SEX=F", "SURG=Long, SEX=M", "SURG=Short, SEX=F",
                                                  "SURG=Short, SEX=M"}
    assert cox_model(md).tests["strata"].unique().to_list() == ["strata(SURG, SEX)"]


# ------------------------------------------------------------------ the engine
def _synthetic(n=400, seed=3):
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.integers(0, 2, n), rng.normal(size=n)])
    t = np.ceil(rng.exponential(10 * np.exp(-0.5 * x[:, 0] - 0.3 * x[:, 1])))
    return t, (rng.random(n) < 0.7).astype(float), x, rng.integers(0, 3, n)


def test_fit_cox_does_not_depend_on_row_order():
    t, e, x, s = _synthetic()
    perm = np.random.default_rng(0).permutation(len(t))
    a = fit_cox(t, e, x, s, "efron")
    b = fit_cox(t[perm], e[perm], x[perm], s[perm], "efron")
    np.testing.assert_allclose(b.coef, a.coef, rtol=1e-10)
    np.testing.assert_allclose(b.var, a.var, rtol=1e-10)


def test_fit_cox_score_is_zero_and_information_inverts_var_at_the_mle():
    t, e, x, s = _synthetic()
    fit = fit_cox(t, e, x, s, "breslow")
    loglik, score, info = cox_information(t, e, x, fit.coef, s, "breslow")
    assert loglik == pytest.approx(fit.loglik, rel=1e-12)
    assert np.abs(score).max() < 1e-8
    np.testing.assert_allclose(np.linalg.inv(info), fit.var, rtol=1e-10)


def test_efron_and_breslow_agree_without_tied_deaths():
    t, e, x, s = _synthetic()
    t = t + np.arange(len(t)) * 1e-6  # all times distinct
    a, b = fit_cox(t, e, x, s, "efron"), fit_cox(t, e, x, s, "breslow")
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-12)


def test_aliased_column_gets_nan_like_coxph_na():
    # R: coxph(Surv(t, e) ~ x1 + x2 + I(2 * x1)) gives NA for the third coefficient
    t, e, x, _ = _synthetic()
    fit = fit_cox(t, e, np.column_stack([x, 2 * x[:, 0]]))
    alone = fit_cox(t, e, x)
    assert fit.aliased.tolist() == [False, False, True] and np.isnan(fit.coef[2]) and fit.df == 2
    np.testing.assert_allclose(fit.coef[:2], alone.coef, rtol=1e-12)


def test_fit_cox_without_events_raises_cox_problem():
    t, _, x, _ = _synthetic()
    with pytest.raises(CoxProblem, match="no events"):
        fit_cox(t, np.zeros(len(t)), x)


def test_fit_cox_survives_huge_linear_predictors():
    t, e, x, _ = _synthetic()
    fit = fit_cox(t, e, x * 1e3)  # eta in the hundreds: exp would overflow uncentred
    assert fit.converged and np.all(np.isfinite(fit.coef))


def test_polish_moves_past_r_stopping_point_towards_the_exact_mle():
    t, e, x, s = _synthetic()
    r_like, polished = fit_cox(t, e, x, s), fit_cox(t, e, x, s, polish=True)
    assert np.abs(polished.score).max() <= np.abs(r_like.score).max()
    np.testing.assert_allclose(polished.coef, r_like.coef, rtol=1e-6)
