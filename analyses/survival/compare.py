"""Comparisons of survival curves: log-rank, G-rho and Fleming-Harrington tests, pairwise with Holm, dose trend.

All three rest on R's ``survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A + strata(...), rho=)``
(survdiff2.c), extended to the Fleming-Harrington G(rho, gamma) weights. Within each
stratum, at each distinct event time t with N at risk and d events, n_g at risk in
group g, and weight

    w(t) = S(t-)^rho * (1 - S(t-))^gamma

(S the Kaplan-Meier of the stratum's pooled groups, left-continuous: the estimate just
before t; rho = gamma = 0 is the log-rank test, rho = 1 Peto-Peto, gamma = 0 R's G-rho):

    O_g = sum w d_g          E_g = sum w d n_g / N
    V_gh = sum w^2 d (N - d) / (N - 1) * n_g (delta_gh - n_h / N) / N     (N > 1)

and O, E, V are summed over the strata (``strata``: a String column of ``data``, one
stratum per value; without it the whole data are one stratum). R's ``survdiff`` has
gamma = 0 only; with gamma > 0 these are the weights and the statistic of SAS PROC
LIFETEST ``STRATA strata / GROUP=TRT01A TEST=FLEMING(rho, gamma)``, whose documented
variance ("Nonparametric tests", Klein and Moeschberger 7.3) is the same hypergeometric
variance with the weights squared as above, summed over strata. (SAS takes a
generalised inverse of V where survdiff drops the first group; they agree whenever V
restricted to the groups with E > 0 has rank groups - 1, as it has whenever the test exists.)

- ``logrank_test``: chisq = (O - E)' V^- (O - E) over the groups with E > 0,
  dropping the first (R's ``solve(vv, temp2)``), df = (groups with E > 0) - 1.
  Reproduces ``survdiff``'s chisq, df, pvalue, rowSums(obs), rowSums(exp) and var.
- ``pairwise_logrank``: the same test on each pair of arms alone (same strata);
  ``p_holm`` is ``p.adjust(p, method = "holm")`` over the pairs whose test exists.
- ``trend_test``: the 1-df test for a monotone trend across ordered groups with
  scores s (TRT01AN): U = sum_g s_g (O_g - E_g), Var U = s' V s, chisq = U^2 / Var U
  (Collett, Modelling Survival Data, 3rd ed., 2.7), O, E and V summed over strata.

Test names: "log-rank" (rho = gamma = 0), "G-rho" (gamma = 0, R's name),
"Fleming-Harrington(rho, gamma)" otherwise. The ``strata`` column of the frames holds
``strata_label`` (by default the name of the strata column), null when unstratified.

The counting is one sort of the times, one stable sort of the stratum codes and one
``bincount`` over (stratum, time, group) cells; the variance is one matrix product over
cells x groups; the only Python loop is over strata. 1,000,000 subjects in 3 groups and 4
strata: about 0.17 s of CPU for the stratified test with times in whole days, 0.35 s with
1,000,000 distinct times (the former per-death-time loop took 10 s unstratified);
``pairwise_logrank`` counts the cells once for all pairs.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.analyses.multiplicity import holm
from trialkit.analyses.survival.km import SURVIVAL_DATA_HINT
from trialkit.schemas.errors import DataError, UsageError

__all__ = ["LOGRANK_SCHEMA", "PAIRWISE_SCHEMA", "TREND_SCHEMA", "Cells", "LogrankResult", "TrendResult", "count_cells",
           "holm", "logrank_test",
           "pairwise_logrank", "parse_fh", "trend_test", "weighted_test_name"]


LOGRANK_SCHEMA = {"test": pl.String, "rho": pl.Float64, "gamma": pl.Float64, "groups": pl.String, "strata": pl.String,
                  "chisq": pl.Float64, "df": pl.Int64, "p": pl.Float64, "reason": pl.String}
PAIRWISE_SCHEMA = {"arm_a": pl.String, "arm_b": pl.String, "rho": pl.Float64, "gamma": pl.Float64, "strata": pl.String,
                   "chisq": pl.Float64, "df": pl.Int64, "p": pl.Float64, "p_holm": pl.Float64, "reason": pl.String}
TREND_SCHEMA = {"rho": pl.Float64, "gamma": pl.Float64, "groups": pl.String, "strata": pl.String, "scores": pl.String,
                "u": pl.Float64, "var": pl.Float64, "chisq": pl.Float64, "df": pl.Int64, "p": pl.Float64,
                "reason": pl.String}

_WEIGHT_HINT = "use rho and gamma between 0 and a few (0, 0 is the log-rank test; rho 1 Peto-Peto)"


def weighted_test_name(rho: float, gamma: float = 0.0) -> str:
    """ "log-rank" (0, 0), "G-rho" (gamma = 0, as R survdiff) or "Fleming-Harrington(rho, gamma)"."""
    if gamma == 0:
        return "log-rank" if rho == 0 else "G-rho"
    return f"Fleming-Harrington({rho:g}, {gamma:g})"


def parse_fh(text: str) -> tuple[float, float]:
    """``--fh RHO,GAMMA`` -> (rho, gamma): two finite numbers >= 0, e.g. "0,1" or "0.5, 0.5"."""
    parts = [p.strip() for p in str(text).split(",")]
    hint = "give --fh as RHO,GAMMA, two numbers >= 0: 0,0 log-rank, 1,0 Peto-Peto, 0,1 late differences"
    if len(parts) != 2 or not all(parts):
        raise UsageError(f"--fh {text!r}: expected two numbers RHO,GAMMA separated by a comma", hint)
    try:
        rho, gamma = float(parts[0]), float(parts[1])
    except ValueError:
        raise UsageError(f"--fh {text!r}: {parts[0]!r} and {parts[1]!r} must both be numbers", hint) from None
    if not (math.isfinite(rho) and math.isfinite(gamma)):
        raise UsageError(f"--fh {text!r}: rho and gamma must be finite numbers", hint)
    if rho < 0 or gamma < 0:
        raise UsageError(f"--fh {text!r}: rho and gamma must not be negative", hint)
    return rho, gamma


@dataclass(frozen=True)
class LogrankResult:
    """survdiff's output summed over strata: per-group observed, expected, variance matrix, and the test (None when it
    does not exist). ``strata`` is the description of the strata (None when unstratified)."""

    groups: tuple[str, ...]
    rho: float
    observed: tuple[float, ...]
    expected: tuple[float, ...]
    variance: tuple[tuple[float, ...], ...]
    chisq: float | None
    df: int
    p: float | None
    reason: str | None = None
    gamma: float = 0.0
    strata: str | None = None

    @property
    def test(self) -> str:
        """The test's name: "log-rank", "G-rho" or "Fleming-Harrington(rho, gamma)"."""
        return weighted_test_name(self.rho, self.gamma)

    def to_frame(self) -> pl.DataFrame:
        return pl.DataFrame([{"test": self.test, "rho": self.rho, "gamma": self.gamma, "groups": ", ".join(self.groups),
                              "strata": self.strata, "chisq": self.chisq, "df": self.df, "p": self.p,
                              "reason": self.reason}], schema=LOGRANK_SCHEMA)

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
    gamma: float = 0.0
    strata: str | None = None

    def to_frame(self) -> pl.DataFrame:
        return pl.DataFrame([{"rho": self.rho, "gamma": self.gamma, "groups": ", ".join(self.groups),
                              "strata": self.strata, "scores": ", ".join(f"{s:g}" for s in self.scores), "u": self.u,
                              "var": self.var, "chisq": self.chisq, "df": self.df, "p": self.p, "reason": self.reason}],
                            schema=TREND_SCHEMA)


