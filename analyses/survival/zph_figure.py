"""The proportional-hazards figure: scaled Schoenfeld residuals against time, as R's ``plot.cox.zph``.

One panel per design column of ``cox_zph``'s result: the residuals (small translucent points; an even
spread of ``MAX_POINTS`` of them when there are more, said in the panel) against the
transformed time the test used, a smooth of them with its 2-SE band, and a dashed line at the fitted
coefficient. Under proportional hazards the smooth stays flat near that line; the term's cox.zph p is in
the panel title. The x axis is spaced by the transform (1 - KM, rank, log or plain time) but labelled in
time, as ``plot.cox.zph`` does.

The smooth (``zph_smooth``) is ``plot.cox.zph(zph[j], df = 4, nsmo = 40)``'s: a least-squares fit of a
natural cubic spline with 4 degrees of freedom (intercept included; boundary knots at the range of the 40
prediction points and the data, interior knots at their 1/3 and 2/3 quantiles, R's type 7), evaluated at
40 equally spaced times, with the band yhat -/+ 2 sqrt(var_j p'(X'X)^-1 p), var_j the residuals' variance
(``var`` of the result's ``columns``), not the residual scatter. A column whose fit is singular (fewer
distinct times than 4) gets no smooth, as R skips it.

Okabe-Ito colours (blue smooth, vermillion coefficient line), grey points; SVG text is kept as text.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from trialkit.analyses.figures import OKABE_ITO, quiet_missing_glyphs, render
from trialkit.analyses.formatting import format_number, format_p_statement, printable
from trialkit.analyses.survival.zph import ZphResult
from trialkit.analyses.timescale import nice_step

__all__ = ["MAX_POINTS", "SMOOTH_COLUMNS", "zph_smooth", "zph_figure", "render_zph_figure"]

SMOOTH_COLUMNS = {"transformed_time": pl.Float64, "fit": pl.Float64, "lower": pl.Float64, "upper": pl.Float64}
_AXIS_NAMES = {"km": "spaced as 1 - Kaplan-Meier", "rank": "spaced by rank", "log": "log scale", "identity": ""}
#: the most residuals drawn per panel (an even spread of them; the smooth uses all)
MAX_POINTS = 20_000
_POINTS, _SMOOTH, _COEF = "#6b6b6b", OKABE_ITO[0], OKABE_ITO[1]


def _natural_spline_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """A basis of the natural cubic splines with these knots (first and last the boundary): 1, x and the
    differences of scaled truncated cubes. It spans the same space as R's ``ns(intercept = TRUE)``."""
    lo, hi = knots[0], knots[-1]
    z, k = (x - lo) / (hi - lo), (knots - lo) / (hi - lo)
    cube = lambda j: (np.clip(z - k[j], 0, None) ** 3 - np.clip(z - k[-1], 0, None) ** 3) / (k[-1] - k[j])  # noqa: E731
    return np.column_stack([np.ones_like(z), z] + [cube(j) - cube(len(k) - 2) for j in range(len(k) - 2)])


def zph_smooth(transformed_time, residual, var: float, df: int = 4, nsmo: int = 40) -> pl.DataFrame:
    """``plot.cox.zph``'s smooth of one column: ``nsmo`` rows (transformed_time, fit, lower, upper); no
    rows when the spline fit is singular. Missing residuals are left out of the fit, not of the knots."""
    xx = np.asarray(transformed_time, dtype=float)
    y = np.asarray(residual, dtype=float)
    empty = pl.DataFrame(schema=SMOOTH_COLUMNS)
    if xx.size == 0 or not np.isfinite(xx).all() or xx.min() == xx.max():
        return empty
    pred = np.linspace(xx.min(), xx.max(), nsmo)
    both = np.concatenate([pred, xx])
    knots = np.quantile(both, np.linspace(0, 1, df))  # the boundary (min, max) and df - 2 inner knots
    if np.unique(knots).size < knots.size:
        return empty
    basis = _natural_spline_basis(both, knots)
    pmat, xmat = basis[:nsmo], basis[nsmo:]
    keep = np.isfinite(y)
    if keep.sum() < df:
        return empty
    q, r = np.linalg.qr(xmat[keep])
    diag = np.abs(np.diag(r))
    if diag.min() <= 1e-7 * diag.max():  # rank below df, by R's qr tolerance
        return empty
    coef = np.linalg.solve(r, q.T @ y[keep])
    fit = pmat @ coef
    pr = np.linalg.solve(r.T, pmat.T).T  # rows p' R^-1: p'(X'X)^-1 p = |p' R^-1|^2
    half = 2 * np.sqrt(var * (pr ** 2).sum(axis=1)) if np.isfinite(var) and var >= 0 else np.full(nsmo, np.nan)
    return pl.DataFrame({"transformed_time": pred, "fit": fit, "lower": fit - half, "upper": fit + half},
                        schema=SMOOTH_COLUMNS)


