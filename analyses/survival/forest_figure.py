"""The subgroup forest figure: hazard ratios within each level of each subgroup variable.

Reads the forest frame (one row per variable, level and non-reference arm:
variable, level, arm, reference, n, events, hr, lower, upper, p, estimable,
reason, p_interaction, the numbers of ``coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A)``
within each level and of the interaction test
``anova(coxph(~ TRT01A + VAR), coxph(~ TRT01A * VAR))``) and draws, from the top:
the "All subjects" rows (variable "All subjects", "Overall" or "All"), then each variable's name in bold with its interaction p, and its
levels indented under it, in the frame's order.

Columns, left to right: the subgroup, n / events, the panel (a square at the HR,
a whisker from lower to upper, on a log axis with a dashed line at HR = 1;
limits beyond the axis end in an arrow), "HR (CI)" as text and the interaction
p. With several non-reference arms each level has one line per arm, in the arm's
Okabe-Ito colour, with a legend; a level whose HR is not estimable says so, with
the reason, in place of the whisker. Drawn with matplotlib alone, like the KM
figure; ``render_forest_figure`` returns PNG (300 dpi) and SVG bytes, the same
for the same frame.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from trialkit.analyses.figures import palette_for, quiet_missing_glyphs, render, use_agg
from trialkit.analyses.formatting import DECIMALS, format_ci, format_number, format_p
from trialkit.schemas.errors import DataError

__all__ = ["FOREST_COLUMNS", "OVERALL", "forest_figure", "render_forest_figure"]

FOREST_COLUMNS = ("variable", "level", "arm", "reference", "n", "events", "hr", "lower", "upper", "p", "estimable",
                  "reason", "p_interaction")
#: variable names that mark the rows of all subjects (drawn first, without a header)
OVERALL = ("All subjects", "Overall", "All")
_INK, _GREY = "#222222", "#666666"
_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
_LINE_H = 0.2  # inches per text line


def _check(forest: pl.DataFrame) -> None:
    missing = [c for c in FOREST_COLUMNS if c not in forest.columns]
    if missing:
        raise DataError(f"the forest frame lacks column(s) {', '.join(missing)}",
                        f"it needs {', '.join(FOREST_COLUMNS)} (one row per variable, level and arm)")
    if forest.height == 0:
        raise DataError("the forest frame has no rows", "give at least the All subjects row")


def _rows(forest: pl.DataFrame, arms: list[str]) -> list[dict]:
    """The figure's lines from the top: headers, levels (with their arms' rows) and the All subjects block."""
    is_all = pl.col("variable").is_in(list(OVERALL))
    frame = forest.with_row_index("_r").with_columns(is_all.alias("_all"))
    frame = frame.with_columns(pl.col("_r").min().over("variable").alias("_v")).sort(
        pl.col("_all").not_(), "_v", "_r")
    lines: list[dict] = []
    for (variable, is_overall), part in frame.group_by(["variable", "_all"], maintain_order=True):
        if not is_overall:
            p_int = part["p_interaction"].drop_nulls()
            lines.append({"kind": "header", "text": str(variable),
                          "p_int": format_p(p_int[0]) if p_int.len() else ""})
        for level, rows in part.group_by("level", maintain_order=True):
            text = str(variable) if is_overall else f"   {level[0] if level[0] is not None else '(missing)'}"
            by_arm = {r["arm"]: r for r in rows.iter_rows(named=True)}
            lines.append({"kind": "overall" if is_overall else "level", "text": text,
                          "arms": [by_arm[a] for a in arms if a in by_arm]})
    return lines


def forest_figure(forest: pl.DataFrame, *, title: str | None = None, conf_label: str = "95% CI", width: float = 7.5):
    """The matplotlib figure of ``render_forest_figure``."""
    use_agg()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.transforms import blended_transform_factory

    _check(forest)
    arms = list(dict.fromkeys(forest["arm"].to_list()))
    references = list(dict.fromkeys(r for r in forest["reference"].to_list() if r is not None))
    colours = palette_for(arms) if len(arms) > 1 else {arms[0]: _INK}
    lines = _rows(forest, arms)
    sub = 0.5 if len(arms) > 1 else 0.0  # offset between the arms' lines of a level, in rows
    heights = [1.0 if ln["kind"] == "header" else max(1.0, sub * len(ln["arms"]) + 0.4) for ln in lines]
    centres = np.cumsum(heights) - np.asarray(heights) / 2
    total = float(sum(heights))

    fig = Figure(figsize=(width, 4), dpi=100)
    renderer = FigureCanvasAgg(fig).get_renderer()

    def text_w(t: str, size: float, weight: str = "normal") -> float:
        tx = fig.text(0, 0, t, fontsize=size, fontweight=weight)
        w = tx.get_window_extent(renderer).width / fig.dpi
        tx.remove()
        return w

    est = forest.filter(pl.col("estimable").fill_null(False) & pl.col("hr").is_not_null())
    hr_texts = [format_ci(r["hr"], r["lower"], r["upper"], DECIMALS["ratio"]) for r in est.iter_rows(named=True)]
    label_w = max(text_w(ln["text"], 8.5, "bold" if ln["kind"] != "level" else "normal") for ln in lines) + 0.15
    count_w = max([text_w(f"{r['n']} / {r['events']}", 8) for r in forest.iter_rows(named=True)] + [text_w("n / events", 8)]) + 0.2
    hr_w = max([text_w(t, 8) for t in hr_texts] + [text_w(f"HR ({conf_label})", 8.5, "bold"), 1.2]) + 0.2
    p_w = text_w("Interaction p", 8.5, "bold") + 0.1
    panel_w = max(width - 0.1 - label_w - count_w - hr_w - p_w - 0.15, 1.8)
    width = 0.1 + label_w + count_w + panel_w + hr_w + p_w + 0.15
    title_h = 0.35 if title else 0.1
    legend_h = 0.3 if len(arms) > 1 else 0.0
    head_h, axis_h = 0.3, 0.65
    body_h = total * _LINE_H * 1.15
    height = title_h + legend_h + head_h + body_h + axis_h
    fig.set_size_inches(width, height)

    x_label, x_count, x_panel = 0.1, 0.1 + label_w, 0.1 + label_w + count_w
    x_hr, x_p = x_panel + panel_w + 0.15, x_panel + panel_w + hr_w + 0.1
    body_top = title_h + legend_h + head_h
    ax = fig.add_axes((x_panel / width, (axis_h) / height, panel_w / width, body_h / height))
    ax.set_ylim(total, 0)
    lo, hi = _limits(est)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ticks = [t for t in _TICKS if lo <= t <= hi]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_linewidth(0.6)
    ax.tick_params(axis="x", labelsize=8, length=3, width=0.6)
    ax.axvline(1.0, color="#777777", linestyle=(0, (4, 3)), linewidth=0.7)
    ax.set_xlabel(f"Hazard ratio ({conf_label}), log scale", fontsize=8.5, color=_INK)
    if len(arms) == 1 and references:
        ax.annotate(f"\u2190 {arms[0]} better", xy=(0, 0), xycoords="axes fraction", xytext=(0, -30),
                    textcoords="offset points", ha="left", va="top", fontsize=7, color=_GREY)
        ax.annotate(f"{references[0]} better \u2192", xy=(1, 0), xycoords="axes fraction", xytext=(0, -30),
                    textcoords="offset points", ha="right", va="top", fontsize=7, color=_GREY)

    rows_tf = blended_transform_factory(fig.transFigure, ax.transData)

    def put(x_in: float, y: float, text: str, **kw) -> None:
        fig.text(x_in / width, y, text, transform=rows_tf, va="center", **{"fontsize": 8, "color": _INK, **kw})

    head_y = 1 - (title_h + legend_h + head_h / 2) / height
    for x_in, text, ha in ((x_label, "Subgroup", "left"), (x_count + count_w - 0.2, "n / events", "right"),
                           (x_hr, f"HR ({conf_label})", "left"), (x_p + p_w - 0.1, "Interaction p", "right")):
        fig.text(x_in / width, head_y, text, fontsize=8.5, fontweight="bold", ha=ha, va="center", color=_INK)
    fig.add_artist(Line2D([0.1 / width, (width - 0.15) / width], [1 - body_top / height] * 2, color="#333333", lw=0.6))
    if title:
        fig.text(0.1 / width, 1 - 0.22 / height, title, fontsize=10, fontweight="bold", ha="left", va="center",
                 color=_INK)
    if len(arms) > 1:
        handles = [Line2D([], [], color=colours[a], marker="s", markersize=5, linewidth=1.0) for a in arms]
        vs = f" vs {references[0]}" if len(references) == 1 else ""
        fig.legend(handles, [f"{a}{vs}" for a in arms], loc="center",
                   bbox_to_anchor=(0.5, 1 - (title_h + legend_h / 2) / height), ncol=min(len(arms), 3), frameon=False,
                   fontsize=8, handlelength=2.0, columnspacing=1.4)

    for ln, y in zip(lines, centres):
        if ln["kind"] == "header":
            put(x_label, y, ln["text"], fontweight="bold", ha="left", fontsize=8.5)
            put(x_p + p_w - 0.1, y, ln["p_int"], ha="right")
            continue
        put(x_label, y, ln["text"], fontweight="bold" if ln["kind"] == "overall" else "normal", ha="left", fontsize=8.5)
        k = len(ln["arms"])
        for j, r in enumerate(ln["arms"]):
            yy = y + (j - (k - 1) / 2) * sub
            colour = colours[r["arm"]]
            put(x_count + count_w - 0.2, yy, f"{format_number(r['n'], 0)} / {format_number(r['events'], 0)}", ha="right",
                color=colour if k > 1 else _INK)
            if r["estimable"] and r["hr"] is not None and math.isfinite(r["hr"]) and r["hr"] > 0:
                _whisker(ax, r, yy, lo, hi, colour)
                put(x_hr, yy, format_ci(r["hr"], r["lower"], r["upper"], DECIMALS["ratio"]), ha="left",
                    color=colour if k > 1 else _INK)
            else:
                reason = str(r["reason"] or "")
                reason = reason if len(reason) <= 28 else reason[:27] + "\u2026"
                put(x_hr, yy, "not estimable" + (f": {reason}" if reason else ""), ha="left", color=_GREY, fontsize=7,
                    style="italic")
    return fig


def _limits(est: pl.DataFrame) -> tuple[float, float]:
    """The log axis: the estimable limits, padded, within 0.01 to 100, and at least 0.5 to 2."""
    values = np.concatenate([est[c].cast(pl.Float64).fill_null(np.nan).to_numpy() for c in ("hr", "lower", "upper")]
                            + [np.array([1.0])])
    values = values[np.isfinite(values) & (values > 0)]
    lo, hi = float(values.min()), float(values.max())
    lo, hi = max(lo / 1.25, 0.01), min(hi * 1.25, 100.0)
    return min(lo, 0.5), max(hi, 2.0)


def _whisker(ax, r: dict, y: float, lo: float, hi: float, colour: str) -> None:
    """The CI as a line (an arrow where it leaves the axis or is undefined) and the HR as a square."""
    low, up = r["lower"], r["upper"]
    low = low if low is not None and math.isfinite(low) and low > 0 else 0.0
    up = up if up is not None and math.isfinite(up) else math.inf
    ax.plot([max(low, lo), min(up, hi)], [y, y], color=colour, linewidth=1.1, solid_capstyle="butt")
    if low < lo:
        ax.plot([lo], [y], marker="<", color=colour, markersize=4, linestyle="none", clip_on=False)
    if up > hi:
        ax.plot([hi], [y], marker=">", color=colour, markersize=4, linestyle="none", clip_on=False)
    if lo <= r["hr"] <= hi:
        ax.plot([r["hr"]], [y], marker="s", color=colour, markersize=5, linestyle="none")


def render_forest_figure(forest: pl.DataFrame, *, title: str | None = None, conf_label: str = "95% CI") -> dict[str, bytes]:
    """PNG (300 dpi) and SVG bytes of the forest figure of ``forest`` (columns ``FOREST_COLUMNS``)."""
    with quiet_missing_glyphs():
        fig = forest_figure(forest, title=title, conf_label=conf_label)
    w, h = fig.get_size_inches()
    return render(fig, w, h, tight=False)
