"""The Cox partial-likelihood engine: Newton-Raphson as R's ``coxph`` (``coxfit6``), vectorised.

``fit_cox(time, event, x, strata, ties)`` reproduces
``coxph(Surv(time, event) ~ x + strata(s), ties = "efron" | "breslow")``:
``coef(fit)``, ``vcov(fit)`` (the inverse observed information at the MLE),
``fit$loglik`` (null and final), and the three global tests of
``summary(fit)``: likelihood ratio 2 (l(b) - l(0)), Wald b' V^-1 b and
"Score (logrank) test" U(0)' I(0)^-1 U(0), each on ``df`` = number of
non-aliased coefficients.

The partial likelihood, per stratum, with w = exp(x'b) and, at a distinct
time with d tied deaths D in the risk set R, for the l-th tied death
(l = 0..d-1; Breslow replaces l/d by 0):

    phi_l = S0 - (l/d) D0,   S0 = sum_R w,   D0 = sum_D w   (S1, D1, S2, D2: the same sums of w x, w x x')
    a_l   = S1 - (l/d) D1
    loglik = sum_D x'b - sum_l log phi_l
    score  = sum_D x   - sum_l a_l / phi_l
    info   = sum_l (S2 - (l/d) D2) / phi_l - a_l a_l' / phi_l^2

How it is vectorised: rows are sorted once by (stratum, time descending);
S0 and S1 at a time are cumulative sums (restarted per stratum) read at the
end of each tied block; each death carries its rank l among its block's
deaths. The S2 term never needs an n x p x p cumulative sum: since
sum_blocks S2_b c_b = sum_i w_i x_i x_i' C_i with c_b = sum_l 1/phi_l and C_i
the sum of c_b over the blocks whose risk set holds i (a reverse cumulative
sum), it is one weighted cross-product x' diag(w C) x. Loops run over
strata and Newton iterations only.

Iteration (R's coxfit6): from b = 0, a Newton step; when the log-likelihood
falls, halve the step; stop when |1 - l_old / l_new| <= tol after a full
step, and report that last b. Newton's iterates do not depend on how x is
centred or scaled, so these are R's own iterates: coefficients agree with
coxph to about 1e-12 relative (R's b is one quadratically convergent step
past a change of 1e-9 in the log-likelihood, so it is itself close to the
exact MLE). ``polish=True`` goes on with Newton steps while they move b by
more than 1e-10 (1 + |b|), towards the exact MLE. x is centred on its
means (as R does) and eta on its maximum before exp, so nothing overflows.
Columns aliased with earlier ones (R's ``cholesky2`` with toler.chol =
eps^0.75 on the information at b = 0) get coefficient NaN, as R's NA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CoxFit", "CoxProblem", "SortedProblem", "RiskSums", "fit_cox", "cox_information", "risk_sums",
           "weighted_information"]

_TOL_CHOL = np.finfo(float).eps ** 0.75


class CoxProblem(Exception):
    """The engine cannot go on (singular information, non-finite values); callers turn it into a reason."""


@dataclass(frozen=True, eq=False)
class CoxFit:
    """One fitted model: R's coef(fit), vcov(fit), fit$loglik, and summary(fit)'s three tests."""

    coef: np.ndarray          # (p,), NaN for aliased columns
    var: np.ndarray           # (p, p), inverse information at the MLE, NaN rows/columns for aliased columns
    loglik_null: float        # fit$loglik[1]
    loglik: float             # fit$loglik[2]
    score_test: float         # summary(fit)$sctest["test"]
    wald_test: float          # summary(fit)$waldtest["test"]
    lr_test: float            # summary(fit)$logtest["test"]
    df: int                   # non-aliased coefficients
    iterations: int
    converged: bool
    n: int
    events: int
    score: np.ndarray         # U at the reported coef (R's fit$u before the final step), for the infinite-coef check
    aliased: np.ndarray       # (p,) bool
    data: "SortedProblem | None" = None  # the sorted rows the fit ran on (cox.zph reuses them); None when aliased


class SortedProblem:
    """The data sorted by (stratum, time descending), with the block structure every iteration reuses.

    A block is one (stratum, time): its rows enter the risk set together. Risk-set sums are cumulative
    sums over blocks (restarted per stratum) of per-block sums.
    """

    def __init__(self, time, event, x, strata, ties):
        n = len(time)
        order = np.argsort(_radix_key(-time), kind="stable")
        if strata is not None:
            codes = np.asarray(strata)[order]
            by_stratum = np.argsort(_radix_key(codes), kind="stable")
            order, s = order[by_stratum], codes[by_stratum]
        else:
            s = np.zeros(n, dtype=np.int8)
        t = time[order]
        self.order = order                                            # input row of each sorted row
        self.strata = s                                               # stratum code of each sorted row
        # the design as variables x rows (each variable contiguous): the sums per block and the weighted
        # cross-products run along contiguous rows, twice as fast as down the columns of an n x p matrix
        xt = np.take(np.asarray(x, dtype=float), order, axis=0).T.copy()  # take rows, then one transposing copy
        dead = event[order] > 0
        new_block = np.empty(n, dtype=bool)
        new_block[0] = True
        new_block[1:] = (t[1:] != t[:-1]) | (s[1:] != s[:-1])
        self.block_start = np.flatnonzero(new_block)
        self.block_time = t[self.block_start]
        nb = len(self.block_start)
        self.block = np.cumsum(new_block) - 1                         # block of each row
        bs = s[self.block_start]
        first = np.flatnonzero(np.append(True, bs[1:] != bs[:-1]))
        self.bounds = list(zip(first.tolist(), [*first[1:].tolist(), nb]))   # stratum -> block range
        self.pos_d = np.flatnonzero(dead)
        self.db = self.block[self.pos_d]                              # block of each death
        self.counts = counts = np.bincount(self.db, minlength=nb)     # deaths per block
        first_death = np.cumsum(counts) - counts                      # index into deaths of each block's first
        rank = np.arange(len(self.db)) - first_death[self.db]
        self.frac = rank / counts[self.db] if ties == "efron" else np.zeros(len(self.db))
        self.dstart = np.flatnonzero(rank == 0)                       # first death of each block with deaths
        self.nb = nb
        self.ties = ties
        self._last = None
        self.set_x(xt)

    def evaluated_at(self, beta: np.ndarray):
        """(RiskSums, information, c1, c2) of the last evaluation if it was at ``beta``, else None: the fit
        ends with an evaluation at its coefficients, which cox.zph needs again."""
        last = self._last
        if last is not None and last[0].shape == np.shape(beta) and np.array_equal(last[0], beta):
            return last[1:]
        return None

    def set_x(self, xt: np.ndarray) -> None:
        """The (sorted) design as p x n, and what every iteration reads of the deaths' rows: gathered once."""
        self.xt = xt
        self._last = None
        self.xdt = np.take(xt, self.pos_d, axis=1)
        self.xd_sum = self.xdt.sum(axis=1)


