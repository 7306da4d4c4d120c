"""The biomarker figures: mean +/- SE by visit with significance letters, and trajectories.

- ``figure_parameter``: one parameter; left, mean +/- SE of AVAL by visit and group (groups
  dodged), with letters over a visit where a group's change from baseline is significant
  (a, b, c, ... = the groups in dose order, e.g. a/b/c = low/medium/high) and the
  next letter (d with three groups) where the groups differ at that visit (between-group test on
  AVAL); right, every subject's trajectory (spaghetti) with the group means.
- ``figure_overview``: the mean +/- SE panels of every parameter of one body system (PARCAT1),
  one figure per body system; ``figure_trajectories``: the spaghetti panels of the same.

Trajectories stay readable and small at any number of subjects: a figure draws at most about
``TRAJECTORY_LINES`` subject lines over its panels and groups; a group with more subjects than its
share is drawn by a random sample of them (``sample_trajectories``: numpy
``default_rng(TRAJECTORY_SEED)`` permutation of the group's sorted USUBJIDs, the same subjects in
every panel), and the caption says how many of how many each group shows. The group means are
always those of every subject.

The visit axis labels at most ``MAX_VISIT_TICKS`` visits (every k-th when there are more, as when
ADY stands in for AVISITN), so a figure's ticks stay bounded whatever the data hold.

Significance is p_adj < 0.05 (p_adj = p when --adjust none). Colours are Okabe-Ito; each
group also has its own marker and line type, so the figures read in greyscale. Built with
matplotlib directly (fast), rendered by ``figures.render``.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass

import polars as pl

from trialkit.analyses.figures import LINETYPES, OKABE_ITO, SHAPES

__all__ = ["ALPHA", "MAX_VISIT_TICKS", "TRAJECTORY_LINES", "TRAJECTORY_MIN", "TRAJECTORY_SEED", "Trajectories", "sample_trajectories",
           "trajectory_caption", "visit_ticks", "letters_for", "figure_parameter", "figure_overview", "figure_trajectories", "draw_figures", "slug"]

ALPHA = 0.05
BASE_SIZE = 8.0
#: the most visits labelled on a visit axis
MAX_VISIT_TICKS = 20
#: at most this many subject lines in one trajectory figure (over its panels and groups), so that the figure
#: stays readable and its SVG under 1 MB: a group with more subjects than its share is drawn by a random sample
TRAJECTORY_LINES = 1500
#: ... but never fewer than this many subjects of a group (when it has them)
TRAJECTORY_MIN = 20
#: the seed of the sample (numpy default_rng), stated in the caption
TRAJECTORY_SEED = 20261201


@dataclass(frozen=True)
class Trajectories:
    """The subjects a trajectory panel may draw: ``data``, the analysis records with ``_DRAW``, each subject's
    place in its group's random order; ``totals``, the subjects with records per group."""

    data: pl.DataFrame
    totals: dict[str, int]

    def share(self, panels: int) -> int:
        """Subjects per group in a figure of ``panels`` panels."""
        return max(TRAJECTORY_MIN, TRAJECTORY_LINES // max(1, panels * max(1, len(self.totals))))

    def drawn(self, per_group: int) -> tuple[pl.DataFrame, dict[str, tuple[int, int]]]:
        """The records of the first ``per_group`` subjects of each group's order, and per group (drawn, of)."""
        counts = {arm: (min(per_group, n), n) for arm, n in self.totals.items()}
        return self.data.filter(pl.col("_DRAW") < per_group), counts


def sample_trajectories(data: pl.DataFrame, arms: list[str], seed: int = TRAJECTORY_SEED) -> Trajectories:
    """Each group's subjects in a random order: numpy ``default_rng(seed).permutation`` of the group's USUBJIDs
    in sorted order (so the order depends on the data, not on record order). The first k of it are a random
    sample of k, and a figure that draws fewer subjects draws a subset of the subjects another draws."""
    import numpy as np

    subjects = data.lazy().select("ARM", "USUBJID").unique().sort("ARM", "USUBJID").collect()
    orders, totals = [], {}
    for arm in arms:
        ids = subjects.filter(pl.col("ARM") == arm).get_column("USUBJID")
        totals[arm] = ids.len()
        orders.append(pl.DataFrame({"USUBJID": ids, "_DRAW": np.random.default_rng(seed).permutation(ids.len())},
                                   schema={"USUBJID": pl.String, "_DRAW": pl.Int64}))
    order = pl.concat(orders) if orders else pl.DataFrame(schema={"USUBJID": pl.String, "_DRAW": pl.Int64})
    order = order.filter(pl.col("_DRAW") < TRAJECTORY_LINES)  # no figure draws more of a group than this
    records = data.lazy().select("USUBJID", "ARM", "PARAMCD", "VISITN", "AVAL")
    return Trajectories(records.join(order.lazy(), on="USUBJID", how="inner", maintain_order="left").collect(), totals)


def trajectory_caption(counts: dict[str, tuple[int, int]]) -> str:
    """What the thin lines are: every subject, or per group the number drawn of how many and the rule."""
    if all(drawn == of for drawn, of in counts.values()):
        return "Thin lines: individual subjects; bold lines and markers: group means of AVAL by visit."
    drawn = "; ".join(f"{arm} {d:,} of {n:,}" for arm, (d, n) in counts.items())
    return (f"Thin lines: a random sample of each group's subjects ({drawn}; numpy default_rng({TRAJECTORY_SEED}) "
            "permutation of sorted USUBJIDs, the same subjects in every panel); bold lines and markers: group "
            "means of AVAL by visit over every subject.")


def slug(text: str) -> str:
    """File-name form of a label: "Liver function" -> "liver_function"."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "other"


def letters_for(arms: list[str]) -> tuple[dict[str, str], str]:
    """Letter per group (a, b, c, ...) and the letter for 'groups differ' (the next one)."""
    letters = string.ascii_lowercase
    return {a: letters[i % 26] for i, a in enumerate(arms)}, letters[len(arms) % 26]


def _title(summ: pl.DataFrame, param: str) -> str:
    row = summ.row(0, named=True)
    label, unit = row["param_label"] or param, row["unit"]
    return f"{label} ({unit})" if unit and unit not in label else label


def _rc():
    import matplotlib

    from trialkit.analyses.figures import use_agg

    use_agg()
    return matplotlib.rc_context({
        "font.size": BASE_SIZE, "axes.titlesize": BASE_SIZE + 1, "axes.labelsize": BASE_SIZE,
        "xtick.labelsize": BASE_SIZE - 1, "ytick.labelsize": BASE_SIZE - 1, "legend.fontsize": BASE_SIZE,
        "axes.edgecolor": "#333333", "axes.linewidth": 0.6, "axes.grid": True, "grid.color": "#e6e6e6",
        "grid.linewidth": 0.4, "axes.axisbelow": True, "svg.hashsalt": "trialkit", "svg.fonttype": "path",
    })


def _markers(within: pl.DataFrame, between: pl.DataFrame, arms: list[str]) -> dict[float, str]:
    """Visit -> letters to print over it."""
    group_letter, differ = letters_for(arms)
    sig = lambda df: df.filter(pl.col("p_adj").is_not_null() & (pl.col("p_adj") < ALPHA))  # noqa: E731
    out: dict[float, list[str]] = {}
    for r in sig(within.filter(pl.col("arm").is_in(arms))).sort("arm_order").iter_rows(named=True):
        out.setdefault(r["visitn"], []).append(group_letter[r["arm"]])
    for r in sig(between.filter(pl.col("variable") == "AVAL")).iter_rows(named=True):
        out.setdefault(r["visitn"], []).append(differ)
    return {v: "".join(ls) for v, ls in out.items()}


def visit_ticks(visits: list[tuple[float, str]]) -> tuple[list[int], list[str]]:
    """Positions and labels of the visits to label: all of them up to ``MAX_VISIT_TICKS``, else every k-th
    (the first always), at most ``MAX_VISIT_TICKS``."""
    every = max(1, math.ceil(len(visits) / MAX_VISIT_TICKS))
    chosen = range(0, len(visits), every)
    return list(chosen), [visits[i][1] for i in chosen]


def _mean_panel(ax, summ: pl.DataFrame, within: pl.DataFrame, between: pl.DataFrame, arms: list[str],
                visits: list[tuple[float, str]]) -> None:
    pos = {v: i for i, (v, _) in enumerate(visits)}
    k = len(arms)
    width = min(0.6, 0.18 * k)
    tops = {}
    for i, arm in enumerate(arms):
        rows = summ.filter((pl.col("arm") == arm) & (pl.col("n") > 0)).sort("visitn")
        if rows.height == 0:
            continue
        shift = (i - (k - 1) / 2) * (width / max(k - 1, 1)) if k > 1 else 0.0
        x = [pos[v] + shift for v in rows.get_column("visitn").to_list()]
        mean = rows.get_column("mean").to_list()
        se = [s if s is not None else 0.0 for s in rows.get_column("se").to_list()]
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        ax.errorbar(x, mean, yerr=se, color=colour, marker=SHAPES[i % len(SHAPES)], markersize=3.5,
                    linestyle=LINETYPES[i % len(LINETYPES)], linewidth=1.1, capsize=2, elinewidth=0.8,
                    label=arm)
        for v, m, s in zip(rows.get_column("visitn").to_list(), mean, se):
            tops[v] = max(tops.get(v, -math.inf), m + s)
    ax.set_xticks(*visit_ticks(visits), rotation=45, ha="right")
    ax.set_xlim(-0.6, len(visits) - 0.4)
    marks = _markers(within, between, arms)
    if tops:
        lo, hi = ax.get_ylim()
        pad = 0.04 * (hi - lo)
        for v, text in marks.items():
            if v in tops and v in pos:
                ax.text(pos[v], tops[v] + pad, text, ha="center", va="bottom", fontsize=BASE_SIZE - 0.5,
                        fontweight="bold", color="#222222")
        ax.set_ylim(lo, max(hi, max(tops.values()) + 0.16 * (hi - lo)))


def _spaghetti_panel(ax, data: pl.DataFrame, summ: pl.DataFrame, arms: list[str], visits: list[tuple[float, str]]) -> None:
    """Thin subject lines (fainter when there are many) under bold group means outlined in white."""
    from matplotlib import patheffects

    pos = {v: i for i, (v, _) in enumerate(visits)}
    halo = [patheffects.Stroke(linewidth=3.6, foreground="white"), patheffects.Normal()]
    for i, arm in enumerate(arms):
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        rows = data.filter((pl.col("ARM") == arm) & pl.col("AVAL").is_not_null()).sort("USUBJID", "VISITN")
        n_subjects = max(rows.get_column("USUBJID").n_unique(), 1)
        alpha = min(0.45, max(0.12, 0.75 / math.sqrt(n_subjects)))
        for _, subject in rows.group_by("USUBJID", maintain_order=True):
            ax.plot([pos[v] for v in subject.get_column("VISITN").to_list()], subject.get_column("AVAL").to_list(),
                    color=colour, alpha=alpha, linewidth=0.6, linestyle=LINETYPES[i % len(LINETYPES)], zorder=1)
    for i, arm in enumerate(arms):
        means = summ.filter((pl.col("arm") == arm) & (pl.col("n") > 0)).sort("visitn")
        ax.plot([pos[v] for v in means.get_column("visitn").to_list()], means.get_column("mean").to_list(),
                color=OKABE_ITO[i % len(OKABE_ITO)], linewidth=2.0, marker=SHAPES[i % len(SHAPES)], markersize=3.5,
                linestyle=LINETYPES[i % len(LINETYPES)], label=arm, zorder=5, path_effects=halo)
    ax.set_xticks(*visit_ticks(visits), rotation=45, ha="right")
    ax.set_xlim(-0.4, len(visits) - 0.6)


def _visits(summ: pl.DataFrame) -> list[tuple[float, str]]:
    return summ.select("visitn", "visit").unique(subset="visitn").sort("visitn").rows()


def _caption(arms: list[str], test_within: str, test_between: str, adjust: str) -> str:
    group_letter, differ = letters_for(arms)
    who = ", ".join(f"{letter} = {arm}" for arm, letter in group_letter.items())
    adj = "unadjusted" if adjust == "none" else f"{adjust}-adjusted across visits"
    return (f"Mean \u00b1 SE. Letters: change from baseline p < {ALPHA} ({test_within}, {adj}) in {who}; "
            f"{differ} = groups differ at that visit ({test_between} on values).")


def figure_parameter(data: pl.DataFrame | Trajectories, summaries: pl.DataFrame, within: pl.DataFrame,
                     between: pl.DataFrame, param: str, arms: list[str], *, adjust: str = "none"):
    """Mean +/- SE panel and spaghetti panel of one parameter, as a matplotlib Figure. ``data``: the analysis
    records, or the trajectories to draw (``sample_trajectories``)."""
    import matplotlib.pyplot as plt

    traj = data if isinstance(data, Trajectories) else sample_trajectories(data, arms)
    drawn, counts = traj.drawn(traj.share(1))
    summ = summaries.filter(pl.col("param") == param)
    w, b = within.filter(pl.col("param") == param), between.filter(pl.col("param") == param)
    visits = _visits(summ)
    with _rc():
        fig, (left, right) = plt.subplots(1, 2, figsize=(7.2, 3.2), sharey=False)
        _mean_panel(left, summ, w, b, arms, visits)
        _spaghetti_panel(right, drawn.filter(pl.col("PARAMCD") == param), summ, arms, visits)
        unit = summ.get_column("unit").drop_nulls().first() or ""
        left.set_ylabel(unit)
        left.set_title("Mean \u00b1 SE by visit", loc="left")
        right.set_title("Individual trajectories and group means", loc="left")
        fig.suptitle(_title(summ, param), fontweight="bold", fontsize=BASE_SIZE + 2, x=0.01, ha="left")
        handles, labels = left.get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper right", ncol=len(arms), frameon=False, bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout(rect=(0, 0.1, 1, 1.0))
        caption = _caption(arms, _name(w, "test"), _name(b, "test"), adjust)
        if any(d < n for d, n in counts.values()):
            caption += " Right: " + trajectory_caption(counts)
        fig.text(0.01, 0.0, _wrap(caption, 140), fontsize=BASE_SIZE - 1, ha="left", va="bottom")
    return fig


def _name(df: pl.DataFrame, col: str) -> str:
    values = df.get_column(col).drop_nulls()
    return values[0] if len(values) else ""


def _grid(n: int, ncol: int):
    import matplotlib.pyplot as plt

    ncol = min(ncol, n)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.5 * ncol + 0.3, 2.2 * nrow + 0.9), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)[:n], nrow, ncol


def _finish_grid(fig, axes, nrow: int, ncol: int, arms: list[str], title: str, caption: str) -> None:
    """Visit labels on the lowest panel of each column only; legend, title and caption shared."""
    from matplotlib.ticker import MaxNLocator

    n = len(axes)
    for i, ax in enumerate(axes):
        ax.yaxis.set_major_locator(MaxNLocator(5))
        if i + ncol < n:  # a panel sits below this one
            ax.tick_params(labelbottom=False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.suptitle(title, fontweight="bold", fontsize=BASE_SIZE + 2, x=0.01, ha="left")
    fig.legend(handles, labels, loc="upper right", ncol=len(arms), frameon=False, bbox_to_anchor=(1.0, 1.0))
    height = fig.get_size_inches()[1]
    fig.tight_layout(rect=(0, 0.35 / height, 1, 1 - 0.05 / height))
    fig.text(0.01, 0.0, caption, fontsize=BASE_SIZE - 1, ha="left", va="bottom")


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def figure_overview(summaries: pl.DataFrame, within: pl.DataFrame, between: pl.DataFrame, params: list[str],
                    arms: list[str], category: str, *, adjust: str = "none", ncol: int = 3):
    """Mean +/- SE panels of ``params`` (one body system), with a shared legend and caption."""
    with _rc():
        fig, axes, nrow, ncol = _grid(len(params), ncol)
        for ax, param in zip(axes, params):
            summ = summaries.filter(pl.col("param") == param)
            _mean_panel(ax, summ, within.filter(pl.col("param") == param), between.filter(pl.col("param") == param),
                        arms, _visits(summ))
            ax.set_title(_title(summ, param), loc="left", fontsize=BASE_SIZE)
        caption = _caption(arms, _name(within, "test"), _name(between, "test"), adjust)
        _finish_grid(fig, axes, nrow, ncol, arms, category, _wrap(caption, 45 * ncol))
    return fig


def figure_trajectories(data: pl.DataFrame | Trajectories, summaries: pl.DataFrame, params: list[str], arms: list[str],
                        category: str, *, ncol: int = 3):
    """Spaghetti panels of ``params`` (one body system): each subject's AVAL by visit (a stated sample in a
    group with more subjects than its share of ``TRAJECTORY_LINES``), group means bold."""
    traj = data if isinstance(data, Trajectories) else sample_trajectories(data, arms)
    data, counts = traj.drawn(traj.share(len(params)))
    with _rc():
        fig, axes, nrow, ncol = _grid(len(params), ncol)
        for ax, param in zip(axes, params):
            summ = summaries.filter(pl.col("param") == param)
            _spaghetti_panel(ax, data.filter(pl.col("PARAMCD") == param), summ, arms, _visits(summ))
            ax.set_title(_title(summ, param), loc="left", fontsize=BASE_SIZE)
        caption = trajectory_caption(counts)
        _finish_grid(fig, axes, nrow, ncol, arms, f"{category}: individual trajectories", _wrap(caption, 45 * ncol))
    return fig


def categories(summaries: pl.DataFrame, params: list[str]) -> dict[str, list[str]]:
    """Body system (PARCAT1, "Other" when missing) -> its parameters, in order of first appearance."""
    cat = dict(summaries.select("param", "category").unique(subset="param").rows())
    out: dict[str, list[str]] = {}
    for p in params:
        out.setdefault(cat.get(p) or "Other", []).append(p)
    return out


def draw_figures(data: pl.DataFrame, summaries: pl.DataFrame, within: pl.DataFrame, between: pl.DataFrame,
                 params: list[str], arms: list[str], *, adjust: str = "none", per_parameter: list[str] = ()):
    """Yield (file stem, {"png": bytes, "svg": bytes}): per body system ``overview_<system>`` (mean +/- SE)
    and ``trajectories_<system>`` (spaghetti); and ``param_<PARAMCD>`` for each of ``per_parameter``."""
    from trialkit.analyses.figures import quiet_missing_glyphs, render

    traj = sample_trajectories(data, arms)
    for category, members in categories(summaries, params).items():
        with quiet_missing_glyphs():  # tight_layout measures the labels
            fig = figure_overview(summaries, within, between, members, arms, category, adjust=adjust)
        yield f"overview_{slug(category)}", render(fig, *fig.get_size_inches(), tight=False)
        with quiet_missing_glyphs():
            fig = figure_trajectories(traj, summaries, members, arms, category)
        yield f"trajectories_{slug(category)}", render(fig, *fig.get_size_inches(), tight=False)
    for param in per_parameter:
        with quiet_missing_glyphs():
            fig = figure_parameter(traj, summaries, within, between, param, arms, adjust=adjust)
        yield f"param_{param}", render(fig, *fig.get_size_inches(), tight=False)
