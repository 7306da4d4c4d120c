"""``trialkit survival``: Kaplan-Meier, log-rank, trend and Cox analyses that match R, and the KM figure."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from .common import (rendered, Format, FormatOpt, NameOpt, PopulationOpt, SubgroupOpt, WorkspaceOpt, emit_csv, emit_json,
                     handles_errors, safe, stdout, workspace_from)

FIGURES = ("km.png", "km.svg")
#: figures a run may add besides the KM curves (each as .png and .svg)
EXTRA_FIGURES = ("zph", "forest", "cif")


class TimeUnit(str, Enum):
    days = "days"
    weeks = "weeks"
    months = "months"
    years = "years"


class Ties(str, Enum):
    efron = "efron"
    breslow = "breslow"


class Parity(str, Enum):
    r = "r"
    sas = "sas"


@handles_errors
def survival(
    ctx: typer.Context,
    endpoint: Annotated[Optional[str], typer.Option(help="ADTTE PARAMCD to analyse (default: the only one, else OS).", show_default=False)] = None,
    arm: Annotated[Optional[list[str]], typer.Option("--arm", help="Analyse only this group (ARMCD or TRT01A, case-insensitive); repeatable.", show_default=False)] = None,
    reference: Annotated[Optional[str], typer.Option(help="Reference group for the hazard ratios (default: the first in TRT01AN order).", show_default=False)] = None,
    times: Annotated[Optional[str], typer.Option(help="Landmark times: days (182,730) or with units w/m/y (26w, 6m,2y; month 30.4375 d, year 365.25 d). Default: at most 4 multiples of a round step (1/2/3 days, 1/2/4 weeks, 2/3/6 months, 1/2/3/5/10 years) up to the smallest of the groups' last observed times.", show_default=False)] = None,
    conf_type: Annotated[Optional[str], typer.Option(help="Confidence limits of S(t): log, log-log (loglog), plain (linear), logit, arcsine (asin); R's or SAS's names, any case. Default log-log, or set by --parity.", show_default=False)] = None,
    conf_level: Annotated[float, typer.Option(help="Confidence level.")] = 0.95,
    ties: Annotated[Optional[Ties], typer.Option(help="Cox ties (default efron, or set by --parity).", show_default=False)] = None,
    parity: Annotated[Optional[Parity], typer.Option(help="Defaults of a peer: r = log CIs + Efron; sas = log-log CIs + Breslow. Explicit options win.", show_default=False)] = None,
    rho: Annotated[float, typer.Option(help="G-rho weight S(t-)^rho: 0 log-rank, 1 Peto-Peto (R survdiff).")] = 0.0,
    fh: Annotated[Optional[str], typer.Option("--fh", help="Fleming-Harrington weights S(t-)^rho (1 - S(t-))^gamma, as SAS LIFETEST TEST=FLEMING(rho, gamma): RHO,GAMMA, e.g. 0,1. Replaces --rho.", show_default=False)] = None,
    strata: Annotated[Optional[list[str]], typer.Option("--strata", help="Stratify the log-rank, pairwise and trend tests and the Cox model by this ADTTE or ADSL variable (R + strata(VAR)); repeatable.", show_default=False)] = None,
    covariate: Annotated[Optional[list[str]], typer.Option("--covariate", help="Adjust the Cox model for this ADTTE or ADSL variable; repeatable. Categorical: VAR:LEVEL sets the reference (default: the level with the smallest VARN, else the first in sorted order).", show_default=False)] = None,
    event_type: Annotated[Optional[str], typer.Option("--event-type", help="ADTTE variable holding each event's type, for competing risks (default: EVNTDESC when the endpoint's events have more than one).", show_default=False)] = None,
    forest: Annotated[Optional[list[str]], typer.Option("--forest", help="Subgroup forest plot: hazard ratios within each level of these ADSL variables (comma-separated or repeated), with the interaction p.", show_default=False)] = None,
    rmst_tau: Annotated[Optional[str], typer.Option(help="Restricted mean survival time up to this time (days, or 2y...). Default: the smallest of the groups' last observed times (survRM2's default).", show_default=False)] = None,
    extrapolate: Annotated[bool, typer.Option("--extrapolate", help="Accept landmarks after the last observed time and a tau after the shortest group's: S(t) is carried forward (R summary(..., extend = TRUE)) and those results are flagged extrapolated.")] = False,
    cox: Annotated[bool, typer.Option("--cox/--no-cox", help="Fit the Cox model and its proportional-hazards check (--no-cox skips both).")] = True,
    population: PopulationOpt = None,
    subgroup: SubgroupOpt = None,
    name: NameOpt = None,
    format: FormatOpt = Format.table,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Draw km.png (300 dpi) and km.svg, and the other figures (--no-plot keeps those of an earlier identical run).")] = True,
    bands: Annotated[Optional[bool], typer.Option("--bands/--no-bands", help="Confidence bands around every curve of the KM figure (default: only with one or two groups).", show_default=False)] = None,
    time_unit: Annotated[Optional[TimeUnit], typer.Option(help="Time unit of the figures' axes (default: months past one year of follow-up, else days).", show_default=False)] = None,
    break_by: Annotated[Optional[float], typer.Option(help="Tick step of the figures' time axes, in --time-unit units (default: a round step giving at most 9 ticks).", show_default=False)] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Kaplan-Meier estimates, log-rank (G-rho), pairwise, trend and Cox analyses by treatment group.

    Numbers match R's survival package: survfit (conf.type), survdiff (rho), coxph (ties). The primary
    analysis (default population, endpoint and method) writes survival/; a run with --arm, --population,
    --subgroup, another endpoint or method, or --name is its own analysis in analyses/NAME/. Each writes
    its *.parquet tables, km.png and km.svg, and survival.json (what --format json prints).
    Landmarks and the RMST tau default to times within the trial's follow-up; later times need --extrapolate.

    Example: trialkit survival --arm high --arm placebo --parity r --rmst-tau 2y
    """
    from .figure_worker import COMMANDS, FigurePool

    # the figures' process starts first (or the console script's, taken over): it loads matplotlib while this
    # one imports, reads and computes
    pool = FigurePool(COMMANDS["survival"], enabled=plot)
    try:
        with pool:
            _survival(ctx, pool, endpoint, arm, reference, times, conf_type, conf_level, ties, parity, rho, fh, strata,
                      covariate, event_type, forest, rmst_tau, extrapolate, cox, population, subgroup, name, format,
                      plot, bands, time_unit, break_by, workspace)
    finally:
        pool.close()


