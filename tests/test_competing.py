"""Competing risks against R's survival (multi-state survfit) and cmprsk (cuminc), number by number.

Reference values come from tests/reference/make_competing_reference.R (run from the repository root:
``Rscript tests/reference/make_competing_reference.R``), which writes competing_r.json and the synthetic
trial competing_synthetic.csv. With status = "censor" when CNSR = 1, else the event type:

    fit <- survfit(Surv(AVAL, factor(status, levels = c("censor", types))) ~ TRT01A, data)   # estimate, n.risk, n.event
    ci <- cuminc(AVAL, status, TRT01A, cencode = "censor")                                  # est, var
    timepoints(ci, times)                                                                   # var carried forward
    summary(fit, times = times, extend = TRUE)                                              # landmarks
    cuminc(AVAL, status, TRT01A, cencode = "censor", strata = SEX, rho = 0 | 1)$Tests       # Gray's test

lower/upper: exp(-exp(log(-log F) -/+ qnorm(0.975) sqrt(var) / (F log F))), computed in the R script.
Tolerance everywhere: rel=1e-6 (abs=1e-12 for values that are 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from r_reference import same

from trialkit.analyses.survival.cif_figure import render_cif_figure
from trialkit.analyses.survival.competing import (analyse_competing, cif_landmarks, competing_json, cumulative_incidence,
                                                  derive_competing_data, event_type_data, gray_test,
                                                  has_competing_events)
from trialkit.analyses.survival.figure import time_axis
from trialkit.analyses.survival.km import derive_survival_data, km_table
from trialkit.schemas.errors import ColumnNotFoundError, DataError, UsageError

ROOT = Path(__file__).resolve().parents[1]
REF = Path(__file__).parent / "reference"
R = json.loads((REF / "competing_r.json").read_text())
PBC = ROOT / "fixtures" / "r_datasets" / "pbc"
DATASETS = ["pbc", "synthetic"]
STRATA = {"pbc": "SEX", "synthetic": "STRATUM"}


def _pbc_tte() -> pl.DataFrame:
    return pl.read_csv(PBC / "adtte.csv")


def _pbc() -> pl.DataFrame:
    adtte, adsl = _pbc_tte(), pl.read_csv(PBC / "adsl.csv")
    data = derive_survival_data(adtte, adsl, "DTHTX", R["pbc"]["arms"])
    return derive_competing_data(data, event_type_data(adtte, "DTHTX")).join(adsl.select("USUBJID", "SEX"), on="USUBJID")


def _synthetic() -> pl.DataFrame:
    return pl.read_csv(REF / "competing_synthetic.csv").with_columns(pl.col("AVAL").cast(pl.Float64),
                                                                     pl.col("EVENT").cast(pl.String))


@pytest.fixture(params=DATASETS, scope="module")
def dataset(request):
    """(analysis frame, R reference, name) of pbc DTHTX and the synthetic trial with tied event types."""
    data = _pbc() if request.param == "pbc" else _synthetic()
    return data, R[request.param], request.param


def _curve(frame: pl.DataFrame, arm: str, event: str) -> pl.DataFrame:
    return frame.filter((pl.col("arm") == arm) & (pl.col("event") == event))


# ------------------------------------------------------------- event types
def test_event_types_come_from_evntdesc_of_event_rows_only():
    ev = event_type_data(_pbc_tte(), "DTHTX")
    assert ev.variable == "EVNTDESC" and ev.types == ("Death", "Liver transplant") and ev.competing
    assert ev.data.columns == ["USUBJID", "EVENT"] and ev.data.schema["EVENT"] == pl.String
    assert ev.data["EVENT"].value_counts().sort("EVENT").rows() == [(None, 168), ("Death", 125), ("Liver transplant", 19)]
    assert "Death (125), Liver transplant (19)" in ev.notes[0]


def test_censored_rows_describing_their_censoring_are_not_event_types():
    seed = pl.read_csv(ROOT / "fixtures" / "seed_trial" / "adtte.csv")  # censored rows: EVNTDESC "Last known alive"
    ev = event_type_data(seed, "OS")
    assert ev.types == ("Death",) and not ev.competing
    assert "no competing events" in ev.notes[1]
    assert not has_competing_events(seed, "OS")


def test_has_competing_events_only_with_two_types_among_event_rows():
    adtte = _pbc_tte()
    assert has_competing_events(adtte, "DTHTX")
    assert not has_competing_events(adtte, "OS")  # transplant censored: deaths only
    assert not has_competing_events(adtte.drop("EVNTDESC"), "DTHTX")  # nothing to read: plain Kaplan-Meier


def test_event_type_names_a_sponsor_variable_in_any_case():
    adtte = _pbc_tte().with_columns(pl.when(pl.col("EVNTDESC") == "Death").then(1).otherwise(2).alias("CRCODE"))
    ev = event_type_data(adtte, "DTHTX", event_type="crcode")
    assert ev.variable == "CRCODE" and ev.types == ("1", "2")
    assert has_competing_events(adtte, "DTHTX", event_type="CRCODE")


def test_event_row_without_a_type_is_a_data_error_naming_rows_and_subjects():
    adtte = _pbc_tte().with_columns(
        pl.when(pl.col("USUBJID").is_in(["PBC-001", "PBC-003"])).then(pl.lit(" ")).otherwise(pl.col("EVNTDESC")).alias("EVNTDESC"))
    with pytest.raises(DataError) as err:
        event_type_data(adtte, "DTHTX")
    assert str(err.value) == ("ADTTE, column EVNTDESC: 2 DTHTX event row(s) (CNSR = 0) have no event type, so their "
                              "competing-risk codes are not defined; subjects PBC-001, PBC-003")
    assert "--event-type" in err.value.hint


def test_event_type_that_is_not_a_variable_is_a_usage_error_listing_adtte():
    with pytest.raises(UsageError) as err:
        event_type_data(_pbc_tte(), "DTHTX", event_type="CAUSE")
    assert str(err.value) == "--event-type 'CAUSE' is not an ADTTE variable"
    assert err.value.hint.startswith("ADTTE holds: STUDYID, USUBJID, PARAMCD")


def test_adtte_without_evntdesc_says_to_add_it_or_name_another():
    with pytest.raises(ColumnNotFoundError, match="ADTTE has no EVNTDESC") as err:
        event_type_data(_pbc_tte().drop("EVNTDESC"), "DTHTX")
    assert "--event-type" in err.value.hint


def test_untyped_event_in_the_analysis_data_is_a_data_error():
    data = _synthetic().with_columns(pl.when(pl.col("USUBJID") == "SYN-001").then(None).otherwise(pl.col("EVENT")).alias("EVENT"),
                                     pl.when(pl.col("USUBJID") == "SYN-001").then(0).otherwise(pl.col("CNSR")).alias("CNSR"))
    with pytest.raises(DataError, match="1 event row.*no EVENT type.*SYN-001"):
        cumulative_incidence(data, ["Arm A", "Arm B", "Arm C"])


# ------------------------------------------------------ cumulative incidence
def test_cif_estimates_match_survfit_multistate_and_cuminc(dataset):
    data, ref, _ = dataset
    cif = cumulative_incidence(data, ref["arms"])
    assert cif.columns == ["arm", "event", "time", "n_risk", "n_event", "estimate", "std_err", "lower", "upper"]
    for arm in ref["arms"]:
        for event in ref["types"]:
            ours, r = _curve(cif, arm, event), ref["cif"][arm][event]
            assert ours["time"].to_list() == r["time"]
            assert ours["n_risk"].to_list() == r["n_risk"]  # survfit n.risk[, 1]
            assert ours["n_event"].to_list() == r["n_event"]  # survfit n.event[, type]
            same(ours["estimate"], r["estimate"])  # survfit pstate[, type]
            same(ours["estimate"], r["est_cuminc"])  # timepoints(cuminc)$est


def test_cif_std_err_is_cuminc_variance_and_limits_are_log_log(dataset):
    data, ref, _ = dataset
    cif = cumulative_incidence(data, ref["arms"], conf_level=0.95)
    for arm in ref["arms"]:
        for event in ref["types"]:
            ours, r = _curve(cif, arm, event), ref["cif"][arm][event]
            same(ours["std_err"], r["std_err"])  # sqrt(timepoints(cuminc)$var)
            same(ours["lower"], r["lower"])
            same(ours["upper"], r["upper"])


def test_cif_landmarks_match_summary_times_extend(dataset):
    data, ref, _ = dataset
    lm = cif_landmarks(cumulative_incidence(data, ref["arms"]), ref["times"])
    for arm in ref["arms"]:
        for event in ref["types"]:
            ours, r = _curve(lm, arm, event), ref["landmarks"][arm][event]
            assert ours["time"].to_list() == pytest.approx(r["time"], rel=1e-12)
            assert ours["n_risk"].to_list() == r["n_risk"]
            same(ours["estimate"], r["estimate"])  # summary(fit, times, extend = TRUE)$pstate
            defined = [v is not None for v in r["std_err"]]  # timepoints: NA after the arm's last time
            for col in ("std_err", "lower", "upper"):
                same([v for v, k in zip(ours[col], defined) if k], [v for v, k in zip(r[col], defined) if k])
            last = _curve(cumulative_incidence(data, ref["arms"]), arm, event)["time"].max()
            assert ours["extrapolated"].to_list() == [t > last for t in r["time"]]


def test_single_event_type_cif_is_one_minus_kaplan_meier():
    seed_tte = pl.read_csv(ROOT / "fixtures" / "seed_trial" / "adtte.csv")
    adsl = pl.read_csv(ROOT / "fixtures" / "seed_trial" / "adsl.csv")
    groups = sorted(adsl["TRT01A"].unique().to_list())
    data = derive_competing_data(derive_survival_data(seed_tte, adsl, "OS", groups), event_type_data(seed_tte, "OS"))
    cif = cumulative_incidence(data, groups)
    km = km_table(data, groups)
    same(cif["estimate"], (1 - km["survival"]).to_list(), rel=1e-12)


def test_cif_estimates_agree_with_scikit_survival():
    nonparametric = pytest.importorskip("sksurv.nonparametric")
    data = _synthetic().filter(pl.col("TRT01A") == "Arm B")
    types = ["Death", "Progression", "Toxicity"]
    codes = data.select(pl.col("EVENT").replace_strict({t: i + 1 for i, t in enumerate(types)}, default=0))["EVENT"]
    time, incidence = nonparametric.cumulative_incidence_competing_risks(codes.to_numpy(), data["AVAL"].to_numpy())
    cif = cumulative_incidence(data, ["Arm B"])
    for k, event in enumerate(types):
        ours = _curve(cif, "Arm B", event)
        assert ours["time"].to_list() == time.tolist()
        same(ours["estimate"], incidence[k + 1].tolist(), rel=1e-12)


def test_conf_level_outside_zero_one_is_a_usage_error():
    with pytest.raises(UsageError, match="--conf-level 1.5 is not between 0 and 1"):
        cumulative_incidence(_synthetic(), ["Arm A"], conf_level=1.5)


# --------------------------------------------------------------- Gray's test
@pytest.mark.parametrize("setting", ["rho0", "rho1", "rho0_strata", "rho1_strata"])
def test_gray_test_matches_cuminc_tests(dataset, setting):
    data, ref, name = dataset
    r = ref["gray"][setting]
    strata = STRATA[name] if setting.endswith("strata") else None
    res = gray_test(data, ref["arms"], strata=strata, rho=r["rho"])
    assert res.columns == ["event", "chisq", "df", "p", "rho", "strata", "reason"]
    assert res["event"].to_list() == r["event"]
    assert res["df"].to_list() == r["df"]
    same(res["chisq"], r["chisq"])  # cuminc(...)$Tests[, "stat"]
    same(res["p"], r["p"])  # cuminc(...)$Tests[, "pv"]


def test_gray_test_does_not_depend_on_arm_order():
    data = _synthetic()
    a = gray_test(data, ["Arm A", "Arm B", "Arm C"])
    b = gray_test(data, ["Arm C", "Arm A", "Arm B"])
    same(a["chisq"], b["chisq"].to_list(), rel=1e-9)


def test_gray_test_needs_two_groups():
    with pytest.raises(DataError, match="Gray's test needs two groups, but only 1 has subjects"):
        gray_test(_synthetic(), ["Arm A"])


def test_gray_test_without_events_of_a_type_where_two_groups_are_at_risk_has_no_statistic():
    # cuminc(c(1, 2, 3, 2, 10, 12), c("c", "Y", "c", "Y", "X", "c"), c("A", "A", "A", "B", "B", "B"), cencode = "c")$Tests:
    # X: stat -1 (singular variance: its only event comes after arm A's follow-up), Y: 0.1111111, p 0.7388827
    data = pl.DataFrame({"USUBJID": [f"S{i}" for i in range(6)], "TRT01A": ["A", "A", "A", "B", "B", "B"],
                         "AVAL": [1.0, 2, 3, 2, 10, 12], "CNSR": [1, 0, 1, 0, 0, 1], "EVENT": [None, "Y", None, "Y", "X", None]})
    res = gray_test(data, ["A", "B"])
    x, y = res.row(0, named=True), res.row(1, named=True)
    assert x["chisq"] is None and x["p"] is None and "singular" in x["reason"]
    assert y["chisq"] == pytest.approx(0.1111111, rel=1e-6) and y["p"] == pytest.approx(0.7388827, rel=1e-6)


def test_gray_test_subject_without_stratum_is_a_data_error():
    data = _synthetic().with_columns(pl.when(pl.col("USUBJID") == "SYN-002").then(None).otherwise(pl.col("STRATUM")).alias("STRATUM"))
    with pytest.raises(DataError, match=r"ADSL, column STRATUM: 1 subject\(s\) have no stratum; subjects SYN-002"):
        gray_test(data, ["Arm A", "Arm B", "Arm C"], strata="STRATUM")


# -------------------------------------------------------------------- figure
def test_cif_figure_is_reproducible_with_svg_text_as_text():
    data = _pbc()
    arms = pl.DataFrame({"arm": R["pbc"]["arms"], "n": [158, 154]})
    cif = cumulative_incidence(data, R["pbc"]["arms"])
    axis = time_axis(float(data["AVAL"].max()))
    first = render_cif_figure(cif, arms, axis, title="DTHTX", bands=True, style_order=R["pbc"]["arms"])
    second = render_cif_figure(cif, arms, axis, title="DTHTX", bands=True, style_order=R["pbc"]["arms"])
    assert first == second
    assert first["png"].startswith(b"\x89PNG")
    svg = first["svg"].decode()
    for text in ("Cumulative incidence", "Liver transplant", "Placebo (n=154)", "Time (months)"):
        assert text in svg


def test_cif_figure_draws_without_importing_plotnine():
    import subprocess
    import sys

    code = ("import sys, polars as pl; from trialkit.analyses.survival.cif_figure import render_cif_figure; "
            "from trialkit.analyses.survival.figure import time_axis; "
            "cif = pl.DataFrame({'arm': ['A'], 'event': ['Death'], 'time': [5.0], 'n_risk': [3], 'n_event': [1], "
            "'estimate': [1 / 3], 'std_err': [0.27], 'lower': [0.01], 'upper': [0.8]}); "
            "render_cif_figure(cif, pl.DataFrame({'arm': ['A'], 'n': [3]}), time_axis(10)); "
            "print('plotnine' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------ the whole analysis
def test_analyse_competing_runs_the_stage_part_as_cuminc_with_strata():
    adtte, adsl = _pbc_tte(), pl.read_csv(PBC / "adsl.csv")
    ref = R["pbc"]
    data = derive_survival_data(adtte, adsl, "DTHTX", ref["arms"])
    res = analyse_competing(adtte, data, "DTHTX", ref["arms"], times=ref["times"], adsl=adsl, strata="sex")
    assert res.types == ("Death", "Liver transplant") and res.strata == "SEX"
    assert set(res.tables()) == {"cif", "cif_landmarks", "gray"}
    same(res.gray["chisq"], ref["gray"]["rho0_strata"]["chisq"])
    same(_curve(res.landmarks, "Placebo", "Death")["estimate"], ref["landmarks"]["Placebo"]["Death"]["estimate"])
    out = competing_json(res)
    assert out["event_types"] == ["Death", "Liver transplant"] and len(out["gray"]) == 2
    json.dumps(out)  # plain JSON types only


def test_cif_figure_of_an_empty_table_is_a_no_data_error():
    empty = cumulative_incidence(_synthetic(), ["Arm D"])
    with pytest.raises(DataError, match="no curve to draw"):
        render_cif_figure(empty, pl.DataFrame({"arm": ["Arm D"], "n": [0]}), time_axis(20))
