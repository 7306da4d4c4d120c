"""The Kaplan-Meier figure: step curves, censoring marks, number-at-risk and events tables.

Drawn with matplotlib alone (no plotnine: its import alone took longer than R's
whole survfit + survdiff + coxph), in the look of the other trialkit figures:
Okabe-Ito colours and one line type per arm, so the figure reads in greyscale;
``+`` marks censored subjects; a legend "Arm (n=N)" over the panel. Options, as
survminer's ``ggsurvplot`` and ggsurvfit offer them:

- ``bands``: stepped, translucent confidence bands of every curve, in its colour
  (``survfit``'s ``lower`` / ``upper``; undefined limits leave a gap; at S = 1
  the band is the line itself).
- ``median_lines``: a dashed segment along S = 0.5 to the longest median, and
  from S = 0.5 down to the axis at each arm's median (``print(survfit)``'s
  median; an arm whose curve never reaches 0.5 has none).
- ``p_label``, ``hr_label`` (lines split at "\\n"; ``format_hr_label`` writes it
  from the Cox frame) and the CI wording: one block of text, put in the
  first of the panel's bottom-left, bottom-right, top-right corners that no
  curve, band or median line crosses (the least crossed when all are).
- Under the panel, on its x axis: the number at risk at each tick
  (``summary(fit, times)``'s n.risk) and, with ``events_table``, the
  cumulative number of events up to each tick, one row per arm.
- ``param_title`` (the endpoint's PARAM) over the figure, ``title`` (which
  analysis: population, subgroup) under it.

Time axis (``time_axis``): automatic (unit None), months (30.4375 days) when the
longest follow-up exceeds one year (365.25 days), days otherwise; ticks every 1,
2, 3, 6, 12, 24, 36 or 60 months (1, 2, 5, 7, 14, 30, 60, 90, 180 or 365 days),
the smallest step giving at most 8 intervals; past 40 years, every 1, 2 or 5 x
10^k years (``timescale.nice_step``). A ``unit`` ("days", "weeks", "months",
"years") keeps that unit with its own round steps (weeks 1, 2, 4, 8, 13, 26, 52,
104; years 1, 2 or 5 x 10^k); ``break_by`` sets the step in that unit, refused
(``UsageError``) when it would give more than ``MAX_BREAKS`` ticks. So the axis
has at most 9 ticks automatically and ``MAX_BREAKS`` at most, whatever the
longest time (1e300 days, or times in milliseconds, give a handful of ticks).
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass

import numpy as np
import polars as pl

from trialkit.analyses.formatting import DECIMALS, format_ci
from trialkit.analyses.figures import LINETYPES, palette_for, quiet_missing_glyphs, render, use_agg
from trialkit.analyses.timescale import DAYS_PER, TIME_UNITS, days_per_unit, nice_step
from trialkit.schemas.errors import UsageError

__all__ = ["MAX_BREAKS", "TimeAxis", "time_axis", "format_hr_label", "km_figure", "render_km_figure"]

#: the most ticks (and number-at-risk times) an axis has, whatever its step and limit
MAX_BREAKS = 20
_INTERVALS = 8
_STEPS = {"days": (1, 2, 5, 7, 14, 30, 60, 90, 180, 365, 730), "weeks": (1, 2, 4, 8, 13, 26, 52, 104),
          "months": (1, 2, 3, 6, 12, 24, 36, 60), "years": ()}
_DASHES = {"solid": (0, ()), "dashed": (0, (5, 2)), "dotted": (0, (1, 1.5)), "dashdot": (0, (5, 2, 1, 2))}
_INK, _GREY = "#222222", "#555555"


@dataclass(frozen=True)
class TimeAxis:
    """Display unit ("days", "weeks", "months" or "years"), days per unit, tick step (in units) and the limit in days."""

    unit: str
    days_per_unit: float
    step: float
    limit_days: float

    @property
    def breaks_days(self) -> list[float]:
        """0, step, 2 step, ... up to the limit, in days: at most ``MAX_BREAKS`` of them."""
        n = min(int(math.floor(self.limit_days / self.days_per_unit / self.step + 1e-9)), MAX_BREAKS - 1)
        return [k * self.step * self.days_per_unit for k in range(n + 1)]


def _count(x: float) -> str:
    return f"{x:,.0f}" if x < 1e15 else f"{x:.3g}"


def time_axis(last_day: float, unit: str | None = None, break_by: float | None = None) -> TimeAxis:
    """The time axis up to ``last_day`` (days): in ``unit`` (None: months past a year, else days), ticks every
    ``break_by`` units (None: the smallest round step giving at most 8 intervals).

    ``UsageError`` for an unknown unit, a step that is not a positive number, or one giving more than
    ``MAX_BREAKS`` ticks.
    """
    if not math.isfinite(last_day):
        raise ValueError(f"time_axis needs a finite longest time, got {last_day!r}")
    if unit is None:
        unit = "months" if last_day > DAYS_PER["y"] else "days"
    unit = getattr(unit, "value", unit)
    per = days_per_unit(unit)
    span = max(last_day, 1.0) / per
    if break_by is not None:
        step = _checked_step(break_by, span, unit)
    else:
        step = next((s for s in _STEPS[unit] if span / s <= _INTERVALS), None)
        if step is None and unit == "months":  # past 40 years (the day steps reach past a year): 1, 2, 5 x 10^k years
            step = nice_step(span / 12 / _INTERVALS) * 12
        elif step is None:
            step = nice_step(span / _INTERVALS)
    return TimeAxis(unit, per, float(step), float(max(last_day, step * per)))


def _checked_step(break_by: float, span: float, unit: str) -> float:
    if not (isinstance(break_by, (int, float)) and math.isfinite(break_by) and break_by > 0):
        raise UsageError(f"--break-by {break_by!r} is not a positive number of {unit}",
                         f"give the tick step in {unit}, e.g. --break-by 6 --time-unit months")
    ticks = math.floor(span / break_by + 1e-9) + 1
    if ticks > MAX_BREAKS:
        fits = nice_step(span / (MAX_BREAKS - 1))
        raise UsageError(f"--break-by {break_by:g} gives {_count(ticks)} ticks over {span:.4g} {unit}; a time axis has at "
                         f"most {MAX_BREAKS}", f"give --break-by {fits:g} or more, or a longer --time-unit")
    return float(break_by)


def format_hr_label(cox: pl.DataFrame) -> str | None:
    """The Cox hazard ratios as the figure's ``hr_label`` (None when none is estimable).

    One arm: "HR 0.687 (95% CI 0.547, 0.862) vs Observation"; several: a line "HR (95% CI) vs Observation" and a
    line "Levamisole 0.977 (0.787, 1.21)" per arm. ``cox`` has COX_COLUMNS (``cox_by_group``: arm, reference, hr,
    lower, upper, conf_level, estimable), or COX_TERM_COLUMNS (term, level, ...), whose TRT01A rows are the arms.
    """
    if "term" in cox.columns:
        cox = cox.filter(pl.col("term") == "TRT01A").rename({"level": "arm"})
    rows = cox.filter(pl.col("estimable").fill_null(False) & pl.col("hr").is_not_null())
    if rows.height == 0:
        return None
    level = f"{rows['conf_level'][0]:.0%} CI" if rows["conf_level"][0] is not None else "CI"
    reference = rows["reference"][0]
    cis = [format_ci(h, lo, up, DECIMALS["ratio"]) for h, lo, up in rows.select("hr", "lower", "upper").iter_rows()]
    if rows.height == 1:
        h, rest = cis[0].split(" (", 1)
        return f"HR {h} ({level} {rest} vs {reference}"
    return "\n".join([f"HR ({level}) vs {reference}"] + [f"{a} {c}" for a, c in zip(rows["arm"].to_list(), cis)])


# ----------------------------------------------------------------------------------------------- the data drawn
def _curves(km: pl.DataFrame, per: float) -> pl.DataFrame:
    """Each arm's curve from (0, 1) (dropping at once when there are events at time 0), times in display units."""
    first = km.group_by("arm", maintain_order=True).first()
    origin = first.with_columns(pl.lit(0.0).alias("time"), pl.lit(1.0).alias("survival"), pl.lit(1.0).alias("lower"),
                                pl.lit(1.0).alias("upper"), pl.lit(0).cast(pl.Int64).alias("n_censor"))
    both = pl.concat([origin.select(km.columns), km]).with_row_index("_r")
    both = both.with_columns(pl.col("_r").min().over("arm").alias("_a")).sort("_a", "time", "_r").drop("_a", "_r")
    return both.with_columns((pl.col("time") / per).alias("x"))


