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

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import polars as pl

from trialkit.analyses.formatting import format_p_statement, printable
from trialkit.analyses.survival.coxfit import CoxFit, SortedProblem, risk_sums, weighted_information
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


@dataclass(frozen=True, eq=False)
class _Residuals:
    """What the scaled residuals are computed from, on demand: most runs never draw the figure that shows them."""

    time: np.ndarray          # per event, R's order
    transformed: np.ndarray
    stratum: np.ndarray | None
    schoen: np.ndarray        # events x p Schoenfeld residuals
    used: np.ndarray          # strata x p
    stratum_row: np.ndarray   # each event's row of used
    vmean: np.ndarray
    coef: np.ndarray
    names: list[str]
    term_of: dict[int, str]

    def frame(self) -> pl.DataFrame:
        """ZPH_RESIDUAL_COLUMNS: each column's residuals scaled per pattern of columns varying within the stratum."""
        scaled = np.full(self.schoen.shape, np.nan)
        patterns, pattern_of = np.unique(self.used > 0, axis=0, return_inverse=True)  # strata x p: small
        pattern_of = pattern_of.ravel()[self.stratum_row]
        for i, pattern in enumerate(patterns):
            kcols = np.flatnonzero(pattern)
            rows_i = np.flatnonzero(pattern_of == i)
            if kcols.size:
                scaled[np.ix_(rows_i, kcols)] = _solve(self.vmean[np.ix_(kcols, kcols)],
                                                       self.schoen[np.ix_(rows_i, kcols)].T, "the residual scaling").T
        scaled += self.coef
        base = pl.DataFrame({"time": self.time, "transformed_time": self.transformed, "stratum": self.stratum},
                            schema={k: ZPH_RESIDUAL_COLUMNS[k] for k in ("time", "transformed_time", "stratum")})
        return pl.concat([
            base.with_columns(pl.lit(self.term_of[j]).alias("term"), pl.lit(self.names[j]).alias("column"),
                              pl.Series("residual", scaled[:, j]).fill_nan(None))
            for j in range(len(self.names))]).select(list(ZPH_RESIDUAL_COLUMNS))


@dataclass(frozen=True, eq=False)
class ZphResult:
    """``table``: one row per term, then GLOBAL (term, chisq, df, p, transform).

    ``residuals``: one row per event per design column, columns first, events in R's order (stratum, time,
    input order): time, transformed_time, stratum (the given integer code; for text labels their position
    among the sorted labels; None without strata), term, column, residual (None where
    the column is constant within the event's stratum). ``columns``: one row per design column: column,
    term, coef, var (of its scaled residuals). ``transform`` and ``ties`` as given.
    """

    table: pl.DataFrame
    columns: pl.DataFrame
    transform: str
    ties: str
    _residuals: _Residuals = field(repr=False)

    @cached_property
    def residuals(self) -> pl.DataFrame:
        return self._residuals.frame()


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


def _block_transform(d: SortedProblem, transform: str) -> np.ndarray:
    """The transformed time of each (stratum, time) block; km and rank pool the strata, as cox.zph does."""
    t = d.block_time
    if transform == "identity":
        return t.copy()
    if transform == "log":
        if (t <= 0).any():
            raise DataError("cox_zph: the log transform needs times above 0", "use transform 'km' or 'rank'")
        return np.log(t)
    n = d.xt.shape[1]
    times, pooled = np.unique(t, return_inverse=True)   # distinct times over all strata
    pooled = pooled.ravel()
    size = np.bincount(pooled, weights=np.diff(np.r_[d.block_start, n]), minlength=times.size)
    first = np.cumsum(size) - size                       # subjects with an earlier time
    if transform == "rank":  # R's rank(): the average of the tied ranks
        per_time = first + (size + 1) / 2.0
    else:  # km: 1 - S(t-) of the pooled Kaplan-Meier curve, S just before each time
        deaths = np.bincount(pooled, weights=d.counts, minlength=times.size)
        per_time = 1.0 - np.concatenate(([1.0], np.cumprod(1.0 - deaths / (n - first))[:-1]))
    return per_time[pooled]


def _r_death_order(d: SortedProblem) -> np.ndarray:
    """The deaths (in the sorted problem's order: stratum, time descending, input order) in R's order:
    stratum, time ascending, input order -- each stratum's run of tied blocks reversed, rows kept."""
    dstart = d.dstart
    if dstart.size == 0:
        return dstart
    sizes = np.diff(np.r_[dstart, d.db.size])
    stratum = d.strata[d.pos_d[dstart]]                 # stratum of each block with deaths
    run = np.flatnonzero(np.r_[True, stratum[1:] != stratum[:-1]])
    run_len = np.diff(np.r_[run, stratum.size])
    lo = np.repeat(run, run_len)
    hi = np.repeat(run + run_len - 1, run_len)
    blocks = np.empty(stratum.size, dtype=np.int64)
    blocks[lo + hi - np.arange(stratum.size)] = np.arange(stratum.size)   # reversed within the stratum
    lens = sizes[blocks]
    offset = np.cumsum(lens) - lens
    return np.arange(d.db.size) - np.repeat(offset, lens) + np.repeat(dstart[blocks], lens)


