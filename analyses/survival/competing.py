"""Competing risks: event types, Aalen-Johansen cumulative incidence, Gray's test.

When an endpoint's events are of several types (PARAMCD DTHTX: "Death" or
"Liver transplant"), 1 - Kaplan-Meier of one type, censoring the others,
overstates that type's probability. The cumulative incidence function (CIF)
of type k, F_k(t) = sum over event times s <= t of S(s-) d_k(s) / n(s) (S the
all-types Kaplan-Meier of the arm, n at risk, d_k events of type k), does not.

- ``event_type_data``: the type of each event row (CNSR = 0) of the endpoint,
  from ADTTE EVNTDESC or the variable ``event_type`` names; censored rows have
  none (their EVNTDESC often says why they were censored and is ignored).
- ``cumulative_incidence``: one row per arm, event type and distinct time of
  the arm (events and censorings): ``n_risk`` at risk (AVAL >= t), ``n_event``
  events of the type at t, ``estimate`` F_k(t), ``std_err``, ``lower``,
  ``upper``. ``estimate`` equals both
  ``survfit(Surv(AVAL, factor(status, levels = c("censor", types))) ~ TRT01A)$pstate``
  and ``cmprsk::cuminc(AVAL, status, TRT01A, cencode = "censor")$est``.
  ``std_err`` is the square root of cuminc's ``var`` (Gray's delta-method
  variance with its correction for tied events, (n - d) / (n - 1) per type),
  the value clinical papers quote, carried forward between the type's
  events as ``timepoints(ci, times)``; it is not survfit's infinitesimal-
  jackknife ``std.err``. cmprsk gives no interval: ``lower`` and ``upper``
  are the usual log(-log) limits for it,
  exp(-exp(log(-log F) -/+ z se / (F log F))), z = qnorm((1 + conf_level) / 2);
  null where F is 0 or 1 (the transform is undefined there).
- ``cif_landmarks``: the table's values carried forward to given times, as
  ``summary(fit, times, extend = TRUE)`` (estimate, n.risk) and
  ``timepoints(ci, times)`` (var); before the first time, F = 0 and se = 0;
  ``extrapolated`` is true after the arm's last time.
- ``gray_test``: Gray's (1988) K-sample test that the arms share the CIF of
  each type, as ``cuminc(AVAL, status, TRT01A, strata = , rho = )$Tests``
  (stat, pv, df); see ``gray_test`` for the statistic and its variance.
- ``analyse_competing``: all of the above for one endpoint, as the survival
  stage calls it; ``competing_json`` its part of the stage's JSON.

Every function works per arm, stratum or type (a handful of loops) and is
vectorised over subjects and times with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.analyses.survival.km import SURVIVAL_DATA_HINT
from trialkit.schemas.errors import DataError, UsageError

__all__ = [
    "CIF_SCHEMA",
    "CIF_LANDMARK_SCHEMA",
    "GRAY_SCHEMA",
    "EventTypes",
    "event_type_data",
    "has_competing_events",
    "derive_competing_data",
    "event_types",
    "cumulative_incidence",
    "cif_landmarks",
    "gray_test",
    "CompetingResults",
    "analyse_competing",
    "competing_json",
]

DEFAULT_EVENT_TYPE = "EVNTDESC"
CIF_SCHEMA = {"arm": pl.String, "event": pl.String, "time": pl.Float64, "n_risk": pl.Int64, "n_event": pl.Int64,
              "estimate": pl.Float64, "std_err": pl.Float64, "lower": pl.Float64, "upper": pl.Float64}
CIF_LANDMARK_SCHEMA = {"arm": pl.String, "event": pl.String, "time": pl.Float64, "n_risk": pl.Int64,
                       "estimate": pl.Float64, "std_err": pl.Float64, "lower": pl.Float64, "upper": pl.Float64,
                       "extrapolated": pl.Boolean}
GRAY_SCHEMA = {"event": pl.String, "chisq": pl.Float64, "df": pl.Int64, "p": pl.Float64, "rho": pl.Float64,
               "strata": pl.String, "reason": pl.String}
_EVENT_HINT = "build them with derive_competing_data"


# ----------------------------------------------------------------- event types
@dataclass(frozen=True)
class EventTypes:
    """The event type of each subject of one endpoint, where it came from, and what was found.

    ``data``: USUBJID, EVENT (String; null on censored rows). ``types``: the distinct types of the
    event rows, sorted. ``notes``: sentences for the run's notes.
    """

    paramcd: str
    variable: str
    data: pl.DataFrame
    types: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def competing(self) -> bool:
        return len(self.types) > 1


def _subjects(ids: pl.Series) -> str:
    first = ", ".join(ids.head(3).cast(pl.String).to_list())
    return first + (", ..." if ids.len() > 3 else "")


def _variable(adtte: pl.DataFrame, event_type: str | None) -> str:
    """The ADTTE variable holding the types: ``event_type`` (any case), else EVNTDESC."""
    if event_type is None:
        require_columns(adtte, (DEFAULT_EVENT_TYPE,), dataset="ADTTE", purpose="the competing-risks analysis",
                        hint="add EVNTDESC (the type of each event: Death, Liver transplant, ...) to ADTTE and re-run "
                             "trialkit ingest, or name the variable that holds it with --event-type")
        return DEFAULT_EVENT_TYPE
    hits = [c for c in adtte.columns if c.lower() == event_type.strip().lower()]
    if not hits:
        raise UsageError(f"--event-type {event_type!r} is not an ADTTE variable",
                         f"ADTTE holds: {', '.join(adtte.columns)}")
    return hits[0]


def _typed_rows(adtte: pl.DataFrame, paramcd: str, variable: str) -> pl.DataFrame:
    """USUBJID, CNSR, EVENT (stripped text, null when blank) of the endpoint's rows."""
    require_columns(adtte, ("USUBJID", "PARAMCD", "CNSR"), dataset="ADTTE", purpose="the competing-risks analysis")
    text = pl.col(variable).cast(pl.String).str.strip_chars()
    return (adtte.filter(pl.col("PARAMCD") == paramcd)
            .select("USUBJID", pl.col("CNSR").cast(pl.Int64), pl.when(text != "").then(text).alias("EVENT")))


