"""The safety stage at scale: what keeps it working and its outputs bounded when a trial is large.

- polars 2.1.0 cannot filter a frame of more than about 20,000 rows by a
  literal predicate (``pl.lit(True).fill_null(False)``); the overview's
  "Any TEAE" row is one: ``keep_rows`` works around it.
- Per-subject listings (serious AEs, deaths, Hy's law candidates, liver
  peaks) are shown by their first rows only (terminal, safety.json), with
  their number of rows and the Parquet file that holds them all.
- eDISH / mDISH above ``DENSITY_ABOVE`` subjects draw a density with the
  flagged subjects as points, and say so in the caption.

Trials come from tests/bench/safety_synthetic.py (seeded: the same trial
for the same size).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent / "bench"))
from safety_synthetic import make_safety_trial, write_safety_trial  # noqa: E402

from trialkit.analyses.groups import arms_of  # noqa: E402
from trialkit.analyses.safety.events import keep_rows, overview_table, safety_population, select_safety_aes  # noqa: E402
from trialkit.analyses.safety.pipeline import LISTING_ROWS  # noqa: E402


# ------------------------------------------------------------------ the polars filter bug
def _bug_present(rows: int) -> bool:
    frame = pl.DataFrame({"a": np.arange(rows)})
    try:
        frame.filter(pl.lit(True).fill_null(False))
    except pl.exceptions.ShapeError:
        return True
    return False


def test_polars_still_fails_to_filter_200000_rows_by_a_literal_predicate():
    """Why keep_rows exists. When this starts to pass upstream, keep_rows may become DataFrame.filter again."""
    if not _bug_present(200_000):
        pytest.skip(f"polars {pl.__version__} filters by a literal predicate: the bug is fixed upstream, "
                    "keep_rows (analyses/safety/events.py) is no longer needed")
    assert _bug_present(200_000)


@pytest.mark.parametrize(("predicate", "kept"), [(pl.lit(True).fill_null(False), 200_000),
                                                 (pl.lit(False).fill_null(False), 0),
                                                 (pl.lit(None, pl.Boolean), 0),
                                                 (pl.col("a") % 4 == 0, 50_000)])
def test_keep_rows_filters_200000_rows_by_a_literal_or_a_column_predicate(predicate, kept):
    frame = pl.DataFrame({"a": np.arange(200_000)})
    out = keep_rows(frame, predicate)
    assert out.height == kept and out.columns == ["a"]


def test_overview_counts_any_teae_on_200000_adae_rows():
    """The overview's "Any TEAE" row filters by the literal True: it crashed here before keep_rows."""
    adsl, adae, _adlb, _adex = make_safety_trial(40_000)
    assert adae.height > 190_000
    arms = arms_of(adsl)
    population = safety_population(adsl, arms)
    aes = select_safety_aes(adae, adsl, population)
    overview = overview_table(aes, population, adae.columns)
    got = dict(overview.filter(pl.col("category") == "Any TEAE").select("arm", "subjects").iter_rows())
    teae = aes.records.filter(pl.col("TEAE"))
    want = dict(teae.group_by("ARM").agg(pl.col("USUBJID").n_unique()).iter_rows())
    assert got == want and sum(got.values()) > 30_000


# ------------------------------------------------------------------ bounded listings
@pytest.fixture(scope="module")
def listing_run(tmp_path_factory, run_cli):
    """800 subjects: about 90 serious AEs and 24 deaths, more than the listings show; `safety` as a table."""
    root = tmp_path_factory.mktemp("safety_scale")
    src = write_safety_trial(800, root / "src")
    ws = root / "ws"
    assert run_cli(["ingest", src, "--workspace", ws]).exit_code == 0
    assert run_cli(["validate", "--workspace", ws]).exit_code in (0, 1)
    table = run_cli(["safety", "--workspace", ws, "--no-plot"], env={"COLUMNS": "80"})
    assert table.exit_code == 0, table.stderr
    as_json = run_cli(["safety", "--workspace", ws, "--no-plot", "--format", "json"])
    assert as_json.exit_code == 0, as_json.stderr
    return ws, table.stdout, json.loads(as_json.stdout)


def test_terminal_shows_the_first_rows_of_a_long_listing_with_its_count_and_file(listing_run):
    ws, out, _obj = listing_run
    sae = pl.read_parquet(ws / "safety" / "sae.parquet")
    assert sae.height > LISTING_ROWS
    assert f"Serious adverse events (first {LISTING_ROWS} of {sae.height:,})" in out
    assert f"\u2026 and {sae.height - LISTING_ROWS:,} more: safety/sae.parquet" in out
    section = out.split("Serious adverse events (first")[1].split("\u2026 and")[0]
    shown = {line.split()[1] for line in section.splitlines() if line.startswith("\u2502 TK-SAFE-")}
    assert shown == set(sae["usubjid"].head(LISTING_ROWS)), "the first rows, in listing order"
    deaths = pl.read_parquet(ws / "safety" / "deaths.parquet")
    assert f"\u2026 and {deaths.height - LISTING_ROWS:,} more: safety/deaths.parquet" in out


