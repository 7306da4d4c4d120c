"""Subgroup (forest) analysis: the treatment hazard ratio within each level of a variable, and its interaction test.

For each variable VAR and each of its levels (factor order: by the companion ``<VAR>N`` when present, else
sorted; subjects with a missing VAR are in none of its subgroups), and for each non-reference arm:

    coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A [+ strata(S)], data, subset = VAR == level, ties = )

gives hr, lower, upper (``summary(fit, conf.int = conf_level)$conf.int``) and p (Wald,
``summary(fit)$coefficients[, "Pr(>|z|)"]``); n and events count the subjects of that arm and of the
reference arm in the subgroup. The first rows (variable "All subjects", level null) are the same model on
every subject. Not-estimable rows (an arm without subjects or events in a subgroup, separation) carry the
reason, as ``cox.cox_model`` words it.

The interaction p of a variable is R's likelihood-ratio test

    fit0 <- coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A + VAR [+ strata(S)], data)
    fit1 <- coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A * VAR [+ strata(S)], data)
    anova(fit0, fit1)    # Chisq = 2 (loglik1 - loglik0), Df = difference in non-NA coefficients

on the subjects with VAR recorded; ``interaction_df`` is that Df. It is repeated on every row of the
variable and null on the "All subjects" rows (and when either model cannot be fitted).

``strata_col`` names a column of ``data`` holding each subject's stratum (``modeldata``'s ``_stratum``);
within a subgroup where it takes one value the model is fitted without strata.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.analyses.survival.coxfit import CoxProblem, fit_cox
from trialkit.analyses.survival.cox import cox_model
from trialkit.analyses.survival.km import SURVIVAL_DATA_HINT
from trialkit.analyses.survival.modeldata import (STRATUM, CovariateSpec, _as_text, _is_missing, factor_levels,
                                                  model_data)
from trialkit.schemas.errors import DataError, UsageError

__all__ = ["FOREST_COLUMNS", "OVERALL", "subgroup_forest"]

OVERALL = "All subjects"
FOREST_COLUMNS = {"variable": pl.String, "level": pl.String, "arm": pl.String, "reference": pl.String,
                  "n": pl.Int64, "events": pl.Int64, "hr": pl.Float64, "lower": pl.Float64, "upper": pl.Float64,
                  "p": pl.Float64, "estimable": pl.Boolean, "reason": pl.String, "p_interaction": pl.Float64,
                  "interaction_df": pl.Int64}
_MAX_LEVELS = 20


def _stratified(md, data: pl.DataFrame, strata_col: str | None):
    """``md`` with the subjects' strata from ``strata_col`` when it takes two or more values there."""
    if strata_col is None or data[strata_col].n_unique() < 2:
        return md
    frame = md.frame.with_columns(_as_text(md.frame[strata_col]).alias(STRATUM))
    return replace(md, frame=frame, strata=(strata_col,))


def _rows(data: pl.DataFrame, groups: list[str], reference: str, ties: str, conf_level: float,
          strata_col: str | None, variable: str, level: str | None) -> list[dict]:
    """One row per non-reference arm: the treatment-only Cox model on ``data``."""
    arm = data["TRT01A"]
    dead = (1 - data["CNSR"]).to_numpy()
    count = {g: (int((arm == g).sum()), int(dead[(arm == g).to_numpy()].sum())) for g in groups}
    others = [g for g in groups if g != reference]
    base = {"variable": variable, "level": level, "reference": reference, "hr": None, "lower": None,
            "upper": None, "p": None, "estimable": False, "reason": None, "p_interaction": None,
            "interaction_df": None}
    rows = {g: {**base, "arm": g, "n": count[g][0] + count[reference][0],
                "events": count[g][1] + count[reference][1]} for g in others}
    where = "" if level is None else f" with {variable} = {level}"
    if count[reference][0] == 0:
        for g in others:
            rows[g]["reason"] = f"no subjects in the reference arm {reference}{where}"
        return list(rows.values())
    present = [g for g in others if count[g][0] > 0]
    for g in others:
        if g not in present:
            rows[g]["reason"] = f"no subjects in {g}{where}"
    if present:
        md = _stratified(model_data(data, [reference, *present], reference), data, strata_col)
        terms = cox_model(md, ties, conf_level).terms
        for r in terms.iter_rows(named=True):
            rows[r["level"]].update({k: r[k] for k in ("hr", "lower", "upper", "p", "estimable", "reason")})
    return list(rows.values())


