"""The efficacy figures: LS means by visit, and the differences from the reference group as a forest.

Both read the MMRM engine's frames (the shared contract of ``analyses/efficacy``):

- ``figure_lsmeans_by_visit(lsmeans, groups, visits, title=, ylabel=)``: the ``lsmeans`` frame (visit, group,
  estimate, se, df, lower, upper, n; from ``emmeans(fit, ~ ARM | AVISIT)`` in R, SAS's ``LSMEANS
  AVISIT*ARMCD / cl``). One line per group over the visits in time order, a marker at each LS mean and an error
  bar from ``lower`` to ``upper``, the groups dodged sideways so the bars do not overlap; a dotted line at 0
  when the axis spans it (a change from baseline of 0). A visit where a group has no LS mean (no record) is a
  gap in its line.
- ``figure_differences_forest(contrasts, visit=, title=, xlabel=)``: the ``contrasts`` frame's rows at one
  visit (the primary one) with ``comparison`` "vs reference" (every row when the column is absent): one line per
  group, "Group vs Reference", a square at the difference (group minus reference) and a whisker from ``lower``
  to ``upper``, a dashed line at 0; on the right, as text, the difference with its CI
  (``format_ci``, ``decimals`` places) and the p-value (``format_p``; the adjusted one, headed "p (adj.)",
  when ``adjust`` is not "none").

The look is trialkit's (``analyses/figures.py``): Okabe-Ito colours in the order of ``groups``, one marker
shape and line type per group so the figure reads in greyscale, PARAM as the title. Both return a matplotlib
``Figure`` built without pyplot (nothing global, nothing written); ``analyses.figures.render(fig, *
fig.get_size_inches(), tight=False)`` turns it into PNG (300 dpi) and SVG bytes with text kept as text, as the
survival stage does with its figures.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import polars as pl

from trialkit.analyses.figures import LINETYPES, SHAPES, palette_for
from trialkit.analyses.formatting import format_ci, format_p
from trialkit.schemas.errors import DataError

__all__ = ["LSMEANS_COLUMNS", "CONTRASTS_COLUMNS", "figure_lsmeans_by_visit", "figure_differences_forest"]

LSMEANS_COLUMNS = ("visit", "group", "estimate", "lower", "upper")
CONTRASTS_COLUMNS = ("visit", "group", "reference", "estimate", "lower", "upper", "p")
_INK, _GREY = "#222222", "#666666"
_DASHES = {"solid": (0, ()), "dashed": (0, (5, 2)), "dotted": (0, (1, 1.5)), "dashdot": (0, (5, 2, 1, 2))}
_DODGE = 0.3  # total sideways spread of the groups at a visit, in visit units
_CI_COLUMN_IN, _TEXT_BLOCK_IN = 1.5, 2.3  # the forest's text on the right: CI column, CI + p columns, inches


def _require(frame: pl.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"the {name} frame lacks column(s) {', '.join(missing)}",
                        f"it needs {', '.join(columns)} (the MMRM engine's {name} frame)")


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _values(part: pl.DataFrame, column: str) -> np.ndarray:
    return part[column].cast(pl.Float64).fill_null(float("nan")).to_numpy()


def figure_lsmeans_by_visit(lsmeans: pl.DataFrame, groups: list[str], visits: list[str], *, title: str,
                            ylabel: str, xlabel: str = "Visit", width: float = 7.0, height: float = 4.2):
    """LS mean and CI per group over the visits (see the module docstring); returns a matplotlib Figure."""
    from matplotlib.lines import Line2D

    _require(lsmeans, LSMEANS_COLUMNS, "lsmeans")
    if not groups or not visits:
        raise DataError("the LS means figure needs at least one group and one visit",
                        "pass the groups and visits in their analysis order")
    rows = lsmeans.filter(pl.col("group").is_in(groups) & pl.col("visit").is_in(visits))
    if rows.height == 0:
        raise DataError(f"the lsmeans frame has no row for groups {', '.join(groups)} at visits {', '.join(visits)}",
                        "check that the groups and visits are spelled as in the frame")
    colours = palette_for(list(groups))
    fig = _new_figure(width, height)
    ax = fig.add_axes((0.11, 0.16, 0.86, 0.62))
    position = {v: i for i, v in enumerate(visits)}
    k = len(groups)
    offsets = np.linspace(-_DODGE / 2, _DODGE / 2, k) if k > 1 else np.zeros(1)
    handles = []
    for i, g in enumerate(groups):
        part = rows.filter(pl.col("group") == g)
        x = np.full(len(visits), np.nan)
        est, lo, up = (np.full(len(visits), np.nan) for _ in range(3))
        at = np.array([position[v] for v in part["visit"].to_list()], dtype=int)
        x[at] = at + offsets[i]
        est[at], lo[at], up[at] = _values(part, "estimate"), _values(part, "lower"), _values(part, "upper")
        shown = np.isfinite(est)
        style = _DASHES[LINETYPES[i % len(LINETYPES)]]
        ax.plot(np.arange(len(visits)) + offsets[i], est, color=colours[g], linestyle=style, linewidth=1.1)
        bars = np.isfinite(lo) & np.isfinite(up) & shown
        ax.errorbar(x[bars], est[bars], yerr=np.vstack([est[bars] - lo[bars], up[bars] - est[bars]]),
                    fmt=SHAPES[i % len(SHAPES)], color=colours[g], markersize=4.5, elinewidth=1.0, capsize=2.5,
                    label=g)
        handles.append(Line2D([], [], color=colours[g], linestyle=style, marker=SHAPES[i % len(SHAPES)],
                              markersize=4.5, linewidth=1.1))
    ax.set_xticks(np.arange(len(visits)), [str(v) for v in visits])
    ax.set_xlim(-0.5, len(visits) - 0.5)
    lo_y, hi_y = ax.get_ylim()
    if lo_y < 0 < hi_y:
        ax.axhline(0.0, color=_GREY, linestyle=_DASHES["dotted"], linewidth=0.8, zorder=0)
    ax.set_xlabel(xlabel, fontsize=9, color=_INK)
    ax.set_ylabel(ylabel, fontsize=9, color=_INK)
    ax.tick_params(labelsize=8, colors=_INK)
    if len(visits) > 8:
        for label in ax.get_xticklabels():
            label.set_rotation(35)
            label.set_horizontalalignment("right")
    ax.grid(axis="y", color="#e6e6e6", linewidth=0.4)
    ax.set_axisbelow(True)
    # at most two lines, hanging from the top: a long PARAM and the model's name wrap instead of running off
    lines = [part for line in title.split("\n") for part in textwrap.wrap(line, 72)][:2]
    fig.text(0.11, 0.975, "\n".join(lines), fontsize=11, fontweight="bold", ha="left", va="top", color=_INK,
             linespacing=1.25)
    fig.legend(handles, list(groups), loc="lower center", bbox_to_anchor=(0.54, 0.79), ncol=min(k, 4),
               frameon=False, fontsize=8.5, handlelength=2.8, columnspacing=1.6)
    return fig


def figure_differences_forest(contrasts: pl.DataFrame, *, visit: str, title: str, xlabel: str,
                              decimals: int = 2, conf: float = 0.95, width: float = 7.0):
    """Each group minus the reference, with its CI, at ``visit`` (see the module docstring); a matplotlib Figure."""
    _require(contrasts, CONTRASTS_COLUMNS, "contrasts")
    rows = contrasts.filter(pl.col("visit") == visit)
    if "comparison" in rows.columns:
        rows = rows.filter(pl.col("comparison") == "vs reference")
    if rows.height == 0:
        seen = sorted({str(v) for v in contrasts["visit"].to_list() if v is not None})
        raise DataError(f"the contrasts frame has no difference from the reference at visit {visit!r}",
                        f"choose one of the visits: {', '.join(seen) or 'none'}")
    adjusted = ("adjust" in rows.columns and "p_adjusted" in rows.columns
                and any(a not in (None, "none") for a in rows["adjust"].to_list()))
    n = rows.height
    height = 1.5 + 0.38 * n
    labels = [f"{g} vs {r}" for g, r in zip(rows["group"].to_list(), rows["reference"].to_list())]
    left_in = 0.25 + 0.062 * max(len(s) for s in labels)  # 8.5 pt text: about 0.062 inch a character
    width = max(width, left_in + _TEXT_BLOCK_IN + 2.5)  # at least 2.5 inches of panel
    panel_in = width - left_in - _TEXT_BLOCK_IN
    fig = _new_figure(width, height)
    top, bottom = 1 - 0.62 / height, 0.62 / height
    ax = fig.add_axes((left_in / width, bottom, panel_in / width, top - bottom))
    references = rows["reference"].unique(maintain_order=True).to_list()
    colours = palette_for(references + [g for g in rows["group"].unique(maintain_order=True).to_list()
                                        if g not in references])  # as in the LS means figure: reference first
    est, lo, up = _values(rows, "estimate"), _values(rows, "lower"), _values(rows, "upper")
    y = np.arange(n)[::-1].astype(float)
    for i, g in enumerate(rows["group"].to_list()):
        if not math.isfinite(est[i]):
            continue
        xerr = None
        if math.isfinite(lo[i]) and math.isfinite(up[i]):
            xerr = np.array([[est[i] - lo[i]], [up[i] - est[i]]])
        ax.errorbar([est[i]], [y[i]], xerr=xerr, fmt="s", color=colours[g], markersize=5, elinewidth=1.2,
                    capsize=3)
    ax.axvline(0.0, color=_GREY, linestyle=_DASHES["dashed"], linewidth=0.9, zorder=0)
    finite = np.concatenate([a[np.isfinite(a)] for a in (est, lo, up)] + [np.zeros(1)])
    span = max(finite.max() - finite.min(), 1e-12)
    ax.set_xlim(finite.min() - 0.08 * span, finite.max() + 0.08 * span)
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_yticks(y, labels)
    ax.tick_params(labelsize=8.5, colors=_INK)
    ax.set_xlabel(xlabel, fontsize=9, color=_INK)
    ax.grid(axis="x", color="#e6e6e6", linewidth=0.4)
    ax.set_axisbelow(True)
    from matplotlib.transforms import blended_transform_factory

    text_at = blended_transform_factory(fig.transFigure, ax.transData)  # x in the figure, y on the rows
    ci_x = (left_in + panel_in + 0.15) / width
    p_x = (left_in + panel_in + 0.15 + _CI_COLUMN_IN) / width
    level = f"{100 * conf:g}%"
    p_head = "p (adj.)" if adjusted else "p"
    p_values = rows["p_adjusted" if adjusted else "p"].to_list()
    ax.text(ci_x, n - 0.4, f"Difference ({level} CI)", transform=text_at, fontsize=8.5, fontweight="bold",
            ha="left", va="bottom", color=_INK)
    ax.text(p_x, n - 0.4, p_head, transform=text_at, fontsize=8.5, fontweight="bold", ha="left", va="bottom",
            color=_INK)
    for i in range(n):
        ax.text(ci_x, y[i], format_ci(est[i], lo[i], up[i], decimals), transform=text_at, fontsize=8.5,
                ha="left", va="center", color=_INK)
        ax.text(p_x, y[i], format_p(p_values[i]), transform=text_at, fontsize=8.5, ha="left", va="center",
                color=_INK)
    fig.text(0.02, 1 - 0.3 / height, title, fontsize=11, fontweight="bold", ha="left", va="baseline", color=_INK)
    fig.text(0.02, 1 - 0.5 / height, f"At {visit}", fontsize=9, ha="left", va="baseline", color=_GREY)
    return fig
