"""The longitudinal model of change from baseline, one per parameter.

Model: CHG ~ BASE + group + visit + group:visit with a random intercept per subject,
fitted by REML with trialkit's own ``fit_reml_random_intercept`` (below), on every
post-baseline record with CHG and BASE: a subject with missed visits keeps the visits it
has. In R terms::

    options(contrasts = c("contr.sum", "contr.poly"))
    fit <- nlme::lme(CHG ~ BASE + TRT01A * AVISIT, random = ~ 1 | USUBJID, method = "REML")
    anova(fit, type = "marginal")

Group and visit are sum-coded (R ``contr.sum``, levels in dose and visit order), so the
group test compares the groups averaged over visits (equal weights). Term tests are Wald
F tests on the REML fit, F = b' V^-1 b / q, with the denominator degrees of freedom that
``nlme::anova.lme`` uses: terms constant within subjects (BASE, group) get
M - 1 - (their columns); terms that vary within subjects (visit, group:visit) get
N - M - (their columns), for N records of M subjects. The group x visit interaction
test asks whether the change over visits differs between groups (with dose groups, a
dose-efficacy interaction).

Model-based mean change per group and visit is the linear combination of the fixed
effects at the mean BASE of the records fitted (emmeans' default; with only two distinct BASE
values emmeans averages over the two, i.e. takes their midpoint), with a 95% t CI from the
REML covariance of the fixed effects and emmeans' df for an lme fit ("containment"): the
smallest nlme df among the coefficients the combination uses (between-subject terms make it
M - 1 - their columns). In R: ``emmeans(fit, ~ TRT01A | AVISIT)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from trialkit.analyses.groups import Arm

__all__ = ["METHOD", "FORMULA", "INTERACTION_TEST", "ModelResults", "RemlFit", "fit_change_models", "fit_change_model",
           "fit_reml_random_intercept"]

METHOD = "linear mixed model, REML, random intercept per subject"
FORMULA = "CHG ~ BASE + group + visit + group:visit + (1 | USUBJID); group and visit sum-coded"
INTERACTION_TEST = "Wald F on the REML fit, denominator df as nlme anova.lme (type = 'marginal')"


@dataclass(frozen=True)
class ModelResults:
    """``models``: one row per parameter; ``marginal_means``: per parameter, group and visit;
    ``coefficients``: the fixed effects per parameter."""

    models: pl.DataFrame
    marginal_means: pl.DataFrame
    coefficients: pl.DataFrame


MODEL_SCHEMA = {
    "param": pl.String, "method": pl.String, "formula": pl.String, "test": pl.String,
    "n_obs": pl.Int64, "n_subjects": pl.Int64, "n_groups": pl.Int64, "n_visits": pl.Int64,
    "interaction_f": pl.Float64, "interaction_df1": pl.Float64, "interaction_df2": pl.Float64, "interaction_p": pl.Float64,
    "group_f": pl.Float64, "group_df1": pl.Float64, "group_df2": pl.Float64, "group_p": pl.Float64,
    "visit_f": pl.Float64, "visit_df1": pl.Float64, "visit_df2": pl.Float64, "visit_p": pl.Float64,
    "base_mean": pl.Float64, "sigma": pl.Float64, "sd_subject": pl.Float64, "loglik_reml": pl.Float64,
    "converged": pl.Boolean, "note": pl.String,
}
MEANS_SCHEMA = {"param": pl.String, "arm": pl.String, "arm_order": pl.Int64, "visit": pl.String, "visitn": pl.Float64,
                "estimate": pl.Float64, "se": pl.Float64, "df": pl.Float64, "lower": pl.Float64, "upper": pl.Float64}
COEF_SCHEMA = {"param": pl.String, "term": pl.String, "estimate": pl.Float64, "se": pl.Float64}


def _sum_coding(codes: np.ndarray, k: int) -> np.ndarray:
    """R contr.sum: level j < k -> unit vector j; level k -> all -1."""
    out = np.zeros((len(codes), k - 1))
    for j in range(k - 1):
        out[:, j] = (codes == j).astype(float)
    out[codes == k - 1, :] = -1.0
    return out


def _design(base: np.ndarray, g: np.ndarray, v: np.ndarray, k: int, m: int) -> tuple[np.ndarray, dict[str, list[int]]]:
    """Columns: intercept, BASE, group (k-1), visit (m-1), group:visit ((k-1)(m-1)); and term -> columns."""
    cols = [np.ones(len(base)), base]
    terms = {"(Intercept)": [0], "BASE": [1]}
    G, V = _sum_coding(g, k), _sum_coding(v, m)
    start = 2
    if k > 1:
        cols.extend(G.T)
        terms["group"] = list(range(start, start + k - 1))
        start += k - 1
    if m > 1:
        cols.extend(V.T)
        terms["visit"] = list(range(start, start + m - 1))
        start += m - 1
    if k > 1 and m > 1:
        inter = [G[:, i] * V[:, j] for j in range(m - 1) for i in range(k - 1)]  # R's column order
        cols.extend(inter)
        terms["group:visit"] = list(range(start, start + len(inter)))
    return np.column_stack(cols), terms


def _den_df(X: np.ndarray, subjects: np.ndarray, terms: dict[str, list[int]]) -> dict[str, float]:
    """nlme's denominator df for each term (see module docstring); the intercept's is the within-subject df,
    as nlme's ``fixDF``."""
    _, firsts, inverse = np.unique(subjects, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    # a column varies within subjects when some record differs from its subject's first record, column by column
    # (no loop over subjects, no sorted copy of X)
    inner = np.zeros(X.shape[1], dtype=bool)
    for j in range(X.shape[1]):
        first = X[firsts, j][inverse]
        inner[j] = bool(np.any(np.abs(X[:, j] - first) > 1e-8 * np.maximum(1.0, np.abs(first))))
    n, m = X.shape[0], len(firsts)
    df = {"between": m - 1.0, "within": float(n - m)}  # the intercept is estimated between subjects
    strata = {}
    for name, idx in terms.items():
        if name == "(Intercept)":
            continue
        strata[name] = "within" if inner[idx].any() else "between"
        df[strata[name]] -= len(idx)
    return {name: df[s] for name, s in strata.items()} | {"(Intercept)": df["within"]}


def _rank(X: np.ndarray) -> int:
    """numpy's ``matrix_rank(X)`` (singular values above S.max * max(N, p) * eps) from the singular values of
    R in X = QR, which are X's: the SVD of a p x p matrix instead of an N x p one."""
    if X.shape[0] <= X.shape[1]:
        return int(np.linalg.matrix_rank(X))
    S = np.linalg.svd(np.linalg.qr(X, mode="r"), compute_uv=False)
    return int(np.count_nonzero(S > S.max(initial=0.0) * max(X.shape) * np.finfo(float).eps))


def _containment_df(L: np.ndarray, coef_df: np.ndarray) -> float:
    """emmeans' df for a combination L'beta of an nlme::lme fit ("containment"): the smallest fixDF among the
    coefficients L weighs (|L| > 1e-4)."""
    used = np.abs(L) > 1e-4
    return float(coef_df[used].min()) if used.any() else math.nan


def _wald(beta: np.ndarray, cov: np.ndarray, idx: list[int], den: float) -> tuple[float, float, float, float]:
    from scipy import stats

    b, V = beta[idx], cov[np.ix_(idx, idx)]
    q = len(idx)
    f = float(b @ np.linalg.solve(V, b)) / q
    p = float(stats.f.sf(f, q, den)) if den > 0 else math.nan
    return f, float(q), float(den), p


def _empty_row(param: str, note: str, **extra) -> dict:
    row = {k: None for k in MODEL_SCHEMA} | {"param": param, "method": METHOD, "formula": FORMULA,
                                             "test": INTERACTION_TEST, "note": note}
    return row | extra


@dataclass(frozen=True)
class RemlFit:
    """A REML fit of y = X b + u_subject + e: fixed effects, their covariance, sigma^2 = var(e),
    ratio = var(u) / sigma^2, the REML log-likelihood (as nlme reports it) and convergence."""

    beta: np.ndarray
    cov: np.ndarray
    sigma2: float
    ratio: float
    loglik: float
    converged: bool


@dataclass(frozen=True)
class _Moments:
    """What every evaluation of the REML profile needs, formed once. V_i^-1 = (I - c_i J) / sigma^2 within a
    subject of n_i records, with c_i = ratio / (1 + n_i ratio) depending on n_i alone: so the subjects' sums
    enter only through their cross-products summed over the subjects of each size (``sizes``, ``counts``:
    subjects of that size; ``SXX``, ``SXy``, ``Syy``: sum of S_X S_X', S_X S_y, S_y^2 over them, S the
    subject's sums), and an evaluation costs sizes x p^2, not subjects x p^2."""

    sizes: np.ndarray
    counts: np.ndarray
    SXX: np.ndarray  # sizes x p x p
    SXy: np.ndarray  # sizes x p
    Syy: np.ndarray  # sizes
    XtX: np.ndarray
    Xty: np.ndarray
    yty: float


def _moments(X: np.ndarray, y: np.ndarray, inverse: np.ndarray) -> _Moments:
    n_i = np.bincount(inverse)
    SX = np.column_stack([np.bincount(inverse, weights=X[:, j], minlength=len(n_i)) for j in range(X.shape[1])]) \
        if X.shape[1] else np.zeros((len(n_i), 0))
    Sy = np.bincount(inverse, weights=y, minlength=len(n_i))
    sizes, size_of = np.unique(n_i, return_inverse=True)
    SXX = np.stack([SX[size_of == k].T @ SX[size_of == k] for k in range(len(sizes))])
    SXy = np.stack([SX[size_of == k].T @ Sy[size_of == k] for k in range(len(sizes))])
    Syy = np.array([float(Sy[size_of == k] @ Sy[size_of == k]) for k in range(len(sizes))])
    return _Moments(sizes.astype(float), np.bincount(size_of).astype(float), SXX, SXy, Syy, X.T @ X, X.T @ y,
                    float(y @ y))


def _profile(X: np.ndarray, y: np.ndarray, sums: _Moments, ratio: float):
    """Profiled REML pieces at variance ratio ``ratio``: (-2 loglik, beta, X'WX, sigma^2)."""
    N, p = X.shape
    c = ratio / (1.0 + sums.sizes * ratio)  # per subject size
    XtWX = sums.XtX - np.tensordot(c, sums.SXX, axes=1)
    XtWy = sums.Xty - c @ sums.SXy
    ytWy = float(sums.yty - c @ sums.Syy)
    sign, logdet = np.linalg.slogdet(XtWX)
    if sign <= 0:
        return math.inf, None, None, None
    beta = np.linalg.solve(XtWX, XtWy)
    rss = max(ytWy - float(beta @ XtWy), 0.0)
    sigma2 = rss / (N - p)
    if sigma2 <= 0:
        return math.inf, None, None, None
    m2ll = (N - p) * (math.log(2 * math.pi * sigma2) + 1.0) + float(sums.counts @ np.log1p(sums.sizes * ratio)) + logdet
    return m2ll, beta, XtWX, sigma2


def fit_reml_random_intercept(X: np.ndarray, y: np.ndarray, subjects: np.ndarray) -> RemlFit | None:
    """REML for a random intercept per subject, by maximising the REML likelihood profiled over
    the fixed effects and sigma^2 in the one free parameter, ratio = var(u) / sigma^2 >= 0:
    a grid on log(ratio) from 1e-8 to 1e4, Brent's method around the best point, and the
    boundary ratio = 0. The same estimates as nlme::lme(method = "REML"); the tests also compare
    statsmodels MixedLM where it converges (statsmodels is a test dependency, not a run-time one)."""
    from scipy.optimize import minimize_scalar

    _, inverse = np.unique(subjects, return_inverse=True)
    sums = _moments(X, y, inverse.ravel())
    objective = lambda t: _profile(X, y, sums, math.exp(t))[0]  # noqa: E731
    grid = np.linspace(math.log(1e-8), math.log(1e4), 49)
    values = [objective(t) for t in grid]
    best = int(np.argmin(values))
    converged = True
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    res = minimize_scalar(objective, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    ratio, m2ll = (math.exp(res.x), res.fun) if res.fun <= values[best] else (math.exp(grid[best]), values[best])
    converged = bool(res.success)
    at_zero = _profile(X, y, sums, 0.0)[0]
    if at_zero <= m2ll:
        ratio, m2ll = 0.0, at_zero
    m2ll, beta, XtWX, sigma2 = _profile(X, y, sums, ratio)
    if beta is None:
        return None
    cov = sigma2 * np.linalg.inv(XtWX)
    return RemlFit(beta, cov, sigma2, ratio, -0.5 * m2ll, converged)


def fit_change_model(data: pl.DataFrame, param: str, arms: list[Arm]) -> tuple[dict, list[dict], list[dict]]:
    """Fit the model to one parameter's post-baseline records (CHG and BASE present).

    Returns (model row, marginal-mean rows, coefficient rows); a model that cannot be fitted
    gives a row with nulls and the reason in ``note``, never an exception."""
    rows = data.lazy().select("PARAMCD", "USUBJID", "ARM", "VISIT", "VISITN", "BASE", "CHG").filter(
        (pl.col("PARAMCD") == param) & pl.col("CHG").is_not_null() & pl.col("BASE").is_not_null()).collect()
    labels = [a.label for a in arms]
    present = [a for a in labels if a in set(rows.get_column("ARM").unique().to_list())]
    visits = rows.group_by("VISITN").agg(pl.col("VISIT").first()).sort("VISITN")
    n_subj = rows.get_column("USUBJID").n_unique()
    counts = {"n_obs": rows.height, "n_subjects": n_subj, "n_groups": len(present), "n_visits": visits.height}
    if rows.height == 0:
        return _empty_row(param, "no post-baseline change from baseline", **counts), [], []
    y = rows.get_column("CHG").to_numpy().astype(float)
    if np.ptp(y) == 0:
        return _empty_row(param, "all changes from baseline are equal: nothing to model", **counts), [], []
    if n_subj < 3:
        return _empty_row(param, f"{n_subj} subject(s) with change from baseline: too few for a mixed model", **counts), [], []
    g = rows.get_column("ARM").replace_strict({a: i for i, a in enumerate(present)}, return_dtype=pl.Int64).to_numpy()
    vmap = {v: i for i, v in enumerate(visits.get_column("VISITN").to_list())}
    v = rows.get_column("VISITN").replace_strict(vmap, return_dtype=pl.Int64).to_numpy()
    base = rows.get_column("BASE").to_numpy().astype(float)
    # subjects as integer codes in sorted USUBJID order (np.unique's order): sorting a million Python strings
    # took longer than the fit
    subjects = (rows.get_column("USUBJID").rank("dense") - 1).to_numpy()
    k, m = len(present), visits.height
    X, terms = _design(base, g, v, k, m)
    if _rank(X) < X.shape[1]:
        return _empty_row(param, "design is rank-deficient (a group has no data at some visit, or BASE is constant): "
                                 "no model", **counts), [], []
    if X.shape[1] >= rows.height - 1:
        return _empty_row(param, "more fixed effects than records: no model", **counts), [], []
    fit = fit_reml_random_intercept(X, y, subjects)
    if fit is None:
        return _empty_row(param, "the REML fit failed (singular X'V^-1X): no model", **counts), [], []
    p = X.shape[1]
    beta, cov = fit.beta, fit.cov
    den = _den_df(X, subjects, terms)
    row = _empty_row(param, None, **counts)
    for name, key in (("group:visit", "interaction"), ("group", "group"), ("visit", "visit")):
        if name in terms:
            row[f"{key}_f"], row[f"{key}_df1"], row[f"{key}_df2"], row[f"{key}_p"] = _wald(beta, cov, terms[name], den[name])
    notes = []
    if k < 2:
        notes.append("one group with data: no group or interaction test")
    elif m < 2:
        notes.append("one visit: no visit or interaction test")
    if fit.ratio == 0.0:
        notes.append("subject variance at 0 (boundary)")
    if not fit.converged:
        notes.append("the variance-ratio search did not converge")
    base_mean = float(base.mean())
    distinct = np.unique(base)
    # emmeans keeps a covariate with at most two values as levels and averages over them (cov.keep = "2"):
    # BASE enters linearly, so that is the prediction at their midpoint
    base_at = float(distinct.mean()) if distinct.size <= 2 else base_mean
    coef_df = np.empty(p)
    for name, idx in terms.items():
        coef_df[idx] = den[name]
    from scipy import stats
    row |= {"base_mean": base_mean, "sigma": math.sqrt(fit.sigma2), "sd_subject": math.sqrt(fit.ratio * fit.sigma2),
            "loglik_reml": fit.loglik, "converged": fit.converged, "note": "; ".join(notes) or None}
    means = []
    for gi, arm in enumerate(present):
        for vi, vis in enumerate(visits.iter_rows(named=True)):
            L, _ = _design(np.array([base_at]), np.array([gi]), np.array([vi]), k, m)
            est, se = float(L[0] @ beta), math.sqrt(float(L[0] @ cov @ L[0]))
            df = _containment_df(L[0], coef_df)
            q = float(stats.t.ppf(0.975, df)) if df > 0 else math.nan
            means.append({"param": param, "arm": arm, "arm_order": labels.index(arm), "visit": vis["VISIT"],
                          "visitn": vis["VISITN"], "estimate": est, "se": se, "df": df,
                          "lower": est - q * se, "upper": est + q * se})
    names = _coef_names(terms, present, visits.get_column("VISIT").to_list())
    coefs = [{"param": param, "term": names[i], "estimate": float(beta[i]), "se": math.sqrt(float(cov[i, i]))}
             for i in range(p)]
    return row, means, coefs


def _coef_names(terms: dict[str, list[int]], groups: list[str], visits: list[str]) -> list[str]:
    names = ["(Intercept)", "BASE"]
    if "group" in terms:
        names += [f"group[{g}]" for g in groups[:-1]]
    if "visit" in terms:
        names += [f"visit[{v}]" for v in visits[:-1]]
    if "group:visit" in terms:
        names += [f"group[{g}]:visit[{v}]" for v in visits[:-1] for g in groups[:-1]]
    return names


def fit_change_models(data: pl.DataFrame, params: list[str], arms: list[Arm]) -> ModelResults:
    """``fit_change_model`` for each parameter, gathered into three frames."""
    models, means, coefs = [], [], []
    for param in params:
        row, m, c = fit_change_model(data, param, arms)
        models.append(row)
        means.extend(m)
        coefs.extend(c)
    return ModelResults(pl.DataFrame(models, schema=MODEL_SCHEMA), pl.DataFrame(means, schema=MEANS_SCHEMA),
                        pl.DataFrame(coefs, schema=COEF_SCHEMA))
