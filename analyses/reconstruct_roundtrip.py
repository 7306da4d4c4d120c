"""Round trip: a trial's real patients -> its KM figure as a digitiser reads it -> reconstructed patients.

How well does the reconstruction recover a trial? Take trials whose patient data we hold, draw what a
paper would publish and a reader would digitise, reconstruct, and compare the statistics:

- ``digitise_km``: each arm's Kaplan-Meier curve (trialkit's ``km_table``, which is R's survfit) drawn as
  a step line and read at ``points`` random places spread uniformly along the line (its length measured
  with the follow-up scaled to 1 and survival as is, as a digitiser tracing the drawn line samples it: the
  steep parts get more points), with Gaussian noise of sd ``time_noise`` x the follow-up on the time (kept
  within the horizontal segment the point is on, as a click on the drawn line is) and ``survival_noise`` on
  the survival (0-1 scale). Seeded (``seed``): the same call gives the same points.
- ``published_at_risk``: the numbers at risk (AVAL >= t) at the round times ``every``, 2 x ``every``, ...
  up to each arm's last time, as the table under a published figure.
- ``compare_reconstruction``: for the original and the reconstructed patients, the median (``km_medians``),
  the survival at the landmark times (``km_landmarks``), the log-rank chi-square over all arms
  (``logrank_test``) and each arm's Cox hazard ratio against the first arm (``cox_by_group``, Efron ties);
  one row per statistic with ``original``, ``reconstructed``, ``difference`` and ``relative`` (difference /
  original).
- ``round_trip``: the three in a row, with the reconstruction (``reconstruct.reconstruct_trial``) in between,
  given the total events per arm or not.

Every frame here is a survival frame of trialkit's kind (TRT01A, AVAL, CNSR).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from trialkit.analyses.reconstruct import reconstruct_trial
from trialkit.analyses.survival.compare import logrank_test
from trialkit.analyses.survival.cox import cox_by_group
from trialkit.analyses.survival.km import km_landmarks, km_medians, km_table, risk_table

__all__ = ["COMPARISON_SCHEMA", "digitise_km", "published_at_risk", "ipd_as_survival_data", "compare_reconstruction",
           "round_trip"]

COMPARISON_SCHEMA = {"statistic": pl.String, "arm": pl.String, "original": pl.Float64, "reconstructed": pl.Float64,
                     "difference": pl.Float64, "relative": pl.Float64}


def _trace(t: np.ndarray, s: np.ndarray, span: float, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points at arc lengths ``u`` along the drawn step curve (time in units of ``span``, survival as is):
    (time, survival, the index of the horizontal segment each point is on, -1 for a point on a drop)."""
    # vertices (0, 1), (t1, 1), (t1, s1), (t2, s1), (t2, s2), ...: horizontal segment j from t_j to t_j+1 at
    # level s_j (t_0 = 0, s_0 = 1), then the drop at t_j+1 from s_j to s_j+1
    knots = np.concatenate([[0.0], t])
    level = np.concatenate([[1.0], s])
    seg_t0 = np.repeat(knots[:-1], 2)
    seg_t1 = np.repeat(knots[1:], 2)
    seg_s0 = np.repeat(level[:-1], 2)
    seg_s1 = np.column_stack([level[:-1], level[1:]]).ravel()
    flat = np.tile([True, False], knots.size - 1)
    length = np.where(flat, (seg_t1 - seg_t0) / span, seg_s0 - seg_s1)
    ends = np.cumsum(length)
    j = np.minimum(np.searchsorted(ends, u, side="right"), ends.size - 1)
    frac = np.clip((u - (ends[j] - length[j])) / np.where(length[j] > 0, length[j], 1.0), 0.0, 1.0)
    x = np.where(flat[j], seg_t0[j] + frac * (seg_t1[j] - seg_t0[j]), seg_t1[j])
    y = np.where(flat[j], seg_s0[j], seg_s0[j] - frac * (seg_s0[j] - seg_s1[j]))
    return x, y, np.where(flat[j], j // 2, -1)


def digitise_km(data: pl.DataFrame, groups: list[str], *, points: int = 300, time_noise: float = 0.002,
                survival_noise: float = 0.003, seed: int = 20120201) -> pl.DataFrame:
    """group, time, survival: each arm's KM curve as a digitiser reads it (module docstring)."""
    rng = np.random.default_rng(seed)
    km = km_table(data, groups)
    parts = []
    for g in groups:
        arm = km.filter(pl.col("arm") == g)
        t, s = arm["time"].to_numpy(), arm["survival"].to_numpy()
        span = float(t.max())
        total = 1.0 + (1.0 - float(s[-1]))  # the curve's length: the time axis (scaled to 1) and the drops
        x, y, flat = _trace(t, s, span, np.sort(rng.uniform(0.0, total, points)))
        # a time is misread along the horizontal segment the point is on, never past a step (a click lands on
        # the drawn line); a point on a drop keeps the drop's time
        knots = np.concatenate([[0.0], t])
        left = np.where(flat >= 0, knots[np.maximum(flat, 0)], x)
        right = np.where(flat >= 0, knots[np.minimum(flat + 1, knots.size - 1)], x)
        x = np.clip(x + rng.normal(0.0, time_noise * span, points), left, right)
        y = np.clip(y + rng.normal(0.0, survival_noise, points), 0.0, 1.0)
        parts.append(pl.DataFrame({"group": g, "time": x, "survival": y}))
    return pl.concat(parts)


def published_at_risk(data: pl.DataFrame, groups: list[str], every: float) -> pl.DataFrame:
    """group, time, n_risk at 0, every, 2 every, ... up to each arm's last time."""
    km = km_table(data, groups)
    parts = []
    for g in groups:
        arm = km.filter(pl.col("arm") == g)
        times = np.arange(0.0, float(arm["time"].max()) + 1e-9, every)
        table = risk_table(arm, times.tolist())
        parts.append(table.select(pl.col("arm").alias("group"), "time", "n_risk"))
    return pl.concat(parts)


def ipd_as_survival_data(ipd: pl.DataFrame) -> pl.DataFrame:
    """Reconstructed patients (group, time, event) as a survival frame: TRT01A, AVAL, CNSR."""
    return ipd.select(pl.col("group").alias("TRT01A"), pl.col("time").alias("AVAL"),
                      (1 - pl.col("event")).cast(pl.Int64).alias("CNSR"))


def _stats(data: pl.DataFrame, groups: list[str], landmarks: list[float]) -> dict[tuple[str, str], float | None]:
    km = km_table(data, groups)
    out: dict[tuple[str, str], float | None] = {}
    for row in km_medians(km).iter_rows(named=True):
        out[("median", row["arm"])] = row["median"]
    for row in km_landmarks(km, landmarks).iter_rows(named=True):
        out[(f"S({row['time']:g})", row["arm"])] = row["survival"]
    out[("log-rank chisq", ", ".join(groups))] = logrank_test(data, groups).chisq
    for row in cox_by_group(data, groups, groups[0]).iter_rows(named=True):
        out[(f"HR vs {groups[0]}", row["arm"])] = row["hr"]
    return out


def compare_reconstruction(original: pl.DataFrame, reconstructed: pl.DataFrame, groups: list[str],
                           landmarks: list[float]) -> pl.DataFrame:
    """One row per statistic and arm: original, reconstructed, difference, relative (``COMPARISON_SCHEMA``)."""
    a, b = _stats(original, groups, landmarks), _stats(reconstructed, groups, landmarks)
    rows = []
    for key, x in a.items():
        y = b.get(key)
        diff = None if x is None or y is None else y - x
        rows.append({"statistic": key[0], "arm": key[1], "original": x, "reconstructed": y, "difference": diff,
                     "relative": None if diff is None or not x else diff / x})
    return pl.DataFrame(rows, schema=COMPARISON_SCHEMA)


def round_trip(data: pl.DataFrame, groups: list[str], every: float, landmarks: list[float], *, points: int = 300,
               seed: int = 20120201, with_events: bool = False) -> pl.DataFrame:
    """Digitise the trial's curves, reconstruct them with the at-risk table every ``every`` days (and each arm's
    true total events when ``with_events``), and compare (``compare_reconstruction``)."""
    curves = digitise_km(data, groups, points=points, seed=seed)
    risk = published_at_risk(data, groups, every)
    events = None
    if with_events:
        counts = data.group_by("TRT01A").agg((1 - pl.col("CNSR")).sum().alias("events"))
        events = dict(zip(counts["TRT01A"].to_list(), counts["events"].to_list()))
    rec = reconstruct_trial(curves, risk, events)
    return compare_reconstruction(data, ipd_as_survival_data(rec.ipd), groups, landmarks)
