"""Comparisons of survival curves: G-rho log-rank, pairwise with Holm, dose trend.

All three rest on R's ``survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A, rho=)``
(survdiff2.c): at each distinct event time t with N at risk and d events,
n_g at risk in group g, and weight w = S(t-)^rho (the pooled Kaplan-Meier,
left-continuous; rho = 0 is the log-rank test, rho = 1 Peto-Peto):

    O_g = sum w d_g          E_g = sum w d n_g / N
    V_gh = sum w^2 d (N - d) / (N - 1) * n_g (delta_gh - n_h / N) / N     (N > 1)

- ``logrank_test``: chisq = (O - E)' V^- (O - E) over the groups with E > 0,
  dropping the first (R's ``solve(vv, temp2)``), df = (groups with E > 0) - 1.
- ``pairwise_logrank``: survdiff on each pair of arms alone; ``p_holm`` is
  ``p.adjust(p, method = "holm")`` over the pairs whose test exists.
- ``trend_test``: the 1-df test for a monotone trend across ordered groups
  with scores s (TRT01AN): U = sum_g s_g (O_g - E_g), Var U = s' V s,
  chisq = U^2 / Var U (Collett, Modelling Survival Data, 3rd ed., 2.7).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.schemas.errors import DataError, UsageError
from trialkit.analyses.multiplicity import holm
from trialkit.analyses.survival.km import SURVIVAL_DATA_HINT

__all__ = ["LOGRANK_SCHEMA", "TREND_SCHEMA", "LogrankResult", "TrendResult", "logrank_test", "pairwise_logrank", "trend_test", "holm"]


LOGRANK_SCHEMA = {"test": pl.String, "rho": pl.Float64, "groups": pl.String, "chisq": pl.Float64, "df": pl.Int64,
                  "p": pl.Float64, "reason": pl.String}
TREND_SCHEMA = {"rho": pl.Float64, "groups": pl.String, "scores": pl.String, "u": pl.Float64, "var": pl.Float64,
                "chisq": pl.Float64, "df": pl.Int64, "p": pl.Float64, "reason": pl.String}


@dataclass(frozen=True)
class LogrankResult:
    """survdiff's output: per-group observed, expected, variance matrix, and the test (None when it does not exist)."""

    groups: tuple[str, ...]
    rho: float
    observed: tuple[float, ...]
    expected: tuple[float, ...]
    variance: tuple[tuple[float, ...], ...]
    chisq: float | None
    df: int
    p: float | None
    reason: str | None = None

    def to_frame(self) -> pl.DataFrame:
        return pl.DataFrame([{"test": "log-rank" if self.rho == 0 else "G-rho", "rho": self.rho, "groups": ", ".join(self.groups),
                              "chisq": self.chisq, "df": self.df, "p": self.p, "reason": self.reason}], schema=LOGRANK_SCHEMA)

    def per_group(self) -> pl.DataFrame:
        return pl.DataFrame({"arm": list(self.groups), "observed": list(self.observed), "expected": list(self.expected)},
                            schema={"arm": pl.String, "observed": pl.Float64, "expected": pl.Float64})


@dataclass(frozen=True)
class TrendResult:
    """The 1-df trend test: scores, U, Var U, chisq, p (None when Var U is 0)."""

    groups: tuple[str, ...]
    scores: tuple[float, ...]
    rho: float
    u: float
    var: float
    chisq: float | None
    p: float | None
    df: int = 1
    reason: str | None = None

    def to_frame(self) -> pl.DataFrame:
        return pl.DataFrame([{"rho": self.rho, "groups": ", ".join(self.groups), "scores": ", ".join(f"{s:g}" for s in self.scores),
                              "u": self.u, "var": self.var, "chisq": self.chisq, "df": self.df, "p": self.p, "reason": self.reason}],
                            schema=TREND_SCHEMA)


def _chisq_sf(x: float, df: int) -> float:
    from scipy.special import chdtrc

    return float(chdtrc(df, x))


