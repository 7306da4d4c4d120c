"""Patient-level time-to-event data reconstructed from a published Kaplan-Meier figure.

Method: Guyot P, Ades AE, Ouwens MJNM, Welton NJ. Enhanced secondary analysis of survival data:
reconstructing the data from published Kaplan-Meier survival curves. BMC Med Res Methodol 2012;12:9,
section "Methods", implemented from its description (no code of theirs was used). The result is an
approximation of the trial's patients, never the patients themselves.

Inputs
------
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

The algorithm (``reconstruct_arm``)
-----------------------------------
Input: the digitised points (T_k, S_k) of one arm, cleaned (``clean_curves``: sorted, S
non-increasing, starting at (0, 1), with a point at every published at-risk time), the published
numbers at risk n_i at times t_i (t_1 = 0) and, when reported, the arm's total number of events D.
Interval i runs from the point at t_i (index lower_i) to the point before t_{i+1} (upper_i).

For each interval but the last:

1. first guess of the number censored in it: nc_i = round(n_i S(t_{i+1}) / S(t_i) - n_{i+1}), at least 0;
2. the nc_i censoring times are spread evenly over [t_i, t_{i+1}):
   t_i + j (t_{i+1} - t_i) / (nc_i + 1), j = 1..nc_i; c_k counts those in [T_k, T_{k+1});
3. at each point k of the interval, in order, the events that make the reconstructed KM follow the
   digitised curve: d_k = round(n_k (1 - S_k / KM_k-)), KM_k- the reconstructed KM before T_k, then
   n_{k+1} = n_k - d_k - c_k and KM_k = KM_k- (1 - d_k / n_k);
4. the reconstructed number at risk at t_{i+1} is compared with the published n_{i+1}; while they
   differ, nc_i += (reconstructed - published) and steps 2-3 are run again (when the adjustment
   cycles, or nc_i would go below 0 or above the number at risk, the nc_i closest to the published
   number is kept, the first tried of equally close ones; the difference is reported in the summary).

The last interval has no published number at its end. With the total events D reported, nc is
adjusted as in step 4 until the reconstructed events of the whole arm equal D (the "total events"
variant; with an at-risk number at time 0 only, the whole curve is that one interval). Without D,
censoring in the last interval is assumed to go on at the average rate of the earlier intervals:
nc = round(censored so far x (last time - t_last) / (t_last - 0)), at most the number at risk (0
when there is no earlier interval: the curve alone says nothing about censoring).
Whoever is still at risk after the last point is censored at the last digitised time.

The loops run over intervals, adjustment iterations and the digitised points of one curve (step 3 is a
recursion: each d_k depends on the KM reached before it); patient rows are built with ``numpy.repeat``.

Patients and their ADaM form
----------------------------
``reconstruct_trial`` cleans the inputs, runs Guyot et al.'s algorithm on each arm
(``reconstruct_arm``) and returns the patients (group, time, event) with a per-arm summary:
n, events, censored, the reported events, and the largest difference between the published and the
reconstructed numbers at risk.

``derive_adam`` turns the patients into ADSL (STUDYID, USUBJID, ARM, TRT01P, TRT01A, TRT01AN in the arms'
order, SAFFL = ITTFL = "Y") and ADTTE (STUDYID, USUBJID, PARAMCD, PARAM, AVAL in days, CNSR 0 = event /
1 = censored, EVNTDESC, CNSDTDSC). Times are converted to days with a day = 1, week = 7, month =
365.25 / 12 and year = 365.25 days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from trialkit.schemas.errors import DataError, UsageError

__all__ = [
    "CURVE_COLUMNS", "AT_RISK_COLUMNS", "JITTER_TOLERANCE", "CleanCurves", "clean_curves", "check_at_risk",
    "check_groups", "parse_events", "add_at_risk_points",
    "MAX_ADJUSTMENTS", "ArmReconstruction", "reconstruct_arm",
    "DAYS_PER", "METHOD", "IPD_SCHEMA", "SUMMARY_SCHEMA", "Reconstruction", "reconstruct_trial", "derive_adam",
    "default_paramcd",
]


# ------------------------------------------------------------------------------------------- inputs
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
        curve_parts.append(pl.DataFrame({"group": g, "time": np.insert(t, at, new),
                                         "survival": np.insert(s, at, values)}))
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


# ------------------------------------------------------------------------------------ the algorithm
#: most adjustments of one interval's censoring count (steps 2-4) before the closest one is kept
MAX_ADJUSTMENTS = 200


@dataclass(frozen=True, eq=False)
class ArmReconstruction:
    """One arm's reconstructed patients and how well the reconstruction met the published numbers.

    ``time`` and ``event`` (1 = event, 0 = censored) have one entry per patient, events first at each time.
    ``risk_time`` / ``risk_published`` / ``risk_reconstructed``: the at-risk table and the number the
    reconstruction has at risk at each of its times. ``events_target`` is the reported total (None when
    not reported).
    """

    time: np.ndarray
    event: np.ndarray
    risk_time: np.ndarray
    risk_published: np.ndarray
    risk_reconstructed: np.ndarray
    events_target: int | None

    @property
    def n(self) -> int:
        return int(self.time.size)

    @property
    def events(self) -> int:
        return int(self.event.sum())


def _round(x: float) -> int:
    """Round half up (the paper's round; Python's own round goes to the even neighbour)."""
    return int(np.floor(x + 0.5))


def _censor_times(start: float, end: float, nc: int) -> np.ndarray:
    """Step 2: nc times spread evenly over [start, end), none at either end."""
    return start + np.arange(1, nc + 1) * (end - start) / (nc + 1)


def _interval(t: np.ndarray, s: np.ndarray, lo: int, up: int, end: float, nc: int, n0: int,
              km0: float) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Steps 2-3 for points lo..up: (events per point, censorings per point, at risk after, KM after).

    ``end`` is the time the censorings are spread up to; censorings beyond the number at risk are not made.
    """
    cens = _censor_times(t[lo], end, nc)
    edges = np.append(t[lo:up + 1], np.inf)
    counts = np.diff(np.searchsorted(cens, edges, side="left"))  # censorings in [T_k, T_k+1)
    d = np.zeros(up - lo + 1, dtype=np.int64)
    c = np.zeros(up - lo + 1, dtype=np.int64)
    n, km = n0, km0
    for j in range(up - lo + 1):  # step 3, one digitised point at a time
        k = lo + j
        if n > 0 and km > 0:
            d[j] = min(max(_round(n * (1.0 - s[k] / km)), 0), n)
            if d[j]:
                km *= 1.0 - d[j] / n
        c[j] = min(int(counts[j]), n - d[j])
        n -= d[j] + c[j]
    return d, c, n, km


