"""The cumulative incidence figure: one panel per event type, one curve per arm.

Each panel (facet, labelled with the event type) shows the Aalen-Johansen
cumulative incidence of that type by arm, as steps from 0 at time 0, on a
y axis shared by the panels so their heights compare ("Cumulative incidence",
in percent, from 0 to the smallest tenth above the highest curve or limit
drawn). Arms keep the colours and line types of the Kaplan-Meier figure
(Okabe-Ito, colour-blind safe, readable in greyscale; by their place in
``style_order``); the legend reads "Arm (n=N)". Optional stepped bands show
the pointwise log(-log) limits of ``competing.cumulative_incidence``.

The x axis is the Kaplan-Meier figure's ``TimeAxis`` (``figure.time_axis``):
months past a year of follow-up, else days, with the same ticks.

``render_cif_figure`` returns PNG (300 dpi) and SVG bytes that are identical
for identical inputs (fixed SVG hash salt, no date or software in the
metadata, as ``figures.render``), with the SVG's text kept as text
(``svg.fonttype = "none"``) so that it can be searched and read by screen
readers.
"""

from __future__ import annotations

import io
import math

import polars as pl

from trialkit.analyses.figures import LINETYPES, palette_for, printable_texts, quiet_missing_glyphs, theme_journal
from trialkit.analyses.survival.figure import TimeAxis
from trialkit.schemas.errors import NoDataError

__all__ = ["cif_plot", "render_cif_figure"]

Y_LABEL = "Cumulative incidence"


