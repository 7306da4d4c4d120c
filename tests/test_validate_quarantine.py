"""Every trialkit validate run tells the whole truth about the rows in quarantine.

A first run moves the bad rows to quarantine/ and exits 1. Every later run
reports the rows already there (dataset, count, rules, keys) and exits 1
too, in the table and in JSON, so a CI retry does not go green; only fixing
the source and ingesting again (which clears the quarantine) makes it exit 0.
"""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest

from conftest import SEED

def _bad_albumin() -> tuple[tuple[str, str], ...]:
    """(good, bad) text of the built-in trial's first two albumin rows (TK-SEED-001's baseline and day 8), their
    AVAL replaced by values that cannot be g/L (read from adlb.csv, so a regenerated fixture still works)."""
    rows = [line for line in (SEED / "adlb.csv").read_text().splitlines() if ",TK-SEED-001,ALB," in line][:2]
    out = []
    for line, bad in zip(rows, ("999.0", "888.0")):
        fields = line.split(",")
        good = ",".join(fields[1:6]) + ","
        out.append((good, ",".join([*fields[1:5], bad]) + ","))
    return tuple(out)


# The built-in trial's sources with two albumin values that cannot be g/L.
BAD_ALBUMIN = _bad_albumin()


@pytest.fixture
def sources(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for path in SEED.glob("ad*.csv"):
        shutil.copy(path, src / path.name)
    text = (src / "adlb.csv").read_text()
    for good, bad in BAD_ALBUMIN:
        assert text.count(good) == 1, good
        text = text.replace(good, bad)
    (src / "adlb.csv").write_text(text)
    return src


@pytest.fixture
def quarantined(sources, tmp_path, run_cli):
    """A workspace whose first validate run quarantined the two bad albumin rows."""
    ws = tmp_path / "ws"
    assert run_cli(["ingest", sources, "-w", ws]).exit_code == 0
    first = run_cli(["validate", "-w", ws])
    assert first.exit_code == 1, first.stdout
    return ws


def _json(ws, run_cli):
    result = run_cli(["validate", "-w", ws, "--format", "json"])
    return result, json.loads(result.stdout)


def test_first_run_quarantines_the_bad_rows_and_exits_1(sources, tmp_path, run_cli):
    ws = tmp_path / "ws"
    assert run_cli(["ingest", sources, "-w", ws]).exit_code == 0
    result, report = _json(ws, run_cli)
    assert result.exit_code == 1
    assert report["workspace_clean"] is False
    assert [(v["dataset"], v["rule"], v["n_rows"]) for v in report["violations"]] == [("ADLB", "aval_plausible", 2)]
    (q,) = report["quarantined"]
    assert (q["dataset"], q["file"], q["rows"], q["newly_quarantined_rows"]) == ("ADLB", "quarantine/adlb.parquet", 2, 2)
    held = pl.read_parquet(ws / "quarantine" / "adlb.parquet")
    assert held["AVAL"].to_list() == [999.0, 888.0]
    assert set(held["QUARANTINE_REASON"]) == {"aval_plausible"}


def test_second_run_exits_1_and_names_the_rows_already_in_quarantine(quarantined, run_cli):
    again = run_cli(["validate", "-w", quarantined], env={"COLUMNS": "200"})
    assert again.exit_code == 1, "a retry must not go green while rows sit in quarantine"
    assert "Clean" not in again.stdout
    assert "Not clean" in again.stdout
    assert "2 row(s) quarantined by an earlier trialkit validate are not analysed" in again.stdout
    assert "quarantine/ (not analysed)" in again.stdout
    assert "aval_plausible (2)" in again.stdout
    assert "TK-SEED-001/ALB/Baseline" in again.stdout
    assert "Violations" not in again.stdout, "the kept rows themselves break no rule"


def test_second_run_in_json_says_the_workspace_is_not_clean(quarantined, run_cli):
    result, report = _json(quarantined, run_cli)
    assert result.exit_code == 1
    assert report["workspace_clean"] is False
    assert report["violations"] == []
    assert report["quarantined"] == [{
        "dataset": "ADLB", "file": "quarantine/adlb.parquet", "rows": 2, "newly_quarantined_rows": 0,
        "rules": [{"rule": "aval_plausible", "n_rows": 2}],
        "examples": ["TK-SEED-001/ALB/Baseline", "TK-SEED-001/ALB/Day 8"],
    }]
    assert json.loads((quarantined / "validation.json").read_text()) == report
    assert pl.read_parquet(quarantined / "quarantine" / "adlb.parquet").height == 2, "nothing is quarantined twice"


def test_counts_reconcile_with_the_ingested_rows_counting_earlier_quarantines(quarantined, run_cli):
    ingested = {d["file"]: d["rows"] for d in json.loads((quarantined / "ingest.json").read_text())["datasets"]}
    _, report = _json(quarantined, run_cli)
    adlb = next(d for d in report["datasets"] if d["dataset"] == "ADLB")
    assert adlb["input_rows"] == ingested["adlb.parquet"]
    assert adlb["rows_checked"] == ingested["adlb.parquet"] - 2
    assert (adlb["kept_rows"], adlb["quarantined_rows"]) == (ingested["adlb.parquet"] - 2, 2)
    assert (adlb["previously_quarantined_rows"], adlb["newly_quarantined_rows"]) == (2, 0)
    for d in report["datasets"]:
        assert d["input_rows"] == d["kept_rows"] + d["quarantined_rows"], d["dataset"]
        assert d["reconciles"] is True, d["dataset"]


def test_rows_quarantined_by_two_runs_add_up(quarantined, run_cli):
    lb = pl.read_parquet(quarantined / "adlb.parquet")
    lb.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(777.0)).otherwise(pl.col("AVAL")).alias("AVAL")) \
        .write_parquet(quarantined / "adlb.parquet")
    result, report = _json(quarantined, run_cli)
    assert result.exit_code == 1
    (q,) = report["quarantined"]
    assert (q["rows"], q["newly_quarantined_rows"]) == (3, 1)
    adlb = next(d for d in report["datasets"] if d["dataset"] == "ADLB")
    assert (adlb["previously_quarantined_rows"], adlb["newly_quarantined_rows"], adlb["quarantined_rows"]) == (2, 1, 3)
    assert adlb["input_rows"] == adlb["kept_rows"] + 3 and adlb["reconciles"] is True


