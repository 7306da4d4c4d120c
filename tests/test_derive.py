"""Derivations in analyses/biomarkers/derive.py against hand-worked examples (worked out in the comments).

Unit factors (schemas/units.py): bilirubin mg/dL = umol/L / 17.1; creatinine mg/dL = umol/L / 88.4.
ln 2 = 0.693147, ln 1.5 = 0.405465, ln 4 = 1.386294, ln 40 = 3.688879; log10 17.1 = 1.232996,
log10 50 = 1.698970.
"""

from __future__ import annotations

import polars as pl
import pytest

from trialkit.analyses.biomarkers import derive as dv
from trialkit.schemas.errors import ColumnNotFoundError, NoDataError

UNITS = {"TBIL": "umol/L", "INR": "ratio", "CREAT": "umol/L", "SODIUM": "mmol/L", "ALB": "g/L",
         "ASCITES": "grade", "HEPENC": "grade", "DIALYSIS": None}


def labs(*visits: dict, subject: str = "S1") -> pl.DataFrame:
    """ADLB rows: one dict per visit, PARAMCD -> AVAL (or (AVAL, AVALU)), plus optional AVISITN/ABLFL."""
    rows = []
    for i, visit in enumerate(visits):
        visitn = visit.get("AVISITN", i + 1)
        for code, value in visit.items():
            if code in ("AVISITN", "ABLFL"):
                continue
            aval, unit = value if isinstance(value, tuple) else (value, UNITS.get(code))
            rows.append({"USUBJID": subject, "PARAMCD": code, "AVAL": float(aval), "AVALU": unit,
                         "AVISIT": f"V{visitn}", "AVISITN": float(visitn), "ADY": float(visitn),
                         "ABLFL": visit.get("ABLFL")})
    return pl.DataFrame(rows, schema={"USUBJID": pl.String, "PARAMCD": pl.String, "AVAL": pl.Float64,
                                      "AVALU": pl.String, "AVISIT": pl.String, "AVISITN": pl.Float64,
                                      "ADY": pl.Float64, "ABLFL": pl.String})


def values(df: pl.DataFrame, code: str) -> list[float]:
    return df.filter(pl.col("PARAMCD") == code).sort("AVISITN").get_column("AVAL").to_list()


# ---------------------------------------------------------------- MELD
def test_meld_hand_worked_example():
    # bili 34.2 umol/L = 2.0 mg/dL, INR 1.5, creat 176.8 umol/L = 2.0 mg/dL:
    # 3.78*0.693147 + 11.2*0.405465 + 9.57*0.693147 + 6.43 = 2.620096 + 4.541209 + 6.633418 + 6.43
    # = 20.224723 -> 20
    out = dv.derive_param_meld(labs({"TBIL": 34.2, "INR": 1.5, "CREAT": 176.8}))
    assert values(out, "MELDD") == [20.0]


def test_meld_floors_inputs_at_one():
    # bili 10 umol/L = 0.585 mg/dL -> 1.0; INR 0.9 -> 1.0; creat 50 umol/L = 0.566 mg/dL -> 1.0:
    # every log is 0, MELD = round(6.43) = 6
    assert values(dv.derive_param_meld(labs({"TBIL": 10, "INR": 0.9, "CREAT": 50})), "MELDD") == [6.0]


def test_meld_caps_creatinine_at_four():
    # creat 600 umol/L = 6.79 mg/dL -> capped at 4.0; bili and INR floored at 1:
    # 9.57*1.386294 + 6.43 = 13.266838 + 6.43 = 19.696838 -> 20 (uncapped it would be 24.7 -> 25)
    assert values(dv.derive_param_meld(labs({"TBIL": 10, "INR": 1.0, "CREAT": 600})), "MELDD") == [20.0]


def test_meld_sets_creatinine_to_four_on_dialysis():
    # creat 100 umol/L = 1.131 mg/dL, but DIALYSIS = 1 -> 4.0: as above, 19.696838 -> 20;
    # the visit without dialysis: 9.57*ln(1.131222) + 6.43 = 9.57*0.123298 + 6.43 = 7.609963 -> 8
    adlb = labs({"TBIL": 10, "INR": 1.0, "CREAT": 100, "DIALYSIS": 1}, {"TBIL": 10, "INR": 1.0, "CREAT": 100, "DIALYSIS": 0})
    assert values(dv.derive_param_meld(adlb), "MELDD") == [20.0, 8.0]


