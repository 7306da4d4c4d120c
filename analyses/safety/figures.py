"""Safety figures: eDISH, mDISH, and a dot plot of the most frequent TEAEs with risk differences.

Each function returns a plotnine plot styled with ``figures.theme_journal``
and the Okabe-Ito palette (one colour and one marker per group); render it
with ``figures.render``. Definitions: see ``safety_liver`` (eDISH, mDISH)
and ``safety_incidence.risk_differences`` (Newcombe 95% intervals).
"""

from __future__ import annotations

import math

import polars as pl

from trialkit.schemas.errors import NoDataError
from trialkit.analyses.figures import SHAPES, palette_for, theme_journal
from trialkit.analyses.safety.liver import HY_BILIRUBIN, HY_TRANSAMINASE, MDISH_BILIRUBIN, MDISH_TRANSAMINASE, QUADRANTS

__all__ = ["edish_plot", "mdish_plot", "teae_dotplot", "dotplot_height"]

_NICE = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 500)


def _limits(values: list[float], threshold: float) -> tuple[float, float]:
    lo = min([*values, threshold / 4, 0.5 if threshold > 1 else threshold / 4])
    hi = max([*values, threshold * 4])
    return lo / 1.25, hi * 1.25


def _breaks(lo: float, hi: float) -> list[float]:
    inside = [b for b in _NICE if lo <= b <= hi]
    if len(inside) > 8:  # thin out on a wide range, keeping 1 and the decades
        inside = [b for b in inside if math.log10(b).is_integer() or b in (2, 3, 5)]
    return inside


def _label(b: float) -> str:
    return f"{b:g}"


def _dish(peaks: pl.DataFrame, arms: list[str], x: str, y: str, xt: float, yt: float, xlab: str, ylab: str,
          title: str, flag: str, caption: str):
    from plotnine import (aes, annotate, geom_hline, geom_point, geom_text, geom_vline, ggplot, labs,
                          scale_color_manual, scale_shape_manual, scale_x_log10, scale_y_log10, theme,
                          element_text)

    data = peaks.filter(pl.col(x).is_finite() & pl.col(y).is_finite() & (pl.col(x) > 0) & (pl.col(y) > 0))  # log axes
    if data.height == 0:
        raise NoDataError(f"no subject has both post-baseline {x} and {y}: the {title.split(':')[0]} plot would be empty",
                          "check the ADLB baseline flags and reference ranges, or run with --no-plot")
    present = [a for a in arms if a in set(data["arm"].to_list())]
    data = data.with_columns(pl.col("arm").cast(pl.Enum(present)))
    xlo, xhi = _limits(data[x].to_list(), xt)
    ylo, yhi = _limits(data[y].to_list(), yt)
    colours = palette_for(arms)
    shapes = {a: SHAPES[i % len(SHAPES)] for i, a in enumerate(arms)}
    pdata = data.to_pandas()
    labelled = data.filter(pl.col(flag)).to_pandas()
    quad = [  # (x, y, text, ha, va)
        (xhi / 1.05, yhi / 1.05, QUADRANTS[0], "right", "top"),
        (xhi / 1.05, ylo * 1.05, QUADRANTS[1], "right", "bottom"),
        (xlo * 1.05, yhi / 1.05, QUADRANTS[2], "left", "top"),
        (xlo * 1.05, ylo * 1.05, QUADRANTS[3], "left", "bottom"),
    ]
    p = (ggplot(pdata, aes(x, y, color="arm", shape="arm"))
         + geom_vline(xintercept=xt, linetype="dashed", color="#555555", size=0.5)
         + geom_hline(yintercept=yt, linetype="dashed", color="#555555", size=0.5)
         + geom_point(size=2.2, alpha=0.8, stroke=0.3, fill="none"))
    for qx, qy, text, ha, va in quad:
        p += annotate("text", x=qx, y=qy, label=text, ha=ha, va=va, size=7.5, color="#333333", fontstyle="italic")
    if len(labelled):
        p += geom_text(aes(label="usubjid"), data=labelled, size=6, nudge_y=0.06, va="bottom", show_legend=False)
    xb, yb = _breaks(xlo, xhi), _breaks(ylo, yhi)
    p = (p
         + scale_x_log10(limits=(xlo, xhi), breaks=xb, labels=[_label(b) for b in xb], expand=(0, 0))
         + scale_y_log10(limits=(ylo, yhi), breaks=yb, labels=[_label(b) for b in yb], expand=(0, 0))
         + scale_color_manual(values=[colours[a] for a in present], name="Group")
         + scale_shape_manual(values=[shapes[a] for a in present], name="Group")
         + labs(x=xlab, y=ylab, title=title, caption=caption)
         + theme_journal()
         + theme(plot_title=element_text(size=10, weight="bold"), plot_caption=element_text(size=7, ha="left")))
    return p


def edish_plot(peaks: pl.DataFrame, arms: list[str]):
    """eDISH: peak ALT/ULN (x) against peak total bilirubin/ULN (y), log10 axes, 3x and 2x ULN lines."""
    return _dish(peaks, arms, "alt_uln", "bili_uln", HY_TRANSAMINASE, HY_BILIRUBIN,
                 "Peak ALT (\u00d7 ULN, log scale)", "Peak total bilirubin (\u00d7 ULN, log scale)",
                 f"eDISH: peak post-baseline values (n = {peaks.height})", "hys_law",
                 f"Dashed lines: ALT {HY_TRANSAMINASE:g} \u00d7 ULN and bilirubin {HY_BILIRUBIN:g} \u00d7 ULN. One point per "
                 f"subject.\nLabelled: Hy's law candidates (ALT or AST > {HY_TRANSAMINASE:g} \u00d7 ULN and bilirubin > "
                 f"{HY_BILIRUBIN:g} \u00d7 ULN,\npeaks at any time post-baseline).")


def mdish_plot(peaks: pl.DataFrame, arms: list[str]):
    """mDISH: peak ALT and bilirubin over each subject's own baseline, 3x and 2x baseline lines."""
    return _dish(peaks, arms, "alt_xbl", "bili_xbl", MDISH_TRANSAMINASE, MDISH_BILIRUBIN,
                 "Peak ALT (\u00d7 baseline, log scale)", "Peak total bilirubin (\u00d7 baseline, log scale)",
                 f"mDISH: peak post-baseline values over baseline (n = {peaks.height})", "mdish",
                 f"Dashed lines: ALT {MDISH_TRANSAMINASE:g} \u00d7 baseline and bilirubin {MDISH_BILIRUBIN:g} \u00d7 "
                 f"baseline. One point per subject\nwith a baseline value. Labelled: mDISH candidates (ALT or AST > "
                 f"{MDISH_TRANSAMINASE:g} \u00d7 baseline\nand bilirubin > {MDISH_BILIRUBIN:g} \u00d7 baseline).")


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