def test_rows_removed_outside_trialkit_do_not_reconcile_and_are_said(quarantined, run_cli):
    lb = pl.read_parquet(quarantined / "adlb.parquet")
    lb.tail(lb.height - 5).write_parquet(quarantined / "adlb.parquet")
    result = run_cli(["validate", "-w", quarantined])
    assert result.exit_code == 1
    assert "adlb.parquet (ADLB): " in result.stderr and "changed outside trialkit" in result.stderr
    report = json.loads((quarantined / "validation.json").read_text())
    adlb = next(d for d in report["datasets"] if d["dataset"] == "ADLB")
    assert adlb["reconciles"] is False
    assert adlb["input_rows"] == adlb["kept_rows"] + adlb["quarantined_rows"] + 5


def test_fixing_the_source_and_ingesting_again_clears_the_quarantine_and_exits_0(quarantined, sources, run_cli):
    text = (sources / "adlb.csv").read_text()
    for good, bad in BAD_ALBUMIN:
        text = text.replace(bad, good)
    (sources / "adlb.csv").write_text(text)
    assert run_cli(["ingest", sources, "-w", quarantined]).exit_code == 0
    assert not list((quarantined / "quarantine").glob("*.parquet")), "ingest clears the earlier quarantine"
    manifest = json.loads((quarantined / "manifest.json").read_text())["files"]
    assert not [f for f in manifest if f.startswith("quarantine/")]
    result = run_cli(["validate", "-w", quarantined])
    assert result.exit_code == 0, result.stdout
    assert "Clean:" in result.stdout
    report = json.loads((quarantined / "validation.json").read_text())
    assert (report["workspace_clean"], report["quarantined"], report["violations"]) == (True, [], [])


def test_an_ingest_that_fails_keeps_the_quarantine_and_validate_still_exits_1(quarantined, tmp_path, run_cli):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "adtte.csv").write_text("USUBJID,PARAMCD,AVAL,CNSR\nA,OS,ten,0\n")
    assert run_cli(["ingest", broken, "-w", quarantined]).exit_code == 1
    assert (quarantined / "quarantine" / "adlb.parquet").exists()
    assert run_cli(["validate", "-w", quarantined]).exit_code == 1


def test_the_report_says_rows_quarantined_earlier_are_not_analysed(quarantined, run_cli):
    assert run_cli(["validate", "-w", quarantined]).exit_code == 1
    result = run_cli(["report", "-w", quarantined])
    assert result.exit_code == 0, result.stderr
    html = (quarantined / "report.html").read_text()
    assert ("The kept rows satisfy every schema; 2 row(s) quarantined by an earlier trialkit validate run "
            "(ADLB 2) are not analysed.") in html
    assert "found 0 rule violation(s)" not in html