def test_meld_caps_result_at_forty():
    # bili 684 umol/L = 40 mg/dL, INR 4, creat 353.6 umol/L = 4.0 mg/dL:
    # 3.78*3.688879 + 11.2*1.386294 + 9.57*1.386294 + 6.43 = 13.943964 + 15.526493 + 13.266838 + 6.43
    # = 49.167295 -> capped at 40
    assert values(dv.derive_param_meld(labs({"TBIL": 684, "INR": 4.0, "CREAT": 353.6})), "MELDD") == [40.0]


def test_meld_converts_bilirubin_given_in_mg_dl():
    # 2.0 mg/dL is 34.2 umol/L: the same 20 as the first example
    out = dv.derive_param_meld(labs({"TBIL": (2.0, "mg/dL"), "INR": 1.5, "CREAT": 176.8}))
    assert values(out, "MELDD") == [20.0]


def test_meld_rows_say_they_are_derived():
    row = dv.derive_param_meld(labs({"TBIL": 34.2, "INR": 1.5, "CREAT": 176.8})).filter(pl.col("PARAMCD") == "MELDD").row(0, named=True)
    assert row["PARAMTYP"] == "DERIVED" and "derived" in row["PARAM"]
    assert row["DRVNOTE"].startswith("UNOS MELD") and "capped at 40" in row["DRVNOTE"]


def test_meld_reads_the_pilot_alias_bili():
    adlb = labs({"TBIL": 34.2, "INR": 1.5, "CREAT": 176.8}).with_columns(
        pl.when(pl.col("PARAMCD") == "TBIL").then(pl.lit("BILI")).otherwise(pl.col("PARAMCD")).alias("PARAMCD"))
    assert values(dv.derive_param_meld(adlb), "MELDD") == [20.0]


# ---------------------------------------------------------------- MELD-Na
def test_meldna_adds_sodium_term_when_meld_above_eleven():
    # MELD(i) = 20 (first MELD example), Na 130: 20 + 1.32*7 - 0.033*20*7 = 20 + 9.24 - 4.62 = 24.62 -> 25
    out = dv.derive_param_meldna(labs({"TBIL": 34.2, "INR": 1.5, "CREAT": 176.8, "SODIUM": 130}))
    assert values(out, "MELDNA") == [25.0]


def test_meldna_bounds_sodium_to_125_137():
    # Na 120 -> 125: 20 + 1.32*12 - 0.033*20*12 = 20 + 15.84 - 7.92 = 27.92 -> 28
    # Na 140 -> 137: no sodium term, 20
    adlb = labs({"TBIL": 34.2, "INR": 1.5, "CREAT": 176.8, "SODIUM": 120},
                {"TBIL": 34.2, "INR": 1.5, "CREAT": 176.8, "SODIUM": 140})
    assert values(dv.derive_param_meldna(adlb), "MELDNA") == [28.0, 20.0]


def test_meldna_equals_meld_at_eleven_or_below():
    # MELD(i) = 6 (all floors); Na 125 would add 15.84 - 2.376, but MELD(i) <= 11: MELD-Na = 6
    out = dv.derive_param_meldna(labs({"TBIL": 10, "INR": 1.0, "CREAT": 50, "SODIUM": 125}))
    assert values(out, "MELDNA") == [6.0]


def test_meldna_caps_at_forty():
    # MELD(i) = round(49.167295) = 49; Na 125: 49 + 15.84 - 0.033*49*12 = 49 + 15.84 - 19.404 = 45.436 -> 40
    out = dv.derive_param_meldna(labs({"TBIL": 684, "INR": 4.0, "CREAT": 353.6, "SODIUM": 125}))
    assert values(out, "MELDNA") == [40.0]


