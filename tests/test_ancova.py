"""The ANCOVA engine pinned to R (tests/reference/make_ancova_reference.R -> ancova_r.json).

R calls, per case and weighting (emmeans 1.8.4-1, car 3.1-1):
  options(contrasts = c("contr.sum", "contr.poly")); fit <- lm(y ~ group + <covariates>)
  car::Anova(fit, type = 3); sigma(fit); df.residual(fit)
  em <- emmeans(fit, ~ group, weights = "equal" | "proportional"); summary(em, infer = TRUE)
  summary(contrast(em, "trt.vs.ctrl", adjust = "none"), infer = TRUE); contrast(em, "trt.vs.ctrl") (dunnettx p)
  summary(pairs(em, reverse = TRUE, adjust = "none"), infer = TRUE); pairs(em, reverse = TRUE) (Tukey p)
  coef(summary(lm(y ~ dose + <covariates>)))["dose", ]
Cases: mtcars (mpg ~ cyl + wt + AM + GEAR, unbalanced), warpbreaks without rows 1, 2, 3, 30, 40
(breaks ~ tension + WOOL), the built-in seed trial (ALB change to Week 24 ~ TRT01A + BASE + SEX,
dose TRT01AN) and the CDISC pilot (ADLBHY ALT change to Week 24 ~ TRTP + BASE + SITEGR1, dose
TRTPN; observed and LOCF). Every number at rel = 1e-6, the Tukey and dunnettx adjusted p-values
included (scipy's studentized range agrees with R's ptukey to about 1e-10 here).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import SEED
from r_reference import same
from trialkit.analyses.efficacy.ancova import fit_ancova
from trialkit.analyses.efficacy.impute import derive_locf
from trialkit.schemas.errors import ColumnNotFoundError, DataError, UsageError

REF = json.loads((Path(__file__).parent / "reference" / "ancova_r.json").read_text())
PILOT_GROUPS = ["Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"]
PILOT_VISITS = [f"Week {w}" for w in (2, 4, 6, 8, 12, 16, 20, 24)]


def _r_data(name: str) -> pl.DataFrame:
    return pl.DataFrame(REF[name]["data"]).with_columns(pl.col("y").cast(pl.Float64))


def _seed_data() -> pl.DataFrame:
    """ALB change from baseline at Week 24 with BASE, SEX and TRT01AN, from the seed trial's CSVs."""
    adlb = pl.read_csv(SEED / "adlb.csv").filter(pl.col("PARAMCD") == "ALB")
    adsl = pl.read_csv(SEED / "adsl.csv")
    base = adlb.filter(pl.col("ABLFL") == "Y").select("USUBJID", pl.col("AVAL").alias("BASE"))
    return (adlb.filter(pl.col("AVISIT") == "Week 24").join(base, on="USUBJID")
            .join(adsl.select("USUBJID", "TRT01A", "TRT01AN", "SEX"), on="USUBJID")
            .select("USUBJID", pl.col("TRT01A").alias("group"), (pl.col("AVAL") - pl.col("BASE")).alias("y"),
                    "BASE", "SEX", pl.col("TRT01AN").cast(pl.Float64).alias("dose")))