def _styles(labels: list[str], style_order: list[str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """Colour and line type per arm by its place in ``style_order`` (all the trial's arms), as the KM figure."""
    order = list(style_order) if style_order and set(labels) <= set(style_order) else labels
    colours = palette_for(order)
    types = {a: LINETYPES[i % len(LINETYPES)] for i, a in enumerate(order)}
    return {a: colours[a] for a in labels}, {a: types[a] for a in labels}


def _steps(cif: pl.DataFrame, per: float) -> pl.DataFrame:
    """Each arm's and type's curve from (0, 0), times in display units (x)."""
    first = cif.group_by("arm", "event", maintain_order=True).first()
    origin = first.with_columns(pl.lit(0.0).alias("time"), pl.lit(0.0).alias("estimate"),
                                pl.lit(None, dtype=pl.Float64).alias("lower"), pl.lit(None, dtype=pl.Float64).alias("upper"))
    both = pl.concat([origin.select(cif.columns), cif]).with_row_index("_r")
    both = both.with_columns(pl.col("_r").min().over("arm", "event").alias("_a")).sort("_a", "time", "_r")
    return both.drop("_a", "_r").with_columns((pl.col("time") / per).alias("x"))


def _bands(steps: pl.DataFrame) -> pl.DataFrame:
    """Stepped ribbons: each time's limits held until the next time of the curve; none where F is 0 or 1."""
    nxt = pl.col("x").shift(-1).over("arm", "event")
    held = steps.with_columns(nxt.fill_null(pl.col("x")).alias("end")).filter(pl.col("lower").is_not_null()
                                                                              & pl.col("upper").is_not_null())
    start = held.select("arm", "event", "x", pl.col("lower").alias("lo"), pl.col("upper").alias("up"), pl.lit(0).alias("_k"))
    end = held.select("arm", "event", pl.col("end").alias("x"), pl.col("lower").alias("lo"), pl.col("upper").alias("up"),
                      pl.lit(1).alias("_k"))
    return pl.concat([start, end]).with_row_index("_r").sort("arm", "event", "x", "_k", "_r").drop("_k", "_r")


def _y_limit(values: list[float]) -> float:
    top = max([v for v in values if v is not None and math.isfinite(v)], default=0.0)
    return min(1.0, max(0.1, math.ceil(top * 10 - 1e-9) / 10))


def _y_breaks(limit: float) -> list[float]:
    step = 0.05 if limit <= 0.3 else 0.1 if limit <= 0.6 else 0.25
    n = int(math.floor(limit / step + 1e-9))
    return [round(k * step, 4) for k in range(n + 1)]


def cif_plot(cif: pl.DataFrame, arms: pl.DataFrame, axis: TimeAxis, *, title: str | None = None,
             style_order: list[str] | None = None, bands: bool = False, conf_label: str | None = None):
    """The plotnine plot: a panel per event type, a step curve per arm (colour and line type), legend "Arm (n=N)".

    ``cif``: ``competing.cumulative_incidence``; ``arms``: arm, n (``km.summarise_arms``), in dose order;
    ``axis``: the Kaplan-Meier figure's time axis; ``conf_label`` (e.g. "95% pointwise log(-log) limits")
    is written under the panels when ``bands``.
    """
    from plotnine import (aes, element_blank, element_text, facet_wrap, geom_ribbon, geom_step, ggplot, guide_legend,
                          guides, labs, scale_color_manual, scale_fill_manual, scale_linetype_manual,
                          scale_x_continuous, scale_y_continuous, theme)

    present = set(cif["arm"].to_list())
    labels = [a for a in arms["arm"].to_list() if a in present]
    sizes = dict(zip(arms["arm"].to_list(), arms["n"].to_list()))
    legend = [f"{a} (n={sizes[a]})" for a in labels]
    types = list(dict.fromkeys(cif["event"].to_list()))
    colours, linetypes = _styles(labels, style_order)
    steps = _steps(cif, axis.days_per_unit).with_columns(pl.col("arm").cast(pl.Enum(labels)),
                                                         pl.col("event").cast(pl.Enum(types)))
    ribbons = _bands(steps) if bands else None
    drawn = steps["estimate"].to_list() + (ribbons["up"].to_list() if ribbons is not None else [])
    ylim = _y_limit(drawn)
    xmax = max(axis.limit_days / axis.days_per_unit, steps["x"].max() or 0.0)
    breaks = [b / axis.days_per_unit for b in axis.breaks_days]
    ybreaks = _y_breaks(ylim)
    scale = dict(breaks=labels, labels=legend, name="")
    p = ggplot(steps.to_pandas(), aes("x", "estimate", colour="arm", linetype="arm"))
    if ribbons is not None:
        p += geom_ribbon(aes("x", ymin="lo", ymax="up", fill="arm"), data=ribbons.to_pandas(), inherit_aes=False,
                         alpha=0.15, show_legend=False)
        p += scale_fill_manual(values=colours, **scale)
    p += geom_step(direction="hv", size=0.7)
    p += facet_wrap("event", nrow=1 if len(types) <= 3 else None, ncol=None if len(types) <= 3 else 2)
    p += scale_color_manual(values=colours, **scale)
    p += scale_linetype_manual(values=linetypes, **scale)
    p += scale_x_continuous(limits=(0, xmax), breaks=breaks, labels=[f"{b:g}" for b in breaks], expand=(0.01, 0))
    p += scale_y_continuous(limits=(0, ylim), breaks=ybreaks, labels=[f"{100 * b:g}%" for b in ybreaks],
                            expand=(0.02, 0))
    p += labs(x=f"Time ({axis.unit})", y=Y_LABEL, **({"title": title} if title else {}),
              **({"caption": conf_label} if conf_label and bands else {}))
    p += guides(colour=guide_legend(nrow=1 if len(labels) <= 3 else 2), linetype=guide_legend())
    p += theme_journal(9) + theme(legend_title=element_blank(), legend_key_width=26, legend_text=element_text(size=8.5),
                                  panel_grid_major=element_blank(), axis_ticks_length=3,
                                  strip_text=element_text(size=8.5), plot_title=element_text(size=8.5, ha="left"),
                                  plot_caption=element_text(size=7.5, color="#555555"))
    return p


def _size(n_types: int) -> tuple[float, float]:
    cols = n_types if n_types <= 3 else 2
    rows = 1 if n_types <= 3 else math.ceil(n_types / 2)
    return max(5.5, 3.3 * cols + 0.9), 1.2 + 3.1 * rows


def _render(plot, width: float, height: float) -> dict[str, bytes]:
    """PNG (300 dpi) and SVG bytes, reproducible byte for byte, SVG text as text (``figures.render`` draws paths)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"svg.hashsalt": "trialkit", "svg.fonttype": "none"}), quiet_missing_glyphs():
        fig = plot.draw()
        printable_texts(fig)
        fig.set_size_inches(width, height)
        out = {}
        for fmt, meta in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=300, metadata=meta, bbox_inches="tight", facecolor="white")
            out[fmt] = buf.getvalue()
    plt.close(fig)
    return out


def render_cif_figure(cif: pl.DataFrame, arms: pl.DataFrame, axis: TimeAxis, *, title: str | None = None,
                      style_order: list[str] | None = None, bands: bool = False, conf_label: str | None = None,
                      width: float | None = None) -> dict[str, bytes]:
    """{"png": bytes, "svg": bytes} of ``cif_plot`` (see it for the arguments); ``width`` in inches overrides the
    default (3.3 inches a panel)."""
    if cif.height == 0:
        raise NoDataError("the cumulative incidence table is empty: there is no curve to draw",
                          "check that the endpoint has records in the selected arms")
    n_types = cif["event"].n_unique()
    w, h = _size(n_types)
    plot = cif_plot(cif, arms, axis, title=title, style_order=style_order, bands=bands, conf_label=conf_label)
    return _render(plot, width or w, h)
