"""ANCOVA of a continuous endpoint: the primary efficacy table of a parallel-group trial.

One record per subject (e.g. CDISC pilot Table 14-3.01: ADAS-Cog change from baseline to
week 24 ~ treatment + site group + baseline). The model y ~ group + covariates is fitted by
ordinary least squares (a QR decomposition of the design, the same fit as R's ``lm``).
Each number reproduces, in R::

    options(contrasts = c("contr.sum", "contr.poly"))
    fit <- lm(y ~ group + BASE + SITEGR1, data)
    car::Anova(fit, type = 3)                    # tests: one F per term (group, each covariate)
    sigma(fit); df.residual(fit)                 # sigma, df_resid
    em <- emmeans(fit, ~ group)                  # lsmeans, weights = "equal" (emmeans' default)
    em <- emmeans(fit, ~ group, weights = "proportional")       # lsmeans, weights = "observed"
    summary(contrast(em, "trt.vs.ctrl", adjust = "none"), infer = TRUE)   # "vs reference": estimate .. p, CI
    summary(contrast(em, "trt.vs.ctrl"))$p.value                          # its p_adjusted ("dunnettx")
    summary(pairs(em, reverse = TRUE, adjust = "none"), infer = TRUE)     # "pairwise": later minus earlier group
    summary(pairs(em, reverse = TRUE))$p.value                            # its p_adjusted (Tukey)
    coef(summary(lm(y ~ dose + BASE + SITEGR1, data)))["dose", ]          # dose_response

and in SAS (the type III tests, LS means, unadjusted differences and the dose row)::

    proc glm data=adata;
      class group sitegr1;
      model y = group base sitegr1 / ss3;              * tests: type III;
      lsmeans group / stderr cl pdiff=all;             * weights = "equal";
      lsmeans group / om stderr cl pdiff=all;          * weights = "observed" (OBSMARGINS);
    proc glm data=adata; class sitegr1;
      model y = dose base sitegr1 / solution;          * dose_response;

LS means put numeric covariates at their mean over the records fitted; categorical
covariates get equal weights over their levels (``weights="equal"``: emmeans' default and
SAS LSMEANS' default) or weights proportional to their observed frequencies in the records
fitted (``weights="observed"``: emmeans ``weights = "proportional"``, SAS ``OM``). In this
main-effects model the differences between groups, and so the contrasts, do not depend on
the weights. Type III tests of a main-effects model are the F tests of dropping each term
(``drop1(fit, test = "F")``), whatever the coding. Confidence intervals (LS means and
contrasts) are unadjusted t intervals with the residual df; only ``p_adjusted`` is adjusted.

Adjusted p-values: "vs reference" rows use emmeans' "dunnettx" approximation to Dunnett's
test (the same formula: a (k-1)/k : 1/k mix of a studentized range probability for
(1 + sqrt(1 + 8k)) / 2 means and the Sidak bound, for k comparisons), reported as
``adjust = "dunnett"``; it is not the exact multivariate-t Dunnett p of SAS ``ADJUST=DUNNETT``
or emmeans ``adjust = "mvt"``, which can differ in the second significant digit (the
mtcars case of the tests: 0.02126 here and in emmeans' dunnettx, 0.02016 by "mvt"). "pairwise" rows use
Tukey's studentized range for all the groups, as emmeans and SAS ``ADJUST=TUKEY`` (for an
unbalanced design, the Tukey-Kramer p). Like R's ``ptukey``, a residual df above 25,000 is
taken as infinite in these two probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.analyses.efficacy.contract import CONTRASTS_SCHEMA, DOSE_SCHEMA, LSMEANS_SCHEMA, TESTS_SCHEMA
from trialkit.schemas.errors import DataError, UsageError

__all__ = ["AncovaResults", "fit_ancova", "WEIGHTS"]

WEIGHTS = ("equal", "observed")
_RANK_TOL = 1e-7  # R's lm.fit tolerance, relative to each column's norm
_PTUKEY_INF_DF = 25_000.0  # R's ptukey treats a larger df as infinite



@dataclass(frozen=True)
class AncovaResults:
    """An ANCOVA fit. ``lsmeans``: one row per group; ``contrasts``: each group vs the reference
    ("vs reference", Dunnett-adjusted) then every pair ("pairwise", later minus earlier group in
    ``groups`` order, Tukey-adjusted); ``tests``: type III F per term; ``dose_response``: the dose
    coefficient's t test, or None without a ``dose`` column. ``sigma`` is the residual SD,
    ``df_resid`` its df, ``weights`` "equal" or "observed"."""

    lsmeans: pl.DataFrame
    contrasts: pl.DataFrame
    tests: pl.DataFrame
    dose_response: pl.DataFrame | None
    n_subjects: int
    n_records: int
    n_dropped: int
    sigma: float
    df_resid: float
    weights: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class _Covariate:
    name: str
    levels: tuple[str, ...] | None  # None: numeric


@dataclass(frozen=True)
class _Fit:
    beta: np.ndarray
    cov: np.ndarray
    sigma: float
    df: float


def _check_options(data: pl.DataFrame, groups: Sequence[str], covariates: tuple[str, ...], weights: str,
                   conf: float) -> None:
    if weights not in WEIGHTS:
        raise UsageError(f"ANCOVA weights must be one of {', '.join(WEIGHTS)}, not {weights!r}",
                         "use weights='equal' (SAS LSMEANS, emmeans' default) or 'observed' (SAS OM)")
    if not 0.0 < conf < 1.0:
        raise UsageError(f"ANCOVA confidence level must be between 0 and 1, not {conf}", "use conf=0.95 for 95% intervals")
    if len(set(groups)) < 2:
        raise DataError(f"ANCOVA needs at least two groups, but {len(set(groups))} was given: {list(groups)}",
                        "compare two or more treatment groups")
    if len(set(groups)) != len(groups):
        raise UsageError(f"ANCOVA groups are repeated: {list(groups)}", "name each group once")
    clash = [c for c in covariates if c in ("USUBJID", "group", "visit", "y", "dose")]
    if clash or len(set(covariates)) != len(covariates):
        raise UsageError(f"ANCOVA covariates must be distinct data columns other than group, y and dose: {list(covariates)}",
                         "name each covariate once, by its ADaM name (BASE, SITEGR1, ...)")
    require_columns(data, ["USUBJID", "group", "y", *covariates], dataset="the ANCOVA data", purpose="the ANCOVA",
                    hint="derive the response (y) and add the covariates before fitting")
    for name in ("y", *covariates):
        dtype = data.schema[name]
        if not (dtype.is_numeric() or dtype in (pl.String, pl.Categorical, pl.Boolean) or isinstance(dtype, pl.Enum)):
            raise DataError(f"ANCOVA column {name} is {dtype}, neither a number nor a category",
                            "pass numeric covariates as numbers and categorical ones as text")
    if not data.schema["y"].is_numeric():
        raise DataError(f"ANCOVA response y is {data.schema['y']}, not a number", "pass the response (CHG) as a number")


def _missing(name: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(name)
    return (col.is_null() | col.is_nan()) if dtype.is_float() else col.is_null()


def _complete_records(data: pl.DataFrame, covariates: tuple[str, ...]) -> tuple[pl.DataFrame, int, list[str]]:
    """Drop records missing the group, y or a covariate; count them per column for the note."""
    names = ["group", "y", *covariates]
    flags = data.select([_missing(n, data.schema[n]).alias(n) for n in names])
    counts = flags.sum().row(0)
    dropped_mask = flags.select(pl.any_horizontal(pl.all())).to_series()
    n_dropped = int(dropped_mask.sum())
    notes = []
    if n_dropped:
        parts = ", ".join(f"{n} missing in {c}" for n, c in zip(names, counts) if c)
        notes.append(f"{n_dropped} of {data.height} records dropped from the ANCOVA: {parts}")
    kept = data.filter(~dropped_mask) if n_dropped else data
    for name in names:
        if kept.schema[name].is_float():
            infinite = kept.select(pl.col(name).is_infinite().sum()).item()
            if infinite:
                raise DataError(f"ANCOVA column {name} is infinite in {infinite} records",
                                f"replace the infinite {name} values by numbers or leave them missing")
    return kept, n_dropped, notes


def _codes(series: pl.Series, levels: Sequence[str], what: str, hint: str) -> np.ndarray:
    """Integer codes of ``series`` in ``levels`` order; a value outside ``levels`` is a DataError."""
    text = series.cast(pl.String)
    unknown = text.filter(~text.is_in(list(levels))).unique().sort()
    if unknown.len():
        shown = ", ".join(unknown.head(5).to_list())
        raise DataError(f"ANCOVA {what} has values outside {list(levels)}: {shown}", hint)
    return text.cast(pl.Enum(list(levels))).to_physical().to_numpy().astype(np.int64)


def _covariate_specs(frame: pl.DataFrame, covariates: tuple[str, ...],
                     levels: Mapping[str, Sequence[str]] | None) -> list[_Covariate]:
    specs = []
    for name in covariates:
        dtype = frame.schema[name]
        if dtype.is_numeric():
            specs.append(_Covariate(name, None))
            continue
        present = frame[name].cast(pl.String).unique().sort().to_list()
        order = [str(lv) for lv in levels[name]] if levels and name in levels else present
        unknown = sorted(set(present) - set(order))
        if unknown:
            raise DataError(f"ANCOVA covariate {name} has values outside its levels {order}: {', '.join(unknown[:5])}",
                            f"list every value of {name} in its levels, or leave its levels to the data")
        used = [lv for lv in order if lv in set(present)]  # a level without records is left out, as R's droplevels
        if len(used) < 2:
            raise DataError(f"ANCOVA covariate {name} takes one value ({', '.join(used)}) in the records analysed",
                            f"drop {name} from the covariates: a constant cannot adjust anything")
        specs.append(_Covariate(name, tuple(used)))
    return specs


def _fill_covariates(X: np.ndarray, start: int, frame: pl.DataFrame, specs: list[_Covariate],
                     ) -> tuple[list[tuple[str, list[int]]], list[str]]:
    """Write the covariate columns (numeric as is, categorical as treatment-coded dummies) from column ``start``."""
    terms, labels, j = [], [], start
    for spec in specs:
        if spec.levels is None:
            X[:, j] = frame[spec.name].cast(pl.Float64).to_numpy()
            terms.append((spec.name, [j]))
            labels.append(spec.name)
            j += 1
            continue
        codes = _codes(frame[spec.name], spec.levels, f"covariate {spec.name}",
                       f"list every value of {spec.name} in its levels, or leave its levels to the data")
        cols = []
        for lv_index, lv in enumerate(spec.levels[1:], start=1):
            X[:, j] = codes == lv_index
            cols.append(j)
            labels.append(f"{spec.name}={lv}")
            j += 1
        terms.append((spec.name, cols))
    return terms, labels


def _covariate_row(X: np.ndarray, specs: list[_Covariate], terms: list[tuple[str, list[int]]], weights: str) -> dict[int, float]:
    """The covariate part of an LS mean's coefficient vector: numeric at their mean; dummies at
    1/levels (equal) or at their observed proportion (observed)."""
    row = {}
    for spec, (_, cols) in zip(specs, terms):
        for c in cols:
            if spec.levels is None or weights == "observed":
                row[c] = float(X[:, c].mean())
            else:
                row[c] = 1.0 / len(spec.levels)
    return row


def _qr(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The R factor of the QR decomposition of ``X`` (square; ``X``, Fortran-ordered, is
    overwritten by LAPACK's dgeqrf) and the column norms of ``X``. ``X``'s last column is the
    response: R's last column holds Q'y and |R[-1, -1]| is the residual root sum of squares."""
    from scipy.linalg import lapack

    norms = np.sqrt(np.einsum("ij,ij->j", X, X))
    p1 = X.shape[1]
    lwork = int(lapack.dgeqrf(X[:p1], lwork=-1)[2][0])
    factored, _, _, info = lapack.dgeqrf(X, lwork=max(lwork, p1), overwrite_a=1)
    if info != 0:
        raise DataError(f"ANCOVA design could not be factorised (LAPACK dgeqrf info {info})",
                        "check the response and covariates for infinite values")
    return np.triu(factored[:p1, :p1]), norms


