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
from typing import Any, Sequence

import polars as pl

from trialkit.schemas.errors import NoDataError, UsageError
from trialkit.analyses.groups import Arm, select_arms
from trialkit.analyses.survival.km import (RMST_SCHEMA, SurvivalSettings, derive_survival_data, km_landmarks, km_medians, km_quantiles,
                                           km_rmst, km_table, risk_table, summarise_arms)
from trialkit.analyses.survival.followup import median_follow_up
from trialkit.analyses.survival.rmst import rmst_contrasts
from trialkit.analyses.survival.cox import COX_TERM_COLUMNS, cox_model
from trialkit.analyses.survival.forest import subgroup_forest
from trialkit.analyses.survival.figure import TimeAxis, time_axis
from trialkit.analyses.survival.compare import (LOGRANK_SCHEMA, TREND_SCHEMA, LogrankResult, TrendResult, count_cells,
                                                logrank_test, pairwise_logrank, trend_test)
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
    gamma: float = 0.0
    strata: tuple[str, ...] = ()
    covariates: tuple[str, ...] = ()
    model: Any = None  # modeldata.ModelData of the Cox fit (None without one)
    cox_tests: pl.DataFrame | None = None
    zph: Any = None  # zph.ZphResult (None without a Cox fit)
    quantiles: pl.DataFrame | None = None
    follow_up_median: pl.DataFrame | None = None
    rmst_contrasts: pl.DataFrame | None = None
    competing: Any = None  # competing.CompetingResults (None without competing events)
    forest: pl.DataFrame | None = None

    @property
    def groups(self) -> list[str]:
        return self.arms.filter(pl.col("n") > 0)["arm"].to_list()

    def tables(self) -> dict[str, pl.DataFrame]:
        """Each result as a frame, named as its Parquet file in survival/ (optional ones only when computed)."""
        out = {
            "arms": self.arms, "km": self.km, "landmarks": self.landmarks, "medians": self.medians, "rmst": self.rmst,
            "risk_table": self.risk_table,
            "tests": self.logrank.to_frame() if self.logrank else pl.DataFrame(schema=LOGRANK_SCHEMA),
            "pairwise": self.pairwise,
            "trend": self.trend.to_frame() if self.trend else pl.DataFrame(schema=TREND_SCHEMA),
            "cox": self.cox,
        }
        optional = {"quantiles": self.quantiles, "follow_up": self.follow_up_median, "rmst_contrasts": self.rmst_contrasts,
                    "cox_tests": self.cox_tests, "zph": self.zph.table if self.zph is not None else None,
                    "forest": self.forest}
        if self.competing is not None:
            optional |= self.competing.tables()
        return out | {k: v for k, v in optional.items() if v is not None}