def _radix_key(a: np.ndarray) -> np.ndarray:
    """``a`` as int16 when it holds whole numbers within int16 (whole days, stratum codes): numpy's stable sort
    of 16-bit integers is a radix sort, a fraction of the merge sort of floats or wide integers; else ``a``."""
    if a.size and a.dtype.kind in "iuf":
        lo, hi = a.min(), a.max()
        if -2**15 < lo and hi < 2**15 and (a.dtype.kind != "f" or (np.isfinite(lo) and (a == np.floor(a)).all())):
            return a.astype(np.int16)
    return a


def _segmented_cumsum(a: np.ndarray, bounds, reverse: bool = False) -> np.ndarray:
    """Cumulative sums along axis 0 restarted at each stratum (a loop over strata only)."""
    out = np.empty_like(a)
    for lo, hi in bounds:
        seg = a[lo:hi]
        out[lo:hi] = np.cumsum(seg[::-1], axis=0)[::-1] if reverse else np.cumsum(seg, axis=0)
    return out


@dataclass(frozen=True, eq=False)
class RiskSums:
    """The risk-set sums at one b on sorted data: w = exp(x'b - m) per row, its share over the deaths,
    S1 (cumulative, per block), D1 (the deaths' sum of w x, per block) and phi per death (module docstring)."""

    m: float
    w: np.ndarray
    wd: np.ndarray
    s1: np.ndarray
    d1: np.ndarray
    phi: np.ndarray


