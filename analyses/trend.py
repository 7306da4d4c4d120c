"""A monotone trend over visits: does a per-visit summary keep falling (or rising)?

"Kept falling" is a claim about order, not about a straight line: the visits of a trial
are unequally spaced (days 8, 15, 22, 29, 57, 85, 169), so a regression slope of the means
on the day would be driven by the last visit, and a slope on the visit index assumes equal
steps. Spearman's rank correlation between visit order and the per-visit value (the mean
change from baseline of the biomarkers stage's ``within`` table, or any other column) tests
exactly the ordering, whatever the spacing. Its p is one-sided in the stated direction:

- exact for n <= 9 points without ties, by enumerating the n! orderings, as R's
  ``cor.test(visitn, mean_change, method = "spearman", alternative = "less")`` does;
- otherwise the t approximation t = r sqrt((n - 2) / (1 - r^2)) on n - 2 df, R's
  ``cor.test(..., method = "spearman", exact = FALSE)``.

What it does not do: it tests the ordering of the n means, not their sampling error
(a mean that dips by less than its standard error still breaks the ranks), and it does
not use the subjects' pairing; Page's L test would, on complete subjects only. The
number of visit-to-visit steps against the trend is reported beside it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats

from trialkit.schemas.errors import DataError

__all__ = ["METHOD", "TrendResult", "spearman_trend", "monotone_trend"]

METHOD = "Spearman rank correlation of the value with visit order, one-sided"
_EXACT_MAX = 9


@dataclass(frozen=True)
class TrendResult:
    """Spearman's rho of value with visit order, its one-sided p in ``direction``, and the steps against it."""

    n: int
    rho: float
    p: float
    direction: str  # "decreasing" or "increasing"
    exact: bool
    reversals: int  # visit-to-visit steps against the direction
    method: str = METHOD


def _ranks(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x)


def spearman_trend(order: np.ndarray, values: np.ndarray, direction: str = "decreasing") -> TrendResult:
    """Spearman's rho between ``order`` and ``values`` with the one-sided p for ``direction`` (module docstring)."""
    if direction not in ("decreasing", "increasing"):
        raise ValueError(f"direction must be decreasing or increasing, not {direction!r}")
    order = np.asarray(order, dtype=float)
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 3:
        raise DataError(f"a trend needs at least 3 visits, and {n} have a value",
                        "check the rows the claim selects")
    sort = np.argsort(order, kind="stable")
    values = values[sort]
    rx, ry = _ranks(order[sort]), _ranks(values)
    rho = float(np.corrcoef(rx, ry)[0, 1])
    steps = np.diff(values)
    reversals = int(np.sum(steps > 0) if direction == "decreasing" else np.sum(steps < 0))
    ties = len(np.unique(values)) < n or len(np.unique(order)) < n
    if n <= _EXACT_MAX and not ties:
        perms = np.array(list(itertools.permutations(range(1, n + 1))), dtype=np.int64)
        d2 = np.sum((perms - np.arange(1, n + 1)) ** 2, axis=1)
        s_obs = float(np.sum((rx - ry) ** 2))
        # decreasing: rho small, S = sum d^2 large; P(S >= S_obs)
        tail = d2 >= s_obs - 1e-9 if direction == "decreasing" else d2 <= s_obs + 1e-9
        return TrendResult(n, rho, float(np.mean(tail)), direction, True, reversals)
    if abs(rho) >= 1.0:
        t = math.copysign(math.inf, rho)
    else:
        t = rho * math.sqrt((n - 2) / (1.0 - rho * rho))
    p = float(stats.t.cdf(t, n - 2) if direction == "decreasing" else stats.t.sf(t, n - 2))
    return TrendResult(n, rho, p, direction, False, reversals)


def monotone_trend(rows: pl.DataFrame, by: str, field: str, direction: str = "decreasing") -> TrendResult:
    """The trend of ``field`` over ``by`` (the visit number) in ``rows`` (one row per visit, e.g. the
    biomarkers stage's ``within`` rows of one parameter and group)."""
    for col in (by, field):
        if col not in rows.columns:
            raise DataError(f"the trend's rows have no column {col!r} (columns: {', '.join(rows.columns)})",
                            "name the visit column with by and the value with field")
    kept = rows.select(pl.col(by).cast(pl.Float64), pl.col(field).cast(pl.Float64)).drop_nulls().drop_nans()
    if kept[by].n_unique() < kept.height:
        raise DataError(f"the trend's rows repeat a value of {by}: one row per visit is needed",
                        "add selectors (group, parameter) until each visit has one row")
    return spearman_trend(kept[by].to_numpy(), kept[field].to_numpy(), direction)
