"""CSV output is safe to open in a spreadsheet (OWASP CSV injection), and numbers stay numbers.

A text cell beginning with =, +, -, @, tab or carriage return is prefixed with
a single quote unless it is a plain number; ANSI escapes and control
characters are removed; numeric columns are never touched (-1.5 stays -1.5).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import polars as pl
import pytest

from trialkit.cli.common import csv_safe, csv_text

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "fixtures" / "seed_trial"
DANGEROUS = re.compile(r"^[=+\-@\t\r]")
PLAIN_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")


@pytest.mark.parametrize(("cell", "written"), [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
    ("+SUM(A1:A9)", "'+SUM(A1:A9)"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("@SUM(1)", "'@SUM(1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'=1"),        # the carriage return is a control character: removed, and the = behind it escaped
    ("-", "'-"),
    ("-1.5", "-1.5"),       # a plain number in a text column stays a number
    ("+2", "+2"),
    ("-3e-4", "-3e-4"),
    ("High dose", "High dose"),
    ("a=b", "a=b"),
    (None, None),
])
def test_text_cells_that_start_a_formula_get_a_quote(cell, written):
    out = csv_safe(pl.DataFrame({"label": [cell]}, schema={"label": pl.String}))
    assert out["label"].to_list() == [written]


def test_categorical_and_enum_columns_are_text_too():
    df = pl.DataFrame({"c": ["=1"], "e": ["@x"]}).with_columns(pl.col("c").cast(pl.Categorical),
                                                              pl.col("e").cast(pl.Enum(["@x"])))
    assert csv_safe(df).row(0) == ("'=1", "'@x")


def test_numeric_columns_keep_their_numbers():
    df = pl.DataFrame({"x": [-1.5, 2.0, float("-inf")], "n": [-3, 0, 4], "flag": [True, False, None]})
    assert csv_text(df) == "x,n,flag\n-1.5,-3,true\n2.0,0,false\n-inf,4,\n"


def test_control_characters_and_escape_sequences_are_removed():
    df = pl.DataFrame({"label": ["[/]\x1b[31mRED\x1b[0m", "bell\x07 nul\x00 c1\x85 kept\ttab"]})
    assert csv_safe(df)["label"].to_list() == ["[/]RED", "bell nul c1 kept\ttab"]


def _cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def _unsafe(text: str) -> list[str]:
    return [c for c in _cells(text) if DANGEROUS.match(c) and not PLAIN_NUMBER.match(c)]


LABELS = {"Low dose": "=HYPERLINK(\"http://evil\",\"Low\")", "Medium dose": "@SUM(1+1)",
          "High dose": "-2+3\x1b[31m"}


@pytest.fixture(scope="module")
def formula_workspace(tmp_path_factory, run_cli):
    tmp = tmp_path_factory.mktemp("formula")
    src = tmp / "src"
    src.mkdir()
    for f in SEED.glob("*.csv"):
        df = pl.read_csv(f, infer_schema_length=0)
        if f.stem == "adsl":
            df = df.with_columns(pl.col("TRT01A").replace(LABELS))
        df.write_csv(src / f.name)
    ws = tmp / "ws"
    assert run_cli(["ingest", src, "--workspace", ws]).exit_code == 0
    return ws


@pytest.mark.parametrize("command", [["survival", "--no-plot"], ["safety", "--no-plot"], ["biomarkers", "--no-plot"],
                                     ["results"]])
def test_csv_on_stdout_neutralises_formula_labels(formula_workspace, run_cli, command):
    if command == ["results"]:
        assert run_cli(["survival", "--no-plot", "--workspace", formula_workspace]).exit_code == 0
    result = run_cli([*command, "--format", "csv", "--workspace", formula_workspace])
    assert result.exit_code == 0, result.stderr
    assert _unsafe(result.stdout) == []
    assert "\x1b" not in result.stdout
    cells = set(_cells(result.stdout))
    assert {"'=HYPERLINK(\"http://evil\",\"Low\")", "'@SUM(1+1)", "'-2+3"} <= cells  # the labels, as text
    assert [c for c in cells if c.startswith("-") and PLAIN_NUMBER.match(c)]  # negative numbers, unquoted
