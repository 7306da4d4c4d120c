"""The workspace's Analysis Results Dataset: every stage run writes its numbers there, and the report's are in it."""

from __future__ import annotations

import html
import io
import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]
PILOT_PLAN = ROOT / "docs" / "examples" / "cdiscpilot01-plan.toml"


def _table_numbers(report_html: str) -> list[tuple[str, str]]:
    """(table id, number as printed) for every decimal number in a body cell of a results table (not listings,
    not the notes under a table)."""
    body = report_html[report_html.index("<body"):]
    out = []
    for tid, block in re.findall(r'<div class="tbl" id="([^"]*)">(.*?)</table>', body, re.S):
        for cell in re.findall(r"<td(?![^>]*gt_sourcenote)[^>]*>(.*?)</td>", block, re.S):
            text = html.unescape(re.sub(r"<[^>]+>", " ", cell)).replace("\u2212", "-")
            out += [(tid, n) for n in re.findall(r"(?<![<\d.])-?\d+\.\d+", text)]
    return out


@pytest.fixture(scope="module")
def pilot_plan_ws(pilot_workspace, tmp_path_factory, run_cli) -> Path:
    ws = tmp_path_factory.mktemp("pilot-ard") / "ws"
    shutil.copytree(pilot_workspace, ws)
    assert run_cli(["run", str(PILOT_PLAN), "--no-plot", "--workspace", ws]).exit_code == 0
    assert run_cli(["report", "--workspace", ws]).exit_code == 0
    return ws


@pytest.mark.realdata
def test_every_number_of_the_pilot_report_tables_is_in_the_ard(pilot_plan_ws, run_cli):
    result = run_cli(["results", "--format", "csv", "--workspace", pilot_plan_ws])
    assert result.exit_code == 0, result.stderr
    ard = pl.read_csv(io.StringIO(result.stdout), infer_schema_length=0).with_columns(pl.col("stat").cast(pl.Float64))
    assert set(ard["analysis"].unique()) == {"safety", "safety-female", "survival", "survival-high-vs-placebo",
                                             "survival-over-80", "survival-efficacy", "table1"}
    stats = ard["stat"].drop_nulls().to_numpy()
    numbers = _table_numbers((pilot_plan_ws / "report.html").read_text())
    assert len(numbers) >= 10 and len({t for t, _ in numbers}) >= 5
    missing = []
    for tid, printed in numbers:
        decimals = len(printed.split(".")[1])
        if not np.any(np.abs(stats - float(printed)) <= 0.5 * 10 ** -decimals + 1e-9):
            missing.append((tid, printed))
    assert missing == []


@pytest.mark.realdata
def test_ten_named_report_numbers_are_found_by_their_ard_coordinates(pilot_plan_ws):
    ard = pl.read_parquet(pilot_plan_ws / "ard.parquet")

    def one(**where) -> float:
        rows = ard.filter(pl.all_horizontal(pl.col(k) == v for k, v in where.items()))
        assert rows.height == 1, (where, rows.height)
        return rows["stat"][0]

    survival = pl.read_parquet(pilot_plan_ws / "survival" / "tests.parquet")
    assert one(analysis="survival", table="tests", stat_name="p") == pytest.approx(survival["p"][0], rel=1e-12)
    assert one(analysis="survival", table="tests", stat_name="chisq") == pytest.approx(survival["chisq"][0], rel=1e-12)
    cox = pl.read_parquet(pilot_plan_ws / "analyses" / "survival-high-vs-placebo" / "cox.parquet")
    assert one(analysis="survival-high-vs-placebo", table="cox", stat_name="hr") == pytest.approx(cox["hr"][0], rel=1e-12)
    medians = pl.read_parquet(pilot_plan_ws / "survival" / "medians.parquet").filter(pl.col("arm") == "Placebo")
    assert one(analysis="survival", table="medians", group1_level="Placebo", stat_name="median") == medians["median"][0]
    t1 = {(r["group1_level"], r["stat_name"]): r["stat"]
          for r in ard.filter((pl.col("analysis") == "table1") & (pl.col("variable") == "AGE")).iter_rows(named=True)}
    # CDISCPILOT01 Table 14-2.01: age mean 75.2 (placebo), 75.7 (low dose), 74.4 (high dose); n 86, 84, 84
    assert round(t1[("Placebo", "mean")], 1) == 75.2 and round(t1[("Xanomeline Low Dose", "mean")], 1) == 75.7
    assert round(t1[("Xanomeline High Dose", "mean")], 1) == 74.4
    assert (t1[("Placebo", "n")], t1[("Xanomeline Low Dose", "n")], t1[("Total", "n")]) == (86, 84, 254)
    inc = pl.read_parquet(pilot_plan_ws / "safety" / "overview.parquet").row(0, named=True)
    assert one(analysis="safety", table="overview", group1_level=inc["arm"], variable_level=inc["category"],
               stat_name="subjects") == inc["subjects"]


@pytest.mark.realdata
def test_an_analysis_rerun_replaces_only_its_own_ard_rows(pilot_plan_ws, tmp_path, run_cli):
    ws = tmp_path / "ws"
    shutil.copytree(pilot_plan_ws, ws)
    before = pl.read_parquet(ws / "ard.parquet")
    assert run_cli(["survival", "--name", "survival-over-80", "--subgroup", "AGEGR1=>80", "--no-plot", "--rmst-tau", "90",
                    "--workspace", ws]).exit_code == 0
    after = pl.read_parquet(ws / "ard.parquet")
    others = pl.col("analysis") != "survival-over-80"
    assert after.filter(others).equals(before.filter(others))
    rmst = (pl.col("table") == "rmst") & (pl.col("stat_name") == "rmst")
    assert after.filter(~others & rmst)["keys"].to_list() != before.filter(~others & rmst)["keys"].to_list()
    assert all("tau=90" in k for k in after.filter(~others & rmst)["keys"].to_list())