@dataclass(frozen=True)
class _Curve:
    """One arm's step curve in display units: x, S, the band's limits (NaN: undefined), censored points."""

    x: np.ndarray
    s: np.ndarray
    lo: np.ndarray
    up: np.ndarray
    censored: np.ndarray

    def span(self, x0: float, x1: float, bands: bool) -> tuple[float, float] | None:
        """The lowest and highest value the curve (and its band) takes over [x0, x1]; None when it is not there."""
        if x1 < self.x[0] or x0 > self.x[-1]:
            return None
        i0 = max(int(np.searchsorted(self.x, x0, side="right")) - 1, 0)
        i1 = max(int(np.searchsorted(self.x, min(x1, self.x[-1]), side="right")) - 1, i0)
        part = [self.s[i0:i1 + 1]]
        if bands:
            part += [self.lo[i0:i1 + 1], self.up[i0:i1 + 1]]
        values = np.concatenate(part)
        values = values[np.isfinite(values)]
        return (float(values.min()), float(values.max())) if values.size else None


def _curve(part: pl.DataFrame) -> _Curve:
    s = part["survival"].to_numpy().astype(float)
    lo = part["lower"].fill_null(np.nan).to_numpy().astype(float)
    up = part["upper"].fill_null(np.nan).to_numpy().astype(float)
    at_one = s == 1
    lo, up = np.where(at_one, 1.0, lo), np.where(at_one, 1.0, up)  # undefined limits at S = 1 drawn as the line
    return _Curve(part["x"].to_numpy().astype(float), s, lo, up, (part["n_censor"].to_numpy() > 0))