# ---------------------------------------------------------------- Child-Pugh
@pytest.mark.parametrize(("inputs", "points", "klass"), [
    # bili 20 (<34.2: 1) + alb 40 (>35: 1) + INR 1.2 (<1.7: 1) + no ascites (1) + no HE (1) = 5, A
    ({"TBIL": 20, "ALB": 40, "INR": 1.2, "ASCITES": 0, "HEPENC": 0}, 5, "A"),
    # bili 40 (2) + alb 30 (2) + INR 1.5 (1) + ascites 1 (2) + HE 0 (1) = 8, B
    ({"TBIL": 40, "ALB": 30, "INR": 1.5, "ASCITES": 1, "HEPENC": 0}, 8, "B"),
    # bili 60 (3) + alb 25 (3) + INR 2.5 (3) + ascites 2 (3) + HE 3 (3) = 15, C
    ({"TBIL": 60, "ALB": 25, "INR": 2.5, "ASCITES": 2, "HEPENC": 3}, 15, "C"),
    # boundaries: bili 34.2 (2), alb 35 (2), INR 1.7 (2), ascites 0 (1), HE 2 (2) = 9, B
    ({"TBIL": 34.2, "ALB": 35, "INR": 1.7, "ASCITES": 0, "HEPENC": 2}, 9, "B"),
    # boundaries: bili 51.3 (2), alb 28 (2), INR 2.3 (2), ascites 0 (1), HE 0 (1) = 8, B
    ({"TBIL": 51.3, "ALB": 28, "INR": 2.3, "ASCITES": 0, "HEPENC": 0}, 8, "B"),
    # just past: bili 51.4 (3), alb 27.9 (3), INR 2.31 (3), ascites 0 (1), HE 0 (1) = 11, C
    ({"TBIL": 51.4, "ALB": 27.9, "INR": 2.31, "ASCITES": 0, "HEPENC": 0}, 11, "C"),
    # class edges: 6 is A, 7 is B: bili 34.2 (2) + 1 + 1 + 1 + 1 = 6 A
    ({"TBIL": 34.2, "ALB": 40, "INR": 1.0, "ASCITES": 0, "HEPENC": 0}, 6, "A"),
])
def test_child_pugh_score_and_class(inputs, points, klass):
    out = dv.derive_param_child_pugh(labs(inputs))
    assert values(out, "CPSCORED") == [float(points)]
    row = out.filter(pl.col("PARAMCD") == "CPCLASS").row(0, named=True)
    assert row["AVALC"] == klass and row["AVAL"] == {"A": 1.0, "B": 2.0, "C": 3.0}[klass]


# ---------------------------------------------------------------- ALBI
@pytest.mark.parametrize(("bili", "alb", "albi", "grade"), [
    (10, 45, 0.66 * 1.0 - 0.085 * 45, 1),             # 0.66 - 3.825 = -3.165 <= -2.60: grade 1
    (17.1, 40, 0.66 * 1.232996 - 0.085 * 40, 2),      # 0.813777 - 3.4 = -2.586223: grade 2
    (50, 25, 0.66 * 1.698970 - 0.085 * 25, 3),        # 1.121320 - 2.125 = -1.003680 > -1.39: grade 3
])
def test_albi_score_and_grade(bili, alb, albi, grade):
    out = dv.derive_param_albi(labs({"TBIL": bili, "ALB": alb}))
    assert values(out, "ALBI")[0] == pytest.approx(albi, abs=1e-6)
    row = out.filter(pl.col("PARAMCD") == "ALBIGR").row(0, named=True)
    assert row["AVAL"] == grade and row["AVALC"] == f"Grade {grade}"


def test_albi_without_bilirubin_above_zero_gives_no_score():
    out = dv.derive_param_albi(labs({"TBIL": 0, "ALB": 40}))
    assert values(out, "ALBI") == [] and values(out, "ALBIGR") == []


# ---------------------------------------------------------------- required inputs
def test_score_without_an_input_parameter_names_it():
    with pytest.raises(NoDataError, match="ADLB has no CREAT records: MELD needs TBIL, INR, CREAT"):
        dv.derive_param_meld(labs({"TBIL": 34.2, "INR": 1.5}))


def test_derivation_without_a_variable_names_dataset_and_column():
    with pytest.raises(ColumnNotFoundError, match="ADLB has no AVAL: BASE needs USUBJID, PARAMCD, AVAL, ABLFL"):
        dv.derive_var_base(labs({"ALB": 30}).drop("AVAL"))
    with pytest.raises(ColumnNotFoundError, match="ADLB has no BASE: CHG needs"):
        dv.derive_var_chg(labs({"ALB": 30}))


def test_derivable_lists_the_scores_whose_inputs_exist():
    assert dv.derivable(labs({"TBIL": 20, "ALB": 40})) == ["albi"]
    assert dv.derivable(labs({"TBIL": 20, "ALB": 40, "INR": 1.2, "CREAT": 80, "SODIUM": 135,
                              "ASCITES": 0, "HEPENC": 0})) == ["meld", "meldna", "childpugh", "albi"]


