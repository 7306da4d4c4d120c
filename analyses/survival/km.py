"""Kaplan-Meier estimates as R's ``survival`` package (3.x) computes them.

Every function here takes the analysis frame (one row per subject: ``TRT01A``,
``AVAL`` in days, ``CNSR`` 0 = event / 1 = censored) or the KM table it
derives, and returns a polars frame with fixed columns:

- ``km_table``: one row per arm and distinct time (events and censorings), as
  ``survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, conf.type=, conf.int=)`` lists them.
  ``std_err`` is the Greenwood standard error of S(t), the value
  ``summary(fit)$std.err`` prints; ``std_err_log`` is survfit's internal
  ``std.err``, the standard error of log S(t) (= of the Nelson-type cumulative
  hazard), sqrt(sum d / (n (n - d))).
- ``km_landmarks``: S(t) carried forward to each time, as
  ``summary(fit, times=, extend=TRUE)``; ``n_risk`` is the number with AVAL >= t;
  ``extrapolated`` is true when t is after the arm's last time (event or
  censoring), where ``extend=FALSE`` would give no row.
- ``km_medians``: the median and its CI as ``print(fit)``: the first time the
  curve (resp. lower, upper confidence curve) is <= 0.5; when the curve is
  exactly 0.5 on a flat stretch, the midpoint of that stretch.
- ``km_rmst``: the restricted mean up to tau and its standard error as
  ``print(fit, rmean=tau)``; ``extrapolated`` is true when tau is after the
  arm's last time (the area then includes S(t) carried forward).
- ``risk_table``: at risk, cumulative events and censorings at given times.

Confidence limits follow ``survfit_confint``: plain S +/- z se(S); log
exp(log S +/- z se_log); log-log exp(-exp(log(-log S) -/+ z se_log / log S)).
Limits R reports as NA (log at S = 0, log-log at S in {0, 1}, anything after
the curve reaches 0) are null. Times are not merged with ``aeqSurv``: AVAL in
whole days never needs it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.schemas.errors import DataError, NoDataError, UsageError

__all__ = [
    "CONF_TYPES",
    "TIES",
    "SurvivalSettings",
    "resolve_settings",
    "select_endpoint",
    "derive_survival_data",
    "summarise_arms",
    "km_table",
    "km_landmarks",
    "km_medians",
    "km_rmst",
    "risk_table",
]

CONF_TYPES = ("log-log", "log", "plain")
TIES = ("efron", "breslow")
PARITY = {"r": {"conf_type": "log", "ties": "efron"}, "sas": {"conf_type": "log-log", "ties": "breslow"}}
DEFAULTS = {"conf_type": "log-log", "ties": "efron"}
#: what to do when a frame passed as "the survival data" lacks a column (a caller's mistake, not the user's data)
SURVIVAL_DATA_HINT = "build them with derive_survival_data"
_TOL = math.sqrt(np.finfo(float).eps)  # .Machine$double.eps^0.5, R's minmin tolerance

KM_COLUMNS = ("arm", "time", "n_risk", "n_event", "n_censor", "survival", "std_err", "std_err_log", "lower", "upper")
RMST_SCHEMA = {"arm": pl.String, "tau": pl.Float64, "rmst": pl.Float64, "se": pl.Float64, "extrapolated": pl.Boolean}
KM_SCHEMA = {c: pl.String if c == "arm" else pl.Int64 if c in ("n_risk", "n_event", "n_censor") else pl.Float64
             for c in KM_COLUMNS} | {"conf_type": pl.String, "conf_level": pl.Float64}


# --------------------------------------------------------------------- settings
@dataclass(frozen=True)
class SurvivalSettings:
    """The conventions one run used, and where each came from (option, parity or default)."""

    conf_type: str
    conf_level: float
    ties: str
    rho: float
    parity: str | None
    sources: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_settings(parity: str | None, conf_type: str | None, ties: str | None,
                     conf_level: float = 0.95, rho: float = 0.0) -> SurvivalSettings:
    """Explicit options win, then ``--parity`` (r: log + Efron; sas: log-log + Breslow), then log-log + Efron."""
    if parity is not None and parity not in PARITY:
        raise UsageError(f"--parity {parity!r} is not one of r, sas", "use --parity r or --parity sas")
    if not 0 < conf_level < 1:  # also NaN
        raise UsageError(f"--conf-level {conf_level} is not between 0 and 1", "use for example --conf-level 0.95")
    if not math.isfinite(rho):
        raise UsageError(f"--rho {rho} is not a finite number",
                         "use for example --rho 0 (log-rank) or --rho 1 (Peto-Peto)")
    chosen, sources = {}, {}
    for key, given, allowed in (("conf_type", conf_type, CONF_TYPES), ("ties", ties, TIES)):
        if given is not None and given not in allowed:
            raise UsageError(f"--{key.replace('_', '-')} {given!r} is not one of {', '.join(allowed)}",
                             f"use one of {', '.join(allowed)}")
        if given is not None:
            chosen[key], sources[key] = given, "option"
        elif parity is not None:
            chosen[key], sources[key] = PARITY[parity][key], f"parity {parity}"
        else:
            chosen[key], sources[key] = DEFAULTS[key], "default"
    return SurvivalSettings(chosen["conf_type"], float(conf_level), chosen["ties"], float(rho), parity, sources)


# ------------------------------------------------------------------------ data
def select_endpoint(adtte: pl.DataFrame, wanted: str | None) -> str:
    """The PARAMCD to analyse: ``wanted`` (case-insensitive), else the only one, else OS."""
    require_columns(adtte, ("PARAMCD",), dataset="ADTTE", purpose="the survival analysis")
    present = sorted(p for p in adtte["PARAMCD"].unique().to_list() if p is not None)
    if not present:
        raise NoDataError("ADTTE has no rows", "ingest a dataset with time-to-event rows")
    listing = ", ".join(present)
    if wanted is not None:
        hits = [p for p in present if p.lower() == wanted.strip().lower()]
        if not hits:
            raise UsageError(f"--endpoint {wanted!r} is not a PARAMCD of ADTTE", f"ADTTE holds: {listing}")
        return hits[0]
    if len(present) == 1:
        return present[0]
    if "OS" in present:
        return "OS"
    raise UsageError(f"ADTTE holds several endpoints and none is OS: {listing}",
                     f"choose one with --endpoint, e.g. --endpoint {present[0]}")


def derive_survival_data(adtte: pl.DataFrame, adsl: pl.DataFrame, paramcd: str, labels: list[str]) -> pl.DataFrame:
    """One row per subject of the endpoint in the given arms: USUBJID, TRT01A (from ADSL), AVAL, CNSR."""
    require_columns(adtte, ("USUBJID", "PARAMCD", "AVAL", "CNSR"), dataset="ADTTE", purpose="the survival analysis")
    require_columns(adsl, ("USUBJID", "TRT01A"), dataset="ADSL", purpose="the survival analysis")
    rows = adtte.filter(pl.col("PARAMCD") == paramcd).select("USUBJID", "AVAL", "CNSR")
    out = rows.join(adsl.select("USUBJID", "TRT01A"), on="USUBJID", how="inner")
    out = (out.filter(pl.col("TRT01A").is_in(labels) & pl.col("AVAL").is_not_null() & pl.col("CNSR").is_not_null())
           .select("USUBJID", "TRT01A", pl.col("AVAL").cast(pl.Float64), pl.col("CNSR").cast(pl.Int64))
           .sort("TRT01A", "AVAL", "USUBJID"))
    bad = out.filter(~pl.col("AVAL").is_finite())
    if bad.height:  # NaN or infinite times have no place on a time axis, in a landmark or in an integral
        first = ", ".join(bad["USUBJID"].head(3).cast(pl.String).to_list())
        raise DataError(f"ADTTE, column AVAL: {bad.height} {paramcd} row(s) hold no finite time (NaN or infinite); "
                        f"subjects {first}{', ...' if bad.height > 3 else ''}",
                        "fix AVAL (time to event in days) in the source and re-run trialkit ingest")
    return out


def summarise_arms(data: pl.DataFrame, arms) -> pl.DataFrame:
    """arm, armcd, trt01an, n, events for each ``groups.Arm`` in dose order (n = 0 when absent)."""
    require_columns(data, ("TRT01A", "CNSR"), dataset="the survival data", purpose="the arm summary", hint=SURVIVAL_DATA_HINT)
    counts = data.group_by("TRT01A").agg(pl.len().alias("n"), (1 - pl.col("CNSR")).sum().alias("events"))
    lookup = {r["TRT01A"]: r for r in counts.iter_rows(named=True)}
    return pl.DataFrame(
        {
            "arm": [a.label for a in arms],
            "armcd": [a.code for a in arms],
            "trt01an": [None if a.order is None else float(a.order) for a in arms],
            "n": [int(lookup.get(a.label, {}).get("n", 0)) for a in arms],
            "events": [int(lookup.get(a.label, {}).get("events", 0)) for a in arms],
        },
        schema={"arm": pl.String, "armcd": pl.String, "trt01an": pl.Float64, "n": pl.Int64, "events": pl.Int64},
    )


# -------------------------------------------------------------------------- KM
def _z(conf_level: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(1 - (1 - conf_level) / 2))


def _confint(surv: np.ndarray, se_log: np.ndarray, conf_type: str, conf_level: float) -> tuple[np.ndarray, np.ndarray]:
    """R's survfit_confint(p, se, logse=TRUE, conf.type, conf.int); NaN where R gives NA/NaN."""
    z = _z(conf_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "plain":
            se2 = se_log * surv * z
            return np.maximum(surv - se2, 0.0), np.minimum(surv + se2, 1.0)
        if conf_type == "log":
            xx = np.where(surv == 0, np.nan, surv)
            return np.exp(np.log(xx) - z * se_log), np.minimum(np.exp(np.log(xx) + z * se_log), 1.0)
        if conf_type == "log-log":
            xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
            se2 = z * se_log / np.log(xx)
            return np.exp(-np.exp(np.log(-np.log(xx)) - se2)), np.exp(-np.exp(np.log(-np.log(xx)) + se2))
    raise UsageError(f"conf-type {conf_type!r} is not one of {', '.join(CONF_TYPES)}")


def _curve(time: np.ndarray, event: np.ndarray) -> dict[str, np.ndarray]:
    """survfitKM for one group: distinct times, at risk, events, censored, S(t), se of log S(t)."""
    ut, inv = np.unique(time, return_inverse=True)
    n_event = np.bincount(inv, weights=event, minlength=len(ut))
    n_total = np.bincount(inv, minlength=len(ut)).astype(float)
    n_risk = len(time) - np.concatenate([[0.0], np.cumsum(n_total)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod((n_risk - n_event) / n_risk)
        term = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
    return {"time": ut, "n_risk": n_risk, "n_event": n_event, "n_censor": n_total - n_event,
            "survival": surv, "std_err_log": np.sqrt(np.cumsum(term))}


def _null_nonfinite(df: pl.DataFrame) -> pl.DataFrame:
    floats = [c for c, t in df.schema.items() if t == pl.Float64]
    return df.with_columns(pl.when(pl.col(c).is_finite()).then(pl.col(c)).otherwise(None).alias(c) for c in floats)


def km_table(data: pl.DataFrame, groups: list[str], conf_type: str = "log-log", conf_level: float = 0.95) -> pl.DataFrame:
    """The Kaplan-Meier table per arm (see the module docstring for the columns and their definitions)."""
    require_columns(data, ("TRT01A", "AVAL", "CNSR"), dataset="the survival data", purpose="the Kaplan-Meier table",
                    hint=SURVIVAL_DATA_HINT)
    frames = []
    for g in groups:
        sub = data.filter(pl.col("TRT01A") == g)
        if sub.height == 0:
            continue
        c = _curve(sub["AVAL"].to_numpy().astype(float), (1 - sub["CNSR"].to_numpy()).astype(float))
        lower, upper = _confint(c["survival"], c["std_err_log"], conf_type, conf_level)
        with np.errstate(invalid="ignore"):
            std_err = c["std_err_log"] * c["survival"]
        frames.append(pl.DataFrame({"arm": [g] * len(c["time"]), **{k: c[k] for k in ("time", "n_risk", "n_event", "n_censor", "survival")},
                                    "std_err": std_err, "std_err_log": c["std_err_log"], "lower": lower, "upper": upper}))
    if not frames:
        return pl.DataFrame(schema=KM_SCHEMA)
    out = pl.concat(frames).with_columns(pl.col(c).cast(pl.Int64) for c in ("n_risk", "n_event", "n_censor"))
    return _null_nonfinite(out.select(KM_COLUMNS)).with_columns(
        pl.lit(conf_type).alias("conf_type"), pl.lit(float(conf_level)).alias("conf_level"))


def _with_origin(km: pl.DataFrame) -> pl.DataFrame:
    """survfit0: a row at time 0 with S = 1, se = 0 and limits 1 when the first time is later (per arm)."""
    first = km.group_by("arm", maintain_order=True).first().filter(pl.col("time") != 0)
    origin = first.with_columns(pl.lit(0.0).alias("time"), pl.lit(0).cast(pl.Int64).alias("n_event"),
                                pl.lit(0).cast(pl.Int64).alias("n_censor"), pl.lit(1.0).alias("survival"),
                                pl.lit(0.0).alias("std_err"), pl.lit(0.0).alias("std_err_log"),
                                pl.lit(1.0).alias("lower"), pl.lit(1.0).alias("upper"))
    order = {a: i for i, a in enumerate(km["arm"].unique(maintain_order=True).to_list())}
    both = pl.concat([origin.select(km.columns), km]).with_columns(pl.col("arm").replace_strict(order).alias("_o"))
    return both.sort("_o", "time", maintain_order=True).drop("_o")


def km_landmarks(km: pl.DataFrame, times: list[float]) -> pl.DataFrame:
    """arm, time, n_risk, survival, std_err, lower, upper, extrapolated at each time: ``summary(fit, times=, extend=TRUE)``."""
    rows = []
    for arm, part in _with_origin(km).group_by("arm", maintain_order=True):
        t = part["time"].to_numpy()
        last = float(t.max())
        leaving = (part["n_event"] + part["n_censor"]).to_numpy()
        for x in times:
            i = max(int(np.searchsorted(t, x, side="right")) - 1, 0)  # last row with time <= x (the origin at worst)
            r = part.row(i, named=True)
            rows.append({"arm": arm[0], "time": float(x), "n_risk": int(leaving[t >= x].sum()), "survival": r["survival"],
                         "std_err": r["std_err"], "lower": r["lower"], "upper": r["upper"], "extrapolated": bool(x > last)})
    return _frame(rows, {"arm": pl.String, "time": pl.Float64, "n_risk": pl.Int64, "survival": pl.Float64,
                         "std_err": pl.Float64, "lower": pl.Float64, "upper": pl.Float64, "extrapolated": pl.Boolean})


def _frame(rows: list[dict], schema: dict) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)


def _minmin(y: np.ndarray, x: np.ndarray) -> float | None:
    """R's minmin: first x where y < 0.5 + tol; on an exact 0.5 plateau, its midpoint with the next drop."""
    keep = ~np.isnan(y) & (y < 0.5 + _TOL)
    if not keep.any():
        return None
    x, y = x[keep], y[keep]
    if abs(y[0] - 0.5) < _TOL and (y < y[0]).any():
        return float((x[0] + x[np.argmax(y < y[0])]) / 2)
    return float(x[0])


def km_medians(km: pl.DataFrame) -> pl.DataFrame:
    """arm, median, lower, upper as ``print(fit)`` (null when the curve or limit never reaches 0.5)."""
    rows = []
    for arm, part in _with_origin(km).group_by("arm", maintain_order=True):
        t = part["time"].to_numpy()
        col = {c: part[c].fill_null(np.nan).to_numpy().astype(float) for c in ("survival", "lower", "upper")}
        rows.append({"arm": arm[0], "median": _minmin(col["survival"], t), "lower": _minmin(col["lower"], t),
                     "upper": _minmin(col["upper"], t)})
    return _frame(rows, {"arm": pl.String, "median": pl.Float64, "lower": pl.Float64, "upper": pl.Float64})


def km_rmst(km: pl.DataFrame, tau: float) -> pl.DataFrame:
    """arm, tau, rmst, se, extrapolated: area under S(t) on [0, tau] and R's se(rmean) from ``print(fit, rmean=tau)``.

    se^2 = sum over event times t_j <= tau of A_j^2 d_j / (n_j (n_j - d_j)), A_j the area under S from t_j to tau
    (R's survmean; no n/(n-1) correction).
    """
    if not tau > 0:
        raise UsageError(f"--rmst-tau {tau} is not a positive time", "give the restriction time in days, e.g. --rmst-tau 730")
    rows = []
    for arm, part in km.group_by("arm", maintain_order=True):
        keep = part.filter(pl.col("time") <= tau)
        t, s = keep["time"].to_numpy(), keep["survival"].to_numpy()
        n, d = keep["n_risk"].to_numpy().astype(float), keep["n_event"].to_numpy().astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            hh = np.where(n - d == 0, 0.0, d / (n * (n - d)))
        temptime = np.append(t, tau)
        tempsurv = np.append(s, s[-1] if len(s) else 1.0)
        hh = np.append(hh, 0.0)
        rect = np.diff(np.concatenate([[0.0], temptime])) * np.concatenate([[1.0], tempsurv[:-1]])
        var = float(np.sum(np.cumsum(rect[1:][::-1]) ** 2 * hh[::-1][1:]))
        rows.append({"arm": arm[0], "tau": float(tau), "rmst": float(rect.sum()), "se": math.sqrt(var),
                     "extrapolated": bool(tau > part["time"].max())})
    return _frame(rows, RMST_SCHEMA)


def risk_table(km: pl.DataFrame, times: list[float]) -> pl.DataFrame:
    """arm, time, n_risk (AVAL >= t), cum_events and cum_censored (AVAL <= t) at each time."""
    rows = []
    for arm, part in km.group_by("arm", maintain_order=True):
        t = part["time"].to_numpy()
        ev, cn = part["n_event"].to_numpy(), part["n_censor"].to_numpy()
        for x in times:
            upto = t <= x
            rows.append({"arm": arm[0], "time": float(x), "n_risk": int((ev + cn)[t >= x].sum()),
                         "cum_events": int(ev[upto].sum()), "cum_censored": int(cn[upto].sum())})
    return _frame(rows, {"arm": pl.String, "time": pl.Float64, "n_risk": pl.Int64, "cum_events": pl.Int64,
                         "cum_censored": pl.Int64})
