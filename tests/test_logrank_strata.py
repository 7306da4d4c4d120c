"""Stratified log-rank, G-rho and Fleming-Harrington(rho, gamma) tests against R, number by number.

Reference values come from tests/reference/make_logrank_reference.R (run from the
repository root: ``Rscript tests/reference/make_logrank_reference.R``), which writes
logrank_r.json: colon (3 arms; no strata, strata(SURG), strata(SURG, SEX)), veteran
(strata(CELLTYPE)), pbc OS (strata(SEX)), the built-in trial (strata(SEX)) and the CDISC
pilot TTDE (strata(SEX), strata(AGEGR1)), each with (rho, gamma) = (0, 0), (1, 0), (0, 1),
(1, 1), (0.5, 0.5). The R calls, with TRT01A a factor in TRT01AN order:

    survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A + strata(SURG, SEX), data, rho = rho)   # gamma = 0
        chisq, pvalue, rowSums(obs), rowSums(exp), var; df = sum(rowSums(exp) > 0) - 1
    fh_test(data, groups, c("SURG", "SEX"), rho, gamma)                              # gamma > 0
        the script's Fleming-Harrington statistic from survfit(Surv(AVAL, 1 - CNSR) ~ 1) of
        each stratum, checked there (stopifnot) to reproduce survdiff for gamma = 0
    p.adjust(p, method = "holm")          over survdiff / fh_test on each pair of arms alone
    U = sum(s * (O - E)); V = t(s) %*% var %*% s; chisq = U^2 / V                   # s = TRT01AN

Tolerance everywhere: rel=1e-6 (abs=1e-12 for values that are 0).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from r_reference import same

from trialkit.analyses.survival.compare import (LOGRANK_SCHEMA, PAIRWISE_SCHEMA, TREND_SCHEMA, logrank_test,
                                                pairwise_logrank, parse_fh, trend_test, weighted_test_name)
from trialkit.analyses.survival.km import derive_survival_data
from trialkit.schemas.errors import DataError, UsageError

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((Path(__file__).parent / "reference" / "logrank_r.json").read_text())
CASES = REF["cases"]
COVARIATES = {"colon": ["SURG", "SEX"], "veteran": ["CELLTYPE"], "pbc": ["SEX"], "seed": ["SEX"], "pilot": ["SEX", "AGEGR1"]}
FOLDERS = {"colon": ROOT / "fixtures" / "r_datasets" / "colon", "veteran": ROOT / "fixtures" / "r_datasets" / "veteran",
           "pbc": ROOT / "fixtures" / "r_datasets" / "pbc", "seed": ROOT / "fixtures" / "seed_trial"}


def _case_id(case: dict) -> str:
    strata = "+".join(case["strata"]) or "unstratified"
    return f"{case['dataset']}-{strata}-rho{case['rho']:g}-gamma{case['gamma']:g}"


def _with_stratum(data: pl.DataFrame, adsl: pl.DataFrame, strata: list[str]) -> pl.DataFrame:
    """The analysis frame plus ``_stratum`` ("SURG=Long, SEX=M"), subjects without a stratum left out, as the
    survival stage does."""
    if not strata:
        return data
    out = data.join(adsl.select("USUBJID", *strata), on="USUBJID", how="left").drop_nulls(strata)
    parts = []
    for i, v in enumerate(strata):
        parts += [pl.lit(("" if i == 0 else ", ") + f"{v}="), pl.col(v).cast(pl.String)]
    return out.with_columns(pl.concat_str(parts).alias("_stratum"))


_LOADED: dict[str, tuple[pl.DataFrame, pl.DataFrame]] = {}


def _load(request, case: dict) -> pl.DataFrame:
    name = case["dataset"]
    if name not in _LOADED:
        if name == "pilot":
            ws = request.getfixturevalue("pilot_workspace")
            tte, sl, endpoint = pl.read_parquet(ws / "adtte.parquet"), pl.read_parquet(ws / "adsl.parquet"), "TTDE"
        else:
            tte = pl.read_csv(FOLDERS[name] / "adtte.csv")
            sl = pl.read_csv(FOLDERS[name] / "adsl.csv", infer_schema_length=None)
            endpoint = "OS"
        _LOADED[name] = (derive_survival_data(tte, sl, endpoint, case["groups"]), sl.select("USUBJID", *COVARIATES[name]))
    data, adsl = _LOADED[name]
    out = _with_stratum(data, adsl, case["strata"])
    assert out.height == case["n"]
    return out


@pytest.fixture(params=CASES, ids=[_case_id(c) for c in CASES])
def case(request):
    """(analysis frame with _stratum, strata column or None, R reference) of one case."""
    ref = request.param
    return _load(request, ref), ("_stratum" if ref["strata"] else None), ref


# ------------------------------------------------------------------ against R
def test_stratified_weighted_logrank_matches_survdiff_and_fh(case):
    data, strata, ref = case
    res = logrank_test(data, ref["groups"], ref["rho"], ref["gamma"], strata=strata)
    want = ref["logrank"]
    assert res.df == want["df"]
    same([res.chisq, res.p], [want["chisq"], want["p"]])
    same(res.observed, want["observed"])
    same(res.expected, want["expected"])
    for ours, theirs in zip(res.variance, want["var"]):
        same(ours, theirs)


def test_stratified_pairwise_and_holm_match_p_adjust(case):
    data, strata, ref = case
    table = pairwise_logrank(data, ref["groups"], ref["rho"], ref["gamma"], strata=strata)
    want = ref["pairwise"]
    assert table["arm_a"].to_list() == [w["arm_a"] for w in want]
    assert table["arm_b"].to_list() == [w["arm_b"] for w in want]
    assert table["df"].to_list() == [w["df"] for w in want]
    for col in ("chisq", "p", "p_holm"):
        same(table[col].to_list(), [w[col] for w in want])


def test_stratified_trend_matches_score_statistic_summed_over_strata(case):
    data, strata, ref = case
    res = trend_test(data, ref["groups"], ref["scores"], ref["rho"], ref["gamma"], strata=strata)
    want = ref["trend"]
    same([res.u, res.var, res.chisq, res.p], [want["u"], want["var"], want["chisq"], want["p"]])


def test_the_references_cover_every_weight_on_every_stratification():
    combos = {(c["dataset"], "+".join(c["strata"])) for c in CASES}
    assert {("colon", "SURG"), ("colon", "SURG+SEX"), ("veteran", "CELLTYPE"), ("pbc", "SEX"), ("seed", "SEX")} <= combos
    for combo in combos:
        weights = {(c["rho"], c["gamma"]) for c in CASES if (c["dataset"], "+".join(c["strata"])) == combo}
        assert weights == {(0, 0), (1, 0), (0, 1), (1, 1), (0.5, 0.5)}


# ------------------------------------------------------------------ frames and names
def _colon(strata: list[str]) -> pl.DataFrame:
    ref = next(c for c in CASES if c["dataset"] == "colon")
    tte = pl.read_csv(FOLDERS["colon"] / "adtte.csv")
    sl = pl.read_csv(FOLDERS["colon"] / "adsl.csv", infer_schema_length=None)
    return _with_stratum(derive_survival_data(tte, sl, "OS", ref["groups"]), sl, strata)


GROUPS = ["Observation", "Levamisole", "Levamisole+5-FU"]


@pytest.mark.parametrize(("rho", "gamma", "name"), [(0, 0, "log-rank"), (1, 0, "G-rho"), (0.5, 0, "G-rho"),
                                                     (0, 1, "Fleming-Harrington(0, 1)"),
                                                     (0.5, 0.5, "Fleming-Harrington(0.5, 0.5)")])
def test_the_test_is_named_for_its_weights(rho, gamma, name):
    assert weighted_test_name(rho, gamma) == name
    res = logrank_test(_colon([]), GROUPS, rho, gamma)
    assert res.test == name
    assert res.to_frame()["test"].to_list() == [name]


def test_frames_carry_gamma_and_the_strata_label_or_the_column_name():
    data = _colon(["SURG", "SEX"])
    plain = logrank_test(data, GROUPS, 1, 0.5)
    assert plain.to_frame().schema == pl.Schema(LOGRANK_SCHEMA)
    assert plain.to_frame().select("rho", "gamma", "strata").row(0) == (1.0, 0.5, None)
    by_column = logrank_test(data, GROUPS, strata="_stratum")
    assert by_column.to_frame()["strata"].to_list() == ["_stratum"]
    labelled = logrank_test(data, GROUPS, 0, 1, strata="_stratum", strata_label="SURG, SEX")
    assert labelled.strata == "SURG, SEX"
    pairs = pairwise_logrank(data, GROUPS, 0, 1, strata="_stratum", strata_label="SURG, SEX")
    assert pairs.schema == pl.Schema(PAIRWISE_SCHEMA)
    assert pairs["strata"].to_list() == ["SURG, SEX"] * 3 and pairs["gamma"].to_list() == [1.0] * 3
    trend = trend_test(data, GROUPS, [0, 1, 2], 0, 1, strata="_stratum", strata_label="SURG, SEX").to_frame()
    assert trend.schema == pl.Schema(TREND_SCHEMA)
    assert trend.select("gamma", "strata").row(0) == (1.0, "SURG, SEX")
    assert pairwise_logrank(data, GROUPS[:1]).schema == pl.Schema(PAIRWISE_SCHEMA)


def test_one_stratum_is_the_unstratified_test():
    data = _colon([]).with_columns(pl.lit("all").alias("_stratum"))
    for rho, gamma in ((0, 0), (1, 1)):
        one = logrank_test(data, GROUPS, rho, gamma, strata="_stratum")
        plain = logrank_test(data, GROUPS, rho, gamma)
        same([one.chisq, *one.observed, *one.expected], [plain.chisq, *plain.observed, *plain.expected], rel=1e-12)


def test_rows_order_and_stratum_labels_do_not_change_the_test():
    data = _colon(["SURG"])
    res = logrank_test(data, GROUPS, 0.5, 0.5, strata="_stratum")
    shuffled = data.sample(fraction=1.0, shuffle=True, seed=3).with_columns(
        pl.col("_stratum").replace({"SURG=Long": "zz", "SURG=Short": "aa"}))
    again = logrank_test(shuffled, GROUPS, 0.5, 0.5, strata="_stratum")
    same([again.chisq, *again.observed, *again.expected], [res.chisq, *res.observed, *res.expected], rel=1e-12)


def test_a_subject_without_a_stratum_is_a_data_error():
    data = _colon(["SURG"]).with_columns(
        pl.when(pl.col("USUBJID") == "COLON-0001").then(None).otherwise(pl.col("_stratum")).alias("_stratum"))
    with pytest.raises(DataError, match=r"column _stratum: 1 subject\(s\) have no stratum"):
        logrank_test(data, GROUPS, strata="_stratum")


def test_a_strata_label_without_strata_is_a_usage_error():
    with pytest.raises(UsageError, match="a strata label .* was given without a strata column"):
        logrank_test(_colon([]), GROUPS, strata_label="SURG")


# ------------------------------------------------------------------ --fh RHO,GAMMA
@pytest.mark.parametrize(("text", "want"), [("0,0", (0.0, 0.0)), ("1,0", (1.0, 0.0)), ("0, 1", (0.0, 1.0)),
                                            (" 0.5 , 0.5 ", (0.5, 0.5)), ("2,1e0", (2.0, 1.0))])
def test_parse_fh_reads_rho_and_gamma(text, want):
    assert parse_fh(text) == want


@pytest.mark.parametrize(("text", "problem"), [("1", "expected two numbers RHO,GAMMA"),
                                               ("1,2,3", "expected two numbers RHO,GAMMA"),
                                               ("1,", "expected two numbers RHO,GAMMA"),
                                               ("a,1", "must both be numbers"),
                                               ("nan,1", "must be finite numbers"),
                                               ("0,inf", "must be finite numbers"),
                                               ("-1,0", "must not be negative"),
                                               ("0,-0.5", "must not be negative")])
def test_parse_fh_refuses_what_is_not_two_finite_numbers_at_least_0(text, problem):
    with pytest.raises(UsageError, match=problem) as err:
        parse_fh(text)
    assert "RHO,GAMMA" in err.value.hint


def test_negative_gamma_weights_are_a_usage_error_not_a_numpy_warning():
    with pytest.raises(UsageError, match="are not finite on these data"):
        logrank_test(_colon([]), GROUPS, 0, -1)


# ------------------------------------------------------------------ scale
def _big(n: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 3, n)
    s = rng.integers(0, 4, n)
    t = rng.exponential(365 / (1 + 0.2 * g + 0.1 * s)) + 1
    c = rng.uniform(0, 1500, n)
    return pl.DataFrame({"TRT01A": np.array(["A", "B", "C"])[g], "AVAL": np.minimum(t, c),
                         "CNSR": (c < t).astype(np.int64), "_stratum": np.array(["S=a", "S=b", "S=c", "S=d"])[s]})


def test_the_vectorised_sums_equal_a_per_stratum_loop_of_unstratified_tests():
    data = _big(3_000, seed=7).with_columns(pl.col("AVAL").round(0))  # ties
    res = logrank_test(data, ["A", "B", "C"], 1, 1, strata="_stratum")
    parts = [logrank_test(data.filter(pl.col("_stratum") == s), ["A", "B", "C"], 1, 1) for s in ("S=a", "S=b", "S=c", "S=d")]
    same(res.observed, np.sum([p.observed for p in parts], axis=0).tolist(), rel=1e-12)
    same(res.expected, np.sum([p.expected for p in parts], axis=0).tolist(), rel=1e-12)
    same(np.ravel(res.variance).tolist(), np.sum([np.ravel(p.variance) for p in parts], axis=0).tolist(), rel=1e-12)


@pytest.mark.parametrize(("rho", "gamma", "option"), [(-1e300, 0, "--rho -1e+300"), (0, -1, "--fh 0,-1")])
def test_weights_that_overflow_name_the_option_that_set_them(rho, gamma, option):
    with pytest.raises(UsageError, match=f"^{re.escape(option)}: the weights"):
        logrank_test(_colon([]), GROUPS, rho, gamma)
