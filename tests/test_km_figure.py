"""The KM figure (analyses/survival/figure.py), its time axis, the forest figure and the shared renderer.

The figures hold no statistics of their own: the curves, limits, medians and
counts they draw are ``km_table`` / ``km_medians`` / ``risk_table`` output, which
tests/test_survival.py pins against R (survfit, print(fit), summary(fit, times)).
These tests pin what is drawn and where: bands for every arm, median segments,
labels clear of the curves, the number at risk and cumulative events under each
tick, units and tick steps, text kept as text in SVG, and identical bytes for
identical input.
"""

from __future__ import annotations

import math
import subprocess
import sys
from enum import Enum
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from trialkit.analyses.survival.figure import MAX_BREAKS, format_hr_label, km_figure, render_km_figure, time_axis
from trialkit.analyses.survival.forest_figure import forest_figure, render_forest_figure
from trialkit.analyses.survival.km import derive_survival_data, km_medians, km_table, risk_table
from trialkit.schemas.errors import DataError, UsageError

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "fixtures" / "seed_trial"
COLON = ROOT / "fixtures" / "r_datasets" / "colon"


def _inputs(adsl: pl.DataFrame, adtte: pl.DataFrame, unit=None, break_by=None):
    labels = adsl.sort("TRT01AN")["TRT01A"].unique(maintain_order=True).to_list()
    data = derive_survival_data(adtte, adsl, "OS", labels)
    km = km_table(data, labels)
    axis = time_axis(data["AVAL"].max(), unit, break_by)
    arms = data.group_by("TRT01A", maintain_order=True).len("n").rename({"TRT01A": "arm"})
    arms = pl.DataFrame({"arm": labels}).join(arms, on="arm", how="left")
    return km, arms, risk_table(km, axis.breaks_days), axis


@pytest.fixture(scope="module")
def seed():
    return _inputs(pl.read_csv(SEED / "adsl.csv"), pl.read_csv(SEED / "adtte.csv"))


@pytest.fixture(scope="module")
def colon3():
    """colon's three arms (R: survfit(Surv(time, status) ~ rx, data = colon, subset = etype == 1))."""
    return _inputs(pl.read_csv(COLON / "adsl.csv", infer_schema_length=None),
                   pl.read_csv(COLON / "adtte.csv", infer_schema_length=None))


@pytest.fixture(scope="module")
def colon6():
    """colon's three arms split by sex: six arms with long names (R: survfit(Surv(time, status) ~ rx + sex))."""
    adsl = pl.read_csv(COLON / "adsl.csv", infer_schema_length=None)
    sex = pl.when(pl.col("SEX") == "M").then(pl.lit(" (men)")).otherwise(pl.lit(" (women)"))
    adsl = adsl.with_columns((pl.col("TRT01A") + sex).alias("TRT01A"),
                             (pl.col("TRT01AN") * 2 + (pl.col("SEX") != "M").cast(pl.Int64)).alias("TRT01AN"))
    return _inputs(adsl, pl.read_csv(COLON / "adtte.csv", infer_schema_length=None))


ALL_OPTIONS = dict(p_label="Log-rank p = 0.3328", hr_label="HR 0.69 (0.55, 0.87) vs Placebo", bands=True,
                   median_lines=True, conf_label="95% CI (log-log)", param_title="Overall Survival",
                   title="Analysis itt: all randomised subjects")


def _texts(fig) -> list:
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_text() and t.get_visible()]


def _extent(fig, text):
    return text.get_window_extent(fig.canvas.get_renderer())


def _drawn(fig):
    """The figure after one draw: axis labels and legends have their places only then."""
    fig.canvas.draw()
    return fig


# ------------------------------------------------------------------------------------------------ time axis
def test_time_axis_keeps_its_automatic_choice():
    assert (time_axis(198).unit, time_axis(198).step) == ("days", 30.0)
    assert (time_axis(740).unit, time_axis(740).step) == ("months", 6.0)


@pytest.mark.parametrize("unit, step, ticks", [("days", 180.0, [0, 180, 360, 540, 720]),
                                               ("weeks", 26.0, [0, 26, 52, 78, 104]),
                                               ("months", 6.0, [0, 6, 12, 18, 24]),
                                               ("years", 0.5, [0, 0.5, 1, 1.5, 2])])
