"""Cox proportional hazards: the arm against a reference arm, with strata and covariates.

Each number is R's, from ``fit <- coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A + <covariates> + strata(<strata>),
data, ties = "efron" | "breslow")`` (the engine: ``coxfit.fit_cox``; the design: ``modeldata.model_data``):

- terms: coef = ``coef(fit)``, se = ``sqrt(diag(vcov(fit)))`` (Wald, from the observed information at
  the MLE), hr, lower, upper = ``summary(fit, conf.int = conf_level)$conf.int``: exp(b), exp(b -/+ z se),
  p = ``summary(fit)$coefficients[, "Pr(>|z|)"]``, 2 (1 - Phi(|b / se|));
- tests: ``summary(fit)``'s likelihood ratio (``$logtest``), Wald (``$waldtest``) and
  "Score (logrank) test" (``$sctest``): chisq, df, p.

Not estimable, with the reason instead of numbers:
- an arm without events: its HR is 0 (the MLE is at -infinity). Its row is not estimable and the other
  estimates are the limit of the MLE, which is the fit without that arm's subjects
  (R: ``coxph(..., subset = TRT01A != arm)``);
- a reference arm without events: every HR against it is infinite (nothing is fitted);
- separation beyond that (monotone likelihood): R's test, a Newton step |V u| > 1e-9 and
  > sqrt(1e-9) |b| at the reported b, for a |b| > 10 (coxph's "coefficient may be infinite");
- no convergence in 100 iterations, or a singular information matrix;
- a design column aliased with earlier ones (R reports NA for it).

``cox_by_group`` keeps the treatment-only view (one row per non-reference arm, ``COX_COLUMNS``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.analyses.survival.coxfit import CoxFit, CoxProblem, fit_cox
from trialkit.analyses.survival import coxfit
from trialkit.analyses.survival.km import SURVIVAL_DATA_HINT
from trialkit.analyses.survival.modeldata import ModelData, model_data

__all__ = ["COX_COLUMNS", "COX_TERM_COLUMNS", "COX_TEST_COLUMNS", "CoxResult", "cox_by_group", "cox_model",
           "cox_information", "arm_view"]

#: the treatment-only view: one row per non-reference arm (what the report and ARD read)
COX_COLUMNS = {"arm": pl.String, "reference": pl.String, "ties": pl.String, "coef": pl.Float64, "se": pl.Float64,
               "hr": pl.Float64, "lower": pl.Float64, "upper": pl.Float64, "p": pl.Float64, "conf_level": pl.Float64,
               "estimable": pl.Boolean, "reason": pl.String}
#: one row per coefficient: treatment arms, then each covariate's levels (level null for a numeric covariate)
COX_TERM_COLUMNS = {"term": pl.String, "level": pl.String, "reference": pl.String, "coef": pl.Float64,
                    "se": pl.Float64, "hr": pl.Float64, "lower": pl.Float64, "upper": pl.Float64, "p": pl.Float64,
                    "conf_level": pl.Float64, "ties": pl.String, "estimable": pl.Boolean, "reason": pl.String}
#: summary(fit)'s three global tests
COX_TEST_COLUMNS = {"test": pl.String, "chisq": pl.Float64, "df": pl.Int64, "p": pl.Float64, "n": pl.Int64,
                    "events": pl.Int64, "strata": pl.String, "ties": pl.String}
TESTS = ("likelihood ratio", "Wald", "score (log-rank)")
_EPS = 1e-9
_MAX_ITER = 100


@dataclass(frozen=True, eq=False)
class CoxResult:
    """A fitted Cox model: its coefficients (``terms``), global tests (``tests``), the engine's fit and notes."""

    terms: pl.DataFrame
    tests: pl.DataFrame
    fit: CoxFit | None
    notes: tuple[str, ...]


def arm_view(terms: pl.DataFrame) -> pl.DataFrame:
    """The treatment rows of a ``COX_TERM_COLUMNS`` frame as ``COX_COLUMNS`` (arm = level)."""
    rows = terms.filter(pl.col("term") == "TRT01A").rename({"level": "arm"})
    return rows.select(list(COX_COLUMNS)).cast(COX_COLUMNS)


