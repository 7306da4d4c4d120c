"""Every reproduction of the reliability issue ends in a clean one-line error with the right exit code and an
unchanged workspace, or in a correct result; none reaches "unexpected ...: this is a trialkit bug".

Each case is built here from the built-in trial's CSV files (and, where the issue's reproduction used it, the
CDISC pilot), so the suite needs nothing but the repository.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from conftest import SEED, snapshot

BUG = "trialkit bug"




def _source(tmp_path: Path, *names: str) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    for name in names or ("adsl", "adtte", "adae", "adlb", "adex"):
        shutil.copy(SEED / f"{name}.csv", src / f"{name}.csv")
    return src


def _assert_clean_error(result, code: int, *needles: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stderr)
    assert BUG not in result.stderr and "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])


@pytest.fixture
def ready(seed_workspace, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(seed_workspace, ws)
    return ws


# ------------------------------------------------------------------ 1. silent loss on a damaged file

def test_a_truncated_pilot_transport_file_is_refused_not_half_read(pilot_dir, tmp_path, run_cli, ready):
    src = tmp_path / "cut"
    src.mkdir()
    shutil.copy(pilot_dir / "adsl.xpt", src / "adsl.xpt")
    (src / "adtte.xpt").write_bytes((pilot_dir / "adtte.xpt").read_bytes()[:36720])
    before = snapshot(ready)
    _assert_clean_error(run_cli(["ingest", src, "-w", ready]), 2, "adtte.xpt", "truncated")
    assert snapshot(ready) == before


def test_a_truncated_parquet_file_is_refused(tmp_path, run_cli, ready):
    src = tmp_path / "pq"
    src.mkdir()
    pl.read_csv(SEED / "adsl.csv", infer_schema=False).write_parquet(src / "adsl.parquet")
    data = (src / "adsl.parquet").read_bytes()
    (src / "adsl.parquet").write_bytes(data[: len(data) // 2])
    before = snapshot(ready)
    _assert_clean_error(run_cli(["ingest", src, "-w", ready]), 2, "adsl.parquet")
    assert snapshot(ready) == before


def test_utf16_text_is_read_with_its_byte_order_mark_and_refused_cleanly_without(tmp_path, run_cli):
    src = _source(tmp_path, "adsl")
    text = (src / "adsl.csv").read_text(encoding="utf-8")
    (src / "adsl.csv").write_text(text, encoding="utf-16")  # with BOM
    ok = run_cli(["ingest", src, "-w", tmp_path / "ws"])
    assert ok.exit_code == 0, ok.stderr
    assert pl.read_parquet(tmp_path / "ws" / "adsl.parquet")["USUBJID"][0] == "TK-SEED-001"
    (src / "adsl.csv").write_bytes(text.encode("utf-16-le"))  # no BOM
    _assert_clean_error(run_cli(["ingest", src, "-w", tmp_path / "ws2"]), 2, "adsl.csv", "UTF-16")
    assert not (tmp_path / "ws2").exists()


def test_latin1_text_is_an_error_naming_line_and_column_unless_its_encoding_is_given(tmp_path, run_cli):
    src = _source(tmp_path, "adsl")
    text = (src / "adsl.csv").read_text(encoding="utf-8").replace(",ASIAN,", ",ASIATIQUE-É,", 1)
    (src / "adsl.csv").write_bytes(text.encode("latin-1"))
    result = run_cli(["ingest", src, "-w", tmp_path / "ws"])
    _assert_clean_error(result, 2, "adsl.csv", "line 2", "RACE")
    assert "--encoding latin-1" in result.stderr
    ok = run_cli(["ingest", src, "-w", tmp_path / "ws", "--encoding", "latin-1"])
    assert ok.exit_code == 0, ok.stderr
    assert "ASIATIQUE-É" in pl.read_parquet(tmp_path / "ws" / "adsl.parquet")["RACE"].to_list()


@pytest.mark.parametrize("second", ["AGE", "age"])
def test_a_duplicated_column_is_an_error_naming_file_dataset_and_column(tmp_path, run_cli, second):
    src = _source(tmp_path, "adsl")
    lines = (src / "adsl.csv").read_text().splitlines()
    lines = [lines[0] + f",{second}"] + [line + ",1" for line in lines[1:]]
    (src / "adsl.csv").write_text("\n".join(lines) + "\n")
    _assert_clean_error(run_cli(["ingest", src, "-w", tmp_path / "ws"]), 1, "adsl.csv (ADSL)", "AGE")


def test_a_date_far_outside_the_calendar_is_quarantined_by_validate(tmp_path, run_cli):
    src = _source(tmp_path, "adsl")
    text = (src / "adsl.csv").read_text().replace("2021-03-17", "9999-03-17", 1)
    (src / "adsl.csv").write_text(text)
    ws = tmp_path / "ws"
    assert run_cli(["ingest", src, "-w", ws]).exit_code == 0
    n = pl.read_parquet(ws / "adsl.parquet").height
    result = run_cli(["validate", "-w", ws])
    assert result.exit_code == 1 and BUG not in result.stderr
    kept, quarantined = pl.read_parquet(ws / "adsl.parquet"), pl.read_parquet(ws / "quarantine" / "adsl.parquet")
    assert kept.height + quarantined.height == n and quarantined.height == 1
    assert "TRTSDT" in quarantined["_QUARANTINE_REASON"][0] if "_QUARANTINE_REASON" in quarantined.columns else True


# ------------------------------------------------------------------ 2. nothing allocates in proportion to a value

@pytest.mark.parametrize("scale", ["1e300", "ms"])
def test_one_enormous_time_is_refused_at_once_not_computed_for_ever(tmp_path, run_cli, scale):
    src = _source(tmp_path, "adsl", "adtte")
    df = pl.read_csv(src / "adtte.csv", infer_schema=False)
    aval = pl.col("AVAL").cast(pl.Float64)
    df = df.with_columns((pl.when(pl.int_range(pl.len()) == 0).then(1e300).otherwise(aval) if scale == "1e300"
                          else aval * 86_400_000).cast(pl.String).alias("AVAL"))
    df.write_csv(src / "adtte.csv")
    ws = tmp_path / "ws"
    assert run_cli(["ingest", src, "-w", ws]).exit_code == 0
    before = snapshot(ws)
    _assert_clean_error(run_cli(["survival", "--no-plot", "-w", ws]), 1, "adtte.parquet (ADTTE)", "AVAL")
    assert snapshot(ws) == before


# ------------------------------------------------------------------ 4. crash after commit, crash on valid input

def test_an_arm_label_with_markup_and_escape_codes_is_shown_literally_by_every_stage(tmp_path, run_cli):
    src = _source(tmp_path)
    label = "High dose [/]\x1b[31m"
    for name in ("adsl", "adtte", "adae", "adlb", "adex"):
        path = src / f"{name}.csv"
        df = pl.read_csv(path, infer_schema=False)
        cols = [c for c in ("ARM", "TRT01P", "TRT01A", "EXTRT") if c in df.columns]
        if cols:
            df = df.with_columns(pl.col(c).str.replace("^High dose$", label) for c in cols)
            df.write_csv(path)
    ws = tmp_path / "ws"
    for args in (["ingest", src], ["validate"], ["survival", "--no-plot"], ["safety", "--no-plot"],
                 ["biomarkers", "--no-plot"], ["report"], ["results", "--stat", "p"]):
        result = run_cli([*args, "-w", ws])
        assert result.exit_code == 0, (args, result.stderr)
        assert "\x1b" not in result.stdout and "\x1b" not in result.stderr, args
    assert "High dose [/]" in run_cli(["survival", "--no-plot", "-w", ws]).stdout


def test_a_minimal_valid_adae_gives_every_safety_table(tmp_path, run_cli):
    src = _source(tmp_path, "adsl")
    pl.DataFrame({"USUBJID": ["TK-SEED-002", "TK-SEED-007"], "AEDECOD": ["Fatigue", "Pyrexia"],
                  "AEBODSYS": ["General disorders", "General disorders"], "ASTDY": ["17", "8"]}).write_csv(src / "adae.csv")
    ws = tmp_path / "ws"
    assert run_cli(["ingest", src, "-w", ws]).exit_code == 0
    result = run_cli(["safety", "--no-plot", "-w", ws])
    assert result.exit_code == 0, result.stderr
    assert "Fatigue" in result.stdout


# ------------------------------------------------------------------ 5. I/O errors are I/O errors

def test_a_folder_named_like_a_dataset_is_an_io_error(tmp_path, run_cli):
    src = tmp_path / "src"
    (src / "adsl.csv").mkdir(parents=True)
    _assert_clean_error(run_cli(["ingest", src / "adsl.csv", "-w", tmp_path / "ws"]), 2, "adsl.csv")


def test_a_symlink_loop_is_an_io_error(tmp_path, run_cli):
    src = tmp_path / "src"
    src.mkdir()
    os.symlink(src / "adsl.csv", src / "adsl.csv")
    _assert_clean_error(run_cli(["ingest", src, "-w", tmp_path / "ws"]), 2, "adsl.csv")


@pytest.mark.parametrize("option", [["--rho", "nan"], ["--rho", "inf"], ["--conf-level", "nan"],
                                    ["--rmst-tau", "nan"], ["--times", "nan"]])
def test_a_number_option_that_is_not_finite_is_a_usage_error(ready, run_cli, option):
    before = snapshot(ready)
    result = run_cli(["survival", "--no-plot", "-w", ready, *option])
    assert result.exit_code == 2, result.stderr
    assert BUG not in result.stderr and option[0] in result.stderr
    assert snapshot(ready) == before


# ------------------------------------------------------------------ 6. spreadsheet formulas, terminal escapes

def test_csv_output_neutralises_cells_that_a_spreadsheet_would_run(tmp_path, run_cli):
    src = _source(tmp_path, "adsl", "adtte")
    for name in ("adsl",):
        df = pl.read_csv(src / f"{name}.csv", infer_schema=False)
        df.with_columns(pl.col(c).str.replace("^High dose$", "=HYPERLINK(\"http://x\")")
                        for c in ("ARM", "TRT01P", "TRT01A")).write_csv(src / f"{name}.csv")
    ws = tmp_path / "ws"
    assert run_cli(["ingest", src, "-w", ws]).exit_code == 0
    result = run_cli(["survival", "--no-plot", "--format", "csv", "-w", ws])
    assert result.exit_code == 0, result.stderr
    cells = re.split(r"[,\n]", result.stdout)
    assert not any(c.lstrip('"').startswith(("=", "+", "@")) for c in cells)
    assert any(c.lstrip('"').startswith("'=HYPERLINK") for c in cells)