def analyse_survival(adtte: pl.DataFrame, adsl: pl.DataFrame, endpoint: str, arms: list[Arm], settings: SurvivalSettings,
                     *, reference: str | None = None, times: Sequence[float] | None = None, rmst_tau: float | None = None,
                     extrapolate: bool = False, cox_model: bool = True, gamma: float = 0.0, strata: Sequence[str] = (),
                     covariates: Sequence[str] = (), event_type: str | None = None, forest: Sequence[str] = (),
                     time_unit: str | None = None, break_by: float | None = None) -> SurvivalResults:
    """KM, landmarks, quartiles, follow-up, RMST, risk table; with 2+ arms the weighted log-rank, pairwise and trend
    tests (stratified by ``strata``), RMST contrasts, the Cox model (``strata``, ``covariates``) with its
    proportional-hazards check, and the subgroup ``forest``; competing risks when the endpoint's events have more
    than one type (or ``event_type`` names the variable holding it).

    ``times`` and ``rmst_tau`` (days) default to the rules in the module docstring; past the follow-up they are
    refused (``UsageError``) unless ``extrapolate``. ``cox_model=False`` skips the Cox fit (and its PH check) and
    says so in the notes. Rows missing a stratum or covariate are left out of the analyses that use it (as R's
    na.omit), with a note; the Kaplan-Meier estimates use every subject.
    """
    from trialkit.analyses.survival.modeldata import locate_variables, model_data, parse_covariate, variable_columns

    specs = [parse_covariate(c) for c in covariates]
    variables = list(dict.fromkeys([*strata, *(c.name for c in specs), *forest]))
    picks = variable_columns(adtte, adsl, variables, present=("USUBJID", "TRT01A", "AVAL", "CNSR")) if variables else {}
    sources = locate_variables(adtte, adsl, variables) if variables else {}
    # the model variables come along in the one join that builds the analysis frame
    with_vars = derive_survival_data(adtte, adsl, endpoint, [a.label for a in arms],
                                     adtte_columns=picks.get("ADTTE", ()), adsl_columns=picks.get("ADSL", ()))
    data = with_vars.select("USUBJID", "TRT01A", "AVAL", "CNSR")
    if data.height == 0:
        raise NoDataError(f"ADTTE has no {endpoint} record for the selected arms ({', '.join(a.label for a in arms)})",
                          "check --endpoint and --arm, or the ADSL TRT01A of the subjects")
    summary = summarise_arms(data, arms)
    present = [a for a in arms if a.label in set(data["TRT01A"].unique().to_list())]
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
    conf = [pl.lit(c.conf_type).alias("conf_type"), pl.lit(c.conf_level).alias("conf_level")]
    axis = time_axis(fu.last, time_unit, break_by)
    cox_run = model_ready = None
    if len(groups) >= 2 and cox_model:
        # the Cox model's design, its fit and its check run on the other core while this thread computes the
        # curves and the tests (numpy and polars release the GIL in their loops); the results do not depend on
        # the order. The design is handed over as soon as it is built: the stratified tests use its rows.
        from concurrent.futures import Future

        model_ready = Future()
        cox_run = _Background(_model_then_cox, model_ready, with_vars, groups, ref, list(strata), specs, sources, c)
    km = km_table(data, groups, c.conf_type, c.conf_level)
    rmst = pl.DataFrame(schema=RMST_SCHEMA)
    if tau > 0:
        rmst = km_rmst(km, tau)
    else:
        notes.append(f"no RMST: {TAU_RULE} is 0 days")
    landmarks, medians = km_landmarks(km, times).with_columns(conf), km_medians(km).with_columns(conf)
    risk, quantiles = risk_table(km, axis.breaks_days), km_quantiles(km)
    follow_up_median = median_follow_up(data, groups, c.conf_level)
    cox_md = model_ready.result() if model_ready is not None and strata else None
    logrank = pairwise = trend = cox = cox_tests = zph = model = contrasts = forest_table = stratified_frame = None
    cox_notes_at = 0
    scores_source = None
    if len(groups) >= 2:
        tests_data, strata_col = data, None
        label = ", ".join(strata) if strata else None  # what the tables' strata column says
        if strata:
            # the Cox model's rows serve the stratified tests too unless a missing covariate dropped some
            stratified = cox_md if cox_md is not None and cox_md.n_dropped == 0 else \
                model_data(with_vars, groups, ref, list(strata), [], sources=sources)
            tests_data, strata_col = stratified.frame, "_stratum"
            stratified_frame = stratified.frame
            notes += [n.replace("Cox model", "stratified tests") for n in stratified.notes]
            notes += _single_arm_strata(tests_data, groups)
        cells = count_cells(tests_data, groups, strata_col)  # the counts the three tests share
        logrank = logrank_test(tests_data, groups, c.rho, gamma, strata=strata_col, strata_label=label, cells=cells)
        pairwise = pairwise_logrank(tests_data, groups, c.rho, gamma, strata=strata_col, strata_label=label,
                                    cells=cells)
        scores, scores_source = _scores(present)
        trend = trend_test(tests_data, groups, scores, c.rho, gamma, strata=strata_col, strata_label=label,
                           cells=cells)
        if rmst.height:
            contrasts = rmst_contrasts(rmst, ref, c.conf_level)
        cox_notes_at = len(notes)  # the Cox fit's notes go here once it is done: after everything else is computed
        if cox_run is None:
            notes.append("Cox model not fitted (--no-cox)")
        if forest:
            forest_table = subgroup_forest(stratified_frame if strata else with_vars, list(forest), groups, ref, c.ties,
                                           c.conf_level, strata_col=strata_col)
            notes += [f"forest: {r['variable']} = {r['level']}, {r['arm']}: {r['reason']}"
                      for r in forest_table.iter_rows(named=True) if r["reason"] and not r["estimable"]]
    else:
        notes.append("one group: estimates only, no comparison")
        if strata or covariates or forest:
            notes.append("one group: --strata, --covariate and --forest compare groups and are not used")
    competing = _competing(adtte, data, endpoint, groups, event_type, times, c.conf_level, stratified_frame, c.rho,
                           ", ".join(strata) or None)
    if competing is not None:
        notes += list(competing.notes)
        notes.append(f"competing risks: the {endpoint} events have {len(competing.types)} type(s) in ADTTE "
                     f"{competing.variable} ({', '.join(competing.types)}); the Kaplan-Meier estimates count "
                     "every type as the event, the cumulative incidence separates them")
    param = adtte.filter(pl.col("PARAMCD") == endpoint)["PARAM"].drop_nulls().head(1).to_list() if "PARAM" in adtte.columns else []
    param = param[0] if param else None
    if cox_run is not None:
        model, cox, cox_tests, zph, cox_notes = cox_run.result()
        notes[cox_notes_at:cox_notes_at] = cox_notes
    return SurvivalResults(
        endpoint=endpoint, param=param, settings=settings, reference=ref if len(groups) > 1 else None,
        times=tuple(times), rmst_tau=tau if tau > 0 else None, follow_up=fu, landmark_source=landmark_source,
        rmst_tau_source=tau_source, extrapolate=extrapolate, wording=endpoint_wording(endpoint, param), axis=axis,
        arms=summary, km=km, landmarks=landmarks, medians=medians, rmst=rmst, risk_table=risk, logrank=logrank,
        pairwise=pairwise if pairwise is not None else pairwise_logrank(data, [], c.rho, gamma), trend=trend,
        trend_scores=scores_source, cox=cox if cox is not None else pl.DataFrame(schema=COX_TERM_COLUMNS), notes=tuple(notes),
        gamma=float(gamma), strata=tuple(strata), covariates=tuple(covariates), model=model, cox_tests=cox_tests, zph=zph,
        quantiles=quantiles, follow_up_median=follow_up_median,
        rmst_contrasts=contrasts, competing=competing, forest=forest_table,
    )


