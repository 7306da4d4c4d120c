"""No number is ever cut in terminal output, at 60, 80 or 200 columns or piped with COLUMNS unset.

Every command that prints tables runs at each width (its output is not a
terminal, so rich takes the width from COLUMNS, 80 when unset, as in a CI
log). The checks: no ellipsis anywhere (rich's mark of a cut cell) and no
"..." touching a digit; no table line wider than the console; and numbers from
the command's JSON, formatted by analyses/formatting.py, appear whole in the
printed tables.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from trialkit.analyses.formatting import (
    DECIMALS,
    decimals_for,
    format_ci,
    format_median,
    format_n_pct,
    format_number,
    format_p,
    format_signed,
)
from trialkit.cli import common
from trialkit.cli.tables import Table, is_numeric_cell, print_table

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed_trial"
WIDTHS = (60, 80, 200)
BOX = "┏┃┡│└┗┣╇┳━─"


def _run(run_cli, width: int | None, args: list) -> str:
    """The command's stdout with the console at ``width`` columns (None: COLUMNS unset, so 80)."""
    common._console.cache_clear()  # the console reads COLUMNS when it is created
    try:
        result = run_cli(args, env={"COLUMNS": str(width) if width else None})
    finally:
        common._console.cache_clear()
    assert result.exit_code in (0, 1), result.stderr
    return result.stdout


def assert_nothing_cut(text: str, width: int) -> None:
    assert "…" not in text, next(line for line in text.splitlines() if "…" in line)
    cut = re.search(r".*(\d\.\.\.|\.\.\.\d).*", text)
    assert cut is None, cut.group(0)
    for line in text.splitlines():
        if line[:1] in BOX:
            assert len(line) <= width, f"table line of {len(line)} > {width} columns: {line}"


def assert_whole(text: str, number: str) -> None:
    """``number`` appears with no digit or decimal point glued to either side."""
    pattern = rf"(?<![\d.]){re.escape(number)}(?![\d])(?!\.\d)"
    assert re.search(pattern, text), f"{number!r} not printed whole"


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("│")]


# ------------------------------------------------------------------------------------------ workspaces
@pytest.fixture(scope="module")
def seed_outputs(seed_workspace, tmp_path_factory, run_cli):
    """Each stage's table output at every width, and the JSON it wrote."""
    ws = tmp_path_factory.mktemp("width") / "ws"
    shutil.copytree(seed_workspace, ws)
    commands = {
        "survival": ["survival", "--workspace", ws, "--no-plot", "--rmst-tau", "2y"],
        "biomarkers": ["biomarkers", "--workspace", ws, "--no-plot", "--param", "CPSCORE", "--param", "INR",
                       "--param", "ASCITES", "--param", "CD4"],
        "safety": ["safety", "--workspace", ws, "--no-plot"],
        "validate": ["validate", "--workspace", ws],
        "schema": ["schema"],
        "units": ["schema", "--units"],
    }
    out = {(name, w): _run(run_cli, w, args) for name, args in commands.items() for w in (*WIDTHS, None)}
    for w in (*WIDTHS, None):
        out["ingest", w] = _run(run_cli, w, ["ingest", "--workspace", tmp_path_factory.mktemp("ingest") / "ws"])
    for w in (*WIDTHS, None):  # after the stages: their numbers are in the ARD
        out["results", w] = _run(run_cli, w, ["results", "--workspace", ws, "--analysis", "survival"])
    files = {"survival": ws / "survival" / "survival.json",
             "biomarkers": ws / "analyses" / "biomarkers-cpscore-inr-ascites-cd4" / "biomarkers.json",
             "safety": ws / "safety" / "safety.json", "validate": ws / "validation.json", "ingest": ws / "ingest.json"}
    data = {k: json.loads(p.read_text()) for k, p in files.items()}
    data["units"] = json.loads(run_cli(["schema", "--units", "--format", "json"]).stdout)
    return out, data


@pytest.fixture(scope="module")
def violations_output(tmp_path_factory, run_cli):
    """validate's two tables on a workspace with rule violations (an implausible ALB, a duplicate visit)."""
    src = tmp_path_factory.mktemp("bad") / "src"
    src.mkdir()
    for path in SEED.glob("ad*.csv"):
        shutil.copy(path, src / path.name)
    lines = (src / "adlb.csv").read_text().splitlines()
    fields = lines[1].split(",")
    fields[5] = "-12345.5"  # AVAL of the first ALB record
    lines[1] = ",".join(fields)
    lines.append(lines[2])  # a duplicate visit
    (src / "adlb.csv").write_text("\n".join(lines) + "\n")
    out = {}
    for w in (*WIDTHS, None):  # validate quarantines the bad rows: each width gets a fresh workspace
        ws = tmp_path_factory.mktemp("bad") / "ws"
        assert run_cli(["ingest", src, "--workspace", ws]).exit_code == 0
        out[w] = _run(run_cli, w, ["validate", "--workspace", ws])
    return out, json.loads((ws / "validation.json").read_text())