def _interaction(data: pl.DataFrame, groups: list[str], reference: str, variable: str, ties: str,
                 strata_col: str | None) -> tuple[float | None, int | None]:
    """anova(coxph(~ TRT01A + VAR), coxph(~ TRT01A * VAR)): (p, df), or (None, None) when not computable."""
    from trialkit.analyses.probability import chisq_upper

    present = [g for g in groups if (data["TRT01A"] == g).any()]
    if reference not in present or len(present) < 2:
        return None, None
    try:
        spec = CovariateSpec(variable, factor_levels(data, variable)[0])  # a factor, whatever its type
        md = _stratified(model_data(data, present, reference, covariates=[spec]), data, strata_col)
    except DataError:
        return None, None
    trt, var = md.terms[0], md.terms[1]
    xt = md.x[:, [md.columns.index(c) for c in trt.columns]]
    xv = md.x[:, [md.columns.index(c) for c in var.columns]]
    products = (xt[:, :, None] * xv[:, None, :]).reshape(len(xt), -1)
    try:
        fit0 = fit_cox(md.time, md.event, md.x, md.strata_codes, ties)
        fit1 = fit_cox(md.time, md.event, np.hstack([md.x, products]), md.strata_codes, ties)
    except (CoxProblem, ValueError, np.linalg.LinAlgError, FloatingPointError):
        return None, None
    if not (fit0.converged and fit1.converged):
        return None, None
    df = fit1.df - fit0.df
    chisq = abs(2 * (fit1.loglik - fit0.loglik))
    return (chisq_upper(chisq, df), int(df)) if df > 0 else (None, None)


def subgroup_forest(data: pl.DataFrame, variables: list[str], groups: list[str], reference: str,
                    ties: str = "efron", conf_level: float = 0.95, strata_col: str | None = None) -> pl.DataFrame:
    """Hazard ratios by subgroup and interaction p-values (``FOREST_COLUMNS``); see the module docstring."""
    require_columns(data, ("TRT01A", "AVAL", "CNSR", *variables, *([strata_col] if strata_col else [])),
                    dataset="the survival data", purpose="the subgroup analysis", hint=SURVIVAL_DATA_HINT)
    if reference not in groups:
        raise DataError(f"the reference arm {reference!r} is not among the analysed arms", "pick one of: " + ", ".join(groups))
    data = data.filter(pl.col("TRT01A").is_in(groups))
    rows = _rows(data, groups, reference, ties, conf_level, strata_col, OVERALL, None)
    for v in variables:
        if v.upper() in ("TRT01A", "TRT01AN", "TRT01P", "ARM", "ARMCD"):
            raise UsageError(f"{v} is the treatment variable: it cannot define subgroups of itself",
                             "choose a baseline characteristic such as SEX or an age group")
        known = data.filter(~_is_missing(data[v]))
        levels = factor_levels(known, v)
        if len(levels) > _MAX_LEVELS:
            raise UsageError(f"{v} has {len(levels)} distinct values: too many for subgroups",
                             f"use a grouped version of {v} (e.g. AGEGR1 for AGE)")
        p_int, df = _interaction(known, groups, reference, v, ties, strata_col)
        text = _as_text(known[v])
        for lev in levels:
            sub = known.filter(text == lev)
            for r in _rows(sub, groups, reference, ties, conf_level, strata_col, v, lev):
                rows.append({**r, "p_interaction": p_int, "interaction_df": df})
    return pl.DataFrame(rows, schema=FOREST_COLUMNS)