def _solve(R: np.ndarray, norms: np.ndarray, n: int, labels: list[str], terms: list[tuple[str, list[int]]]) -> _Fit:
    """Least squares from the R factor of [X y]. A column of X within 1e-7 (relative to its
    norm, as R's lm) of the span of the columns before it makes the design singular: a
    DataError naming its term."""
    from scipy.linalg import solve_triangular

    p = R.shape[0] - 1
    weak = np.flatnonzero(np.abs(np.diag(R))[:p] <= _RANK_TOL * np.maximum(norms[:p], np.finfo(float).tiny))
    if weak.size:
        col = int(weak[0])
        term = next(name for name, cols in terms if col in cols)
        before = [name for name, cols in terms if cols and cols[0] < col and name not in (term, "(Intercept)")]
        raise DataError(f"ANCOVA design is singular: {term} ({labels[col]}) is collinear with "
                        f"{', '.join(['the intercept', *before])} in the records analysed",
                        f"drop {term} from the model or check that it varies within the groups")
    Rx = R[:p, :p]
    beta = solve_triangular(Rx, R[:p, p])
    df = float(n - p)
    sigma2 = float(R[p, p] ** 2) / df
    Rinv = solve_triangular(Rx, np.eye(p))
    return _Fit(beta, sigma2 * (Rinv @ Rinv.T), math.sqrt(sigma2), df)


