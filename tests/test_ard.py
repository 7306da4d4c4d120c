"""The analysis results dataset: stage tables as ARD rows, its upkeep, and `trialkit results`.

Survival numbers are pinned to R (tests/reference/survival_seed_r.json, made by
tests/reference/make_survival_reference.R from the built-in trial):

    fit <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data, conf.type = "log-log")
    summary(fit, times = c(182.625, 730.5), extend = TRUE)
    survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A, data)
    coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A, data, ties = "efron")

Counts and means are recomputed here from the fixture's CSV files. Tolerance:
rel=1e-6 against R (values pass through unchanged, so most are exact).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import polars as pl
import pytest

from trialkit.analyses.ard import (EXCLUDED_TABLES, ORDERING, AnalysisMeta, ard_from_tables, biomarkers_ard,
                                   filter_ard, replace_analysis, safety_ard, survival_ard)
from trialkit.analyses.biomarkers.pipeline import analyse_biomarkers
from trialkit.schemas.errors import SchemaViolationError, UsageError
from trialkit.analyses.groups import arms_of
from trialkit.analyses.report.stages import _cell
from trialkit.analyses.safety.pipeline import analyse_safety
from trialkit.analyses.survival.km import resolve_settings
from trialkit.analyses.survival.pipeline import analyse_survival
from trialkit.schemas.ard import ARD_COLUMNS, check_ard, polars_schema

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "fixtures" / "seed_trial"
SEED_R = json.loads((Path(__file__).parent / "reference" / "survival_seed_r.json").read_text())


# ----------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def seed(seed_workspace):
    data = {n: pl.read_parquet(seed_workspace / f"{n}.parquet") for n in ("adsl", "adtte", "adae", "adex", "adlb")}
    arms = arms_of(data["adsl"])
    surv = analyse_survival(data["adtte"], data["adsl"], "OS", arms, resolve_settings(None, None, None, 0.95, 0.0))
    safe = analyse_safety(data["adsl"], data["adae"], arms, arms[0], adex=data["adex"], adlb=data["adlb"])
    bio = analyse_biomarkers(data["adlb"], data["adsl"], arms)
    return {
        "survival": (surv, survival_ard(surv, AnalysisMeta("survival", options={"endpoint": "OS", "rho": 0.0}))),
        "safety": (safe, safety_ard(safe, AnalysisMeta("safety", options={"sort": "alpha"}))),
        "biomarkers": (bio, biomarkers_ard(bio, AnalysisMeta("biomarkers", options={"test": "t"}))),
    }


def _one(ard: pl.DataFrame, **where) -> dict:
    rows = ard.filter(*(pl.col(k).is_null() if v is None else pl.col(k) == v for k, v in where.items()))
    assert rows.height == 1, (where, rows)
    return rows.row(0, named=True)


def _bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.write_parquet(buf)
    return buf.getvalue()


# ----------------------------------------------------------------- survival
def test_logrank_chisq_and_p_are_the_survdiff_values_across_treatment_groups(seed):
    ard = seed["survival"][1]
    ref = SEED_R["rho_0"]["logrank"]
    for stat in ("chisq", "p", "df"):
        row = _one(ard, table="tests", stat_name=stat)
        assert row["stat"] == pytest.approx(ref[stat], rel=1e-6)
        assert (row["variable"], row["endpoint"], row["group1_level"]) == ("TRT01A", "OS", None)
    p = _one(ard, table="tests", stat_name="p")
    assert p["stat_fmt"] == "0.3328" and p["stat_label"] == "p-value"
    assert p["method"] == "log-rank (survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A, rho = 0))"


def test_landmark_survival_has_its_group_time_point_and_exact_time(seed):
    ard = seed["survival"][1]
    ref = SEED_R["conf"]["log-log_0.95"]["landmarks"]["Low dose"]
    row = _one(ard, table="landmarks", group1_level="Low dose", visit="2y", stat_name="survival")
    assert row["stat"] == pytest.approx(ref["survival"][3], rel=1e-6)
    assert row["group1"] == "TRT01A" and row["keys"] == "time=730.5; conf_type=log-log"
    lower = _one(ard, table="landmarks", group1_level="Low dose", visit="2y", stat_name="lower")
    assert lower["stat"] == pytest.approx(ref["lower"][3], rel=1e-6)
    assert lower["stat_label"] == "Lower confidence limit"


def test_pairwise_and_cox_rows_name_both_groups(seed):
    ard = seed["survival"][1]
    ref = SEED_R["rho_0"]["pairwise"][0]
    holm = _one(ard, table="pairwise", group1_level=ref["arm_a"], group2_level=ref["arm_b"], stat_name="p_holm")
    assert holm["stat"] == pytest.approx(ref["p_holm"], rel=1e-6) and holm["group2"] == "TRT01A"
    cox = next(r for r in json_cox() if r["arm"] == "High dose")
    hr = _one(ard, table="cox", group1_level="High dose", group2_level="Low dose", stat_name="hr")
    assert hr["stat"] == pytest.approx(cox["hr"], rel=1e-6)


def json_cox() -> list[dict]:
    return SEED_R["cox"]["efron"]


def test_a_not_estimable_hazard_ratio_is_null_with_its_reason_and_estimable_0(seed):
    ard = seed["survival"][1]
    hr = _one(ard, table="cox", group1_level="Medium dose", stat_name="hr")
    assert hr["stat"] is None and hr["stat_fmt"] is None
    assert hr["note"].startswith("no events in Medium dose")
    assert _one(ard, table="cox", group1_level="Medium dose", stat_name="estimable")["stat"] == 0.0
    assert _one(ard, table="cox", group1_level="High dose", stat_name="estimable")["stat"] == 1.0


def test_the_km_curve_is_left_out_and_the_risk_table_is_in(seed):
    ard = seed["survival"][1]
    assert "km" not in ard["table"].to_list()
    ref = SEED_R["risk_table"]["Low dose"]
    row = _one(ard, table="risk_table", group1_level="Low dose", visit="2y", stat_name="n_risk")
    assert row["stat"] == ref["n_risk"][4]


# ----------------------------------------------------------------- safety
def _teae_subjects(pt: str | None, arm: str) -> int:
    """Subjects of the safety population with a treatment-emergent AE (TRTEMFL = Y), from the fixture CSVs."""
    adsl = pl.read_csv(SEED / "adsl.csv").filter(pl.col("SAFFL") == "Y", pl.col("TRT01A") == arm)
    adae = pl.read_csv(SEED / "adae.csv").filter(pl.col("TRTEMFL") == "Y")
    if pt is not None:
        adae = adae.filter(pl.col("AEDECOD") == pt)
    return adae.join(adsl, on="USUBJID")["USUBJID"].n_unique()


def test_incidence_of_a_preferred_term_counts_subjects_with_its_soc_in_keys(seed):
    ard = seed["safety"][1]
    for arm in ("Low dose", "Medium dose", "High dose"):
        row = _one(ard, table="incidence", group1_level=arm, variable="AEDECOD", variable_level="Pyrexia",
                   stat_name="subjects")
        assert row["stat"] == _teae_subjects("Pyrexia", arm)
        assert row["keys"] == "AEBODSYS=General disorders and administration site conditions"
    n = _one(ard, table="incidence", group1_level="High dose", variable_level="Pyrexia", stat_name="n")
    pct = _one(ard, table="incidence", group1_level="High dose", variable_level="Pyrexia", stat_name="percent")
    assert pct["stat"] == pytest.approx(100 * _teae_subjects("Pyrexia", "High dose") / n["stat"], rel=1e-12)


def test_the_any_teae_row_has_no_variable_and_says_level_any(seed):
    ard = seed["safety"][1]
    row = _one(ard, table="incidence", group1_level="Medium dose", keys="level=any", stat_name="subjects")
    assert row["variable"] is None and row["stat"] == _teae_subjects(None, "Medium dose")


def test_fisher_p_is_against_the_reference_group(seed):
    res, ard = seed["safety"]
    expected = res.fisher.filter(pl.col("level") == "any", pl.col("arm") == "High dose")["p"].item()
    row = _one(ard, table="fisher", group1_level="High dose", group2_level="Low dose", keys="level=any", stat_name="p")
    assert row["stat"] == expected and row["population"] == res.population.rule


# ----------------------------------------------------------------- biomarkers
def test_biomarker_mean_and_mean_change_by_visit_match_adlb(seed):
    ard = seed["biomarkers"][1]
    adlb = pl.read_csv(SEED / "adlb.csv")
    adsl = pl.read_csv(SEED / "adsl.csv").select("USUBJID", "TRT01A")
    alb = adlb.filter(pl.col("PARAMCD") == "ALB").join(adsl, on="USUBJID").filter(pl.col("TRT01A") == "High dose")
    base = alb.filter(pl.col("ABLFL") == "Y").select("USUBJID", pl.col("AVAL").alias("BASE"))
    week4 = alb.filter(pl.col("AVISIT") == "Week 4").join(base, on="USUBJID")
    mean = _one(ard, table="summaries", endpoint="ALB", group1_level="High dose", visit="Week 4", variable="AVAL",
                stat_name="mean")
    assert mean["stat"] == pytest.approx(week4["AVAL"].mean(), rel=1e-9)
    chg = _one(ard, table="summaries", endpoint="ALB", group1_level="High dose", visit="Week 4", variable="CHG",
               stat_name="mean")
    assert chg["stat"] == pytest.approx((week4["AVAL"] - week4["BASE"]).mean(), rel=1e-9)
    assert "PARAM=Albumin (g/L)" in mean["keys"]


def test_between_group_p_keeps_its_variable_and_visit(seed):
    res, ard = seed["biomarkers"]
    src = res.between.filter(pl.col("param") == "ALB", pl.col("variable") == "CHG", pl.col("visit") == "Week 4")
    row = _one(ard, table="between", endpoint="ALB", variable="CHG", visit="Week 4", stat_name="p")
    assert row["stat"] == src["p"].item()


# ----------------------------------------------------------------- every number, and only results
@pytest.mark.parametrize("stage", ["survival", "safety", "biomarkers"])
def test_every_numeric_cell_of_every_kept_table_is_one_ard_row(seed, stage):
    res, ard = seed[stage]
    counts = dict(ard.group_by("table").len().iter_rows())
    for name, df in res.tables().items():
        if name in EXCLUDED_TABLES[stage]:
            assert name not in counts
            continue
        if stage == "biomarkers" and name == "summaries":  # AVAL and CHG statistics are split into rows
            continue
        numeric = [c for c in df.columns if c not in ORDERING and c not in ("time", "tau")
                   and (df.schema[c].is_numeric() or df.schema[c] == pl.Boolean)]
        assert counts.get(name, 0) == df.height * len(numeric), name


def test_stat_fmt_is_what_the_report_prints_for_every_value(seed):
    ard = pl.concat([seed[s][1] for s in seed])
    for name, value, text in ard.select("stat_name", "stat", "stat_fmt").iter_rows():
        assert (text if text is not None else "NA") == _cell(name, value), (name, value)


def test_the_stage_ards_pass_the_ard_schema_check(seed):
    for _res, ard in seed.values():
        assert ard.columns == list(ARD_COLUMNS)
        check_ard(ard)


def test_options_are_json_with_sorted_keys(seed):
    assert seed["survival"][1]["options"].unique().to_list() == ['{"endpoint":"OS","rho":0.0}']


# ----------------------------------------------------------------- the generic mapping
def test_identifier_columns_map_to_ard_columns_and_the_rest_to_stats():
    df = pl.DataFrame({
        "PARAMCD": ["ALT", "ALT"], "AVISIT": ["Week 2", "Week 4"], "AVISITN": [2.0, 4.0], "arm": ["A", "A"],
        "arm_b": ["B", "B"], "test": ["t", "t"], "reason": [None, "too few"], "flag": [True, False],
        "estimate": [1.5, float("nan")],
    })
    ard = ard_from_tables({"demo": df}, analysis="x", stage="s", method="m", options={"b": 1, "a": [1, 2]})
    assert ard.select("endpoint", "visit", "group1", "group1_level", "group2_level", "keys", "stat_name", "stat",
                      "note").rows() == [
        ("ALT", "Week 2", "TRT01A", "A", "B", "test=t", "flag", 1.0, None),
        ("ALT", "Week 2", "TRT01A", "A", "B", "test=t", "estimate", 1.5, None),
        ("ALT", "Week 4", "TRT01A", "A", "B", "test=t", "flag", 0.0, "too few"),
        ("ALT", "Week 4", "TRT01A", "A", "B", "test=t", "estimate", None, "too few"),
    ]
    assert ard["options"].unique().to_list() == ['{"a":[1,2],"b":1}']


def test_a_per_subject_listing_is_refused_with_the_table_named():
    with pytest.raises(UsageError, match="table sae has a usubjid column: it is a per-subject listing"):
        ard_from_tables({"sae": pl.DataFrame({"usubjid": ["1"], "onset_day": [3.0]})}, analysis="x", stage="safety")


def test_check_ard_names_a_duplicate_statistic_and_an_unknown_column(seed):
    ard = seed["survival"][1]
    with pytest.raises(SchemaViolationError, match=r"ard.parquet \(ARD\), column stat_name: 2 row\(s\) break rule "
                                                   r"one_row_per_statistic"):
        check_ard(pl.concat([ard.head(1), ard.head(1)]))
    with pytest.raises(SchemaViolationError, match="column\\(s\\) extra are not ARD columns"):
        check_ard(ard.with_columns(pl.lit(1).alias("extra")))
    with pytest.raises(SchemaViolationError, match="stat is String, expected Float64"):
        check_ard(ard.with_columns(pl.col("stat").cast(pl.String)))


# ----------------------------------------------------------------- replace_analysis
def test_replace_analysis_drops_the_old_rows_and_keeps_other_analyses_untouched(seed):
    surv, safe = seed["survival"][1], seed["safety"][1]
    ard = replace_analysis(replace_analysis(None, surv, "survival"), safe, "safety")
    rerun = surv.filter(pl.col("table") == "tests")
    after = replace_analysis(ard, rerun, "survival")
    assert after.filter(pl.col("analysis") == "survival").equals(rerun)
    assert after.filter(pl.col("analysis") == "safety").equals(safe)


def test_replace_analysis_gives_the_same_bytes_whatever_the_run_order(seed):
    surv, safe, bio = (seed[s][1] for s in ("survival", "safety", "biomarkers"))
    one = replace_analysis(replace_analysis(replace_analysis(None, surv, "survival"), safe, "safety"), bio, "biomarkers")
    two = replace_analysis(replace_analysis(replace_analysis(None, bio, "biomarkers"), surv, "survival"), safe, "safety")
    three = replace_analysis(one, surv, "survival")  # a re-run with the same result changes nothing
    assert _bytes(one) == _bytes(two) == _bytes(three)
    assert one["analysis"].unique(maintain_order=True).to_list() == ["biomarkers", "safety", "survival"]


def test_replace_analysis_refuses_rows_of_another_analysis(seed):
    with pytest.raises(UsageError, match="the new ARD rows belong to analysis survival, not safety"):
        replace_analysis(None, seed["survival"][1], "safety")


# ----------------------------------------------------------------- filter_ard
def test_filter_ard_takes_globs_and_any_of_several_patterns(seed):
    ard = replace_analysis(replace_analysis(None, seed["survival"][1], "survival"), seed["safety"][1], "safety")
    rows = filter_ard(ard, analysis=["surv*"], stat=["p", "p_h?lm"])
    assert set(rows["stat_name"]) == {"p", "p_holm"} and set(rows["analysis"]) == {"survival"}
    assert set(filter_ard(ard, stat="p", group="High dose")["table"]) == {"pairwise", "cox", "fisher"}


def test_filter_ard_pattern_matching_nothing_lists_what_there_is(seed):
    with pytest.raises(UsageError, match="--analysis 'surv' matches no analysis in the ARD") as exc:
        filter_ard(seed["survival"][1], analysis="surv")
    assert exc.value.hint == "the ARD holds: survival"


# ----------------------------------------------------------------- trialkit results
@pytest.fixture()
def ard_workspace(tmp_path, seed) -> Path:
    ard = replace_analysis(replace_analysis(None, seed["survival"][1], "survival"), seed["safety"][1], "safety")
    ard.write_parquet(tmp_path / "ard.parquet")
    return tmp_path


def test_results_csv_filters_by_analysis_and_stat(run_cli, ard_workspace):
    result = run_cli(["results", "-w", ard_workspace, "--analysis", "surv*", "--stat", "chisq", "--format", "csv"])
    assert result.exit_code == 0, result.stderr
    rows = pl.read_csv(io.StringIO(result.stdout))
    assert rows.columns == list(ARD_COLUMNS)
    assert set(rows["table"]) == {"tests", "pairwise", "trend", "cox_tests"} and set(rows["stat_name"]) == {"chisq"}
    chisq = _one(rows, table="tests")["stat"]
    assert chisq == pytest.approx(SEED_R["rho_0"]["logrank"]["chisq"], rel=1e-6)
    written = pl.read_parquet(ard_workspace / "ard.parquet")
    assert chisq == _one(written, table="tests", stat_name="chisq")["stat"]  # every digit survives the CSV


def test_results_json_is_a_list_of_records_in_full_precision(run_cli, ard_workspace):
    result = run_cli(["results", "-w", ard_workspace, "--analysis", "survival", "--stat", "p", "--stat", "hr",
                      "--format", "json"])
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)
    assert isinstance(records, list) and set(records[0]) == set(ARD_COLUMNS)
    hr = next(r for r in records if r["table"] == "cox" and r["group1_level"] == "High dose" and r["stat_name"] == "hr")
    assert hr["stat"] == pytest.approx(json_cox()[1]["hr"], rel=1e-12) and hr["stat_fmt"] == "0.406"


def test_results_table_prints_every_digit_and_the_reason_of_a_missing_value(run_cli, ard_workspace):
    result = run_cli(["results", "-w", ard_workspace, "--analysis", "survival", "--stat", "p"])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "survival: cox (Cox proportional hazards" in out
    for value in filter_ard(pl.read_parquet(ard_workspace / "ard.parquet"), "survival", "p")["stat"].drop_nulls():
        assert repr(value) in out
    assert "p.adjust" in out.replace("\n", "")  # the method heads each table
    assert "Note: Medium dose vs Low dose: no events in Medium dose" in out


def test_results_without_an_ard_is_a_usage_error_naming_the_commands_that_write_it(run_cli, tmp_path):
    result = run_cli(["results", "-w", tmp_path])
    assert result.exit_code == 2
    assert "ard.parquet does not exist: no analysis has written results to this workspace" in result.stderr
    assert "run trialkit biomarkers, survival or safety first" in result.stderr


def test_results_with_an_unknown_analysis_lists_the_analyses(run_cli, ard_workspace):
    result = run_cli(["results", "-w", ard_workspace, "--analysis", "os"])
    assert result.exit_code == 2
    assert "--analysis 'os' matches no analysis in the ARD" in result.stderr
    assert "safety, survival" in result.stderr


def test_results_refuses_a_file_that_is_not_an_ard(run_cli, tmp_path):
    pl.DataFrame({"analysis": ["x"]}).write_parquet(tmp_path / "ard.parquet")
    result = run_cli(["results", "-w", tmp_path])
    assert result.exit_code == 1
    assert "ard.parquet (ARD), column stage: required variable stage is missing" in result.stderr


def test_an_empty_ard_frame_has_the_declared_types():
    assert replace_analysis(None, pl.DataFrame(schema=polars_schema()), "x").schema == pl.Schema(polars_schema())


def test_an_infinite_value_is_a_null_stat_with_inf_in_stat_fmt_and_passes_the_check(run_cli, tmp_path):
    ard = ard_from_tables({"cox": pl.DataFrame({"arm": ["B"], "reference": ["A"], "upper": [float("inf")]})},
                          analysis="x", stage="survival")
    ard.write_parquet(tmp_path / "ard.parquet")
    result = run_cli(["results", "-w", tmp_path, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    [record] = json.loads(result.stdout)
    assert (record["stat"], record["stat_fmt"], record["group2_level"]) == (None, "Inf", "A")