def test_time_axis_in_a_given_unit_steps_by_a_round_number_of_it(unit, step, ticks):
    axis = time_axis(740, unit)
    assert (axis.unit, axis.step) == (unit, step)
    assert [b / axis.days_per_unit for b in axis.breaks_days] == pytest.approx(ticks, rel=1e-12)


def test_break_by_sets_the_tick_step_in_the_unit():
    axis = time_axis(740, "months", 3)
    assert axis.step == 3.0 and len(axis.breaks_days) == 9
    assert axis.breaks_days[-1] == pytest.approx(24 * 30.4375, rel=1e-12)
    assert time_axis(740, None, 12).unit == "months"  # the automatic unit, the given step
    assert time_axis(100, "days", 365).limit_days == 365  # a step past the data stretches the axis to one tick


def test_a_unit_may_be_a_str_enum():
    class Unit(str, Enum):
        weeks = "weeks"

    assert time_axis(740, Unit.weeks).unit == "weeks"


def test_break_by_giving_more_than_max_breaks_ticks_is_refused_with_a_step_that_fits():
    with pytest.raises(UsageError, match=r"--break-by 1 gives 741 ticks over 740 days; a time axis has at most 20") as err:
        time_axis(740, "days", 1)
    assert err.value.hint == "give --break-by 50 or more, or a longer --time-unit"
    assert len(time_axis(740, "days", 740 / (MAX_BREAKS - 1)).breaks_days) == MAX_BREAKS
    with pytest.raises(UsageError, match="ticks over"):
        time_axis(1e300, "days", 1)


@pytest.mark.parametrize("bad", [0, -6, math.nan, math.inf])
def test_break_by_must_be_a_positive_number(bad):
    with pytest.raises(UsageError, match="--break-by .* is not a positive number of months"):
        time_axis(740, "months", bad)


def test_an_unknown_time_unit_is_refused_with_the_units():
    with pytest.raises(UsageError, match="--time-unit 'fortnights' is not a time unit") as err:
        time_axis(740, "fortnights")
    assert err.value.hint == "give one of days, weeks, months, years"


# ------------------------------------------------------------------------------------------------ KM figure
def test_bands_are_drawn_for_every_arm(seed):
    km, arms, risk, axis = seed
    panel = km_figure(km, arms, risk, axis, bands=True).axes[0]
    assert len(panel.collections) == 3
    assert len(km_figure(km, arms, risk, axis).axes[0].collections) == 0


def test_median_lines_run_from_half_to_each_median_and_down_to_the_axis(colon3):
    km, arms, risk, axis = colon3
    medians = km_medians(km)  # R: print(survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A))
    panel = km_figure(km, arms, risk, axis, median_lines=True).axes[0]
    segments = [tuple(map(tuple, line.get_xydata())) for line in panel.lines if len(line.get_xydata()) == 2]
    reached = [m / axis.days_per_unit for m in medians["median"].drop_nulls().to_list()]
    assert len(reached) == 2  # Levamisole+5-FU's curve stays above 0.5
    for m in reached:
        assert ((m, 0.5), (m, 0.0)) in segments
    assert ((0.0, 0.5), (max(reached), 0.5)) in segments


def test_the_tables_show_number_at_risk_and_cumulative_events_under_each_tick(seed):
    km, arms, risk, axis = seed
    fig = km_figure(km, arms, risk, axis)
    texts = [t.get_text() for t in _texts(fig)]
    assert "Number at risk" in texts and "Cumulative number of events" in texts
    at_risk, events = fig.axes[1], fig.axes[2]
    for table, column in ((at_risk, "n_risk"), (events, "cum_events")):
        cells = sorted((round(t.get_position()[1]), t.get_position()[0], t.get_text()) for t in table.texts
                       if t.get_horizontalalignment() == "center")
        expected = sorted((i, t / axis.days_per_unit, str(n)) for i, arm in enumerate(arms["arm"])
                          for t, n in risk.filter(pl.col("arm") == arm).select("time", column).iter_rows())
        assert cells == expected
    assert "Cumulative number of events" not in [t.get_text() for t in _texts(km_figure(km, arms, risk, axis,
                                                                                         events_table=False))]