# ------------------------------------------------------------------------------------------ every command
@pytest.mark.parametrize("width", [*WIDTHS, None])
@pytest.mark.parametrize("command", ["ingest", "validate", "schema", "units", "survival", "biomarkers", "safety",
                                     "results"])
def test_no_number_is_cut_at_any_width(seed_outputs, command, width):
    out, _ = seed_outputs
    assert_nothing_cut(out[command, width], width or 80)


@pytest.mark.parametrize("width", WIDTHS)
def test_survival_numbers_are_printed_whole(seed_outputs, width):
    out, data = seed_outputs
    text, j = out["survival", width], data["survival"]
    assert_whole(text, format_p(j["logrank"]["p"]))
    assert_whole(text, format_number(j["logrank"]["chisq"], DECIMALS["statistic"]))
    assert_whole(text, format_p(j["trend"]["p"]))
    for r in j["pairwise"]:
        assert_whole(text, format_p(r["p"]))
        assert_whole(text, format_p(r["p_holm"]))
    for r in j["landmarks"]:
        assert format_ci(r["survival"], r["lower"], r["upper"], DECIMALS["probability"]) in text
    for r in j["medians"]:
        if r["median"] is not None:
            assert format_median(r["median"], r["lower"], r["upper"], DECIMALS["time"]) in text
        elif r["lower"] is not None:  # "not reached (674.0, NA)" may wrap at its spaces, its numbers stay whole
            assert_whole(text, f"({format_number(r['lower'], DECIMALS['time'])},")
    for r in j["rmst"]:
        assert_whole(text, f"{format_number(r['rmst'], DECIMALS['time'])} ({format_number(r['se'], DECIMALS['time'])})")
    for r in j["cox"]:
        if r["hr"] is not None:
            assert format_ci(r["hr"], r["lower"], r["upper"], DECIMALS["ratio"]) in text


@pytest.mark.parametrize("width", WIDTHS)
def test_biomarker_changes_and_p_values_are_printed_whole(seed_outputs, width):
    out, data = seed_outputs
    text, j = out["biomarkers", width], data["biomarkers"]
    assert j["models"]
    for m in j["models"]:
        assert_whole(text, format_p(m["interaction_p"]))
        assert_whole(text, format_p(m["group_p"]))
    pooled = [w for w in j["within"] if w["arm"] == "All" and w["mean_change"] is not None]
    for param in {w["param"] for w in pooled}:
        rows = [w for w in pooled if w["param"] == param]
        decimals = decimals_for(w["mean_change"] for w in rows)
        for w in rows:
            assert_whole(text, format_signed(w["mean_change"], decimals))
    # rich once cut values of this kind (a starred and a plain pooled change) to "-0.81…" and "-0.14…" at 80
    # columns; on the current seed ADLB they are CPSCORE's mean changes at Week 8 (-10/11, p < 0.05) and Day 8 (-3/21)
    assert "-0.909*" in text and "-0.143" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_safety_counts_percentages_and_fisher_p_are_printed_whole(seed_outputs, width):
    out, data = seed_outputs
    text, j = out["safety", width], data["safety"]
    for r in j["overview"]:
        assert_whole(text, format_n_pct(r["subjects"], r["percent"]))
    for r in j["incidence"]:
        assert_whole(text, f"{format_n_pct(r['subjects'], r['percent'])} [{r['events']}]")
    for r in j["fisher"]:
        assert_whole(text, format_p(r["p"]))


@pytest.mark.parametrize("width", WIDTHS)
def test_ingest_validate_and_schema_numbers_are_printed_whole(seed_outputs, width):
    out, data = seed_outputs
    def rows_of(text: str, dataset: str) -> str:  # the dataset's rows in every part of a split table
        return "\n".join(line for line in _table_rows(text) if line.startswith(f"│ {dataset} "))

    for d in data["ingest"]["datasets"]:
        assert_whole(rows_of(out["ingest", width], d["dataset"]), str(d["rows"]))
        assert_whole(rows_of(out["ingest", width], d["dataset"]), str(d["columns"]))
    for d in data["validate"]["datasets"]:
        assert_whole(rows_of(out["validate", width], d["dataset"]), str(d["input_rows"]))
    for p in data["units"]:
        assert_whole(out["units", width], f"{p['low']:g} to {p['high']:g}")