class _Background:
    """``fn(*args)`` on a daemon thread; ``result()`` waits and returns its value or raises its exception."""

    def __init__(self, fn, *args) -> None:
        import threading

        self._value = self._error = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), daemon=True, name="trialkit-cox")
        self._thread.start()

    def _run(self, fn, args) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self._error = exc

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _model_then_cox(ready, data, groups, reference, strata, specs, sources, c: SurvivalSettings):
    """``modeldata.model_data`` (handed to ``ready``, a Future, as soon as it is built), then ``_cox`` on it."""
    from trialkit.analyses.survival.modeldata import model_data

    try:
        md = model_data(data, groups, reference, strata, specs, sources=sources)
    except BaseException as exc:
        ready.set_exception(exc)
        raise
    ready.set_result(md)
    return _cox(md, c)


def _cox(md, c: SurvivalSettings):
    """The Cox model on ``md`` (``modeldata.ModelData``) and cox.zph on its fit: (model data, terms, tests, zph, notes)."""
    from trialkit.analyses.survival.zph import cox_zph, zph_note

    fit = cox_model(md, c.ties, c.conf_level)
    reasons = [(r["level"], r["reason"]) for r in fit.terms.iter_rows(named=True) if r["reason"]]
    said = {reason for _, reason in reasons}
    notes = list(md.notes) + [n for n in fit.notes if n not in said]  # a term's reason is noted once, with its term
    notes += [f"Cox: {level}: {reason}" for level, reason in reasons]
    zph = None
    if fit.fit is not None and fit.terms["estimable"].all():
        index = {col: i for i, col in enumerate(md.columns)}
        terms = [(t.name, [index[col] for col in t.columns]) for t in md.terms]
        zph = cox_zph(md.time, md.event, md.x, md.strata_codes, fit.fit.coef, fit.fit.var, c.ties, terms=terms,
                      column_names=list(md.columns), fit=fit.fit)
        notes += zph_note(zph)
    elif fit.fit is not None:
        notes.append("no proportional-hazards check (cox.zph): the Cox model has terms that are not estimable")
    return md, fit.terms, fit.tests, zph, notes


