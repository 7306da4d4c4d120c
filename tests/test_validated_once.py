"""Stages trust what ``trialkit validate`` checked, and only those very bytes.

validate records each dataset's SHA-256 (as it leaves it) and schema version in
validation.json; a later stage skips the schema check of a file whose bytes,
schema version and ADSL are the ones recorded, and checks anything else again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

import trialkit.analyses.validation as validation
from trialkit.cli.workspace import sha256_file


@pytest.fixture()
def workspace(tmp_path, seed_workspace) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(seed_workspace, ws)
    return ws


def _count_checks(monkeypatch) -> list[str]:
    seen: list[str] = []
    real = validation.check_dataset

    def counting(df, schema, adsl_ids=None):
        seen.append(schema.name)
        return real(df, schema, adsl_ids)

    monkeypatch.setattr(validation, "check_dataset", counting)
    return seen


def test_validate_records_the_sha256_of_each_dataset_it_leaves(workspace):
    checked = json.loads((workspace / "validation.json").read_text())["checked"]
    assert checked["adtte.parquet"]["sha256"] == sha256_file(workspace / "adtte.parquet")
    assert checked["adsl.parquet"]["schema"].startswith("ADSL ")


def test_a_stage_does_not_check_again_the_bytes_validate_checked(workspace, run_cli, monkeypatch):
    seen = _count_checks(monkeypatch)
    result = run_cli(["survival", "--no-plot", "--no-cox", "-w", workspace])
    assert result.exit_code == 0, result.stderr
    assert seen == []


def test_a_dataset_changed_after_validate_is_checked_again_and_refused(workspace, run_cli, monkeypatch):
    adtte = pl.read_parquet(workspace / "adtte.parquet")
    adtte.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(-5.0).otherwise(pl.col("AVAL")).alias("AVAL")) \
        .write_parquet(workspace / "adtte.parquet")
    seen = _count_checks(monkeypatch)
    result = run_cli(["survival", "--no-plot", "--no-cox", "-w", workspace])
    assert result.exit_code == 1
    assert "ADTTE" in seen and "AVAL" in result.stderr


def test_a_changed_adsl_makes_every_dataset_checked_again(workspace, run_cli, monkeypatch):
    pl.read_parquet(workspace / "adsl.parquet").write_parquet(workspace / "adsl.parquet", compression="gzip")
    seen = _count_checks(monkeypatch)
    result = run_cli(["survival", "--no-plot", "--no-cox", "-w", workspace])
    assert result.exit_code == 0, result.stderr
    assert set(seen) == {"ADSL", "ADTTE"}


def _reads(monkeypatch) -> list[tuple[str, list[str] | None]]:
    import trialkit.cli.workspace as workspace_module

    seen: list[tuple[str, list[str] | None]] = []
    real = workspace_module._read_parquet

    def recording(path, columns=None):
        seen.append((Path(path).name, columns))
        return real(path, columns)

    monkeypatch.setattr(workspace_module, "_read_parquet", recording)
    return seen


def test_survival_reads_only_the_columns_it_uses_of_validated_bytes(workspace, run_cli, monkeypatch):
    seen = _reads(monkeypatch)
    result = run_cli(["survival", "--no-plot", "--covariate", "AGE", "-w", workspace])
    assert result.exit_code == 0, result.stderr
    read = dict(seen)
    assert set(read["adtte.parquet"]) >= {"USUBJID", "PARAMCD", "AVAL", "CNSR"}
    assert "AGE" in read["adsl.parquet"] and "TRT01A" in read["adsl.parquet"] and "ITTFL" in read["adsl.parquet"]
    assert len(read["adsl.parquet"]) < len(pl.read_parquet_schema(workspace / "adsl.parquet"))


def test_survival_gives_the_same_results_from_the_columns_it_reads_as_from_whole_datasets(workspace, run_cli,
                                                                                           monkeypatch, tmp_path):
    args = ["survival", "--no-plot", "--covariate", "AGE", "--covariate", "SEX", "--format", "json"]
    projected = run_cli([*args, "-w", workspace])
    assert projected.exit_code == 0, projected.stderr
    (workspace / "validation.json").unlink()  # no recorded verdict: the datasets are read whole and checked
    seen = _reads(monkeypatch)
    whole = run_cli([*args, "-w", workspace])
    assert whole.exit_code == 0, whole.stderr
    assert all(columns is None for _, columns in seen)
    assert json.loads(whole.stdout) == json.loads(projected.stdout)


def test_survival_reads_whole_datasets_when_a_variable_is_in_neither(workspace, run_cli):
    result = run_cli(["survival", "--no-plot", "--strata", "NOSUCHVAR", "-w", workspace])
    assert result.exit_code == 2
    assert "NOSUCHVAR" in result.stderr and "neither ADTTE nor ADSL" in result.stderr