def event_type_data(adtte: pl.DataFrame, paramcd: str, event_type: str | None = None) -> EventTypes:
    """The type of each event of ``paramcd``: ADTTE EVNTDESC on rows with CNSR = 0, or the variable ``event_type``.

    Raises ``UsageError`` when ``event_type`` is not an ADTTE variable and ``DataError`` when an event row
    has no type (a competing-risk code that is not defined).
    """
    variable = _variable(adtte, event_type)
    rows = _typed_rows(adtte, paramcd, variable)
    events = rows.filter(pl.col("CNSR") == 0)
    untyped = events.filter(pl.col("EVENT").is_null())
    if untyped.height:
        raise DataError(f"ADTTE, column {variable}: {untyped.height} {paramcd} event row(s) (CNSR = 0) have no event "
                        f"type, so their competing-risk codes are not defined; subjects {_subjects(untyped['USUBJID'])}",
                        f"give every event row of {paramcd} its type in {variable} (e.g. Death, Liver transplant) and "
                        "re-run trialkit ingest, or name the variable that holds it with --event-type")
    counts = events.group_by("EVENT").len().sort("EVENT")
    types = tuple(counts["EVENT"].to_list())
    listing = ", ".join(f"{t} ({n})" for t, n in counts.iter_rows())
    notes = [f"event types of {paramcd} from ADTTE {variable} on its {events.height} event row(s) (CNSR = 0): "
             f"{listing or 'none'}"]
    if len(types) == 1:
        notes.append(f"{paramcd} has one event type ({types[0]}): no competing events, and its cumulative incidence "
                     "is 1 - Kaplan-Meier")
    data = rows.select("USUBJID", pl.when(pl.col("CNSR") == 0).then(pl.col("EVENT")).alias("EVENT"))
    return EventTypes(paramcd, variable, data, types, tuple(notes))