def test_labels_sit_in_a_corner_no_curve_crosses(seed):
    km, arms, risk, axis = seed
    fig = _drawn(km_figure(km, arms, risk, axis, **ALL_OPTIONS))
    panel = fig.axes[0]
    hr = next(t for t in panel.texts if t.get_text().startswith("HR "))
    box = _extent(fig, hr).transformed(panel.transData.inverted())
    for line in panel.lines:
        xy = line.get_xydata()
        if len(xy) < 3:  # the median segments are checked by the placement as well, but are not curves
            continue
        inside = (xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1) & (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1)
        assert not inside.any()


def test_labels_move_off_the_bottom_when_the_curves_fall_there():
    # in each arm 19 of 20 subjects die by day 20 and one is followed to day 100: the curves lie along S = 0.05
    ids = [f"S{i}" for i in range(40)]
    adsl = pl.DataFrame({"USUBJID": ids, "TRT01A": ["A"] * 20 + ["B"] * 20, "TRT01AN": [0] * 20 + [1] * 20})
    aval = [float(1 + i % 20) if i % 20 < 19 else 100.0 for i in range(40)]
    adtte = pl.DataFrame({"USUBJID": ids, "PARAMCD": ["OS"] * 40, "AVAL": aval, "CNSR": [int(a == 100) for a in aval]})
    km, arms, risk, axis = _inputs(adsl, adtte)
    fig = km_figure(km, arms, risk, axis, p_label="Log-rank p = 0.5")
    label = fig.axes[0].texts[0]
    assert label.get_position()[1] > 0.5 and label.get_horizontalalignment() == "right"


def test_titles_legend_and_labels_do_not_overlap_at_six_arms(colon6):
    km, arms, risk, axis = colon6
    fig = _drawn(km_figure(km, arms, risk, axis, **ALL_OPTIONS))
    panel = fig.axes[0]
    legend = fig.legends[0]
    assert len(legend.get_texts()) == 6 and legend.get_texts()[0].get_text() == "Observation (men) (n=166)"
    assert _extent(fig, legend).y0 >= panel.get_window_extent().y1
    titles = [t for t in fig.texts if t.get_text() in ("Overall Survival", ALL_OPTIONS["title"])]
    assert len(titles) == 2 and all(_extent(fig, t).y0 >= _extent(fig, legend).y1 for t in titles)
    boxes = [_extent(fig, t) for t in _texts(fig) if t.get_text()]
    width, height = fig.get_size_inches() * fig.dpi
    assert all(b.x0 >= 0 and b.x1 <= width and b.y0 >= 0 and b.y1 <= height for b in boxes)
    for table in fig.axes[1:]:
        rows: dict[int, list] = {}
        for t in table.texts:  # the arm's name and its counts, by the height of their centres
            box = _extent(fig, t)
            rows.setdefault(round((box.y0 + box.y1) / 2 / 5), []).append(box)
        assert len(rows) == 6 and all(len(row) == 1 + len(axis.breaks_days) for row in rows.values())
        for row in rows.values():
            row.sort(key=lambda b: b.x0)
            assert all(a.x1 < b.x0 for a, b in zip(row, row[1:]))  # no cell touches the next, nor the arm's name


def test_counts_shrink_to_fit_a_tick_every_six_months_of_nine_years_of_thousands(colon6):
    km, arms, risk, axis = colon6
    km = km.with_columns(pl.col("n_risk") * 1000)
    dense = time_axis(axis.limit_days, "months", 6)
    risk = risk_table(km.with_columns(pl.col("n_event") * 1000, pl.col("n_censor") * 1000), dense.breaks_days)
    fig = _drawn(km_figure(km, arms, risk, dense))
    assert len(dense.breaks_days) == 19
    cells = sorted((_extent(fig, t) for t in fig.axes[1].texts if t.get_horizontalalignment() == "center"
                    and round(t.get_position()[1]) == 0), key=lambda b: b.x0)
    assert all(a.x1 < b.x0 for a, b in zip(cells, cells[1:]))


def test_km_figure_svg_keeps_text_as_text_and_png_is_300_dpi_rgb(seed):
    km, arms, risk, axis = seed
    out = render_km_figure(km, arms, risk, axis, **ALL_OPTIONS)
    svg = out["svg"].decode()
    for text in ("Overall Survival", "Analysis itt: all randomised subjects", "HR 0.69 (0.55, 0.87) vs Placebo",
                 "Log-rank p = 0.3328", "Number at risk", "Cumulative number of events", "Time (months)"):
        assert f">{text}</text>" in svg
    assert "<path id=\"DejaVuSans" not in svg and "Date" not in svg
    png = out["png"]
    assert png[25] == 2  # colour type 2: RGB
    phys = png.index(b"pHYs") + 4
    assert int.from_bytes(png[phys:phys + 4], "big") == 11811  # 300 dpi
    assert b"tEXt" not in png and b"iTXt" not in png


