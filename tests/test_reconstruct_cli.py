"""``trialkit reconstruct``: from digitised curves to a workspace that ingest, validate, survival and report use.

The example files are fixtures/reconstruct/ (R's veteran trial digitised; see its README.md).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from conftest import ROOT

EXAMPLE = ROOT / "fixtures" / "reconstruct"
CURVES = EXAMPLE / "veteran_curves.csv"
AT_RISK = EXAMPLE / "veteran_at_risk.csv"
EVENTS = EXAMPLE / "veteran_events.csv"


def _reconstruct(run_cli, out: Path, *extra, curves=CURVES, at_risk=AT_RISK):
    return run_cli(["reconstruct", "--curves", curves, "--at-risk", at_risk, "--time-unit", "days", "--out", out,
                    *extra], env={"COLUMNS": "80"})


@pytest.fixture(scope="module")
def reconstructed(tmp_path_factory, run_cli) -> Path:
    """The example reconstructed with its total events (do not modify)."""
    out = tmp_path_factory.mktemp("rec") / "rec"
    result = _reconstruct(run_cli, out, "--events", EVENTS)
    assert result.exit_code == 0, result.stderr
    return out


def test_writes_adsl_and_adtte_marked_as_reconstructed_with_the_sources(reconstructed):
    for name in ("adsl", "adtte"):
        meta = {k.decode(): v.decode() for k, v in pq.read_schema(reconstructed / f"{name}.parquet").metadata.items()}
        assert meta["trialkit.reconstructed"] == "true"
        assert "Guyot" in meta["trialkit.reconstruction_method"]
        sources = json.loads(meta["trialkit.reconstruction_sources"])
        assert sources["curves"]["file"] == "veteran_curves.csv" and len(sources["curves"]["sha256"]) == 64
        assert set(sources) == {"curves", "at_risk", "events"}
        assert meta["trialkit.schema"] == name.upper()
    adsl = pl.read_parquet(reconstructed / "adsl.parquet")
    adtte = pl.read_parquet(reconstructed / "adtte.parquet")
    assert adsl.group_by("TRT01A", "TRT01AN").len().sort("TRT01AN").rows() == [("Standard", 1.0, 69), ("Test", 2.0, 68)]
    assert adtte.filter(pl.col("USUBJID").str.starts_with("RECONSTRUCTED-1-"))["CNSR"].eq(0).sum() == 64


def test_prints_the_arms_at_80_columns_and_says_the_data_are_reconstructed(tmp_path, run_cli):
    result = _reconstruct(run_cli, tmp_path / "rec", "--events", "Standard=64,Test=64")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines if line[:1] in "┏┃┡│└") <= 80  # notes are not wrapped when piped
    assert any(line.startswith("│ Standard │       69 │     64 │       64 │") for line in lines)
    assert "Note: survival read as a percent; times in days (ADTTE AVAL in days)" in result.stdout
    assert "Reconstructed data, not the trial's patient data" in result.stdout
    assert f"Next: trialkit ingest {tmp_path / 'rec'} --workspace WS" in result.stdout


def test_ingest_validate_survival_and_report_run_and_the_report_says_reconstructed(reconstructed, tmp_path, run_cli):
    ws = tmp_path / "ws"
    ingest = run_cli(["ingest", reconstructed, "--workspace", ws])
    assert ingest.exit_code == 0, ingest.stderr
    assert "Reconstructed data (trialkit reconstruct)" in ingest.stderr
    record = json.loads((ws / "ingest.json").read_text())
    assert record["reconstructed"] is True and "Guyot" in record["reconstruction"]["method"]
    assert [f["file"] for f in record["reconstruction"]["files"]] == ["adsl.parquet", "adtte.parquet"]
    for args in (["validate"], ["survival", "--no-plot"], ["report"], ["report", "--format", "md"]):
        result = run_cli([*args, "--workspace", ws])
        assert result.exit_code == 0, (args, result.stderr)
    html = (ws / "report.html").read_text()
    banner = html.index('<div class="banner" role="note"><strong>Reconstructed data — not the trial\'s patient data.')
    assert banner < html.index("</header>") + 200 and "Guyot et al. (2012) algorithm" in html[banner:banner + 500]
    assert "> **Reconstructed data — not the trial's patient data.**" in (ws / "report.md").read_text()


def test_real_data_are_not_marked_reconstructed(veteran_workspace):
    assert "reconstructed" not in json.loads((veteran_workspace / "ingest.json").read_text())


def test_same_inputs_give_the_same_bytes(reconstructed, tmp_path, run_cli):
    again = tmp_path / "again"
    assert _reconstruct(run_cli, again, "--events", EVENTS).exit_code == 0
    for name in ("adsl.parquet", "adtte.parquet"):
        assert (again / name).read_bytes() == (reconstructed / name).read_bytes()


def test_parquet_inputs_are_read_like_csv(reconstructed, tmp_path, run_cli):
    curves, risk = tmp_path / "veteran_curves.parquet", tmp_path / "veteran_at_risk.parquet"
    pl.read_csv(CURVES).write_parquet(curves)
    pl.read_csv(AT_RISK).write_parquet(risk)
    out = tmp_path / "rec"
    assert _reconstruct(run_cli, out, "--events", EVENTS, curves=curves, at_risk=risk).exit_code == 0
    assert pl.read_parquet(out / "adtte.parquet").equals(pl.read_parquet(reconstructed / "adtte.parquet"))


def _bad(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("curves, at_risk, extra, code, message", [
    ("group,time,survival\nA,1,0.9\nA,2,0.7\nA,3,0.8\n", "group,time,n_risk\nA,0,10\n", [], 1,
     "c.csv, arm 'A': the curve rises from 0.700 to 0.800 at time 3 (row 3)"),
    ("group,time,survival\nA,1,0.9\n", "group,time,n_risk\nA,0,10\nA,5,12\n", [], 1,
     "r.csv, arm 'A': the number at risk grows from 10 at time 0 to 12 at time 5"),
    ("group,time,survival\nA,1,0.9\n", "group,time,n_risk\nA,0,10\nB,0,8\n", [], 1,
     "r.csv: arm(s) 'B' have no curve in"),
    ("group,time,survival\nA,1,0.9\n", "group,time,n_risk\nA,0,10\n", ["--events", "B=3"], 2,
     "--events names arm 'B', which is not in the at-risk table"),
    ("group,t,survival\nA,1,0.9\n", "group,time,n_risk\nA,0,10\n", [], 2,
     "c.csv: the curves file has no column time (it has: group, t, survival)"),
    ("group,time,survival\nA,1,0.9\n", "group,time,n_risk\nA,0,10\nA,8,6\nA,4,5\n", [], 1,
     "r.csv, arm 'A': times out of order or repeated (8 then 4, rows 2 and 3)"),
])
def test_bad_input_is_one_line_naming_the_file_and_what_to_do(tmp_path, run_cli, curves, at_risk, extra, code, message):
    out = tmp_path / "rec"
    result = _reconstruct(run_cli, out, *extra, curves=_bad(tmp_path, "c.csv", curves),
                          at_risk=_bad(tmp_path, "r.csv", at_risk))
    assert result.exit_code == code
    first, hint = result.stderr.splitlines()[:2]
    assert first.startswith("Error: ") and message in " ".join(result.stderr.split())
    assert hint.startswith("Hint: ") and "Traceback" not in result.stderr
    assert not out.exists()


def test_missing_and_unsupported_files_are_usage_errors(tmp_path, run_cli):
    result = _reconstruct(run_cli, tmp_path / "rec", curves=tmp_path / "nowhere.csv")
    assert result.exit_code == 2 and "--curves" in result.stderr and "does not exist" in result.stderr
    sheet = tmp_path / "curves.txt"
    shutil.copy(CURVES, sheet)
    result = _reconstruct(run_cli, tmp_path / "rec", curves=sheet)
    assert result.exit_code == 2 and "unsupported file type .txt" in result.stderr