def _styles(labels: list[str], style_order: list[str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """Colour and line type per arm, by its place in ``style_order`` (all the trial's arms) so subsets keep them."""
    order = list(style_order) if style_order and set(labels) <= set(style_order) else labels
    colours = palette_for(order)
    types = {a: LINETYPES[i % len(LINETYPES)] for i, a in enumerate(order)}
    return {a: colours[a] for a in labels}, {a: types[a] for a in labels}


def _medians_in_units(medians: pl.DataFrame | None, km: pl.DataFrame, labels: list[str], per: float) -> dict[str, float]:
    """Each arm's median in display units (arms whose curve never reaches 0.5 left out)."""
    if medians is None:
        from trialkit.analyses.survival.km import km_medians

        medians = km_medians(km)
    found = medians.filter(pl.col("arm").is_in(labels) & pl.col("median").is_not_null() & pl.col("median").is_not_nan())
    return {a: m / per for a, m in zip(found["arm"].to_list(), found["median"].to_list())}


# ----------------------------------------------------------------------------------------------- layout (inches)
_PANEL_H = 3.3
_ROW_H = 0.17
_TABLE_TITLE_H = 0.24
_XLABEL_H = 0.48
_LEGEND_ROW_H = 0.24
_RIGHT = 0.3


def _text_width(renderer, fig, text: str, size: float, weight: str = "normal") -> float:
    """Width in inches of ``text`` at ``size`` points, as the renderer lays it out."""
    t = fig.text(0, 0, text, fontsize=size, fontweight=weight)
    width = t.get_window_extent(renderer).width / fig.dpi
    t.remove()
    return width


def _title_lines(param_title: str | None, title: str | None, width_in: float) -> list[tuple[str, float, str]]:
    """(line, size, weight) of the titles, wrapped to the figure's width."""
    lines = []
    for text, size, weight in ((param_title, 10.0, "bold"), (title, 8.5, "normal")):
        if text:
            chars = max(int(width_in * 72 / (size * 0.6)), 20)
            lines += [(line, size, weight) for line in textwrap.wrap(str(text), chars)]
    return lines


def km_figure(km: pl.DataFrame, arms: pl.DataFrame, risk: pl.DataFrame, axis: TimeAxis, *, width: float = 7.0,
              p_label: str | None = None, hr_label: str | None = None, bands: bool = False,
              median_lines: bool = False, medians: pl.DataFrame | None = None, events_table: bool = True,
              y_label: str = "Survival probability", conf_label: str | None = None,
              style_order: list[str] | None = None, title: str | None = None, param_title: str | None = None):
    """The matplotlib figure (see the module docstring); ``render_km_figure`` turns it into PNG and SVG."""
    use_agg()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    present = set(km["arm"].to_list())
    labels = [a for a in arms["arm"].to_list() if a in present]
    sizes = dict(zip(arms["arm"].to_list(), arms["n"].to_list()))
    colours, linetypes = _styles(labels, style_order)
    per = axis.days_per_unit
    curves_frame = _curves(km, per)
    curves = {a: _curve(curves_frame.filter(pl.col("arm") == a)) for a in labels}
    xmax = max(axis.limit_days / per, curves_frame["x"].max() or 0.0)  # the last time, not lost to rounding
    breaks = [b / per for b in axis.breaks_days]
    meds = _medians_in_units(medians, km, labels, per) if median_lines else {}

    fig = Figure(figsize=(width, 6.0), dpi=100)
    canvas = FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    # left margin: the widest of the y axis's labels and the tables' arm names
    row_label_w = max([_text_width(renderer, fig, a, 8, "bold") for a in labels] + [0.0])
    tables = [("Number at risk", "n_risk")] + ([("Cumulative number of events", "cum_events")] if events_table else [])
    cells = risk.filter(pl.col("arm").is_in(labels))
    widest = max([len(str(v)) for c in tables for v in cells[c[1]].to_list()] + [1])
    room = (width - max(0.8, row_label_w + 0.25) - _RIGHT) * 72 / max(len(breaks), 1)  # points between ticks
    cell_size = max(4.5, min(8.0, (room - 3) / (0.62 * widest)))
    label_gap = 0.31 * cell_size * widest + 5  # points from the panel's left edge: past the half of a count at 0
    left = max(0.8, row_label_w + label_gap / 72 + 0.1)
    panel_w = width - left - _RIGHT
    titles = _title_lines(param_title, title, width - 0.2)
    title_h = sum(size / 72 * 1.35 for _, size, _w in titles) + (0.1 if titles else 0.0)
    legend_items = [f"{a} (n={sizes[a]})" for a in labels]
    ncol = _legend_columns(renderer, fig, legend_items, width - 0.3)
    legend_h = _LEGEND_ROW_H * math.ceil(len(labels) / ncol) + 0.12
    table_h = len(tables) * (_TABLE_TITLE_H + _ROW_H * len(labels)) + 0.08
    height = title_h + legend_h + _PANEL_H + _XLABEL_H + table_h + 0.1
    fig.set_size_inches(width, height)

    def fy(inches_from_top: float) -> float:
        return 1 - inches_from_top / height

    y = 0.12
    for line, size, weight in titles:
        y += size / 72 * 1.35
        fig.text(left / width, fy(y), line, fontsize=size, fontweight=weight, ha="left", va="baseline", color=_INK)
    panel_top = title_h + legend_h
    ax = fig.add_axes((left / width, fy(panel_top + _PANEL_H), panel_w / width, _PANEL_H / height))
    handles = [Line2D([], [], color=colours[a], linestyle=_DASHES[linetypes[a]], linewidth=1.1) for a in labels]
    fig.legend(handles, legend_items, loc="lower center", bbox_to_anchor=((left + panel_w / 2) / width, fy(panel_top)),
               ncol=ncol, frameon=False, fontsize=8.5, handlelength=2.8, columnspacing=1.6, borderaxespad=0.1)

    xpad = 0.01 * xmax
    ax.set_xlim(-xpad, xmax + xpad)
    ax.set_ylim(-0.02, 1.02)
    for a in labels:
        c = curves[a]
        if bands:
            ok = np.isfinite(c.lo) & np.isfinite(c.up)
            ax.fill_between(c.x, np.where(ok, c.lo, np.nan), np.where(ok, c.up, np.nan), step="post", color=colours[a],
                            alpha=0.15, linewidth=0)
        ax.plot(c.x, c.s, drawstyle="steps-post", color=colours[a], linestyle=_DASHES[linetypes[a]], linewidth=1.1,
                solid_joinstyle="miter")
        ax.plot(c.x[c.censored], c.s[c.censored], linestyle="none", marker="+", markersize=5, markeredgewidth=0.8,
                color=colours[a])
    obstacles = []
    if meds:
        top = max(meds.values())
        ax.plot([0, top], [0.5, 0.5], color="#777777", linestyle=(0, (4, 3)), linewidth=0.7)
        obstacles.append((0.0, top, 0.5, 0.5))
        for a, m in meds.items():
            ax.plot([m, m], [0.5, 0], color=colours[a], linestyle=(0, (4, 3)), linewidth=0.7)
            obstacles.append((m, m, 0.0, 0.5))
    _style_panel(ax, breaks, axis.unit, y_label)
    lines = [(part, 8.5, _INK) for t in (hr_label, p_label) if t for part in str(t).split("\n")]
    lines += [(conf_label, 7.5, _GREY)] if conf_label and bands else []
    if lines:
        _place_labels(ax, renderer, lines, curves, obstacles, bands)

    top = panel_top + _PANEL_H + _XLABEL_H
    for name, column in tables:
        fig.text(0.1 / width, fy(top + _TABLE_TITLE_H - 0.06), name, fontsize=8.5, fontweight="bold", ha="left",
                 va="baseline", color=_INK)
        rows_top = top + _TABLE_TITLE_H
        table = fig.add_axes((left / width, fy(rows_top + _ROW_H * len(labels)), panel_w / width,
                              _ROW_H * len(labels) / height))
        _draw_table(table, cells, column, labels, per, ax.get_xlim(), colours, cell_size, label_gap)
        top = rows_top + _ROW_H * len(labels)
    return fig


def _legend_columns(renderer, fig, items: list[str], room: float) -> int:
    """Columns of the legend: all in one row up to 3 arms, else in two rows, fewer when the entries are too wide."""
    ncol = len(items) if len(items) <= 3 else math.ceil(len(items) / 2)
    widths = [_text_width(renderer, fig, t, 8.5) + 0.6 for t in items]  # the line sample and spacing
    while ncol > 1 and max(sum(widths[i:i + ncol]) for i in range(0, len(widths), ncol)) > room:
        ncol -= 1
    return ncol


def _style_panel(ax, breaks: list[float], unit: str, y_label: str) -> None:
    ax.set_xticks(breaks, [f"{b:g}" for b in breaks])
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"])
    ax.tick_params(labelsize=8, length=3, width=0.6, color="#333333", labelcolor=_INK)
    for spine in ax.spines.values():
        spine.set_linewidth(0.6)
        spine.set_color("#333333")
    ax.set_xlabel(f"Time ({unit})", fontsize=9, color=_INK)
    ax.set_ylabel(y_label, fontsize=9, color=_INK)


def _place_labels(ax, renderer, lines: list[tuple[str, float, str]], curves: dict[str, _Curve],
                  obstacles: list[tuple[float, float, float, float]], bands: bool) -> None:
    """The label block in the first corner nothing crosses (else the least crossed), one text per line."""
    fig = ax.figure
    box = ax.get_window_extent(renderer)
    widths = [_text_width(renderer, fig, t, size) * fig.dpi for t, size, _c in lines]
    heights = [size * 1.4 / 72 * fig.dpi for _t, size, _c in lines]
    w_frac, h_frac = (max(widths) + 8) / box.width, (sum(heights) + 6) / box.height
    (x_lo, x_hi), (y_lo, y_hi) = ax.get_xlim(), ax.get_ylim()
    pad_x, pad_y = 0.015, 0.03
    corners = [("left", "bottom", pad_x, pad_y), ("right", "bottom", 1 - pad_x - w_frac, pad_y),
               ("right", "top", 1 - pad_x - w_frac, 1 - pad_y - h_frac)]

    def crossings(fx: float, fy: float) -> int:
        x0, x1 = x_lo + fx * (x_hi - x_lo), x_lo + (fx + w_frac) * (x_hi - x_lo)
        y0, y1 = y_lo + fy * (y_hi - y_lo), y_lo + (fy + h_frac) * (y_hi - y_lo)
        hits = 0
        for c in curves.values():
            span = c.span(x0, x1, bands)
            hits += span is not None and span[0] <= y1 and span[1] >= y0
        hits += sum(ox1 >= x0 and ox0 <= x1 and oy1 >= y0 and oy0 <= y1 for ox0, ox1, oy0, oy1 in obstacles)
        return hits

    scores = [crossings(fx, fy) for _h, _v, fx, fy in corners]
    ha, _v, fx, fy = corners[scores.index(min(scores))]
    x = fx if ha == "left" else fx + w_frac
    y = fy + h_frac - 3 / box.height
    for (text, size, colour), h in zip(lines, heights):
        y -= h / box.height
        ax.text(x + (4 if ha == "left" else -4) / box.width, y, text, transform=ax.transAxes, ha=ha, va="bottom",
                fontsize=size, color=colour)


def _draw_table(ax, cells: pl.DataFrame, column: str, labels: list[str], per: float, xlim, colours: dict[str, str],
                size: float, label_gap: float) -> None:
    """One row of counts per arm under the panel's ticks, the arm's name ``label_gap`` points left of the panel."""
    ax.set_xlim(xlim)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.axis("off")
    for i, arm in enumerate(labels):
        part = cells.filter(pl.col("arm") == arm)
        for t, n in zip(part["time"].to_list(), part[column].to_list()):
            ax.text(t / per, i, str(n), ha="center", va="center", fontsize=size, color=_INK)
        ax.annotate(arm, xy=(0, i), xycoords=("axes fraction", "data"), xytext=(-label_gap, 0), textcoords="offset points",
                    ha="right", va="center", fontsize=8, color=colours[arm], fontweight="bold")


def render_km_figure(km: pl.DataFrame, arms: pl.DataFrame, risk: pl.DataFrame, axis: TimeAxis, *,
                     p_label: str | None = None, hr_label: str | None = None, bands: bool = False,
                     median_lines: bool = False, medians: pl.DataFrame | None = None, events_table: bool = True,
                     y_label: str = "Survival probability", conf_label: str | None = None,
                     style_order: list[str] | None = None, title: str | None = None, param_title: str | None = None,
                     width: float = 7.0) -> dict[str, bytes]:
    """PNG (300 dpi) and SVG bytes of ``km_figure``, the same for the same input.

    ``km``: arm, time, n_risk, n_event, n_censor, survival, lower, upper (``km_table``); ``arms``: arm, n;
    ``risk``: arm, time, n_risk, cum_events (``risk_table`` at ``axis.breaks_days``); ``medians``: arm, median in
    days (``km_medians``; computed from ``km`` when None and ``median_lines``).
    """
    with quiet_missing_glyphs():
        fig = km_figure(km, arms, risk, axis, width=width, p_label=p_label, hr_label=hr_label, bands=bands,
                        median_lines=median_lines, medians=medians, events_table=events_table, y_label=y_label,
                        conf_label=conf_label, style_order=style_order, title=title, param_title=param_title)
    w, h = fig.get_size_inches()
    return render(fig, w, h, tight=False)