def _round_time(v: float) -> float:
    """v to a round time near it: a multiple of the 1, 2, 5 x 10^k step just above v / 8 (490 -> 500)."""
    if not (v > 0 and math.isfinite(v)):
        return v
    step = nice_step(v / 8)
    return round(v / step) * step


def _time_ticks(result: ZphResult, t: np.ndarray, tt: np.ndarray) -> tuple[list[float], list[str]]:
    """Positions (in transformed time) and labels (in time) of up to 6 times across the events.

    Identity: round times. Otherwise, as plot.cox.zph: equally spaced points of the transformed axis, taken
    back to time, rounded to round times and placed where those times fall; labels closer than a
    tenth of the axis are dropped."""
    lo, hi = float(tt.min()), float(tt.max())
    if result.transform == "identity":
        from matplotlib.ticker import MaxNLocator

        ticks = [v for v in MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi) if lo <= v <= hi]
        return ticks, [f"{v:g}" for v in ticks]
    order = np.argsort(tt, kind="stable")
    xs, ts = tt[order], t[order]
    first = np.r_[True, xs[1:] != xs[:-1]]
    xs, ts = xs[first], ts[first]
    times = np.interp(np.linspace(lo, hi, 13)[1:-1:2], xs, ts)
    times = sorted({_round_time(float(v)) for v in times})
    pos = np.log(np.maximum(times, 1e-300)) if result.transform == "log" else np.interp(times, ts, xs)
    positions, labels, last = [], [], -math.inf
    for p, v in zip(pos, times):
        if lo <= p <= hi and p - last >= 0.1 * (hi - lo or 1):
            positions.append(float(p))
            labels.append(f"{v:g}")
            last = p
    return positions, labels


def _panel(ax, result: ZphResult, column: str, term: str, coef: float, var: float, p: float | None, time_label: str,
           alpha: float) -> None:
    part = result.residuals.filter(pl.col("column") == column)
    t, tt = part["time"].to_numpy(), part["transformed_time"].to_numpy()
    y = part["residual"].to_numpy().astype(float)
    finite = np.flatnonzero(np.isfinite(y))
    shown = finite[np.unique(np.linspace(0, finite.size - 1, MAX_POINTS).astype(np.int64))] if finite.size > MAX_POINTS \
        else finite  # evenly spread over the events (in R's order: by stratum, then time)
    ax.scatter(tt[shown], y[shown], s=5, color=_POINTS, alpha=0.35, linewidths=0, label="Scaled Schoenfeld residual",
               rasterized=bool(shown.size > 5000), zorder=2)
    if shown.size < finite.size:
        ax.text(0.99, 0.98, f"{shown.size:,} of {finite.size:,} residuals shown", transform=ax.transAxes, ha="right",
                va="top", fontsize=6.5, color="#555555")
    smooth = zph_smooth(tt, y, var)
    if smooth.height:
        sx = smooth["transformed_time"].to_numpy()
        ax.fill_between(sx, smooth["lower"].to_numpy(), smooth["upper"].to_numpy(), color=_SMOOTH, alpha=0.18,
                        linewidth=0, label="± 2 SE", zorder=3)
        ax.plot(sx, smooth["fit"].to_numpy(), color=_SMOOTH, linewidth=1.6, label="Spline smooth (df = 4)", zorder=4)
    ax.axhline(coef, color=_COEF, linestyle=(0, (5, 2)), linewidth=1.1, label=f"Coefficient ({format_number(coef, 3)})",
               zorder=4)
    if finite.size:
        positions, labels = _time_ticks(result, t, tt)
        ax.set_xticks(positions, labels)
    axis = _AXIS_NAMES[result.transform]
    ax.set_xlabel(f"{time_label}{'; ' + axis if axis else ''}")
    ax.set_ylabel(f"β(t) for {column}")
    multi = (result.columns["term"] == term).sum() > 1
    flagged = p is not None and p < alpha  # the panels zph_note speaks of stand out
    ax.set_title(f"{column}\n{'term ' + term + ', ' if multi else ''}cox.zph {format_p_statement(p)}", loc="left",
                 fontweight="bold" if flagged else "normal")
    ax.grid(True, color="#e6e6e6", linewidth=0.4)
    ax.set_axisbelow(True)


