"""The safety derivations (trialkit.analyses.safety.events*), pinned on hand-worked frames and on the CDISC pilot.

Pilot numbers come from tests/reference/make_safety_reference.R (base R and
foreign::read.xport, no trialkit code):

    Rscript tests/reference/make_safety_reference.R ../shared/data/cdiscpilot01

Table 14-5.01 rows: counts with length(unique(USUBJID)) and nrow(), p with
fisher.test(matrix(c(n_arm, N_arm - n_arm, n_pbo, N_pbo - n_pbo), nrow = 2, byrow = TRUE))$p.value.
"""

from __future__ import annotations

import csv
import math
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from trialkit.schemas.errors import ColumnNotFoundError, NoDataError, UsageError
from trialkit.analyses.groups import arms_of
from trialkit.analyses.safety.events import (
    derive_var_teae,
    overview_table,
    safety_population,
    select_safety_aes,
    severity_table,
    teae_rule,
)
from trialkit.analyses.safety.incidence import (
    filter_min_percent,
    fisher_p,
    fisher_table,
    incidence_table,
    newcombe_interval,
    sort_incidence,
)
from trialkit.analyses.safety.liver import (
    hys_law_candidates,
    liver_peaks,
    liver_records,
    liver_shift_table,
    liver_unavailable,
)
from trialkit.analyses.safety.onset import derive_var_onset_window, onset_table
from trialkit.analyses.safety.pipeline import analyse_safety, choose_reference, safety_json

REF = Path(__file__).parent / "reference"


# ----------------------------------------------------------------- fixtures
def _adsl(**extra) -> pl.DataFrame:
    base = {
        "USUBJID": ["A1", "A2", "A3", "A4", "B1", "B2", "B3", "B4", "B5"],
        "TRT01A": ["Placebo"] * 4 + ["Drug"] * 5,
        "TRT01AN": [0.0] * 4 + [1.0] * 5,
        "SAFFL": ["Y", "Y", "Y", "Y", "Y", "Y", "Y", "Y", "N"],
        "TRTSDT": [date(2020, 1, 1)] * 9,
    }
    base.update(extra)
    return pl.DataFrame(base)


def _adae(rows: list[tuple]) -> pl.DataFrame:
    cols = ["USUBJID", "AEBODSYS", "AEDECOD", "AESEV", "AESER", "AEREL", "TRTEMFL", "ASTDY"]
    return pl.DataFrame(rows, schema={c: (pl.Float64 if c == "ASTDY" else pl.String) for c in cols}, orient="row")


AE_ROWS = [
    ("A1", "Skin", "Rash", "MILD", "N", "NONE", "Y", 3.0),
    ("A1", "Skin", "Rash", "SEVERE", "N", "NONE", "Y", 9.0),     # same subject, same PT: 1 subject, 2 events
    ("A1", "Skin", "Pruritus", "MODERATE", "N", "POSSIBLE", "Y", 4.0),
    ("B1", "Skin", "Rash", "MILD", "Y", "PROBABLE", "Y", 2.0),
    ("B2", "Skin", "Rash", None, "N", "NONE", "Y", 2.0),         # missing severity
    ("B3", "Nervous", "Headache", "MODERATE", "N", "NONE", "Y", 5.0),
    ("B3", "Nervous", "Headache", "MODERATE", "N", "NONE", None, -2.0),  # not treatment-emergent
    ("B5", "Nervous", "Headache", "MILD", "N", "NONE", "Y", 5.0),       # SAFFL = N: not counted
    ("Z9", "Nervous", "Headache", "MILD", "N", "NONE", "Y", 5.0),       # not in ADSL
]


@pytest.fixture()
def toy():
    adsl = _adsl()
    arms = arms_of(adsl)
    pop = safety_population(adsl, arms)
    adae = _adae(AE_ROWS)
    aes = select_safety_aes(adae, adsl, pop)
    return adsl, adae, arms, pop, aes


def _row(df: pl.DataFrame, **keys) -> dict:
    out = df
    for k, v in keys.items():
        out = out.filter(pl.col(k).is_null() if v is None else pl.col(k) == v)
    assert out.height == 1, (keys, out)
    return out.row(0, named=True)