def _survival(ctx, pool, endpoint, arm, reference, times, conf_type, conf_level, ties, parity, rho, fh, strata, covariate,
              event_type, forest, rmst_tau, extrapolate, cox, population, subgroup, name, format, plot, bands, time_unit,
              break_by, workspace) -> None:
    from trialkit.analyses.ard import survival_ard
    from trialkit.analyses.groups import arms_of, select_arms
    from trialkit.analyses.populations import parse_subgroup, select_subjects
    from trialkit.analyses.survival.km import resolve_settings, select_endpoint
    from trialkit.analyses.survival.pipeline import analyse_survival, results_json
    from trialkit.analyses.timescale import parse_time, parse_times

    from .analysis import inherit_options, refuse_other_analysis_under_name, resolve_analysis
    from .workspace import Stage

    # the method's options first (a NaN --rho or --conf-level is a usage error before any data are read)
    rho, gamma = _weights(rho, fh)
    settings = resolve_settings(parity.value if parity else None, conf_type, ties.value if ties else None, conf_level, rho)
    forest_vars = _split_list(forest)
    if break_by is not None and not (break_by > 0 and break_by < float("inf")):
        from trialkit.schemas.errors import UsageError

        raise UsageError(f"--break-by {break_by:g} is not a positive number", "give the tick step, e.g. --time-unit months --break-by 6")
    subgroups = [parse_subgroup(s) for s in subgroup or []]
    ws = workspace_from(ctx, workspace)
    with Stage(ws, "survival", {}) as stage:
        columns = _columns_read(stage, strata, covariate, forest_vars, subgroups, population, event_type)
        adtte = stage.read("adtte", columns=columns and columns[0])
        adsl = stage.read("adsl", columns=columns and columns[1])
        paramcd = select_endpoint(adtte, endpoint)
        default_endpoint = _default_endpoint(adtte)
        subjects, selection = select_subjects(adsl, "survival", population, subgroups)
        changed = {"population": selection.population if selection.population_source == "option" else None,
                   "subgroup": [f"{s.variable}={s.value}" for s in subgroups],
                   "endpoint": paramcd if paramcd != default_endpoint else None,
                   "arm": arm or None, "reference": reference, "parity": parity.value if parity else None,
                   "conf_type": settings.conf_type if conf_type else None,
                   "conf_level": conf_level if conf_level != 0.95 else None, "ties": ties.value if ties else None,
                   "rho": rho if rho != 0 and fh is None else None, "fh": fh, "strata": strata or None,
                   "covariate": covariate or None, "event_type": event_type, "cox": False if not cox else None}
        target = resolve_analysis(ws, "survival", name, {k: v for k, v in changed.items() if v})
        options = {"endpoint": endpoint, "arm": arm or None, "reference": reference, "times": times,
                   "conf_type": settings.conf_type if conf_type else None, "conf_level": conf_level,
                   "ties": ties.value if ties else None, "parity": parity.value if parity else None, "rho": rho,
                   "fh": fh, "strata": strata or None, "covariate": covariate or None, "event_type": event_type,
                   "forest": forest_vars or None, "rmst_tau": rmst_tau, "extrapolate": extrapolate, "cox": cox,
                   "population": population, "subgroup": subgroup or None, "name": name, "bands": bands,
                   "time_unit": time_unit.value if time_unit else None, "break_by": break_by}
        if name is not None:
            refuse_other_analysis_under_name(ws, target.name, options, (
                "endpoint", "arm", "reference", "conf_type", "conf_level", "ties", "parity", "rho", "fh", "strata",
                "covariate", "event_type", "cox", "population", "subgroup"))
        options, inherited = inherit_options(ctx, ws, target.name, options, (
            "times", "rmst_tau", "extrapolate", "forest", "bands", "time_unit", "break_by"))
        times, rmst_tau = options["times"], options["rmst_tau"]
        landmarks = parse_times(times) if times else None
        tau = parse_time(rmst_tau, "--rmst-tau") if rmst_tau else None
        if tau is not None and tau <= 0:
            from trialkit.schemas.errors import UsageError

            raise UsageError(f"--rmst-tau {rmst_tau} is not a positive time", "give the restriction time, e.g. --rmst-tau 730 or 2y")
        stage.set_analysis(target, options, selection.to_dict())
        rerun = ([f"re-run of analysis {target.name} with its recorded "
                  + ", ".join(f"--{k.replace('_', '-')} {options[k]}" for k in inherited)] if inherited else [])
        trial_arms = arms_of(adsl)
        chosen = select_arms(trial_arms, arm)
        if reference is not None:
            _check_reference(chosen, reference)
        res = analyse_survival(adtte, subjects, paramcd, chosen, settings, reference=reference, times=landmarks,
                               rmst_tau=tau, extrapolate=options["extrapolate"], cox_model=cox, gamma=gamma,
                               strata=strata or (), covariates=covariate or (), event_type=event_type,
                               forest=options["forest"] or (), time_unit=options["time_unit"],
                               break_by=options["break_by"])
        if plot:
            _submit_figures(pool, res, [a.label for a in trial_arms],
                            None if target.primary else f"Analysis {target.name}: {selection.description}",
                            bands=options["bands"])
        report = results_json(res)
        report["analysis"] = {"name": target.name, "primary": target.primary, "folder": target.folder,
                              **selection.to_dict()}
        stage.clear_folder(target.folder)
        for table, frame in res.tables().items():
            stage.write_output("survival", table, frame, folder=target.folder)
        figures = _figure_names(res)
        if not plot and stage.same_as_recorded():
            for fig in figures:
                stage.keep(target.path(fig))
        stage.write_json(target.path("survival.json"), report)
        stage.write_ard(survival_ard(res, _meta(target, selection, stage.options)))
        with rendered() as output:  # before the commit: printing cannot fail after it
            if format is Format.json:
                emit_json(report)
            elif format is Format.csv:
                emit_csv(res.tables())
            else:
                _print_summary(ws, res, plot, target, selection, report["notes"] + rerun, figures)
        if plot:  # last: the figures' process draws while the rest is written
            for fig, drawn in pool.results().items():
                stage.write_bytes(target.path(f"{fig}.png"), drawn["png"])
                stage.write_bytes(target.path(f"{fig}.svg"), drawn["svg"])
    output.emit()


