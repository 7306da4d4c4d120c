"""The subgroup forest against R (tests/reference/make_cox_reference.R -> cox_r.json, "forest").

R, on colon OS (TRT01A in TRT01AN order), for VAR in SEX, OBSTRUCT, with and without strata(SURG):

    coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A [+ strata(SURG)], data, subset = VAR == level, ties = )
    summary(fit)$conf.int[, c(1, 3, 4)], summary(fit)$coefficients[, 5]
    anova(coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A + VAR [+ strata(SURG)]),
          coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A * VAR [+ strata(SURG)]))      # interaction Chisq, Df, p

Tolerance: rel=1e-6.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from r_reference import same

from trialkit.analyses.survival.cox import cox_by_group
from trialkit.analyses.survival.forest import FOREST_COLUMNS, OVERALL, subgroup_forest
from trialkit.analyses.survival.km import derive_survival_data
from trialkit.analyses.survival.modeldata import attach_variables, model_data
from trialkit.schemas.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((Path(__file__).parent / "reference" / "cox_r.json").read_text())["forest"]
COLON = ROOT / "fixtures" / "r_datasets" / "colon"
GROUPS = ["Observation", "Levamisole", "Levamisole+5-FU"]


@pytest.fixture(scope="module")
def colon() -> pl.DataFrame:
    tte, sl = pl.read_csv(COLON / "adtte.csv"), pl.read_csv(COLON / "adsl.csv")
    data = derive_survival_data(tte, sl, "OS", GROUPS)
    return attach_variables(data, tte, sl, "OS", ["SEX", "OBSTRUCT", "SURG"])


def _forest(colon, key, ties):
    strata = REF[key]["strata"]
    if strata:
        colon = model_data(colon, GROUPS, GROUPS[0], strata).frame
    return subgroup_forest(colon, REF[key]["variables"], GROUPS, GROUPS[0], ties,
                           strata_col="_stratum" if strata else None)


@pytest.mark.parametrize("key", ["unstratified", "strata_surg"])
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_subgroup_hazard_ratios_match_coxph_within_each_level(colon, key, ties):
    got = _forest(colon, key, ties)
    want = REF[key][ties]["rows"]
    assert got.select("variable", "level", "arm").rows() == [(w["variable"], w.get("level"), w["arm"]) for w in want]
    for row, w in zip(got.iter_rows(named=True), want):
        assert (row["n"], row["events"]) == (w["n"], w["events"])
        same([row[c] for c in ("hr", "lower", "upper", "p")], [w[c] for c in ("hr", "lower", "upper", "p")])


@pytest.mark.parametrize("key", ["unstratified", "strata_surg"])
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_interaction_p_is_the_anova_likelihood_ratio_test(colon, key, ties):
    got = _forest(colon, key, ties)
    for v, w in REF[key][ties]["interaction"].items():
        rows = got.filter(pl.col("variable") == v)
        assert rows["interaction_df"].unique().to_list() == [w["df"]]
        same(rows["p_interaction"].unique().to_list(), [w["p"]])
    assert got.filter(pl.col("variable") == OVERALL)["p_interaction"].null_count() == 2


def test_overall_rows_are_the_treatment_model(colon):
    got = subgroup_forest(colon, ["SEX"], GROUPS, GROUPS[0]).filter(pl.col("variable") == OVERALL)
    cox = cox_by_group(colon, GROUPS, GROUPS[0])
    assert got["arm"].to_list() == cox["arm"].to_list()
    same(got["hr"].to_list(), cox["hr"].to_list(), rel=1e-12)
    assert got.schema == pl.Schema(FOREST_COLUMNS)


def test_arm_missing_from_a_subgroup_is_not_estimable_with_the_reason(colon):
    data = colon.filter(~((pl.col("SEX") == "F") & (pl.col("TRT01A") == "Levamisole")))
    got = subgroup_forest(data, ["SEX"], GROUPS, GROUPS[0])
    row = got.filter((pl.col("level") == "F") & (pl.col("arm") == "Levamisole")).row(0, named=True)
    assert row["estimable"] is False and row["hr"] is None
    assert row["reason"] == "no subjects in Levamisole with SEX = F"
    other = got.filter((pl.col("level") == "F") & (pl.col("arm") == "Levamisole+5-FU")).row(0, named=True)
    assert other["estimable"] is True


def test_continuous_variable_is_refused_as_subgroups():
    tte, sl = pl.read_csv(COLON / "adtte.csv"), pl.read_csv(COLON / "adsl.csv")
    data = attach_variables(derive_survival_data(tte, sl, "OS", GROUPS), tte, sl, "OS", ["AGE"])
    with pytest.raises(UsageError, match="AGE has .* distinct values: too many for subgroups"):
        subgroup_forest(data, ["AGE"], GROUPS, GROUPS[0])
