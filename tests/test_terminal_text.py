"""Text from the data reaches the terminal as text: no rich markup, no ANSI escapes, no control characters.

An arm label like ``[/]\\x1b[31mRED`` once made ``trialkit safety`` exit 1 with
"unexpected MarkupError" after committing its files, and would colour the
terminal red. Every console print escapes markup (``common.safe``) and every
table cell, print and figure text drops escape sequences and control
characters (``formatting.printable``), so the label shows as ``[/]RED``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console

from trialkit.analyses.formatting import printable
from trialkit.cli.common import safe
from trialkit.cli.tables import Table, print_table

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "fixtures" / "seed_trial"
LABEL = "[/]\x1b[31mRED"
SHOWN = "[/]RED"


@pytest.mark.parametrize(("raw", "shown"), [
    (LABEL, SHOWN),
    ("a\x1b]0;window title\x07b", "ab"),                                  # OSC, BEL-terminated
    ("a\x1b]8;;https://x.example\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),     # OSC 8 hyperlink, ST-terminated
    ("x\x9b31my", "xy"),                                                 # 8-bit CSI
    ("\x1bPq#0;2;0;0;0\x1b\\after", "after"),                            # DCS (sixel) string
    ("reset\x1bc!", "reset!"),                                           # a two-character escape
    ("tab\tand\nnewline\r\x00\x07\x7f\x85.", "tab\tand\nnewline."),      # C0 but tab/newline, DEL, C1
    ("Ünïcode ✓ [bold]", "Ünïcode ✓ [bold]"),                          # printable text is left alone
    (None, ""),
])
def test_printable_drops_escape_sequences_and_control_characters(raw, shown):
    assert printable(raw) == shown


def _render(markup: str) -> str:
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None, highlight=False).print(markup)
    return buf.getvalue()


@pytest.mark.parametrize("label", [LABEL, "[bold]High[/bold]", "[/]", "x\\", "[link=https://x]y[/link]"])
def test_safe_text_prints_literally_inside_markup(label):
    shown = printable(label)
    assert _render(f"[dim]Note: {safe(label)}[/] and [bold]{safe(label)}[/]") == f"Note: {shown} and {shown}\n"


def test_table_cells_titles_and_headers_are_printable():
    buf = io.StringIO()
    table = Table(f"T {LABEL}", ["group", f"n {LABEL}"], caption=f"cap {LABEL}")
    table.add_row(LABEL, "1\x1b[2J")
    print_table(Console(file=buf, width=100, color_system=None), table)
    text = buf.getvalue()
    assert "\x1b" not in text and text.count(SHOWN) == 4 and "1[2J" not in text


def test_a_figure_drops_control_characters_without_a_missing_glyph_warning():
    from trialkit.analyses.figures import render

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label=LABEL)
    ax.legend()
    ax.set_title(LABEL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = render(fig, 3, 2)
    assert not [w for w in caught if "\x1b" in str(w.message) or "Glyph" in str(w.message)]
    assert b"\x1b" not in images["svg"]


def _trial_with_label(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for f in SEED.glob("*.csv"):
        df = pl.read_csv(f, infer_schema_length=0)
        if f.stem == "adsl":
            df = df.with_columns(pl.when(pl.col("TRT01A") == "High dose").then(pl.lit(LABEL))
                                 .otherwise(pl.col("TRT01A")).alias("TRT01A"))
        df.write_csv(src / f.name)
    return src


def _trialkit(*args) -> subprocess.CompletedProcess:
    """The real command in a subprocess: a real console, and warnings printed to stderr as users see them."""
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("TRIALKIT_DEBUG", None)
    return subprocess.run([sys.executable, "-c", "from trialkit.cli.app import main; main()", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=600)


def test_a_label_with_markup_and_escapes_shows_literally_through_every_stage(tmp_path):
    ws = tmp_path / "ws"
    steps = [["ingest", _trial_with_label(tmp_path)], ["validate"], ["survival"], ["safety"], ["biomarkers"],
             ["report"], ["results", "--stat", "n"], ["report", "--format", "md"]]
    shown = {}
    for args in steps:
        done = _trialkit(*args, "--workspace", ws)
        assert done.returncode == 0, f"{args[0]}: {done.stderr}"
        assert "\x1b" not in done.stdout and "\x1b" not in done.stderr, args[0]
        assert "trialkit bug" not in done.stderr
        shown[args[0]] = done.stdout
    for stage in ("survival", "safety", "results"):
        assert SHOWN in shown[stage], stage


def test_a_workspace_folder_with_brackets_prints_literally(tmp_path, run_cli):
    ws = tmp_path / "w[/]x[bold]"
    result = run_cli(["ingest", "--workspace", ws])
    assert result.exit_code == 0, result.stderr
    assert f"Next: trialkit validate --workspace {ws}" in " ".join(result.stdout.split())


def test_a_workspace_folder_with_glob_characters_is_read_as_a_plain_path(tmp_path, run_cli):
    ws = tmp_path / "trial[1]"
    for args in (["ingest"], ["validate"], ["survival", "--no-plot"], ["safety", "--no-plot"], ["report"],
                 ["results", "--stat", "p"]):
        result = run_cli([*args, "--workspace", ws])
        assert result.exit_code == 0, (args, result.stderr)
