"""The whole survival stage on ADTTE + ADSL, as frames, and its JSON contract.

``analyse_survival`` runs every estimate and test of the stage for one
endpoint and a list of arms (``groups.Arm`` in dose order) and returns a
``SurvivalResults`` of fixed frames; ``results_json`` turns it into the object
``trialkit survival --format json`` prints and ``survival/survival.json`` holds.
Arms without any record of the endpoint are left out, with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from trialkit.analyses.errors import NoDataError, UsageError
from trialkit.analyses.groups import Arm, select_arms
from trialkit.analyses.survival.km import (DAYS_PER, SurvivalSettings, derive_survival_data, km_landmarks, km_medians, km_rmst, km_table,
                       risk_table, summarise_arms)
from trialkit.analyses.survival.cox import COX_COLUMNS, cox_by_group
from trialkit.analyses.survival.figure import TimeAxis, time_axis
from trialkit.analyses.survival.compare import LOGRANK_SCHEMA, TREND_SCHEMA, LogrankResult, TrendResult, logrank_test, pairwise_logrank, trend_test

__all__ = ["DEFAULT_TIMES", "SurvivalResults", "analyse_survival", "results_json", "time_label"]

DEFAULT_TIMES = (6 * DAYS_PER["m"], 2 * DAYS_PER["y"])


@dataclass(frozen=True)
class SurvivalResults:
    """Every output of the stage; frames have the columns their producing functions document."""

    endpoint: str
    param: str | None
    settings: SurvivalSettings
    reference: str | None
    times: tuple[float, ...]
    rmst_tau: float | None
    axis: TimeAxis
    arms: pl.DataFrame
    km: pl.DataFrame
    landmarks: pl.DataFrame
    medians: pl.DataFrame
    rmst: pl.DataFrame
    risk_table: pl.DataFrame
    logrank: LogrankResult | None
    pairwise: pl.DataFrame
    trend: TrendResult | None
    trend_scores: str | None
    cox: pl.DataFrame
    notes: tuple[str, ...] = field(default=())

    @property
    def groups(self) -> list[str]:
        return self.arms.filter(pl.col("n") > 0)["arm"].to_list()

    def tables(self) -> dict[str, pl.DataFrame]:
        """Each result as a frame, named as its Parquet file in survival/."""
        return {
            "arms": self.arms, "km": self.km, "landmarks": self.landmarks, "medians": self.medians, "rmst": self.rmst,
            "risk_table": self.risk_table,
            "tests": self.logrank.to_frame() if self.logrank else pl.DataFrame(schema=LOGRANK_SCHEMA),
            "pairwise": self.pairwise,
            "trend": self.trend.to_frame() if self.trend else pl.DataFrame(schema=TREND_SCHEMA),
            "cox": self.cox,
        }


def time_label(days: float) -> str:
    """182.625 -> "6m", 730.5 -> "2y", 182 -> "182d"."""
    for unit in ("y", "m", "w"):
        k = days / DAYS_PER[unit]
        if k >= 1 and abs(k - round(k)) < 1e-9:
            return f"{round(k)}{unit}"
    return f"{days:g}d"


def analyse_survival(adtte: pl.DataFrame, adsl: pl.DataFrame, endpoint: str, arms: list[Arm], settings: SurvivalSettings,
                     *, reference: str | None = None, times=DEFAULT_TIMES, rmst_tau: float | None = None,
                     cox_model: bool = True) -> SurvivalResults:
    """KM, landmarks, medians, RMST, risk table; with 2+ arms the G-rho, pairwise, trend tests and Cox model.

    ``cox_model=False`` skips the Cox fit (and scikit-survival's import) and says so in the notes.
    """
    data = derive_survival_data(adtte, adsl, endpoint, [a.label for a in arms])
    if data.height == 0:
        raise NoDataError(f"ADTTE has no {endpoint} record for the selected arms ({', '.join(a.label for a in arms)})",
                          "check --endpoint and --arm, or the ADSL TRT01A of the subjects")
    summary = summarise_arms(data, arms)
    present = [a for a in arms if a.label in set(data["TRT01A"].to_list())]
    notes = [f"{a.label} has no {endpoint} record and is left out" for a in arms if a not in present]
    groups = [a.label for a in present]
    ref = _reference(present, reference, endpoint)
    c = settings
    km = km_table(data, groups, c.conf_type, c.conf_level)
    conf = [pl.lit(c.conf_type).alias("conf_type"), pl.lit(c.conf_level).alias("conf_level")]
    last = float(data["AVAL"].max())
    axis = time_axis(last)
    notes += [f"landmark {time_label(t)} is after the last follow-up ({last:g} days): S(t) is carried forward "
              "(R summary(..., extend = TRUE)), with 0 at risk" for t in times if t > last]
    logrank = pairwise = trend = cox = None
    scores_source = None
    if len(groups) >= 2:
        logrank = logrank_test(data, groups, c.rho)
        pairwise = pairwise_logrank(data, groups, c.rho)
        scores, scores_source = _scores(present)
        trend = trend_test(data, groups, scores, c.rho)
        if cox_model:
            cox = cox_by_group(data, groups, ref, c.ties, c.conf_level)
            notes += [f"Cox: {r['arm']}: {r['reason']}" for r in cox.iter_rows(named=True) if r["reason"]]
        else:
            notes.append("Cox model not fitted (--no-cox)")
    else:
        notes.append("one group: estimates only, no comparison")
    param = adtte.filter(pl.col("PARAMCD") == endpoint)["PARAM"].drop_nulls().head(1).to_list() if "PARAM" in adtte.columns else []
    return SurvivalResults(
        endpoint=endpoint, param=param[0] if param else None, settings=settings, reference=ref if len(groups) > 1 else None,
        times=tuple(float(t) for t in times), rmst_tau=rmst_tau, axis=axis, arms=summary, km=km,
        landmarks=km_landmarks(km, list(times)).with_columns(conf), medians=km_medians(km).with_columns(conf),
        rmst=km_rmst(km, rmst_tau) if rmst_tau else pl.DataFrame(schema={"arm": pl.String, "tau": pl.Float64, "rmst": pl.Float64, "se": pl.Float64}),
        risk_table=risk_table(km, axis.breaks_days), logrank=logrank,
        pairwise=pairwise if pairwise is not None else pairwise_logrank(data, [], c.rho), trend=trend,
        trend_scores=scores_source, cox=cox if cox is not None else pl.DataFrame(schema=COX_COLUMNS), notes=tuple(notes),
    )


def _reference(present: list[Arm], wanted: str | None, endpoint: str) -> str:
    """The first arm in dose order, or the one ``--reference`` names among those with records."""
    if wanted is None:
        return present[0].label
    try:
        return select_arms(present, [wanted])[0].label
    except UsageError as exc:
        raise NoDataError(f"--reference {wanted!r} names no arm with a {endpoint} record",
                          exc.hint or "choose another reference arm") from exc


def _scores(arms: list[Arm]) -> tuple[list[float], str]:
    if all(a.order is not None for a in arms) and len({a.order for a in arms}) == len(arms):
        return [float(a.order) for a in arms], "TRT01AN"
    return [float(i + 1) for i in range(len(arms))], "rank in dose order (TRT01AN missing or tied)"


def _records(df: pl.DataFrame, columns: list[str]) -> list[dict]:
    return df.select(columns).to_dicts()


def results_json(res: SurvivalResults) -> dict:
    """The JSON contract: endpoint, arms, landmarks, medians, rmst, logrank, pairwise, trend, cox, plus settings."""
    s = res.settings
    lr = res.logrank
    return {
        "endpoint": res.endpoint,
        "param": res.param,
        "settings": {
            "conf_type": s.conf_type, "conf_level": s.conf_level, "ties": s.ties, "rho": s.rho, "parity": s.parity,
            "sources": dict(s.sources), "landmark_times": list(res.times), "rmst_tau": res.rmst_tau,
            "reference": res.reference, "time_unit": res.axis.unit, "risk_table_times": res.axis.breaks_days,
            "trend_scores": res.trend_scores,
            "std_err": "Greenwood standard error of S(t) (R summary(survfit)$std.err)",
            "r_equivalent": (f"survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, conf.type = \"{s.conf_type}\", conf.int = {s.conf_level:g}); "
                             f"survdiff(..., rho = {s.rho:g}); coxph(..., ties = \"{s.ties}\")"),
            "cox_engine": f"scikit-survival CoxPHSurvivalAnalysis(alpha=0, ties=\"{s.ties}\"); Wald SE from the observed information",
        },
        "arms": _records(res.arms, ["arm", "armcd", "trt01an", "n", "events"]),
        "landmarks": _records(res.landmarks, ["arm", "time", "n_risk", "survival", "std_err", "lower", "upper"]),
        "medians": _records(res.medians, ["arm", "median", "lower", "upper"]),
        "rmst": _records(res.rmst, ["arm", "tau", "rmst", "se"]),
        "risk_table": _records(res.risk_table, ["arm", "time", "n_risk", "cum_events", "cum_censored"]),
        "logrank": None if lr is None else {
            "test": "log-rank" if lr.rho == 0 else f"G-rho (rho = {lr.rho:g})", "rho": lr.rho, "chisq": lr.chisq, "df": lr.df,
            "p": lr.p, "reason": lr.reason,
            "groups": [{"arm": g, "observed": o, "expected": e} for g, o, e in zip(lr.groups, lr.observed, lr.expected)],
        },
        "pairwise": _records(res.pairwise, ["arm_a", "arm_b", "chisq", "df", "p", "p_holm", "reason"]),
        "trend": None if res.trend is None else {
            "chisq": res.trend.chisq, "df": res.trend.df, "p": res.trend.p, "u": res.trend.u, "var": res.trend.var,
            "scores": [{"arm": g, "score": sc} for g, sc in zip(res.trend.groups, res.trend.scores)], "reason": res.trend.reason,
        },
        "cox": _records(res.cox, ["arm", "reference", "hr", "lower", "upper", "p", "coef", "se", "ties", "estimable", "reason"]),
        "notes": list(res.notes),
    }