# ---------------------------------------------------------- population, TEAE
def test_safety_population_keeps_saffl_y_and_counts_each_group(toy):
    _, _, _, pop, _ = toy
    assert pop.counts.select("arm", "n").rows() == [("Placebo", 4), ("Drug", 4)]
    assert "SAFFL" in pop.rule


def test_without_saffl_everyone_is_in_the_safety_population_and_the_rule_says_so():
    adsl = _adsl().drop("SAFFL")
    pop = safety_population(adsl, arms_of(adsl))
    assert pop.counts["n"].to_list() == [4, 5]
    assert "no SAFFL" in pop.rule


def test_an_empty_safety_population_is_a_no_data_error():
    adsl = _adsl(SAFFL=["N"] * 9)
    with pytest.raises(NoDataError, match="safety population"):
        safety_population(adsl, arms_of(adsl))


def test_teae_uses_trtemfl_when_present(toy):
    _, adae, _, _, aes = toy
    assert teae_rule(adae) == "TRTEMFL"
    assert aes.teae.height == 6  # B3's TRTEMFL-missing record and the excluded ones are out
    assert aes.not_in_adsl_records == 1 and aes.not_in_adsl_subjects == 1
    assert aes.outside_population == 1


def test_without_trtemfl_onset_on_or_after_day_1_or_first_dose_date_is_treatment_emergent():
    adae = pl.DataFrame({
        "USUBJID": ["A1"] * 5,
        "ASTDY": [-1.0, 0.0, 1.0, None, None],
        "ASTDT": [None, None, None, date(2019, 12, 31), date(2020, 1, 1)],
        "TRTSDT": [date(2020, 1, 1)] * 5,
    })
    assert teae_rule(adae) == "onset"
    assert derive_var_teae(adae)["TEAE"].to_list() == [False, False, True, False, True]
    no_onset = adae.with_columns(pl.lit(None, pl.Float64).alias("ASTDY"), pl.lit(None, pl.Date).alias("ASTDT"))
    assert derive_var_teae(no_onset)["TEAE"].to_list() == [True] * 5  # unknown onset: counted (conservative)


def test_without_trtemfl_or_any_onset_variable_the_error_names_them():
    with pytest.raises(ColumnNotFoundError, match="TRTEMFL"):
        derive_var_teae(pl.DataFrame({"USUBJID": ["A1"]}))


# ----------------------------------------------------------------- incidence
def test_a_subject_counts_once_per_row_and_events_count_every_record(toy):
    _, _, _, pop, aes = toy
    inc = incidence_table(aes, pop)
    rash_pbo = _row(inc, level="pt", pt="Rash", arm="Placebo")
    assert (rash_pbo["subjects"], rash_pbo["events"], rash_pbo["n"]) == (1, 2, 4)
    assert rash_pbo["percent"] == pytest.approx(25.0, rel=1e-12)
    skin_pbo = _row(inc, level="soc", soc="Skin", arm="Placebo")
    assert (skin_pbo["subjects"], skin_pbo["events"]) == (1, 3)
    anyrow = _row(inc, level="any", arm="Drug")
    assert (anyrow["subjects"], anyrow["events"]) == (3, 3)


def test_a_group_without_the_event_gets_a_zero_row(toy):
    _, _, _, pop, aes = toy
    inc = incidence_table(aes, pop)
    head_pbo = _row(inc, level="pt", pt="Headache", arm="Placebo")
    assert (head_pbo["subjects"], head_pbo["events"], head_pbo["percent"]) == (0, 0, 0.0)


def test_fisher_p_matches_r_fisher_test():
    # R: fisher.test(matrix(c(3, 1, 1, 3), nrow = 2))$p.value == 0.4857142857142857
    assert fisher_p(3, 4, 1, 4) == pytest.approx(0.4857142857142857, rel=1e-9)
    assert fisher_p(0, 84, 0, 86) is None  # neither group has the event: not tested