_RENDER = """
import polars as pl, hashlib, sys
sys.path.insert(0, {tests!r})
from test_km_figure import _inputs, ALL_OPTIONS, SEED
from trialkit.analyses.survival.figure import render_km_figure
out = render_km_figure(*_inputs(pl.read_csv(SEED / "adsl.csv"), pl.read_csv(SEED / "adtte.csv")), **ALL_OPTIONS)
print(hashlib.sha256(out["png"]).hexdigest(), hashlib.sha256(out["svg"]).hexdigest())
"""


def test_km_figure_bytes_are_the_same_in_another_process(seed):
    km, arms, risk, axis = seed
    import hashlib

    here = render_km_figure(km, arms, risk, axis, **ALL_OPTIONS)
    assert here == render_km_figure(km, arms, risk, axis, **ALL_OPTIONS)
    done = subprocess.run([sys.executable, "-c", _RENDER.format(tests=str(ROOT / "tests"))], capture_output=True,
                          text=True, check=True)
    assert done.stdout.split() == [hashlib.sha256(here["png"]).hexdigest(), hashlib.sha256(here["svg"]).hexdigest()]


def test_the_km_figure_does_not_import_plotnine():
    code = ("import sys, polars as pl; sys.path.insert(0, %r)\n"
            "from test_km_figure import _inputs, SEED\n"
            "from trialkit.analyses.survival.figure import render_km_figure\n"
            "render_km_figure(*_inputs(pl.read_csv(SEED / 'adsl.csv'), pl.read_csv(SEED / 'adtte.csv')))\n"
            "print('plotnine' in sys.modules, 'matplotlib.pyplot' in sys.modules)") % str(ROOT / "tests")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_plotnine_figures_also_keep_svg_text_as_text():
    from plotnine import aes, geom_point, ggplot, labs

    from trialkit.analyses.figures import render

    def plot():
        return ggplot(pl.DataFrame({"x": [1, 2], "y": [3, 4]}).to_pandas(), aes("x", "y")) + geom_point() + labs(title="Dot plot")

    first, second = render(plot(), 3, 2), render(plot(), 3, 2)
    assert ">Dot plot</text>" in first["svg"].decode() and first == second


# ------------------------------------------------------------------------------------------------ forest figure
def _forest(arms=("Levamisole", "Levamisole+5-FU")) -> pl.DataFrame:
    spec = [("All subjects", "All", None, [(929, 446, 0.98, 0.84, 1.15), (929, 446, 0.69, 0.58, 0.83)]),
            ("Sex", "Female", 0.41, [(445, 210, 1.05, 0.82, 1.34), (445, 210, 0.75, 0.57, 0.98)]),
            ("Sex", "Male", 0.41, [(484, 236, 0.92, 0.73, 1.17), (484, 236, 0.63, 0.48, 0.82)]),
            ("Extent", "Submucosa", 0.55, [(20, 4, None, None, None), (20, 4, 0.2, 0.02, math.inf)]),
            ("Extent", "Serosa", 0.55, [(759, 378, 1.0, 0.84, 1.2), (759, 378, 0.72, 0.6, 0.88)])]
    rows = [dict(variable=var, level=level, arm=arm, reference="Observation", n=n, events=e, hr=hr, lower=lo, upper=up,
                 p=None, estimable=hr is not None, reason=None if hr is not None else "no events", p_interaction=p_int)
            for var, level, p_int, values in spec for arm, (n, e, hr, lo, up) in zip(("Levamisole", "Levamisole+5-FU"), values)
            if arm in arms]
    # the rows arrive with All subjects last: the figure still draws it first
    frame = pl.DataFrame(rows, schema_overrides={c: pl.Float64 for c in ("hr", "lower", "upper", "p", "p_interaction")})
    return frame.sort(pl.col("variable") == "All subjects")


