"""Digitised Kaplan-Meier curves and published at-risk tables: checked and cleaned for the reconstruction.

A digitiser (WebPlotDigitizer, DigitizeIt, Engauge) gives points in the order they were clicked, with a
little noise: a point may sit a hair above the one before it, a curve may start at (0, 0.998) or not at
time 0 at all. ``clean_curves`` makes each arm a proper Kaplan-Meier step curve:

- survival given in percent (any value above 1.5) is divided by 100; the scale found is reported;
- points are sorted by time (then by survival, highest first, so a vertical step reads top to bottom);
- survival is made non-increasing by its running minimum: a rise of at most ``tolerance`` (0.02 on the
  0-1 scale) over the lowest point so far is digitising noise and is clamped; a larger rise is an error
  naming the arm and the times, since no Kaplan-Meier curve goes up;
- values within ``tolerance`` outside [0, 1] are clamped to it; further out is an error;
- (0, 1) is added when the curve does not start there;
- a point is added at each published at-risk time, with the survival the step curve has there, so every
  interval of the at-risk table starts at a digitised point.

``check_at_risk`` refuses at-risk tables that no figure can have: negative or unsorted times, a number
at risk that grows, no row at time 0, a non-integer count. ``check_groups`` refuses arms that are in one
table and not the other; ``parse_events`` reads the reported total events ("Placebo=45,Drug=38").
Every problem is a ``DataError`` (the data) or ``UsageError`` (a missing column, an unknown arm in an
option) naming the file, arm, rows or times, with a hint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from trialkit.schemas.errors import DataError, UsageError

__all__ = ["CURVE_COLUMNS", "AT_RISK_COLUMNS", "JITTER_TOLERANCE", "CleanCurves", "clean_curves", "check_at_risk",
           "check_groups", "parse_events", "add_at_risk_points"]

CURVE_COLUMNS = ("group", "time", "survival")
AT_RISK_COLUMNS = ("group", "time", "n_risk")
#: a digitised point may rise this much (0-1 scale) above the lowest point before it: noise, clamped
JITTER_TOLERANCE = 0.02
#: a survival column whose largest value is above this is in percent
_PERCENT_ABOVE = 1.5


@dataclass(frozen=True, eq=False)
class CleanCurves:
    """The cleaned curves (group, time, survival on the 0-1 scale, sorted) and what cleaning did."""

    curves: pl.DataFrame
    scale: str  # "proportion" or "percent"
    clamped: int  # points whose survival was lowered (or raised into [0, 1]) as digitising noise
    added_origin: tuple[str, ...]  # arms that got the point (0, 1)


def _rows(mask: np.ndarray, limit: int = 5) -> str:
    """1-based data rows (the header is line 1, so row r is line r + 1) of the true entries."""
    rows = np.flatnonzero(mask) + 1
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (", ..." if rows.size > limit else "")


def _columns(df: pl.DataFrame, wanted: tuple[str, ...], source: str, what: str) -> pl.DataFrame:
    """The wanted columns (names compared without case or surrounding spaces), or a usage error."""
    by_name = {c.strip().lower(): c for c in df.columns}
    missing = [w for w in wanted if w not in by_name]
    if missing:
        raise UsageError(f"{source}: the {what} has no column {', '.join(missing)} (it has: {', '.join(df.columns)})",
                         f"name the columns {', '.join(wanted)} (see docs/reconstruct.md)")
    return df.select(pl.col(by_name[w]).alias(w) for w in wanted)


def _numbers(df: pl.DataFrame, column: str, source: str) -> pl.Series:
    """A column as floats; text that is not a number, or a missing value, is a data error naming rows."""
    raw = df[column]
    values = raw.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False) if raw.dtype == pl.String \
        else raw.cast(pl.Float64, strict=False)
    bad = (values.is_null() | values.is_nan()).to_numpy()
    if bad.any():
        shown = ", ".join(repr(v) for v in raw.filter(pl.Series(bad)).head(3).to_list())
        raise DataError(f"{source}, column {column}: {int(bad.sum())} value(s) are missing or not a number "
                        f"(rows {_rows(bad)}: {shown})", f"correct those rows of {source}")
    if not np.isfinite(values.to_numpy()).all():
        bad = ~np.isfinite(values.to_numpy())
        raise DataError(f"{source}, column {column}: infinite value(s) (rows {_rows(bad)})",
                        f"correct those rows of {source}")
    return values


def _groups(df: pl.DataFrame, source: str) -> pl.Series:
    groups = df["group"].cast(pl.String).str.strip_chars()
    bad = (groups.is_null() | (groups == "")).to_numpy()
    if bad.any():
        raise DataError(f"{source}, column group: {int(bad.sum())} row(s) name no arm (rows {_rows(bad)})",
                        f"fill in the arm of those rows of {source}")
    return groups


def clean_curves(df: pl.DataFrame, source: str, tolerance: float = JITTER_TOLERANCE) -> CleanCurves:
    """Check and clean digitised curves (module docstring); ``source`` names the file in messages."""
    df = _columns(df, CURVE_COLUMNS, source, "curves file")
    if df.height == 0:
        raise DataError(f"{source}: the curves file has no rows", "digitise at least one curve")
    group, time, surv = _groups(df, source), _numbers(df, "time", source), _numbers(df, "survival", source)
    t, s = time.to_numpy(), surv.to_numpy()
    if (t < 0).any():
        raise DataError(f"{source}, column time: negative time(s) (rows {_rows(t < 0)}: "
                        f"{', '.join(f'{v:g}' for v in t[t < 0][:3])})",
                        "a digitiser's x axis starts at 0: correct or delete those points")
    scale = "percent" if s.max() > _PERCENT_ABOVE else "proportion"
    top = 100.0 if scale == "percent" else 1.0
    s = s / top
    outside = (s < -tolerance) | (s > 1 + tolerance)
    if outside.any():
        raise DataError(f"{source}, column survival: value(s) outside [0, {top:g}] (read as {scale}; rows "
                        f"{_rows(outside)}: {', '.join(f'{v * top:g}' for v in s[outside][:3])})",
                        "give survival as a proportion (0-1) or a percentage (0-100), one scale for the whole file")
    clamped = int(((s < 0) | (s > 1)).sum())
    s = np.clip(s, 0.0, 1.0)
    frame = pl.DataFrame({"group": group, "time": t, "survival": s, "_row": np.arange(1, t.size + 1)})
    parts, added = [], []
    for g in frame["group"].unique(maintain_order=True).to_list():
        part = frame.filter(pl.col("group") == g).sort(["time", "survival"], descending=[False, True])
        tt, ss, rows = part["time"].to_numpy(), part["survival"].to_numpy(), part["_row"].to_numpy()
        low = np.minimum.accumulate(ss)
        rise = ss - np.concatenate([[1.0], low[:-1]])
        if (rise > tolerance).any():
            k = int(np.argmax(rise > tolerance))
            raise DataError(f"{source}, arm {g!r}: the curve rises from {low[k - 1]:.3f} to {ss[k]:.3f} at time "
                            f"{tt[k]:g} (row {rows[k]}), more than the {tolerance:g} a digitiser's noise explains",
                            "a Kaplan-Meier curve never rises: check that the points belong to this arm and that "
                            "the time and survival columns are not swapped")
        clamped += int((low < ss).sum())
        if tt[0] > 0 or low[0] < 1.0:
            if tt[0] == 0 and low[0] < 1.0 - tolerance:
                raise DataError(f"{source}, arm {g!r}: the curve starts at {low[0]:.3f} at time 0 (row {rows[0]}), "
                                "not at 1", "a Kaplan-Meier curve starts at 1 (100%): check the y axis calibration")
            if tt[0] == 0:  # (0, 0.995): noise on the starting point
                clamped += 1
                tt, low = tt[1:], low[1:]
            tt, low = np.concatenate([[0.0], tt]), np.concatenate([[1.0], low])
            added.append(g)
        parts.append(pl.DataFrame({"group": g, "time": tt, "survival": low}))
    return CleanCurves(pl.concat(parts), scale, clamped, tuple(added))


def check_at_risk(df: pl.DataFrame, source: str) -> pl.DataFrame:
    """The at-risk table (group, time, n_risk Int64) in its own order, or an error naming what is wrong."""
    df = _columns(df, AT_RISK_COLUMNS, source, "at-risk table")
    if df.height == 0:
        raise DataError(f"{source}: the at-risk table has no rows", "give at least the number at risk at time 0")
    group, time, n = _groups(df, source), _numbers(df, "time", source), _numbers(df, "n_risk", source)
    t, nn = time.to_numpy(), n.to_numpy()
    if (t < 0).any():
        raise DataError(f"{source}, column time: negative time(s) (rows {_rows(t < 0)})",
                        "at-risk times are the figure's x-axis ticks, from 0")
    bad = (nn < 0) | (nn != np.round(nn))
    if bad.any():
        raise DataError(f"{source}, column n_risk: {int(bad.sum())} value(s) are not a count (rows {_rows(bad)}: "
                        f"{', '.join(f'{v:g}' for v in nn[bad][:3])})", "numbers at risk are whole numbers, 0 or more")
    out = pl.DataFrame({"group": group, "time": t, "n_risk": nn.astype(np.int64), "_row": np.arange(1, t.size + 1)})
    for g in out["group"].unique(maintain_order=True).to_list():
        part = out.filter(pl.col("group") == g)
        tt, nr, rows = part["time"].to_numpy(), part["n_risk"].to_numpy(), part["_row"].to_numpy()
        step = np.diff(tt)
        if (step <= 0).any():
            k = int(np.argmax(step <= 0))
            raise DataError(f"{source}, arm {g!r}: times out of order or repeated ({tt[k]:g} then {tt[k + 1]:g}, "
                            f"rows {rows[k]} and {rows[k + 1]})",
                            "list each arm's at-risk numbers once per time, in increasing time")
        if tt[0] != 0:
            raise DataError(f"{source}, arm {g!r}: no number at risk at time 0 (the first time is {tt[0]:g})",
                            "add the row at time 0: the number randomised to the arm")
        if nr[0] == 0:
            raise DataError(f"{source}, arm {g!r}: 0 at risk at time 0", "give the number randomised to the arm")
        grow = np.diff(nr) > 0
        if grow.any():
            k = int(np.argmax(grow))
            raise DataError(f"{source}, arm {g!r}: the number at risk grows from {nr[k]} at time {tt[k]:g} to "
                            f"{nr[k + 1]} at time {tt[k + 1]:g} (rows {rows[k]} and {rows[k + 1]})",
                            "numbers at risk only fall over time: check for a typo or rows of another arm")
    return out.drop("_row")


def check_groups(curves: pl.DataFrame, at_risk: pl.DataFrame, curves_source: str, at_risk_source: str) -> list[str]:
    """The arms, in the at-risk table's order; an arm in one file and not the other is a data error."""
    risk_groups = at_risk["group"].unique(maintain_order=True).to_list()
    curve_groups = curves["group"].unique(maintain_order=True).to_list()
    no_curve = [g for g in risk_groups if g not in curve_groups]
    no_risk = [g for g in curve_groups if g not in risk_groups]
    if no_curve:
        raise DataError(f"{at_risk_source}: arm(s) {', '.join(map(repr, no_curve))} have no curve in {curves_source} "
                        f"(its arms: {', '.join(map(repr, curve_groups))})",
                        "spell each arm the same way in both files, or digitise its curve")
    if no_risk:
        raise DataError(f"{curves_source}: arm(s) {', '.join(map(repr, no_risk))} have no at-risk numbers in "
                        f"{at_risk_source} (its arms: {', '.join(map(repr, risk_groups))})",
                        "spell each arm the same way in both files; give at least the number at risk at time 0")
    return risk_groups


