"""``trialkit survival``: Kaplan-Meier, log-rank, trend and Cox analyses that match R, and the KM figure."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from .common import (rendered, Format, FormatOpt, NameOpt, PopulationOpt, SubgroupOpt, WorkspaceOpt, emit_csv, emit_json,
                     handles_errors, safe, stdout, workspace_from)

FIGURES = ("km.png", "km.svg")


class ConfType(str, Enum):
    log_log = "log-log"
    log = "log"
    plain = "plain"


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
    conf_type: Annotated[Optional[ConfType], typer.Option(help="Confidence limits of S(t) (default log-log, or set by --parity).", show_default=False)] = None,
    conf_level: Annotated[float, typer.Option(help="Confidence level.")] = 0.95,
    ties: Annotated[Optional[Ties], typer.Option(help="Cox ties (default efron, or set by --parity).", show_default=False)] = None,
    parity: Annotated[Optional[Parity], typer.Option(help="Defaults of a peer: r = log CIs + Efron; sas = log-log CIs + Breslow. Explicit options win.", show_default=False)] = None,
    rho: Annotated[float, typer.Option(help="G-rho weight S(t-)^rho: 0 log-rank, 1 Peto-Peto (R survdiff).")] = 0.0,
    rmst_tau: Annotated[Optional[str], typer.Option(help="Restricted mean survival time up to this time (days, or 2y...). Default: the smallest of the groups' last observed times (survRM2's default).", show_default=False)] = None,
    extrapolate: Annotated[bool, typer.Option("--extrapolate", help="Accept landmarks after the last observed time and a tau after the shortest group's: S(t) is carried forward (R summary(..., extend = TRUE)) and those results are flagged extrapolated.")] = False,
    cox: Annotated[bool, typer.Option("--cox/--no-cox", help="Fit the Cox model (--no-cox skips it and loads no scikit-survival).")] = True,
    population: PopulationOpt = None,
    subgroup: SubgroupOpt = None,
    name: NameOpt = None,
    format: FormatOpt = Format.table,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Draw km.png (300 dpi) and km.svg (--no-plot keeps those of an earlier identical run).")] = True,
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
    from trialkit.analyses.ard import survival_ard
    from trialkit.analyses.groups import arms_of, select_arms
    from trialkit.analyses.populations import parse_subgroup, select_subjects
    from trialkit.analyses.survival.km import resolve_settings, select_endpoint
    from trialkit.analyses.survival.pipeline import analyse_survival, results_json
    from trialkit.analyses.timescale import parse_time, parse_times

    from .analysis import inherit_options, refuse_other_analysis_under_name, resolve_analysis
    from .workspace import Stage

    # the method's options first (a NaN --rho or --conf-level is a usage error before any data are read)
    settings = resolve_settings(parity.value if parity else None, conf_type.value if conf_type else None,
                                ties.value if ties else None, conf_level, rho)
    subgroups = [parse_subgroup(s) for s in subgroup or []]
    ws = workspace_from(ctx, workspace)
    with Stage(ws, "survival", {}) as stage:
        adtte, adsl = stage.read("adtte"), stage.read("adsl")
        paramcd = select_endpoint(adtte, endpoint)
        default_endpoint = _default_endpoint(adtte)
        subjects, selection = select_subjects(adsl, "survival", population, subgroups)
        changed = {"population": selection.population if selection.population_source == "option" else None,
                   "subgroup": [f"{s.variable}={s.value}" for s in subgroups],
                   "endpoint": paramcd if paramcd != default_endpoint else None,
                   "arm": arm or None, "reference": reference, "parity": parity.value if parity else None,
                   "conf_type": conf_type.value if conf_type else None,
                   "conf_level": conf_level if conf_level != 0.95 else None, "ties": ties.value if ties else None,
                   "rho": rho if rho != 0 else None, "cox": False if not cox else None}
        target = resolve_analysis(ws, "survival", name, {k: v for k, v in changed.items() if v})
        options = {"endpoint": endpoint, "arm": arm or None, "reference": reference, "times": times,
                   "conf_type": conf_type.value if conf_type else None, "conf_level": conf_level,
                   "ties": ties.value if ties else None, "parity": parity.value if parity else None, "rho": rho,
                   "rmst_tau": rmst_tau, "extrapolate": extrapolate, "cox": cox, "population": population,
                   "subgroup": subgroup or None, "name": name}
        if name is not None:
            refuse_other_analysis_under_name(ws, target.name, options, (
                "endpoint", "arm", "reference", "conf_type", "conf_level", "ties", "parity", "rho", "cox", "population",
                "subgroup"))
        options, inherited = inherit_options(ctx, ws, target.name, options, ("times", "rmst_tau", "extrapolate"))
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
                               rmst_tau=tau, extrapolate=options["extrapolate"], cox_model=cox)
        report = results_json(res)
        report["analysis"] = {"name": target.name, "primary": target.primary, "folder": target.folder,
                              **selection.to_dict()}
        stage.clear_folder(target.folder)
        for table, frame in res.tables().items():
            stage.write_output("survival", table, frame, folder=target.folder)
        if plot:
            _write_figure(stage, res, [a.label for a in trial_arms], target,
                          None if target.primary else f"Analysis {target.name}: {selection.description}")
        elif stage.same_as_recorded():
            for fig in FIGURES:
                stage.keep(target.path(fig))
        stage.write_json(target.path("survival.json"), report)
        stage.write_ard(survival_ard(res, _meta(target, selection, stage.options)))
        with rendered() as output:  # before the commit: printing cannot fail after it
            if format is Format.json:
                emit_json(report)
            elif format is Format.csv:
                emit_csv(res.tables())
            else:
                _print_summary(ws, res, plot, target, selection, report["notes"] + rerun)
    output.emit()


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


def _write_figure(stage, res, style_order: list[str], target, title: str | None = None) -> None:
    from trialkit.analyses.formatting import format_p_statement
    from trialkit.analyses.survival.figure import render_km_figure

    lr = res.logrank
    p_label = None
    if lr is not None and lr.p is not None:
        test = "Log-rank" if lr.rho == 0 else f"G-rho ({lr.rho:g})"
        p_label = f"{test} {format_p_statement(lr.p)}"
    s = res.settings
    figure = render_km_figure(res.km, res.arms, res.risk_table, res.axis, p_label=p_label, bands=len(res.groups) <= 2,
                              y_label=res.wording.y_label, conf_label=f"{s.conf_level:.0%} CI ({s.conf_type})", style_order=style_order,
                              title=title)
    stage.write_bytes(target.path("km.png"), figure["png"])
    stage.write_bytes(target.path("km.svg"), figure["svg"])


def _print_summary(ws, res, plot: bool, target, selection, notes) -> None:
    import polars as pl

    from trialkit.analyses.formatting import DECIMALS, format_ci, format_median, format_number, format_p
    from trialkit.analyses.timescale import time_label

    from .tables import Table, print_table

    prob, ratio, stat, time = DECIMALS["probability"], DECIMALS["ratio"], DECIMALS["statistic"], DECIMALS["time"]
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
    if res.logrank is not None:
        tests = Table("Comparisons", ["test", "groups", "chi-square", "df", "p", "p (Holm)"], labels=2)
        lr = res.logrank
        name = "log-rank" if lr.rho == 0 else f"G-rho (rho={lr.rho:g})"
        tests.add_row(name, "all", format_number(lr.chisq, stat), lr.df, format_p(lr.p), "")
        t = res.trend
        tests.add_row(f"trend ({res.trend_scores})", "all", format_number(t.chisq, stat), 1, format_p(t.p), "")
        for r in res.pairwise.iter_rows(named=True):
            tests.add_row(name, f"{r['arm_a']} vs {r['arm_b']}", format_number(r["chisq"], stat), r["df"],
                          format_p(r["p"]), format_p(r["p_holm"]))
        print_table(out, tests)
        if res.cox.height:
            cox = Table(f"Cox proportional hazards (ties {s.ties}), reference {res.reference}",
                        ["group", f"hazard ratio ({level} CI)", "p (Wald)"])
            for r in res.cox.iter_rows(named=True):
                if r["estimable"]:
                    cox.add_row(r["arm"], format_ci(r["hr"], r["lower"], r["upper"], ratio), format_p(r["p"]))
                else:
                    cox.add_row(r["arm"], f"not estimable: {r['reason']}", "")
            print_table(out, cox)
    sources = s.sources
    out.print(f"[dim]Settings: CI {safe(s.conf_type)} {level} ({safe(sources['conf_type'])}); ties {safe(s.ties)} "
              f"({safe(sources['ties'])}); rho {s.rho:g}; Greenwood SE of S(t); R equivalent: survfit/survdiff/coxph.[/]")
    _print_time_sources(out, res)
    shown = {f"Cox: {r['arm']}: {r['reason']}" for r in res.cox.iter_rows(named=True) if not r["estimable"]}
    for note in (n for n in notes if n not in shown):  # reasons of non-estimable rows are in the table
        out.print(f"[yellow]Note:[/] {safe(note)}")
    figure = " and km.png / km.svg" if plot else ""
    out.print(f"Wrote {safe(ws)}/{safe(target.folder)}/: {len(res.tables())} Parquet tables, survival.json{figure}.")


def _print_time_sources(out, res) -> None:
    """Where the landmarks and tau came from (option or default rule), under the settings line."""
    from trialkit.analyses.timescale import time_label

    landmarks = ", ".join(time_label(t) for t in res.times) or "none"
    tau = "none" if res.rmst_tau is None else f"{res.rmst_tau:g} days"
    out.print(f"[dim]Landmarks {safe(landmarks)} ({safe(res.landmark_source)}); RMST tau {safe(tau)} "
              f"({safe(res.rmst_tau_source)}).[/]")