def test_fisher_p_matches_r_on_tables_up_to_a_million_subject_trial():
    """tests/reference/make_fisher_reference.R: fisher.test from 3/4 vs 1/4 to 166,000/333,000 vs 167,500/333,500
    and p down to 2e-29 (log-gamma of counts of 10^5 limits the agreement to about 1e-9 relative)."""
    import json
    from pathlib import Path

    cases = json.loads((Path(__file__).parent / "reference" / "fisher_r.json").read_text())["cases"]
    for c in cases:
        assert fisher_p(c["a"], c["n_a"], c["r"], c["n_r"]) == pytest.approx(c["p"], rel=1e-8), c


def test_fisher_p_equals_scipy_on_small_tables():
    import numpy as np
    from scipy.stats import fisher_exact

    rng = np.random.default_rng(4)
    for _ in range(300):
        n_a, n_r = (int(v) for v in rng.integers(1, 60, 2))
        a, r = int(rng.integers(0, n_a + 1)), int(rng.integers(0, n_r + 1))
        if a + r == 0:
            continue
        want = fisher_exact([[a, n_a - a], [r, n_r - r]]).pvalue
        assert fisher_p(a, n_a, r, n_r) == pytest.approx(want, rel=1e-9, abs=1e-300), (a, n_a, r, n_r)


def test_fisher_table_has_one_row_per_non_reference_group(toy):
    _, _, _, pop, aes = toy
    f = fisher_table(incidence_table(aes, pop), "Placebo")
    assert set(f["arm"]) == {"Drug"} and set(f["reference"]) == {"Placebo"}
    # Rash: Drug 2/4 vs Placebo 1/4. R: fisher.test(matrix(c(2, 2, 1, 3), 2, byrow = TRUE))$p.value == 1
    assert _row(f, level="pt", pt="Rash")["p"] == pytest.approx(1.0, rel=1e-9)


def test_sorting_alpha_and_by_frequency(toy):
    _, _, _, pop, aes = toy
    inc = incidence_table(aes, pop)
    labels = lambda t: t.filter(pl.col("arm") == "Placebo").select(pl.coalesce("pt", "soc", pl.lit("any")))  # noqa: E731
    assert labels(sort_incidence(inc, "alpha")).to_series().to_list() == [
        "any", "Nervous", "Headache", "Skin", "Pruritus", "Rash"]
    assert labels(sort_incidence(inc, "frequency")).to_series().to_list() == [
        "any", "Skin", "Rash", "Pruritus", "Nervous", "Headache"]
    with pytest.raises(UsageError, match="sort"):
        sort_incidence(inc, "random")


def test_alphabetical_order_ignores_case():
    adsl = _adsl()
    pop = safety_population(adsl, arms_of(adsl))
    adae = _adae([("A1", soc, "X", "MILD", "N", "NONE", "Y", 2.0) for soc in ("skin", "Nervous", "Blood")])
    inc = sort_incidence(incidence_table(select_safety_aes(adae, adsl, pop), pop), "alpha")
    socs = inc.filter((pl.col("level") == "soc") & (pl.col("arm") == "Placebo"))["soc"].to_list()
    assert socs == ["Blood", "Nervous", "skin"]


def test_min_percent_keeps_the_any_row_and_rows_where_some_group_reaches_it(toy):
    _, _, _, pop, aes = toy
    inc = sort_incidence(incidence_table(aes, pop), "alpha")
    kept = filter_min_percent(inc, 50)
    rows = kept.filter(pl.col("arm") == "Drug").select("level", "pt").rows()
    assert rows == [("any", None), ("soc", None), ("pt", "Rash")]  # Skin 50%, Rash 50%; Nervous 25%
    with pytest.raises(UsageError, match="percentage"):
        filter_min_percent(inc, 120)


