"""Kaplan-Meier extras against R's survival package (3.5-3): every confidence-limit type, quartiles,
reverse-KM median follow-up, RMST contrasts.

Reference values come from tests/reference/make_km_extras_reference.R (run from the repository root:
``Rscript tests/reference/make_km_extras_reference.R``), which writes km_extras_r.json and
km_extras_km_r.csv for colon, veteran and pbc OS, the seed trial, the CDISC pilot TTDE and small edge
cases. The R calls, with TRT01A a factor in TRT01AN order (the first arm is the reference):

    fit <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data, conf.type = ct, conf.int = cl)
        # ct in log, log-log, plain, logit, arcsin; cl in 0.95, 0.90
    fit[i]$lower, fit[i]$upper                                            # the limits
    quantile(fit[i], probs = c(0.25, 0.5, 0.75), conf.int = TRUE)         # quartiles
    summary(fit[i])$table[c("median", LCL, UCL)]                          # print(fit)
    survfit(Surv(AVAL, CNSR) ~ 1 | TRT01A, data, conf.type = "log", conf.int = cl)   # reverse KM, print()
    survival:::survmean(fit[i], rmean = tau)                              # print(fit, rmean = tau)
    diff = r1 - r0, se = sqrt(s1^2 + s0^2), p = 2 pnorm(-|diff / se|); log(r1 / r0) with
    se = sqrt(s1^2 / r1^2 + s0^2 / r0^2)                                  # survRM2 rmst2's contrasts

Tolerance everywhere: rel=1e-6 (abs=1e-12 for values that are 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from r_reference import same

from trialkit.analyses.survival.followup import median_follow_up
from trialkit.analyses.survival.km import (CONF_TYPE_ALIASES, CONF_TYPES, derive_survival_data, km_landmarks,
                                           km_medians, km_quantiles, km_rmst, km_table, normalise_conf_type,
                                           resolve_settings, risk_table)
from trialkit.analyses.survival.rmst import rmst_contrasts
from trialkit.schemas.errors import DataError, UsageError

ROOT = Path(__file__).resolve().parents[1]
REF = Path(__file__).parent / "reference"
R = json.loads((REF / "km_extras_r.json").read_text())["datasets"]
R_KM = pl.read_csv(REF / "km_extras_km_r.csv", schema_overrides={"arm": pl.String})
EDGE = pl.concat([pl.read_csv(REF / "km_extras_edge_cases.csv"), pl.read_csv(REF / "survival_edge_cases.csv")])
R_TYPES = {"log": "log", "log-log": "log-log", "plain": "plain", "logit": "logit", "arcsin": "arcsine"}
CONFS = [f"{t}_{lv}" for t in R_TYPES for lv in ("0.95", "0.9")]
FIXTURES = {"colon": ROOT / "fixtures" / "r_datasets" / "colon", "veteran": ROOT / "fixtures" / "r_datasets" / "veteran",
            "pbc": ROOT / "fixtures" / "r_datasets" / "pbc", "seed": ROOT / "fixtures" / "seed_trial"}
DATASETS = ["colon", "veteran", "pbc", "seed", "pilot", *(k for k in R if k.startswith("edge_"))]
COMPARED = [k for k in DATASETS if k == "pilot" or len(R[k]["groups"]) > 1]


def _data(request, name: str) -> pl.DataFrame:
    groups = R[name]["groups"] if name in R else None
    if name == "pilot":
        ws = request.getfixturevalue("pilot_workspace")
        if "pilot" not in R:
            pytest.skip("km_extras_r.json was made without the CDISC pilot")
        return derive_survival_data(pl.read_parquet(ws / "adtte.parquet"), pl.read_parquet(ws / "adsl.parquet"), "TTDE",
                                    R["pilot"]["groups"])
    if name in FIXTURES:
        folder = FIXTURES[name]
        return derive_survival_data(pl.read_csv(folder / "adtte.csv"), pl.read_csv(folder / "adsl.csv"), "OS", groups)
    return (EDGE.filter(pl.col("CASE") == name.removeprefix("edge_"))
            .select("USUBJID", "TRT01A", pl.col("AVAL").cast(pl.Float64), pl.col("CNSR").cast(pl.Int64)))


@pytest.fixture(params=DATASETS)
def dataset(request):
    """(survival data, R reference, name) of every reference dataset."""
    return _data(request, request.param), R.get(request.param), request.param


@pytest.fixture(params=COMPARED)
def compared(request):
    """The datasets with two or more arms."""
    return _data(request, request.param), R.get(request.param), request.param


def _km(data, ref, conf):
    r_type, level = conf.rsplit("_", 1)
    return km_table(data, ref["groups"], r_type, float(level))


# ------------------------------------------------------------------ conf types
@pytest.mark.parametrize(("text", "canonical"), [
    ("log", "log"), ("LOG", "log"), ("log-log", "log-log"), ("LogLog", "log-log"), ("loglog", "log-log"),
    ("plain", "plain"), ("LINEAR", "plain"), ("logit", "logit"), ("Logit", "logit"), ("arcsine", "arcsine"),
    ("arcsin", "arcsine"), ("ASIN", "arcsine"), ("asinsqrt", "arcsine"), (" log-log ", "log-log"),
])
def test_conf_type_names_of_r_and_sas_in_any_case_normalise_to_canonical(text, canonical):
    assert normalise_conf_type(text) == canonical
    assert resolve_settings(None, text, None).conf_type == canonical
    assert resolve_settings(None, text, None).sources["conf_type"] == "option"


def test_every_alias_names_a_canonical_conf_type():
    assert CONF_TYPES == ("log", "log-log", "plain", "logit", "arcsine")
    assert set(CONF_TYPE_ALIASES.values()) == set(CONF_TYPES)
    assert all(CONF_TYPE_ALIASES[c] == c for c in CONF_TYPES)


@pytest.mark.parametrize("text", ["loglog2", "probit", "", "log log"])
def test_unknown_conf_type_is_a_usage_error_listing_the_accepted_names(text):
    with pytest.raises(UsageError, match="is not one of log, log-log, plain, logit, arcsine") as err:
        resolve_settings(None, text, None)
    assert "linear" in err.value.hint and "asinsqrt" in err.value.hint


def test_km_table_records_the_canonical_conf_type():
    data = _data(None, "seed")
    assert km_table(data, R["seed"]["groups"], "ArcSin")["conf_type"].unique().to_list() == ["arcsine"]


# ------------------------------------------------------------------ limits, quartiles, medians
@pytest.mark.parametrize("conf", CONFS)
def test_km_limits_match_survfit_for_every_conf_type(dataset, conf):
    data, ref, name = dataset
    r_type, level = conf.rsplit("_", 1)
    km = _km(data, ref, conf)
    assert km["conf_type"].unique().to_list() == [R_TYPES[r_type]]
    want = R_KM.filter((pl.col("dataset") == name) & (pl.col("conf_type") == r_type) & (pl.col("conf_level") == float(level)))
    for g in ref["groups"]:
        ours, theirs = km.filter(pl.col("arm") == g), want.filter(pl.col("arm") == g)
        for col in ("time", "survival", "lower", "upper"):
            same(ours[col].to_list(), theirs[col].to_list(), rel=1e-6)  # R written with 12 significant digits


@pytest.mark.parametrize("conf", CONFS)
def test_quartiles_and_their_limits_match_quantile_survfit(dataset, conf):
    data, ref, _ = dataset
    q = km_quantiles(_km(data, ref, conf))
    assert q.columns == ["arm", "prob", "time", "lower", "upper", "conf_type", "conf_level"]
    for g in ref["groups"]:
        part = q.filter(pl.col("arm") == g)
        assert part["prob"].to_list() == [0.25, 0.5, 0.75]
        for col in ("time", "lower", "upper"):
            same(part[col].to_list(), ref["conf"][conf]["quantiles"][g][col])


@pytest.mark.parametrize("conf", CONFS)
def test_median_and_its_ci_match_print_survfit_for_every_conf_type(dataset, conf):
    data, ref, _ = dataset
    medians = km_medians(_km(data, ref, conf))
    for g in ref["groups"]:
        row = medians.filter(pl.col("arm") == g).row(0, named=True)
        want = ref["conf"][conf]["medians"][g]
        same([row["median"], row["lower"], row["upper"]], [want["median"], want["lower"], want["upper"]])


@pytest.mark.parametrize("conf", CONFS)
def test_median_equals_the_half_quantile_wherever_r_prints_the_same(dataset, conf):
    data, ref, _ = dataset
    km = _km(data, ref, conf)
    medians, q = km_medians(km), km_quantiles(km, [0.5])
    for g in ref["groups"]:
        m, h = medians.filter(pl.col("arm") == g).row(0), q.filter(pl.col("arm") == g).select("time", "lower", "upper").row(0)
        r_print, r_q = ref["conf"][conf]["medians"][g], ref["conf"][conf]["quantiles"][g]
        for ours_m, ours_q, k in zip(m[1:], h, ("median", "lower", "upper")):
            if r_print[k] == r_q["time" if k == "median" else k][1]:
                assert ours_m == ours_q


def test_print_and_quantile_differ_where_r_does():
    # A curve ending (censored) at exactly 0.5: print() gives the time it got there, quantile() the midpoint
    # with the last time. A log upper limit that rises again below 0.5: print() takes the first time <= 0.5,
    # quantile() the time of the highest value <= 0.5.
    end = km_table(_data(None, "edge_end_at_half"), ["A", "B"], "log")
    assert km_medians(end)["median"].to_list()[0] == 2.0
    assert km_quantiles(end).filter(pl.col("arm") == "A")["time"].to_list() == [1.5, 3.0, None]
    assert km_quantiles(end).filter(pl.col("arm") == "B")["time"].to_list() == [2.5, None, None]
    turns = km_table(_data(None, "edge_upper_turns_back"), ["A", "B"], "log")
    assert km_medians(turns).row(0, named=True)["upper"] == 52.0
    assert km_quantiles(turns, [0.5]).row(0, named=True)["upper"] == 58.0


def test_exact_quartile_plateaus_give_their_midpoints():
    q = km_quantiles(km_table(_data(None, "edge_quartile_plateaus"), ["A", "B"], "log"))
    assert q.filter(pl.col("arm") == "A")["time"].to_list() == [1.5, 2.5, 3.5]
    assert q.filter(pl.col("arm") == "B")["time"].to_list() == [3.0, 5.0, 7.0]


@pytest.mark.parametrize("probs", [[1.5], [-0.1], [float("nan")], []])
def test_quantile_probabilities_outside_0_1_are_a_usage_error(probs):
    km = km_table(_data(None, "seed"), R["seed"]["groups"])
    with pytest.raises(UsageError, match="are not all between 0 and 1"):
        km_quantiles(km, probs)


# ------------------------------------------------------------------ follow-up
@pytest.mark.parametrize("level", ["0.95", "0.9"])
def test_median_follow_up_matches_reverse_kaplan_meier(dataset, level):
    data, ref, _ = dataset
    fu = median_follow_up(data, ref["groups"], float(level))
    assert fu.columns == ["group", "n", "median", "lower", "upper"]
    want = ref["followup"][level]
    assert fu["group"].to_list() == want["group"]
    assert fu["n"].to_list() == want["n"]
    for col in ("median", "lower", "upper"):
        same(fu[col].to_list(), want[col])


def test_median_follow_up_uses_log_limits_whatever_the_data():
    data = _data(None, "colon")
    groups = R["colon"]["groups"]
    fu = median_follow_up(data, groups)
    reverse = data.with_columns((1 - pl.col("CNSR")).alias("CNSR"))
    log = km_medians(km_table(reverse, groups, "log"))
    assert fu["lower"].to_list()[1:] == log["lower"].to_list()


def test_median_follow_up_lists_an_arm_without_subjects_with_n_0():
    fu = median_follow_up(_data(None, "seed"), [*R["seed"]["groups"], "Nobody"])
    assert fu.row(-1) == ("Nobody", 0, None, None, None)


def test_median_follow_up_refuses_cnsr_other_than_0_or_1():
    data = _data(None, "seed").with_columns(pl.when(pl.col("USUBJID") == "TK-SEED-001").then(2).otherwise(pl.col("CNSR"))
                                            .alias("CNSR"))
    with pytest.raises(DataError, match=r"column CNSR: 1 row\(s\) are neither 0 \(event\) nor 1 \(censored\): 2"):
        median_follow_up(data, R["seed"]["groups"])


# ------------------------------------------------------------------ RMST
def test_rmst_and_se_match_print_rmean(dataset):
    data, ref, _ = dataset
    rmst = km_rmst(km_table(data, ref["groups"]), ref["tau"])
    for g in ref["groups"]:
        row = rmst.filter(pl.col("arm") == g).row(0, named=True)
        same([row["rmst"], row["se"]], [ref["rmst"][g]["rmst"], ref["rmst"][g]["se"]])


def test_survfit_se_rmean_equals_survrm2_per_arm_formula():
    # R: survmean's se(rmean) against sqrt(sum A(t)^2 d / (Y (Y - d))) written out by hand, every dataset and arm
    for name, ref in R.items():
        for g, r in ref["rmst"].items():
            assert r["se"] == pytest.approx(r["se_by_hand"], rel=1e-12, abs=1e-15), (name, g)


@pytest.mark.parametrize("level", ["0.95", "0.9"])
def test_rmst_contrasts_match_rmst2_difference_and_ratio(compared, level):
    data, ref, _ = compared
    rmst = km_rmst(km_table(data, ref["groups"]), ref["tau"])
    out = rmst_contrasts(rmst, ref["reference"], float(level))
    assert out.columns == ["arm", "reference", "tau", "difference", "diff_se", "diff_lower", "diff_upper", "diff_p",
                           "ratio", "ratio_lower", "ratio_upper", "ratio_p"]
    want = ref["contrasts"][level]
    assert out["arm"].to_list() == want["arm"]
    assert set(out["reference"]) == {ref["reference"]} and set(out["tau"]) == {ref["tau"]}
    for col in ("difference", "diff_se", "diff_lower", "diff_upper", "diff_p", "ratio", "ratio_lower", "ratio_upper",
                "ratio_p"):
        same(out[col].to_list(), want[col])


def test_rmst_contrast_against_an_unknown_reference_is_a_usage_error():
    rmst = km_rmst(km_table(_data(None, "seed"), R["seed"]["groups"]), 730)
    with pytest.raises(UsageError, match="the reference arm 'Nobody' has no RMST") as err:
        rmst_contrasts(rmst, "Nobody")
    assert err.value.hint == f"choose one of: {', '.join(R['seed']['groups'])}"


def test_rmst_contrasts_with_the_reference_alone_are_an_empty_frame():
    rmst = km_rmst(km_table(_data(None, "seed"), R["seed"]["groups"][:1]), 730)
    assert rmst_contrasts(rmst, R["seed"]["groups"][0]).height == 0