def risk_sums(d: SortedProblem, beta: np.ndarray) -> RiskSums:
    """S0, S1 read at the end of each block, D0, D1 per block, and phi_l per death, at ``beta``."""
    xt, nb, db = d.xt, d.nb, d.db
    eta = beta @ xt
    m = float(eta.max())
    w = np.exp(eta - m)
    s0 = _segmented_cumsum(np.add.reduceat(w, d.block_start), d.bounds)
    s1 = _segmented_cumsum(np.add.reduceat(xt * w, d.block_start, axis=1).T, d.bounds)
    wd = w[d.pos_d]
    d0 = np.bincount(db, weights=wd, minlength=nb)
    d1 = np.zeros((nb, xt.shape[0]))
    if len(db):  # deaths are grouped by block: sum each run
        d1[db[d.dstart]] = np.add.reduceat(d.xdt * wd, d.dstart, axis=1).T
    return RiskSums(m, w, wd, s1, d1, s0[db] - d.frac * d0[db])


def weighted_information(d: SortedProblem, r: RiskSums, h: np.ndarray | None = None):
    """sum over the deaths' steps of h * (S2_l / phi_l - a_l a_l' / phi_l^2), and the per-block c1, c2.

    With h = 1 (None) this is the observed information; cox.zph adds h = g(t) and g(t)^2. h is per death and
    must be constant within a block. c1 = sum_l h / phi_l and c2 = sum_l h f_l / phi_l per block give the
    score's risk-set part, c1 S1 - c2 D1. The S2 term is one weighted cross-product (module docstring); the
    S1 terms are per block: sum_l h a_l a_l' / phi_l^2 = S1 S1' g0 - (S1 D1' + D1 S1') g1 + D1 D1' g2 with
    g_k = sum_l h f_l^k / phi_l^2.
    """
    xt, nb, db, f = d.xt, d.nb, d.db, d.frac
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / r.phi
        inv2 = inv * inv
    if h is not None:
        inv, inv2 = h * inv, h * inv2
    c1 = np.bincount(db, weights=inv, minlength=nb)
    c2 = np.bincount(db, weights=f * inv, minlength=nb)
    g0 = np.bincount(db, weights=inv2, minlength=nb)
    g1 = np.bincount(db, weights=f * inv2, minlength=nb)
    g2 = np.bincount(db, weights=f * f * inv2, minlength=nb)
    big_c = _segmented_cumsum(c1, d.bounds, reverse=True)
    v = r.w * big_c[d.block]
    v[d.pos_d] -= r.wd * c2[db]
    cross = (r.s1 * g1[:, None]).T @ r.d1
    info = ((xt * v) @ xt.T - (r.s1 * g0[:, None]).T @ r.s1 + cross + cross.T
            - (r.d1 * g2[:, None]).T @ r.d1)
    return info, c1, c2


def _evaluate(d: SortedProblem, beta: np.ndarray):
    """Log partial likelihood, score and information at beta on sorted data.

    Row-level work is a handful of passes over x; per-death work is on scalars (phi and its powers).
    """
    r = risk_sums(d, beta)
    with np.errstate(divide="ignore", invalid="ignore"):
        loglik = float(d.xd_sum @ beta - np.log(r.phi).sum() - r.m * len(r.phi))
    info, c1, c2 = weighted_information(d, r)
    d._last = (np.array(beta, dtype=float), r, info, c1, c2)
    score = d.xd_sum - c1 @ r.s1 + c2 @ r.d1
    return loglik, score, info


def _aliased(info: np.ndarray) -> np.ndarray:
    """Columns R's cholesky2 (toler.chol = eps^0.75) would zero: pivots below toler * the largest diagonal."""
    p = info.shape[0]
    m = info.astype(float).copy()
    diag = np.diag(m)
    eps = (diag.max() if p else 0.0) * _TOL_CHOL
    out = np.zeros(p, dtype=bool)
    for i in range(p):  # p is the number of model columns: a handful
        pivot = m[i, i]
        if not np.isfinite(pivot) or pivot < eps:
            out[i] = True
            continue
        col = m[i + 1:, i] / pivot
        m[i + 1:, i + 1:] -= np.outer(col, m[i, i + 1:])
    return out


def _solve(info: np.ndarray, u: np.ndarray) -> np.ndarray:
    try:
        step = np.linalg.solve(info, u)
    except np.linalg.LinAlgError as exc:
        raise CoxProblem("the information matrix is singular") from exc
    if not np.all(np.isfinite(step)):
        raise CoxProblem("the Newton step is not finite")
    return step


