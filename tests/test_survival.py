"""The survival analyses against R's survival package (3.5-3), number by number.

Reference values come from tests/reference/make_survival_reference.R (run from
the repository root: ``Rscript tests/reference/make_survival_reference.R``),
which writes survival_{pilot,seed,edge}_r.json. The R calls, per dataset, with
TRT01A a factor in TRT01AN order:

    fit <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data, conf.type = ct, conf.int = cl)
    summary(fit[i], times = times, extend = TRUE); summary(fit[i])$table   # landmarks, median
    survival:::survmean(fit[i], rmean = tau)                                # print(fit, rmean = tau)
    survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A, data, rho = 0 | 1)            # obs, exp, var, chisq
    p.adjust(p, method = "holm")                                            # pairwise survdiff
    coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A, data, ties = "efron" | "breslow")

Tolerance everywhere: rel=1e-6 (abs=1e-12 for values that are 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from r_reference import same

from trialkit.schemas.errors import DataError, UsageError
from trialkit.analyses.survival.km import (derive_survival_data, km_landmarks, km_medians, km_rmst, km_table,
                                        resolve_settings, risk_table, select_endpoint)
from trialkit.analyses.timescale import parse_time, parse_times
from trialkit.analyses.survival.cox import cox_by_group
from trialkit.analyses.survival.figure import render_km_figure, time_axis
from trialkit.analyses.survival.compare import holm, logrank_test, pairwise_logrank, trend_test

ROOT = Path(__file__).resolve().parents[1]
REF = Path(__file__).parent / "reference"
PILOT_R = json.loads((REF / "survival_pilot_r.json").read_text())
SEED_R = json.loads((REF / "survival_seed_r.json").read_text())
EDGE_R = json.loads((REF / "survival_edge_r.json").read_text())["cases"]
EDGE = pl.read_csv(REF / "survival_edge_cases.csv")
CONFS = ["log_0.95", "log-log_0.95", "plain_0.95", "log_0.9"]
MULTI = ["pilot", "seed", *(c for c, r in EDGE_R.items() if len(r["groups"]) > 1)]


def _seed_data() -> pl.DataFrame:
    tte = pl.read_csv(ROOT / "fixtures" / "seed_trial" / "adtte.csv")
    sl = pl.read_csv(ROOT / "fixtures" / "seed_trial" / "adsl.csv")
    return derive_survival_data(tte, sl, "OS", SEED_R["groups"])


def _edge_data(case: str) -> pl.DataFrame:
    return (EDGE.filter(pl.col("CASE") == case)
            .select("USUBJID", "TRT01A", pl.col("AVAL").cast(pl.Float64), pl.col("CNSR").cast(pl.Int64)))


def _load(request, name: str):
    """(analysis frame, R reference) of one dataset; the pilot comes from the ingested workspace."""
    if name == "pilot":
        ws = request.getfixturevalue("pilot_workspace")
        data = derive_survival_data(pl.read_parquet(ws / "adtte.parquet"), pl.read_parquet(ws / "adsl.parquet"), "TTDE",
                                    PILOT_R["groups"])
        return data, PILOT_R
    if name == "seed":
        return _seed_data(), SEED_R
    return _edge_data(name), EDGE_R[name]


@pytest.fixture(params=["pilot", "seed", *EDGE_R])
def dataset(request):
    """The pilot, the built-in trial and every edge case."""
    return _load(request, request.param)


@pytest.fixture(params=MULTI)
def compared(request):
    """The datasets with two or more groups (where tests and Cox exist)."""
    return _load(request, request.param)


# ------------------------------------------------------------------ Kaplan-Meier
@pytest.mark.parametrize("conf", CONFS)
def test_km_table_matches_survfit(dataset, conf):
    data, ref = dataset
    conf_type, level = conf.rsplit("_", 1)
    km = km_table(data, ref["groups"], conf_type, float(level))
    for g in ref["groups"]:
        part = km.filter(pl.col("arm") == g)
        for col in ("time", "n_risk", "n_event", "n_censor", "survival", "std_err", "std_err_log", "lower", "upper"):
            same(part[col].to_list(), ref["conf"][conf]["km"][g][col])


@pytest.mark.parametrize("conf", CONFS)
def test_landmarks_match_summary_times_extend(dataset, conf):
    data, ref = dataset
    conf_type, level = conf.rsplit("_", 1)
    marks = km_landmarks(km_table(data, ref["groups"], conf_type, float(level)), ref["times"])
    for g in ref["groups"]:
        part = marks.filter(pl.col("arm") == g)
        for col in ("time", "n_risk", "survival", "std_err", "lower", "upper"):
            same(part[col].to_list(), ref["conf"][conf]["landmarks"][g][col])


@pytest.mark.parametrize("conf", CONFS)
def test_median_and_its_ci_match_print_survfit(dataset, conf):
    data, ref = dataset
    conf_type, level = conf.rsplit("_", 1)
    medians = km_medians(km_table(data, ref["groups"], conf_type, float(level)))
    for g in ref["groups"]:
        row = medians.filter(pl.col("arm") == g).row(0, named=True)
        want = ref["conf"][conf]["medians"][g]
        same([row["median"], row["lower"], row["upper"]], [want["median"], want["lower"], want["upper"]])


def test_rmst_and_se_match_print_rmean(dataset):
    data, ref = dataset
    rmst = km_rmst(km_table(data, ref["groups"]), ref["tau"])
    for g in ref["groups"]:
        row = rmst.filter(pl.col("arm") == g).row(0, named=True)
        same([row["rmst"], row["se"]], [ref["rmst"][g]["rmst"], ref["rmst"][g]["se"]])


def test_risk_table_matches_summary_counts(dataset):
    data, ref = dataset
    table = risk_table(km_table(data, ref["groups"]), ref["grid"])
    for g in ref["groups"]:
        part = table.filter(pl.col("arm") == g)
        for col in ("time", "n_risk", "cum_events", "cum_censored"):
            same(part[col].to_list(), ref["risk_table"][g][col])


def test_median_on_an_exact_half_plateau_is_its_midpoint():
    # A: S = 0.75 at 1, 0.5 on [2, 4), 0 at 4: R's print(fit) gives median (2 + 4) / 2 = 3.
    medians = km_medians(km_table(_edge_data("median_flat"), ["A", "B"], "log"))
    assert medians.filter(pl.col("arm") == "A")["median"].item() == 3.0
    assert EDGE_R["median_flat"]["conf"]["log_0.95"]["medians"]["A"]["median"] == 3


def test_time_zero_events_start_the_curve_below_one():
    km = km_table(_edge_data("time_zero"), ["A", "B"], "log-log")
    first = km.filter(pl.col("arm") == "A").row(0, named=True)
    assert (first["time"], first["n_risk"], first["n_event"], first["n_censor"]) == (0.0, 5, 1, 1)
    assert first["survival"] == pytest.approx(0.8, rel=1e-12)
    at0 = km_landmarks(km, [0.0]).filter(pl.col("arm") == "A").row(0, named=True)
    assert at0["survival"] == pytest.approx(0.8, rel=1e-12)  # summary(fit, times = 0) includes the day-0 events


def test_all_censored_curve_stays_at_one_without_limits_on_log_log():
    km = km_table(_edge_data("all_censored"), ["A", "B"], "log-log")
    assert km["survival"].to_list() == [1.0] * km.height
    assert km["lower"].null_count() == km.height  # R: NA where S = 1 on the log-log scale
    assert km_medians(km)["median"].to_list() == [None, None]


def test_single_subject_with_an_event_drops_to_zero_with_undefined_se():
    km = km_table(_edge_data("single_subject"), ["A"], "log")
    row = km.row(0, named=True)
    assert (row["time"], row["n_risk"], row["survival"]) == (7.0, 1, 0.0)
    assert row["std_err"] is None and row["lower"] is None  # R: std.err Inf, surv * Inf = NaN, log CI NA
    assert km_medians(km)["median"].item() == 7.0


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("rho", [0, 1])
def test_logrank_matches_survdiff(compared, rho):
    data, ref = compared
    want = ref[f"rho_{rho}"]["logrank"]
    res = logrank_test(data, ref["groups"], rho)
    same([res.chisq, res.p], [want["chisq"], want["p"]])
    assert res.df == want["df"]
    same(res.observed, want["observed"])
    same(res.expected, want["expected"])
    same([v for row in res.variance for v in row], [v for row in want["var"] for v in row])


@pytest.mark.parametrize("rho", [0, 1])
def test_pairwise_logrank_and_holm_match_p_adjust(compared, rho):
    data, ref = compared
    table = pairwise_logrank(data, ref["groups"], rho)
    want = ref[f"rho_{rho}"]["pairwise"]
    assert table.select("arm_a", "arm_b").rows() == [(w["arm_a"], w["arm_b"]) for w in want]
    for col in ("chisq", "p", "p_holm"):
        same(table[col].to_list(), [w[col] for w in want])


@pytest.mark.parametrize("rho", [0, 1])
def test_trend_test_matches_score_statistic_from_survdiff(compared, rho):
    data, ref = compared
    want = ref[f"rho_{rho}"]["trend"]
    res = trend_test(data, ref["groups"], ref["scores"], rho)
    same([res.u, res.var, res.chisq, res.p], [want["u"], want["var"], want["chisq"], want["p"]])


def test_holm_matches_p_adjust_hand_example():
    # p.adjust(c(0.01, 0.04, 0.03, NA), "holm") = 0.03 0.06 0.06 NA
    adjusted = holm([0.01, 0.04, 0.03, None])
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06], rel=1e-12)
    assert adjusted[3] is None


def test_logrank_needs_two_groups():
    with pytest.raises(DataError, match="a log-rank test needs two groups, but only 1 was given"):
        logrank_test(_edge_data("one_group"), ["A"])


def test_all_censored_has_no_logrank():
    res = logrank_test(_edge_data("all_censored"), ["A", "B"])
    assert (res.chisq, res.p, res.df) == (None, None, -1)
    assert "nothing to compare" in res.reason


# ------------------------------------------------------------------ Cox
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_matches_coxph(compared, ties):
    data, ref = compared
    table = cox_by_group(data, ref["groups"], ref["groups"][0], ties)
    want = ref["cox"][ties]
    assert table["arm"].to_list() == [w["arm"] for w in want]
    for row, w in zip(table.iter_rows(named=True), want):
        assert row["estimable"] == w["estimable"], (row, w)
        if w["estimable"]:
            same([row[c] for c in ("coef", "se", "hr", "lower", "upper", "p")],
                 [w[c] for c in ("coef", "se", "hr", "lower", "upper", "p")])
        else:
            assert row["hr"] is None and row["reason"]


def test_cox_arm_without_events_is_not_estimable_and_others_fit_without_it():
    table = cox_by_group(_edge_data("no_events_group"), ["A", "B", "C"], "A", "efron")
    c = table.filter(pl.col("arm") == "C").row(0, named=True)
    assert c["estimable"] is False and c["hr"] is None
    assert c["reason"] == "no events in C: its hazard ratio is 0 (monotone likelihood), not estimable"
    b = table.filter(pl.col("arm") == "B").row(0, named=True)
    assert b["estimable"] is True and b["reason"] == "fitted without C (no events): the limit of the MLE"


def test_cox_reference_without_events_makes_every_ratio_not_estimable():
    table = cox_by_group(_edge_data("all_censored"), ["A", "B"], "A", "efron")
    assert table.select("estimable", "reason").rows() == [
        (False, "no events in the reference arm A: every hazard ratio against it is infinite")]


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_separation_is_reported_like_coxph_warning(ties):
    # R: coxph warns "Loglik converged before variable 1; coefficient may be infinite."
    assert EDGE_R["separation"]["cox"][ties][0]["estimable"] is False
    row = cox_by_group(_edge_data("separation"), ["A", "B"], "A", ties).row(0, named=True)
    assert row["estimable"] is False and row["hr"] is None
    assert row["reason"].startswith("monotone likelihood (separation) for B")


# ------------------------------------------------------------------ options
def test_parse_times_accepts_days_weeks_months_years():
    assert parse_times("182,730") == [182.0, 730.0]
    assert parse_times("6m,2y") == [182.625, 730.5]
    assert parse_times("26w") == [182.0]
    assert parse_times("2y, 6M ,182") == [182.0, 182.625, 730.5]


def test_parse_times_refuses_other_text():
    with pytest.raises(UsageError, match="--times value '6 months' is not a time"):
        parse_times("6 months")
    with pytest.raises(UsageError, match="--rmst-tau value '-3' is not a time"):
        parse_time("-3", "--rmst-tau")


def test_settings_explicit_options_win_over_parity_over_defaults():
    assert (resolve_settings(None, None, None).conf_type, resolve_settings(None, None, None).ties) == ("log-log", "efron")
    r = resolve_settings("r", None, None)
    assert (r.conf_type, r.ties, r.sources) == ("log", "efron", {"conf_type": "parity r", "ties": "parity r"})
    sas = resolve_settings("sas", "plain", None)
    assert (sas.conf_type, sas.ties, sas.sources) == ("plain", "breslow", {"conf_type": "option", "ties": "parity sas"})


def test_endpoint_is_the_only_one_or_os_else_a_usage_error_listing_them():
    two = pl.DataFrame({"PARAMCD": ["PFS", "TTDE"]})
    assert select_endpoint(pl.DataFrame({"PARAMCD": ["TTDE"]}), None) == "TTDE"
    assert select_endpoint(pl.DataFrame({"PARAMCD": ["PFS", "OS"]}), None) == "OS"
    with pytest.raises(UsageError, match="ADTTE holds several endpoints and none is OS: PFS, TTDE"):
        select_endpoint(two, None)
    with pytest.raises(UsageError, match="--endpoint 'XX' is not a PARAMCD of ADTTE") as err:
        select_endpoint(two, "XX")
    assert err.value.hint == "ADTTE holds: PFS, TTDE"


# ------------------------------------------------------------------ figure
def test_time_axis_is_months_beyond_a_year_else_days():
    assert (time_axis(198).unit, time_axis(198).step, time_axis(198).breaks_days) == ("days", 30.0, [0, 30, 60, 90, 120, 150, 180])
    assert (time_axis(9).step, time_axis(9).breaks_days) == (2.0, [0, 2, 4, 6, 8])
    months = time_axis(740)
    assert (months.unit, months.step) == ("months", 6.0)
    assert months.breaks_days == pytest.approx([0, 182.625, 365.25, 547.875, 730.5], rel=1e-12)


def test_km_figure_renders_png_and_svg_deterministically():
    data = _seed_data()
    km = km_table(data, SEED_R["groups"])
    arms = pl.DataFrame({"arm": SEED_R["groups"], "n": [8, 8, 8]})
    axis = time_axis(740)
    risk = risk_table(km, axis.breaks_days)
    first = render_km_figure(km, arms, risk, axis, p_label="Log-rank p = 0.333", bands=True)
    second = render_km_figure(km, arms, risk, axis, p_label="Log-rank p = 0.333", bands=True)
    assert first["png"].startswith(b"\x89PNG") and b"<svg" in first["svg"][:500]
    assert first == second