def _columns_read(stage, strata, covariates, forest, subgroups, population, event_type):
    """(ADTTE, ADSL) columns the analysis uses, or None to read the datasets whole (see ``analysis_columns``).
    An explicit --population is read whole: its checks list every flag ADSL holds."""
    from trialkit.analyses.survival.modeldata import analysis_columns, parse_covariate

    if population is not None and population.strip().upper() != "ALL":
        return None
    try:
        names = [*(strata or ()), *(parse_covariate(c).name for c in covariates or ()), *forest,
                 *(s.variable for s in subgroups)]
    except Exception:  # noqa: BLE001 - a malformed covariate is reported by the analysis itself
        return None
    return analysis_columns(stage.column_names("adtte"), stage.column_names("adsl"), names,
                            adtte_extra=[event_type] if event_type else ())


def _weights(rho: float, fh: str | None) -> tuple[float, float]:
    """(rho, gamma) of the weighted log-rank tests: --fh RHO,GAMMA, else --rho with gamma 0; not both."""
    from trialkit.analyses.survival.compare import parse_fh
    from trialkit.schemas.errors import UsageError

    if fh is None:
        return rho, 0.0
    if rho != 0:
        raise UsageError(f"--rho {rho:g} and --fh {fh} both set the test's weights", "give one: --fh RHO,GAMMA includes rho")
    return parse_fh(fh)


