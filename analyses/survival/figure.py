"""The Kaplan-Meier figure: step curves, censoring marks, number-at-risk table.

plotnine draws the curves (Okabe-Ito colours and one line type per arm, so the
figure reads in greyscale; ``+`` marks censored subjects; optional stepped
confidence bands; the test p-value in the panel; a legend with group sizes).
plotnine compositions give every stacked panel the same height, so the
number-at-risk table is a matplotlib axis added under the panel of the same
figure, with the panel's x limits: its columns sit exactly under the ticks.

Time axis (``time_axis``): months (30.4375 days) when the longest follow-up
exceeds one year (365.25 days), days otherwise; ticks every 1, 2, 3, 6, 12, 24,
36 or 60 months (1, 2, 5, 7, 14, 30, 60, 90, 180 or 365 days), the smallest step
giving at most 8 intervals; past 40 years, every 1, 2 or 5 x 10^k years
(``timescale.nice_step``). So the axis has at most 9 ticks whatever the longest
time (1e300 days, or times in milliseconds, give a handful of ticks), and
``TimeAxis.breaks_days`` never returns more than ``MAX_BREAKS``. The table shows
the number at risk at each tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from trialkit.analyses.figures import LINETYPES, palette_for, quiet_missing_glyphs, render, theme_journal
from trialkit.analyses.timescale import DAYS_PER, nice_step

__all__ = ["MAX_BREAKS", "TimeAxis", "time_axis", "km_plot", "km_figure", "render_km_figure"]

#: the most ticks (and number-at-risk times) an axis has, whatever its step and limit
MAX_BREAKS = 20
_INTERVALS = 8
_STEPS = {"months": (1, 2, 3, 6, 12, 24, 36, 60), "days": (1, 2, 5, 7, 14, 30, 60, 90, 180, 365, 730)}
_DASHES = {"solid": (None, None), "dashed": (0, (5, 2)), "dotted": (0, (1, 1.5)), "dashdot": (0, (5, 2, 1, 2))}


@dataclass(frozen=True)
class TimeAxis:
    """Display unit ("months" or "days"), days per unit, tick step (in units) and the ticks in days."""

    unit: str
    days_per_unit: float
    step: float
    limit_days: float

    @property
    def breaks_days(self) -> list[float]:
        """0, step, 2 step, ... up to the limit, in days: at most ``MAX_BREAKS`` of them."""
        n = min(int(math.floor(self.limit_days / self.days_per_unit / self.step + 1e-9)), MAX_BREAKS - 1)
        return [k * self.step * self.days_per_unit for k in range(n + 1)]


def time_axis(max_time_days: float) -> TimeAxis:
    """Months when the longest follow-up exceeds a year, else days; at most 8 tick intervals, whatever the time."""
    if not math.isfinite(max_time_days):
        raise ValueError(f"time_axis needs a finite longest time, got {max_time_days!r}")
    unit, per = ("months", DAYS_PER["m"]) if max_time_days > DAYS_PER["y"] else ("days", 1.0)
    span = max(max_time_days, 1.0) / per
    step = next((s for s in _STEPS[unit] if span / s <= _INTERVALS), None)
    if step is None:  # past 40 years (the day steps reach past a year): 1, 2, 5 x 10^k years
        step = nice_step(span / 12 / _INTERVALS) * 12
    return TimeAxis(unit, per, float(step), float(max(max_time_days, step * per)))


def _curves(km: pl.DataFrame, per: float) -> pl.DataFrame:
    """Each arm's curve from (0, 1) (dropping at once when there are events at time 0), times in display units."""
    first = km.group_by("arm", maintain_order=True).first()
    origin = first.with_columns(pl.lit(0.0).alias("time"), pl.lit(1.0).alias("survival"), pl.lit(1.0).alias("lower"),
                                pl.lit(1.0).alias("upper"), pl.lit(0).cast(pl.Int64).alias("n_censor"))
    both = pl.concat([origin.select(km.columns), km]).with_row_index("_r")
    both = both.with_columns(pl.col("_r").min().over("arm").alias("_a")).sort("_a", "time", "_r").drop("_a", "_r")
    return both.with_columns((pl.col("time") / per).alias("x"))