def test_forest_figure_draws_all_subjects_first_then_each_variable_with_its_interaction_p():
    fig = _drawn(forest_figure(_forest(), title="Overall survival by subgroup"))
    y = {t.get_text().strip(): _extent(fig, t).y0 for t in fig.texts}
    assert y["All subjects"] > y["Sex"] > y["Female"] > y["Male"] > y["Extent"] > y["Submucosa"] > y["Serosa"]
    texts = [t.get_text() for t in fig.texts]
    assert {"0.4100", "0.5500", "HR (95% CI)", "Interaction p", "n / events"} <= set(texts)
    assert "0.690 (0.580, 0.830)" in texts and "0.200 (0.020, Inf)" in texts and "not estimable: no events" in texts
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Levamisole vs Observation",
                                                                 "Levamisole+5-FU vs Observation"]
    panel = fig.axes[0]
    assert panel.get_xscale() == "log" and any(tuple(line.get_xdata()) == (1.0, 1.0) for line in panel.lines)


def test_forest_figure_with_one_arm_has_no_legend_and_says_which_side_is_better():
    fig = forest_figure(_forest(("Levamisole+5-FU",)))
    assert not fig.legends
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    assert "\u2190 Levamisole+5-FU better" in texts and "Observation better \u2192" in texts


def test_forest_figure_renders_the_same_bytes_with_text_in_svg():
    first = render_forest_figure(_forest(), title="Overall survival by subgroup", conf_label="95% CI")
    assert first == render_forest_figure(_forest(), title="Overall survival by subgroup", conf_label="95% CI")
    assert ">Interaction p</text>" in first["svg"].decode() and first["png"].startswith(b"\x89PNG")


def test_forest_figure_needs_its_columns():
    with pytest.raises(DataError, match="the forest frame lacks column\\(s\\) p_interaction"):
        forest_figure(_forest().drop("p_interaction"))


# ------------------------------------------------------------------------------------------------ HR label
def _cox(rows):
    from trialkit.analyses.survival.cox import COX_COLUMNS

    return pl.DataFrame([dict(zip(("arm", "hr", "lower", "upper", "estimable"), r), reference="Observation",
                              ties="efron", coef=None, se=None, p=None, conf_level=0.95, reason=None) for r in rows],
                        schema=COX_COLUMNS)


def test_hr_label_names_the_reference_and_the_confidence_level():
    one = _cox([("Levamisole+5-FU", 0.68676, 0.5470, 0.8622, True)])
    assert format_hr_label(one) == "HR 0.687 (95% CI 0.547, 0.862) vs Observation"
    two = _cox([("Levamisole", 0.97676, 0.7876, 1.2114, True), ("Levamisole+5-FU", 0.68676, 0.5470, 0.8622, True)])
    assert format_hr_label(two).split("\n") == ["HR (95% CI) vs Observation", "Levamisole 0.977 (0.788, 1.211)",
                                                "Levamisole+5-FU 0.687 (0.547, 0.862)"]
    assert format_hr_label(_cox([("Levamisole", None, None, None, False)])) is None


def test_hr_label_reads_the_treatment_rows_of_a_model_with_covariates():
    terms = pl.DataFrame({"term": ["TRT01A", "TRT01A", "AGE"], "level": ["Levamisole", "Levamisole+5-FU", None],
                          "reference": ["Observation", "Observation", None], "hr": [0.97676, 0.68676, 1.01],
                          "lower": [0.7876, 0.5470, 0.99], "upper": [1.2114, 0.8622, 1.02], "conf_level": [0.95] * 3,
                          "estimable": [False, True, True]})
    assert format_hr_label(terms) == "HR 0.687 (95% CI 0.547, 0.862) vs Observation"


def test_a_label_of_several_lines_stacks_them_clear_of_the_curves(colon3):
    km, arms, risk, axis = colon3
    label = format_hr_label(_cox([("Levamisole", 0.97676, 0.7876, 1.2114, True),
                                  ("Levamisole+5-FU", 0.68676, 0.5470, 0.8622, True)]))
    fig = _drawn(km_figure(km, arms, risk, axis, hr_label=label, p_label="Log-rank p = 0.0004", bands=True,
                           median_lines=True, conf_label="95% CI (log-log)"))
    boxes = [_extent(fig, t) for t in fig.axes[0].texts]
    assert [t.get_text() for t in fig.axes[0].texts] == label.split("\n") + ["Log-rank p = 0.0004", "95% CI (log-log)"]
    assert all(a.y0 >= b.y1 - 0.5 for a, b in zip(boxes, boxes[1:]))  # each line above the next
