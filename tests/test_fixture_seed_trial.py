"""The built-in SYNTHETIC seed trial (fixtures/seed_trial) mirrors the published
facts of the hUC-MSC trial (shared/guide/TRIAL.md). These tests pin those facts
with code independent of the generator: scikit-survival and R for survival,
scipy for the t-tests, and score formulas re-implemented here."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats
from sksurv.compare import compare_survival
from sksurv.nonparametric import kaplan_meier_estimator
from sksurv.util import Surv

ROOT = Path(__file__).resolve().parents[1]
SEED_DIR = ROOT / "fixtures" / "seed_trial"
R_REFERENCE = ROOT / "tests" / "reference" / "seed_survival_r.json"
DATASETS = ("adsl", "adex", "adlb", "adae", "adtte")
GROUPS = ("Low dose", "Medium dose", "High dose")
POST_BASELINE_DAYS = (8, 15, 22, 29, 57, 85, 169)


def load_generator():
    """fixtures/seed_trial/generate.py, imported as the module it is in the package."""
    return importlib.import_module("trialkit.fixtures.seed_trial.generate")


def read(name: str) -> pl.DataFrame:
    return pl.read_csv(SEED_DIR / f"{name}.csv", infer_schema_length=None)


@pytest.fixture(scope="module")
def os_data() -> pl.DataFrame:
    return read("adtte").filter(pl.col("PARAMCD") == "OS").join(
        read("adsl").select("USUBJID", "TRT01A"), on="USUBJID")


@pytest.fixture(scope="module")
def changes() -> pl.DataFrame:
    """ADLB post-baseline records with CHG = AVAL - baseline AVAL."""
    adlb = read("adlb")
    base = adlb.filter(pl.col("ABLFL") == "Y").select("USUBJID", "PARAMCD", BASE="AVAL")
    return (adlb.filter(pl.col("ABLFL").is_null())
            .join(base, on=["USUBJID", "PARAMCD"])
            .with_columns(CHG=pl.col("AVAL") - pl.col("BASE"))
            .join(read("adsl").select("USUBJID", "TRT01A"), on="USUBJID"))


def change_at(changes: pl.DataFrame, paramcd: str, day: int) -> np.ndarray:
    return changes.filter((pl.col("PARAMCD") == paramcd) & (pl.col("ADY") == day))["CHG"].to_numpy()


def paired_p(changes: pl.DataFrame, paramcd: str, day: int) -> float:
    """Two-sided paired t-test of the visit against baseline (pooled groups)."""
    return float(stats.ttest_1samp(change_at(changes, paramcd, day), 0.0).pvalue)


# ------------------------------------------------------------ generation
def test_generator_rewrites_the_committed_csvs_byte_for_byte(tmp_path):
    written = load_generator().main(tmp_path)
    assert sorted(written) == sorted(DATASETS)
    for name in DATASETS:
        assert (tmp_path / f"{name}.csv").read_bytes() == (SEED_DIR / f"{name}.csv").read_bytes(), name


def test_fixture_says_it_is_synthetic():
    for name in ("adsl", "adlb", "adae", "adtte"):
        assert read(name)["STUDYID"].unique().to_list() == ["TK-SEED-SYNTHETIC"]
    assert "SYNTHETIC" in (SEED_DIR / "README.md").read_text()


# ------------------------------------------------------------ design
def test_24_subjects_8_per_dose_group():
    adsl = read("adsl")
    assert adsl.height == 24 and adsl["USUBJID"].n_unique() == 24
    counts = dict(adsl.group_by("TRT01A").len().iter_rows())
    assert counts == {g: 8 for g in GROUPS}
    assert set(adsl.select("ARMCD", "TRT01A", "TRT01AN").unique().iter_rows()) == {
        ("LOW", "Low dose", 1), ("MEDIUM", "Medium dose", 2), ("HIGH", "High dose", 3)}
    assert adsl["SAFFL"].unique().to_list() == ["Y"] and adsl["ITTFL"].unique().to_list() == ["Y"]


def test_three_infusions_on_days_1_8_15_with_the_group_dose():
    dose = {"Low dose": 2.5e7, "Medium dose": 5.0e7, "High dose": 1.0e8}
    adex = read("adex").join(read("adsl").select("USUBJID", "TRT01A", "TRTSDT"), on="USUBJID")
    for (usubjid,), rows in adex.group_by("USUBJID"):
        assert sorted(rows["ASTDY"].to_list()) == [1, 8, 15], usubjid
        assert set(rows["EXDOSE"].to_list()) == {dose[rows["TRT01A"][0]]}
    assert (adex["ASTDT"].str.to_date() - adex["TRTSDT"].str.to_date()).dt.total_days().to_list() \
        == (adex["ASTDY"] - 1).to_list()


def test_adlb_visits_dates_and_baseline_flags_are_consistent():
    adlb = read("adlb").join(read("adsl").select("USUBJID", "TRTSDT"), on="USUBJID")
    assert (adlb["ADY"] == adlb["AVISITN"]).all()
    assert sorted(adlb["ADY"].unique().to_list()) == [1, *POST_BASELINE_DAYS]
    offsets = (adlb["ADT"].str.to_date() - adlb["TRTSDT"].str.to_date()).dt.total_days()
    assert (offsets == adlb["ADY"] - 1).all()
    assert adlb.filter(pl.col("ADY") == 1)["ABLFL"].eq("Y").all()
    assert adlb.filter(pl.col("ADY") > 1)["ABLFL"].is_null().all()
    baseline = adlb.filter(pl.col("ABLFL") == "Y")
    assert baseline.height == 24 * 20  # every subject, every PARAMCD, at baseline
    missing = 24 * 20 * 8 - adlb.height
    assert 0 < missing <= 0.05 * 24 * 20 * 7  # a little missingness, post-baseline only


def test_baseline_is_decompensated_cirrhosis():
    base = read("adlb").filter(pl.col("ABLFL") == "Y")
    cps = base.filter(pl.col("PARAMCD") == "CPSCORE")["AVAL"]
    meld = base.filter(pl.col("PARAMCD") == "MELD")["AVAL"]
    assert cps.min() >= 7  # Child-Pugh B or C
    assert 10 <= meld.min() and meld.max() <= 22


# ------------------------------------------------------------ survival
def km_at(time: np.ndarray, event: np.ndarray, t: float) -> float:
    x, y = kaplan_meier_estimator(event.astype(bool), time.astype(float))
    return float(y[x <= t][-1]) if np.any(x <= t) else 1.0


@pytest.mark.parametrize("group, at_730", [("Low dose", 0.667), ("Medium dose", 1.0), ("High dose", 0.875)])
def test_kaplan_meier_is_1_at_6_months_and_published_value_at_2_years(os_data, group, at_730):
    rows = os_data.filter(pl.col("TRT01A") == group)
    time, event = rows["AVAL"].to_numpy(), 1 - rows["CNSR"].to_numpy()
    assert rows.filter(pl.col("AVAL") <= 182).height == 0  # no event or censoring before 6 months
    assert km_at(time, event, 182) == 1.0
    assert km_at(time, event, 730) == pytest.approx(at_730, abs=1e-3)


def test_three_group_logrank_p_rounds_to_published_0_3328(os_data):
    y = Surv.from_arrays(event=(os_data["CNSR"] == 0).to_numpy(), time=os_data["AVAL"].to_numpy().astype(float))
    chisq, p = compare_survival(y, os_data["TRT01A"].to_numpy())
    assert round(p, 4) == 0.3328


def test_survival_matches_the_committed_r_reference(os_data):
    # R: fit <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A); summary(fit, times = c(182, 730))
    #    survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A, rho = 0)
    # regenerate with `Rscript tests/reference/make_seed_survival.R`
    ref = json.loads(R_REFERENCE.read_text())
    for group in GROUPS:
        rows = os_data.filter(pl.col("TRT01A") == group)
        time, event = rows["AVAL"].to_numpy(), 1 - rows["CNSR"].to_numpy()
        for t in (182, 730):
            assert km_at(time, event, t) == pytest.approx(ref["km_survival"][group][str(t)], rel=1e-6)
    y = Surv.from_arrays(event=(os_data["CNSR"] == 0).to_numpy(), time=os_data["AVAL"].to_numpy().astype(float))
    chisq, p = compare_survival(y, os_data["TRT01A"].to_numpy())
    assert chisq == pytest.approx(ref["logrank"]["chisq"], rel=1e-6)
    assert p == pytest.approx(ref["logrank"]["p"], rel=1e-6)
    assert round(ref["logrank"]["p"], 4) == 0.3328


def test_deaths_agree_between_adsl_and_adtte(os_data):
    adsl = read("adsl").join(os_data.select("USUBJID", "CNSR", "ADT", "EVNTDESC"), on="USUBJID")
    assert set(adsl.filter(pl.col("DTHFL") == "Y")["USUBJID"]) == \
        set(adsl.filter(pl.col("CNSR") == 0)["USUBJID"])
    dead = adsl.filter(pl.col("CNSR") == 0)
    assert (dead["DTHDT"] == dead["ADT"]).all() and (dead["EVNTDESC"] == "Death").all()
    alive = adsl.filter(pl.col("CNSR") == 1)
    assert alive["DTHFL"].null_count() == alive.height
    aval = (os_data["ADT"].str.to_date() - os_data["STARTDT"].str.to_date()).dt.total_days() + 1
    assert (aval == os_data["AVAL"]).all()  # AVAL = ADT - STARTDT + 1


# ------------------------------------------------------------ efficacy patterns
def test_albumin_rises_at_days_57_and_85_and_is_back_at_baseline_by_day_169(changes):
    for day in (57, 85):
        assert change_at(changes, "ALB", day).mean() > 0
        assert paired_p(changes, "ALB", day) < 0.05
    assert paired_p(changes, "ALB", 169) > 0.3


def test_pta_improves_from_day_29_through_day_169(changes):
    for day in (29, 57, 85, 169):
        assert change_at(changes, "PTA", day).mean() > 0
        assert paired_p(changes, "PTA", day) < 0.05


def test_pta_is_not_yet_improved_before_day_29(changes):
    # "improved from day 29": the paired test is not significant at days 8, 15 and 22
    for day in (8, 15, 22):
        assert paired_p(changes, "PTA", day) >= 0.05, day


def test_il8_is_below_baseline_at_every_visit_and_keeps_falling(changes):
    means = [change_at(changes, "IL8", day).mean() for day in POST_BASELINE_DAYS]
    assert all(m < 0 for m in means)
    assert all(later < earlier for earlier, later in zip(means, means[1:]))


def test_il8_mean_change_has_a_significant_negative_trend_over_study_days(changes):
    # least-squares slope of the 7 visit means of change on study day, t-test with 5 df
    means = [change_at(changes, "IL8", day).mean() for day in POST_BASELINE_DAYS]
    fit = stats.linregress(POST_BASELINE_DAYS, means)
    assert fit.slope < 0 and fit.pvalue < 0.05


def interaction_p(data: pl.DataFrame) -> float:
    """F-test of group x visit on CHG: cell-means model against additive model."""
    visit = data["ADY"].to_numpy()
    group = data["TRT01A"].to_numpy()
    y = data["CHG"].to_numpy()
    visits, groups = np.unique(visit), np.unique(group)
    additive = np.column_stack([np.ones(len(y))] + [visit == v for v in visits[1:]]
                               + [group == g for g in groups[1:]]).astype(float)
    full = np.column_stack([(visit == v) & (group == g) for v in visits for g in groups]).astype(float)

    def rss(x):
        beta, *_ = np.linalg.lstsq(x, y, rcond=None)
        return float(np.sum((y - x @ beta) ** 2))

    df_num = full.shape[1] - additive.shape[1]
    df_den = len(y) - full.shape[1]
    f = ((rss(additive) - rss(full)) / df_num) / (rss(full) / df_den)
    return float(stats.f.sf(f, df_num, df_den))


@pytest.mark.parametrize("paramcd", ["ALB", "PTA", "IL8"])
def test_dose_by_visit_interaction_is_weak(changes, paramcd):
    assert interaction_p(changes.filter(pl.col("PARAMCD") == paramcd)) > 0.05


# ------------------------------------------------------------ scores
def expected_meld(tbil_umol, inr, creat_umol):
    """UNOS MELD, written out again here independently of the generator."""
    bilirubin_mg_dl = tbil_umol / 17.1
    creatinine_mg_dl = creat_umol / 88.4
    if bilirubin_mg_dl < 1.0:
        bilirubin_mg_dl = 1.0
    if inr < 1.0:
        inr = 1.0
    if creatinine_mg_dl < 1.0:
        creatinine_mg_dl = 1.0
    if creatinine_mg_dl > 4.0:
        creatinine_mg_dl = 4.0
    value = (0.378 * math.log(bilirubin_mg_dl) + 1.12 * math.log(inr)
             + 0.957 * math.log(creatinine_mg_dl) + 0.643) * 10
    return min(math.floor(value + 0.5), 40)


def expected_child_pugh(tbil_umol, alb_gl, inr, ascites, hepenc):
    points = 0
    points += 3 if tbil_umol > 51.3 else 2 if tbil_umol >= 34.2 else 1
    points += 3 if alb_gl < 28 else 2 if alb_gl <= 35 else 1
    points += 3 if inr > 2.3 else 2 if inr >= 1.7 else 1
    points += int(ascites) + 1
    points += 3 if hepenc >= 3 else 2 if hepenc >= 1 else 1
    return points


# (TBIL umol/L, INR, creatinine umol/L) -> MELD, worked by hand
MELD_EXAMPLES = [
    # everything below the 1.0 floors: 3.78*0 + 11.2*0 + 9.57*0 + 6.43 = 6.43 -> 6
    ((10.0, 0.9, 50.0), 6),
    # bili 3.0 mg/dL, INR 1.5, creat 1.0 mg/dL: 4.1528 + 4.5412 + 0 + 6.43 = 15.12 -> 15
    ((51.3, 1.5, 88.4), 15),
    # bili 10 mg/dL, INR 2.0, creat 6.0 mg/dL capped to 4.0:
    # 8.7038 + 7.7632 + 9.57*ln(4)=13.2668 + 6.43 = 36.16 -> 36 (uncapped creat would give 40.04)
    ((171.0, 2.0, 530.4), 36),
    # bili 40 mg/dL, INR 4, creat 4 mg/dL: 13.944 + 15.526 + 13.267 + 6.43 = 49.17 -> capped 40
    ((684.0, 4.0, 353.6), 40),
]
# (TBIL, ALB, INR, ascites grade, encephalopathy grade) -> Child-Pugh points
CHILD_PUGH_EXAMPLES = [
    ((30.0, 36.0, 1.2, 0, 0), 5),
    ((34.2, 35.0, 1.7, 1, 2), 10),  # every lower boundary of the 2-point band
    ((51.3, 28.0, 2.3, 1, 1), 10),  # every upper boundary of the 2-point band
    ((60.0, 27.9, 2.4, 2, 3), 15),
]


@pytest.mark.parametrize("inputs, meld", MELD_EXAMPLES)
def test_meld_hand_worked_examples(inputs, meld):
    assert expected_meld(*inputs) == meld
    assert load_generator().meld_score(*inputs) == meld


@pytest.mark.parametrize("inputs, points", CHILD_PUGH_EXAMPLES)
def test_child_pugh_hand_worked_examples(inputs, points):
    assert expected_child_pugh(*inputs) == points
    assert load_generator().child_pugh_score(*inputs) == points


def test_meld_and_child_pugh_records_equal_scores_recomputed_from_their_inputs():
    wide = read("adlb").pivot(on="PARAMCD", index=["USUBJID", "ADY"], values="AVAL")
    checked = 0
    for row in wide.iter_rows(named=True):
        meld_inputs = (row["TBIL"], row["INR"], row["CREAT"])
        cp_inputs = (row["TBIL"], row["ALB"], row["INR"], row["ASCITES"], row["HEPENC"])
        if None in meld_inputs:
            assert row["MELD"] is None
        else:
            assert row["MELD"] == expected_meld(*meld_inputs), row
            checked += 1
        if None in cp_inputs:
            assert row["CPSCORE"] is None
        else:
            assert row["CPSCORE"] == expected_child_pugh(*cp_inputs), row
    assert checked > 0.9 * wide.height


# ------------------------------------------------------------ safety
def test_serious_adverse_events_are_never_related():
    adae = read("adae")
    serious = adae.filter(pl.col("AESER") == "Y")
    assert 0 < serious.height <= 2
    assert serious["AEREL"].unique().to_list() == ["NOT RELATED"]


def test_adverse_events_are_a_mild_transient_profile():
    adae = read("adae")
    assert 15 <= adae.height <= 30
    assert set(adae["AESEV"]) <= {"MILD", "MODERATE", "SEVERE"}
    assert (adae["ASTDY"] >= 1).all() and (adae["AENDY"] >= adae["ASTDY"]).all()
    fevers = adae.filter(pl.col("AEDECOD") == "Pyrexia")
    assert fevers["ASTDY"].is_in([1, 2, 8, 9, 15, 16]).all() and fevers["USUBJID"].n_unique() >= 3
    assert (adae["AESDTH"] == "N").all() and (adae["TRTEMFL"] == "Y").all()
