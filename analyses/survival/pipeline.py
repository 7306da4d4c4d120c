"""The whole survival stage on ADTTE + ADSL, as frames, and its JSON contract.

``analyse_survival`` runs every estimate and test of the stage for one
endpoint and a list of arms (``groups.Arm`` in dose order) and returns a
``SurvivalResults`` of fixed frames; ``results_json`` turns it into the object
``trialkit survival --format json`` prints and ``survival/survival.json`` holds.
Arms without any record of the endpoint are left out, with a note.

Landmarks and the RMST restriction time come from the trial at hand:

- landmarks, unless given: the multiples of the smallest round step (1, 2, 3
  days; 1, 2, 4 weeks; 2, 3, 6 months; 1, 2, 3, 5, 10 years, then 20, 50,
  100, ... years) that puts at most four of them up to the smallest of the
  groups' last observed times, so every group is still followed at each
  (``timescale.round_times_within``); never more than four, whatever the times;
- tau, unless given: the smallest of the groups' last observed times, as
  survRM2's ``rmst2`` defaults it.

A landmark after the last observed time of the analysed data, or a tau after
the smallest of the groups' last observed times (which survRM2 refuses), is a
usage error unless ``extrapolate``; then S(t) is carried forward as R's
``summary(fit, times, extend = TRUE)`` and every such row is flagged
``extrapolated`` (per group: after that group's last observed time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import polars as pl

from trialkit.schemas.errors import NoDataError, UsageError
from trialkit.analyses.groups import Arm, select_arms
from trialkit.analyses.survival.km import (RMST_SCHEMA, SurvivalSettings, derive_survival_data, km_landmarks, km_medians, km_rmst,
                                           km_table, risk_table, summarise_arms)
from trialkit.analyses.survival.cox import COX_COLUMNS, cox_by_group
from trialkit.analyses.survival.figure import TimeAxis, time_axis
from trialkit.analyses.survival.compare import LOGRANK_SCHEMA, TREND_SCHEMA, LogrankResult, TrendResult, logrank_test, pairwise_logrank, trend_test
from trialkit.analyses.survival.endpoint import EndpointWording, endpoint_wording
from trialkit.analyses.timescale import round_times_within, time_label

__all__ = ["FollowUp", "SurvivalResults", "follow_up", "default_landmarks", "analyse_survival", "results_json"]

MAX_DEFAULT_LANDMARKS = 4
TAU_RULE = "the smallest of the groups' last observed times, as survRM2's rmst2"
EXTEND = "R summary(fit, times, extend = TRUE)"


@dataclass(frozen=True)
class FollowUp:
    """The last observed time (event or censoring, days) of each analysed group, and over all of them."""

    by_group: dict[str, float]

    @property
    def last(self) -> float:
        """The last observed time of the analysed data: landmarks after it are extrapolations."""
        return max(self.by_group.values())

    @property
    def shortest(self) -> float:
        """The smallest of the groups' last observed times: the largest tau survRM2 accepts."""
        return min(self.by_group.values())

    def after(self, t: float) -> list[str]:
        """The groups whose last observed time is before ``t``."""
        return [g for g, last in self.by_group.items() if t > last]


def follow_up(data: pl.DataFrame, groups: list[str]) -> FollowUp:
    """Each group's largest AVAL (events and censorings) in the analysis frame, in the order of ``groups``."""
    last = {r["TRT01A"]: float(r["AVAL"]) for r in data.group_by("TRT01A").agg(pl.col("AVAL").max()).iter_rows(named=True)}
    return FollowUp({g: last[g] for g in groups if g in last})


def default_landmarks(fu: FollowUp) -> tuple[list[float], str]:
    """Round landmark times within every group's follow-up, and the rule that chose them, in words."""
    times, step = round_times_within(fu.shortest, MAX_DEFAULT_LANDMARKS)
    limit = f"{fu.shortest:g} days, the smallest of the groups' last observed times"
    if not times:
        return [], f"default: none, as {limit}, is under one day"
    return times, (f"default: every {step}, the smallest round step giving at most {MAX_DEFAULT_LANDMARKS} landmarks "
                   f"up to {limit}")


@dataclass(frozen=True)
class SurvivalResults:
    """Every output of the stage; frames have the columns their producing functions document."""

    endpoint: str
    param: str | None
    settings: SurvivalSettings
    reference: str | None
    times: tuple[float, ...]
    rmst_tau: float | None
    follow_up: FollowUp
    landmark_source: str  # "option", or the default rule in words
    rmst_tau_source: str  # "option", or the default rule in words
    extrapolate: bool
    wording: EndpointWording
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


