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
- ``km_quantiles``: the times S(t) falls to 1 - p (p = 0.25, 0.5, 0.75 by
  default) and their confidence limits, as
  ``quantile(fit, probs = c(.25, .5, .75), conf.int = TRUE)``: the limits are
  the same search run on the lower and upper confidence curves.
- ``km_rmst``: the restricted mean up to tau and its standard error as
  ``print(fit, rmean=tau)``; ``extrapolated`` is true when tau is after the
  arm's last time (the area then includes S(t) carried forward).
- ``risk_table``: at risk, cumulative events and censorings at given times.

Confidence limits follow ``survfit_confint`` with se = se(log S), z the normal
quantile of the level (se(S) = se * S):

- plain (SAS: linear): S -/+ z se S, cut to [0, 1];
- log: exp(log S -/+ z se), upper cut at 1;
- log-log (SAS: loglog): exp(-exp(log(-log S) -/+ z se / log S));
- logit: 1 - 1 / (1 + exp(log(S / (1 - S)) -/+ z se / (1 - S)));
- arcsine (R: arcsin, SAS: asinsqrt): sin(arcsin(sqrt S) -/+ z se sqrt(S / (1 - S)) / 2)^2,
  the angle kept within [0, pi / 2].

Limits R reports as NA or NaN (log, logit and arcsine at S = 0; log-log at S in
{0, 1}; logit and arcsine at S = 1, where se = 0; anything after the curve
reaches 0) are null. Times are not merged with ``aeqSurv``: AVAL in whole days
never needs it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.schemas.errors import DataError, NoDataError, UsageError

__all__ = [
    "CONF_TYPES",
    "CONF_TYPE_ALIASES",
    "TIES",
    "normalise_conf_type",
    "SurvivalSettings",
    "resolve_settings",
    "select_endpoint",
    "derive_survival_data",
    "summarise_arms",
    "km_table",
    "km_landmarks",
    "km_medians",
    "km_quantiles",
    "km_rmst",
    "risk_table",
]

#: canonical confidence-limit types, in the order R's survfit documents them
CONF_TYPES = ("log", "log-log", "plain", "logit", "arcsine")
#: every accepted spelling (lower case) -> its canonical name: R's conf.type and SAS's CONFTYPE= values
CONF_TYPE_ALIASES = {
    "log": "log",
    "log-log": "log-log", "loglog": "log-log",
    "plain": "plain", "linear": "plain",
    "logit": "logit",
    "arcsine": "arcsine", "arcsin": "arcsine", "asin": "arcsine", "asinsqrt": "arcsine",
}
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
    if conf_type is not None:
        conf_type = normalise_conf_type(conf_type)
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


def normalise_conf_type(text: str) -> str:
    """The canonical name (one of ``CONF_TYPES``) of a confidence-limit type written as R or SAS writes it, in any case.

    log; log-log or loglog; plain or linear; logit; arcsine, arcsin, asin or asinsqrt.
    """
    key = str(text).strip().lower()
    if key not in CONF_TYPE_ALIASES:
        raise UsageError(f"--conf-type {text!r} is not one of {', '.join(CONF_TYPES)}",
                         "use one of log, log-log (loglog), plain (linear), logit, arcsine (arcsin, asin, asinsqrt)")
    return CONF_TYPE_ALIASES[key]


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