def _score_parts(d: SortedProblem, coef: np.ndarray, g: np.ndarray):
    """U (p), the 2p x 2p information, and the Schoenfeld residuals of the deaths (sorted problem's order).

    From the risk-set sums of the Cox fit's engine at b: the information weighted by h = 1, g and g^2 per
    death (``coxfit.weighted_information``; g is constant within a block, as it must be), and U = sum_deaths
    g x - sum_steps g mean, with the steps' sum of means c1 S1 - c2 D1 per block."""
    last = d.evaluated_at(coef)  # the fit's own last evaluation, at these coefficients
    if last is None:
        r = risk_sums(d, coef)
        info, c1, c2 = weighted_information(d, r)
    else:
        r, info, c1, c2 = last
    if not (r.phi > 0).all():
        raise DataError("cox_zph: a risk set has no weight (exp(x'b) underflows)", _HINT)
    info_g, c1g, c2g = weighted_information(d, r, g)
    info_gg, _, _ = weighted_information(d, r, g * g)
    u = d.xdt @ g - c1g @ r.s1 + c2g @ r.d1
    imat = np.block([[info, info_g], [info_g, info_gg]])
    hit = d.db[d.dstart]                                # blocks with deaths
    step_mean = (c1[hit, None] * r.s1[hit] - c2[hit, None] * r.d1[hit]) / d.counts[hit, None]
    schoen = d.xdt.T - np.repeat(step_mean, d.counts[hit], axis=0)   # x minus the average of the steps' means
    return u, imat, schoen


def _used(d: SortedProblem) -> tuple[np.ndarray, np.ndarray]:
    """(strata x p) events of the stratum where the column varies within it, else 0; and the strata codes."""
    bs = d.strata[d.block_start]
    first_block = np.flatnonzero(np.r_[True, bs[1:] != bs[:-1]])
    rows = d.block_start[first_block]
    varies = (np.minimum.reduceat(d.xt, rows, axis=1) != np.maximum.reduceat(d.xt, rows, axis=1)).T
    return varies * np.add.reduceat(d.counts, first_block)[:, None], bs[first_block]


def _solve(a: np.ndarray, b: np.ndarray, what: str) -> np.ndarray:
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        raise DataError(f"cox_zph: the information matrix of {what} is singular",
                        "drop design columns that are constant or collinear") from None


def cox_zph(time, event, x, strata, coef, var=None, ties: str = "efron", terms=None, transform: str = "km", *,
            column_names: list[str] | None = None, fit: CoxFit | None = None) -> ZphResult:
    """``cox.zph(coxph(Surv(time, event) ~ x + strata(strata), ties = ties), transform = transform)``.

    ``x``: the n x p design matrix of the fit; ``strata``: a code per subject or None; ``coef``: the fitted
    coefficients; ``var``: their variance (shape-checked only: survival 3.x recomputes the information);
    ``terms``: (name, design column indices) per term (default one term per column); ``column_names``:
    one label per design column (default the term's name, numbered within a multi-column term); ``fit``:
    the ``coxfit.fit_cox`` result of these data, whose sorted rows are reused (else they are sorted here).
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
    d = fit.data if fit is not None else None
    if d is None or d.xt.shape != x.shape[::-1] or d.ties != ties or d.pos_d.size != int(event.sum()):
        d = SortedProblem(time, event, x - x.mean(axis=0), None if strata is None else codes, ties)
    tt = _block_transform(d, transform)[d.db]         # per death, the sorted problem's order
    g = tt - tt.mean()
    u, imat, schoen = _score_parts(d, coef, g)
    in_r_order = _r_death_order(d)
    schoen, tt = schoen[in_r_order], tt[in_r_order]
    dead_at = d.order[d.pos_d[in_r_order]]
    dead_stratum = codes[dead_at]
    used, stratum_codes = _used(d)

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

    weights = np.minimum(used[:, :, None], used[:, None, :]).sum(axis=0)
    vmean = imat[:p, :p] / np.where(weights == 0, 1.0, weights)
    try:
        rvar = np.diag(np.linalg.inv(vmean))
    except np.linalg.LinAlgError:
        rvar = np.full(p, np.nan)
    term_of = {j: name for name, cols in terms for j in cols}
    columns = pl.DataFrame({"column": names, "term": [term_of[j] for j in range(p)], "coef": coef, "var": rvar},
                           schema=ZPH_COLUMN_COLUMNS)
    parts = _Residuals(time[dead_at], tt, None if strata is None else dead_stratum, schoen, used,
                       np.searchsorted(stratum_codes, dead_stratum), vmean, coef, names, term_of)
    return ZphResult(table, columns, transform, ties, parts)


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