def _bands(curves: pl.DataFrame) -> pl.DataFrame:
    """Stepped ribbons: each interval's limits held until the next time; undefined limits at S = 1 drawn as 1."""
    rows = []
    for arm, part in curves.group_by("arm", maintain_order=True):
        xs, s = part["x"].to_list(), part["survival"].to_list()
        lo, up = part["lower"].to_list(), part["upper"].to_list()
        for i in range(len(xs)):
            if s[i] == 1:
                lo_i = up_i = 1.0
            elif lo[i] is None or up[i] is None:
                continue
            else:
                lo_i, up_i = lo[i], up[i]
            end = xs[i + 1] if i + 1 < len(xs) else xs[i]
            rows += [{"arm": arm[0], "x": xs[i], "lo": lo_i, "up": up_i}, {"arm": arm[0], "x": end, "lo": lo_i, "up": up_i}]
    return pl.DataFrame(rows, schema={"arm": pl.String, "x": pl.Float64, "lo": pl.Float64, "up": pl.Float64})


def _styles(labels: list[str], style_order: list[str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """Colour and line type per arm, by its place in ``style_order`` (all the trial's arms) so subsets keep them."""
    order = list(style_order) if style_order and set(labels) <= set(style_order) else labels
    colours = palette_for(order)
    types = {a: LINETYPES[i % len(LINETYPES)] for i, a in enumerate(order)}
    return {a: colours[a] for a in labels}, {a: types[a] for a in labels}


def km_plot(km: pl.DataFrame, arms: pl.DataFrame, axis: TimeAxis, *, p_label: str | None = None,
            bands: bool = False, y_label: str = "Survival probability", conf_label: str | None = None,
            style_order: list[str] | None = None, title: str | None = None):
    """The plotnine panel: steps per arm, + at censorings, optional CI bands, p-value, legend "Arm (n=N)".

    ``title`` names the analysis over the figure (e.g. a subgroup's), so the figure cannot be taken for another.

    ``style_order`` (the trial's arms in dose order) fixes each arm's colour and line type across figures.
    """
    from plotnine import (aes, annotate, element_blank, element_text, geom_point, geom_ribbon, geom_step, ggplot, guides,
                          guide_legend, labs, scale_color_manual, scale_fill_manual, scale_linetype_manual,
                          scale_x_continuous, scale_y_continuous, theme)

    labels = [a for a in arms["arm"].to_list() if a in set(km["arm"].to_list())]
    sizes = dict(zip(arms["arm"].to_list(), arms["n"].to_list()))
    legend = [f"{a} (n={sizes[a]})" for a in labels]
    colours, linetypes = _styles(labels, style_order)
    curves = _curves(km, axis.days_per_unit).with_columns(pl.col("arm").cast(pl.Enum(labels)))
    censored = curves.filter(pl.col("n_censor") > 0)
    xmax = max(axis.limit_days / axis.days_per_unit, curves["x"].max() or 0.0)  # the last time, not lost to rounding
    breaks = [b / axis.days_per_unit for b in axis.breaks_days]
    scale = dict(breaks=labels, labels=legend, name="")
    p = ggplot(curves.to_pandas(), aes("x", "survival", colour="arm", linetype="arm"))
    if bands:
        ribbons = _bands(curves).with_columns(pl.col("arm").cast(pl.Enum(labels)))
        p += geom_ribbon(aes("x", ymin="lo", ymax="up", fill="arm"), data=ribbons.to_pandas(), inherit_aes=False,
                         alpha=0.15, show_legend=False)
        p += scale_fill_manual(values=colours, **scale)
    p += geom_step(direction="hv", size=0.7)
    p += geom_point(data=censored.to_pandas(), shape="+", size=2.6, stroke=0.5, show_legend=False)
    if p_label:
        p += annotate("text", x=xmax * 0.02, y=0.04, label=p_label, ha="left", va="bottom", size=8.5)
    if conf_label and bands:
        p += annotate("text", x=xmax * 0.02, y=0.12, label=conf_label, ha="left", va="bottom", size=7.5, color="#555555")
    p += scale_color_manual(values=colours, **scale)
    p += scale_linetype_manual(values=linetypes, **scale)
    p += scale_x_continuous(limits=(0, xmax), breaks=breaks, labels=[f"{b:g}" for b in breaks], expand=(0.01, 0))
    p += scale_y_continuous(limits=(0, 1), breaks=[0, 0.25, 0.5, 0.75, 1.0],
                            labels=["0%", "25%", "50%", "75%", "100%"], expand=(0.02, 0))
    p += labs(x=f"Time ({axis.unit})", y=y_label, **({"title": title} if title else {}))
    p += guides(colour=guide_legend(nrow=1 if len(labels) <= 3 else 2), linetype=guide_legend())
    p += theme_journal(9) + theme(legend_title=element_blank(), legend_key_width=26, legend_text=element_text(size=8.5),
                                  panel_grid_major=element_blank(), axis_ticks_length=3,
                                  plot_title=element_text(size=8.5, ha="left"))
    return p


def km_figure(km: pl.DataFrame, arms: pl.DataFrame, risk: pl.DataFrame, axis: TimeAxis, *, width: float = 7.0,
              **plot_options):
    """The matplotlib figure: ``km_plot`` with the number-at-risk table under its panel, on the same x axis."""
    from plotnine import theme

    labels = [a for a in arms["arm"].to_list() if a in set(km["arm"].to_list())]
    table_h = 0.24 + 0.2 * len(labels)  # inches under the x-axis title: table title, then one row per arm
    height = 4.3 + table_h
    plot = km_plot(km, arms, axis, **plot_options) + theme(figure_size=(width, height), plot_margin_bottom=table_h / height)
    with quiet_missing_glyphs():
        fig = plot.draw()
        fig.get_layout_engine().execute(fig)  # plotnine's layout, run once then frozen: the added axis keeps its place
    fig.set_layout_engine("none")
    panel = fig.axes[0]
    box = panel.get_position()
    rows_h = 0.2 * len(labels) / height
    table = fig.add_axes((box.x0, 0.08 / height, box.width, rows_h))
    _draw_risk_table(table, risk, labels, axis, panel.get_xlim(), _styles(labels, plot_options.get("style_order"))[0])
    return fig


def _draw_risk_table(ax, risk: pl.DataFrame, labels: list[str], axis: TimeAxis, xlim, colours: dict[str, str]) -> None:
    ax.set_xlim(xlim)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.axis("off")
    for i, arm in enumerate(labels):
        part = risk.filter(pl.col("arm") == arm)
        for t, n in zip(part["time"].to_list(), part["n_risk"].to_list()):
            ax.text(t / axis.days_per_unit, i, str(n), ha="center", va="center", fontsize=8, color="#222222")
        ax.annotate(arm, xy=(0, i), xycoords=("axes fraction", "data"), xytext=(-8, 0), textcoords="offset points",
                    ha="right", va="center", fontsize=8, color=colours[arm], fontweight="bold")
    ax.annotate("Number at risk", xy=(0, -0.5), xycoords=("axes fraction", "data"), xytext=(-8, 6),
                textcoords="offset points", ha="right", va="bottom", fontsize=8.5, fontweight="bold")


def render_km_figure(km: pl.DataFrame, arms: pl.DataFrame, risk: pl.DataFrame, axis: TimeAxis, **options) -> dict[str, bytes]:
    """PNG (300 dpi) and SVG bytes of ``km_figure``."""
    fig = km_figure(km, arms, risk, axis, **options)
    w, h = fig.get_size_inches()
    return render(fig, w, h)
