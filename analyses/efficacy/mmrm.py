"""MMRM: mixed model for repeated measures with Kenward-Roger or Satterthwaite inference.

Model: y ~ group + visit + group:visit + covariates, no random effects, and an
unstructured (or structured) residual covariance Sigma between the visits of a subject,
fitted by REML. A subject with missed visits keeps the visits it has: its covariance is
the submatrix of Sigma for those visits. In SAS and R terms::

    PROC MIXED DATA=adlb METHOD=REML;
      CLASS USUBJID group(ref=first) visit(ref=first) <categorical covariates>;
      MODEL y = group visit group*visit <covariates> / DDFM=KR SOLUTION;   /* or SATTERTH, RESIDUAL */
      REPEATED visit / SUBJECT=USUBJID TYPE=UN;      /* CS, AR(1), TOEP, CSH, ARH(1), TOEPH */
      LSMEANS group*visit / DIFF CL;
    RUN;

    fit <- mmrm::mmrm(y ~ group * visit + BASE + us(visit | USUBJID), data, reml = TRUE,
                      method = "Kenward-Roger", vcov = "Kenward-Roger-Linear")  # SAS-like KR for us
    emmeans::emmeans(fit, ~ group | visit)                            # LS means
    emmeans::contrast(..., method = "trt.vs.ctrl", adjust = "none")   # differences vs reference
    car::Anova(fit, type = "III")                                     # type III tests

    nlme::gls(y ~ group * visit + BASE, correlation = corSymm(form = ~ visitn | USUBJID),
              weights = varIdent(form = ~ 1 | visit), method = "REML")   # same REML fit for us

How it is computed. Subjects are grouped by their pattern of observed visits and, per
pattern, the cross-products of the stacked [X | y] per visit pair are summed once; the REML
criterion, its gradient and its Hessian are then sums over the patterns only (no cost in the
number of subjects). The criterion is minimised by BFGS with the exact gradient in an
unconstrained parameterisation (log-Cholesky for ``us``, as ``mmrm``), then polished by
Newton steps with the exact Hessian in SAS's covariance parameters. The Kenward-Roger
adjusted covariance of the fixed effects (Kenward & Roger 1997), its degrees of freedom and
F scaling, and the Satterthwaite degrees of freedom (Fai & Cornelius 1996; SAS's eigen
decomposition for multi-df tests) use the inverse observed REML information of SAS's
covariance parameters. For the linear structures (UN, CS, TOEP) the second-order term of KR
vanishes in those parameters, which is what SAS DDFM=KR computes.

LS means: per group and visit at the mean of each numeric covariate over the records used
and equal weights over the levels of each categorical covariate (SAS LSMEANS, emmeans).
Type III tests as SAS: a main effect's hypothesis rows are its levels' differences from the
reference level averaged over the other factor; group:visit and covariates, their columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import optimize, stats

from trialkit.analyses.efficacy._covstruct import MIN_VISITS, STRUCTURES, CovStructure, make_structure
from trialkit.analyses.efficacy.contract import COVARIANCE_SCHEMA, CONTRASTS_SCHEMA, LSMEANS_SCHEMA, TESTS_SCHEMA
from trialkit.schemas.errors import ColumnNotFoundError, DataError, NoDataError, UsageError

__all__ = ["DDFM", "STRUCTURES", "MmrmResults", "fit_mmrm"]

DDFM = ("kr", "satterthwaite", "residual")
LOG2PI = math.log(2 * math.pi)



@dataclass(frozen=True)
class MmrmResults:
    """LS means per group x visit, differences vs the reference group per visit, type III
    tests, the estimated covariance matrix (all k x k cells), and the fit's scalars."""

    lsmeans: pl.DataFrame
    contrasts: pl.DataFrame
    tests: pl.DataFrame
    covariance: pl.DataFrame
    n_subjects: int
    n_records: int
    n_dropped: int
    notes: tuple[str, ...]
    converged: bool
    iterations: int
    loglik_reml: float
    cov_structure: str
    ddfm: str


# ---------------------------------------------------------------------------------------
# input checks and the design
# ---------------------------------------------------------------------------------------

def _check_options(groups, visits, covariates, cov, ddfm, conf) -> None:
    if cov not in STRUCTURES:
        raise UsageError(f"Unknown covariance structure {cov!r}.", f"Use one of: {', '.join(STRUCTURES)}.")
    if ddfm not in DDFM:
        raise UsageError(f"Unknown degrees-of-freedom method {ddfm!r}.", f"Use one of: {', '.join(DDFM)}.")
    if not (isinstance(conf, (int, float)) and 0 < conf < 1):
        raise UsageError(f"The confidence level must lie strictly between 0 and 1, got {conf!r}.",
                         "Use e.g. conf=0.95.")
    for name, vals in (("groups", groups), ("visits", visits)):
        if len(vals) == 0:
            raise UsageError(f"No {name} given.", f"Pass the {name} in order, e.g. {name}=['A', 'B'].")
        if len(set(vals)) != len(vals):
            raise UsageError(f"The {name} list repeats a value: {list(vals)}.", f"List each of the {name} once.")
    if len(groups) < 2:
        raise UsageError(f"An MMRM compares groups, but only one group was given ({groups[0]}).",
                         "Pass at least two groups, the reference first.")
    reserved = {"USUBJID", "group", "visit", "y"}
    bad = [c for c in covariates if c in reserved]
    if bad:
        raise UsageError(f"Covariate {bad[0]} is already a term of the model.", "Remove it from covariates.")
    if len(visits) < MIN_VISITS[cov]:
        raise DataError(f"Covariance structure {cov} needs at least {MIN_VISITS[cov]} visits, but there are "
                        f"{len(visits)} ({', '.join(visits)}).", "Use cov='us' or analyse more visits.")