def derive_survival_data(adtte: pl.DataFrame, adsl: pl.DataFrame, paramcd: str, labels: list[str], *,
                         adtte_columns: Sequence[str] = (), adsl_columns: Sequence[str] = ()) -> pl.DataFrame:
    """One row per subject of the endpoint in the given arms: USUBJID, TRT01A (from ADSL), AVAL, CNSR, then the
    ``adtte_columns`` of the endpoint's row and the ``adsl_columns`` (model variables: one join for all)."""
    require_columns(adtte, ("USUBJID", "PARAMCD", "AVAL", "CNSR", *adtte_columns), dataset="ADTTE",
                    purpose="the survival analysis")
    require_columns(adsl, ("USUBJID", "TRT01A", *adsl_columns), dataset="ADSL", purpose="the survival analysis")
    rows = (adtte.filter(pl.col("PARAMCD") == paramcd).select("USUBJID", "AVAL", "CNSR", *adtte_columns)
            .with_row_index("_row"))
    arms = adsl.select("USUBJID", "TRT01A", *adsl_columns).filter(pl.col("TRT01A").is_in(labels))
    order = {label: i for i, label in enumerate(dict.fromkeys(labels))}
    # rows in the order of ``labels``, then time; ties in ADTTE's order (the join's own order is not guaranteed;
    # asking polars to keep it costs more than sorting by the row number): sorting by the arm's position rather
    # than by text is what keeps this fast at a million subjects
    joined = (_pair_by_subject(rows, arms)
              .filter(pl.col("AVAL").is_not_null() & pl.col("CNSR").is_not_null())
              .select("_row", "USUBJID", "TRT01A", pl.col("AVAL").cast(pl.Float64), pl.col("CNSR").cast(pl.Int64),
                      *adtte_columns, *adsl_columns))
    # numpy's stable lexsort of the two keys, then one gather: polars' multi-key sort row-encodes every key and
    # took 3 to 5 times as long at a million rows
    position = joined.select(pl.col("TRT01A").replace_strict(order, return_dtype=pl.UInt32))["TRT01A"].to_numpy()
    out = joined[_arm_time_row_order(position, joined["AVAL"].to_numpy(), joined["_row"].to_numpy())].drop("_row")
    bad = out.filter(~pl.col("AVAL").is_finite())
    if bad.height:  # NaN or infinite times have no place on a time axis, in a landmark or in an integral
        first = ", ".join(bad["USUBJID"].head(3).cast(pl.String).to_list())
        raise DataError(f"ADTTE, column AVAL: {bad.height} {paramcd} row(s) hold no finite time (NaN or infinite); "
                        f"subjects {first}{', ...' if bad.height > 3 else ''}",
                        "fix AVAL (time to event in days) in the source and re-run trialkit ingest")
    return out


def _pair_by_subject(rows: pl.DataFrame, arms: pl.DataFrame) -> pl.DataFrame:
    """The inner join of the endpoint's rows with ADSL on USUBJID. ADaM datasets are usually sorted by USUBJID
    with one endpoint row per subject: when both list the same unique subjects in the same order, pairing rows
    by position is that join, at a fraction of a hash join's cost on a million text keys."""
    a, b = rows["USUBJID"], arms["USUBJID"]
    n = a.len()
    if n > 1 and n == b.len() and a.null_count() == 0 and a.equals(b) \
            and bool((a.slice(1) > a.slice(0, n - 1)).all()):  # strictly increasing: each subject once
        return rows.hstack(arms.drop("USUBJID"))
    return rows.join(arms, on="USUBJID", how="inner")


def _arm_time_row_order(position: np.ndarray, time: np.ndarray, row: np.ndarray) -> np.ndarray:
    """The permutation sorting by (arm position, time, row) -- np.lexsort((row, time, position)) -- in linear
    passes where it can: rows are distinct numbers below their count, so their order is a scatter, not a sort;
    then a stable sort by time and a stable radix sort by the (small) arm position."""
    m = row.size
    if m == 0 or position.max() >= 2**15:
        return np.lexsort((row, time, position))
    slot = np.full(int(row.max()) + 1, -1, dtype=np.int64)
    slot[row] = np.arange(m)
    by_row = slot[slot >= 0]
    if by_row.size != m:  # a row joined twice (duplicate USUBJID in ADSL): no scatter order
        return np.lexsort((row, time, position))
    t = time[by_row]
    if t.size and np.isfinite(t).all() and 0 <= t.min() and t.max() < 2**15 and (t == np.floor(t)).all():
        t = t.astype(np.int16)  # whole days, as ADTTE usually holds: numpy sorts them by radix
    by_time = by_row[np.argsort(t, kind="stable")]
    return by_time[np.argsort(position[by_time].astype(np.int16), kind="stable")]


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
    from trialkit.analyses.probability import conf_z

    return conf_z(conf_level)


def _confint(surv: np.ndarray, se_log: np.ndarray, conf_type: str, conf_level: float) -> tuple[np.ndarray, np.ndarray]:
    """R's survfit_confint(p, se, logse=TRUE, conf.type, conf.int); NaN where R gives NA/NaN."""
    conf_type = normalise_conf_type(conf_type)
    z = _z(conf_level)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
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
        xx = np.where(surv == 0, np.nan, surv)
        if conf_type == "logit":  # se of logit S = se_log / (1 - S); R writes 1 + S / (1 - S)
            se2 = z * se_log * (1 + xx / (1 - xx))
            logit = np.log(surv / (1 - surv))
            return 1 - 1 / (1 + np.exp(logit - se2)), 1 - 1 / (1 + np.exp(logit + se2))
        # arcsine: se of arcsin(sqrt S) = se_log sqrt(S / (1 - S)) / 2
        se2 = 0.5 * z * se_log * np.sqrt(xx / (1 - xx))
        angle = np.arcsin(np.sqrt(xx))
        return np.sin(np.maximum(0.0, angle - se2)) ** 2, np.sin(np.minimum(np.pi / 2, angle + se2)) ** 2


