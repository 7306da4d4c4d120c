"""The stage contract: a failing or interrupted stage leaves the workspace byte for byte as it was."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from conftest import snapshot

from trialkit.schemas.errors import SchemaViolationError
from trialkit.cli.workspace import Stage




@pytest.fixture
def workspace(seed_workspace, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(seed_workspace, ws)
    return ws


def test_ingest_that_fails_on_its_second_file_leaves_the_workspace_as_it_was(workspace, tmp_path, run_cli):
    src = tmp_path / "src"
    src.mkdir()
    (src / "adsl.csv").write_text("USUBJID,TRT01A\nA,x\n")
    (src / "adtte.csv").write_text("USUBJID,PARAMCD,AVAL,CNSR\nA,OS,ten,0\n")
    before = snapshot(workspace)
    result = run_cli(["ingest", src, "-w", workspace])
    assert result.exit_code == 1
    assert "adtte.csv (ADTTE), column AVAL" in result.stderr
    assert snapshot(workspace) == before


def test_a_stage_interrupted_after_staging_writes_leaves_no_trace(workspace):
    before = snapshot(workspace)
    with pytest.raises(KeyboardInterrupt):
        with Stage(workspace, "test", {}) as stage:
            stage.write_parquet("adsl.parquet", pl.DataFrame({"USUBJID": ["X"]}), "ADSL", "1.0")
            stage.write_json("survival/out.json", {"a": 1})
            raise KeyboardInterrupt
    assert snapshot(workspace) == before
    assert not (workspace / "survival").exists(), "folders a failed stage created are removed"


def test_a_stage_that_succeeds_replaces_files_and_records_them_in_the_manifest(workspace):
    with Stage(workspace, "test", {"arm": ["high"]}) as stage:
        stage.read("adsl")
        stage.write_json("extra/out.json", {"a": 1})
    assert (workspace / "extra" / "out.json").read_text() == '{\n  "a": 1\n}\n'
    manifest = (workspace / "manifest.json").read_text()
    assert '"extra/out.json"' in manifest and '"trialkit test --arm high"' in manifest
    assert not list(workspace.rglob("*.tmp")), "no temporary file is left behind"


def test_reading_an_invalid_dataset_points_to_trialkit_validate(workspace):
    df = pl.read_parquet(workspace / "adtte.parquet")
    df.with_columns(pl.lit(5, dtype=pl.Int64).alias("CNSR")).write_parquet(workspace / "adtte.parquet")
    with pytest.raises(SchemaViolationError) as err:
        with Stage(workspace, "survival", {}) as stage:
            stage.read("adtte")
    assert "adtte.parquet (ADTTE), column CNSR: 24 row(s) break rule CNSR_check" in err.value.message
    assert "trialkit validate" in err.value.hint


def test_validate_quarantines_bad_rows_and_the_counts_reconcile(workspace, run_cli):
    lb = pl.read_parquet(workspace / "adlb.parquet")
    n = lb.height
    broken = lb.with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(pl.lit(999.0)).otherwise(pl.col("AVAL")).alias("AVAL")
    )
    broken.write_parquet(workspace / "adlb.parquet")
    result = run_cli(["validate", "-w", workspace, "--format", "json"])
    assert result.exit_code == 1
    kept = pl.read_parquet(workspace / "adlb.parquet")
    quarantine = pl.read_parquet(workspace / "quarantine" / "adlb.parquet")
    assert kept.height + quarantine.height == n
    assert quarantine.height == 3
    assert set(quarantine["QUARANTINE_REASON"]) == {"aval_plausible"}
    assert '"quarantined_rows": 3' in result.stdout and '"kept_rows": %d' % (n - 3) in result.stdout
    again = run_cli(["validate", "-w", workspace])
    assert again.exit_code == 1, "rows quarantined earlier keep the workspace unclean until re-ingest"
    assert pl.read_parquet(workspace / "quarantine" / "adlb.parquet").height == 3, "quarantined rows are kept"


def test_validate_reports_every_violation_not_only_the_first(workspace, run_cli):
    sl = pl.read_parquet(workspace / "adsl.parquet")
    sl.with_columns(pl.lit("Z").alias("SEX"), pl.lit(200.0).alias("AGE")).write_parquet(workspace / "adsl.parquet")
    result = run_cli(["validate", "-w", workspace])
    assert result.exit_code == 1
    assert "SEX_check" in result.stdout and "AGE_max" in result.stdout


def test_validate_on_an_empty_workspace_is_an_io_error(tmp_path, run_cli):
    result = run_cli(["validate", "-w", tmp_path])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: workspace")


def test_outputs_get_the_users_usual_file_mode_not_the_temporary_files(workspace):
    import os

    mask = os.umask(0o022)
    try:
        with Stage(workspace, "test", {}) as stage:
            stage.write_json("mode.json", {})
    finally:
        os.umask(mask)
    assert (workspace / "mode.json").stat().st_mode & 0o777 == 0o644


def test_a_write_that_fails_midway_leaves_no_temporary_file(workspace):
    before = snapshot(workspace)

    def broken(tmp):
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(Exception, match="cannot write"):
        with Stage(workspace, "test", {}) as stage:
            stage.write_json("ok.json", {})
            stage._stage("broken.json", broken, {})
    assert snapshot(workspace) == before


def test_a_summary_that_fails_to_print_fails_the_stage_before_its_commit(workspace, run_cli, monkeypatch):
    from trialkit.cli import survival

    def broken(*args, **kwargs):
        from rich.errors import MarkupError

        raise MarkupError("closing tag '[/]' has nothing to close")

    monkeypatch.setattr(survival, "_print_summary", broken)
    monkeypatch.setenv("TRIALKIT_DEBUG", "")
    before = snapshot(workspace)
    result = run_cli(["survival", "--no-plot", "-w", workspace])
    assert result.exit_code == 1
    assert "MarkupError" in result.stderr
    assert snapshot(workspace) == before, "nothing was committed"


def test_a_frame_larger_than_a_row_group_is_written_in_slices_to_the_same_bytes(workspace, monkeypatch, tmp_path):
    import pyarrow.parquet as pq

    from trialkit.cli import workspace as ws_module

    monkeypatch.setattr(ws_module, "ROW_GROUP_ROWS", 1000)
    frame = pl.DataFrame({"USUBJID": [f"SUBJECT-{i:06d}" for i in range(2500)], "AVAL": [i / 7 for i in range(2500)],
                          "NOTE": [None, "a longer text than a view holds inline"] * 1250})
    with Stage(workspace, "test", {}) as stage:
        stage.write_parquet("sliced.parquet", frame, "X", "1.0")
        meta = stage.metadata("X", "1.0")
    table = frame.to_arrow()
    pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **meta}), tmp_path / "whole.parquet",
                   compression="zstd", row_group_size=1000)
    assert (workspace / "sliced.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    assert pq.ParquetFile(workspace / "sliced.parquet").metadata.num_row_groups == 3


def _count_checks(monkeypatch) -> list[str]:
    from trialkit.analyses import validation

    checked: list[str] = []
    original = validation.check_dataset

    def counting(df, schema, *args, **kwargs):
        checked.append(schema.name)
        return original(df, schema, *args, **kwargs)

    monkeypatch.setattr(validation, "check_dataset", counting)
    return checked


def test_a_stage_reuses_the_verdict_validate_recorded_for_the_same_bytes(workspace, monkeypatch):
    checked = _count_checks(monkeypatch)
    with Stage(workspace, "survival", {}) as stage:
        narrow = stage.read("adtte", columns=["USUBJID", "AVAL"])
        whole = stage.read("adsl")
    assert checked == [], "validate recorded these bytes as clean: no stage checks them again"
    assert narrow.columns == ["USUBJID", "AVAL"], "a recorded-clean dataset is read for the columns used only"
    assert "TRT01A" in whole.columns


def test_a_stage_revalidates_a_dataset_whose_bytes_changed_since_validate(workspace, monkeypatch):
    tte = pl.read_parquet(workspace / "adtte.parquet")
    tte.reverse().write_parquet(workspace / "adtte.parquet")  # the same records, other bytes
    checked = _count_checks(monkeypatch)
    with Stage(workspace, "survival", {}) as stage:
        again = stage.read("adtte", columns=["USUBJID", "AVAL"])
        stage.read("adsl")
    assert checked == ["ADTTE"], "only the changed dataset is checked again"
    assert again.height == tte.height and "CNSR" in again.columns, "an unverified dataset is read and checked whole"