# ---------------------------------------------------------------- baseline, change
def test_base_chg_pchg_from_the_flagged_record():
    adlb = labs({"ALB": 30, "AVISITN": 1, "ABLFL": "Y"}, {"ALB": 33, "AVISITN": 8}, {"ALB": 27, "AVISITN": 15})
    out = dv.derive_vars_base_chg(adlb).sort("AVISITN")
    assert out.get_column("BASE").to_list() == [30.0, 30.0, 30.0]
    assert out.get_column("CHG").to_list() == [None, 3.0, -3.0]  # null on the baseline record itself
    assert out.get_column("PCHG").to_list() == [None, pytest.approx(10.0), pytest.approx(-10.0)]


def test_baseline_without_flag_is_last_non_missing_value_on_or_before_day_1():
    # no ABLFL at all: days -7 (28), -3 (missing), 1 (missing AVAL), 8 (31): baseline is day -7
    adlb = pl.DataFrame({"USUBJID": ["S1"] * 4, "PARAMCD": ["ALB"] * 4, "AVAL": [28.0, None, None, 31.0],
                         "ADY": [-7.0, -3.0, 1.0, 8.0], "AVISITN": [0.0, 0.5, 1.0, 8.0]})
    out = dv.derive_vars_base_chg(adlb)
    assert out.get_column("ABLFL").to_list() == ["Y", None, None, None]
    assert out.get_column("BASE").to_list() == [28.0] * 4
    assert out.get_column("CHG").to_list() == [None, None, None, 3.0]


def test_baseline_rule_uses_avisitn_where_ady_is_missing():
    adlb = pl.DataFrame({"USUBJID": ["S1"] * 3, "PARAMCD": ["ALB"] * 3, "AVAL": [28.0, 29.0, 31.0],
                         "AVISITN": [0.0, 1.0, 8.0]})
    out = dv.derive_vars_base_chg(adlb)
    assert out.get_column("BASE").to_list() == [29.0] * 3 and out.get_column("CHG").to_list() == [None, None, 2.0]


def test_subject_without_baseline_keeps_records_with_chg_null():
    adlb = labs({"ALB": 30, "AVISITN": 8}, {"ALB": 31, "AVISITN": 15}, subject="S2")
    out = dv.derive_vars_base_chg(adlb)
    assert out.height == 2
    assert out.get_column("BASE").to_list() == [None, None] and out.get_column("CHG").to_list() == [None, None]


def test_pchg_is_null_when_base_is_zero():
    adlb = labs({"ALB": 0, "AVISITN": 1, "ABLFL": "Y"}, {"ALB": 3, "AVISITN": 8})
    out = dv.derive_vars_base_chg(adlb).sort("AVISITN")
    assert out.get_column("CHG").to_list() == [None, 3.0] and out.get_column("PCHG").to_list() == [None, None]


def test_check_base_lists_records_where_delivered_base_differs():
    adlb = labs({"ALB": 30, "AVISITN": 1, "ABLFL": "Y"}, {"ALB": 33, "AVISITN": 8}).with_columns(
        pl.Series("BASE", [30.0, 29.0]))
    out = dv.check_base(dv.derive_vars_base_chg(adlb))
    assert out.select("AVISITN", "BASE_SRC", "BASE").rows() == [(8.0, 29.0, 30.0)]


# ---------------------------------------------------------------- reported vs derived scores
def test_score_check_lists_disagreements():
    visit = {"TBIL": 34.2, "INR": 1.5, "CREAT": 176.8}
    adlb = labs({**visit, "MELD": 20}, {**visit, "MELD": 22})
    check = dv.check_reported_scores(dv.derive_param_meld(adlb))
    assert check.compared.rows() == [("MELD", "MELDD", 2, 1)]
    assert check.disagreements.select("USUBJID", "AVISITN", "REPORTED_VALUE", "DERIVED_VALUE", "DIFFERENCE").rows() == [
        ("S1", 2.0, 22.0, 20.0, 2.0)]