def _type3(fit: _Fit, terms: list[tuple[str, list[int]]]) -> pl.DataFrame:
    from scipy import stats

    rows = []
    for name, cols in terms:
        b = fit.beta[cols]
        f = float(b @ np.linalg.solve(fit.cov[np.ix_(cols, cols)], b)) / len(cols)
        rows.append({"term": name, "num_df": float(len(cols)), "den_df": fit.df, "f": f,
                     "p": float(stats.f.sf(f, len(cols), fit.df))})
    return pl.DataFrame(rows, schema=TESTS_SCHEMA)


def _tukey_df(df: float) -> float:
    return math.inf if df > _PTUKEY_INF_DF else df


def _p_dunnettx(abs_t: np.ndarray, n_contrasts: int, df: float) -> np.ndarray:
    """emmeans' "dunnettx": 1 - [w P_range(sqrt(2)|t|; (1 + sqrt(1 + 8k)) / 2 means, df) + (1 - w) F(t^2; 1, df)^k],
    w = (k - 1) / k, for k comparisons with the reference."""
    from scipy import stats

    k = n_contrasts
    w = (k - 1) / k
    tukey = stats.studentized_range.cdf(math.sqrt(2.0) * abs_t, (1.0 + math.sqrt(1.0 + 8.0 * k)) / 2.0, _tukey_df(df))
    sidak = stats.f.cdf(abs_t ** 2, 1, df) ** k
    return np.clip(1.0 - (w * tukey + (1.0 - w) * sidak), 0.0, 1.0)