def _search(run, nc: int, limit: int, miss) -> tuple[int, tuple]:
    """Step 4: adjust nc by the miss until it is 0, cycles or leaves [0, limit]; the closest nc and its run."""
    tried: dict[int, tuple] = {}
    for _ in range(MAX_ADJUSTMENTS):
        nc = min(max(nc, 0), limit)
        if nc in tried:
            break
        result = run(nc)
        tried[nc] = result
        off = miss(result)
        if off == 0:
            return nc, result
        nc += off
    best = min(tried, key=lambda k: abs(miss(tried[k])))  # on a tie, the one tried first
    return best, tried[best]


def _censor_rows(t: np.ndarray, lo: int, end: float, nc: int, c: np.ndarray) -> np.ndarray:
    """The censoring times made in one interval: of the times in [T_k, T_k+1), the first c_k."""
    cens = _censor_times(t[lo], end, nc)
    edges = t[lo:lo + c.size]
    bin_of = np.searchsorted(edges, cens, side="right") - 1
    rank = np.arange(cens.size) - np.searchsorted(bin_of, bin_of, side="left")
    return cens[rank < c[bin_of]]


def reconstruct_arm(t: np.ndarray, s: np.ndarray, risk_t: np.ndarray, risk_n: np.ndarray,
                    total_events: int | None = None) -> ArmReconstruction:
    """Guyot's algorithm for one arm (module docstring).

    ``t``, ``s``: cleaned digitised points (t[0] = 0, s[0] = 1, s non-increasing, every ``risk_t`` among ``t``);
    ``risk_t``, ``risk_n``: the at-risk table (risk_t[0] = 0, risk_n non-increasing);
    ``total_events``: the reported total events of the arm, or None.
    """
    t = np.asarray(t, dtype=float)
    s = np.asarray(s, dtype=float)
    risk_t = np.asarray(risk_t, dtype=float)
    risk_n = np.asarray(risk_n, dtype=np.int64)
    lower = np.searchsorted(t, risk_t, side="left")
    upper = np.append(lower[1:] - 1, t.size - 1)
    d_all = np.zeros(t.size, dtype=np.int64)
    censored: list[np.ndarray] = []
    at_start = np.zeros(risk_t.size, dtype=np.int64)
    n, km = int(risk_n[0]), 1.0
    last = risk_t.size - 1
    for i in range(risk_t.size):
        lo, up = int(lower[i]), int(upper[i])
        at_start[i] = n
        if i < last:
            end = t[lower[i + 1]]
            ratio = s[lower[i + 1]] / s[lo] if s[lo] > 0 else 0.0
            guess = _round(risk_n[i] * ratio - risk_n[i + 1])
            target = int(risk_n[i + 1])
            nc, (d, c, n_after, km_after) = _search(
                lambda k, lo=lo, up=up, end=end, n=n, km=km: _interval(t, s, lo, up, end, k, n, km),
                guess, n, lambda r, target=target: r[2] - target)
        else:
            end = t[up]
            done = int(d_all[:lo].sum())
            before = int(sum(x.size for x in censored))
            rate_guess = _round(before * (t[up] - t[lo]) / (t[lo] - t[0])) if i > 0 and t[lo] > t[0] else 0
            run = lambda k, lo=lo, up=up, end=end, n=n, km=km: _interval(t, s, lo, up, end, k, n, km)  # noqa: E731
            if total_events is None:
                nc = min(rate_guess, n)
                d, c, n_after, km_after = run(nc)
            else:
                nc, (d, c, n_after, km_after) = _search(
                    run, rate_guess, n, lambda r: done + int(r[0].sum()) - int(total_events))
        d_all[lo:up + 1] = d
        censored.append(_censor_rows(t, lo, end, nc, c))
        n, km = n_after, km_after
    event_times = np.repeat(t, d_all)
    cens = np.concatenate(censored + [np.full(n, t[-1])])
    time = np.concatenate([event_times, cens])
    event = np.concatenate([np.ones(event_times.size, dtype=np.int64), np.zeros(cens.size, dtype=np.int64)])
    order = np.lexsort((1 - event, time))  # by time, events before censorings at the same time
    return ArmReconstruction(time[order], event[order], risk_t, risk_n, at_start,
                             None if total_events is None else int(total_events))