def _figure_class():
    from matplotlib.figure import Figure

    class _TextSvgFigure(Figure):
        """Saves its SVG with text as text (``figures.render`` sets paths), otherwise as any figure."""

        def savefig(self, *args, **kwargs):
            import matplotlib

            with matplotlib.rc_context({"svg.fonttype": "none"}):
                return super().savefig(*args, **kwargs)

    return _TextSvgFigure


def zph_figure(result: ZphResult, *, title: str, time_label: str = "Time (days)", ncol: int | None = None,
               alpha: float = 0.05):
    """The matplotlib figure: one panel per design column, in the result's column order; the titles of
    the panels whose term has p < ``alpha`` in bold."""
    from trialkit.analyses.figures import use_agg

    use_agg()
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    cols = result.columns
    p_of = dict(zip(result.table["term"].to_list(), result.table["p"].to_list()))
    n = cols.height
    ncol = ncol or (1 if n == 1 else 2)
    nrow = math.ceil(n / ncol)
    with matplotlib.rc_context({"font.size": 8, "axes.titlesize": 8.5, "axes.labelsize": 8, "xtick.labelsize": 7.5,
                                "ytick.labelsize": 7.5, "legend.fontsize": 7.5, "axes.edgecolor": "#333333",
                                "axes.linewidth": 0.6}), quiet_missing_glyphs():
        fig = _figure_class()(figsize=(3.9 * ncol, 2.9 * nrow + 0.75))  # no pyplot: nothing to close, less to import
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrow, ncol, squeeze=False)
        for ax, row in zip(axes.ravel(), cols.iter_rows(named=True)):
            _panel(ax, result, row["column"], row["term"], row["coef"], row["var"], p_of.get(row["term"]), time_label,
                   alpha)
        for ax in axes.ravel()[n:]:
            ax.set_visible(False)
        handles, labels = axes.ravel()[0].get_legend_handles_labels()
        labels = ["Coefficient (dashed)" if lab.startswith("Coefficient") else lab for lab in labels]
        top = 1 - 0.75 / fig.get_size_inches()[1]  # the titles and the legend take 0.75 inch
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, bbox_to_anchor=(0.5, top))
        global_p = p_of.get("GLOBAL")
        fig.text(0.01, 1 - 0.05 / fig.get_size_inches()[1], f"{printable(title)}\nProportional hazards (cox.zph, {result.transform} transform, {result.ties} "
                 f"ties): global test {format_p_statement(global_p)}", ha="left", va="top", fontsize=9.5,
                 fontweight="bold")  # not a suptitle: tight_layout would leave it room a second time
        fig.tight_layout(rect=(0, 0, 1, top - 0.01))
    return fig


def render_zph_figure(result: ZphResult, *, title: str, time_label: str = "Time (days)",
                      alpha: float = 0.05) -> dict[str, bytes]:
    """PNG (300 dpi) and SVG bytes of ``zph_figure``: identical for identical inputs."""
    fig = zph_figure(result, title=title, time_label=time_label, alpha=alpha)
    w, h = fig.get_size_inches()
    return render(fig, w, h)