def _p_tukey(abs_t: np.ndarray, n_groups: int, df: float) -> np.ndarray:
    from scipy import stats

    return np.clip(stats.studentized_range.sf(math.sqrt(2.0) * abs_t, n_groups, _tukey_df(df)), 0.0, 1.0)


def _linear(fit: _Fit, L: np.ndarray, conf: float) -> dict[str, np.ndarray]:
    from scipy import stats

    est = L @ fit.beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", L, fit.cov, L))
    q = float(stats.t.ppf(0.5 + conf / 2.0, fit.df))
    t = est / se
    return {"estimate": est, "se": se, "t": t, "p": 2.0 * stats.t.sf(np.abs(t), fit.df),
            "lower": est - q * se, "upper": est + q * se}


def _contrast_frame(fit: _Fit, L: np.ndarray, groups: list[str], pairs: list[tuple[int, int]], comparison: str,
                    adjust: str, conf: float) -> pl.DataFrame:
    D = np.array([L[i] - L[j] for i, j in pairs])
    r = _linear(fit, D, conf)
    abs_t = np.abs(r["t"])
    adjusted = _p_dunnettx(abs_t, len(pairs), fit.df) if adjust == "dunnett" else _p_tukey(abs_t, len(groups), fit.df)
    return pl.DataFrame({
        "visit": [None] * len(pairs), "group": [groups[i] for i, _ in pairs],
        "reference": [groups[j] for _, j in pairs], "comparison": [comparison] * len(pairs),
        "estimate": r["estimate"], "se": r["se"], "df": [fit.df] * len(pairs), "t": r["t"], "p": r["p"],
        "lower": r["lower"], "upper": r["upper"], "adjust": [adjust] * len(pairs), "p_adjusted": adjusted,
    }, schema=CONTRASTS_SCHEMA)