def cox_information(time, event, x, beta, strata=None, ties: str = "efron") -> tuple[float, np.ndarray, np.ndarray]:
    """(log partial likelihood, score vector, observed information) at ``beta`` -- coxph's loglik, u, imat."""
    time, event, x, strata = _inputs(time, event, x, strata)
    xc = x - x.mean(axis=0) if len(x) else x
    return _evaluate(SortedProblem(time, event, xc, strata, ties), np.asarray(beta, dtype=float))


def _inputs(time, event, x, strata):
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if strata is not None:
        strata = np.asarray(strata)
    if not (len(time) == len(event) == len(x)) or (strata is not None and len(strata) != len(time)):
        raise ValueError("time, event, x and strata must have the same length")
    if len(time) == 0:
        raise CoxProblem("no subjects")
    if not (np.all(np.isfinite(time)) and np.all(np.isfinite(x))):
        raise CoxProblem("times and covariates must be finite")
    return time, event, x, strata


def fit_cox(time, event, x, strata=None, ties: str = "efron", max_iter: int = 100, tol: float = 1e-9,
            polish: bool = False) -> CoxFit:
    """coxph(Surv(time, event) ~ x + strata(strata), ties = ties): see the module docstring.

    ``x`` is the (n, p) design (already dummy-coded), ``strata`` an integer code per row or None.
    Raises ``CoxProblem`` when there is nothing to fit (no events, singular information).
    """
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', not {ties!r}")
    time, event, x, strata = _inputs(time, event, x, strata)
    n, p = x.shape
    events = int((event > 0).sum())
    if events == 0:
        raise CoxProblem("no events")
    xc = x - x.mean(axis=0)
    full = SortedProblem(time, event, xc, strata, ties)
    ll0, u0, i0 = _evaluate(full, np.zeros(p))
    aliased = _aliased(i0)
    keep = ~aliased
    k = int(keep.sum())
    coef = np.full(p, np.nan)
    var = np.full((p, p), np.nan)
    score_full = np.full(p, np.nan)
    if k == 0:
        return CoxFit(coef, var, ll0, ll0, 0.0, 0.0, 0.0, 0, 0, True, n, events, score_full, aliased)
    d = full
    if aliased.any():  # fit without the aliased columns, on the same sorted rows
        d.set_x(d.xt[keep])
        u0, i0 = u0[keep], i0[np.ix_(keep, keep)]
    step = _solve(i0, u0)
    score_test = float(u0 @ step)
    beta = np.zeros(k)
    ll_old = ll0
    new = beta + step
    halving = False
    converged = False
    it = 0
    u, info = u0, i0
    for it in range(1, max_iter + 1):
        ll_new, u_new, info_new = _evaluate(d, new)
        if not np.isfinite(ll_new):
            ll_new = -np.inf
        if not halving and abs(ll_new - ll_old) <= tol * abs(ll_new):  # R: |1 - l_old / l_new| <= tol
            beta, u, info, ll_old, converged = new, u_new, info_new, ll_new, True
            break
        if it == max_iter:
            beta, u, info, ll_old = new, u_new, info_new, ll_new
            break
        if ll_new < ll_old:
            halving = True
            new = (new + beta) / 2
        else:
            halving = False
            beta, u, info, ll_old = new, u_new, info_new, ll_new
            new = beta + _solve(info, u)
    if converged and polish:  # a few more Newton steps while they still move b and do not lower the likelihood
        for _ in range(5):
            try:
                step = _solve(info, u)
            except CoxProblem:
                break
            if np.max(np.abs(step) / (1 + np.abs(beta))) <= 1e-10:
                break
            ll_new, u_new, info_new = _evaluate(d, beta + step)
            if not (np.isfinite(ll_new) and ll_new >= ll_old - 1e-12 * abs(ll_old)):
                break
            beta, u, info, ll_old = beta + step, u_new, info_new, ll_new
    try:
        v = np.linalg.inv(info)
    except np.linalg.LinAlgError as exc:
        raise CoxProblem("the information matrix is singular") from exc
    coef[keep] = beta
    var[np.ix_(keep, keep)] = v
    score_full[keep] = u
    wald = float(beta @ np.linalg.solve(v, beta)) if np.all(np.isfinite(v)) else float("nan")
    return CoxFit(coef, var, float(ll0), float(ll_old), score_test, wald, float(2 * (ll_old - ll0)), k, it,
                  converged, n, events, score_full, aliased, None if aliased.any() else d)