def _drop_missing(data: pl.DataFrame, covariates: list[str]) -> tuple[pl.DataFrame, int, list[str]]:
    notes, keep, dropped = [], pl.lit(True), 0
    for col in ["y", *covariates]:
        miss = pl.col(col).is_null()
        if data.schema[col].is_float():
            miss = miss | pl.col(col).is_nan()
        count = data.filter(keep & miss).height
        if count:
            notes.append(f"{count} record{'s' if count > 1 else ''} dropped for a missing {col}")
            dropped += count
        keep = keep & ~miss
    return data.filter(keep), dropped, notes


def _check_data(d: pl.DataFrame, groups: list[str], visits: list[str]) -> None:
    for col, allowed in (("group", groups), ("visit", visits)):
        extra = sorted(set(d.get_column(col).unique().to_list()) - set(allowed))
        if extra:
            raise DataError(f"{col} values {extra} are not among the {col}s given ({', '.join(allowed)}).",
                            f"Add them to the {col}s list or filter those records out.")
    if d.height == 0:
        raise NoDataError("No records are left to analyse.", "Check that y and the covariates are populated.")
    dup = d.group_by("USUBJID", "visit").len().filter(pl.col("len") > 1)
    if dup.height:
        row = dup.row(0, named=True)
        raise DataError(f"Subject {row['USUBJID']} has {row['len']} records at visit {row['visit']}; an MMRM takes "
                        "one per subject and visit.", "Keep one record per USUBJID and visit (e.g. ANL01FL).")
    multi = d.group_by("USUBJID").agg(pl.col("group").n_unique().alias("k")).filter(pl.col("k") > 1)
    if multi.height:
        raise DataError(f"Subject {multi.item(0, 'USUBJID')} belongs to more than one group.",
                        "Use one treatment group per subject (e.g. TRT01P).")
    seen_v = set(d.get_column("visit").unique().to_list())
    for v in visits:
        if v not in seen_v:
            raise DataError(f"Visit {v} has no records to analyse.", "Remove it from the visits list.")
    per_group = dict(d.group_by("group").agg(pl.col("USUBJID").n_unique()).iter_rows())
    for g in groups:
        if per_group.get(g, 0) == 0:
            raise DataError(f"Group {g} has no records to analyse.", "Remove it from the groups list.")
        if per_group[g] == 1:
            raise DataError(f"Group {g} has only one subject; an MMRM needs at least two per group.",
                            "Pool or remove that group.")


@dataclass(frozen=True)
class _Design:
    x: np.ndarray            # treatment-coded design (records x p)
    names: list[str]
    terms: dict[str, list[int]]   # term -> columns under sum coding (same count as treatment)
    cov_at: dict[str, np.ndarray]   # covariate columns' values at which LS means are taken


def _codes(values: pl.Series, order: list[str]) -> np.ndarray:
    return values.replace_strict(order, list(range(len(order))), return_dtype=pl.Int64).to_numpy()


def _treat(code: np.ndarray, n: int) -> np.ndarray:
    return (code[:, None] == np.arange(1, n)[None, :]).astype(float)


def _interact(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a[:, :, None] * b[:, None, :]).reshape(len(a), -1)