def analyse_survival(adtte: pl.DataFrame, adsl: pl.DataFrame, endpoint: str, arms: list[Arm], settings: SurvivalSettings,
                     *, reference: str | None = None, times: Sequence[float] | None = None, rmst_tau: float | None = None,
                     extrapolate: bool = False, cox_model: bool = True) -> SurvivalResults:
    """KM, landmarks, medians, RMST, risk table; with 2+ arms the G-rho, pairwise, trend tests and Cox model.

    ``times`` and ``rmst_tau`` (days) default to the rules in the module docstring; past the follow-up they are
    refused (``UsageError``) unless ``extrapolate``. ``cox_model=False`` skips the Cox fit (and scikit-survival's
    import) and says so in the notes.
    """
    data = derive_survival_data(adtte, adsl, endpoint, [a.label for a in arms])
    if data.height == 0:
        raise NoDataError(f"ADTTE has no {endpoint} record for the selected arms ({', '.join(a.label for a in arms)})",
                          "check --endpoint and --arm, or the ADSL TRT01A of the subjects")
    summary = summarise_arms(data, arms)
    present = [a for a in arms if a.label in set(data["TRT01A"].to_list())]
    notes = [f"{a.label} has no {endpoint} record and is left out" for a in arms if a not in present]
    groups = [a.label for a in present]
    fu = follow_up(data, groups)
    if times is None:
        times, landmark_source = default_landmarks(fu)
    else:
        landmark_source = "option"
    times = sorted({float(t) for t in times})
    tau_source = "option" if rmst_tau is not None else f"default: {TAU_RULE}"
    tau = float(rmst_tau) if rmst_tau is not None else fu.shortest
    if not extrapolate:
        _refuse_extrapolation(endpoint, fu, times, tau if rmst_tau is not None else None)
    notes += _extrapolation_notes(fu, times, tau)
    ref = _reference(present, reference, endpoint)
    c = settings
    km = km_table(data, groups, c.conf_type, c.conf_level)
    conf = [pl.lit(c.conf_type).alias("conf_type"), pl.lit(c.conf_level).alias("conf_level")]
    axis = time_axis(fu.last)
    rmst = pl.DataFrame(schema=RMST_SCHEMA)
    if tau > 0:
        rmst = km_rmst(km, tau)
    else:
        notes.append(f"no RMST: {TAU_RULE} is 0 days")
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
    param = param[0] if param else None
    return SurvivalResults(
        endpoint=endpoint, param=param, settings=settings, reference=ref if len(groups) > 1 else None,
        times=tuple(times), rmst_tau=tau if tau > 0 else None, follow_up=fu, landmark_source=landmark_source,
        rmst_tau_source=tau_source, extrapolate=extrapolate, wording=endpoint_wording(endpoint, param), axis=axis,
        arms=summary, km=km, landmarks=km_landmarks(km, times).with_columns(conf), medians=km_medians(km).with_columns(conf),
        rmst=rmst, risk_table=risk_table(km, axis.breaks_days), logrank=logrank,
        pairwise=pairwise if pairwise is not None else pairwise_logrank(data, [], c.rho), trend=trend,
        trend_scores=scores_source, cox=cox if cox is not None else pl.DataFrame(schema=COX_COLUMNS), notes=tuple(notes),
    )


def _when(t: float) -> str:
    """A time as given and in days: "2y (730.5 days)", "250 days"."""
    short = time_label(t)
    return f"{t:g} days" if short == f"{t:g}d" else f"{short} ({t:g} days)"


def _refuse_extrapolation(endpoint: str, fu: FollowUp, times: list[float], tau: float | None) -> None:
    """UsageError for landmarks after the last observed time, or a given tau after the shortest group's."""
    late = [t for t in times if t > fu.last]
    if late:
        raise UsageError(f"--times {', '.join(_when(t) for t in late)} {'is' if len(late) == 1 else 'are'} after the follow-up: the last observed {endpoint} "
                         f"time is {fu.last:g} days",
                         f"choose landmarks up to {fu.last:g} days, or add --extrapolate to carry S(t) forward ({EXTEND})")
    if tau is not None and tau > fu.shortest:
        short = min(fu.by_group, key=fu.by_group.get)
        raise UsageError(f"--rmst-tau {_when(tau)} is after the follow-up: the last observed {endpoint} time of "
                         f"{short} is {fu.shortest:g} days, and tau may not pass the smallest of the groups' last times "
                         f"(as survRM2)", f"choose --rmst-tau {fu.shortest:g} or less (the default), or add --extrapolate "
                         "to integrate S(t) carried forward")


def _extrapolation_notes(fu: FollowUp, times: list[float], tau: float) -> list[str]:
    notes = [f"S({time_label(t)}) is extrapolated for {', '.join(fu.after(t))}: {_when(t)} is after their last observed "
             f"time; S(t) is carried forward ({EXTEND}), with 0 at risk; flagged extrapolated"
             for t in times if fu.after(t)]
    if fu.after(tau):
        notes.append(f"RMST to {_when(tau)} is extrapolated for {', '.join(fu.after(tau))}: the area includes S(t) carried "
                     "forward after their last observed time; flagged extrapolated")
    return notes


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
            "sources": dict(s.sources), "landmark_times": list(res.times), "landmark_times_source": res.landmark_source,
            "rmst_tau": res.rmst_tau, "rmst_tau_source": res.rmst_tau_source, "extrapolate": res.extrapolate,
            "follow_up": {"last_time": res.follow_up.last, "shortest_group_last_time": res.follow_up.shortest,
                          "by_group": [{"arm": g, "last_time": t} for g, t in res.follow_up.by_group.items()]},
            "reference": res.reference, "time_unit": res.axis.unit, "risk_table_times": res.axis.breaks_days,
            "trend_scores": res.trend_scores,
            "std_err": "Greenwood standard error of S(t) (R summary(survfit)$std.err)",
            "r_equivalent": (f"survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, conf.type = \"{s.conf_type}\", conf.int = {s.conf_level:g}); "
                             f"survdiff(..., rho = {s.rho:g}); coxph(..., ties = \"{s.ties}\")"),
            "cox_engine": f"scikit-survival CoxPHSurvivalAnalysis(alpha=0, ties=\"{s.ties}\"); Wald SE from the observed information",
        },
        "arms": _records(res.arms, ["arm", "armcd", "trt01an", "n", "events"]),
        "landmarks": _records(res.landmarks, ["arm", "time", "n_risk", "survival", "std_err", "lower", "upper", "extrapolated"]),
        "medians": _records(res.medians, ["arm", "median", "lower", "upper"]),
        "rmst": _records(res.rmst, ["arm", "tau", "rmst", "se", "extrapolated"]),
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