# -------------------------------------------------------------------------------- patients and ADaM
DAYS_PER = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12, "years": 365.25}
METHOD = ("Guyot P, Ades AE, Ouwens MJNM, Welton NJ. Enhanced secondary analysis of survival data: reconstructing "
          "the data from published Kaplan-Meier survival curves. BMC Med Res Methodol 2012;12:9")
IPD_SCHEMA = {"group": pl.String, "time": pl.Float64, "event": pl.Int64}
SUMMARY_SCHEMA = {"group": pl.String, "n": pl.Int64, "events": pl.Int64, "censored": pl.Int64,
                  "events_reported": pl.Int64, "risk_times": pl.Int64, "risk_max_diff": pl.Int64}
_SURVIVAL = re.compile(r"surviv|death", re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class Reconstruction:
    """The reconstructed patients (``IPD_SCHEMA``, arms in order), the per-arm summary (``SUMMARY_SCHEMA``), the
    arms in order, the cleaned curves and what cleaning did (``scale``, ``clamped``, ``dropped_risk_rows``)."""

    ipd: pl.DataFrame
    summary: pl.DataFrame
    groups: tuple[str, ...]
    curves: pl.DataFrame
    scale: str
    clamped: int
    dropped_risk_rows: int


def reconstruct_trial(curves: pl.DataFrame, at_risk: pl.DataFrame, events: dict[str, int] | None = None, *,
                      curves_source: str = "curves", at_risk_source: str = "at-risk table") -> Reconstruction:
    """Patients of every arm from digitised curves, a published at-risk table and (optionally) total events."""
    clean = clean_curves(curves, curves_source)
    table = check_at_risk(at_risk, at_risk_source)
    groups = check_groups(clean.curves, table, curves_source, at_risk_source)
    events = events or {}
    pointed, kept = add_at_risk_points(clean.curves, table)
    ipd_parts, rows = [], []
    for g in groups:
        arm = pointed.filter(pl.col("group") == g)
        risk = kept.filter(pl.col("group") == g)
        n0 = int(risk["n_risk"][0])
        if g in events and events[g] > n0:
            raise DataError(f"--events gives {events[g]} events for arm {g!r}, more than its {n0} patients at time 0",
                            "check the total events and the at-risk table")
        r = reconstruct_arm(arm["time"].to_numpy(), arm["survival"].to_numpy(), risk["time"].to_numpy(),
                            risk["n_risk"].to_numpy(), events.get(g))
        ipd_parts.append(pl.DataFrame({"group": g, "time": r.time, "event": r.event}, schema=IPD_SCHEMA))
        rows.append({"group": g, "n": r.n, "events": r.events, "censored": r.n - r.events,
                     "events_reported": r.events_target, "risk_times": int(r.risk_time.size),
                     "risk_max_diff": int(np.abs(r.risk_reconstructed - r.risk_published).max())})
    return Reconstruction(pl.concat(ipd_parts), pl.DataFrame(rows, schema=SUMMARY_SCHEMA), tuple(groups),
                          pointed, clean.scale, clean.clamped, table.height - kept.height)


def default_paramcd(param: str) -> str:
    """OS when the parameter's label speaks of survival or death, else TTE."""
    return "OS" if _SURVIVAL.search(param or "") else "TTE"


def derive_adam(ipd: pl.DataFrame, groups: list[str] | tuple[str, ...], *, studyid: str = "RECONSTRUCTED",
                param: str = "Overall survival", paramcd: str | None = None,
                time_unit: str = "months") -> tuple[pl.DataFrame, pl.DataFrame]:
    """ADSL and ADTTE for the reconstructed patients (module docstring); USUBJID is STUDYID-arm-number."""
    order = {g: i + 1 for i, g in enumerate(groups)}
    pts = ipd.with_columns(pl.col("group").replace_strict(order, return_dtype=pl.Int64).alias("_arm"))
    pts = pts.with_columns((pl.int_range(pl.len()).over("_arm") + 1).alias("_seq"))
    usubjid = pl.format("{}-{}-{}", pl.lit(studyid), pl.col("_arm"), pl.col("_seq").cast(pl.String).str.zfill(4))
    pts = pts.with_columns(usubjid.alias("USUBJID"), pl.lit(studyid).alias("STUDYID"))
    adsl = pts.select(
        "STUDYID", "USUBJID", pl.col("group").alias("ARM"), pl.col("group").alias("TRT01P"),
        pl.col("group").alias("TRT01A"), pl.col("_arm").cast(pl.Float64).alias("TRT01AN"),
        pl.lit("Y").alias("SAFFL"), pl.lit("Y").alias("ITTFL"))
    event = pl.col("event") == 1
    adtte = pts.select(
        "STUDYID", "USUBJID", pl.lit(paramcd or default_paramcd(param)).alias("PARAMCD"), pl.lit(param).alias("PARAM"),
        (pl.col("time") * DAYS_PER[time_unit]).alias("AVAL"), (1 - pl.col("event")).cast(pl.Int64).alias("CNSR"),
        pl.when(event).then(pl.lit("Event (reconstructed)")).otherwise(None).alias("EVNTDESC"),
        pl.when(event).then(None).otherwise(pl.lit("Censored (reconstructed)")).alias("CNSDTDSC"))
    return adsl, adtte
