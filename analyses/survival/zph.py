"""The proportional-hazards check of a fitted Cox model: R's ``cox.zph`` (survival 3.x).

Reproduces ``cox.zph(fit, transform = "km" | "rank" | "identity" | "log")`` (``terms = TRUE``: a factor's
dummies form one multi-df test) for a fit ``coxph(Surv(time, event) ~ x + strata(s), ties = "efron" |
"breslow")``, given the fitted coefficients. Since survival 3.0 the test is a score test, not the old
correlation of residuals with time: at the fitted b, add to the model the p columns x g(t), where g is the
transformed event time centred on its mean over the events, and test their coefficients at 0. With the
risk-set means and variances of x at each death (Efron: the d tied deaths leave the risk set in d steps,
fractions (k+1)/d of their weight, k = 0..d-1, each step a weight 1/d of the deaths; Breslow: d times the
full risk set)

    mean_k = sum_R w x / sum_R w,   V_k = sum_R w x x' / sum_R w - mean_k mean_k',   w = exp(x'b)
    U      = sum_deaths g x - sum_k g mean_k                       (the added columns' score)
    I      = [[sum V_k, sum g V_k], [sum g V_k, sum g^2 V_k]]       (the full 2p x 2p information)

the statistic of a term with columns J is u' I[K, K]^-1 u with K = (1..p, p + J) and u = (0, U_J): the
score of the fitted columns is 0 at the MLE, and the full information accounts for the estimated b.
The GLOBAL row tests all p added columns (df = p). p = ``pchisq(chisq, df, lower.tail = FALSE)``.

g is the event time transformed: "km" 1 - S(t-) of the pooled Kaplan-Meier (left-continuous, strata
ignored, as ``cox.zph`` computes it), "rank" the average rank of t among all subjects' times, "identity"
t, "log" log t.

The scaled Schoenfeld residuals are ``cox.zph(fit, transform, terms = FALSE)$y`` (one per event per
design column): the Schoenfeld residual x_i - mean (Efron: the average of the d step means) times the
inverse of ``vmean = I11 / w``, w[i, j] = sum over strata of min(used_i, used_j) and used_j = the events of
the stratum when column j varies within it (else 0, and the residual is NA there), plus b. ``var`` of the
``columns`` frame is diag(vmean^-1), the variance ``plot.cox.zph`` uses for its 2-SE band.

survival 3.x recomputes the information at the fitted coefficients, so the fit's variance matrix is not
used (only its shape is checked). Unit case weights; right-censored data (``Surv(time, event)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from trialkit.analyses.formatting import format_p_statement, printable
from trialkit.schemas.errors import DataError, UsageError

__all__ = ["TRANSFORMS", "TIES", "ZPH_TABLE_COLUMNS", "ZPH_RESIDUAL_COLUMNS", "ZPH_COLUMN_COLUMNS", "ZphResult",
           "cox_zph", "zph_note"]

TRANSFORMS = ("km", "rank", "identity", "log")
TIES = ("efron", "breslow")
ZPH_TABLE_COLUMNS = {"term": pl.String, "chisq": pl.Float64, "df": pl.Int64, "p": pl.Float64,
                     "transform": pl.String}
ZPH_RESIDUAL_COLUMNS = {"time": pl.Float64, "transformed_time": pl.Float64, "stratum": pl.Int64,
                        "term": pl.String, "column": pl.String, "residual": pl.Float64}
ZPH_COLUMN_COLUMNS = {"column": pl.String, "term": pl.String, "coef": pl.Float64, "var": pl.Float64}
_HINT = "pass the data and the coefficients of the Cox fit the check is for"


@dataclass(frozen=True)
class ZphResult:
    """``table``: one row per term, then GLOBAL (term, chisq, df, p, transform).

    ``residuals``: one row per event per design column, columns first, events in R's order (stratum, time,
    input order): time, transformed_time, stratum (the given integer code; for text labels their position
    among the sorted labels; None without strata), term, column, residual (None where
    the column is constant within the event's stratum). ``columns``: one row per design column: column,
    term, coef, var (of its scaled residuals). ``transform`` and ``ties`` as given.
    """

    table: pl.DataFrame
    residuals: pl.DataFrame
    columns: pl.DataFrame
    transform: str
    ties: str


def _as_inputs(time, event, x, strata, coef, var):
    try:
        time = np.asarray(time, dtype=float).ravel()
        event = np.asarray(event, dtype=float).ravel()
        x = np.asarray(x, dtype=float)
        coef = np.asarray(coef, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise DataError(f"cox_zph needs numbers for time, event, x and coef ({exc})", _HINT) from None
    n = time.size
    if x.ndim == 1:
        x = x.reshape(n, -1) if n else x.reshape(0, 1)
    if x.ndim != 2 or x.shape[0] != n or event.size != n:
        raise DataError(f"cox_zph: time ({n}), event ({event.size}) and the rows of x ({x.shape[0]}) differ in "
                        "length", "pass one value of each per subject")
    p = x.shape[1]
    if p == 0 or coef.size != p:
        raise DataError(f"cox_zph: {coef.size} coefficients for {p} design columns", _HINT)
    if not (np.isfinite(time).all() and np.isfinite(x).all() and np.isfinite(coef).all()):
        raise DataError("cox_zph: time, x and coef must be finite (no missing values)",
                        "drop the subjects with missing values before the fit")
    if not np.isin(event, (0.0, 1.0)).all():
        raise DataError("cox_zph: event must be 0 (censored) or 1 (event)", "pass 1 - CNSR")
    if var is not None and np.shape(var) != (p, p):
        raise DataError(f"cox_zph: the variance matrix is {np.shape(var)}, not {p} x {p}", _HINT)
    if strata is None:
        codes = np.zeros(n, dtype=np.int64)
    else:
        strata = np.asarray(strata).ravel()
        if strata.size != n:
            raise DataError(f"cox_zph: strata has {strata.size} values for {n} subjects", "pass one code per subject")
        if np.issubdtype(strata.dtype, np.integer):
            codes = strata.astype(np.int64)
        else:  # R's level order: the sorted codes
            _, codes = np.unique(strata, return_inverse=True)
            codes = codes.astype(np.int64).ravel()
    return time, event > 0, x, codes, coef


def _terms(terms, p: int, names) -> tuple[list[tuple[str, list[int]]], list[str]]:
    if names is not None and len(names) != p:
        raise UsageError(f"cox_zph: {len(names)} column names for {p} design columns", "give one name per column")
    if terms is None:
        terms = [(names[j] if names is not None else f"x{j + 1}", [j]) for j in range(p)]
    try:
        terms = [(str(name), [int(j) for j in cols]) for name, cols in terms]
    except (TypeError, ValueError):
        raise UsageError("cox_zph: terms must be (name, list of design column indices) pairs",
                         'e.g. [("TRT01A", [0, 1]), ("AGE", [2])]') from None
    flat = sorted(j for _, cols in terms for j in cols)
    if flat != list(range(p)) or any(not cols for _, cols in terms):
        raise UsageError(f"cox_zph: the terms must share out the {p} design columns 0..{p - 1}, each once",
                         "give each term the list of its design column indices")
    if names is None:
        names = [""] * p
        for name, cols in terms:
            for k, j in enumerate(cols):
                names[j] = name if len(cols) == 1 else f"{name}{k + 1}"
    return terms, [str(c) for c in names]


def _transform(time: np.ndarray, event: np.ndarray, transform: str) -> np.ndarray:
    if transform == "identity":
        return time.copy()
    if transform == "log":
        if (time <= 0).any():
            raise DataError("cox_zph: the log transform needs times above 0", "use transform 'km' or 'rank'")
        return np.log(time)
    # rank and km from one sort of the pooled times, in blocks of equal times
    order = np.argsort(time, kind="stable")
    ts = time[order]
    first = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]])
    size = np.diff(np.r_[first, ts.size])
    if transform == "rank":  # R's rank(): the average of the block's ranks
        per_block = first + (size + 1) / 2.0
    else:  # km: 1 - S(t-) of the pooled Kaplan-Meier curve, S just before each block's time
        deaths = np.add.reduceat(event[order].astype(float), first)
        at_risk = (ts.size - first).astype(float)
        per_block = 1.0 - np.concatenate(([1.0], np.cumprod(1.0 - deaths / at_risk)[:-1]))
    out = np.empty(time.size)
    out[order] = np.repeat(per_block, size)
    return out


def _score_parts(time, event, x, codes, coef, g, ties):
    """U (p), the 2p x 2p information, and, for the deaths sorted by (stratum, time, input order), their
    Schoenfeld residuals, their positions in the input and strata; used (strata x p) and the strata codes.

    Arrays are variables x subjects (contiguous rows). Per (stratum, time) group: the sums of w and w x over
    all its subjects and over its deaths; risk sets are reversed cumulative sums of the groups within the
    stratum. The w x x' sums are never formed per group: with c_b = sum over the steps l of group b of
    h_l / denom_l (h = 1, g, g^2), sum_l h_l S2_l / denom_l = sum_i w_i x_i x_i' C_i (C_i: the sum of c_b over
    the groups whose risk set holds i), less the deaths' own share for Efron's steps -- weighted
    cross-products of x."""
    n, p = x.shape
    # by stratum, then time; ties keep their input order, as R's order(): two stable sorts (the second on small
    # integer codes, which numpy sorts by radix) cost half of one lexsort
    order = np.argsort(time, kind="stable")
    small = codes[order]
    small = small.astype(np.int16) if small.size and 0 <= small.min() and small.max() < 2**15 else small
    order = order[np.argsort(small, kind="stable")]
    xt = np.take(x - x.mean(axis=0), order, axis=0).T.copy()  # centred, as the C code, for stabler variances
    t, e, s = time[order], event[order], codes[order]
    with np.errstate(over="raise"):
        try:
            w = np.exp(coef @ xt)
        except FloatingPointError:
            raise DataError("cox_zph: exp(x'b) overflows: the coefficients do not fit these data", _HINT) from None
    moments = np.empty((1 + p, n))
    moments[0] = w
    np.multiply(w, xt, out=moments[1:])

    new = np.ones(n, dtype=bool)
    new[1:] = (t[1:] != t[:-1]) | (s[1:] != s[:-1])
    starts = np.flatnonzero(new)                      # groups: one (stratum, time) each
    nb = starts.size
    block = np.cumsum(new) - 1                        # the group of each subject
    gs = s[starts]
    ends = np.flatnonzero(np.r_[gs[1:] != gs[:-1], True])   # the last group of each stratum
    stratum_end = np.repeat(ends, np.diff(np.r_[-1, ends]))
    stratum_first = np.repeat(np.r_[0, ends[:-1] + 1], np.diff(np.r_[-1, ends]))
    d_all = np.add.reduceat(e.astype(np.int64), starts)

    rc = np.cumsum(np.add.reduceat(moments, starts, axis=1)[:, ::-1], axis=1)[:, ::-1]
    risk = rc - np.concatenate([rc[:, 1:], np.zeros((rc.shape[0], 1))], axis=1)[:, stratum_end]
    hit = np.flatnonzero(d_all > 0)
    d, risk, gt = d_all[hit], risk[:, hit], g[order][starts[hit]]
    dead = np.flatnonzero(e)                          # sorted deaths, grouped by time as the groups hit
    first_death = np.cumsum(d) - d
    tied = np.add.reduceat(moments[:, dead], first_death, axis=1)
    del moments

    # one column per death: step k of its time's d steps (Breslow: each the full risk set)
    step_of = np.repeat(np.arange(d.size), d)
    k = np.arange(step_of.size) - first_death[step_of]
    left = 1.0 - (k + 1) / d[step_of] if ties == "efron" else np.zeros(step_of.size)  # deaths' weight still out
    sums = risk[:, step_of] - left * tied[:, step_of]
    denom = sums[0]
    if not (denom > 0).all():
        raise DataError("cox_zph: a risk set has no weight (exp(x'b) underflows)", _HINT)
    mean = sums[1:] / denom
    del sums
    gk = gt[step_of]

    xd = xt[:, dead]
    wd = w[dead]
    dead_group = np.searchsorted(hit, block[dead])    # each death's position among the groups with deaths
    u = xd @ g[order][dead] - mean @ gk
    full = []
    for h in (np.ones(step_of.size), gk, gk * gk):
        c = np.zeros(nb)
        c[hit] = np.bincount(step_of, weights=h / denom, minlength=d.size)
        cum = np.cumsum(c)
        within = cum - (cum[stratum_first] - c[stratum_first])        # sum of c over the stratum's groups up to b
        out_share = np.bincount(step_of, weights=h * left / denom, minlength=d.size)[dead_group]
        second = (xt * (w * within[block])) @ xt.T - (xd * (wd * out_share)) @ xd.T
        full.append(second - (mean * h) @ mean.T)
    imat = np.block([[full[0], full[1]], [full[1], full[2]]])
    schoen = xd - np.repeat(np.add.reduceat(mean, first_death, axis=1) / d, d, axis=1)

    sstarts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    varies = np.minimum.reduceat(xt, sstarts, axis=1) != np.maximum.reduceat(xt, sstarts, axis=1)
    used = varies.T * np.add.reduceat(e.astype(np.int64), sstarts)[:, None]
    return u, imat, schoen.T, order[dead], s[dead], used, s[sstarts]


def _solve(a: np.ndarray, b: np.ndarray, what: str) -> np.ndarray:
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        raise DataError(f"cox_zph: the information matrix of {what} is singular",
                        "drop design columns that are constant or collinear") from None


def cox_zph(time, event, x, strata, coef, var=None, ties: str = "efron", terms=None, transform: str = "km", *,
            column_names: list[str] | None = None) -> ZphResult:
    """``cox.zph(coxph(Surv(time, event) ~ x + strata(strata), ties = ties), transform = transform)``.

    ``x``: the n x p design matrix of the fit; ``strata``: a code per subject or None; ``coef``: the fitted
    coefficients; ``var``: their variance (shape-checked only: survival 3.x recomputes the information);
    ``terms``: (name, design column indices) per term (default one term per column); ``column_names``:
    one label per design column (default the term's name, numbered within a multi-column term).
    """
    if ties not in TIES:
        raise UsageError(f"cox_zph: ties {ties!r} is not one of {', '.join(TIES)}", "use efron (R's default) or breslow")
    if transform not in TRANSFORMS:
        raise UsageError(f"cox_zph: transform {transform!r} is not one of {', '.join(TRANSFORMS)}",
                         "use km (R's default), rank, identity or log")
    time, event, x, codes, coef = _as_inputs(time, event, x, strata, coef, var)
    p = x.shape[1]
    terms, names = _terms(terms, p, column_names)
    if not event.any():
        raise DataError("cox_zph: there are no events", "the check needs a Cox model fitted to events")
    tt = _transform(time, event, transform)
    g = tt - tt[event].mean()
    u, imat, schoen, dead_at, dead_stratum, used, stratum_codes = _score_parts(time, event, x, codes, coef, g, ties)

    rows = []
    for name, cols in terms:
        kk = np.r_[np.arange(p), p + np.asarray(cols)]
        uk = np.r_[np.zeros(p), u[cols]]
        rows.append((name, float(uk @ _solve(imat[np.ix_(kk, kk)], uk, f"term {name}")), len(cols)))
    uk = np.r_[np.zeros(p), u]
    rows.append(("GLOBAL", float(uk @ _solve(imat, uk, "the global test")), p))
    from trialkit.analyses.probability import chisq_upper

    table = pl.DataFrame({"term": [r[0] for r in rows], "chisq": [r[1] for r in rows], "df": [r[2] for r in rows],
                          "p": [chisq_upper(r[1], r[2]) for r in rows], "transform": transform},
                         schema=ZPH_TABLE_COLUMNS)

    # scaled residuals, per pattern of columns varying within the stratum
    weights = np.minimum(used[:, :, None], used[:, None, :]).sum(axis=0)
    vmean = imat[:p, :p] / np.where(weights == 0, 1.0, weights)
    scaled = np.full(schoen.shape, np.nan)
    stratum_row = np.searchsorted(stratum_codes, dead_stratum)
    patterns, pattern_of = np.unique(used > 0, axis=0, return_inverse=True)  # strata x p: small
    pattern_of = pattern_of.ravel()[stratum_row]
    for i, pattern in enumerate(patterns):
        kcols = np.flatnonzero(pattern)
        rows_i = np.flatnonzero(pattern_of == i)
        if kcols.size:
            scaled[np.ix_(rows_i, kcols)] = _solve(vmean[np.ix_(kcols, kcols)], schoen[np.ix_(rows_i, kcols)].T,
                                                   "the residual scaling").T
    scaled += coef
    try:
        rvar = np.diag(np.linalg.inv(vmean))
    except np.linalg.LinAlgError:
        rvar = np.full(p, np.nan)

    term_of = {j: name for name, cols in terms for j in cols}
    base = pl.DataFrame({"time": time[dead_at], "transformed_time": tt[dead_at],
                         "stratum": None if strata is None else codes[dead_at]},
                        schema={k: ZPH_RESIDUAL_COLUMNS[k] for k in ("time", "transformed_time", "stratum")})
    residuals = pl.concat([
        base.with_columns(pl.lit(term_of[j]).alias("term"), pl.lit(names[j]).alias("column"),
                          pl.Series("residual", scaled[:, j]).fill_nan(None))
        for j in range(p)]).select(list(ZPH_RESIDUAL_COLUMNS))
    columns = pl.DataFrame({"column": names, "term": [term_of[j] for j in range(p)], "coef": coef, "var": rvar},
                           schema=ZPH_COLUMN_COLUMNS)
    return ZphResult(table, residuals, columns, transform, ties)


def zph_note(result: ZphResult, alpha: float = 0.05) -> list[str]:
    """One sentence per term whose cox.zph p is below ``alpha``, with the global test's p; none when all pass."""
    table = result.table
    glob = table.filter(pl.col("term") == "GLOBAL")["p"]
    global_p = glob[0] if glob.len() else None
    notes = []
    for term, p in table.filter((pl.col("term") != "GLOBAL") & (pl.col("p") < alpha)).select("term", "p").iter_rows():
        notes.append(f"proportional hazards may not hold for {printable(term)} (cox.zph {format_p_statement(p)}); "
                     f"the global test {format_p_statement(global_p)}")
    return notes
