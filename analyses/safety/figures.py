"""Safety figures: eDISH, mDISH, and a dot plot of the most frequent TEAEs with risk differences.

Each function returns a plotnine plot styled with ``figures.theme_journal``
and the Okabe-Ito palette (one colour and one marker per group); render it
with ``figures.render``. Definitions: see ``safety_liver`` (eDISH, mDISH)
and ``safety_incidence.risk_differences`` (Newcombe 95% intervals).

eDISH and mDISH draw one point per subject up to ``DENSITY_ABOVE`` subjects.
Above it they draw the density of all subjects instead: counts in
``DENSITY_BINS`` x ``DENSITY_BINS`` equal bins of the log10 axes (numpy),
as shaded tiles, with the flagged subjects (Hy's law or mDISH candidates)
still drawn one by one over them (at most ``MAX_POINTS``) and at most
``MAX_LABELS`` of those labelled, the highest bilirubin first. The caption states the rule and the
numbers drawn. Only the bins and the flagged subjects reach plotnine (and
its pandas), so the figure's size and drawing time do not grow with N.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from trialkit.schemas.errors import NoDataError
from trialkit.analyses.figures import SHAPES, palette_for, theme_journal
from trialkit.analyses.safety.liver import HY_BILIRUBIN, HY_TRANSAMINASE, MDISH_BILIRUBIN, MDISH_TRANSAMINASE, QUADRANTS

__all__ = ["edish_plot", "mdish_plot", "teae_dotplot", "dotplot_height", "log_bins", "DENSITY_ABOVE", "DENSITY_BINS",
           "MAX_POINTS", "MAX_LABELS"]

#: above this many subjects, eDISH and mDISH draw a density with the flagged subjects as points
DENSITY_ABOVE = 5000
#: bins per axis of the density (log10 scale)
DENSITY_BINS = 60
#: at most this many flagged subjects are drawn as points over the density (the highest bilirubin first)
MAX_POINTS = 1000
#: at most this many flagged subjects are labelled with their USUBJID in the density figure
MAX_LABELS = 8

_NICE = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 500)


def _limits(values: pl.Series, threshold: float) -> tuple[float, float]:
    lo = min(float(values.min()), threshold / 4, 0.5 if threshold > 1 else threshold / 4)
    hi = max(float(values.max()), threshold * 4)
    return lo / 1.25, hi * 1.25


def log_bins(x: np.ndarray, y: np.ndarray, xlim: tuple[float, float], ylim: tuple[float, float],
             bins: int = DENSITY_BINS) -> pl.DataFrame:
    """Counts of (x, y) in ``bins`` x ``bins`` equal bins of log10 x and log10 y over the limits (values > 0).

    Only non-empty bins. Columns: x, y (the bin centres, back on the original scale), count.
    A value on an upper edge falls in the last bin.
    """
    lx0, lx1 = math.log10(xlim[0]), math.log10(xlim[1])
    ly0, ly1 = math.log10(ylim[0]), math.log10(ylim[1])
    wx, wy = (lx1 - lx0) / bins, (ly1 - ly0) / bins
    ix = np.clip(np.floor((np.log10(x) - lx0) / wx), 0, bins - 1).astype(np.int64)
    iy = np.clip(np.floor((np.log10(y) - ly0) / wy), 0, bins - 1).astype(np.int64)
    counts = np.bincount(ix * bins + iy, minlength=bins * bins)
    cell = np.flatnonzero(counts)
    return pl.DataFrame({"x": 10 ** (lx0 + (cell // bins + 0.5) * wx), "y": 10 ** (ly0 + (cell % bins + 0.5) * wy),
                         "count": counts[cell].astype(np.int64)})


def _breaks(lo: float, hi: float) -> list[float]:
    inside = [b for b in _NICE if lo <= b <= hi]
    if len(inside) > 8:  # thin out on a wide range, keeping 1 and the decades
        inside = [b for b in inside if math.log10(b).is_integer() or b in (2, 3, 5)]
    return inside


def _label(b: float) -> str:
    return f"{b:g}"


def _dish(peaks: pl.DataFrame, arms: list[str], x: str, y: str, xt: float, yt: float, xlab: str, ylab: str,
          title: str, flag: str, lines: str, each: str, who: str, rule: str):
    """The eDISH / mDISH figure: points (N <= ``DENSITY_ABOVE``), else density tiles with the flagged as points.

    Caption: ``lines`` (the reference lines), then what was drawn: "One point per ``each``" and "Labelled:
    ``who`` (``rule``)", or the density's subjects and bins and the number of ``who`` drawn and labelled.
    """
    from plotnine import (aes, annotate, geom_hline, geom_point, geom_text, geom_tile, geom_vline, ggplot, guide_colorbar,
                          labs, scale_color_manual, scale_fill_gradient, scale_shape_manual, scale_x_log10, scale_y_log10,
                          theme, element_text)

    data = peaks.filter(pl.col(x).is_finite() & pl.col(y).is_finite() & (pl.col(x) > 0) & (pl.col(y) > 0))  # log axes
    if data.height == 0:
        raise NoDataError(f"no subject has both post-baseline {x} and {y}: the {title.split(':')[0]} plot would be empty",
                          "check the ADLB baseline flags and reference ranges, or run with --no-plot")
    present = [a for a in arms if a in set(data["arm"].unique().to_list())]
    data = data.with_columns(pl.col("arm").cast(pl.Enum(present)))
    xlo, xhi = _limits(data[x], xt)
    ylo, yhi = _limits(data[y], yt)
    colours = palette_for(arms)
    shapes = {a: SHAPES[i % len(SHAPES)] for i, a in enumerate(arms)}
    dense = data.height > DENSITY_ABOVE
    flagged = data.filter(pl.col(flag))
    if dense:  # the most extreme first: the points and labels drawn when there are too many to draw them all
        flagged = flagged.sort(y, "usubjid", descending=[True, False])
    labelled = flagged.head(MAX_LABELS) if dense else flagged
    quad = [  # (x, y, text, ha, va)
        (xhi / 1.05, yhi / 1.05, QUADRANTS[0], "right", "top"),
        (xhi / 1.05, ylo * 1.05, QUADRANTS[1], "right", "bottom"),
        (xlo * 1.05, yhi / 1.05, QUADRANTS[2], "left", "top"),
        (xlo * 1.05, ylo * 1.05, QUADRANTS[3], "left", "bottom"),
    ]
    points = flagged.head(MAX_POINTS) if dense else data
    p = (ggplot(points.select("usubjid", "arm", x, y).to_pandas(), aes(x, y, color="arm", shape="arm"))
         + geom_vline(xintercept=xt, linetype="dashed", color="#555555", size=0.5)
         + geom_hline(yintercept=yt, linetype="dashed", color="#555555", size=0.5))
    if dense:
        bins = log_bins(data[x].to_numpy(), data[y].to_numpy(), (xlo, xhi), (ylo, yhi))
        wx, wy = (math.log10(xhi) - math.log10(xlo)) / DENSITY_BINS, (math.log10(yhi) - math.log10(ylo)) / DENSITY_BINS
        p += geom_tile(aes("x", "y", fill="count"), data=bins.to_pandas(), width=wx, height=wy, inherit_aes=False,
                       color=None)
        p += scale_fill_gradient(low="#e3e9f0", high="#1b3a5c", trans="log10", name="Subjects\nper bin",
                                 guide=guide_colorbar(display="rectangles", nbin=24))
        n_flag = flagged.height
        drawn = (f"the {n_flag:,} {who}" if n_flag <= MAX_POINTS else
                 f"the {points.height:,} of the {n_flag:,} {who} with the highest bilirubin")
        label_rule = (f"Labelled: the {labelled.height} with the highest bilirubin. " if n_flag > labelled.height
                      else "Labelled: all of them. " if n_flag else "")
        caption = (f"Density of {data.height:,} subjects (all groups) in {DENSITY_BINS} \u00d7 {DENSITY_BINS} bins of "
                   f"the log scales.\nDrawn individually: {drawn}\n({rule.replace(chr(10), ' ')}).\n"
                   f"{label_rule}{lines}")
    else:
        caption = f"{lines} One point per {each}\nLabelled: {who} ({rule})."
    if points.height:
        p += geom_point(size=2.2, alpha=0.8, stroke=0.3 if not dense else 0.6, fill="none")
    for qx, qy, text, ha, va in quad:
        p += annotate("text", x=qx, y=qy, label=text, ha=ha, va=va, size=7.5, color="#333333", fontstyle="italic")
    if labelled.height:
        p += geom_text(aes(label="usubjid"), data=labelled.select("usubjid", "arm", x, y).to_pandas(), size=6,
                       nudge_y=0.06, va="bottom", show_legend=False)
    xb, yb = _breaks(xlo, xhi), _breaks(ylo, yhi)
    p = (p
         + scale_x_log10(limits=(xlo, xhi), breaks=xb, labels=[_label(b) for b in xb], expand=(0, 0))
         + scale_y_log10(limits=(ylo, yhi), breaks=yb, labels=[_label(b) for b in yb], expand=(0, 0))
         + scale_color_manual(values=[colours[a] for a in present], name="Group", drop=False, limits=present)
         + scale_shape_manual(values=[shapes[a] for a in present], name="Group", drop=False, limits=present)
         + labs(x=xlab, y=ylab, title=title, caption=caption)
         + theme_journal()
         + theme(plot_title=element_text(size=10, weight="bold"), plot_caption=element_text(size=7, ha="left")))
    return p


def edish_plot(peaks: pl.DataFrame, arms: list[str]):
    """eDISH: peak ALT/ULN (x) against peak total bilirubin/ULN (y), log10 axes, 3x and 2x ULN lines."""
    return _dish(peaks, arms, "alt_uln", "bili_uln", HY_TRANSAMINASE, HY_BILIRUBIN,
                 "Peak ALT (\u00d7 ULN, log scale)", "Peak total bilirubin (\u00d7 ULN, log scale)",
                 f"eDISH: peak post-baseline values (n = {peaks.height})", "hys_law",
                 f"Dashed lines: ALT {HY_TRANSAMINASE:g} \u00d7 ULN and bilirubin {HY_BILIRUBIN:g} \u00d7 ULN.",
                 "subject.", "Hy's law candidates",
                 f"ALT or AST > {HY_TRANSAMINASE:g} \u00d7 ULN and bilirubin > {HY_BILIRUBIN:g} \u00d7 ULN,\npeaks at any "
                 "time post-baseline")


def mdish_plot(peaks: pl.DataFrame, arms: list[str]):
    """mDISH: peak ALT and bilirubin over each subject's own baseline, 3x and 2x baseline lines."""
    return _dish(peaks, arms, "alt_xbl", "bili_xbl", MDISH_TRANSAMINASE, MDISH_BILIRUBIN,
                 "Peak ALT (\u00d7 baseline, log scale)", "Peak total bilirubin (\u00d7 baseline, log scale)",
                 f"mDISH: peak post-baseline values over baseline (n = {peaks.height})", "mdish",
                 f"Dashed lines: ALT {MDISH_TRANSAMINASE:g} \u00d7 baseline and bilirubin {MDISH_BILIRUBIN:g} \u00d7 "
                 "baseline.", "subject\nwith a baseline value.", "mDISH candidates",
                 f"ALT or AST > {MDISH_TRANSAMINASE:g} \u00d7 baseline\nand bilirubin > {MDISH_BILIRUBIN:g} \u00d7 baseline")