def _survdiff(data: pl.DataFrame, groups: list[str], rho: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed, expected and variance matrix of survdiff for ``groups`` (one stratum)."""
    require_columns(data, ("TRT01A", "AVAL", "CNSR"), dataset="the survival data", purpose="the log-rank test",
                    hint=SURVIVAL_DATA_HINT)
    sub = data.filter(pl.col("TRT01A").is_in(groups))
    time = sub["AVAL"].to_numpy().astype(float)
    event = (1 - sub["CNSR"].to_numpy()).astype(float)
    gidx = np.array([groups.index(g) for g in sub["TRT01A"].to_list()], dtype=int)
    k = len(groups)
    ut, inv = np.unique(time, return_inverse=True)
    n_total = np.bincount(inv, minlength=len(ut)).astype(float)
    d_all = np.bincount(inv, weights=event, minlength=len(ut))
    at_risk = len(time) - np.concatenate([[0.0], np.cumsum(n_total)[:-1]])
    km_left = np.concatenate([[1.0], np.cumprod((at_risk - d_all) / at_risk)[:-1]])  # pooled S(t-)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        weight = km_left ** rho if rho != 0 else np.ones_like(km_left)
    if not np.isfinite(weight[d_all > 0]).all():  # S(t-) = 0 or a large negative rho
        raise UsageError(f"--rho {rho:g}: the weights S(t-)^rho are not finite on these data",
                         "use a rho between 0 (log-rank) and 1 (Peto-Peto)")
    n_g = np.zeros((len(ut), k))
    d_g = np.zeros((len(ut), k))
    for g in range(k):
        mine = gidx == g
        counts = np.bincount(inv[mine], minlength=len(ut)).astype(float)
        n_g[:, g] = counts[::-1].cumsum()[::-1]  # at risk: AVAL >= t
        d_g[:, g] = np.bincount(inv[mine], weights=event[mine], minlength=len(ut))
    obs = (weight[:, None] * d_g).sum(axis=0)
    death = d_all > 0
    w, d, n, r = weight[death], d_all[death], at_risk[death], n_g[death]
    exp = (w[:, None] * d[:, None] * r / n[:, None]).sum(axis=0)
    var = np.zeros((k, k))
    multi = n > 1
    with np.errstate(over="ignore", invalid="ignore"):
        for wi, di, ni, ri in zip(w[multi], d[multi], n[multi], r[multi]):
            tmp = wi * wi * ri * di * (ni - di) / (ni * (ni - 1))
            var += np.diag(tmp) - np.outer(tmp, ri) / ni
    if not (np.isfinite(obs).all() and np.isfinite(exp).all() and np.isfinite(var).all()):
        raise UsageError(f"--rho {rho:g}: the weights S(t-)^rho are too large to compute the test on these data",
                         "use a rho between 0 (log-rank) and 1 (Peto-Peto)")
    return obs, exp, var


def logrank_test(data: pl.DataFrame, groups: list[str], rho: float = 0.0) -> LogrankResult:
    """The G-rho test that the arms share one survival curve, as ``survdiff(..., rho=)``."""
    if len(groups) < 2:
        raise DataError(f"a log-rank test needs two groups, but only {len(groups)} was given",
                        "select at least two arms with --arm (or none for all)")
    obs, exp, var = _survdiff(data, groups, rho)
    used = np.flatnonzero(exp > 0)
    df = len(used) - 1
    chisq, p, reason = None, None, None
    if df < 1:
        reason = "no events among subjects at risk in two or more groups: nothing to compare"
    else:
        diff = (obs - exp)[used][1:]
        try:
            chisq = float(np.sum(np.linalg.solve(var[np.ix_(used, used)][1:, 1:], diff) * diff))
            p = _chisq_sf(chisq, df)
        except np.linalg.LinAlgError:
            reason = "the variance matrix is singular"
    return LogrankResult(tuple(groups), float(rho), tuple(obs.tolist()), tuple(exp.tolist()),
                         tuple(tuple(row) for row in var.tolist()), chisq, df, p, reason)


def pairwise_logrank(data: pl.DataFrame, groups: list[str], rho: float = 0.0) -> pl.DataFrame:
    """arm_a, arm_b, rho, chisq, df, p, p_holm for each pair of arms (in dose order), each tested alone."""
    rows = []
    for a, b in itertools.combinations(groups, 2):
        res = logrank_test(data, [a, b], rho)
        rows.append({"arm_a": a, "arm_b": b, "rho": float(rho), "chisq": res.chisq, "df": res.df, "p": res.p, "reason": res.reason})
    adjusted = holm([r["p"] for r in rows])
    for r, q in zip(rows, adjusted):
        r["p_holm"] = q
    schema = {"arm_a": pl.String, "arm_b": pl.String, "rho": pl.Float64, "chisq": pl.Float64, "df": pl.Int64,
              "p": pl.Float64, "p_holm": pl.Float64, "reason": pl.String}
    return pl.DataFrame(rows, schema=schema).select(list(schema)) if rows else pl.DataFrame(schema=schema)


def trend_test(data: pl.DataFrame, groups: list[str], scores: list[float], rho: float = 0.0) -> TrendResult:
    """The 1-df test for a trend in hazards across ordered groups with the given scores (TRT01AN)."""
    if len(groups) < 2 or len(scores) != len(groups):
        raise DataError(f"a trend test needs two or more groups with one score each, got {len(groups)} group(s) "
                        f"and {len(scores)} score(s)", "select at least two arms that have TRT01AN")
    obs, exp, var = _survdiff(data, groups, rho)
    s = np.asarray(scores, dtype=float)
    u = float(s @ (obs - exp))
    v = float(s @ var @ s)
    if not v > 0:
        return TrendResult(tuple(groups), tuple(s.tolist()), float(rho), u, v, None, None,
                           reason="Var U is 0: no event where groups with different scores are at risk")
    chisq = u * u / v
    return TrendResult(tuple(groups), tuple(s.tolist()), float(rho), u, v, chisq, _chisq_sf(chisq, 1))