def has_competing_events(adtte: pl.DataFrame, paramcd: str, event_type: str | None = None) -> bool:
    """More than one distinct event type among the event rows (CNSR = 0) of ``paramcd``.

    Lenient where ``event_type_data`` is strict, so it can decide whether to run the analysis at all:
    without EVNTDESC (and no ``event_type``) the answer is False, and untyped event rows are not counted.
    A named ``event_type`` that is not an ADTTE variable is still a ``UsageError``.
    """
    if event_type is None and DEFAULT_EVENT_TYPE not in adtte.columns:
        return False
    if not {"USUBJID", "PARAMCD", "CNSR"} <= set(adtte.columns):
        return False
    rows = _typed_rows(adtte, paramcd, _variable(adtte, event_type))
    return rows.filter(pl.col("CNSR") == 0)["EVENT"].drop_nulls().n_unique() > 1


def derive_competing_data(data: pl.DataFrame, events: EventTypes) -> pl.DataFrame:
    """The survival data (``km.derive_survival_data``) with EVENT, the type of each event (null when censored)."""
    require_columns(data, ("USUBJID", "TRT01A", "AVAL", "CNSR"), dataset="the survival data",
                    purpose="the competing-risks analysis", hint=SURVIVAL_DATA_HINT)
    types = events.data.unique("USUBJID", keep="first", maintain_order=True)
    out = data.drop("EVENT", strict=False).join(types, on="USUBJID", how="left")
    return out.with_columns(pl.when(pl.col("CNSR") == 0).then(pl.col("EVENT")).alias("EVENT"))


def event_types(data: pl.DataFrame) -> list[str]:
    """The distinct types of the event rows (CNSR = 0) of the analysis data, sorted; DataError if one has none."""
    require_columns(data, ("TRT01A", "AVAL", "CNSR", "EVENT"), dataset="the competing-risks data",
                    purpose="the competing-risks analysis", hint=_EVENT_HINT)
    events = data.filter(pl.col("CNSR") == 0)
    untyped = events.filter(pl.col("EVENT").is_null() | (pl.col("EVENT").cast(pl.String).str.strip_chars() == ""))
    if untyped.height:
        who = _subjects(untyped["USUBJID"]) if "USUBJID" in untyped.columns else "not identified"
        raise DataError(f"the competing-risks data: {untyped.height} event row(s) (CNSR = 0) have no EVENT type, so "
                        f"their competing-risk codes are not defined; subjects {who}",
                        "give every event row its type (ADTTE EVNTDESC or --event-type) and re-run trialkit ingest")
    return sorted(events["EVENT"].cast(pl.String).unique().to_list())


# ------------------------------------------------------------ the estimates
def _z(conf_level: float) -> float:
    from trialkit.analyses.probability import conf_z

    if not 0 < conf_level < 1:  # also NaN
        raise UsageError(f"--conf-level {conf_level} is not between 0 and 1", "use for example --conf-level 0.95")
    return conf_z(conf_level)


