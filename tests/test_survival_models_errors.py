"""Bad input to the survival stage's model options: one clear line, the right exit code, the workspace unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from conftest import R_DATASETS, snapshot


@pytest.fixture()
def colon(tmp_path, colon_workspace) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(colon_workspace, ws)
    return ws


def _fails(run_cli, ws: Path, argv: list[str], code: int, *words: str) -> str:
    before = snapshot(ws)
    result = run_cli(["survival", "--no-plot", *argv, "-w", ws])
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.exit_code == code, result.stderr
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr and "trialkit bug" not in result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    assert snapshot(ws) == before
    return result.stderr


def _changed_trial(run_cli, tmp_path: Path, trial: str, dataset: str, change) -> Path:
    """A workspace holding R's ``trial`` with ``change`` (frame -> frame) applied to its ``dataset`` CSV first."""
    src = tmp_path / trial
    shutil.copytree(R_DATASETS / trial, src)
    frame = pl.read_csv(src / f"{dataset}.csv", infer_schema_length=None)
    change(frame).write_csv(src / f"{dataset}.csv")
    ws = tmp_path / "ws"
    assert run_cli(["ingest", src, "-w", ws]).exit_code == 0
    run_cli(["validate", "-w", ws])
    return ws


def test_a_stratum_that_exists_in_neither_dataset_is_a_usage_error_naming_both(run_cli, colon):
    _fails(run_cli, colon, ["--strata", "NOPE"], 2, "NOPE", "ADSL", "ADTTE")


def test_a_covariate_that_exists_in_neither_dataset_is_a_usage_error(run_cli, colon):
    _fails(run_cli, colon, ["--covariate", "WEIGHT"], 2, "WEIGHT")


def test_a_stratification_variable_with_one_value_is_refused(run_cli, colon):
    _fails(run_cli, colon, ["--strata", "STUDYID"], 2, "STUDYID")


def test_the_treatment_variable_as_a_stratum_is_a_usage_error(run_cli, colon):
    _fails(run_cli, colon, ["--strata", "ARMCD"], 2, "ARMCD", "treatment")


def test_strata_that_each_hold_one_group_are_a_data_error(run_cli, tmp_path):
    ws = _changed_trial(run_cli, tmp_path, "colon", "adsl", lambda adsl: adsl.with_columns(pl.col("ARMCD").alias("COHORT")))
    _fails(run_cli, ws, ["--strata", "COHORT"], 1, "single group")


def test_a_stratum_holding_one_group_is_noted_as_adding_nothing(run_cli, tmp_path):
    import json

    cohort = pl.when(pl.col("TRT01AN") == 0).then(pl.lit("A")).otherwise(pl.lit("B"))
    ws = _changed_trial(run_cli, tmp_path, "colon", "adsl", lambda adsl: adsl.with_columns(
        pl.when(pl.col("SURG") == "Long").then(cohort).otherwise(pl.lit("C")).alias("COHORT")))
    result = run_cli(["survival", "--no-plot", "--format", "json", "--strata", "COHORT", "-w", ws])
    assert result.exit_code == 0, result.stderr
    notes = json.loads(result.stdout)["notes"]
    assert any("COHORT=A holds only Observation" in n for n in notes), notes


def test_a_reference_level_that_does_not_exist_lists_the_levels(run_cli, colon):
    stderr = _fails(run_cli, colon, ["--covariate", "DIFFER:Excellent"], 2, "Excellent", "DIFFER", "ADSL")
    assert "Moderate" in stderr and "Poor" in stderr


@pytest.mark.parametrize("argv", [["--fh", "1"], ["--fh", "a,b"], ["--fh", "-1,0"], ["--fh", "0,1", "--rho", "1"]])
def test_bad_fleming_harrington_weights_are_usage_errors(run_cli, colon, argv):
    _fails(run_cli, colon, argv, 2, "--")


def test_a_conf_type_outside_r_and_sas_names_is_a_usage_error_listing_them(run_cli, colon):
    _fails(run_cli, colon, ["--conf-type", "wald"], 2, "wald", "log-log")


def test_a_tick_step_giving_too_many_ticks_is_a_usage_error(run_cli, colon):
    _fails(run_cli, colon, ["--time-unit", "days", "--break-by", "1"], 2, "--break-by")


def test_a_non_positive_tick_step_is_a_usage_error(run_cli, colon):
    _fails(run_cli, colon, ["--break-by", "0"], 2, "--break-by")


def test_an_event_type_variable_that_adtte_lacks_is_a_usage_error(run_cli, colon):
    _fails(run_cli, colon, ["--event-type", "EVTYPE"], 2, "EVTYPE", "ADTTE")


def test_competing_events_without_a_type_are_a_data_error_naming_the_rows(run_cli, tmp_path):
    def untype_first_event(adtte: pl.DataFrame) -> pl.DataFrame:
        first = adtte.with_row_index().filter((pl.col("PARAMCD") == "DTHTX") & (pl.col("CNSR") == 0))["index"][0]
        return adtte.with_columns(pl.when(pl.int_range(pl.len()) == first).then(pl.lit(None))
                                  .otherwise(pl.col("EVNTDESC")).alias("EVNTDESC"))

    ws = _changed_trial(run_cli, tmp_path, "pbc", "adtte", untype_first_event)
    _fails(run_cli, ws, ["--endpoint", "DTHTX"], 1, "EVNTDESC", "ADTTE")


def test_missing_covariate_values_are_counted_and_dropped_with_a_note(run_cli, colon):
    import json

    result = run_cli(["survival", "--no-plot", "--format", "json", "--covariate", "NODES", "-w", colon])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    missing = pl.read_csv(R_DATASETS / "colon" / "adsl.csv")["NODES"].null_count()
    assert doc["model"]["dropped"] == missing > 0
    assert any(str(missing) in n and "NODES" in n for n in doc["notes"])
