"""The efficacy figures show what a reader needs: labelled axes, a legend entry per group, one error bar per
LS mean, and the differences' numbers as text. Frames are built by hand with the columns of the shared
contract (``lsmeans``: visit, group, estimate, se, df, lower, upper, n; ``contrasts``: visit, group,
reference, comparison, estimate, se, df, t, p, lower, upper, adjust, p_adjusted)."""

from __future__ import annotations

import polars as pl
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.text import Text

from trialkit.analyses.efficacy.figures import figure_differences_forest, figure_lsmeans_by_visit
from trialkit.analyses.figures import render
from trialkit.schemas.errors import DataError

GROUPS = ["Placebo", "Low dose", "High dose"]
VISITS = ["Week 2", "Week 4", "Week 8", "Week 12"]


def lsmeans_frame(drop: tuple[str, str] | None = None) -> pl.DataFrame:
    rows = []
    for gi, g in enumerate(GROUPS):
        for vi, v in enumerate(VISITS):
            if drop == (g, v):
                continue
            est = -0.5 * vi - 1.0 * gi * vi
            rows.append({"visit": v, "group": g, "estimate": est, "se": 0.5, "df": 120.0,
                         "lower": est - 1.0, "upper": est + 1.0, "n": 30})
    return pl.DataFrame(rows, schema_overrides={"n": pl.Int64})


def contrasts_frame(adjust: str = "none") -> pl.DataFrame:
    rows = []
    for v in VISITS:
        for g, est, lo, up, p in (("Low dose", 3.7745, 1.6517, 5.8974, 0.000589), ("High dose", -1.2, -2.5, 0.1, 3e-7)):
            rows.append({"visit": v, "group": g, "reference": "Placebo", "comparison": "vs reference",
                         "estimate": est, "se": 1.0, "df": 140.0, "t": est, "p": p, "lower": lo, "upper": up,
                         "adjust": adjust, "p_adjusted": min(1.0, 2 * p)})
    rows.append({"visit": "Week 12", "group": "High dose", "reference": "Low dose", "comparison": "pairwise",
                 "estimate": -4.9, "se": 1.0, "df": 140.0, "t": -4.9, "p": 1e-6, "lower": -6.9, "upper": -2.9,
                 "adjust": adjust, "p_adjusted": 2e-6})
    return pl.DataFrame(rows)


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def error_bar_segments(ax) -> list[int]:
    """The number of bars in each errorbar call of the panel (one call per group / row)."""
    return [len(c.lines[2][0].get_segments()) for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_lsmeans_figure_labels_its_axes_with_the_visits_and_the_title():
    fig = figure_lsmeans_by_visit(lsmeans_frame(), GROUPS, VISITS, title="Albumin (g/L)",
                                  ylabel="LS mean change from baseline (95% CI)")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Visit"
    assert ax.get_ylabel() == "LS mean change from baseline (95% CI)"
    assert [t.get_text() for t in ax.get_xticklabels()] == VISITS
    assert "Albumin (g/L)" in texts(fig)


def test_lsmeans_figure_has_one_legend_entry_per_group_in_order():
    fig = figure_lsmeans_by_visit(lsmeans_frame(), GROUPS, VISITS, title="t", ylabel="y")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == GROUPS


def test_lsmeans_figure_draws_an_error_bar_per_group_and_visit():
    fig = figure_lsmeans_by_visit(lsmeans_frame(), GROUPS, VISITS, title="t", ylabel="y")
    assert error_bar_segments(fig.axes[0]) == [len(VISITS)] * len(GROUPS)


def test_lsmeans_figure_leaves_out_the_bar_of_a_group_without_a_visit():
    fig = figure_lsmeans_by_visit(lsmeans_frame(drop=("Low dose", "Week 8")), GROUPS, VISITS, title="t", ylabel="y")
    assert error_bar_segments(fig.axes[0]) == [4, 3, 4]


def test_lsmeans_figure_error_bars_span_the_confidence_limits_and_are_dodged():
    fig = figure_lsmeans_by_visit(lsmeans_frame(), GROUPS, VISITS, title="t", ylabel="y")
    bars = [c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)]
    first_bar = [b.lines[2][0].get_segments()[3] for b in bars]  # Week 12 of each group
    xs = [seg[0][0] for seg in first_bar]
    assert len(set(xs)) == len(GROUPS) and max(xs) - min(xs) < 0.5  # side by side around the visit
    high = first_bar[2]
    assert sorted([high[0][1], high[1][1]]) == pytest.approx([-7.5 - 1.0, -7.5 + 1.0])  # lower, upper


def test_lsmeans_figure_marks_zero_when_the_axis_spans_it():
    fig = figure_lsmeans_by_visit(lsmeans_frame(), GROUPS, VISITS, title="t", ylabel="y")
    zero = [ln for ln in fig.axes[0].get_lines() if list(ln.get_ydata()) == [0.0, 0.0]]
    assert len(zero) == 1


def test_forest_shows_each_difference_with_its_ci_and_p_as_text():
    fig = figure_differences_forest(contrasts_frame(), visit="Week 12", title="Albumin (g/L)",
                                    xlabel="Difference in LS mean change")
    shown = texts(fig)
    assert "Difference (95% CI)" in shown and "p" in shown
    assert "3.77 (1.65, 5.90)" in shown and "0.0006" in shown
    assert "-1.20 (-2.50, 0.10)" in shown and "<0.0001" in shown
    assert "Albumin (g/L)" in shown and "At Week 12" in shown
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Difference in LS mean change"
    top_down = sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])
    assert [t.get_text() for t in top_down] == ["Low dose vs Placebo", "High dose vs Placebo"]  # frame order


def test_forest_draws_one_whisker_per_group_and_a_line_at_zero():
    fig = figure_differences_forest(contrasts_frame(), visit="Week 12", title="t", xlabel="x")
    ax = fig.axes[0]
    assert error_bar_segments(ax) == [1, 1]  # the pairwise row is not drawn
    assert any(list(ln.get_xdata()) == [0.0, 0.0] for ln in ax.get_lines())


def test_forest_shows_the_adjusted_p_when_the_contrasts_are_adjusted():
    fig = figure_differences_forest(contrasts_frame(adjust="dunnett"), visit="Week 12", title="t", xlabel="x")
    shown = texts(fig)
    assert "p (adj.)" in shown and "0.0012" in shown


def test_forest_at_a_visit_without_differences_names_the_visits_there_are():
    with pytest.raises(DataError, match="no difference from the reference at visit 'Week 24'") as err:
        figure_differences_forest(contrasts_frame(), visit="Week 24", title="t", xlabel="x")
    assert "Week 12" in err.value.hint


def test_figures_name_the_columns_a_frame_lacks():
    with pytest.raises(DataError, match="the lsmeans frame lacks column"):
        figure_lsmeans_by_visit(lsmeans_frame().drop("upper"), GROUPS, VISITS, title="t", ylabel="y")
    with pytest.raises(DataError, match="the contrasts frame lacks column"):
        figure_differences_forest(contrasts_frame().drop("p"), visit="Week 2", title="t", xlabel="x")


def test_figures_render_to_png_and_svg_with_text_kept_as_text():
    for fig in (figure_lsmeans_by_visit(lsmeans_frame(), GROUPS, VISITS, title="Albumin (g/L)", ylabel="y"),
                figure_differences_forest(contrasts_frame(), visit="Week 12", title="Albumin (g/L)", xlabel="x")):
        out = render(fig, *fig.get_size_inches(), tight=False)
        assert out["png"].startswith(b"\x89PNG")
        assert b"Albumin (g/L)" in out["svg"] and b"<text" in out["svg"]