def _chisq_sf(x: float, df: int) -> float:
    from trialkit.analyses.probability import chisq_upper

    return chisq_upper(x, df)


def _option(rho: float, gamma: float) -> str:
    """The CLI option that set these weights, for error messages: "--rho 1" or "--fh 0.5,0.5"."""
    return f"--rho {rho:g}" if gamma == 0 else f"--fh {rho:g},{gamma:g}"


def _label(strata: str | None, strata_label: str | None) -> str | None:
    if strata is None:
        if strata_label is not None:
            raise UsageError(f"a strata label ({strata_label!r}) was given without a strata column",
                             "pass strata= (the column of the subjects' strata) with strata_label=")
        return None
    return strata if strata_label is None else strata_label


class Cells(NamedTuple):
    """Subjects (``n``) and events (``d``) per group x (stratum, time) cell, cells sorted by stratum then time;
    ``start``: the first cell of each stratum; ``groups`` and ``strata``: what was counted."""

    n: np.ndarray
    d: np.ndarray
    start: np.ndarray
    groups: tuple[str, ...]
    strata: str | None


def count_cells(data: pl.DataFrame, groups: list[str], strata: str | None = None) -> Cells:
    """The counts every log-rank statistic of these groups and strata is made of (``Cells``): count once, then
    pass them to ``logrank_test``, ``pairwise_logrank`` and ``trend_test`` as ``cells``.

    One sort of the times, one stable (radix) sort of the stratum codes, one bincount.
    """
    cols = ("TRT01A", "AVAL", "CNSR") if strata is None else ("TRT01A", "AVAL", "CNSR", strata)
    require_columns(data, cols, dataset="the survival data", purpose="the log-rank test", hint=SURVIVAL_DATA_HINT)
    if len(set(groups)) != len(groups):
        raise UsageError(f"the groups to compare repeat a name: {', '.join(groups)}", "name each arm once")
    k = len(groups)
    gcode = data["TRT01A"].cast(pl.String).cast(pl.Enum(groups), strict=False).to_physical().to_numpy()
    mine = ~np.isnan(gcode) if gcode.dtype.kind == "f" else np.ones(len(gcode), dtype=bool)
    gcode = gcode[mine].astype(np.int64)
    blank = data.select(pl.col("AVAL", "CNSR").is_null().sum()).row(0)
    if any(blank):
        raise DataError(f"the survival data: {blank[0]} subject(s) without AVAL and {blank[1]} without CNSR",
                        SURVIVAL_DATA_HINT)
    time = data["AVAL"].cast(pl.Float64).to_numpy()[mine]
    event = 1.0 - data["CNSR"].cast(pl.Float64).to_numpy()[mine]
    order = np.argsort(time)
    if strata is not None:
        column = data[strata].cast(pl.String)
        nulls = int(column.filter(pl.Series(mine)).null_count())
        if nulls:
            raise DataError(f"the survival data, column {strata}: {nulls} subject(s) have no stratum",
                            "leave out the subjects without a stratum before the stratified test")
        levels = column.filter(pl.Series(mine)).unique().sort().to_list()
        scode = column.cast(pl.Enum(levels), strict=False).to_physical().to_numpy()[mine]
        order = order[np.argsort(scode[order], kind="stable")]
        s_sorted = scode[order]
    t_sorted = time[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = t_sorted[1:] != t_sorted[:-1]
    first = np.ones(len(order), dtype=bool)
    if strata is not None:
        first[1:] = s_sorted[1:] != s_sorted[:-1]
        new |= first
    cell = np.cumsum(new) - 1
    ncell = int(cell[-1]) + 1 if len(cell) else 0
    code = gcode[order] * ncell + cell
    n = np.bincount(code, minlength=ncell * k).astype(float).reshape(k, ncell)
    d = np.bincount(code, weights=event[order], minlength=ncell * k).reshape(k, ncell)
    start = cell[first] if strata is not None else np.zeros(min(ncell, 1), dtype=np.int64)
    return Cells(n, d, start, tuple(groups), strata)


def _counted(data: pl.DataFrame, groups: list[str], strata: str | None, cells: Cells | None) -> Cells:
    if cells is None:
        return count_cells(data, groups, strata)
    if cells.groups != tuple(groups) or cells.strata != strata:
        raise ValueError("the cells were counted for other groups or strata")  # a trialkit bug, not the user's
    return cells


def _sums(n: np.ndarray, d_g: np.ndarray, start: np.ndarray, rho: float,
          gamma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed, expected and variance matrix (summed over strata) from the cell counts of ``count_cells``.

    Cells where none of these groups is (a pair out of all groups) count for nothing.
    """
    if not (math.isfinite(rho) and math.isfinite(gamma)):
        raise UsageError(f"{_option(rho, gamma)}: the weights need finite numbers", _WEIGHT_HINT)
    k, ncell = n.shape
    if not ncell:
        return np.zeros(k), np.zeros(k), np.zeros((k, k))
    end = np.r_[start[1:], ncell]
    at_risk = np.cumsum(n[:, ::-1], axis=1)[:, ::-1]  # AVAL >= t, from the last cell of all strata
    big_n = np.empty(ncell)
    km_left = np.empty(ncell)  # pooled S(t-) of each stratum
    d_all = d_g.sum(axis=0)
    for a, b in zip(start, end):  # one short loop over strata
        if b < ncell:
            at_risk[:, a:b] -= at_risk[:, b:b + 1]  # within the stratum only
        big_n[a:b] = at_risk[:, a:b].sum(axis=0)
        factor = np.divide(big_n[a:b - 1] - d_all[a:b - 1], big_n[a:b - 1], out=np.ones(b - a - 1),
                           where=big_n[a:b - 1] > 0)  # no one at risk (a pair out of all groups): no step
        km_left[a] = 1.0
        km_left[a + 1:b] = np.cumprod(factor)
    # every cell takes part; those without a death (d = 0) add 0 to O, E and V
    death = d_all > 0
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        weight = np.where(death, km_left ** rho * (1.0 - km_left) ** gamma, 0.0)
        if not np.isfinite(weight).all():  # a negative rho or gamma
            raise UsageError(f"{_option(rho, gamma)}: the weights S(t-)^rho (1 - S(t-))^gamma are not finite "
                             "on these data", _WEIGHT_HINT)
        wd_n = np.divide(weight * d_all, big_n, out=np.zeros(ncell), where=death)
        obs = d_g @ weight
        exp = at_risk @ wd_n
        # c_j = w^2 d (N - d) / (N (N - 1)) where N > 1, and V = sum_j c_j (diag(n_j) - n_j n_j' / N_j)
        c = np.divide(wd_n * weight * (big_n - d_all), big_n - 1, out=np.zeros(ncell), where=death & (big_n > 1))
        var = np.diag(at_risk @ c) - (at_risk * np.divide(c, big_n, out=np.zeros(ncell), where=c != 0)) @ at_risk.T
    if not (np.isfinite(obs).all() and np.isfinite(exp).all() and np.isfinite(var).all()):
        raise UsageError(f"{_option(rho, gamma)}: the weights are too large to compute the test on these data",
                         _WEIGHT_HINT)
    return obs, exp, var


def _test(groups: list[str], rho: float, gamma: float, label: str | None, obs: np.ndarray, exp: np.ndarray,
          var: np.ndarray) -> LogrankResult:
    """survdiff's chisq over the groups with E > 0, the first dropped."""
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
                         tuple(tuple(row) for row in var.tolist()), chisq, df, p, reason, float(gamma), label)


def logrank_test(data: pl.DataFrame, groups: list[str], rho: float = 0.0, gamma: float = 0.0,
                 strata: str | None = None, strata_label: str | None = None, *, cells: Cells | None = None
                 ) -> LogrankResult:
    """The weighted log-rank test that the arms share one survival curve (within strata).

    As ``survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A + strata(...), rho=)`` for gamma = 0, and SAS LIFETEST
    ``TEST=FLEMING(rho, gamma)`` otherwise. ``strata`` names a String column of ``data`` holding each subject's
    stratum (no nulls); ``strata_label`` describes it in the result (default: the column's name).
    """
    if len(groups) < 2:
        raise DataError(f"a log-rank test needs two groups, but only {len(groups)} was given",
                        "select at least two arms with --arm (or none for all)")
    label = _label(strata, strata_label)
    c = _counted(data, groups, strata, cells)
    return _test(groups, rho, gamma, label, *_sums(c.n, c.d, c.start, rho, gamma))


def pairwise_logrank(data: pl.DataFrame, groups: list[str], rho: float = 0.0, gamma: float = 0.0,
                     strata: str | None = None, strata_label: str | None = None, *, cells: Cells | None = None
                     ) -> pl.DataFrame:
    """``PAIRWISE_SCHEMA``: each pair of arms (in dose order) tested alone, within the same strata; Holm's p."""
    label = _label(strata, strata_label)
    if len(groups) < 2:
        return pl.DataFrame(schema=PAIRWISE_SCHEMA)
    n, d, start = _counted(data, groups, strata, cells)[:3]  # once: each pair is its two columns
    rows = []
    for (i, a), (j, b) in itertools.combinations(enumerate(groups), 2):
        res = _test([a, b], rho, gamma, label, *_sums(n[[i, j]], d[[i, j]], start, rho, gamma))
        rows.append({"arm_a": a, "arm_b": b, "rho": float(rho), "gamma": float(gamma), "strata": label,
                     "chisq": res.chisq, "df": res.df, "p": res.p, "reason": res.reason})
    for r, q in zip(rows, holm([r["p"] for r in rows])):
        r["p_holm"] = q
    return pl.DataFrame(rows, schema=PAIRWISE_SCHEMA)


def trend_test(data: pl.DataFrame, groups: list[str], scores: list[float], rho: float = 0.0, gamma: float = 0.0,
               strata: str | None = None, strata_label: str | None = None, *, cells: Cells | None = None
               ) -> TrendResult:
    """The 1-df test for a trend in hazards across ordered groups with the given scores (TRT01AN), within strata."""
    if len(groups) < 2 or len(scores) != len(groups):
        raise DataError(f"a trend test needs two or more groups with one score each, got {len(groups)} group(s) "
                        f"and {len(scores)} score(s)", "select at least two arms that have TRT01AN")
    label = _label(strata, strata_label)
    c = _counted(data, groups, strata, cells)
    obs, exp, var = _sums(c.n, c.d, c.start, rho, gamma)
    s = np.asarray(scores, dtype=float)
    u = float(s @ (obs - exp))
    v = float(s @ var @ s)
    if not v > 0:
        return TrendResult(tuple(groups), tuple(s.tolist()), float(rho), u, v, None, None,
                           reason="Var U is 0: no event where groups with different scores are at risk",
                           gamma=float(gamma), strata=label)
    chisq = u * u / v
    return TrendResult(tuple(groups), tuple(s.tolist()), float(rho), u, v, chisq, _chisq_sf(chisq, 1),
                       gamma=float(gamma), strata=label)