def _group_doses(frame: pl.DataFrame, groups: list[str]) -> np.ndarray:
    """The dose of each group (in ``groups`` order): one number per group, or a DataError."""
    if not frame.schema["dose"].is_numeric():
        raise DataError(f"ANCOVA dose column is {frame.schema['dose']}, not a number",
                        "pass the planned dose (TRTPN / TRT01PN) as a number")
    dose = pl.col("dose").cast(pl.Float64).fill_nan(None)
    per_group = frame.group_by("group").agg(dose.drop_nulls().unique().alias("doses"), dose.null_count().alias("missing"))
    bad = per_group.filter((pl.col("doses").list.len() != 1) | (pl.col("missing") > 0)).sort("group")
    if bad.height:
        raise DataError(f"ANCOVA dose must be one number per group; it is missing or varies in {', '.join(bad['group'])}",
                        "pass the planned dose of each group (TRTPN / TRT01PN) in the dose column")
    by_group = dict(zip(per_group["group"], per_group["doses"].list.first()))
    return np.array([by_group[g] for g in groups])


def _dose_response(R: np.ndarray, n: int, doses: np.ndarray, cov_labels: list[str],
                   cov_terms: list[tuple[str, list[int]]]) -> pl.DataFrame:
    """y ~ dose + covariates on the same records: the t test of the dose coefficient.

    The dose is constant within groups, so [1, dose, covariates, y] = [X y] A for the group
    model's design X: the columns 1 and dose are combinations of the intercept and group
    columns, the rest are X's. With [X y] = Q R, the dose model's R factor is that of the
    small matrix R A: the dose model costs no second pass over the records."""
    from scipy import stats
    from scipy.linalg import qr

    k, p1 = len(doses), R.shape[0]
    A = np.zeros((p1, p1 - k + 2))
    A[0, 0] = 1.0
    A[0, 1] = doses[0]
    A[1:k, 1] = doses[1:] - doses[0]
    A[k:, 2:] = np.eye(p1 - k)
    M = R @ A
    norms = np.sqrt(np.einsum("ij,ij->j", M, M))
    shift = 2 - k
    terms = [("(Intercept)", [0]), ("dose", [1]), *((name, [c + shift for c in cols]) for name, cols in cov_terms)]
    fit = _solve(qr(M, mode="r", check_finite=False)[0][:M.shape[1]], norms, n, ["(Intercept)", "dose", *cov_labels], terms)
    est, se = float(fit.beta[1]), float(math.sqrt(fit.cov[1, 1]))
    t = est / se
    return pl.DataFrame([{"term": "dose", "estimate": est, "se": se, "df": fit.df, "t": t,
                          "p": float(2.0 * stats.t.sf(abs(t), fit.df))}], schema=DOSE_SCHEMA)