def add_at_risk_points(curves: pl.DataFrame, at_risk: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Curves with a point at each at-risk time (the step curve's value there), and the at-risk table without the
    times after each arm's last digitised point (nothing to reconstruct there)."""
    curve_parts, risk_parts = [], []
    for g in curves["group"].unique(maintain_order=True).to_list():
        arm = curves.filter(pl.col("group") == g)
        t, s = arm["time"].to_numpy(), arm["survival"].to_numpy()
        risk = at_risk.filter((pl.col("group") == g) & (pl.col("time") <= t[-1]))
        rt = risk["time"].to_numpy()
        new = rt[~np.isin(rt, t)]
        # the step curve at a time: its last point at or before it (every curve starts at time 0)
        values = s[np.searchsorted(t, new, side="right") - 1]
        at = np.searchsorted(t, new, side="left")  # before any point at a later time
        curve_parts.append(pl.DataFrame({"group": g, "time": np.insert(t, at, new), "survival": np.insert(s, at, values)}))
        risk_parts.append(risk)
    return pl.concat(curve_parts), pl.concat(risk_parts)


def parse_events(text: str, groups: list[str]) -> dict[str, int]:
    """``--events "Placebo=45,Drug=38"``: arm -> total events; an unknown arm or a bad count is a usage error."""
    out: dict[str, int] = {}
    for item in (p for p in text.split(",") if p.strip()):
        name, sep, value = item.rpartition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--events {text!r}: {item.strip()!r} is not ARM=COUNT",
                             'write --events "Placebo=45,Drug=38" (arm names as in the at-risk table)')
        try:
            count = int(value.strip())
        except ValueError:
            count = -1
        if count < 0:
            raise UsageError(f"--events: {value.strip()!r} for arm {name!r} is not a count of events",
                             "give a whole number, 0 or more")
        if name not in groups:
            raise UsageError(f"--events names arm {name!r}, which is not in the at-risk table "
                             f"(arms: {', '.join(map(repr, groups))})", "spell the arm as in the at-risk table")
        out[name] = count
    return out
