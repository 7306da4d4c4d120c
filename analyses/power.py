"""Power of the comparison a trial made: what "not significant" could have detected.

A claim that groups "did not differ" means little unless the comparison could have
found a difference of a size that matters. These functions give that power, from the
design the trial had (its groups, its events, its variance), for a stated effect.

Log-rank test (the survival stage's k-group test, ``survdiff``):

- ``logrank_power_formula``: Schoenfeld's formula (Schoenfeld 1983, Biometrika 70:315-318)
  from D observed events. The alternative: log hazards linear in group order with
  hazard ratio ``hr`` between the last and the first group (for two groups, the HR),
  theta_g = log(hr) * g / (k - 1). With group proportions p_g (the allocation) the
  log-rank statistic is approximately chi-square with k - 1 df and noncentrality
  lambda = D * sum_g p_g (theta_g - theta_bar)^2, theta_bar = sum_g p_g theta_g.
  Two groups: the usual power = Phi(sqrt(D p1 p2) |log hr| - z_{1-alpha/2}) (the far
  tail ignored, as Schoenfeld and R's ``powerSurvEpi`` do); k > 2: P(chi2_{k-1}(lambda) >
  chi2_{k-1, 1-alpha}). ``schoenfeld_events`` inverts the two-group formula:
  D = (z_{1-alpha/2} + z_{power})^2 / (p1 p2 log(hr)^2).
- ``logrank_power_simulated``: ``sims`` trials of the same size: each subject keeps its
  group, draws an exponential event time with hazard lambda_pool * exp(theta_g - theta_bar)
  (lambda_pool = observed events / observed follow-up time, so the expected event count
  matches the trial's) and a censoring time drawn with replacement from the trial's own
  censoring times (censoring as observed); the test is survdiff's chisq (the formula of
  ``analyses.survival.compare.logrank_test``, the groups with E > 0, the first dropped),
  computed for all simulations at once. Seeded (numpy PCG64).

Dose-by-visit interaction of the biomarkers model (CHG ~ BASE + group * visit,
random intercept per subject):

- The stated effect ``effect`` (in the parameter's units): the difference in mean change
  between the last and the first group grows linearly in visit order from 0 at the first
  post-baseline visit to ``effect`` at the last (group scores s_g equally spaced in
  [-1/2, 1/2], visit fractions t_j = j / (m - 1)); mean change mu_gj = effect s_g t_j.
- Model: the interaction test of the split-plot (random intercept) model on a complete,
  balanced-within-group design with the trial's group sizes and visits and without the
  BASE covariate: F = MS(group x visit) / MS(visit x subject within group), df
  (k - 1)(m - 1) and (N - k)(m - 1); the subject variance cancels from this within-subject
  test, so it is exact and needs no REML refit (the trialkit REML engine, too slow for
  hundreds of refits per report, gives the same F on such data). Noncentrality
  lambda = effect^2 sum_g n_g (s_g - s_bar)^2 sum_j (t_j - t_bar)^2 / sigma^2 with sigma
  the model's residual SD; ``interaction_power_formula`` is P(F'(df1, df2, lambda) > F_crit),
  ``interaction_power_simulated`` draws normal data from the fitted variance components
  (subject SD and residual SD) with that mean and runs the F test, ``sims`` times, seeded.
- ``interaction_excluded_p``: the equivalence-style test: P(F <= F_obs) when the true
  interaction has the stated size (noncentral F); below alpha, an interaction that large is
  excluded by the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "PowerResult",
    "log_hazards",
    "schoenfeld_events",
    "logrank_power_formula",
    "logrank_power_simulated",
    "logrank_chisq_batch",
    "interaction_noncentrality",
    "interaction_power_formula",
    "interaction_power_simulated",
    "splitplot_interaction_f",
    "interaction_excluded_p",
]


@dataclass(frozen=True)
class PowerResult:
    """The power of one comparison: by formula and by simulation (None when not simulated), and how."""

    test: str  # "log-rank" or "group x visit interaction"
    effect: float  # the stated effect (an HR, or a difference in the parameter's units)
    effect_text: str  # "HR 0.5 (last vs first group)"
    alpha: float
    formula: float
    formula_method: str
    simulated: float | None
    sims: int
    seed: int | None
    mc_se: float | None  # Monte-Carlo standard error of the simulated power
    detail: str  # "3 events, 3 groups of 8" / "24 subjects in 3 groups, 7 visits, residual SD 1.95"


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), not {alpha}")


def log_hazards(hr: float, proportions: np.ndarray) -> np.ndarray:
    """theta_g - theta_bar: log hazards linear in group order, hr between last and first, centred (weights p_g)."""
    k = len(proportions)
    theta = math.log(hr) * np.arange(k) / (k - 1)
    return theta - float(np.sum(proportions * theta))


def schoenfeld_events(hr: float, power: float, alpha: float = 0.05, allocation: float = 0.5) -> float:
    """Events two groups need (Schoenfeld): (z_{1-alpha/2} + z_power)^2 / (p (1 - p) log(hr)^2)."""
    _check_alpha(alpha)
    p = allocation
    return (stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) ** 2 / (p * (1 - p) * math.log(hr) ** 2)


def logrank_power_formula(events: float, hr: float, alpha: float = 0.05,
                          proportions: tuple[float, ...] = (0.5, 0.5)) -> float:
    """Schoenfeld's power of the k-group log-rank test with ``events`` events (module docstring)."""
    _check_alpha(alpha)
    p = np.asarray(proportions, dtype=float)
    p = p / p.sum()
    k = len(p)
    if k < 2:
        raise ValueError("the log-rank test needs two groups")
    if k == 2:
        return float(stats.norm.cdf(math.sqrt(events * p[0] * p[1]) * abs(math.log(hr)) - stats.norm.ppf(1 - alpha / 2)))
    lam = events * float(np.sum(p * log_hazards(hr, p) ** 2))
    crit = stats.chi2.ppf(1 - alpha, k - 1)
    return float(stats.ncx2.sf(crit, k - 1, lam))