def fit_ancova(data: pl.DataFrame, groups: Sequence[str], *, covariates: Sequence[str] = ("BASE",),
               weights: str = "equal", conf: float = 0.95,
               levels: Mapping[str, Sequence[str]] | None = None) -> AncovaResults:
    """Fit y ~ group + covariates by least squares; LS means, contrasts, type III tests, dose response.

    ``data``: one record per subject, columns USUBJID, group, y and the covariates (a text
    column is categorical: levels sorted unless ``levels`` gives an order; a numeric column is
    a numeric covariate), optionally ``dose`` (the group's planned dose). ``groups``: the
    groups in display order, the first is the reference. ``weights``: "equal" (emmeans'
    default, SAS LSMEANS) or "observed" (emmeans ``weights = "proportional"``, SAS OM) for the
    categorical covariates in the LS means; numeric covariates are set to their mean.
    Records missing y or a covariate are dropped and counted (``n_dropped`` and a note).
    """
    groups = [groups] if isinstance(groups, str) else list(groups)
    covariates = (covariates,) if isinstance(covariates, str) else tuple(covariates)
    _check_options(data, groups, covariates, weights, conf)
    frame, n_dropped, notes = _complete_records(data, covariates)
    frame = frame.with_columns(pl.col("group").cast(pl.String))
    codes = _codes(frame["group"], groups, "group", "list every group of the data in groups, or filter the records first")
    k = len(groups)
    n_per_group = np.bincount(codes, minlength=k)
    subjects = frame["USUBJID"].n_unique()
    if subjects < frame.height:
        raise DataError(f"ANCOVA data have {frame.height} records for {subjects} subjects: a subject appears more than once",
                        "fit one record per subject (select one visit, or one record per visit for an MMRM)")
    for g, count in zip(groups, n_per_group):
        if count < 2:
            what = "no records" if count == 0 else "one subject"
            raise DataError(f"ANCOVA group {g} has {what} in the records analysed",
                            "drop the group from groups or check the population and visit selected")
    specs = _covariate_specs(frame, covariates, levels)
    doses = _group_doses(frame, groups) if "dose" in frame.columns else None
    width = k + sum(1 if s.levels is None else len(s.levels) - 1 for s in specs)
    if frame.height <= width:
        raise DataError(f"ANCOVA has {frame.height} records for {width} model coefficients: no residual degrees of freedom",
                        "use fewer covariates or more records")
    X = np.empty((frame.height, width + 1), order="F")
    X[:, 0] = 1.0
    for j in range(1, k):
        X[:, j] = codes == j
    cov_terms, cov_labels = _fill_covariates(X, k, frame, specs)
    row = _covariate_row(X, specs, cov_terms, weights)
    X[:, width] = frame["y"].cast(pl.Float64).to_numpy()
    terms = [("group", list(range(1, k))), *cov_terms]
    R, norms = _qr(X)
    fit = _solve(R, norms, frame.height, ["(Intercept)", *(f"group={g}" for g in groups[1:]), *cov_labels],
                 [("(Intercept)", [0]), *terms])

    L = np.zeros((k, width))
    L[:, 0] = 1.0
    L[np.arange(1, k), np.arange(1, k)] = 1.0
    for c, value in row.items():
        L[:, c] = value
    means = _linear(fit, L, conf)
    lsmeans = pl.DataFrame({"visit": [None] * k, "group": groups, "estimate": means["estimate"], "se": means["se"],
                            "df": [fit.df] * k, "lower": means["lower"], "upper": means["upper"],
                            "n": n_per_group.astype(np.int64)}, schema=LSMEANS_SCHEMA)
    vs_reference = [(i, 0) for i in range(1, k)]
    pairwise = [(i, j) for i in range(1, k) for j in range(i)]
    contrasts = pl.concat([_contrast_frame(fit, L, groups, vs_reference, "vs reference", "dunnett", conf),
                           _contrast_frame(fit, L, groups, pairwise, "pairwise", "tukey", conf)])
    dose = None if doses is None else _dose_response(R, frame.height, doses, cov_labels, cov_terms)
    return AncovaResults(lsmeans=lsmeans, contrasts=contrasts, tests=_type3(fit, terms), dose_response=dose,
                         n_subjects=subjects, n_records=frame.height, n_dropped=n_dropped, sigma=fit.sigma,
                         df_resid=fit.df, weights=weights, notes=tuple(notes))