# ------------------------------------------------------ overview, severity
def test_overview_counts_related_serious_severe_and_deaths(toy):
    _, adae, _, pop, aes = toy
    ov = overview_table(aes, pop, adae.columns)
    get = lambda cat, arm: _row(ov, category=cat, arm=arm)["subjects"]  # noqa: E731
    assert get("Any TEAE", "Placebo") == 1 and get("Any TEAE", "Drug") == 3
    assert get("Any related TEAE", "Placebo") == 1  # POSSIBLE pruritus
    assert get("Any serious TEAE", "Drug") == 1 and get("Any serious related TEAE", "Drug") == 1
    assert get("Any severe TEAE", "Placebo") == 1
    assert _row(ov, category="Any TEAE leading to discontinuation", arm="Drug")["subjects"] is None  # no AEACN
    assert get("Deaths", "Drug") == 0


def test_deaths_come_from_adsl_dthfl_or_ae_aesdth():
    adsl = _adsl(DTHFL=[None, "Y", None, None, None, None, None, None, None])
    adae = _adae(AE_ROWS).with_columns(
        pl.when(pl.col("USUBJID") == "B2").then(pl.lit("Y")).otherwise(pl.lit("N")).alias("AESDTH"))
    pop = safety_population(adsl, arms_of(adsl))
    ov = overview_table(select_safety_aes(adae, adsl, pop), pop, adae.columns)
    assert _row(ov, category="Deaths", arm="Placebo")["subjects"] == 1
    assert _row(ov, category="Deaths", arm="Drug")["subjects"] == 1


def test_maximum_severity_per_subject_and_missing_severity(toy):
    _, _, _, pop, aes = toy
    sev = severity_table(aes, pop).filter(pl.col("level") == "any")
    got = {(r["arm"], r["severity"]): r["subjects"] for r in sev.iter_rows(named=True)}
    assert got[("Placebo", "SEVERE")] == 1 and got[("Placebo", "MILD")] == 0  # A1: MILD, MODERATE, SEVERE -> SEVERE
    assert got[("Drug", "MILD")] == 1 and got[("Drug", "MODERATE")] == 1 and got[("Drug", "MISSING")] == 1


def test_toxicity_grade_replaces_aesev_when_present(toy):
    adsl, adae, arms, pop, _ = toy
    graded = adae.with_columns(pl.Series("ATOXGR", ["1", "3", "2", "2", None, "1", "1", "1", "1"]))
    sev = severity_table(select_safety_aes(graded, adsl, pop), pop).filter(pl.col("level") == "any")
    got = {(r["arm"], r["severity"]): r["subjects"] for r in sev.iter_rows(named=True)}
    assert got[("Placebo", "GRADE 3")] == 1 and got[("Drug", "GRADE 2")] == 1 and got[("Drug", "MISSING")] == 1
    ov = overview_table(select_safety_aes(graded, adsl, pop), pop, graded.columns)
    assert _row(ov, category="Any grade >= 3 TEAE", arm="Placebo")["subjects"] == 1