def _design(d: pl.DataFrame, groups: list[str], visits: list[str], covariates: list[str],
            levels: dict[str, list[str]]) -> tuple[_Design, np.ndarray, np.ndarray]:
    g = _codes(d.get_column("group"), groups)
    v = _codes(d.get_column("visit"), visits)
    ng, nv = len(groups), len(visits)
    n = d.height
    blocks_t = [np.ones((n, 1)), _treat(g, ng), _treat(v, nv), _interact(_treat(g, ng), _treat(v, nv))]
    names = (["(Intercept)"] + [f"group{x}" for x in groups[1:]] + [f"visit{x}" for x in visits[1:]]
             + [f"group{a}:visit{b}" for a in groups[1:] for b in visits[1:]])
    term_names = ["(Intercept)", "group", "visit", "group:visit"]
    cov_at: dict[str, np.ndarray] = {}
    for c in covariates:
        s = d.get_column(c)
        if s.dtype == pl.String:
            present = sorted(s.unique().to_list())
            order = list(levels.get(c, present))
            missing = sorted(set(present) - set(order))
            if missing:
                raise UsageError(f"Covariate {c} has levels {missing} missing from its levels order {order}.",
                                 f"List every level of {c} in levels['{c}'].")
            order = [lv for lv in order if lv in present]
            if len(order) < 2:
                raise DataError(f"Categorical covariate {c} has a single level ({order[0]}) in the records analysed.",
                                f"Drop {c} from the covariates.")
            code = _codes(s, order)
            blocks_t.append(_treat(code, len(order)))
            names += [f"{c}{lv}" for lv in order[1:]]
            cov_at[c] = np.full(len(order) - 1, 1.0 / len(order))
        elif s.dtype.is_numeric():
            col = s.cast(pl.Float64).to_numpy()[:, None]
            blocks_t.append(col)
            names.append(c)
            cov_at[c] = np.array([col.mean()])
        else:
            raise DataError(f"Covariate {c} has type {s.dtype}; it must be String (categorical) or numeric.",
                            f"Cast {c} to String or Float64.")
        term_names.append(c)
    x = np.hstack(blocks_t)
    terms, start = {}, 0
    for t, b in zip(term_names, blocks_t):
        terms[t] = list(range(start, start + b.shape[1]))
        start += b.shape[1]
    _check_rank(x, names)
    return _Design(x, names, terms, cov_at), g, v


def _check_rank(x: np.ndarray, names: list[str]) -> None:
    scale = np.sqrt((x ** 2).sum(0))
    if np.any(scale == 0):
        j = int(np.argmax(scale == 0))
        raise DataError(f"The design is singular: column {names[j]} is all zero (no records in that cell).",
                        "Drop the visit or group without records, or the covariate level.")
    r = np.linalg.qr(x / scale, mode="r")
    small = np.abs(np.diag(r)) < 1e-9
    if small.any():
        j = int(np.argmax(small))
        raise DataError(f"The design is singular: column {names[j]} is a linear combination of the columns before it.",
                        "Remove the redundant covariate or the empty group/visit cell.")


# ---------------------------------------------------------------------------------------
# per-pattern sufficient statistics and the REML criterion
# ---------------------------------------------------------------------------------------

@dataclass
class _Block:
    """Missingness patterns with the same number m of observed visits, stacked."""
    vis: np.ndarray     # (b, m) visit indices observed per pattern
    n: np.ndarray       # (b,) subjects per pattern
    s2: np.ndarray      # (b, m*m, (p+1)^2): sum over subjects of z_a z_b' per visit pair (a, b), z = [x, y]
    sxx: np.ndarray     # (b, m*m, p*p): the x x' part of s2

    @property
    def rows(self):
        return self.vis[:, :, None], self.vis[:, None, :]


