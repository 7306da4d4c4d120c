"""``trialkit survival``: Kaplan-Meier, log-rank, trend and Cox analyses that match R, and the KM figure."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from .common import Format, FormatOpt, WorkspaceOpt, emit_csv, emit_json, handles_errors, stdout, workspace_from

FIGURES = ("survival/km.png", "survival/km.svg")


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
    times: Annotated[Optional[str], typer.Option(help="Landmark times: days (182,730) or with units w/m/y (26w, 6m,2y; month 30.4375 d, year 365.25 d). Default 6m,2y.", show_default=False)] = None,
    conf_type: Annotated[Optional[ConfType], typer.Option(help="Confidence limits of S(t) (default log-log, or set by --parity).", show_default=False)] = None,
    conf_level: Annotated[float, typer.Option(help="Confidence level.")] = 0.95,
    ties: Annotated[Optional[Ties], typer.Option(help="Cox ties (default efron, or set by --parity).", show_default=False)] = None,
    parity: Annotated[Optional[Parity], typer.Option(help="Defaults of a peer: r = log CIs + Efron; sas = log-log CIs + Breslow. Explicit options win.", show_default=False)] = None,
    rho: Annotated[float, typer.Option(help="G-rho weight S(t-)^rho: 0 log-rank, 1 Peto-Peto (R survdiff).")] = 0.0,
    rmst_tau: Annotated[Optional[str], typer.Option(help="Restricted mean survival time up to this time (days, or 2y...).", show_default=False)] = None,
    cox: Annotated[bool, typer.Option("--cox/--no-cox", help="Fit the Cox model (--no-cox skips it and loads no scikit-survival).")] = True,
    format: FormatOpt = Format.table,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Draw survival/km.png (300 dpi) and km.svg.")] = True,
    workspace: WorkspaceOpt = None,
) -> None:
    """Kaplan-Meier estimates, log-rank (G-rho), pairwise, trend and Cox analyses by treatment group.

    Numbers match R's survival package: survfit (conf.type), survdiff (rho), coxph (ties). Writes
    survival/*.parquet, survival/km.png and km.svg, and survival/survival.json (what --format json prints).

    Example: trialkit survival --arm high --arm placebo --parity r --rmst-tau 2y
    """
    from trialkit.analyses.groups import arms_of, select_arms
    from trialkit.analyses.survival.km import parse_time, parse_times, resolve_settings, select_endpoint
    from trialkit.analyses.survival.pipeline import DEFAULT_TIMES, analyse_survival, results_json

    from .workspace import Stage

    settings = resolve_settings(parity.value if parity else None, conf_type.value if conf_type else None,
                                ties.value if ties else None, conf_level, rho)
    landmarks = parse_times(times) if times else list(DEFAULT_TIMES)
    tau = parse_time(rmst_tau, "--rmst-tau") if rmst_tau else None
    if tau is not None and tau <= 0:
        from trialkit.analyses.errors import UsageError

        raise UsageError(f"--rmst-tau {rmst_tau} is not a positive time", "give the restriction time, e.g. --rmst-tau 730 or 2y")
    ws = workspace_from(ctx, workspace)
    options = {"endpoint": endpoint, "arm": arm or None, "reference": reference, "times": times,
               "conf_type": conf_type.value if conf_type else None, "conf_level": conf_level,
               "ties": ties.value if ties else None, "parity": parity.value if parity else None, "rho": rho,
               "rmst_tau": rmst_tau, "cox": cox, "plot": plot}
    with Stage(ws, "survival", options) as stage:
        adtte, adsl = stage.read("adtte"), stage.read("adsl")
        paramcd = select_endpoint(adtte, endpoint)
        trial_arms = arms_of(adsl)
        chosen = select_arms(trial_arms, arm)
        if reference is not None:
            _check_reference(chosen, reference)
        res = analyse_survival(adtte, adsl, paramcd, chosen, settings, reference=reference, times=landmarks, rmst_tau=tau,
                               cox_model=cox)
        report = results_json(res)
        for name, frame in res.tables().items():
            stage.write_output("survival", name, frame)
        if plot:
            _write_figure(stage, res, [a.label for a in trial_arms])
        else:
            for path in FIGURES:
                stage.remove(path)
        stage.write_json("survival/survival.json", report)
    if format is Format.json:
        emit_json(report)
    elif format is Format.csv:
        emit_csv(res.tables())
    else:
        _print_summary(ws, res, plot)


def _check_reference(chosen, reference: str) -> None:
    """--reference must name one of the analysed groups (usage error listing them)."""
    from trialkit.analyses.errors import UsageError
    from trialkit.analyses.groups import select_arms

    try:
        select_arms(chosen, [reference])
    except UsageError as exc:
        raise UsageError(exc.message.replace("--arm", "--reference", 1) + " among the analysed groups", exc.hint) from exc


def _write_figure(stage, res, style_order: list[str]) -> None:
    from trialkit.analyses.survival.figure import format_p, render_km_figure

    lr = res.logrank
    p_label = None
    if lr is not None and lr.p is not None:
        test = "Log-rank" if lr.rho == 0 else f"G-rho ({lr.rho:g})"
        p_label = f"{test} p {format_p(lr.p)}"
    y_label = {"OS": "Overall survival", "PFS": "Progression-free survival"}.get(res.endpoint, "Event-free probability")
    s = res.settings
    figure = render_km_figure(res.km, res.arms, res.risk_table, res.axis, p_label=p_label, bands=len(res.groups) <= 2,
                              y_label=y_label, conf_label=f"{s.conf_level:.0%} CI ({s.conf_type})", style_order=style_order)
    stage.write_bytes("survival/km.png", figure["png"])
    stage.write_bytes("survival/km.svg", figure["svg"])


def _num(x, fmt: str = ".3f") -> str:
    return "NA" if x is None else format(x, fmt)


def _ci(est, lo, hi, fmt: str = ".3f") -> str:
    if est is None:
        return "not reached"
    return f"{_num(est, fmt)} ({_num(lo, fmt)}, {_num(hi, fmt)})"


def _print_summary(ws, res, plot: bool) -> None:
    import polars as pl
    from rich.markup import escape
    from rich.table import Table

    from trialkit.analyses.survival.figure import format_p
    from trialkit.analyses.survival.pipeline import time_label

    out = stdout()
    s = res.settings
    level = f"{s.conf_level:.0%}"
    title = f"Survival: {res.endpoint}" + (f" ({res.param})" if res.param else "")
    arms = Table(title=title, title_justify="left")
    for col in ("group", "n", "events", f"median, days ({level} CI)", *(f"S({time_label(t)}) ({level} CI)" for t in res.times)):
        arms.add_column(col, justify="left" if col == "group" else "right")
    if res.rmst_tau:
        arms.add_column(f"RMST to {time_label(res.rmst_tau)} (se)", justify="right")
    for a in res.arms.iter_rows(named=True):
        med = res.medians.filter(pl.col("arm") == a["arm"])
        cells = [escape(a["arm"]), str(a["n"]), str(a["events"])]
        if med.height == 0:
            out_cells = cells + ["no record"] * (1 + len(res.times)) + (["-"] if res.rmst_tau else [])
            arms.add_row(*out_cells)
            continue
        m = med.row(0, named=True)
        cells.append(_ci(m["median"], m["lower"], m["upper"], "g"))
        for lm in res.landmarks.filter(pl.col("arm") == a["arm"]).iter_rows(named=True):
            cells.append(_ci(lm["survival"], lm["lower"], lm["upper"]))
        if res.rmst_tau:
            r = res.rmst.filter(pl.col("arm") == a["arm"]).row(0, named=True)
            cells.append(f"{r['rmst']:.1f} ({r['se']:.1f})")
        arms.add_row(*cells)
    out.print(arms)
    if res.logrank is not None:
        tests = Table(title="Comparisons", title_justify="left")
        for col in ("test", "groups", "chi-square", "df", "p", "p (Holm)"):
            tests.add_column(col, justify="left" if col in ("test", "groups") else "right")
        lr = res.logrank
        name = "log-rank" if lr.rho == 0 else f"G-rho (rho={lr.rho:g})"
        tests.add_row(name, "all", _num(lr.chisq), str(lr.df), _p(lr.p, format_p), "")
        t = res.trend
        tests.add_row(f"trend ({res.trend_scores})", "all", _num(t.chisq), "1", _p(t.p, format_p), "")
        for r in res.pairwise.iter_rows(named=True):
            tests.add_row(name, escape(f"{r['arm_a']} vs {r['arm_b']}"), _num(r["chisq"]), str(r["df"]), _p(r["p"], format_p),
                          _p(r["p_holm"], format_p))
        out.print(tests)
        if res.cox.height:
            cox = Table(title=f"Cox proportional hazards (ties {s.ties}), reference {res.reference}", title_justify="left")
            for col in ("group", f"hazard ratio ({level} CI)", "p (Wald)"):
                cox.add_column(col, justify="left" if col == "group" else "right")
            for r in res.cox.iter_rows(named=True):
                if r["estimable"]:
                    cox.add_row(escape(r["arm"]), _ci(r["hr"], r["lower"], r["upper"], ".2f"), _p(r["p"], format_p))
                else:
                    cox.add_row(escape(r["arm"]), escape(f"not estimable: {r['reason']}"), "")
            out.print(cox)
    sources = s.sources
    out.print(f"[dim]Settings: CI {s.conf_type} {level} ({sources['conf_type']}); ties {s.ties} ({sources['ties']}); "
              f"rho {s.rho:g}; Greenwood SE of S(t); R equivalent: survfit/survdiff/coxph.[/]")
    shown = {f"Cox: {r['arm']}: {r['reason']}" for r in res.cox.iter_rows(named=True) if not r["estimable"]}
    for note in (n for n in res.notes if n not in shown):  # reasons of non-estimable rows are in the table
        out.print(f"[yellow]Note:[/] {escape(note)}")
    figure = " and km.png / km.svg" if plot else ""
    out.print(f"Wrote {ws}/survival/: {len(res.tables())} Parquet tables, survival.json{figure}.")


def _p(p, format_p) -> str:
    return "NA" if p is None else format_p(p).replace("= ", "")