def _pilot_alt(pilot_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    import pyreadstat

    adlb = pl.from_pandas(pyreadstat.read_xport(str(pilot_dir / "adlbhy.xpt"))[0])
    adsl = pl.from_pandas(pyreadstat.read_xport(str(pilot_dir / "adsl.xpt"))[0])
    alt = adlb.filter(pl.col("PARAMCD") == "ALT").select("USUBJID", "PARAMCD", "AVISIT", "AVISITN", "AVAL", "BASE",
                                                         "TRTP", "TRTPN")
    return alt, adsl.select("USUBJID", "SITEGR1")


def _pilot_week24(records: pl.DataFrame, sites: pl.DataFrame) -> pl.DataFrame:
    return (records.filter(pl.col("AVISIT") == "Week 24").join(sites, on="USUBJID")
            .select("USUBJID", pl.col("TRTP").alias("group"), (pl.col("AVAL") - pl.col("BASE")).alias("y"), "BASE",
                    "SITEGR1", pl.col("TRTPN").alias("dose")))


@pytest.fixture(scope="module")
def pilot_data(pilot_dir) -> dict[str, pl.DataFrame]:
    alt, sites = _pilot_alt(pilot_dir)
    return {"pilot_observed": _pilot_week24(alt, sites),
            "pilot_locf": _pilot_week24(derive_locf(alt, PILOT_VISITS), sites)}


def _check_against_r(name: str, data: pl.DataFrame, weights: str) -> None:
    ref = REF[name]
    res = fit_ancova(data, ref["groups"], covariates=ref["covariates"], weights=weights)
    assert res.n_records == ref["n_records"] and res.n_subjects == ref["n_subjects"]
    assert res.n_dropped == data.height - ref["n_records"]
    same([res.sigma, res.df_resid], [ref["sigma"], ref["df_resid"]])

    tests = {r["term"]: r for r in ref["tests"]}
    assert res.tests["term"].to_list() == list(tests)
    for col in ("num_df", "den_df", "f", "p"):
        same(res.tests[col], [tests[t][col] for t in tests])

    ls = ref[f"lsmeans_{weights}"]
    assert res.lsmeans["group"].to_list() == [r["group"] for r in ls] == ref["groups"]
    for col in ("estimate", "se", "df", "lower", "upper"):
        same(res.lsmeans[col], [r[col] for r in ls])

    for comparison, key in (("vs reference", "vs_reference"), ("pairwise", "pairwise")):
        ours = res.contrasts.filter(pl.col("comparison") == comparison)
        theirs = ref[f"{key}_{weights}"]
        labels = [f"{g} - {r}" for g, r in zip(ours["group"], ours["reference"])]
        assert [t["contrast"].replace("group", "") for t in theirs] == labels
        for col in ("estimate", "se", "df", "t", "p", "lower", "upper", "p_adjusted"):
            same(ours[col], [t[col] for t in theirs])
        assert set(ours["adjust"]) == {"dunnett" if key == "vs_reference" else "tukey"}

    if "dose" in ref:
        dose = res.dose_response.row(0, named=True)
        assert dose["term"] == "dose"
        same([dose[c] for c in ("estimate", "se", "df", "t", "p")], [ref["dose"][c] for c in ("estimate", "se", "df", "t", "p")])
    else:
        assert res.dose_response is None


@pytest.mark.parametrize("weights", ["equal", "observed"])
@pytest.mark.parametrize("name", ["mtcars", "warpbreaks"])
def test_unbalanced_r_datasets_match_lm_car_anova_and_emmeans(name, weights):
    _check_against_r(name, _r_data(name), weights)


@pytest.mark.parametrize("weights", ["equal", "observed"])
def test_seed_trial_week24_change_matches_r(weights):
    _check_against_r("seed", _seed_data(), weights)


@pytest.mark.parametrize("weights", ["equal", "observed"])
@pytest.mark.parametrize("name", ["pilot_observed", "pilot_locf"])
def test_pilot_alt_week24_change_matches_r(pilot_data, name, weights):
    _check_against_r(name, pilot_data[name], weights)


def test_pilot_record_without_baseline_is_dropped_with_a_note(pilot_data):
    res = fit_ancova(pilot_data["pilot_observed"], PILOT_GROUPS, covariates=["BASE", "SITEGR1"])
    assert res.n_dropped == REF["pilot_observed"]["n_input"] - REF["pilot_observed"]["n_records"] == 1
    assert res.notes == ("1 of 113 records dropped from the ANCOVA: y missing in 1, BASE missing in 1",)


def test_equal_and_observed_weights_differ_in_lsmeans_but_not_in_contrasts_or_tests():
    data = _r_data("mtcars")
    eq = fit_ancova(data, ["4", "6", "8"], covariates=["wt", "AM", "GEAR"], weights="equal")
    obs = fit_ancova(data, ["4", "6", "8"], covariates=["wt", "AM", "GEAR"], weights="observed")
    assert eq.weights == "equal" and obs.weights == "observed"
    assert not np.allclose(eq.lsmeans["estimate"], obs.lsmeans["estimate"], rtol=1e-3)
    same(eq.contrasts["estimate"], obs.contrasts["estimate"], rel=1e-12)
    same(eq.tests["f"], obs.tests["f"], rel=1e-12)


def test_level_order_of_a_categorical_covariate_changes_nothing():
    data = _r_data("mtcars")
    a = fit_ancova(data, ["4", "6", "8"], covariates=["wt", "AM", "GEAR"])
    b = fit_ancova(data, ["4", "6", "8"], covariates=["wt", "AM", "GEAR"], levels={"GEAR": ["g5", "g3", "g4"]})
    same(a.lsmeans["estimate"], b.lsmeans["estimate"], rel=1e-10)
    same(a.tests["p"], b.tests["p"], rel=1e-10)


def test_frames_have_the_contract_columns_and_a_null_visit():
    res = fit_ancova(_seed_data(), ["Low dose", "Medium dose", "High dose"], covariates=["BASE", "SEX"])
    assert res.lsmeans.schema == {"visit": pl.String, "group": pl.String, "estimate": pl.Float64, "se": pl.Float64,
                                  "df": pl.Float64, "lower": pl.Float64, "upper": pl.Float64, "n": pl.Int64}
    assert res.contrasts.columns == ["visit", "group", "reference", "comparison", "estimate", "se", "df", "t", "p",
                                     "lower", "upper", "adjust", "p_adjusted"]
    assert res.tests.columns == ["term", "num_df", "den_df", "f", "p"]
    assert res.dose_response.columns == ["term", "estimate", "se", "df", "t", "p"]
    assert res.lsmeans["visit"].null_count() == 3 and res.contrasts["visit"].null_count() == 5
    assert res.lsmeans["n"].to_list() == [8, 8, 8]  # the seed ADLB has all 24 ALB records at Week 24
    assert res.contrasts["comparison"].to_list() == ["vs reference"] * 2 + ["pairwise"] * 3


def test_two_groups_dunnett_p_equals_the_unadjusted_p():
    data = _seed_data().filter(pl.col("group") != "High dose")
    res = fit_ancova(data, ["Low dose", "Medium dose"], covariates=["BASE"])
    row = res.contrasts.filter(pl.col("comparison") == "vs reference").row(0, named=True)
    assert row["p_adjusted"] == pytest.approx(row["p"], rel=1e-9)


def test_conf_sets_the_interval_width():
    data = _r_data("warpbreaks")
    r90 = fit_ancova(data, ["L", "M", "H"], covariates=["WOOL"], conf=0.90)
    r95 = fit_ancova(data, ["L", "M", "H"], covariates=["WOOL"])
    assert (r90.lsmeans["upper"] - r90.lsmeans["lower"] < r95.lsmeans["upper"] - r95.lsmeans["lower"]).all()


# --- bad input --------------------------------------------------------------------------------

def _small() -> pl.DataFrame:
    return pl.DataFrame({"USUBJID": [f"S{i}" for i in range(12)], "group": ["A", "B", "C"] * 4,
                         "y": [1.0, 2.0, 4.0, 2.0, 2.5, 5.0, 0.5, 3.0, 4.5, 1.5, 1.0, 6.0],
                         "BASE": [10.0, 11.0, 9.0, 12.0, 8.0, 10.5, 9.5, 11.5, 10.0, 9.0, 12.0, 11.0]})


def test_fewer_than_two_groups_is_a_data_error():
    with pytest.raises(DataError, match="at least two groups"):
        fit_ancova(_small().filter(pl.col("group") == "A"), ["A"])


def test_group_without_records_is_named():
    with pytest.raises(DataError, match="group D has no records"):
        fit_ancova(_small(), ["A", "B", "C", "D"])


def test_group_with_one_subject_is_named():
    data = _small().filter((pl.col("group") != "C") | (pl.col("USUBJID") == "S2"))
    with pytest.raises(DataError, match="group C has one subject") as err:
        fit_ancova(data, ["A", "B", "C"])
    assert err.value.hint


def test_group_outside_groups_is_named():
    with pytest.raises(DataError, match="values outside .*: C"):
        fit_ancova(_small(), ["A", "B"])


def test_covariate_collinear_with_group_makes_a_singular_design_naming_it():
    data = _small().with_columns(pl.col("group").replace({"A": "x", "B": "y", "C": "y"}).alias("ARMCAT"))
    with pytest.raises(DataError, match=r"singular: ARMCAT \(ARMCAT=y\) is collinear with the intercept, group, BASE in") as err:
        fit_ancova(data, ["A", "B", "C"], covariates=["BASE", "ARMCAT"])
    assert "drop ARMCAT" in err.value.hint


def test_numeric_covariate_equal_to_another_is_named():
    data = _small().with_columns((pl.col("BASE") * 2.0).alias("BASE2"))
    with pytest.raises(DataError, match="singular: BASE2"):
        fit_ancova(data, ["A", "B", "C"], covariates=["BASE", "BASE2"])


def test_constant_categorical_covariate_is_named():
    with pytest.raises(DataError, match="covariate SEX takes one value"):
        fit_ancova(_small().with_columns(pl.lit("F").alias("SEX")), ["A", "B", "C"], covariates=["BASE", "SEX"])


def test_missing_covariate_and_response_are_counted_and_dropped():
    data = _small().with_columns(pl.when(pl.col("USUBJID").is_in(["S0", "S4"])).then(None).otherwise(pl.col("BASE")).alias("BASE"),
                                 pl.when(pl.col("USUBJID") == "S5").then(float("nan")).otherwise(pl.col("y")).alias("y"))
    res = fit_ancova(data, ["A", "B", "C"])
    assert res.n_dropped == 3 and res.n_records == 9
    assert res.notes == ("3 of 12 records dropped from the ANCOVA: y missing in 1, BASE missing in 2",)
    same(res.lsmeans["estimate"], fit_ancova(data.drop_nulls().filter(pl.col("y").is_not_nan()), ["A", "B", "C"]).lsmeans["estimate"])


def test_repeated_subject_is_a_data_error():
    data = pl.concat([_small(), _small().head(1)])
    with pytest.raises(DataError, match="13 records for 12 subjects"):
        fit_ancova(data, ["A", "B", "C"])


def test_absent_covariate_column_is_named():
    with pytest.raises(ColumnNotFoundError, match="has no SITEGR1"):
        fit_ancova(_small(), ["A", "B", "C"], covariates=["BASE", "SITEGR1"])


def test_unknown_weights_is_a_usage_error():
    with pytest.raises(UsageError, match="weights must be one of equal, observed"):
        fit_ancova(_small(), ["A", "B", "C"], weights="proportional")


def test_dose_that_varies_within_a_group_is_a_data_error():
    data = _small().with_columns(pl.int_range(0, 12).cast(pl.Float64).alias("dose"))
    with pytest.raises(DataError, match="dose must be one number per group"):
        fit_ancova(data, ["A", "B", "C"])


def test_too_few_records_for_the_coefficients_is_a_data_error():
    data = _small().head(6).with_columns(pl.Series("X1", [1.0, 2, 3, 5, 4, 6]), pl.Series("X2", [3.0, 1, 2, 2, 7, 1]))
    with pytest.raises(DataError, match="no residual degrees of freedom"):
        fit_ancova(data, ["A", "B", "C"], covariates=["BASE", "X1", "X2"])


def test_infinite_response_is_a_data_error():
    data = _small().with_columns(pl.when(pl.col("USUBJID") == "S3").then(float("inf")).otherwise(pl.col("y")).alias("y"))
    with pytest.raises(DataError, match="column y is infinite in 1 records"):
        fit_ancova(data, ["A", "B", "C"])


def test_dose_equal_in_every_group_is_named_as_collinear():
    data = _small().with_columns(pl.lit(50.0).alias("dose"))
    with pytest.raises(DataError, match=r"singular: dose \(dose\) is collinear with the intercept"):
        fit_ancova(data, ["A", "B", "C"])


def test_numeric_group_labels_and_a_dose_work_as_text_labels():
    data = _r_data("mtcars").with_columns(pl.col("group").cast(pl.Int64))
    res = fit_ancova(data, ["4", "6", "8"], covariates=["wt", "AM", "GEAR"])
    same(res.dose_response["estimate"], [REF["mtcars"]["dose"]["estimate"]])


@pytest.mark.parametrize("case", REF["large_df"], ids=lambda c: f"df{c['df']}")
def test_adjusted_p_at_a_large_df_follows_ptukey_infinite_df_rule(case):
    """R: ptukey(sqrt(2) * 2.1, 3, df, lower.tail = FALSE); 1 - emmeans:::.pdunnx(2.1, 2, df)."""
    from trialkit.analyses.efficacy.ancova import _p_dunnettx, _p_tukey

    t = np.array([case["t"]])
    same(_p_tukey(t, 3, case["df"]), [case["tukey"]])
    same(_p_dunnettx(t, 2, case["df"]), [case["dunnettx"]])
