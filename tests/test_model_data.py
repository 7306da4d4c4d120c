"""The Cox model's data: where variables come from, factor coding, missing values and refusals.

The coding follows R: ``coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A + <covariates> + strata(<strata>))`` with
treatment contrasts, factor levels sorted (or in companion <NAME>N order), na.omit, and strata() labels
"A=a, B=b". The numbers these models give are pinned against R in test_cox_model.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from trialkit.analyses.survival.km import derive_survival_data
from trialkit.analyses.survival.modeldata import (CovariateSpec, attach_variables, locate_variables, model_data,
                                                  parse_covariate)
from trialkit.schemas.errors import DataError, UsageError

ROOT = Path(__file__).resolve().parents[1]
COLON = ROOT / "fixtures" / "r_datasets" / "colon"
GROUPS = ["Observation", "Levamisole", "Levamisole+5-FU"]


@pytest.fixture(scope="module")
def colon_sets():
    return pl.read_csv(COLON / "adtte.csv"), pl.read_csv(COLON / "adsl.csv")


def _colon(colon_sets, variables):
    tte, sl = colon_sets
    return attach_variables(derive_survival_data(tte, sl, "OS", GROUPS), tte, sl, "OS", variables)


def _tiny() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    data = pl.DataFrame({"USUBJID": ["1", "2", "3", "4"], "TRT01A": ["A", "B", "A", "B"],
                         "AVAL": [5.0, 6.0, 7.0, 8.0], "CNSR": [0, 0, 1, 0]})
    adtte = pl.DataFrame({"USUBJID": ["1", "2", "3", "4", "1"], "PARAMCD": ["OS", "OS", "OS", "OS", "PFS"],
                          "AGE": [50, 60, 70, 80, 99]})
    adsl = pl.DataFrame({"USUBJID": ["1", "2", "3", "4"], "AGE": [1, 2, 3, 4], "SEX": ["F", "M", "M", "F"],
                         "RACE": ["X", "Y", "X", "Y"], "RACEN": [2, 1, 2, 1]})
    return data, adtte, adsl


# ------------------------------------------------------------------ attaching variables
def test_variables_come_from_the_endpoint_adtte_rows_else_adsl():
    data, adtte, adsl = _tiny()
    out = attach_variables(data, adtte, adsl, "OS", ["AGE", "SEX", "RACE"])
    assert out["AGE"].to_list() == [50, 60, 70, 80]          # ADTTE's OS rows win over ADSL
    assert out["SEX"].to_list() == ["F", "M", "M", "F"]
    assert out["RACEN"].to_list() == [2, 1, 2, 1]             # the companion numeric comes along
    assert locate_variables(adtte, adsl, ["AGE", "SEX"]) == {"AGE": ("ADTTE", "AGE"), "SEX": ("ADSL", "SEX")}


def test_unknown_variable_names_both_datasets_and_near_candidates():
    data, adtte, adsl = _tiny()
    with pytest.raises(UsageError, match="variable 'SEXX' is in neither ADTTE nor ADSL") as err:
        attach_variables(data, adtte, adsl, "OS", ["SEXX"])
    assert err.value.hint == "did you mean SEX?"


def test_variable_names_match_ignoring_case():
    data, adtte, adsl = _tiny()
    assert "SEX" in attach_variables(data, adtte, adsl, "OS", ["sex"]).columns


# ------------------------------------------------------------------ covariate options
def test_parse_covariate_reads_name_and_reference():
    assert parse_covariate("SEX:F") == CovariateSpec("SEX", "F")
    assert parse_covariate(" AGE ") == CovariateSpec("AGE", None)
    with pytest.raises(UsageError, match="--covariate 'SEX:' is not NAME or NAME:REFERENCE"):
        parse_covariate("SEX:")


# ------------------------------------------------------------------ coding
def test_design_puts_treatment_dummies_first_then_covariates(colon_sets):
    md = model_data(_colon(colon_sets, ["AGE", "SEX"]), GROUPS, "Observation", [],
                    [CovariateSpec("AGE"), CovariateSpec("SEX")])
    assert md.columns == ("TRT01A=Levamisole", "TRT01A=Levamisole+5-FU", "AGE", "SEX=M")
    assert [(t.name, t.kind, t.reference) for t in md.terms] == [
        ("TRT01A", "treatment", "Observation"), ("AGE", "numeric", None), ("SEX", "categorical", "F")]
    lev = md.frame["TRT01A"].to_numpy() == "Levamisole"
    np.testing.assert_array_equal(md.x[:, 0], lev.astype(float))
    np.testing.assert_array_equal(md.x[:, 2], md.frame["AGE"].to_numpy())


def test_reference_level_from_the_companion_numeric(colon_sets):
    md = model_data(_colon(colon_sets, ["DIFFER"]), GROUPS, "Observation", [], [CovariateSpec("DIFFER")])
    term = md.terms[1]
    assert term.reference == "Well"                           # DIFFERN 1, not the alphabetical "Moderate"
    assert term.columns == ("DIFFER=Moderate", "DIFFER=Poor")  # DIFFERN order


def test_reference_level_given_after_the_colon(colon_sets):
    md = model_data(_colon(colon_sets, ["SEX"]), GROUPS, "Observation", [], [parse_covariate("SEX:M")])
    assert md.terms[1].reference == "M" and md.columns[-1] == "SEX=F"


def test_numeric_variable_with_a_reference_is_a_factor(colon_sets):
    md = model_data(_colon(colon_sets, ["EXTENTN"]), GROUPS, "Observation", [], [parse_covariate("EXTENTN:3")])
    assert md.terms[1].kind == "categorical"
    assert md.terms[1].columns == ("EXTENTN=1", "EXTENTN=2", "EXTENTN=4")


def test_unknown_reference_level_lists_the_levels(colon_sets):
    with pytest.raises(UsageError, match="reference level 'X' of SEX \\(ADSL\\) does not exist") as err:
        tte, sl = colon_sets
        model_data(_colon(colon_sets, ["SEX"]), GROUPS, "Observation", [], [parse_covariate("SEX:X")],
                   locate_variables(tte, sl, ["SEX"]))
    assert err.value.hint == "its levels are: F, M"


def test_strata_labels_are_those_of_r_strata(colon_sets):
    md = model_data(_colon(colon_sets, ["SURG", "SEX"]), GROUPS, "Observation", ["SURG", "SEX"], [])
    assert md.frame["_stratum"].head(2).to_list()[0].startswith("SURG=")
    assert set(md.frame["_stratum"]) == {"SURG=Long, SEX=F", "SURG=Long, SEX=M", "SURG=Short, SEX=F",
                                         "SURG=Short, SEX=M"}
    assert md.strata_label == "strata(SURG, SEX)" and md.strata_codes.max() == 3


# ------------------------------------------------------------------ missing values
def test_missing_covariates_are_dropped_and_said(colon_sets):
    md = model_data(_colon(colon_sets, ["NODES", "DIFFER"]), GROUPS, "Observation", [],
                    [CovariateSpec("NODES"), CovariateSpec("DIFFER")])
    assert md.notes == ("18 subjects with a missing NODES are left out of the Cox model (as R's na.omit)",
                        "23 subjects with a missing DIFFER are left out of the Cox model (as R's na.omit)",
                        "in all 41 subjects are left out of the Cox model for missing values")
    assert md.n_dropped == 41 and md.frame.height == 929 - 41


def test_every_subject_missing_is_a_data_error():
    data, adtte, adsl = _tiny()
    data = data.with_columns(pl.lit(None, dtype=pl.Float64).alias("BMI"))
    with pytest.raises(DataError, match="every subject has a missing BMI"):
        model_data(data, ["A", "B"], "A", [], [CovariateSpec("BMI")])


# ------------------------------------------------------------------ refusals
def test_stratum_with_one_value_changes_nothing():
    data, adtte, adsl = _tiny()
    data = data.with_columns(pl.lit("Y").alias("ITTFL"))
    with pytest.raises(DataError, match="stratum variable ITTFL \\(the analysis data\\) has a single value \\(Y\\) "
                                        "among the analysed subjects: stratifying by it changes nothing"):
        model_data(data, ["A", "B"], "A", ["ITTFL"], [])


def test_covariate_with_one_value_cannot_be_estimated():
    data, adtte, adsl = _tiny()
    data = data.with_columns(pl.lit(3).alias("DOSE"))
    with pytest.raises(DataError, match="covariate DOSE .* has a single value \\(3\\)"):
        model_data(data, ["A", "B"], "A", [], [CovariateSpec("DOSE")])


def test_treatment_variable_is_refused_as_a_covariate():
    data, adtte, adsl = _tiny()
    data = data.with_columns(pl.lit(1).alias("TRT01AN"))
    with pytest.raises(UsageError, match="TRT01AN .* is the treatment variable"):
        model_data(data, ["A", "B"], "A", [], [CovariateSpec("TRT01AN")])


def test_analysis_columns_keep_keys_treatment_flags_and_each_variable_with_its_companion():
    from trialkit.analyses.survival.modeldata import analysis_columns

    tte = ["STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVAL", "CNSR", "EVNTDESC", "SRCDOM", "ECOG", "ECOGN"]
    sl = ["STUDYID", "USUBJID", "SUBJID", "TRT01A", "TRT01AN", "ARMCD", "ITTFL", "SAFFL", "AGE", "SEX", "SEXN", "RACE"]
    picks = analysis_columns(tte, sl, ["sex", "ECOG"])
    assert picks == (["STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVAL", "CNSR", "EVNTDESC", "ECOG", "ECOGN"],
                     ["STUDYID", "USUBJID", "TRT01A", "TRT01AN", "ARMCD", "ITTFL", "SAFFL", "SEX", "SEXN"])


def test_analysis_columns_give_up_on_a_name_in_neither_dataset():
    from trialkit.analyses.survival.modeldata import analysis_columns

    assert analysis_columns(["USUBJID", "AVAL"], ["USUBJID", "TRT01A"], ["STRAT9"]) is None
    assert analysis_columns(["USUBJID", "AVAL"], ["USUBJID", "TRT01A"], [], adtte_extra=["CAUSE"]) is None