def _single_arm_strata(data: pl.DataFrame, groups: list[str]) -> list[str]:
    """Notes for strata holding a single arm (they add nothing to a stratified test, as in survdiff); an error if all do."""
    from trialkit.schemas.errors import DataError

    arms = data.group_by("_stratum").agg(pl.col("TRT01A").n_unique().alias("k"), pl.col("TRT01A").first().alias("arm"))
    single = arms.filter(pl.col("k") == 1).sort("_stratum")
    if single.height and single.height == arms.height:
        raise DataError(f"every stratum holds a single group ({', '.join(single['_stratum'].head(3).to_list())}"
                        f"{', ...' if single.height > 3 else ''}): the stratified tests compare nothing",
                        "stratify by a variable whose levels each include more than one treatment group")
    return [f"stratum {r['_stratum']} holds only {r['arm']}: it adds nothing to the stratified tests (as survdiff)"
            for r in single.iter_rows(named=True)]


def _competing(adtte: pl.DataFrame, data: pl.DataFrame, endpoint: str, groups: list[str], event_type: str | None,
               times: list[float], conf_level: float, stratified: pl.DataFrame | None, rho: float,
               strata_label: str | None = None):
    """Competing risks (``competing.CompetingResults``) when asked for (``event_type``) or when the endpoint's
    events have more than one type; None otherwise. Gray's test is stratified like the log-rank test."""
    from trialkit.analyses.survival import competing as cr

    if event_type is None and not cr.has_competing_events(adtte, endpoint):
        return None
    events = cr.event_type_data(adtte, endpoint, event_type)
    frame = cr.derive_competing_data(data, events)
    cif = cr.cumulative_incidence(frame, groups, conf_level)
    notes = list(events.notes)
    if len(groups) >= 2 and events.types:
        tested, strata = frame, None
        if stratified is not None:
            tested = frame.join(stratified.select("USUBJID", "_stratum"), on="USUBJID", how="inner")
            strata = "_stratum"
        gray = cr.gray_test(tested, groups, strata=strata, rho=rho)
        if strata is not None:
            gray = gray.with_columns(pl.lit(strata_label, pl.String).alias("strata"))
        notes += [f"Gray's test, {r['event']}: {r['reason']}" for r in gray.iter_rows(named=True) if r["reason"]]
    else:
        gray = pl.DataFrame(schema=cr.GRAY_SCHEMA)
    return cr.CompetingResults(endpoint, events.variable, events.types, float(conf_level), float(rho),
                               strata_label if stratified is not None else None, cif, cr.cif_landmarks(cif, times), gray,
                               tuple(notes))


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


def test_name(rho: float, gamma: float = 0.0) -> str:
    """The weighted log-rank test's name: log-rank, G-rho (R survdiff) or Fleming-Harrington (SAS TEST=FLEMING)."""
    if gamma:
        return f"Fleming-Harrington ({rho:g}, {gamma:g})"
    return "log-rank" if rho == 0 else f"G-rho (rho = {rho:g})"


def _records_of(df: pl.DataFrame | None) -> list[dict]:
    return [] if df is None else df.to_dicts()