def test_safety_json_holds_the_first_rows_of_each_listing_and_names_the_file_with_all(listing_run):
    ws, _out, obj = listing_run
    assert obj == json.loads((ws / "safety" / "safety.json").read_text())
    for name in ("sae", "deaths", "hys_law", "liver_peaks"):
        full = pl.read_parquet(ws / "safety" / f"{name}.parquet")
        assert obj["listings"][name] == {"rows": full.height, "shown": min(full.height, LISTING_ROWS),
                                         "file": f"safety/{name}.parquet"}
        assert obj[name] == full.head(LISTING_ROWS).to_dicts()
    assert len(obj["liver_peaks"]) == LISTING_ROWS < obj["listings"]["liver_peaks"]["rows"]


def test_safety_json_counts_every_subject_by_liver_quadrant(listing_run):
    ws, _out, obj = listing_run
    peaks = pl.read_parquet(ws / "safety" / "liver_peaks.parquet")
    got = {(r["plot"], r["quadrant"], r["arm"]): r["subjects"] for r in obj["liver_quadrants"]}
    for plot, column in (("eDISH", "edish_quadrant"), ("mDISH", "mdish_quadrant")):
        want = peaks.drop_nulls(column).group_by(column, "arm").len().iter_rows()
        for quadrant, arm, n in want:
            assert got.pop((plot, quadrant, arm)) == n
    assert set(got.values()) <= {0}, "the other cells are the zero-filled groups of a quadrant"


# ------------------------------------------------------------------ density eDISH / mDISH
@pytest.fixture(scope="module")
def peaks_20000():
    from trialkit.analyses.safety.liver import liver_peaks, liver_records

    adsl, _adae, adlb, _adex = make_safety_trial(20_000)
    arms = arms_of(adsl)
    population = safety_population(adsl, arms)
    return liver_peaks(liver_records(adlb, population), population), [a.label for a in arms]


@pytest.mark.parametrize(("plot", "flag", "who"), [("edish_plot", "hys_law", "Hy's law candidates"),
                                                  ("mdish_plot", "mdish", "mDISH candidates")])
def test_dish_of_20000_subjects_is_a_density_that_states_what_it_drew(peaks_20000, plot, flag, who):
    from trialkit.analyses import figures
    from trialkit.analyses.safety import figures as safety_figures

    peaks, arms = peaks_20000
    p = getattr(safety_figures, plot)(peaks, arms)
    finite = peaks.filter(pl.all_horizontal(pl.col(c).is_finite() & (pl.col(c) > 0) for c in
                                            (("alt_uln", "bili_uln") if flag == "hys_law" else ("alt_xbl", "bili_xbl"))))
    flagged = finite.filter(pl.col(flag))
    caption = p.labels.caption
    assert caption.startswith(f"Density of {finite.height:,} subjects (all groups) in 60 \u00d7 60 bins")
    assert f"Drawn individually: the {flagged.height:,} {who}" in caption
    drawn = {layer.geom.__class__.__name__: layer for layer in p.layers}
    tiles = drawn["geom_tile"].geom.data
    assert int(tiles["count"].sum()) == finite.height and len(tiles) <= 60 * 60
    assert set(p.data["usubjid"]) == set(flagged["usubjid"]), "every flagged subject drawn as a point"
    svg = figures.render(p, 6.0, 5.4)["svg"]
    assert len(svg) < 1_000_000


def test_dish_of_few_subjects_draws_every_subject_as_a_point(peaks_20000):
    from trialkit.analyses.safety.figures import edish_plot

    peaks, arms = peaks_20000
    few = peaks.head(300)
    p = edish_plot(few, arms)
    assert len(p.data) == few.height and "One point per subject." in p.labels.caption
    assert "geom_tile" not in {layer.geom.__class__.__name__ for layer in p.layers}


def test_log_bins_count_points_in_equal_log10_bins():
    """Hand-worked: limits 1-100 in 2 bins per axis split at 10 (log10 1); 10 itself falls in the upper bin."""
    from trialkit.analyses.safety.figures import log_bins

    x = np.array([2.0, 3.0, 50.0, 10.0, 100.0])
    y = np.array([2.0, 5.0, 2.0, 10.0, 99.0])
    bins = log_bins(x, y, (1.0, 100.0), (1.0, 100.0), bins=2).sort("x", "y")
    assert bins.to_dicts() == [
        {"x": pytest.approx(10 ** 0.5), "y": pytest.approx(10 ** 0.5), "count": 2},
        {"x": pytest.approx(10 ** 1.5), "y": pytest.approx(10 ** 0.5), "count": 1},
        {"x": pytest.approx(10 ** 1.5), "y": pytest.approx(10 ** 1.5), "count": 2},
    ]


def test_report_shows_the_first_rows_of_a_long_listing_with_its_count_and_file(listing_run, tmp_path, run_cli):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(listing_run[0], ws)
    result = run_cli(["report", "--workspace", ws])
    assert result.exit_code == 0, result.stderr
    html = (ws / "report.html").read_text()
    sae = pl.read_parquet(ws / "safety" / "sae.parquet")
    assert f"The first {LISTING_ROWS} of {sae.height:,} serious adverse events; all of them: safety/sae.parquet." in html
    assert sae["usubjid"][LISTING_ROWS - 1] in html
    later = set(sae["usubjid"][LISTING_ROWS:]) - set(sae["usubjid"][:LISTING_ROWS])
    assert not any(u in html for u in later - set(pl.read_parquet(ws / "safety" / "hys_law.parquet")["usubjid"])
                   - set(pl.read_parquet(ws / "safety" / "deaths.parquet")["usubjid"].head(LISTING_ROWS)))
