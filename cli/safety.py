"""``trialkit safety``: adverse-event tables, onset relative to infusions, liver-safety screens."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from .common import Format, FormatOpt, WorkspaceOpt, emit_csv, emit_json, handles_errors, stdout, workspace_from

OUT = "safety"


class SortBy(str, Enum):
    alpha = "alpha"
    frequency = "frequency"


@handles_errors
def safety(
    ctx: typer.Context,
    arm: Annotated[
        Optional[list[str]],
        typer.Option("--arm", "-a", metavar="ARM", help="Group to analyse (ARMCD or TRT01A, case-insensitive); repeat for several. Default: every group.", show_default=False),
    ] = None,
    reference: Annotated[
        Optional[str],
        typer.Option("--reference", "-r", metavar="ARM", help="Reference group of the Fisher tests and risk differences. Default: the first group by TRT01AN.", show_default=False),
    ] = None,
    sort: Annotated[SortBy, typer.Option("--sort", help="Order of SOC and PT rows: alpha, or frequency (descending total subjects).")] = SortBy.alpha,
    min_percent: Annotated[
        Optional[float],
        typer.Option("--min-percent", metavar="P", help="Show only incidence rows where some group reaches P% (the overview is unchanged).", show_default=False),
    ] = None,
    format: FormatOpt = Format.table,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Draw the eDISH, mDISH and TEAE dot-plot figures (PNG + SVG).")] = True,
    workspace: WorkspaceOpt = None,
) -> None:
    """Safety tables the way regulators expect them, from ADSL, ADAE and (when present) ADEX and ADLB.

    Safety population (SAFFL = "Y"), groups by actual treatment (TRT01A);
    treatment-emergent AEs by TRTEMFL (else onset on or after the first dose).
    Overview; incidence by system organ class and preferred term, n (%) [AEs],
    with Fisher's exact p against the reference group; maximum severity;
    serious AE and death listings; onset relative to the most recent infusion
    (ADEX); liver screens (ADLB ALT, AST, bilirubin): Hy's law, shift table,
    eDISH and the baseline-relative mDISH. Writes safety/*.parquet, the figures
    (PNG + SVG) and safety/safety.json (the --format json object, rules included).

    Example: trialkit safety --sort frequency --min-percent 5
    """
    import polars as pl

    from trialkit.analyses.groups import arms_of, select_arms
    from trialkit.analyses.safety.pipeline import analyse_safety, choose_reference, safety_json

    from .workspace import Stage

    ws = workspace_from(ctx, workspace)
    options = {"arm": list(arm or []), "reference": reference, "sort": sort.value, "min_percent": min_percent,
               "plot": plot}
    with Stage(ws, "safety", options) as stage:
        adsl = stage.read("adsl")
        adae = stage.read("adae")
        adex = stage.read("adex") if stage.has("adex") else None
        adlb = stage.read("adlb") if stage.has("adlb") else None
        all_arms = arms_of(adsl)
        chosen = select_arms(all_arms, arm)
        ref = choose_reference(all_arms, chosen, reference)
        result = analyse_safety(adsl, adae, chosen, ref, adex=adex, adlb=adlb, sort=sort.value,
                                min_percent=min_percent, quarantined_orphans=_quarantined_orphans(ws, pl))
        obj = safety_json(result)
        for path in sorted((ws / OUT).glob("*")) if (ws / OUT).is_dir() else []:
            if path.is_file():
                stage.remove(f"{OUT}/{path.name}")
        written = []
        for name, df in result.tables().items():
            written.append(stage.write_output(OUT, name, df))
        figures, figure_notes = (_figures(result, chosen) if plot else ({}, []))
        for rel, data in figures.items():
            written.append(stage.write_bytes(f"{OUT}/{rel}", data))
        obj["notes"] += figure_notes
        obj["figures"] = sorted(f"{OUT}/{rel}" for rel in figures)
        written.append(stage.write_json(f"{OUT}/safety.json", obj))
    if format is Format.json:
        emit_json(obj)
    elif format is Format.csv:
        emit_csv(result.tables())
    else:
        _print(result, obj, ws, written)


def _quarantined_orphans(ws, pl) -> int:
    """ADAE rows that trialkit validate quarantined because their subject is not in ADSL."""
    path = ws / "quarantine" / "adae.parquet"
    if not path.exists():
        return 0
    q = pl.read_parquet(path)
    if "QUARANTINE_REASON" not in q.columns:
        return 0
    return q.filter(pl.col("QUARANTINE_REASON").cast(pl.String).str.contains("usubjid_in_adsl")).height


def _figures(result, chosen) -> tuple[dict[str, bytes], list[str]]:
    from trialkit.analyses.errors import NoDataError
    from trialkit.analyses.figures import render
    from trialkit.analyses.safety.figures import dotplot_height, edish_plot, mdish_plot, teae_dotplot

    labels = [a.label for a in chosen]
    jobs = [("teae_dotplot", lambda: teae_dotplot(result.risk_differences, labels, result.reference), 8.5,
             dotplot_height(result.risk_differences))]
    if result.liver_peaks is not None:
        jobs += [("edish", lambda: edish_plot(result.liver_peaks, labels), 6.0, 5.4),
                 ("mdish", lambda: mdish_plot(result.liver_peaks, labels), 6.0, 5.4)]
    out, notes = {}, []
    for stem, make, width, height in jobs:
        try:
            images = render(make(), width, height)
        except NoDataError as exc:
            notes.append(f"figure {stem} not drawn: {exc.message}")
            continue
        out[f"{stem}.png"] = images["png"]
        out[f"{stem}.svg"] = images["svg"]
    return out, notes


# ------------------------------------------------------------------ printing
def _n_pct(n, pct) -> str:
    if n is None:
        return "n/a"
    return f"{n} ({pct:.1f}%)" if pct is not None else f"{n}"


def _p(p) -> str:
    if p is None:
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _print(result, obj, ws, written) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = stdout()
    arms = result.population.arms
    n = dict(zip(arms, result.population.counts["n"].to_list()))
    heads = [f"{a}\n(N={n[a]})" for a in arms]
    others = [a for a in arms if a != result.reference]

    t = Table(title="Overview of treatment-emergent adverse events (TEAEs), n (%)", title_justify="left")
    t.add_column("")
    for h in heads:
        t.add_column(h, justify="right")
    for (category,), rows in result.overview.group_by(["category"], maintain_order=True):
        cells = {r["arm"]: _n_pct(r["subjects"], r["percent"]) for r in rows.iter_rows(named=True)}
        t.add_row(escape(category), *[cells[a] for a in arms])
    out.print(t)

    t = Table(title="Incidence of TEAEs by system organ class and preferred term, n (%) [AEs]", title_justify="left",
              caption=f"p: Fisher's exact test (two-sided) of each group against {escape(result.reference)}.",
              caption_justify="left")
    t.add_column("System organ class\n  Preferred term", overflow="fold", min_width=24)
    for h in heads:
        t.add_column(h, justify="right")
    for a in others:
        t.add_column(f"p\n{a}", justify="right")
    pvals = {(r["row"], r["arm"]): r["p"] for r in result.fisher.iter_rows(named=True)}
    for (row,), rows in result.incidence.group_by(["row"], maintain_order=True):
        first = rows.row(0, named=True)
        label = {"any": "Any TEAE", "soc": first["soc"], "pt": f"  {first['pt']}"}[first["level"]]
        cells = {r["arm"]: f"{_n_pct(r['subjects'], r['percent'])} [{r['events']}]" for r in rows.iter_rows(named=True)}
        style = "bold" if first["level"] != "pt" else None
        t.add_row(escape(label), *[cells[a] for a in arms], *[_p(pvals.get((row, a))) for a in others], style=style)
    out.print(t)

    sev = result.severity.filter(result.severity["level"] == "any")
    if sev.height:
        t = Table(title="Subjects by maximum severity of TEAE, n (%)", title_justify="left")
        t.add_column("Maximum severity")
        for h in heads:
            t.add_column(h, justify="right")
        for (severity,), rows in sev.group_by(["severity"], maintain_order=True):
            cells = {r["arm"]: _n_pct(r["subjects"], r["percent"]) for r in rows.iter_rows(named=True)}
            t.add_row(severity, *[cells[a] for a in arms])
        out.print(t)

    _listing(out, "Serious adverse events", result.sae,
             ("usubjid", "arm", "pt", "onset_day", "severity", "related", "outcome", "teae"))
    _listing(out, "Deaths", result.deaths, ("usubjid", "arm", "source", "term", "onset_day", "death_day", "outcome"))

    if result.onset is not None:
        t = Table(title="Onset of AEs after the most recent dose (ADEX): AEs / subjects (%)", title_justify="left")
        t.add_column("Days since dose")
        for h in heads:
            t.add_column(h, justify="right")
        for (window,), rows in result.onset.group_by(["window"], maintain_order=True):
            cells = {r["arm"]: f"{r['events']} / {_n_pct(r['subjects'], r['percent'])}" for r in rows.iter_rows(named=True)}
            t.add_row(window, *[cells[a] for a in arms])
        out.print(t)

    if result.liver_peaks is not None:
        _listing(out, "Hy's law candidates (peak ALT or AST > 3 x ULN and bilirubin > 2 x ULN)", result.hys_law,
                 ("usubjid", "arm", "alt_uln", "ast_uln", "bili_uln"))
        t = Table(title="Liver tests: baseline -> worst post-baseline category, subjects (low / normal / high)",
                  title_justify="left")
        t.add_column("Test")
        t.add_column("Baseline")
        for h in heads:
            t.add_column(h, justify="right")
        for (param, baseline), rows in result.liver_shift.group_by(["param", "baseline"], maintain_order=True):
            cells = {}
            for (a,), r in rows.group_by(["arm"], maintain_order=True):
                counts = dict(zip(r["worst"], r["subjects"]))
                cells[a] = f"{counts.get('low', 0)} / {counts.get('normal', 0)} / {counts.get('high', 0)}"
            t.add_row(param, baseline, *[cells.get(a, "") for a in arms])
        out.print(t)

    for note in obj["notes"]:
        out.print(f"[dim]Note:[/] {escape(note)}")
    out.print(f"Reference group: {escape(result.reference)}. Rules used: {ws}/{OUT}/safety.json (definitions).")
    out.print(f"Wrote {len(written)} file(s) to {ws}/{OUT}/.")


def _listing(out, title, df, columns) -> None:
    from rich.markup import escape
    from rich.table import Table

    if df.height == 0:
        out.print(f"{title}: none.")
        return
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c.replace("_", " "), overflow="fold")
    for r in df.iter_rows(named=True):
        t.add_row(*[escape(_cell(r[c])) for c in columns])
    out.print(t)


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:g}" if v == int(v) else f"{v:.2f}"
    if isinstance(v, bool):
        return "Y" if v else "N"
    return str(v)