def results_json(res: SurvivalResults) -> dict:
    """The JSON contract: endpoint, arms, landmarks, medians, quantiles, follow-up, rmst (and contrasts), logrank,
    pairwise, trend, cox (terms and model tests), the proportional-hazards check, competing risks, forest, settings."""
    s = res.settings
    lr = res.logrank
    strata = f" + strata({', '.join(res.strata)})" if res.strata else ""
    covs = "".join(f" + {c.split(':')[0]}" for c in res.covariates)
    comp = res.competing
    return {
        "endpoint": res.endpoint,
        "param": res.param,
        "settings": {
            "conf_type": s.conf_type, "conf_level": s.conf_level, "ties": s.ties, "rho": s.rho, "gamma": res.gamma,
            "test": test_name(s.rho, res.gamma), "parity": s.parity,
            "strata": list(res.strata), "covariates": list(res.covariates),
            "sources": dict(s.sources), "landmark_times": list(res.times), "landmark_times_source": res.landmark_source,
            "rmst_tau": res.rmst_tau, "rmst_tau_source": res.rmst_tau_source, "extrapolate": res.extrapolate,
            "follow_up": {"last_time": res.follow_up.last, "shortest_group_last_time": res.follow_up.shortest,
                          "by_group": [{"arm": g, "last_time": t} for g, t in res.follow_up.by_group.items()]},
            "reference": res.reference, "time_unit": res.axis.unit, "risk_table_times": res.axis.breaks_days,
            "trend_scores": res.trend_scores, "zph_transform": "km" if res.zph is not None else None,
            "std_err": "Greenwood standard error of S(t) (R summary(survfit)$std.err)",
            "r_equivalent": (f"survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, conf.type = \"{s.conf_type}\", conf.int = {s.conf_level:g}); "
                             f"survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A{strata}, rho = {s.rho:g}); "
                             f"coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A{covs}{strata}, ties = \"{s.ties}\"); cox.zph(fit)"),
            "cox_engine": f"trialkit's Newton-Raphson on the partial likelihood (ties \"{s.ties}\"), as R coxph; Wald SE from the observed information",
        },
        "arms": _records(res.arms, ["arm", "armcd", "trt01an", "n", "events"]),
        "landmarks": _records(res.landmarks, ["arm", "time", "n_risk", "survival", "std_err", "lower", "upper", "extrapolated"]),
        "medians": _records(res.medians, ["arm", "median", "lower", "upper"]),
        "quantiles": _records_of(res.quantiles),
        "follow_up_median": _records_of(res.follow_up_median),
        "rmst": _records(res.rmst, ["arm", "tau", "rmst", "se", "extrapolated"]),
        "rmst_contrasts": _records_of(res.rmst_contrasts),
        "risk_table": _records(res.risk_table, ["arm", "time", "n_risk", "cum_events", "cum_censored"]),
        "logrank": None if lr is None else {
            "test": test_name(lr.rho, res.gamma), "rho": lr.rho, "gamma": res.gamma, "strata": list(res.strata),
            "chisq": lr.chisq, "df": lr.df, "p": lr.p, "reason": lr.reason,
            "groups": [{"arm": g, "observed": o, "expected": e} for g, o, e in zip(lr.groups, lr.observed, lr.expected)],
        },
        "pairwise": _records(res.pairwise, ["arm_a", "arm_b", "chisq", "df", "p", "p_holm", "reason"]),
        "trend": None if res.trend is None else {
            "chisq": res.trend.chisq, "df": res.trend.df, "p": res.trend.p, "u": res.trend.u, "var": res.trend.var,
            "scores": [{"arm": g, "score": sc} for g, sc in zip(res.trend.groups, res.trend.scores)], "reason": res.trend.reason,
        },
        # "arm" names the group of a treatment row (its level), as before covariates existed; null for covariates
        "cox": [{"arm": r["level"] if r["term"] == "TRT01A" else None, **r} for r in res.cox.to_dicts()],
        "cox_tests": _records_of(res.cox_tests),
        "model": None if res.model is None else {
            "strata": list(res.model.strata), "n": res.model.frame.height,
            "events": int((1 - res.model.frame["CNSR"]).sum()), "dropped": res.model.n_dropped,
            "covariates": [{"name": t.name, "kind": t.kind, "reference": t.reference, "source": t.source}
                           for t in res.model.terms if t.kind != "treatment"],
        },
        "zph": [] if res.zph is None else res.zph.table.to_dicts(),
        "competing": None if comp is None else {
            "event_variable": comp.variable, "event_types": list(comp.types),
            "std_err": "cmprsk cuminc variance (delta method), square root; limits exp(-exp(log(-log F) -/+ z se / (F log F)))",
            "cif_landmarks": comp.landmarks.to_dicts(), "gray": comp.gray.to_dicts(),
        },
        "forest": _records_of(res.forest),
        "notes": list(res.notes),
    }