def logrank_chisq_batch(time: np.ndarray, event: np.ndarray, group: np.ndarray, k: int) -> np.ndarray:
    """survdiff's log-rank chisq for each row of ``time``/``event`` (sims x n), groups ``group`` (n,) in 0..k-1.

    Event times are assumed distinct within a row (continuous simulated times); censorings may tie. As
    ``logrank_test``: O - E and V over the groups with E > 0, the first of them dropped; NaN when fewer
    than two groups have E > 0.
    """
    sims, n = time.shape
    order = np.argsort(time, axis=1, kind="stable")
    ev = np.take_along_axis(event, order, axis=1).astype(float)  # sims x n, in time order
    onehot = np.eye(k)[group][order]  # sims x n x k
    at_risk = np.cumsum(onehot[:, ::-1, :], axis=1)[:, ::-1, :]  # subjects with time >= t (censorings tie-free
    # among events: a censoring at an event time is at risk, as survdiff, only with equal times, probability 0)
    big_n = at_risk.sum(axis=2)  # sims x n
    frac = at_risk / big_n[..., None]
    obs = np.einsum("sn,snk->sk", ev, onehot)
    exp = np.einsum("sn,snk->sk", ev, frac)
    # V = sum over deaths of (diag(f) - f f') (one death per time, so (N - d) / (N - 1) = 1)
    var = np.einsum("sn,snk->sk", ev, frac)[..., None] * np.eye(k) - np.einsum("sn,snk,snl->skl", ev, frac, frac)
    out = np.full(sims, np.nan)
    used = exp > 1e-12
    full = used.all(axis=1)
    if full.any():
        diff = (obs - exp)[full][:, 1:]
        v = var[full][:, 1:, 1:]
        try:
            out[full] = np.einsum("sk,sk->s", np.linalg.solve(v, diff[..., None])[..., 0], diff)
        except np.linalg.LinAlgError:
            full[:] = False
    for s in np.flatnonzero(~full & (used.sum(axis=1) >= 2)):  # a group never at risk at a death: rare
        u = np.flatnonzero(used[s])
        diff = (obs[s] - exp[s])[u][1:]
        try:
            out[s] = float(diff @ np.linalg.solve(var[s][np.ix_(u, u)][1:, 1:], diff))
        except np.linalg.LinAlgError:
            pass
    return out


def logrank_power_simulated(group: np.ndarray, time: np.ndarray, event: np.ndarray, hr: float, alpha: float = 0.05,
                            sims: int = 500, seed: int = 1) -> tuple[float, float]:
    """Simulated power of the k-group log-rank test for ``hr`` (module docstring); returns (power, MC SE).

    ``group`` (codes 0..k-1 in dose order), ``time`` and ``event`` are the trial's subjects.
    """
    _check_alpha(alpha)
    group = np.asarray(group, dtype=np.int64)
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    k = int(group.max()) + 1
    n = len(group)
    events, exposure = int(event.sum()), float(time.sum())
    censor_times = time[~event]
    if events == 0 or exposure <= 0 or censor_times.size == 0:
        raise ValueError("the simulation needs at least one event and one censored subject")
    p = np.bincount(group, minlength=k) / n
    rate = events / exposure * np.exp(log_hazards(hr, p))[group]  # n
    rng = np.random.Generator(np.random.PCG64(seed))
    t_event = rng.exponential(1.0, size=(sims, n)) / rate
    t_censor = rng.choice(censor_times, size=(sims, n), replace=True)
    t = np.minimum(t_event, t_censor)
    e = t_event <= t_censor
    chisq = logrank_chisq_batch(t, e, group, k)
    crit = stats.chi2.ppf(1 - alpha, k - 1)
    # a simulated trial whose test does not exist (too few groups with events) does not reject
    reject = np.where(np.isnan(chisq), False, chisq > crit)
    power = float(reject.mean())
    return power, math.sqrt(power * (1 - power) / sims)