def _split_list(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated values as one list, in order, without repeats or blanks."""
    items = [v.strip() for value in values or [] for v in value.split(",")]
    return list(dict.fromkeys(v for v in items if v))


def _meta(target, selection, options):
    """The ARD's description of this analysis."""
    from trialkit.analyses.ard import AnalysisMeta

    return AnalysisMeta(target.name, population=selection.population_label, subgroup=selection.subgroup_label,
                        options=options)


def _default_endpoint(adtte) -> str | None:
    """The endpoint trialkit analyses when none is named (None when it must be named)."""
    from trialkit.schemas.errors import TrialkitError
    from trialkit.analyses.survival.km import select_endpoint

    try:
        return select_endpoint(adtte, None)
    except TrialkitError:
        return None


def _check_reference(chosen, reference: str) -> None:
    """--reference must name one of the analysed groups (usage error listing them)."""
    from trialkit.schemas.errors import UsageError
    from trialkit.analyses.groups import select_arms

    try:
        select_arms(chosen, [reference])
    except UsageError as exc:
        raise UsageError(exc.message.replace("--arm", "--reference", 1) + " among the analysed groups", exc.hint) from exc


def _figure_names(res) -> list[str]:
    """The figure files this run draws: the KM curves, and the PH check, forest and CIF when computed."""
    names = ["km"]
    if res.zph is not None:
        names.append("zph")
    if res.forest is not None and res.forest.height:
        names.append("forest")
    if res.competing is not None:
        names.append("cif")
    return [f"{n}.{ext}" for n in names for ext in ("png", "svg")]


def _submit_figures(pool, res, style_order: list[str], title: str | None = None, *, bands: bool | None = None) -> None:
    """Send the drawing of each figure of ``_figure_names`` to ``pool`` (``figure_worker.FigurePool``)."""
    from trialkit.analyses.formatting import DECIMALS, format_ci, format_p_statement
    from trialkit.analyses.survival.pipeline import test_name

    lr = res.logrank
    p_label = None
    if lr is not None and lr.p is not None:
        name = test_name(lr.rho, res.gamma)
        p_label = f"{name[0].upper()}{name[1:]}{' (stratified)' if res.strata else ''} {format_p_statement(lr.p)}"
    s = res.settings
    conf_label = f"{s.conf_level:.0%} CI ({s.conf_type})"
    hr_label = None
    treatment = [r for r in res.cox.iter_rows(named=True) if r["term"] == "TRT01A" and r["estimable"]]
    if treatment and len(treatment) <= 4:  # more would crowd the panel; the Cox table has them all
        adjusted = " (adjusted)" if res.covariates else ""
        lines = [f"{r['level'] + ' ' if len(treatment) > 1 else ''}HR {format_ci(r['hr'], r['lower'], r['upper'], DECIMALS['ratio'])}"
                 for r in treatment]
        hr_label = "\n".join([f"Cox{adjusted} vs {treatment[0]['reference']}, {s.conf_level:.0%} CI:", *lines])
    from trialkit.analyses.survival.figure import render_km_figure

    pool.submit("km", render_km_figure, res.km, res.arms, res.risk_table, res.axis, p_label=p_label, hr_label=hr_label,
                bands=bands if bands is not None else len(res.groups) <= 2, median_lines=True, medians=res.medians,
                y_label=res.wording.y_label, conf_label=f"Shaded: {conf_label} of S(t)", style_order=style_order,
                title=title, param_title=res.param or res.endpoint)
    if res.zph is not None:
        from trialkit.analyses.survival.zph_figure import render_zph_figure

        pool.submit("zph", render_zph_figure, res.zph, title=f"Proportional-hazards check: {res.param or res.endpoint}",
                    time_label=f"Time ({res.axis.unit})" if res.axis.unit == "days" else "Time (days)")
    if res.forest is not None and res.forest.height:
        from trialkit.analyses.survival.forest_figure import render_forest_figure

        pool.submit("forest", render_forest_figure, res.forest,
                    title=f"Hazard ratios by subgroup: {res.param or res.endpoint}", conf_label=f"{s.conf_level:.0%} CI")
    if res.competing is not None:
        from trialkit.analyses.survival.cif_figure import render_cif_figure

        pool.submit("cif", render_cif_figure, res.competing.cif, res.arms, res.axis, style_order=style_order,
                    conf_label=conf_label, title=f"Cumulative incidence: {res.param or res.endpoint}")


def _print_summary(ws, res, plot: bool, target, selection, notes, figures) -> None:
    import polars as pl

    from trialkit.analyses.survival.pipeline import test_name

    from trialkit.analyses.formatting import DECIMALS, format_ci, format_median, format_number
    from trialkit.analyses.timescale import time_label

    from .tables import Table, print_table

    prob, time = DECIMALS["probability"], DECIMALS["time"]
    out = stdout()
    s = res.settings
    level = f"{s.conf_level:.0%}"
    title = f"Survival: {res.endpoint}" + (f" ({res.param})" if res.param else "")
    out.print(f"Analysis {safe(target.name)}" + (" (primary)" if target.primary else "")
              + f"; population {safe(selection.description)}")
    columns = ["group", "n", "events", f"median, days ({level} CI)", *(f"S({time_label(t)}) ({level} CI)" for t in res.times)]
    if res.rmst_tau:
        columns.append(f"RMST to {time_label(res.rmst_tau)} (se)")
    arms = Table(title, columns)
    for a in res.arms.iter_rows(named=True):
        med = res.medians.filter(pl.col("arm") == a["arm"])
        cells = [a["arm"], a["n"], a["events"]]
        if med.height == 0:
            arms.add_row(*cells, *["no record"] * (1 + len(res.times)), *(["-"] if res.rmst_tau else []))
            continue
        m = med.row(0, named=True)
        cells.append(format_median(m["median"], m["lower"], m["upper"], time))
        for lm in res.landmarks.filter(pl.col("arm") == a["arm"]).iter_rows(named=True):
            cells.append(format_ci(lm["survival"], lm["lower"], lm["upper"], prob))
        if res.rmst_tau:
            r = res.rmst.filter(pl.col("arm") == a["arm"]).row(0, named=True)
            cells.append(f"{format_number(r['rmst'], time)} ({format_number(r['se'], time)})")
        arms.add_row(*cells)
    print_table(out, arms)
    _print_follow_up(out, res, level)
    if res.logrank is not None:
        _print_comparisons(out, res, level)
    if res.competing is not None:
        _print_competing(out, res, level)
    sources = s.sources
    out.print(f"[dim]Settings: CI {safe(s.conf_type)} {level} ({safe(sources['conf_type'])}); ties {safe(s.ties)} "
              f"({safe(sources['ties'])}); {safe(test_name(s.rho, res.gamma))} weights"
              + (f", stratified by {safe(', '.join(res.strata))}" if res.strata else "")
              + "; Greenwood SE of S(t); R equivalent: survfit/survdiff/coxph/cox.zph.[/]")
    _print_time_sources(out, res)
    shown = {f"Cox: {r['level']}: {r['reason']}" for r in res.cox.iter_rows(named=True) if not r["estimable"]}
    for note in (n for n in notes if n not in shown):  # reasons of non-estimable rows are in the table
        out.print(f"[yellow]Note:[/] {safe(note)}")
    drawn = sorted({f.rsplit('.', 1)[0] for f in figures})
    figure = f" and {', '.join(f'{n}.png / {n}.svg' for n in drawn)}" if plot else ""
    out.print(f"Wrote {safe(ws)}/{safe(target.folder)}/: {len(res.tables())} Parquet tables, survival.json{figure}.")


def _print_follow_up(out, res, level: str) -> None:
    """Median follow-up (reverse KM) and the quartiles with their CIs, one row per group."""
    import polars as pl

    from trialkit.analyses.formatting import DECIMALS, format_median

    from .tables import Table, print_table

    if res.quantiles is None or res.follow_up_median is None:
        return
    time = DECIMALS["time"]
    table = Table("Follow-up and quartiles, days", ["group", f"median follow-up ({level} CI)", *(f"{q} ({level} CI)" for q in ("25%", "50%", "75%"))])
    for f in res.follow_up_median.iter_rows(named=True):
        cells = [f["group"], format_median(f["median"], f["lower"], f["upper"], time)]
        for prob in (0.25, 0.5, 0.75):
            q = res.quantiles.filter((pl.col("arm") == f["group"]) & ((pl.col("prob") - prob).abs() < 1e-9))
            cells.append(format_median(q["time"][0], q["lower"][0], q["upper"][0], time) if q.height else "–")
        table.add_row(*cells)
    print_table(out, table)


def _print_comparisons(out, res, level: str) -> None:
    """The tests, RMST contrasts, Cox model with its tests and PH check, and the forest, as tables."""
    from trialkit.analyses.formatting import DECIMALS, format_ci, format_number, format_p
    from trialkit.analyses.survival.pipeline import test_name

    from .tables import Table, print_table

    ratio, stat, time = DECIMALS["ratio"], DECIMALS["statistic"], DECIMALS["time"]
    s = res.settings
    lr = res.logrank
    name = test_name(lr.rho, res.gamma)
    title = "Comparisons" + (f", stratified by {', '.join(res.strata)}" if res.strata else "")
    tests = Table(title, ["test", "groups", "chi-square", "df", "p", "p (Holm)"], labels=2)
    tests.add_row(name, "all", format_number(lr.chisq, stat), lr.df, format_p(lr.p), "")
    t = res.trend
    tests.add_row(f"trend ({res.trend_scores})", "all", format_number(t.chisq, stat), 1, format_p(t.p), "")
    for r in res.pairwise.iter_rows(named=True):
        tests.add_row(name, f"{r['arm_a']} vs {r['arm_b']}", format_number(r["chisq"], stat), r["df"],
                      format_p(r["p"]), format_p(r["p_holm"]))
    print_table(out, tests)
    if res.rmst_contrasts is not None and res.rmst_contrasts.height:
        rm = Table(f"RMST to {format_number(res.rmst_tau, time)} days against {res.reference}",
                   ["group", f"difference ({level} CI)", "p", f"ratio ({level} CI)", "p"], labels=1)
        for r in res.rmst_contrasts.iter_rows(named=True):
            rm.add_row(r["arm"], format_ci(r["difference"], r["diff_lower"], r["diff_upper"], time), format_p(r["diff_p"]),
                       format_ci(r["ratio"], r["ratio_lower"], r["ratio_upper"], ratio), format_p(r["ratio_p"]))
        print_table(out, rm)
    if res.cox.height:
        model = ""
        if res.strata:
            model += f", strata {', '.join(res.strata)}"
        cox = Table(f"Cox proportional hazards (ties {s.ties}{model})", ["term", "reference", f"hazard ratio ({level} CI)", "p (Wald)"])
        for r in res.cox.iter_rows(named=True):
            label = r["level"] if r["term"] == "TRT01A" else (f"{r['term']}: {r['level']}" if r["level"] is not None
                                                              else f"{r['term']} (per unit)")
            if r["estimable"]:
                cox.add_row(label, r["reference"] or "", format_ci(r["hr"], r["lower"], r["upper"], ratio), format_p(r["p"]))
            else:
                cox.add_row(label, r["reference"] or "", f"not estimable: {r['reason']}", "")
        print_table(out, cox)
        if res.cox_tests is not None and res.cox_tests.height:
            out.print("[dim]Model: " + "; ".join(f"{r['test']} {format_number(r['chisq'], stat)} on {r['df']} df, "
                                                 f"p {format_p(r['p'])}" for r in res.cox_tests.iter_rows(named=True)) + ".[/]")
    if res.zph is not None:
        zph = Table("Proportional hazards (cox.zph, KM transform)", ["term", "chi-square", "df", "p"])
        for r in res.zph.table.iter_rows(named=True):
            zph.add_row(r["term"], format_number(r["chisq"], stat), r["df"], format_p(r["p"]))
        print_table(out, zph)
    if res.forest is not None and res.forest.height:
        fo = Table("Hazard ratios by subgroup", ["subgroup", "group", "n", f"HR ({level} CI)", "interaction p"], labels=2)
        for r in res.forest.iter_rows(named=True):
            label = r["variable"] if r["level"] is None else f"{r['variable']} = {r['level']}"
            hr = format_ci(r["hr"], r["lower"], r["upper"], ratio) if r["estimable"] else "not estimable"
            fo.add_row(label, r["arm"], r["n"], hr, format_p(r["p_interaction"]) if r["p_interaction"] is not None else "")
        print_table(out, fo)


def _print_competing(out, res, level: str) -> None:
    """Cumulative incidence at the landmarks and Gray's test per event type."""
    from trialkit.analyses.formatting import DECIMALS, format_ci, format_number, format_p
    from trialkit.analyses.timescale import time_label

    from .tables import Table, print_table

    comp = res.competing
    cif = Table(f"Cumulative incidence by event type ({comp.variable})", ["group", "event", "time", f"CIF ({level} CI)"], labels=3)
    for r in comp.landmarks.iter_rows(named=True):
        cif.add_row(r["arm"], r["event"], time_label(r["time"]),
                    format_ci(r["estimate"], r["lower"], r["upper"], DECIMALS["probability"]))
    print_table(out, cif)
    for r in comp.gray.iter_rows(named=True):
        out.print(f"[dim]Gray's test, {safe(r['event'])}: chi-square {format_number(r['chisq'], DECIMALS['statistic'])} "
                  f"on {r['df']} df, p {format_p(r['p'])}.[/]")


def _print_time_sources(out, res) -> None:
    """Where the landmarks and tau came from (option or default rule), under the settings line."""
    from trialkit.analyses.timescale import time_label

    landmarks = ", ".join(time_label(t) for t in res.times) or "none"
    tau = "none" if res.rmst_tau is None else f"{res.rmst_tau:g} days"
    out.print(f"[dim]Landmarks {safe(landmarks)} ({safe(res.landmark_source)}); RMST tau {safe(tau)} "
              f"({safe(res.rmst_tau_source)}).[/]")

