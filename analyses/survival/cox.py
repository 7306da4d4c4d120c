"""Cox proportional hazards with the arm as a factor against a reference arm.

The coefficients are the unpenalised partial-likelihood MLE fitted by
scikit-survival (``CoxPHSurvivalAnalysis(alpha=0, ties=...)``: Newton-Raphson
from 0 with step-halving, stopping when the log-likelihood changes by less
than 1e-9 relatively, as R's ``coxph``). Standard errors are Wald, from the
observed information at the MLE, computed here for Efron's or Breslow's
handling of ties: with w = exp(x'b), at an event time with the d tied events
D and the risk set R, for l = 0..d-1 (Breslow: l/d replaced by 0)

    phi_l = sum_R w - (l/d) sum_D w,   a_l = same sums of w x,   B_l = of w x x'
    score  = sum_D x - sum_l a_l / phi_l
    info   = sum_l B_l / phi_l - a_l a_l' / phi_l^2

HR = exp(b), CI = exp(b -/+ z se), p = 2 (1 - Phi(|b / se|)): R's
``summary(coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A, ties=))``.

Not estimable, with the reason instead of numbers:
- an arm without events: its HR is 0 (the MLE is at -infinity). Its row is
  not estimable and the other arms' HRs are the limit of the MLE, which is the
  fit without that arm (R: ``coxph(..., subset = TRT01A != arm)``);
- a reference arm without events: every HR against it is infinite;
- separation beyond that (monotone likelihood): R's test, a Newton step
  |V u| > 1e-9 and > sqrt(1e-9) |b| at the reported b, for a |b| > 10;
- no convergence in 100 iterations, or a singular information matrix.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.schemas.errors import DataError
from trialkit.analyses.survival.km import SURVIVAL_DATA_HINT

__all__ = ["COX_COLUMNS", "cox_by_group", "cox_information"]

COX_COLUMNS = {"arm": pl.String, "reference": pl.String, "ties": pl.String, "coef": pl.Float64, "se": pl.Float64,
               "hr": pl.Float64, "lower": pl.Float64, "upper": pl.Float64, "p": pl.Float64, "conf_level": pl.Float64,
               "estimable": pl.Boolean, "reason": pl.String}
_EPS = 1e-9


def cox_information(x: np.ndarray, time: np.ndarray, event: np.ndarray, beta: np.ndarray,
                    ties: str = "efron") -> tuple[float, np.ndarray, np.ndarray]:
    """Log partial likelihood, score vector and observed information matrix at ``beta``."""
    p = x.shape[1]
    eta = x @ beta
    w = np.exp(eta - eta.max())  # scaled for stability; the sums below are ratios, loglik corrected at the end
    loglik, score, info = 0.0, np.zeros(p), np.zeros((p, p))
    order = np.argsort(-time, kind="stable")
    x, time, event, w, eta = x[order], time[order], event[order], w[order], eta[order]
    s0, s1, s2 = 0.0, np.zeros(p), np.zeros((p, p))
    i, n = 0, len(time)
    while i < n:
        j = i
        while j < n and time[j] == time[i]:
            j += 1
        block = slice(i, j)
        wx = w[block, None] * x[block]
        s0 += w[block].sum()
        s1 += wx.sum(axis=0)
        s2 += x[block].T @ wx
        dead = event[block] > 0
        d = int(dead.sum())
        if d:
            xd, wd = x[block][dead], w[block][dead]
            d0, d1, d2 = wd.sum(), (wd[:, None] * xd).sum(axis=0), xd.T @ (wd[:, None] * xd)
            loglik += eta[block][dead].sum()
            score += xd.sum(axis=0)
            for l in range(d):
                f = l / d if ties == "efron" else 0.0
                phi, a, b = s0 - f * d0, s1 - f * d1, s2 - f * d2
                loglik -= math.log(phi) + eta.max()
                score -= a / phi
                info += b / phi - np.outer(a, a) / phi**2
        i = j
    return loglik, score, info


def _row(arm, reference, ties, conf_level, **values) -> dict:
    base = {"arm": arm, "reference": reference, "ties": ties, "coef": None, "se": None, "hr": None, "lower": None,
            "upper": None, "p": None, "conf_level": float(conf_level), "estimable": False, "reason": None}
    return {**base, **values}


def _fit(x: np.ndarray, time: np.ndarray, event: np.ndarray, ties: str) -> np.ndarray:
    from sklearn.exceptions import ConvergenceWarning
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    y = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = event > 0, time
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = CoxPHSurvivalAnalysis(alpha=0, ties=ties, n_iter=100, tol=1e-9)
        model.fit(x, y)
    return np.asarray(model.coef_, dtype=float)


def cox_by_group(data: pl.DataFrame, groups: list[str], reference: str, ties: str = "efron",
                 conf_level: float = 0.95) -> pl.DataFrame:
    """One row per non-reference arm: coef, se, hr, lower, upper, p (Wald), estimable, reason."""
    require_columns(data, ("TRT01A", "AVAL", "CNSR"), dataset="the survival data", purpose="the Cox model",
                    hint=SURVIVAL_DATA_HINT)
    if reference not in groups:
        raise DataError(f"the reference arm {reference!r} is not among the analysed arms", "pick one of: " + ", ".join(groups))
    from scipy.special import ndtr, ndtri

    others = [g for g in groups if g != reference]
    events = {g: int((1 - data.filter(pl.col("TRT01A") == g)["CNSR"]).sum()) for g in groups}
    row = lambda g, **v: _row(g, reference, ties, conf_level, **v)  # noqa: E731
    if events[reference] == 0:
        why = f"no events in the reference arm {reference}: every hazard ratio against it is infinite"
        return _frame([row(g, reason=why) for g in others])
    fitted = [g for g in others if events[g] > 0]
    rows = {g: row(g, reason=f"no events in {g}: its hazard ratio is 0 (monotone likelihood), not estimable")
            for g in others if events[g] == 0}
    note = f"fitted without {', '.join(rows)} (no events): the limit of the MLE" if rows else None
    if fitted:
        sub = data.filter(pl.col("TRT01A").is_in([reference, *fitted]))
        labels = sub["TRT01A"].to_list()
        x = np.array([[1.0 if lab == g else 0.0 for g in fitted] for lab in labels])
        time = sub["AVAL"].to_numpy().astype(float)
        event = (1 - sub["CNSR"].to_numpy()).astype(float)
        failure = None
        try:
            beta = _fit(x, time, event, ties)
            _, u, info = cox_information(x, time, event, beta, ties)
            var = np.linalg.inv(info)
            step = np.abs(var @ u)
            diverging = [g for g, b, s in zip(fitted, beta, step) if abs(b) > 10 and s > _EPS and s > math.sqrt(_EPS) * abs(b)]
            if diverging:
                failure = (f"monotone likelihood (separation) for {', '.join(diverging)}: a hazard ratio is infinite or 0, "
                           "the model is not estimable")
        except Warning:
            failure = "the Cox model did not converge in 100 iterations"
        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
            failure = f"the Cox model cannot be fitted ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        z = float(ndtri(1 - (1 - conf_level) / 2))
        for k, g in enumerate(fitted):
            if failure or not (np.isfinite(beta[k]) and var[k, k] > 0):
                rows[g] = row(g, reason=failure or "the information matrix is singular")
                continue
            b, se = float(beta[k]), math.sqrt(var[k, k])
            rows[g] = row(g, coef=b, se=se, hr=math.exp(b), lower=math.exp(b - z * se), upper=math.exp(b + z * se),
                          p=float(2 * ndtr(-abs(b / se))), estimable=True, reason=note)
    return _frame([rows[g] for g in others])


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=COX_COLUMNS) if rows else pl.DataFrame(schema=COX_COLUMNS)