def _interaction_scores(n_per_group: np.ndarray, visits: int) -> tuple[float, float]:
    k = len(n_per_group)
    s = np.linspace(-0.5, 0.5, k)
    s_c = s - np.sum(n_per_group * s) / n_per_group.sum()
    t = np.arange(visits) / (visits - 1)
    return float(np.sum(n_per_group * s_c ** 2)), float(np.sum((t - t.mean()) ** 2))


def interaction_noncentrality(effect: float, n_per_group: tuple[int, ...], visits: int, sigma: float) -> float:
    """lambda = effect^2 sum n_g (s_g - s_bar)^2 sum (t_j - t_bar)^2 / sigma^2 (module docstring)."""
    gs, vs = _interaction_scores(np.asarray(n_per_group, dtype=float), visits)
    return effect ** 2 * gs * vs / sigma ** 2


def _interaction_df(n_per_group, visits: int) -> tuple[int, int]:
    k = len(n_per_group)
    return (k - 1) * (visits - 1), (int(sum(n_per_group)) - k) * (visits - 1)


def interaction_power_formula(effect: float, n_per_group: tuple[int, ...], visits: int, sigma: float,
                              alpha: float = 0.05) -> float:
    """P(F'(df1, df2, lambda) > F_{1-alpha}) for the split-plot interaction test (module docstring)."""
    _check_alpha(alpha)
    df1, df2 = _interaction_df(n_per_group, visits)
    lam = interaction_noncentrality(effect, n_per_group, visits, sigma)
    crit = stats.f.ppf(1 - alpha, df1, df2)
    # scipy's noncentral F is wrong at lambda = 0: the central F there
    return float(stats.ncf.sf(crit, df1, df2, lam) if lam > 0 else stats.f.sf(crit, df1, df2))


def splitplot_interaction_f(y: np.ndarray, group: np.ndarray, k: int) -> np.ndarray:
    """The group x visit F of the split-plot model for each of ``y``'s data sets (sims x subjects x visits,
    complete), subjects in groups ``group`` (codes 0..k-1): F = MS(group x visit) / MS(visit x subject within
    group), df (k - 1)(m - 1) and (N - k)(m - 1). R: ``summary(aov(y ~ group * visit + Error(subject)))``, or the
    interaction F of ``anova(nlme::lme(y ~ group * visit, random = ~ 1 | subject))``."""
    y = np.asarray(y, dtype=float)
    if y.ndim == 2:
        y = y[None]
    group = np.asarray(group, dtype=np.int64)
    ng = np.bincount(group, minlength=k).astype(float)
    _, n, m = y.shape
    onehot = np.eye(k)[group]  # n x k
    cell = np.einsum("nk,snm->skm", onehot, y) / ng[:, None]  # group-visit means
    subj = y.mean(axis=2)  # subject means
    grp = np.einsum("nk,sn->sk", onehot, subj) / ng  # group means
    visit = np.einsum("k,skm->sm", ng / n, cell)
    grand = visit.mean(axis=1)
    inter = cell - grp[..., None] - visit[:, None, :] + grand[:, None, None]
    ss_gv = np.einsum("k,skm->s", ng, inter ** 2)
    resid = y - subj[..., None] - cell[:, group, :] + grp[:, group][..., None]
    ss_e = np.sum(resid ** 2, axis=(1, 2))
    df1, df2 = (k - 1) * (m - 1), (n - k) * (m - 1)
    return (ss_gv / df1) / (ss_e / df2)


def interaction_power_simulated(effect: float, n_per_group: tuple[int, ...], visits: int, sigma: float,
                                sd_subject: float, alpha: float = 0.05, sims: int = 500,
                                seed: int = 1) -> tuple[float, float]:
    """Simulated power of the split-plot interaction F test (module docstring); returns (power, MC SE)."""
    _check_alpha(alpha)
    ng = np.asarray(n_per_group, dtype=np.int64)
    k, m, n = len(ng), visits, int(ng.sum())
    g = np.repeat(np.arange(k), ng)
    s = np.linspace(-0.5, 0.5, k)
    t = np.arange(m) / (m - 1)
    mu = effect * np.outer(s, t)[g]  # n x m
    rng = np.random.Generator(np.random.PCG64(seed))
    y = mu + sd_subject * rng.standard_normal((sims, n, 1)) + sigma * rng.standard_normal((sims, n, m))
    f = splitplot_interaction_f(y, g, k)
    df1, df2 = _interaction_df(tuple(ng), m)
    power = float(np.mean(f > stats.f.ppf(1 - alpha, df1, df2)))
    return power, math.sqrt(power * (1 - power) / sims)


def interaction_excluded_p(f_obs: float, df1: float, df2: float, effect: float, n_per_group: tuple[int, ...],
                           visits: int, sigma: float) -> float:
    """P(F <= f_obs) under an interaction of size ``effect``: small when the data exclude it."""
    lam = interaction_noncentrality(effect, n_per_group, visits, sigma)
    return float(stats.ncf.cdf(f_obs, df1, df2, lam) if lam > 0 else stats.f.cdf(f_obs, df1, df2))