def _curve(time: np.ndarray, event: np.ndarray) -> dict[str, np.ndarray]:
    """survfitKM for one group: distinct times, at risk, events, censored, S(t), se of log S(t)."""
    if len(time) > 1 and not np.all(time[1:] >= time[:-1]):  # derive_survival_data's frames come sorted by AVAL
        order = np.argsort(time)  # ties need no order: their counts are summed
        time, event = time[order], event[order]
    starts = np.flatnonzero(np.concatenate([[True], time[1:] != time[:-1]]))
    ut = time[starts]
    n_event = np.add.reduceat(event, starts)
    n_total = np.diff(np.append(starts, len(time))).astype(float)
    n_risk = len(time) - np.concatenate([[0.0], np.cumsum(n_total)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod((n_risk - n_event) / n_risk)
        term = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
    return {"time": ut, "n_risk": n_risk, "n_event": n_event, "n_censor": n_total - n_event,
            "survival": surv, "std_err_log": np.sqrt(np.cumsum(term))}


def _null_nonfinite(df: pl.DataFrame) -> pl.DataFrame:
    floats = [c for c, t in df.schema.items() if t == pl.Float64]
    return df.with_columns(pl.when(pl.col(c).is_finite()).then(pl.col(c)).otherwise(None).alias(c) for c in floats)


def _blocks(df: pl.DataFrame, column: str) -> dict:
    """value -> its rows, in order of first appearance; where each value's rows are one consecutive block (as in
    derive_survival_data's and km_table's frames) they are slices (no copy), else filters."""
    runs = df.select(pl.col(column).rle()).unnest(column)
    values = runs["value"].to_list()
    if len(set(values)) == len(values):
        starts = np.concatenate([[0], np.cumsum(runs["len"].to_numpy())[:-1]])
        return {v: df.slice(int(o), int(n)) for v, o, n in zip(values, starts, runs["len"].to_list())}
    return {v: df.filter(pl.col(column) == v) for v in dict.fromkeys(values)}


def _arms(km: pl.DataFrame) -> list[tuple[str, pl.DataFrame]]:
    """(arm, its rows) in the table's order."""
    return list(_blocks(km, "arm").items())


def _values(part: pl.DataFrame, column: str) -> np.ndarray:
    """A column as floats, NaN where null."""
    return part[column].cast(pl.Float64).to_numpy()  # polars gives NaN for null floats


def km_table(data: pl.DataFrame, groups: list[str], conf_type: str = "log-log", conf_level: float = 0.95) -> pl.DataFrame:
    """The Kaplan-Meier table per arm (see the module docstring for the columns and their definitions).

    ``conf_type`` is any name ``normalise_conf_type`` accepts; the ``conf_type`` column holds its canonical name.
    """
    require_columns(data, ("TRT01A", "AVAL", "CNSR"), dataset="the survival data", purpose="the Kaplan-Meier table",
                    hint=SURVIVAL_DATA_HINT)
    conf_type = normalise_conf_type(conf_type)
    frames = []
    blocks = _blocks(data, "TRT01A")
    for g in groups:
        sub = blocks.get(g)
        if sub is None:
            continue
        if sub.height == 0:
            continue
        c = _curve(sub["AVAL"].to_numpy().astype(float), (1 - sub["CNSR"].to_numpy()).astype(float))
        lower, upper = _confint(c["survival"], c["std_err_log"], conf_type, conf_level)
        with np.errstate(invalid="ignore"):
            std_err = c["std_err_log"] * c["survival"]
        frames.append(pl.DataFrame({**{k: c[k] for k in ("time", "n_risk", "n_event", "n_censor", "survival")},
                                    "std_err": std_err, "std_err_log": c["std_err_log"], "lower": lower, "upper": upper})
                      .with_columns(pl.lit(g, dtype=pl.String).alias("arm")))
    if not frames:
        return pl.DataFrame(schema=KM_SCHEMA)
    out = pl.concat(frames).with_columns(pl.col(c).cast(pl.Int64) for c in ("n_risk", "n_event", "n_censor"))
    return _null_nonfinite(out.select(KM_COLUMNS)).with_columns(
        pl.lit(conf_type).alias("conf_type"), pl.lit(float(conf_level)).alias("conf_level"))


def _at(t: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row of the last time <= each x, whether x comes before the curve's start so survfit0's origin applies)."""
    i = np.searchsorted(t, x, side="right") - 1
    return np.maximum(i, 0), (i < 0) & (t[0] != 0)


def _left_by(t: np.ndarray, counts: np.ndarray, x: np.ndarray, side: str) -> np.ndarray:
    """Sum of counts at times < x (side "left") or <= x (side "right"), for each x."""
    return np.concatenate([[0], np.cumsum(counts)])[np.searchsorted(t, x, side=side)]


def km_landmarks(km: pl.DataFrame, times: list[float]) -> pl.DataFrame:
    """arm, time, n_risk, survival, std_err, lower, upper, extrapolated at each time: ``summary(fit, times=, extend=TRUE)``.

    Before the first time of a curve (when it is after 0), survfit0's origin: S = 1, se = 0, limits 1.
    """
    schema = {"arm": pl.String, "time": pl.Float64, "n_risk": pl.Int64, "survival": pl.Float64, "std_err": pl.Float64,
              "lower": pl.Float64, "upper": pl.Float64, "extrapolated": pl.Boolean}
    x = np.asarray(times, dtype=float)
    frames = []
    for arm, part in _arms(km):
        t = part["time"].to_numpy()
        leaving = (part["n_event"] + part["n_censor"]).to_numpy()
        row, origin = _at(t, x)
        cols = {c: np.where(origin, first, _values(part, c)[row])
                for c, first in (("survival", 1.0), ("std_err", 0.0), ("lower", 1.0), ("upper", 1.0))}
        frames.append(pl.DataFrame({"arm": [arm] * len(x), "time": x,
                                    "n_risk": leaving.sum() - _left_by(t, leaving, x, "left"), **cols,
                                    "extrapolated": x > t.max()}, schema=schema))
    return _null_nonfinite(pl.concat(frames)) if frames else pl.DataFrame(schema=schema)


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
    """arm, median, lower, upper as ``print(fit)`` (null when the curve or limit never reaches 0.5).

    This is survmean's search, the first time the curve is <= 0.5. It equals the p = 0.5 row of ``km_quantiles``
    except where R's two functions differ too: a curve that ends (last time censored) exactly at 0.5, where
    ``print`` gives the time it got there and ``quantile`` the midpoint of that time and the last one; and a
    confidence limit that rises again after first falling to 0.5 or below (a limit, unlike S, can turn back up
    where few remain at risk), where ``quantile`` takes the time of the limit's highest value <= 0.5.
    """
    rows = []
    for arm, part in _arms(km):
        t = part["time"].to_numpy()
        rows.append({"arm": arm, **{k: _minmin(_values(part, c), t)
                                    for k, c in (("median", "survival"), ("lower", "lower"), ("upper", "upper"))}})
    return _frame(rows, {"arm": pl.String, "median": pl.Float64, "lower": pl.Float64, "upper": pl.Float64})


def _frame(rows: list[dict], schema: dict) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)


def _approx_right(knots: np.ndarray, values: np.ndarray, p: np.ndarray) -> np.ndarray:
    """R's approx(knots, values, p, method = "constant", f = 1)$y: the value at the smallest knot >= p; NaN outside."""
    if np.all(knots[1:] >= knots[:-1]):  # a survival curve's 1 - S: already in order
        k, v = knots, values.astype(float)
    else:
        order = np.argsort(knots, kind="stable")
        k, v = knots[order], values[order].astype(float)
    pos = np.searchsorted(k, p, side="left")
    out = v[np.minimum(pos, len(k) - 1)]
    return np.where((pos == len(k)) | (p < k[0]), np.nan, out)


def _first_of_equal(y: np.ndarray) -> np.ndarray:
    """Positions R's ``!duplicated(y)`` keeps: the first of each value, NaN counting as one value."""
    nan = np.isnan(y)
    v = y[~nan]
    if not np.all(v[1:] >= v[:-1]):  # a confidence curve that turns back: equal values need not be neighbours
        return np.sort(np.unique(y, return_index=True)[1])
    keep = np.zeros(len(y), dtype=bool)
    keep[~nan] = np.concatenate([[True], v[1:] != v[:-1]])
    if nan.any():
        keep[np.argmax(nan)] = True
    return np.flatnonzero(keep)


def _findq(x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """R's survival:::findq: the times the cumulative curve y (1 - S, from 0 at the origin) reaches each p.

    The first time y >= p (within tol); where y equals p on a stretch, the midpoint of its start and the next
    change; when that stretch is the curve's last, the midpoint of its start and the last time.
    """
    if not np.nanmax(y) >= p.min():
        return np.full(len(p), np.nan)
    xmax = x[-1]
    keep = _first_of_equal(y)
    x, y = x[keep], y[keep]
    ok = ~np.isnan(y)
    index = np.arange(len(y))[ok]
    i1 = _approx_right(y[ok] + _TOL, index, p)
    i2 = _approx_right(y[ok] - _TOL, index, p)

    def at(i: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(i), np.nan, x[np.nan_to_num(i).astype(np.int64)])

    quant = (at(i1) + at(i2)) / 2
    quant = np.where(p == 0, x[0], quant)
    if not np.isnan(y[-1]):
        quant = np.where(np.abs(p - y[-1]) < _TOL, (at(i1) + xmax) / 2, quant)
    return quant


def km_quantiles(km: pl.DataFrame, probs=(0.25, 0.5, 0.75)) -> pl.DataFrame:
    """arm, prob, time, lower, upper, conf_type, conf_level: ``quantile(fit, probs, conf.int = TRUE)`` per arm.

    The p quantile is the time S(t) falls to 1 - p (``time`` null when it never does); ``lower`` and ``upper`` are
    the same search on the lower and upper confidence curves (so they carry the table's conf type and level). On
    a stretch where S is exactly 1 - p, the midpoint of its start and the next drop (or the last time).
    """
    p = np.asarray(list(probs), dtype=float)
    if p.size == 0 or not np.all((p >= 0) & (p <= 1)):  # also NaN
        raise UsageError(f"quantile probabilities {list(probs)} are not all between 0 and 1",
                         "give probabilities such as 0.25, 0.5, 0.75")
    schema = {"arm": pl.String, "prob": pl.Float64, "time": pl.Float64, "lower": pl.Float64, "upper": pl.Float64,
              "conf_type": pl.String, "conf_level": pl.Float64}
    frames = []
    for arm, part in _arms(km):
        x = np.concatenate([[0.0], part["time"].to_numpy().astype(float)])
        found = {k: _findq(x, np.concatenate([[0.0], 1 - _values(part, c)]), p)
                 for k, c in (("time", "survival"), ("lower", "lower"), ("upper", "upper"))}
        frames.append(pl.DataFrame({"arm": [arm] * len(p), "prob": p, **found,
                                    "conf_type": [part["conf_type"][0]] * len(p),
                                    "conf_level": np.full(len(p), part["conf_level"][0], dtype=float)}, schema=schema))
    return _null_nonfinite(pl.concat(frames)) if frames else pl.DataFrame(schema=schema)


def km_rmst(km: pl.DataFrame, tau: float) -> pl.DataFrame:
    """arm, tau, rmst, se, extrapolated: area under S(t) on [0, tau] and R's se(rmean) from ``print(fit, rmean=tau)``.

    se^2 = sum over event times t_j <= tau of A_j^2 d_j / (n_j (n_j - d_j)), A_j the area under S from t_j to tau
    (R's survmean; no n/(n-1) correction).
    """
    if not tau > 0:
        raise UsageError(f"--rmst-tau {tau} is not a positive time", "give the restriction time in days, e.g. --rmst-tau 730")
    rows = []
    for arm, part in _arms(km):
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
        rows.append({"arm": arm, "tau": float(tau), "rmst": float(rect.sum()), "se": math.sqrt(var),
                     "extrapolated": bool(tau > part["time"].max())})
    return _frame(rows, RMST_SCHEMA)


def risk_table(km: pl.DataFrame, times: list[float]) -> pl.DataFrame:
    """arm, time, n_risk (AVAL >= t), cum_events and cum_censored (AVAL <= t) at each time."""
    schema = {"arm": pl.String, "time": pl.Float64, "n_risk": pl.Int64, "cum_events": pl.Int64, "cum_censored": pl.Int64}
    x = np.asarray(times, dtype=float)
    frames = []
    for arm, part in _arms(km):
        t = part["time"].to_numpy()
        ev, cn = part["n_event"].to_numpy(), part["n_censor"].to_numpy()
        frames.append(pl.DataFrame({"arm": [arm] * len(x), "time": x,
                                    "n_risk": (ev + cn).sum() - _left_by(t, ev + cn, x, "left"),
                                    "cum_events": _left_by(t, ev, x, "right"), "cum_censored": _left_by(t, cn, x, "right")},
                                   schema=schema))
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)