def cox_information(x: np.ndarray, time: np.ndarray, event: np.ndarray, beta: np.ndarray,
                    ties: str = "efron", strata: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """Log partial likelihood, score vector and observed information at ``beta`` (the former signature;
    ``coxfit.cox_information`` takes time, event, x first)."""
    return coxfit.cox_information(time, event, x, beta, strata, ties)


def _z(conf_level: float) -> float:
    from trialkit.analyses.probability import conf_z

    return conf_z(conf_level)


def _separated(fit: CoxFit) -> np.ndarray:
    """coxph's infinite-coefficient check at the reported b (its warning), for |b| > 10."""
    keep = ~fit.aliased
    step = np.zeros(len(fit.coef))
    v = fit.var[np.ix_(keep, keep)]
    step[keep] = np.abs(v @ fit.score[keep])
    b = np.abs(np.nan_to_num(fit.coef))
    return keep & (b > 10) & (step > _EPS) & (step > math.sqrt(_EPS) * b)


def _tests(fit: CoxFit | None, md: ModelData, ties: str) -> pl.DataFrame:
    from trialkit.analyses.probability import chisq_upper

    rows = []
    for name, attr in zip(TESTS, ("lr_test", "wald_test", "score_test")):
        chisq = None if fit is None else getattr(fit, attr)
        ok = chisq is not None and np.isfinite(chisq) and fit.df > 0
        rows.append({"test": name, "chisq": float(chisq) if ok else None, "df": fit.df if fit is not None else None,
                     "p": chisq_upper(max(chisq, 0.0), fit.df) if ok else None,
                     "n": fit.n if fit is not None else md.frame.height,
                     "events": fit.events if fit is not None else int(md.event.sum()),
                     "strata": md.strata_label, "ties": ties})
    return pl.DataFrame(rows, schema=COX_TEST_COLUMNS)


def cox_model(md: ModelData, ties: str = "efron", conf_level: float = 0.95) -> CoxResult:
    """Fit the model ``md`` describes; one ``terms`` row per design column, three ``tests`` rows (module docstring)."""
    trt = md.terms[0]
    events = md.event
    # events per arm from the treatment dummies (the design's first columns): no pass over the arm names
    per_arm = events @ md.x[:, :len(trt.columns)]
    ev = {md.reference: float(events.sum() - per_arm.sum()), **dict(zip(trt.levels, per_arm.tolist()))}
    cols = [(t, lev, col) for t in md.terms for lev, col in zip(t.levels, t.columns)]
    base = {"coef": None, "se": None, "hr": None, "lower": None, "upper": None, "p": None,
            "conf_level": float(conf_level), "ties": ties, "estimable": False, "reason": None}
    rows = {col: {"term": t.name, "level": lev, "reference": t.reference, **base} for t, lev, col in cols}
    notes: list[str] = []

    def finish(fit: CoxFit | None) -> CoxResult:
        terms = pl.DataFrame([rows[c] for _, _, c in cols], schema=COX_TERM_COLUMNS) if cols \
            else pl.DataFrame(schema=COX_TERM_COLUMNS)
        return CoxResult(terms, _tests(fit, md, ties), fit, tuple(notes))

    if ev[md.reference] == 0:
        why = f"no events in the reference arm {md.reference}: every hazard ratio against it is infinite"
        for _, _, c in cols:
            rows[c]["reason"] = why if c in trt.columns else f"not fitted: {why}"
        notes.append(why)
        return finish(None)
    empty = [g for g in trt.levels if ev[g] == 0]
    for g, c in zip(trt.levels, trt.columns):
        if g in empty:
            rows[c]["reason"] = f"no events in {g}: its hazard ratio is 0 (monotone likelihood), not estimable"
    note = f"fitted without {', '.join(empty)} (no events): the limit of the MLE" if empty else None
    if note:
        notes.append(note)
    fit_cols = [c for c in md.columns if c not in {trt.columns[trt.levels.index(g)] for g in empty}]
    time, x, strata = md.time, md.x, md.strata_codes
    if empty:  # the arms without events leave the fit, rows and columns
        keep_rows = ~md.frame["TRT01A"].is_in(empty).to_numpy()
        x = x[keep_rows][:, [md.columns.index(c) for c in fit_cols]]
        time, events = time[keep_rows], events[keep_rows]
        strata = None if strata is None else strata[keep_rows]
    failure, fit = None, None
    try:
        fit = fit_cox(time, events, x, strata, ties, max_iter=_MAX_ITER, tol=_EPS)
        if not fit.converged:
            failure = f"the Cox model did not converge in {_MAX_ITER} iterations"
        else:
            sep = _separated(fit)
            if sep.any():
                names = [dict(zip(trt.columns, trt.levels)).get(c, c) for c, s in zip(fit_cols, sep) if s]
                failure = (f"monotone likelihood (separation) for {', '.join(names)}: a hazard ratio is infinite "
                           "or 0, the model is not estimable")
    except CoxProblem as exc:
        failure = f"the Cox model cannot be fitted ({exc})"
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
        failure = f"the Cox model cannot be fitted ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    if failure:
        notes.append(failure)
    from trialkit.analyses.probability import normal_two_sided_p

    z = _z(conf_level)
    for k, c in enumerate(fit_cols):
        if failure:
            rows[c]["reason"] = failure
            continue
        b, v = fit.coef[k], fit.var[k, k]
        if fit.aliased[k]:
            rows[c]["reason"] = "aliased with other columns of the model (R reports NA): not estimable"
            continue
        if not (np.isfinite(b) and np.isfinite(v) and v > 0):
            rows[c]["reason"] = "the information matrix is singular"
            continue
        b, se = float(b), math.sqrt(v)
        rows[c].update(coef=b, se=se, hr=math.exp(b), lower=math.exp(b - z * se), upper=math.exp(b + z * se),
                       p=normal_two_sided_p(b / se), estimable=True, reason=note if c in trt.columns else None)
    return finish(fit if fit is not None and fit.converged else None)


def cox_by_group(data: pl.DataFrame, groups: list[str], reference: str, ties: str = "efron",
                 conf_level: float = 0.95) -> pl.DataFrame:
    """One row per non-reference arm (``COX_COLUMNS``) of ``coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A, ties=)``."""
    require_columns(data, ("TRT01A", "AVAL", "CNSR"), dataset="the survival data", purpose="the Cox model",
                    hint=SURVIVAL_DATA_HINT)
    return arm_view(cox_model(model_data(data, groups, reference), ties, conf_level).terms)