def _loglog_limits(f: np.ndarray, se: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """exp(-exp(log(-log F) -/+ z se / (F log F))); NaN where F is 0 or 1 (or se undefined)."""
    ok = (f > 0) & (f < 1) & np.isfinite(se)
    ff = np.where(ok, f, 0.5)
    centre = np.log(-np.log(ff))
    half = z * np.where(ok, se, 0.0) / np.abs(ff * np.log(ff))
    lower = np.exp(-np.exp(centre + half))
    upper = np.exp(-np.exp(centre - half))
    return np.where(ok, lower, np.nan), np.where(ok, upper, np.nan)


def _tie_factor(d: np.ndarray, n: np.ndarray) -> np.ndarray:
    """(n - d) / (n - 1), cmprsk's correction for d tied events among n at risk (1 when d <= 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d > 1, (n - d) / (n - 1), 1.0)


def _arm_cif(time: np.ndarray, code: np.ndarray, n_types: int) -> dict[str, np.ndarray]:
    """One arm: distinct times, at risk, events per type (n_types x T), CIF and its cuminc variance per type.

    ``code`` is 0 for censored rows, 1..n_types for the event types.
    """
    ut, inv = np.unique(time, return_inverse=True)
    t_n = len(ut)
    leaving = np.bincount(inv, minlength=t_n).astype(float)
    n_risk = leaving[::-1].cumsum()[::-1]
    d_type = np.bincount(inv * (n_types + 1) + code, minlength=t_n * (n_types + 1)).reshape(t_n, n_types + 1)[:, 1:].T
    d_type = d_type.astype(float)
    d_all = d_type.sum(axis=0)
    surv = np.cumprod(1 - d_all / n_risk)  # n_risk > 0 at every observed time
    left = np.concatenate([[1.0], surv[:-1]])
    alive = surv > 0
    inv_s = np.where(alive, 1 / np.where(alive, surv, 1.0), 0.0)
    cif = np.cumsum(left * d_type / n_risk, axis=1)
    # Var F_k(t) = sum_{s <= t} c(s) (b(s) - F_k(t) a(s))^2 over the events s of each type (delta method):
    # type k at s: a = 1 / S(s), b = 1 + F_k(s) / S(s) (a = 0, b = 1 when S(s) = 0);
    # another type at s (only when S(s) > 0): a = 1 / S(s), b = F_k(s) / S(s);
    # c(s) = S(s-)^2 d (n - d) / (n - 1) / n^2 for the d events of type k (resp. of all other types together)
    # among n at risk.
    # Expanded into three running sums: V1 - 2 F V2 + F^2 V3.
    var = np.empty_like(cif)
    for k in range(n_types):
        c_own = left**2 * _tie_factor(d_type[k], n_risk) * d_type[k] / n_risk**2
        others = d_all - d_type[k]  # the other types together, as cuminc lumps them
        c_other = np.where(alive, left**2 * _tie_factor(others, n_risk) * others / n_risk**2, 0.0)
        b_own = 1 + cif[k] * inv_s
        b_other = cif[k] * inv_s
        v1 = np.cumsum(c_own * b_own**2 + c_other * b_other**2)
        v2 = np.cumsum(c_own * inv_s * b_own + c_other * inv_s * b_other)
        v3 = np.cumsum((c_own + c_other) * inv_s**2)
        var[k] = np.maximum(v1 - 2 * cif[k] * v2 + cif[k] ** 2 * v3, 0.0)
    return {"time": ut, "n_risk": n_risk, "n_event": d_type, "estimate": cif, "var": var}


def _codes(data: pl.DataFrame, types: list[str]) -> np.ndarray:
    lookup = {t: i + 1 for i, t in enumerate(types)}
    event = pl.when(pl.col("CNSR") == 0).then(pl.col("EVENT").cast(pl.String)).otherwise(None)
    return data.select(event.replace_strict(lookup, default=0, return_dtype=pl.Int64))["EVENT"].to_numpy()


def cumulative_incidence(data: pl.DataFrame, groups: list[str], conf_level: float = 0.95) -> pl.DataFrame:
    """The Aalen-Johansen CIF per arm and event type at each distinct time of the arm (see the module docstring).

    ``data``: TRT01A, AVAL, CNSR, EVENT (``derive_competing_data``). Arms in ``groups`` order, types sorted;
    arms without subjects are left out.
    """
    types = event_types(data)
    z = _z(conf_level)
    frames = []
    for g in groups:
        sub = data.filter(pl.col("TRT01A") == g)
        if sub.height == 0 or not types:
            continue
        c = _arm_cif(sub["AVAL"].to_numpy().astype(float), _codes(sub, types), len(types))
        for k, ty in enumerate(types):
            se = np.sqrt(c["var"][k])
            lower, upper = _loglog_limits(c["estimate"][k], se, z)
            n = len(c["time"])
            frames.append(pl.DataFrame({"arm": [g] * n, "event": [ty] * n, "time": c["time"],
                                        "n_risk": c["n_risk"].astype(np.int64), "n_event": c["n_event"][k].astype(np.int64),
                                        "estimate": c["estimate"][k], "std_err": se, "lower": lower, "upper": upper},
                                       schema=CIF_SCHEMA))
    if not frames:
        return pl.DataFrame(schema=CIF_SCHEMA)
    return pl.concat(frames).with_columns(pl.col(c).fill_nan(None) for c in ("lower", "upper"))


def cif_landmarks(cif: pl.DataFrame, times: list[float]) -> pl.DataFrame:
    """arm, event, time, n_risk, estimate, std_err, lower, upper, extrapolated at each time (carried forward).

    As ``summary(survfit, times, extend = TRUE)``: before the arm's first time F = 0 (se 0, no limits); after
    its last time the last values, with 0 at risk and ``extrapolated`` true.
    """
    require_columns(cif, tuple(CIF_SCHEMA), dataset="the cumulative incidence table", purpose="the landmarks",
                    hint="build it with cumulative_incidence")
    at = np.asarray(sorted({float(t) for t in times}), dtype=float)
    frames = []
    for (arm, event), part in cif.group_by("arm", "event", maintain_order=True):
        t = part["time"].to_numpy()
        idx = np.searchsorted(t, at, side="right") - 1  # last row with time <= landmark, -1 before the first
        before = idx < 0
        row = np.maximum(idx, 0)
        # at risk at x: those with AVAL >= x = n_risk of the first row with time >= x, 0 after the last
        nxt = np.searchsorted(t, at, side="left")
        n_at = np.where(nxt < len(t), part["n_risk"].to_numpy()[np.minimum(nxt, len(t) - 1)], 0)

        def pick(col: str, empty: float | None) -> list:
            vals = part[col].to_numpy().astype(float)[row]
            return [empty if b else (None if np.isnan(v) else float(v)) for b, v in zip(before, vals)]

        frames.append(pl.DataFrame({"arm": [arm] * len(at), "event": [event] * len(at), "time": at,
                                    "n_risk": n_at.astype(np.int64), "estimate": pick("estimate", 0.0),
                                    "std_err": pick("std_err", 0.0), "lower": pick("lower", None),
                                    "upper": pick("upper", None), "extrapolated": at > t[-1]},
                                   schema=CIF_LANDMARK_SCHEMA))
    return pl.concat(frames) if frames else pl.DataFrame(schema=CIF_LANDMARK_SCHEMA)


# ------------------------------------------------------------- Gray's test
def _chisq_sf(x: float, df: int) -> float:
    from trialkit.analyses.probability import chisq_upper

    return chisq_upper(x, df)


def _gray_stratum(inv: np.ndarray, t_n: int, code: np.ndarray, gidx: np.ndarray, n_groups: int,
                  rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Score (G) and variance (G x G) of Gray's test in one stratum.

    ``inv``: each subject's index among the stratum's ``t_n`` distinct times; ``code`` 0 censored, 1 the type
    tested, 2 another type; ``gidx`` the group (0..G-1).
    """
    cell = gidx * t_n + inv
    size = n_groups * t_n

    def per_group(weights=None) -> np.ndarray:
        return np.bincount(cell, weights=weights, minlength=size).reshape(n_groups, t_n).astype(float)

    n_risk = per_group()[:, ::-1].cumsum(axis=1)[:, ::-1]  # Y_g(t): AVAL >= t
    d1 = per_group((code == 1).astype(float))
    d2 = per_group((code == 2).astype(float))
    at_risk = n_risk > 0
    y_safe = np.where(at_risk, n_risk, 1.0)
    surv = np.cumprod(np.where(at_risk, 1 - (d1 + d2) / y_safe, 1.0), axis=1)  # S_g(t), all types
    left = np.concatenate([np.ones((n_groups, 1)), surv[:, :-1]], axis=1)  # S_g(t-)
    cif = np.cumsum(np.where(at_risk, left * d1 / y_safe, 0.0), axis=1)  # F_g(t) of the type
    cif_left = np.concatenate([np.zeros((n_groups, 1)), cif[:, :-1]], axis=1)
    h = np.where(at_risk, n_risk / np.where(at_risk, left, 1.0), 0.0)  # Y_g / S_g(t-)
    h_all = h.sum(axis=0)
    d1_all = d1.sum(axis=0)
    some = h_all > 0
    h_safe = np.where(some, h_all, 1.0)
    f0 = np.cumsum(np.where(some, d1_all / h_safe, 0.0))  # pooled CIF under the null
    f0_left = np.concatenate([[0.0], f0[:-1]])
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        weight = (1 - f0_left) ** rho if rho != 0 else np.ones(t_n)
        risk = h * (1 - cif_left)  # R_g(t), the subdistribution risk set
        risk_all = risk.sum(axis=0)
        share = np.where(risk_all > 0, risk / np.where(risk_all > 0, risk_all, 1.0), 0.0)
        score = (weight * (d1 - d1_all * share)).sum(axis=1)
        d_gamma = np.where(some & (d1_all > 0), d1_all / (h_safe * (1 - f0_left)), 0.0)  # dGamma_0(t)
    g_share = h / h_safe  # h_k / sum h
    s_safe = np.where(surv > 0, surv, 1.0)
    var = np.zeros((n_groups, n_groups))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        for k in range(n_groups):
            # a_ik(t) = L h_i (delta_ik - h_k / sum h): weight of group k's martingales in score i at t;
            # C_ik(t) = sum_{s <= t} a_ik(s) dGamma_0(s); what is still to come after t: C_ik(end) - C_ik(t)
            a = weight * h * ((np.arange(n_groups) == k)[:, None] - g_share[k])
            cum = np.cumsum(a * d_gamma, axis=1)
            future = cum[:, -1:] - cum
            # the type's events in group k, at the pooled rate under the null, tie-corrected
            own = at_risk[k] & (d1_all > 0)
            with_h = np.where(own, h_all * left[k] - 1, 1.0)
            ties = np.where(d1_all > 1, 1 - (d1_all - 1) / with_h, 1.0)
            w1 = np.where(own, ties * left[k] * d1_all / (h_safe * y_safe[k]), 0.0)
            t4 = np.where(surv[k] > 0, 1 - (1 - f0) / s_safe[k], 1.0)
            coef = a + t4 * future
            var += (coef * w1) @ coef.T
            # other types' events in group k, as observed, tie-corrected
            other = (d2[k] > 0) & (surv[k] > 0)
            w2 = np.where(other, _tie_factor(d2[k], n_risk[k]) * left[k] ** 2 * d2[k] / y_safe[k] ** 2, 0.0)
            coef = np.where(other, (1 - f0) / s_safe[k], 0.0) * future
            var += (coef * w2) @ coef.T
    return score, var


def gray_test(data: pl.DataFrame, groups: list[str], strata: str | None = None, rho: float = 0.0) -> pl.DataFrame:
    """event, chisq, df, p, rho, strata, reason: Gray's test per event type, as ``cuminc(...)$Tests``.

    For type k, in each stratum, at each distinct time t (Gray 1988; cmprsk's estimator):
    with Y_g at risk, S_g the all-types KM and F_g the CIF of group g, h_g = Y_g / S_g(t-),
    the pooled CIF under the null F_0(t) = sum_{s <= t} d(s) / sum_g h_g(s), weight L = (1 - F_0(t-))^rho,
    and the subdistribution risk set R_g = h_g (1 - F_g(t-)):

        score_g = sum_t L (d_g - d R_g / sum_r R_r)

    Its variance is the delta-method (martingale) variance of Gray's paper, with type-k hazards at the
    pooled null rate and other types' as observed, each with cmprsk's tie correction; scores and variances
    add over strata; chisq = s' V^-1 s over the first G - 1 groups, df = G - 1 (G the groups with subjects).
    The statistic does not exist (null, with a reason) when V is singular (cuminc's -1).
    ``strata`` names a column of ``data`` (e.g. SEX from ADSL). O(G^2 T) per stratum and type.
    """
    types = event_types(data)
    if not np.isfinite(rho):
        raise UsageError(f"--rho {rho} is not a finite number", "use for example --rho 0 (Gray's default) or --rho 1")
    sub = data.filter(pl.col("TRT01A").is_in(groups))
    present = [g for g in groups if g in set(sub["TRT01A"].unique().to_list())]
    if len(present) < 2:
        raise DataError(f"Gray's test needs two groups, but only {len(present)} has subjects",
                        "select at least two arms with --arm (or none for all)")
    if strata is not None:
        require_columns(sub, (strata,), dataset="the competing-risks data", purpose="Gray's test with strata",
                        hint=f"add {strata} (from ADSL) to the data, or run without strata")
        missing = sub.filter(pl.col(strata).is_null())
        if missing.height:
            who = _subjects(missing["USUBJID"]) if "USUBJID" in missing.columns else "not identified"
            raise DataError(f"ADSL, column {strata}: {missing.height} subject(s) have no stratum; subjects {who}",
                            f"fill {strata} in ADSL and re-run trialkit ingest, or choose another stratification variable")
    time = sub["AVAL"].to_numpy().astype(float)
    codes = _codes(sub, types)
    lookup = {g: i for i, g in enumerate(present)}
    gidx = sub.select(pl.col("TRT01A").replace_strict(lookup, return_dtype=pl.Int64))["TRT01A"].to_numpy()
    if strata is None:
        layers = [np.ones(len(time), dtype=bool)]
    else:
        labels = sub[strata].cast(pl.String).to_numpy()
        layers = [labels == s for s in np.unique(labels)]
    times = [np.unique(time[layer], return_inverse=True) for layer in layers]
    n_groups = len(present)
    rows = []
    for k, ty in enumerate(types):
        code = np.where(codes == k + 1, 1, np.where(codes > 0, 2, 0))
        score = np.zeros(n_groups)
        var = np.zeros((n_groups, n_groups))
        for layer, (ut, inv) in zip(layers, times):
            s, v = _gray_stratum(inv, len(ut), code[layer], gidx[layer], n_groups, float(rho))
            score += s
            var += v
        rows.append({"event": ty, **_statistic(score, var, n_groups - 1), "rho": float(rho), "strata": strata})
    return pl.DataFrame(rows, schema=GRAY_SCHEMA) if rows else pl.DataFrame(schema=GRAY_SCHEMA)


def _statistic(score: np.ndarray, var: np.ndarray, df: int) -> dict:
    """chisq = s' V^-1 s over the first df groups, its p, or a reason why it does not exist."""
    s, v = score[:df], var[:df, :df]
    if not (np.isfinite(s).all() and np.isfinite(v).all()):
        return {"chisq": None, "df": df, "p": None,
                "reason": "the score or its variance is not finite (rho too large or too small for these data)"}
    scale = np.sqrt(np.diag(v))
    if not (scale > 0).all() or np.linalg.matrix_rank(v / np.outer(scale, scale), tol=1e-7) < df:
        return {"chisq": None, "df": df, "p": None,
                "reason": "the variance matrix is singular: no events of this type where two or more groups are at risk"}
    try:
        chisq = float(s @ np.linalg.solve(v, s))
    except np.linalg.LinAlgError:
        return {"chisq": None, "df": df, "p": None, "reason": "the variance matrix is singular"}
    return {"chisq": chisq, "df": df, "p": _chisq_sf(chisq, df), "reason": None}


# ------------------------------------------------------------ the whole analysis
@dataclass(frozen=True)
class CompetingResults:
    """The competing-risks part of the survival stage; frames as their functions document them."""

    endpoint: str
    variable: str
    types: tuple[str, ...]
    conf_level: float
    rho: float
    strata: str | None
    cif: pl.DataFrame
    landmarks: pl.DataFrame
    gray: pl.DataFrame
    notes: tuple[str, ...]

    def tables(self) -> dict[str, pl.DataFrame]:
        """Each result as a frame, named as its Parquet file would be in survival/."""
        return {"cif": self.cif, "cif_landmarks": self.landmarks, "gray": self.gray}


def analyse_competing(adtte: pl.DataFrame, data: pl.DataFrame, endpoint: str, groups: list[str], *,
                      event_type: str | None = None, conf_level: float = 0.95, times: list[float] | tuple = (),
                      adsl: pl.DataFrame | None = None, strata: str | None = None, rho: float = 0.0) -> CompetingResults:
    """Event types, CIF, landmarks and (with two or more arms) Gray's test for one endpoint.

    ``data``: the survival data of the endpoint (``km.derive_survival_data``); ``groups``: the arms with
    subjects, in dose order; ``times``: landmark days; ``strata``: an ADSL variable for Gray's test (then
    ``adsl`` is needed).
    """
    events = event_type_data(adtte, endpoint, event_type)
    frame = derive_competing_data(data, events)
    notes = list(events.notes)
    if strata is not None:
        if adsl is None:
            raise UsageError(f"Gray's test with strata {strata} needs ADSL", "pass adsl to analyse_competing")
        hits = [c for c in adsl.columns if c.lower() == strata.strip().lower()]
        if not hits or "USUBJID" not in adsl.columns:
            raise UsageError(f"--strata {strata!r} is not an ADSL variable", f"ADSL holds: {', '.join(adsl.columns)}")
        strata = hits[0]
        frame = frame.drop(strata, strict=False).join(adsl.select("USUBJID", strata), on="USUBJID", how="left")
    cif = cumulative_incidence(frame, groups, conf_level)
    present = [g for g in groups if g in set(frame["TRT01A"].unique().to_list())]
    if len(present) >= 2 and events.types:
        gray = gray_test(frame, present, strata=strata, rho=rho)
        notes += [f"Gray's test, {r['event']}: {r['reason']}" for r in gray.iter_rows(named=True) if r["reason"]]
    else:
        gray = pl.DataFrame(schema=GRAY_SCHEMA)
        notes.append("one group: cumulative incidence only, no Gray's test")
    return CompetingResults(endpoint, events.variable, events.types, float(conf_level), float(rho), strata, cif,
                            cif_landmarks(cif, list(times)), gray, tuple(notes))


def competing_json(res: CompetingResults) -> dict:
    """The competing-risks object of the survival JSON: settings, landmarks, Gray's tests, notes."""
    return {
        "endpoint": res.endpoint,
        "event_type_variable": res.variable,
        "event_types": list(res.types),
        "settings": {
            "conf_level": res.conf_level, "rho": res.rho, "strata": res.strata,
            "std_err": "cmprsk cuminc variance (delta method, tie-corrected), sqrt(var)",
            "limits": "log(-log): exp(-exp(log(-log F) -/+ z se / (F log F)))",
            "r_equivalent": ("survfit(Surv(AVAL, factor(status)) ~ TRT01A) (estimates); "
                             f"cmprsk::cuminc(AVAL, status, TRT01A, rho = {res.rho:g}"
                             f"{f', strata = {res.strata}' if res.strata else ''}) (variance, Gray's test)"),
        },
        "landmarks": res.landmarks.to_dicts(),
        "gray": res.gray.to_dicts(),
        "notes": list(res.notes),
    }