@pytest.mark.parametrize("width", [*WIDTHS, None])
def test_validation_violations_print_their_row_counts_whole(violations_output, width):
    out, report = violations_output
    text = out[width]
    assert_nothing_cut(text, width or 80)
    assert report["violations"]
    for v in report["violations"]:
        assert_whole(text, str(v["n_rows"]))
        assert_whole(text, str(v["rows"][0]))


@pytest.mark.realdata
@pytest.mark.parametrize("command", ["survival", "safety"])
def test_pilot_tables_with_long_group_names_keep_numbers_whole_at_60_columns(pilot_workspace, tmp_path, run_cli,
                                                                              command):
    ws = tmp_path / "ws"
    shutil.copytree(pilot_workspace, ws)
    text = _run(run_cli, 60, [command, "--workspace", ws, "--no-plot"])
    assert_nothing_cut(text, 60)
    j = json.loads((ws / command / f"{command}.json").read_text())
    if command == "survival":
        for r in j["cox"]:
            assert format_ci(r["hr"], r["lower"], r["upper"], DECIMALS["ratio"]) in text
    else:
        for r in j["overview"]:
            assert_whole(text, format_n_pct(r["subjects"], r["percent"]))


# ------------------------------------------------------------------------------------------ the helper
def _render(table: Table, width: int) -> str:
    console = Console(width=width, file=None, force_terminal=False, color_system=None, record=True)
    with console.capture() as capture:
        print_table(console, table)
    return capture.get()


def _wide_table() -> Table:
    t = Table("Survival", ["group", "n", "median (95% CI)", "S(6m) (95% CI)", "S(2y) (95% CI)", "note"], left=("note",))
    t.add_row("Xanomeline High Dose", 84, "547.0 (365.0, NA)", "1.000 (1.000, 1.000)", "0.875 (0.387, 0.981)",
              "subject variance at 0 (boundary)")
    t.add_row("Placebo", 86, "not reached", "0.626 (0.507, 0.724)", "-0.814 (-1.000, -0.500)", "")
    return t


def test_a_table_that_fits_prints_as_one_table():
    text = _render(_wide_table(), 200)
    assert "part" not in text and "-0.814 (-1.000, -0.500)" in text


def test_a_table_too_wide_splits_into_parts_that_repeat_the_label_column():
    text = _render(_wide_table(), 60)
    assert "Survival (part 1 of" in text and "Survival (part 2 of" in text
    assert text.count("Placebo") >= 2 and "-0.814 (-1.000, -0.500)" in text and "1.000 (1.000, 1.000)" in text
    assert all(len(line) <= 60 for line in text.splitlines() if line[:1] in BOX)


def test_a_console_too_narrow_for_two_columns_stacks_the_rows_as_a_list():
    text = _render(_wide_table(), 30)
    assert "┃" not in text
    assert "  S(2y) (95% CI): -0.814" in text and "Placebo" in text


def test_cells_are_numeric_when_they_hold_a_digit_and_no_word():
    assert [is_numeric_cell(c) for c in ("0.85 (0.61, 0.95)", "3 (37.5%) [4]", "<0.0001", "-1.43*", "NA",
                                          "not reached", "Week 12", "")] == [True, True, True, True, False, False,
                                                                                False, False]


def test_cells_are_plain_text_not_markup():
    t = Table("[bold]x[/]", ["group", "value"])
    t.add_row("[red]A[/red]", "1.5")
    text = _render(t, 80)
    assert "[red]A[/red]" in text and "[bold]x[/]" in text


def test_layout_is_deterministic():
    assert _render(_wide_table(), 60) == _render(_wide_table(), 60)


def test_a_table_of_many_columns_splits_quickly_into_parts_that_each_fit():
    t = Table("Many visits", ["param", *(f"Week {k}" for k in range(1, 41))])
    t.add_row("ALB", *(f"{-k / 7:+.3f}*" for k in range(1, 41)))
    text = _render(t, 80)
    assert "(part 1 of" in text and all(f"{-k / 7:+.3f}*" in text for k in range(1, 41))
    assert all(len(line) <= 80 for line in text.splitlines() if line[:1] in BOX)
