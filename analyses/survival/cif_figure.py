"""The cumulative incidence figure: one panel per event type, one curve per arm.

Drawn with matplotlib alone, like the Kaplan-Meier figure (``figure.py``; no
plotnine import). Each panel, titled with its event type, shows the
Aalen-Johansen cumulative incidence of that type by arm
(``competing.cumulative_incidence``), as steps from 0 at time 0, on a y axis
shared by the panels so that their heights compare ("Cumulative incidence", in
percent, from 0 to the smallest tenth above the highest curve or limit drawn).
Arms keep the Kaplan-Meier figure's colours and line types (Okabe-Ito, colour-
blind safe, readable in greyscale; by their place in ``style_order``); the
legend under the time axis reads "Arm (n=N)". With ``bands``, stepped translucent
bands show the pointwise log(-log) limits (none where F is 0: the limits are
undefined there), and ``conf_label`` says so in the first panel.

The x axis is the Kaplan-Meier figure's ``TimeAxis`` (``figure.time_axis``):
the same unit and ticks. Up to three panels sit in one row, more in rows of two.

``render_cif_figure`` returns PNG (300 dpi) and SVG bytes through
``figures.render``: identical for identical inputs, SVG text kept as text.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from trialkit.analyses.figures import LINETYPES, palette_for, quiet_missing_glyphs, render, use_agg
from trialkit.analyses.survival.figure import TimeAxis
from trialkit.schemas.errors import NoDataError

__all__ = ["Y_LABEL", "cif_figure", "render_cif_figure"]

Y_LABEL = "Cumulative incidence"
_DASHES = {"solid": (0, ()), "dashed": (0, (5, 2)), "dotted": (0, (1, 1.5)), "dashdot": (0, (5, 2, 1, 2))}
_INK, _GREY = "#222222", "#555555"
_PANEL_W, _PANEL_H = 3.2, 2.9  # inches


def _styles(labels: list[str], style_order: list[str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """Colour and line type per arm by its place in ``style_order`` (all the trial's arms), as the KM figure."""
    order = list(style_order) if style_order and set(labels) <= set(style_order) else labels
    colours = palette_for(order)
    types = {a: LINETYPES[i % len(LINETYPES)] for i, a in enumerate(order)}
    return {a: colours[a] for a in labels}, {a: types[a] for a in labels}


def _step_arrays(part: pl.DataFrame, per: float) -> tuple[np.ndarray, ...]:
    """x (display units), F, lower, upper of one curve, starting at (0, 0) with no limits there."""
    x = part["time"].to_numpy().astype(float) / per
    f = part["estimate"].to_numpy().astype(float)
    lo = part["lower"].fill_null(np.nan).to_numpy().astype(float)
    up = part["upper"].fill_null(np.nan).to_numpy().astype(float)
    if len(x) == 0 or x[0] > 0:
        x, f = np.concatenate([[0.0], x]), np.concatenate([[0.0], f])
        lo, up = np.concatenate([[np.nan], lo]), np.concatenate([[np.nan], up])
    return x, f, lo, up


def _y_limit(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 0.0
    return min(1.0, max(0.1, math.ceil(top * 10 - 1e-9) / 10))


def _y_breaks(limit: float) -> list[float]:
    step = 0.05 if limit <= 0.3 else 0.1 if limit <= 0.6 else 0.25
    return [round(k * step, 4) for k in range(int(math.floor(limit / step + 1e-9)) + 1)]


def cif_figure(cif: pl.DataFrame, arms: pl.DataFrame, axis: TimeAxis, *, title: str | None = None,
               style_order: list[str] | None = None, bands: bool = False, conf_label: str | None = None,
               y_label: str = Y_LABEL):
    """The matplotlib figure (see the module docstring).

    ``cif``: ``competing.cumulative_incidence``; ``arms``: arm, n (``km.summarise_arms``) in dose order;
    ``axis``: the Kaplan-Meier figure's time axis; ``conf_label`` (e.g. "Bands: 95% pointwise log(-log)
    limits") is written in the first panel when ``bands``.
    """
    use_agg()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    if cif.height == 0:
        raise NoDataError("the cumulative incidence table is empty: there is no curve to draw",
                          "check that the endpoint has records in the selected arms")
    present = set(cif["arm"].to_list())
    labels = [a for a in arms["arm"].to_list() if a in present]
    sizes = dict(zip(arms["arm"].to_list(), arms["n"].to_list()))
    types = list(dict.fromkeys(cif["event"].to_list()))
    colours, linetypes = _styles(labels, style_order)
    per = axis.days_per_unit
    xmax = max(axis.limit_days / per, float(cif["time"].max()) / per)
    breaks = [b / per for b in axis.breaks_days]
    drawn = cif["estimate"].to_numpy().astype(float)
    if bands:
        drawn = np.concatenate([drawn, cif["upper"].fill_null(np.nan).to_numpy().astype(float)])
    ylim = _y_limit(drawn)
    ybreaks = _y_breaks(ylim)

    ncols = len(types) if len(types) <= 3 else 2
    nrows = math.ceil(len(types) / ncols)
    width = max(5.5, _PANEL_W * ncols + 0.9)
    fig = Figure(figsize=(width, 0.9 + _PANEL_H * nrows + (0.3 if title else 0.0)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False)
    xpad = 0.01 * xmax
    for i, ax in enumerate(axes.flat):
        if i >= len(types):
            ax.set_visible(False)
            continue
        event = types[i]
        for a in labels:
            x, f, lo, up = _step_arrays(cif.filter((pl.col("arm") == a) & (pl.col("event") == event)), per)
            if bands:
                ok = np.isfinite(lo) & np.isfinite(up)
                ax.fill_between(x, np.where(ok, lo, np.nan), np.where(ok, up, np.nan), step="post", color=colours[a],
                                alpha=0.15, linewidth=0)
            ax.plot(x, f, drawstyle="steps-post", color=colours[a], linestyle=_DASHES[linetypes[a]], linewidth=1.1)
        ax.set_title(event, fontsize=9, color=_INK)
        ax.set_xlim(-xpad, xmax + xpad)
        ax.set_ylim(-0.02 * ylim, ylim * 1.02)
        ax.set_xticks(breaks, [f"{b:g}" for b in breaks])
        ax.set_yticks(ybreaks, [f"{100 * b:g}%" for b in ybreaks])
        ax.tick_params(labelsize=8, length=3, width=0.6, color="#333333", labelcolor=_INK)
        for spine in ax.spines.values():
            spine.set_linewidth(0.6)
            spine.set_color("#333333")
        if i % ncols == 0:
            ax.set_ylabel(y_label, fontsize=9, color=_INK)
        if i + ncols >= len(types):  # the lowest panel of its column
            ax.set_xlabel(f"Time ({axis.unit})", fontsize=9, color=_INK)
        if i == 0 and bands and conf_label:
            ax.text(0.03, 0.97, conf_label, transform=ax.transAxes, ha="left", va="top", fontsize=7.5, color=_GREY)
    handles = [Line2D([], [], color=colours[a], linestyle=_DASHES[linetypes[a]], linewidth=1.1) for a in labels]
    fig.legend(handles, [f"{a} (n={sizes.get(a, '?')})" for a in labels], loc="outside lower center",
               ncol=len(labels) if len(labels) <= 3 else math.ceil(len(labels) / 2), frameon=False, fontsize=8.5,
               handlelength=2.8, columnspacing=1.6)
    if title:
        fig.suptitle(title, fontsize=9.5, fontweight="bold", color=_INK, x=0.02, ha="left")
    return fig


def render_cif_figure(cif: pl.DataFrame, arms: pl.DataFrame, axis: TimeAxis, *, title: str | None = None,
                      style_order: list[str] | None = None, bands: bool = False, conf_label: str | None = None,
                      y_label: str = Y_LABEL) -> dict[str, bytes]:
    """{"png": bytes, "svg": bytes} of ``cif_figure`` (see it for the arguments), the same for the same input."""
    with quiet_missing_glyphs():
        fig = cif_figure(cif, arms, axis, title=title, style_order=style_order, bands=bands, conf_label=conf_label,
                         y_label=y_label)
    w, h = fig.get_size_inches()
    return render(fig, w, h)