def dotplot_height(rd: pl.DataFrame) -> float:
    """A height (inches) that gives each term of the dot plot room."""
    return 1.6 + 0.32 * max(rd["pt"].n_unique(), 1)


def _term_label(pt: str) -> str:
    return pt[:1].upper() + pt[1:].lower() if pt.isupper() else pt


def teae_dotplot(rd: pl.DataFrame, arms: list[str], reference: str):
    """Left: % of subjects with each of the most frequent TEAEs, per group; right: risk difference
    of each group against ``reference`` with its 95% Newcombe interval (percentage points)."""
    from plotnine import (aes, element_blank, element_text, facet_wrap, geom_blank, geom_point, geom_segment, geom_vline,
                          ggplot, labs, scale_color_manual, scale_shape_manual, scale_y_continuous, theme)

    if rd.height == 0:
        raise NoDataError("no treatment-emergent preferred term to plot", "run with --no-plot, or check ADAE")
    terms = rd.select("rank", "pt").unique().sort("rank")
    n_terms = terms.height
    ypos = {pt: n_terms - i for i, pt in enumerate(terms["pt"].to_list())}
    k = len(arms)
    offset = {a: ((k - 1) / 2 - i) * (0.5 / max(k - 1, 1)) for i, a in enumerate(arms)}  # first group on top
    left_panel = "Subjects with the event (%)"
    right_panel = f"Difference from {reference} (% points, 95% CI)"
    panels = pl.Enum([left_panel, right_panel])
    base = rd.with_columns(pl.col("arm").cast(pl.Enum(arms)),
                           pl.col("pt").replace_strict(ypos, return_dtype=pl.Float64).alias("_y"))
    left = base.with_columns(
        (pl.col("_y") + pl.col("arm").cast(pl.String).replace_strict(offset, return_dtype=pl.Float64)).alias("y"),
        pl.col("risk").alias("x"), pl.lit(left_panel).cast(panels).alias("panel"))
    diffs = [a for a in arms if a != reference]
    doff = {a: ((len(diffs) - 1) / 2 - i) * (0.4 / max(len(diffs) - 1, 1)) for i, a in enumerate(diffs)}
    right = (base.filter(pl.col("rd").is_not_null())
             .with_columns((pl.col("_y") + pl.col("arm").cast(pl.String).replace_strict(doff, default=0.0,
                                                                                       return_dtype=pl.Float64)).alias("y"),
                           pl.col("rd").alias("x"), pl.lit(right_panel).cast(panels).alias("panel")))
    zero = pl.DataFrame({"panel": [right_panel], "x0": [0.0]}).with_columns(pl.col("panel").cast(panels))
    origin = pl.DataFrame({"panel": [left_panel], "x": [0.0], "y": [1.0]}).with_columns(pl.col("panel").cast(panels))
    colours = palette_for(arms)
    shapes = {a: SHAPES[i % len(SHAPES)] for i, a in enumerate(arms)}
    labels = [_term_label(p) for p in terms["pt"].to_list()]
    p = ggplot(mapping=aes("x", "y", color="arm", shape="arm"))
    if right.height:  # a second group to compare with: the risk-difference panel
        p = (p + geom_vline(aes(xintercept="x0"), data=zero.to_pandas(), color="#555555", linetype="dashed", size=0.5)
             + geom_segment(aes(x="lower", xend="upper", y="y", yend="y"), data=right.to_pandas(), size=0.6)
             + geom_point(data=right.to_pandas(), size=2.2, fill="none", stroke=0.6))
        caption = (f"Percent of the group's safety population. Difference: group minus {reference}, with the "
                   "95% Newcombe hybrid score interval.")
    else:
        caption = "Percent of the group's safety population."
    p = (p
         + geom_blank(aes("x", "y"), data=origin.to_pandas(), inherit_aes=False)
         + geom_point(data=left.to_pandas(), size=2.2, fill="none", stroke=0.6)
         + facet_wrap("panel", scales="free_x")
         + scale_y_continuous(breaks=[float(ypos[t]) for t in terms["pt"].to_list()], labels=labels,
                              limits=(0.4, n_terms + 0.6), expand=(0, 0))
         + scale_color_manual(values=[colours[a] for a in arms], name="Group", drop=False)
         + scale_shape_manual(values=[shapes[a] for a in arms], name="Group", drop=False)
         + labs(x="", y="", title=f"Most frequent treatment-emergent adverse events (top {n_terms})", caption=caption)
         + theme_journal()
         + theme(panel_grid_major_y=element_blank(), strip_text=element_text(size=8.5),
                 plot_title=element_text(size=10, weight="bold"), axis_text_y=element_text(size=8),
                 plot_caption=element_text(size=7, ha="left")))
    return p