# ---------------------------------------------------------------- Newcombe
def _newcombe_reference() -> list[dict]:
    with open(REF / "newcombe_r.csv") as f:
        return [{k.strip(): float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def test_newcombe_interval_matches_r_and_newcombe_1998():
    # R (tests/reference/make_safety_reference.R): Wilson limits from
    # prop.test(x, n, correct = FALSE)$conf.int combined by Newcombe's method 10.
    # Newcombe (1998) prints 0.0524 to 0.3339, 0.1705 to 0.8090, -0.0381 to 0.1926 for rows 1-3.
    for r in _newcombe_reference():
        d, lo, hi = newcombe_interval(int(r["x1"]), int(r["n1"]), int(r["x2"]), int(r["n2"]))
        assert (d, lo, hi) == pytest.approx((r["rd"], r["lower"], r["upper"]), rel=1e-9, abs=1e-12)


# ------------------------------------------------------------------ onset
def test_onset_windows_use_the_most_recent_dose_on_or_before_onset():
    adex = pl.DataFrame({"USUBJID": ["A1"] * 3, "ASTDY": [1.0, 8.0, 15.0]})
    onset = [0.0, 1.0, 9.0, 10.0, 22.0, 23.0, 45.0, 46.0, None]
    recs = pl.DataFrame({"USUBJID": ["A1"] * len(onset), "ASTDY": onset}, schema={"USUBJID": pl.String, "ASTDY": pl.Float64})
    out = derive_var_onset_window(recs, adex)
    assert out["DAYS"].to_list() == [None, 0.0, 1.0, 2.0, 7.0, 8.0, 30.0, 31.0, None]
    assert out["WINDOW"].to_list() == [
        "before first dose", "within 24 h (day 0-1)", "within 24 h (day 0-1)", "2-7 days", "2-7 days",
        "8-30 days", "8-30 days", "later (> 30 days)", "onset unknown"]


@pytest.mark.parametrize("fractional", [False, True])
def test_onset_by_integer_keys_equals_the_as_of_join_by_subject(monkeypatch, fractional):
    """derive_var_onset_window matches doses through one integer key per (subject, day); the as-of join by USUBJID
    (the path taken for fractional days, or a hash shared by two subjects) gives the same frame."""
    import numpy as np

    from trialkit.analyses.safety import onset as onset_module

    rng = np.random.default_rng(2)
    ids = [f"S{i:04d}" for i in range(300)]
    dose_subject = rng.choice(ids[:250], 2000)            # 50 subjects without any dose
    dose_day = rng.integers(1, 400, 2000).astype(float)
    ae_subject = rng.choice(ids, 3000)
    ae_day = rng.integers(-20, 500, 3000).astype(float) + (0.5 if fractional else 0.0)
    ae_day[::17] = np.nan                                  # onset unknown
    adex = pl.DataFrame({"USUBJID": dose_subject, "ASTDY": dose_day})
    recs = pl.DataFrame({"USUBJID": ae_subject, "ASTDY": ae_day}).with_columns(pl.col("ASTDY").fill_nan(None))
    got = derive_var_onset_window(recs, adex)
    assert (onset_module._by_codes(recs.with_columns(pl.col("ASTDY").alias("ONSETDY")),
                                   adex.rename({"ASTDY": "DOSEDY"}).sort("DOSEDY")) is None) == fractional
    monkeypatch.setattr(onset_module, "_by_codes", lambda out, doses: None)
    assert got.equals(derive_var_onset_window(recs, adex))
    assert got["DOSEDY"].null_count() > ae_day.size // 17  # some before the first dose or without doses


def test_onset_subjects_sharing_a_hash_fall_back_to_the_join(monkeypatch):
    """Every match of the integer keys is checked on USUBJID: with every subject hashed alike, the check fails and
    the as-of join by USUBJID decides, so the doses of one subject never serve another."""
    from trialkit.analyses.safety import onset as onset_module

    adex = pl.DataFrame({"USUBJID": ["A", "B"], "ASTDY": [1.0, 10.0]})
    recs = pl.DataFrame({"USUBJID": ["A", "B", "B"], "ASTDY": [12.0, 5.0, 12.0]})
    monkeypatch.setattr(pl.Series, "hash", lambda self, seed=0: pl.Series([0] * self.len(), dtype=pl.UInt64))
    assert onset_module._by_codes(recs.with_columns(pl.col("ASTDY").alias("ONSETDY")),
                                  adex.rename({"ASTDY": "DOSEDY"}).sort("DOSEDY")) is None
    assert derive_var_onset_window(recs, adex)["DOSEDY"].to_list() == [1.0, None, 10.0]


def test_onset_day_falls_back_to_astdt_and_trtsdt():
    adex = pl.DataFrame({"USUBJID": ["A1"], "ASTDY": [1.0]})
    recs = pl.DataFrame({"USUBJID": ["A1", "A1"], "ASTDT": [date(2020, 1, 3), date(2019, 12, 31)],
                         "TRTSDT": [date(2020, 1, 1)] * 2})
    out = derive_var_onset_window(recs, adex)
    assert out["ONSETDY"].to_list() == [3.0, -1.0]
    assert out["WINDOW"].to_list() == ["2-7 days", "before first dose"]


def test_onset_table_counts_events_and_subjects_per_window(toy):
    _, _, _, pop, aes = toy
    adex = pl.DataFrame({"USUBJID": ["A1", "B1", "B2", "B3"], "ASTDY": [1.0, 1.0, 1.0, 1.0]})
    tab = onset_table(aes, pop, adex)
    r = _row(tab, window="2-7 days", arm="Placebo")  # A1 days 3 and 4 (2 and 3 after the dose)
    assert (r["events"], r["subjects"]) == (2, 1)
    assert _row(tab, window="before first dose", arm="Drug")["events"] == 1  # B3's day -2 AE


# ------------------------------------------------------------------ liver
def _adlb(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"USUBJID": pl.String, "PARAMCD": pl.String, "AVAL": pl.Float64,
                                      "ADY": pl.Float64, "ABLFL": pl.String, "A1LO": pl.Float64,
                                      "A1HI": pl.Float64}, orient="row")


def _liver_subject(uid: str, alt: list[float], ast: list[float], bili: list[float]) -> list[tuple]:
    rows = []
    for code, values, lo, hi in (("ALT", alt, 10.0, 40.0), ("AST", ast, 10.0, 40.0), ("BILI", bili, 5.0, 20.0)):
        for i, v in enumerate(values):
            rows.append((uid, code, v, -1.0 if i == 0 else 7.0 * i, "Y" if i == 0 else None, lo, hi))
    return rows


def _liver(rows):
    adsl = _adsl()
    pop = safety_population(adsl, arms_of(adsl))
    adlb = _adlb(rows)
    return pop, adlb, liver_records(adlb, pop)


def test_hys_law_uses_peaks_at_any_time_not_the_same_visit():
    # A1: ALT 4 x ULN at day 7, bilirubin 3 x ULN at day 14 (different visits) -> candidate.
    # A2: ALT exactly 3 x ULN -> not (strictly greater). B1: AST 5 x ULN and bilirubin 2.5 x ULN -> candidate.
    rows = (_liver_subject("A1", [20, 160, 30], [20, 30, 30], [10, 10, 60])
            + _liver_subject("A2", [20, 120, 30], [20, 30, 30], [10, 10, 60])
            + _liver_subject("B1", [20, 30, 30], [20, 200, 30], [10, 50, 10]))
    pop, _, rec = _liver(rows)
    peaks = liver_peaks(rec, pop)
    a1 = _row(peaks, usubjid="A1")
    assert (a1["alt_uln"], a1["bili_uln"], a1["alt_xbl"], a1["bili_xbl"]) == pytest.approx((4.0, 3.0, 8.0, 6.0))
    assert a1["edish_quadrant"] == "Hy's law range" and a1["mdish"]
    assert hys_law_candidates(peaks)["usubjid"].to_list() == ["A1", "B1"]
    assert _row(peaks, usubjid="B1")["edish_quadrant"] == "Cholestasis"  # eDISH x is ALT; AST made it a candidate


def test_shift_worst_is_the_most_extreme_fold_and_a_tie_goes_to_high():
    # A1 ALT: low 5 (LLN 10: fold 2) and high 60 (ULN 40: fold 1.5) -> low.
    # A2 ALT: low 5 (fold 2) and high 80 (fold 2) -> tie -> high. B1: baseline missing, normal after.
    rows = _liver_subject("A1", [20, 5, 60], [20], [10]) + _liver_subject("A2", [5, 5, 80], [20], [10])
    rows += [r for r in _liver_subject("B1", [20, 30], [20], [10]) if not (r[1] == "ALT" and r[4] == "Y")]
    pop, _, rec = _liver(rows)
    shift = liver_shift_table(rec, pop).filter((pl.col("test") == "ALT") & (pl.col("subjects") > 0))
    assert shift.select("arm", "baseline", "worst", "subjects", "n").rows() == [
        ("Placebo", "low", "high", 1, 2), ("Placebo", "normal", "low", 1, 2), ("Drug", "missing", "normal", 1, 1)]


def test_without_ablfl_baseline_is_the_last_value_on_or_before_day_1():
    rows = [r[:4] + r[5:] for r in _liver_subject("A1", [20, 160, 30], [20, 30, 30], [10, 10, 60])]
    adlb = pl.DataFrame(rows, schema=["USUBJID", "PARAMCD", "AVAL", "ADY", "A1LO", "A1HI"], orient="row")
    adsl = _adsl()
    pop = safety_population(adsl, arms_of(adsl))
    peaks = liver_peaks(liver_records(adlb, pop), pop)
    assert _row(peaks, usubjid="A1")["alt_xbl"] == pytest.approx(8.0)


def test_liver_screens_say_why_they_cannot_run():
    rows = _liver_subject("A1", [20, 30], [20, 30], [10, 10])
    adlb = _adlb(rows)
    assert liver_unavailable(None) == "the workspace holds no ADLB"
    assert "AST" in liver_unavailable(adlb.filter(pl.col("PARAMCD") != "AST"))
    no_uln = adlb.drop("A1HI")
    assert "upper limit of normal" in liver_unavailable(no_uln)
    assert liver_unavailable(no_uln.with_columns(pl.lit(40.0).alias("ANRHI"))) is None  # ANRHI stands in
    assert liver_unavailable(adlb.with_columns(pl.col("PARAMCD").replace({"BILI": "TBIL"}))) is None


# ---------------------------------------------------------------- summary
def test_reference_must_be_among_the_analysed_groups(toy):
    _, _, arms, _, _ = toy
    assert choose_reference(arms, arms, None).label == "Placebo"
    assert choose_reference(arms, arms, "drug").label == "Drug"
    with pytest.raises(UsageError, match="not among the groups"):
        choose_reference(arms, arms[1:], "placebo")


def test_analyse_safety_notes_exclusions_and_keeps_the_overview_under_min_percent(toy):
    adsl, adae, arms, _, _ = toy
    full = analyse_safety(adsl, adae, arms, arms[0])
    cut = analyse_safety(adsl, adae, arms, arms[0], min_percent=50)
    assert cut.overview.equals(full.overview)
    assert cut.incidence.height < full.incidence.height
    assert any("not in ADSL were excluded" in n for n in full.notes)
    assert any("AESEV is missing on 1 TEAE record" in n for n in full.notes)
    obj = safety_json(full)
    assert {"population", "overview", "incidence", "fisher", "hys_law", "definitions"} <= set(obj)
    assert obj["definitions"]["treatment_emergent"] == 'ADAE TRTEMFL = "Y"'
    assert {"level", "soc", "pt", "arm", "subjects", "percent", "events"} <= set(obj["incidence"][0])


# ------------------------------------------------------- CDISC pilot (real)
def _pilot_frames(ws: Path):
    return {d: pl.read_parquet(ws / f"{d}.parquet") for d in ("adsl", "adae", "adlb")}


@pytest.fixture(scope="module")
def pilot_result(pilot_workspace):
    f = _pilot_frames(pilot_workspace)
    arms = arms_of(f["adsl"])
    return analyse_safety(f["adsl"], f["adae"], arms, arms[0], adlb=f["adlb"])


def _reference_table() -> list[dict]:
    with open(REF / "pilot_t14_5_01.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.realdata
def test_pilot_safety_population_is_86_84_84(pilot_result):
    assert pilot_result.population.counts.select("arm", "n").rows() == [
        ("Placebo", 86), ("Xanomeline Low Dose", 84), ("Xanomeline High Dose", 84)]


@pytest.mark.realdata
def test_pilot_table_14_5_01_every_row_matches_the_independent_r_reference(pilot_result):
    ref = _reference_table()
    inc = {(r["level"], r["soc"], r["pt"], r["arm"]): r for r in pilot_result.incidence.iter_rows(named=True)}
    pvals = {(r["level"], r["soc"], r["pt"], r["arm"]): r["p"] for r in pilot_result.fisher.iter_rows(named=True)}
    assert len(inc) == len(ref) == 762
    for r in ref:
        key = (r["level"], r["soc"] or None, r["pt"] or None, r["arm"])
        got = inc[key]
        assert (got["subjects"], got["events"], got["n"]) == (int(r["subjects"]), int(r["events"]), int(r["N"])), key
        assert f"{got['percent']:.1f}" == f"{float(r['percent']):.1f}", key  # printed as xx.x%
        if r["arm"] != r["reference"]:
            want = None if r["p_vs_reference"] == "" else float(r["p_vs_reference"])
            p = pvals[key]
            assert (p is None) == (want is None), key
            if want is not None:
                assert f"{p:.3f}" == f"{want:.3f}", key  # printed to 3 decimals
                assert p == pytest.approx(want, rel=1e-6), key


@pytest.mark.realdata
def test_pilot_published_any_teae_row(pilot_result):
    # Published Table 14-5.01, "ANY BODY SYSTEM": 65 (75.6%), 77 (91.7%), 76 (90.5%).
    anyrow = pilot_result.incidence.filter(pl.col("level") == "any")
    assert [f"{s} ({p:.1f}%)" for s, p in anyrow.select("subjects", "percent").rows()] == [
        "65 (75.6%)", "77 (91.7%)", "76 (90.5%)"]


@pytest.mark.realdata
def test_pilot_risk_difference_of_application_site_pruritus(pilot_result):
    rd = pilot_result.risk_differences
    row = _row(rd, pt="APPLICATION SITE PRURITUS", arm="Xanomeline Low Dose")
    want = [r for r in _newcombe_reference() if (r["x1"], r["n1"], r["x2"], r["n2"]) == (22, 84, 6, 86)][0]
    assert (row["rd"], row["lower"], row["upper"]) == pytest.approx(
        (100 * want["rd"], 100 * want["lower"], 100 * want["upper"]), rel=1e-9)


def _reference_peaks() -> dict[str, dict]:
    with open(REF / "pilot_liver_peaks.csv") as f:
        return {r["usubjid"]: r for r in csv.DictReader(f)}


@pytest.mark.realdata
def test_pilot_adlbhy_peaks_and_hys_law_match_r(pilot_result):
    ref = _reference_peaks()
    peaks = {r["usubjid"]: r for r in pilot_result.liver_peaks.iter_rows(named=True)}
    assert set(peaks) == set(ref) and len(ref) == 246
    for uid, want in ref.items():
        for col in ("alt_uln", "ast_uln", "bili_uln", "alt_xbl", "ast_xbl", "bili_xbl"):
            w = None if want[col] in ("", "NA") else float(want[col])
            got = peaks[uid][col]
            assert (got is None) == (w is None), (uid, col)
            if w is not None:
                assert got == pytest.approx(w, rel=1e-9), (uid, col)
        assert peaks[uid]["hys_law"] == (want["hys_law"] == "TRUE"), uid
    assert pilot_result.hys_law["usubjid"].to_list() == ["01-705-1186"]


@pytest.mark.realdata
def test_pilot_edish_quadrants_follow_the_r_peaks(pilot_result):
    ref = _reference_peaks()
    expected = {}
    for uid, r in ref.items():
        if r["alt_uln"] in ("", "NA") or r["bili_uln"] in ("", "NA"):
            continue
        x, y = float(r["alt_uln"]), float(r["bili_uln"])
        expected[uid] = ("Hy's law range" if x > 3 and y > 2 else "Temple's corollary" if x > 3
                         else "Cholestasis" if y > 2 else "Normal range")
    got = {u: q for u, q in pilot_result.liver_peaks.select("usubjid", "edish_quadrant").rows() if q is not None}
    assert got == expected
    assert sorted(u for u, q in got.items() if q != "Normal range") == sorted(
        u for u, q in expected.items() if q != "Normal range") and len(expected) == 245


@pytest.mark.realdata
def test_pilot_shift_table_matches_r(pilot_result):
    with open(REF / "pilot_liver_shift.csv") as f:
        ref = {(r["param"], r["arm"], r["baseline"], r["worst"]): (int(r["subjects"]), int(r["n"]))
               for r in csv.DictReader(f)}
    got = {(r["param"], r["arm"], r["baseline"], r["worst"]): (r["subjects"], r["n"])
           for r in pilot_result.liver_shift.iter_rows(named=True) if r["subjects"] > 0}
    assert got == ref
    assert math.isclose(sum(v[0] for k, v in got.items() if k[0] == "ALT" and k[1] == "Placebo"), 84)