def test_seed_reported_meld_and_child_pugh_agree_with_derived(seed_workspace):
    # the built-in trial's generator computes MELD and CPSCORE from the same inputs (README)
    adlb = pl.read_parquet(seed_workspace / "adlb.parquet")
    check = dv.check_reported_scores(dv.derive_param_child_pugh(dv.derive_param_meld(adlb)))
    assert {r[0]: r[3] for r in check.compared.rows()} == {"MELD": 0, "CPSCORE": 0}
    assert check.compared.get_column("N_COMPARED").min() > 150
    assert check.disagreements.height == 0


def test_pilot_recomputed_base_matches_delivered_base(pilot_workspace):
    # CDISC pilot ADLBHY carries BASE; the only differences are 5 BILIHY records whose AVAL is
    # missing, where the pilot leaves BASE empty and trialkit fills it from the baseline record.
    out = dv.derive_vars_base_chg(pl.read_parquet(pilot_workspace / "adlb.parquet"))
    diff = dv.check_base(out)
    assert diff.height == 5
    assert set(diff.get_column("PARAMCD")) == {"BILIHY"} and diff.get_column("BASE_SRC").null_count() == 5
    # two subjects have no baseline record: their ALT records keep CHG null
    alt = out.filter(pl.col("PARAMCD") == "ALT")
    assert alt.filter(pl.col("BASE").is_null()).get_column("USUBJID").n_unique() == 2
    assert alt.filter(pl.col("BASE").is_null() & pl.col("CHG").is_not_null()).height == 0


def test_no_derivation_on_pilot_labs(pilot_workspace):
    assert dv.derivable(pl.read_parquet(pilot_workspace / "adlb.parquet")) == []


def test_base_check_compares_only_records_whose_base_was_delivered():
    import polars as pl

    from trialkit.analyses.biomarkers.derive import check_base

    adlb = pl.DataFrame({
        "USUBJID": ["1", "1", "1"],
        "PARAMCD": ["ALB", "ALB", "MELDD"],
        "AVISITN": [1.0, 2.0, 2.0],
        "BASE_SRC": [30.0, 31.0, None],   # the source's BASE; none for a trialkit-derived score
        "BASE": [30.0, 30.0, 12.0],       # recomputed
        "DRVNOTE": [None, None, "UNOS MELD"],
    })
    flagged = check_base(adlb)
    assert flagged.select("PARAMCD", "AVISITN").rows() == [("ALB", 2.0)]


def test_deriving_several_scores_at_once_equals_deriving_them_one_after_another():
    adlb = pl.concat([
        labs({"TBIL": 34.2, "INR": 1.5, "CREAT": 176.8, "SODIUM": 130, "ALB": 30, "ASCITES": 1, "HEPENC": 0,
              "ABLFL": "Y"},
             {"TBIL": 60, "INR": 2.0, "CREAT": 90, "SODIUM": 135, "ALB": 26, "ASCITES": 2, "HEPENC": 3}),
        labs({"TBIL": 12, "INR": 1.1, "CREAT": 70, "SODIUM": 140, "ALB": 40, "ASCITES": 0, "HEPENC": 0},
             subject="S2"),
    ])
    one_by_one = dv.derive_param_albi(dv.derive_param_child_pugh(dv.derive_param_meldna(dv.derive_param_meld(adlb))))
    together = dv.derive_params(adlb, ["meld", "meldna", "childpugh", "albi"])
    assert together.equals(one_by_one)
    assert dv.derive_params(together, ["meld"]).filter(pl.col("PARAMCD") == "MELDD").height == 3  # replaced, not doubled


def test_baseline_without_flag_takes_the_later_record_of_two_on_the_same_day():
    adlb = pl.DataFrame({"USUBJID": ["S1"] * 3, "PARAMCD": ["ALB"] * 3, "AVAL": [28.0, 29.0, 31.0],
                         "ADY": [1.0, 1.0, 8.0]})
    assert dv.derive_var_ablfl(adlb).get_column("ABLFL").to_list() == [None, "Y", None]


def test_a_flagged_baseline_is_kept_and_no_other_record_of_that_parameter_is_flagged():
    adlb = pl.DataFrame({"USUBJID": ["S1", "S1", "S1", "S2"], "PARAMCD": ["ALB", "ALB", "ALB", "ALB"],
                         "AVAL": [28.0, 29.0, 31.0, 30.0], "ADY": [-3.0, 1.0, 8.0, 1.0], "ABLFL": ["Y", None, None, None]})
    assert dv.derive_var_ablfl(adlb).get_column("ABLFL").to_list() == ["Y", None, None, "Y"]