def _patterns(x: np.ndarray, y: np.ndarray, subj: np.ndarray, v: np.ndarray, n_subj: int, k: int,
              n_theta: int) -> list[_Block]:
    """Per missingness pattern, the cross-products of [x, y] per visit pair, summed over its subjects once."""
    p = x.shape[1]
    z = np.zeros((n_subj, k, p + 1))
    z[subj, v, :p] = x
    z[subj, v, p] = y
    mask = np.zeros((n_subj, k), dtype=bool)
    mask[subj, v] = True
    code = mask.astype(np.int64) @ (1 << np.arange(k, dtype=np.int64))
    uniq, inv = np.unique(code, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(len(uniq) + 1))
    by_m: dict[int, list] = {}
    for i, u in enumerate(uniq):
        vis = np.flatnonzero((u >> np.arange(k)) & 1)
        m = len(vis)
        rows = order[bounds[i]:bounds[i + 1]]
        zz = z[rows][:, vis, :].reshape(len(rows), m * (p + 1))
        s = (zz.T @ zz).reshape(m, p + 1, m, p + 1).transpose(0, 2, 1, 3)
        by_m.setdefault(m, []).append((vis, len(rows), s))
    blocks = []
    for m, items in sorted(by_m.items()):
        # bound the memory of the (patterns, theta, theta, m, m) products in the Hessian
        chunk = max(1, int(4e6 // max(n_theta * n_theta * m * m, 1)))
        for c0 in range(0, len(items), chunk):
            part = items[c0:c0 + chunk]
            s = np.stack([it[2] for it in part])
            blocks.append(_Block(np.stack([it[0] for it in part]), np.array([it[1] for it in part], dtype=float),
                                 s.reshape(len(part), m * m, (p + 1) ** 2),
                                 np.ascontiguousarray(s[:, :, :, :p, :p]).reshape(len(part), m * m, p * p)))
    return blocks


@dataclass
class _Eval:
    obj: float           # -2 REML log-likelihood
    beta: np.ndarray
    ainv: np.ndarray     # Phi = (X' V^-1 X)^-1
    ws: list[np.ndarray]  # per block (b, m, m): inverse covariance of the observed visits
    cs: list[np.ndarray]  # residual cross-products
    gs: list[np.ndarray]  # tr(Phi Sxx[a, b])
    dmat: np.ndarray     # d obj / d Sigma (k x k, symmetric)


def _evaluate(blocks: list[_Block], sigma: np.ndarray, p: int, n_rec: int) -> _Eval | None:
    p1 = p + 1
    acc = np.zeros(p1 * p1)
    logdet, ws = 0.0, []
    for b in blocks:
        try:
            c = np.linalg.cholesky(sigma[b.rows])
        except np.linalg.LinAlgError:
            return None
        ci = np.linalg.inv(c)
        w = ci.transpose(0, 2, 1) @ ci
        ws.append(w)
        logdet += float(b.n @ (2.0 * np.log(np.diagonal(c, axis1=1, axis2=2)).sum(1)))
        acc += w.reshape(-1) @ b.s2.reshape(-1, p1 * p1)
    acc = acc.reshape(p1, p1)
    a, bb, cc = acc[:p, :p], acc[:p, p], acc[p, p]
    try:
        ca = np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        return None
    cai = np.linalg.inv(ca)
    ainv = cai.T @ cai
    beta = ainv @ bb
    obj = logdet + 2.0 * np.log(np.diag(ca)).sum() + (cc - bb @ beta) + (n_rec - p) * LOG2PI
    vvec = np.append(-beta, 1.0)
    vv = np.outer(vvec, vvec).ravel()
    k = sigma.shape[0]
    dmat = np.zeros((k, k))
    cs, gs = [], []
    for b, w in zip(blocks, ws):
        nb, m = b.vis.shape
        cmat = (b.s2 @ vv).reshape(nb, m, m)
        gmat = (b.sxx @ ainv.ravel()).reshape(nb, m, m)
        cs.append(cmat)
        gs.append(gmat)
        np.add.at(dmat, b.rows, b.n[:, None, None] * w - w @ (cmat + gmat) @ w)
    return _Eval(float(obj), beta, ainv, ws, cs, gs, dmat)


def _grad_nat(ev: _Eval, ds: np.ndarray) -> np.ndarray:
    return ds.reshape(len(ds), -1) @ ev.dmat.ravel()


def _second_order(blocks: list[_Block], ev: _Eval, ds: np.ndarray, d2s: np.ndarray | None, p: int, full: bool):
    """Hessian of -2 REML loglik in the natural parameters; with ``full`` also KR's P, Q, R."""
    nh = ds.shape[0]
    p1 = p + 1
    phi = ev.ainv
    vvec = np.append(-ev.beta, 1.0)
    t_ww = np.zeros((nh, nh))      # sum n tr(W Vh W Vj)
    t_phiq = np.zeros((nh, nh))    # tr(Phi Q_hj)
    t_rrc = np.zeros((nh, nh))     # sum tr(W Vh W Vj W C)
    t_whh = np.zeros((nh, nh))     # sum n tr(W Vhj) - tr(Phi R_hj) - sum tr(W Vhj W C)
    u = np.zeros((nh, p))
    pmat = np.zeros((nh, p * p))
    qmat = np.zeros((nh * nh, p * p)) if full else None
    rmat = np.zeros((nh * nh, p * p)) if (full and d2s is not None) else None
    for b, w, cmat, gmat in zip(blocks, ev.ws, ev.cs, ev.gs):
        nb, m = b.vis.shape
        ri, rj = b.rows
        vh = ds[:, ri, rj].transpose(1, 0, 2, 3)          # (b, h, m, m)
        bh = w[:, None] @ vh                               # W Vh
        ah = bh @ w[:, None]                               # W Vh W
        bha = bh[:, :, None] @ ah[:, None, :]              # W Vh W Vj W  (b, h, j, m, m)
        bflat = bh.reshape(nb, nh, m * m)
        t_ww += np.einsum("b,bhk,bjk->hj", b.n, bflat, bh.transpose(0, 1, 3, 2).reshape(nb, nh, m * m))
        flat = bha.reshape(nb, nh * nh, m * m)
        t_phiq += (flat @ gmat.reshape(nb, m * m, 1)).sum(0).reshape(nh, nh)
        t_rrc += (flat @ cmat.reshape(nb, m * m, 1)).sum(0).reshape(nh, nh)
        dxr = (b.s2.reshape(nb, m * m, p1, p1) @ vvec)[..., :p]       # sum_i x_ia r_ib
        u += (ah.reshape(nb, nh, m * m) @ dxr).sum(0)
        sxx = b.sxx.reshape(nb * m * m, p * p)
        pmat -= ah.transpose(1, 0, 2, 3).reshape(nh, nb * m * m) @ sxx
        if full:
            qmat += bha.transpose(1, 2, 0, 3, 4).reshape(nh * nh, nb * m * m) @ sxx
        if d2s is not None:
            v2 = d2s[:, :, ri, rj].transpose(2, 0, 1, 3, 4)            # (b, h, j, m, m)
            w2w = w[:, None, None] @ v2 @ w[:, None, None]
            tr_w = (v2.reshape(nb, nh * nh, m * m) @ w.transpose(0, 2, 1).reshape(nb, m * m, 1))[..., 0]
            tr_gc = (w2w.reshape(nb, nh * nh, m * m) @ (gmat + cmat).reshape(nb, m * m, 1))[..., 0]
            t_whh += ((b.n[:, None] * tr_w).sum(0) - tr_gc.sum(0)).reshape(nh, nh)
            if rmat is not None:
                rmat += w2w.transpose(1, 2, 0, 3, 4).reshape(nh * nh, nb * m * m) @ sxx
    pm = pmat.reshape(nh, p, p)
    phip = phi[None] @ pm                               # Phi P_h
    t_pp = np.einsum("hab,jba->hj", phip, phip)
    tr_pvpv = t_ww - 2.0 * t_phiq + t_pp
    ypvpvpy = t_rrc - u @ phi @ u.T
    hess = -tr_pvpv + t_whh + 2.0 * ypvpvpy
    hess = 0.5 * (hess + hess.T)
    if not full:
        return hess, None, None, None
    q = qmat.reshape(nh, nh, p, p)
    r = None if rmat is None else rmat.reshape(nh, nh, p, p)
    return hess, pm, q, r


# ---------------------------------------------------------------------------------------
# fitting
# ---------------------------------------------------------------------------------------

def _empirical_start(blocks: list[_Block], p: int, k: int, n_rec: int) -> np.ndarray:
    """Covariance of OLS residuals over the pairs of visits observed together."""
    p1 = p + 1
    acc = np.zeros((p1, p1))
    for b in blocks:
        nb, m = b.vis.shape
        acc += b.s2.reshape(nb, m, m, p1, p1)[:, np.arange(m), np.arange(m)].sum((0, 1))
    try:
        beta = np.linalg.solve(acc[:p, :p], acc[:p, p])
    except np.linalg.LinAlgError:
        beta = np.zeros(p)
    vvec = np.append(-beta, 1.0)
    vv = np.outer(vvec, vvec).ravel()
    num, cnt = np.zeros((k, k)), np.zeros((k, k))
    for b in blocks:
        nb, m = b.vis.shape
        np.add.at(num, b.rows, (b.s2 @ vv).reshape(nb, m, m))
        np.add.at(cnt, b.rows, np.broadcast_to(b.n[:, None, None], (nb, m, m)))
    scale = (n_rec - p) / max(n_rec, 1)
    emp = np.where(cnt > 0, num / np.maximum(cnt, 1), 0.0) / max(scale, 1e-12)
    var = np.clip(np.diag(emp), 1e-8 * max(np.diag(emp).max(), 1e-8), None)
    sd = np.sqrt(var)
    corr = np.clip(emp / np.outer(sd, sd), -0.95, 0.95)
    np.fill_diagonal(corr, 1.0)
    lam, vec = np.linalg.eigh(corr)
    corr = (vec * np.clip(lam, 0.05, None)) @ vec.T
    d = np.sqrt(np.diag(corr))
    corr = corr / np.outer(d, d)
    return corr * np.outer(sd, sd)


def _fit(pats, st: CovStructure, p: int, n_rec: int, k: int):
    theta0 = st.start(_empirical_start(pats, p, k, n_rec))

    def fun(theta):
        psi = st.natural(theta)
        ev = _evaluate(pats, st.sigma(psi), p, n_rec)
        if ev is None or not np.isfinite(ev.obj):
            return 1e30, np.zeros_like(theta)
        g = st.jacobian(theta).T @ _grad_nat(ev, st.dsigma(psi))
        return ev.obj, g

    with np.errstate(all="ignore"):
        res = optimize.minimize(fun, theta0, jac=True, method="BFGS", options={"gtol": 1e-6, "maxiter": 1000})
    psi = st.natural(res.x)
    iterations = int(res.nit)
    ev = _evaluate(pats, st.sigma(psi), p, n_rec)
    if ev is None:
        return None, psi, iterations, False, "the REML criterion could not be evaluated at the optimiser's last point"
    # Newton polish in the natural parameters with the exact Hessian
    crit, hess_ok = math.inf, False
    for _ in range(30):
        ds = st.dsigma(psi)
        g = _grad_nat(ev, ds)
        hess = _second_order(pats, ev, ds, st.d2sigma(psi), p, full=False)[0]
        try:
            ch = np.linalg.cholesky(hess)
            hess_ok = True
        except np.linalg.LinAlgError:
            hess_ok = False
            break
        step = np.linalg.solve(ch.T, np.linalg.solve(ch, g))
        crit = float(g @ step) / max(abs(ev.obj), 1.0)
        if crit < 1e-15:   # the REML criterion cannot improve by more than rounding
            break
        t, moved = 1.0, False
        for _ in range(20):
            cand = psi - t * step
            if st.valid(cand):
                ev2 = _evaluate(pats, st.sigma(cand), p, n_rec)
                if ev2 is not None and ev2.obj <= ev.obj + 1e-10 * abs(ev.obj):
                    psi, ev, moved = cand, ev2, True
                    break
            t /= 2
        iterations += 1
        if not moved:
            break
    ds = st.dsigma(psi)
    g = _grad_nat(ev, ds)
    hess = _second_order(pats, ev, ds, st.d2sigma(psi), p, full=False)[0]
    try:
        ch = np.linalg.cholesky(hess)
        crit = float(g @ np.linalg.solve(ch.T, np.linalg.solve(ch, g))) / max(abs(ev.obj), 1.0)
        hess_ok = True
    except np.linalg.LinAlgError:
        hess_ok = False
    note = None
    converged = hess_ok and crit < 1e-8
    if not hess_ok:
        note = "the REML Hessian of the covariance parameters is not positive definite at the estimate"
    elif not converged:
        note = f"the REML optimisation did not meet the convergence criterion (relative g'H^-1 g = {crit:.3g})"
    return ev, psi, iterations, converged, note


# ---------------------------------------------------------------------------------------
# inference
# ---------------------------------------------------------------------------------------

def _kr_df(phi, lmat, wt, pm):
    """Kenward-Roger denominator df m and F scaling lambda for hypothesis rows ``lmat``."""
    q = lmat.shape[0]
    mm = lmat.T @ np.linalg.solve(lmat @ phi @ lmat.T, lmat)
    nh = pm.shape[0]
    x = (mm @ phi)[None] @ pm @ phi[None]   # M Phi P_h Phi
    tr = np.trace(x, axis1=1, axis2=2)
    a1 = tr @ wt @ tr
    # tr(x_h x_j) by einsum: a BLAS call with this long inner dimension goes multithreaded and
    # stalls on a busy machine
    a2 = float(np.sum(wt * np.einsum("hab,jba->hj", x, x)))
    b = (a1 + 6 * a2) / (2 * q)
    g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
    den = 3 * q + 2 - 2 * g
    c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
    e_star = 1.0 / (1.0 - a2 / q)
    v_star = 2.0 / q * (1 + c1 * b) / ((1 - c2 * b) ** 2 * (1 - c3 * b))
    rho = v_star / (2 * e_star ** 2)
    m = 4 + (q + 2) / (q * rho - 1)
    lam = m / (e_star * (m - 2))
    return float(m), float(lam)


def _sat_df_1d(phi, l, wt, pm):
    lp = phi @ l
    grad = -(pm.reshape(len(pm), -1) @ np.outer(lp, lp).ravel())
    return float(2 * (l @ phi @ l) ** 2 / (grad @ wt @ grad))


def _sat_df_md(phi, lmat, wt, pm):
    if lmat.shape[0] == 1:
        return _sat_df_1d(phi, lmat[0], wt, pm)
    lam, vec = np.linalg.eigh(lmat @ phi @ lmat.T)
    keep = lam > max(np.sqrt(np.finfo(float).eps) * lam.max(), 0)
    rows = vec[:, keep].T @ lmat
    nu = np.array([_sat_df_1d(phi, r, wt, pm) for r in rows])
    if np.all(np.abs(np.diff(nu)) < np.sqrt(np.finfo(float).eps)):
        return float(nu.mean())
    if np.any(nu <= 2):
        return 2.0
    e = float(np.sum(nu / (nu - 2)))
    return 2 * e / (e - len(nu))


class _Inference:
    def __init__(self, ddfm, phi, phi_a, wt, pm, df_resid):
        self.ddfm, self.phi, self.phi_a, self.wt, self.pm, self.df_resid = ddfm, phi, phi_a, wt, pm, df_resid

    def one(self, l: np.ndarray) -> tuple[float, float]:
        """(se, df) for the linear combination l'beta."""
        if self.ddfm == "kr":
            return float(np.sqrt(l @ self.phi_a @ l)), _kr_df(self.phi, l[None], self.wt, self.pm)[0]
        se = float(np.sqrt(l @ self.phi @ l))
        if self.ddfm == "satterthwaite":
            return se, _sat_df_1d(self.phi, l, self.wt, self.pm)
        return se, float(self.df_resid)

    def test(self, lmat: np.ndarray, beta: np.ndarray) -> tuple[float, float, float]:
        """(num_df, den_df, F) for H0: lmat beta = 0."""
        q = lmat.shape[0]
        est = lmat @ beta
        if self.ddfm == "kr":
            f = float(est @ np.linalg.solve(lmat @ self.phi_a @ lmat.T, est)) / q
            m, lam = _kr_df(self.phi, lmat, self.wt, self.pm)
            return float(q), m, lam * f
        f = float(est @ np.linalg.solve(lmat @ self.phi @ lmat.T, est)) / q
        if self.ddfm == "satterthwaite":
            return float(q), _sat_df_md(self.phi, lmat, self.wt, self.pm), f
        return float(q), float(self.df_resid), f



@dataclass
class _Core:
    ev: _Eval | None
    inf: _Inference | None
    sigma: np.ndarray | None
    psi: np.ndarray | None
    iterations: int
    converged: bool
    notes: list[str]


def _fit_core(x: np.ndarray, y: np.ndarray, subj: np.ndarray, vcode: np.ndarray, n_subj: int, st: CovStructure,
              ddfm: str, psi: np.ndarray | None = None) -> _Core:
    """REML fit and inference objects for a full-rank design ``x`` (records x p); with ``psi`` (SAS's
    covariance parameters) the inference is taken there instead of at the REML optimum."""
    n_rec, p = x.shape
    notes: list[str] = []
    pats = _patterns(x, y, subj, vcode, n_subj, st.k, st.n)
    if psi is None:
        ev, psi, iterations, converged, note = _fit(pats, st, p, n_rec, st.k)
    else:
        ev, iterations, converged, note = _evaluate(pats, st.sigma(psi), p, n_rec), 0, True, None
    if note:
        notes.append(f"{st.name} MMRM: {note}")
    if ev is None:
        return _Core(None, None, None, psi, iterations, False, notes)
    ds = st.dsigma(psi)
    hess, pm, q, r = _second_order(pats, ev, ds, st.d2sigma(psi), p, full=(ddfm != "residual"))
    phi = ev.ainv
    phi_a, wt = phi, None
    if ddfm != "residual":
        try:
            wt = 2.0 * np.linalg.inv(hess)
        except np.linalg.LinAlgError:
            wt = 2.0 * np.linalg.pinv(hess)
            notes.append(f"{st.name} MMRM: the covariance parameters' information matrix is singular")
        if ddfm == "kr":
            nh = len(pm)
            wp = np.tensordot(wt, pm, axes=(1, 0))                   # sum_j W_hj P_j
            inner = (wt.ravel() @ q.reshape(nh * nh, -1)).reshape(p, p) - np.sum(pm @ phi[None] @ wp, axis=0)
            if r is not None:
                inner -= 0.25 * (wt.ravel() @ r.reshape(nh * nh, -1)).reshape(p, p)
            phi_a = phi + 2 * phi @ inner @ phi
            phi_a = 0.5 * (phi_a + phi_a.T)
    inf = _Inference(ddfm, phi, phi_a, wt, pm, n_rec - p)
    return _Core(ev, inf, st.sigma(psi), psi, iterations, converged, notes)


def _t_p(t: float, df: float) -> float:
    return float(2 * stats.t.sf(abs(t), df))


# ---------------------------------------------------------------------------------------
# the public function
# ---------------------------------------------------------------------------------------

def fit_mmrm(data: pl.DataFrame, groups: list[str], visits: list[str], *, covariates=("BASE",), cov: str = "us",
             ddfm: str = "kr", conf: float = 0.95, levels: dict[str, list[str]] | None = None) -> MmrmResults:
    """REML MMRM y ~ group + visit + group:visit + covariates with ``cov`` residual covariance
    per subject across ``visits``, LS means per group x visit, differences vs ``groups[0]``,
    type III tests, with ``ddfm`` = "kr" (SAS DDFM=KR), "satterthwaite" or "residual"."""
    return _fit_mmrm(data, groups, visits, covariates, cov, ddfm, conf, levels, None)


def _fit_mmrm(data, groups, visits, covariates, cov, ddfm, conf, levels, sigma_at: np.ndarray | None) -> MmrmResults:
    """``fit_mmrm``; with ``sigma_at`` (k x k) the inference is taken at that covariance matrix
    instead of the REML optimum (to check the algebra against a reference's own estimate)."""
    groups, visits, covariates = list(groups), list(visits), list(covariates)
    levels = dict(levels or {})
    _check_options(groups, visits, covariates, cov, ddfm, conf)
    need = ["USUBJID", "group", "visit", "y", *covariates]
    absent = [c for c in need if c not in data.columns]
    if absent:
        raise ColumnNotFoundError(f"The MMRM data lack column {absent[0]}.",
                                  f"Provide columns {', '.join(need)}.")
    for col in ("USUBJID", "group", "visit"):
        if data.schema[col] != pl.String:
            raise DataError(f"Column {col} of the MMRM data has type {data.schema[col]}; it must be String.",
                            f"Cast {col} to String (e.g. pl.col('{col}').cast(pl.String)).")
    if not data.schema["y"].is_numeric():
        raise DataError(f"Column y of the MMRM data has type {data.schema['y']}; it must be numeric.",
                        "Pass the response (e.g. CHG) as Float64.")
    d, n_dropped, notes = _drop_missing(data.select(need), covariates)
    d = d.with_columns(pl.col("y").cast(pl.Float64))
    _check_data(d, groups, visits)
    design, gcode, vcode = _design(d, groups, visits, covariates, levels)
    x, p, k = design.x, design.x.shape[1], len(visits)
    subj = (d.get_column("USUBJID").rank("dense").to_numpy() - 1).astype(np.int64)
    n_subj = int(subj.max()) + 1
    n_rec = d.height
    st = make_structure(cov, k)
    if st.n > n_rec - p:
        raise DataError(f"Covariance structure {cov} has {st.n} parameters but only {n_rec - p} residual degrees "
                        "of freedom remain.", "Use a structure with fewer parameters (cs, ar1, toep).")
    psi = None if sigma_at is None else st.from_sigma(np.asarray(sigma_at, dtype=float))
    core = _fit_core(x, d.get_column("y").to_numpy(), subj, vcode, n_subj, st, ddfm, psi)
    notes += core.notes
    ev, inf, sigma, iterations, converged = core.ev, core.inf, core.sigma, core.iterations, core.converged
    if ev is None:
        return _empty(groups, visits, design, n_subj, n_rec, n_dropped, notes, iterations, cov, ddfm)
    beta = ev.beta

    # LS means rows: intercept, group, visit, interaction, covariates at their LS-means values
    def lrow(gi: int, vi: int) -> np.ndarray:
        l = np.zeros(p)
        l[0] = 1.0
        gcols, vcols, icols = design.terms["group"], design.terms["visit"], design.terms["group:visit"]
        if gi > 0:
            l[gcols[gi - 1]] = 1.0
        if vi > 0:
            l[vcols[vi - 1]] = 1.0
        if gi > 0 and vi > 0:
            l[icols[(gi - 1) * (k - 1) + vi - 1]] = 1.0
        for c in covariates:
            l[design.terms[c]] = design.cov_at[c]
        return l

    counts = {(gr, vi): n for gr, vi, n in d.group_by("group", "visit").len().iter_rows()}
    ls_rows, ct_rows = [], []
    alpha_q = 0.5 + conf / 2
    for vi, vname in enumerate(visits):
        for gi, gname in enumerate(groups):
            l = lrow(gi, vi)
            est = float(l @ beta)
            se, df = inf.one(l)
            half = stats.t.ppf(alpha_q, df) * se
            ls_rows.append((vname, gname, est, se, df, est - half, est + half, counts.get((gname, vname), 0)))
            if gi > 0:
                lc = l - lrow(0, vi)
                est = float(lc @ beta)
                se, df = inf.one(lc)
                t = est / se
                pval = _t_p(t, df)
                half = stats.t.ppf(alpha_q, df) * se
                ct_rows.append((vname, gname, groups[0], "vs reference", est, se, df, t, pval, est - half,
                                est + half, "none", pval))
    # type III (SAS): a main effect's rows are its levels' differences from the reference level,
    # averaged with equal weights over the other factor; interaction and covariates: their columns
    test_rows = []
    hyp = {
        "group": np.array([np.mean([lrow(gi, vi) - lrow(0, vi) for vi in range(k)], axis=0)
                           for gi in range(1, len(groups))]),
        "visit": np.array([np.mean([lrow(gi, vi) - lrow(gi, 0) for gi in range(len(groups))], axis=0)
                           for vi in range(1, k)]) if k > 1 else np.zeros((0, p)),
    }
    for term in ["group:visit", *covariates]:
        hyp[term] = np.eye(p)[design.terms[term]]
    for term in ["group", "visit", "group:visit", *covariates]:
        lmat = hyp[term]
        if lmat.shape[0] == 0:
            continue
        num, den, f = inf.test(lmat, beta)
        test_rows.append((term, num, den, f, float(stats.f.sf(f, num, den))))
    cov_rows = [(visits[a], visits[b], float(sigma[a, b])) for a in range(k) for b in range(k)]
    return MmrmResults(
        lsmeans=pl.DataFrame(ls_rows, schema=LSMEANS_SCHEMA, orient="row"),
        contrasts=pl.DataFrame(ct_rows, schema=CONTRASTS_SCHEMA, orient="row"),
        tests=pl.DataFrame(test_rows, schema=TESTS_SCHEMA, orient="row"),
        covariance=pl.DataFrame(cov_rows, schema=COVARIANCE_SCHEMA, orient="row"),
        n_subjects=n_subj, n_records=n_rec, n_dropped=n_dropped, notes=tuple(notes), converged=converged,
        iterations=iterations, loglik_reml=-0.5 * ev.obj, cov_structure=cov, ddfm=ddfm,
    )


def _empty(groups, visits, design, n_subj, n_rec, n_dropped, notes, iterations, cov, ddfm) -> MmrmResults:
    return MmrmResults(
        lsmeans=pl.DataFrame(schema=LSMEANS_SCHEMA), contrasts=pl.DataFrame(schema=CONTRASTS_SCHEMA),
        tests=pl.DataFrame(schema=TESTS_SCHEMA), covariance=pl.DataFrame(schema=COVARIANCE_SCHEMA),
        n_subjects=n_subj, n_records=n_rec, n_dropped=n_dropped, notes=tuple(notes), converged=False,
        iterations=iterations, loglik_reml=float("nan"), cov_structure=cov, ddfm=ddfm,
    )
