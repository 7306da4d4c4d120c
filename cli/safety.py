"""``trialkit safety``: adverse-event tables, onset relative to infusions, liver-safety screens."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from .common import (rendered, Format, FormatOpt, NameOpt, PopulationOpt, SubgroupOpt, WorkspaceOpt, emit_csv, emit_json,
                     handles_errors, safe, stdout, workspace_from)

OUT = "safety"
#: the variables the safety stage uses (others are not read when trialkit validate recorded the dataset clean)
ADAE_COLUMNS = ("USUBJID", "AEBODSYS", "AEDECOD", "AETERM", "AESEV", "ATOXGR", "AESER", "AEREL", "AEACN", "AEOUT",
                "AESDTH", "TRTEMFL", "ASTDT", "ASTDY")
ADLB_COLUMNS = ("USUBJID", "PARAMCD", "AVAL", "A1LO", "A1HI", "ANRLO", "ANRHI", "ABLFL", "ADY", "AVISITN")
ADEX_COLUMNS = ("USUBJID", "ASTDY")


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
    population: PopulationOpt = None,
    subgroup: SubgroupOpt = None,
    name: NameOpt = None,
    format: FormatOpt = Format.table,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Draw the eDISH, mDISH and TEAE dot-plot figures (PNG + SVG; --no-plot keeps those of an earlier identical run).")] = True,
    workspace: WorkspaceOpt = None,
) -> None:
    """Safety tables the way regulators expect them, from ADSL, ADAE and (when present) ADEX and ADLB.

    Safety population (SAFFL = "Y"), groups by actual treatment (TRT01A);
    treatment-emergent AEs by TRTEMFL (else onset on or after the first dose).
    Overview; incidence by system organ class and preferred term, n (%) [AEs],
    with Fisher's exact p against the reference group; maximum severity;
    serious AE and death listings; onset relative to the most recent infusion
    (ADEX); liver screens (ADLB ALT, AST, bilirubin): Hy's law, shift table,
    eDISH and the baseline-relative mDISH. The primary analysis (SAFFL, every
    group) writes safety/; --arm, --population, --subgroup or --name make their
    own analysis in analyses/NAME/. Each writes its *.parquet tables, the figures
    (PNG + SVG) and safety.json (the --format json object, rules included).

    Example: trialkit safety --sort frequency --min-percent 5
    """
    import polars as pl

    from trialkit.analyses.ard import AnalysisMeta, safety_ard
    from trialkit.analyses.groups import arms_of, select_arms
    from trialkit.analyses.populations import parse_subgroup, select_subjects
    from trialkit.analyses.safety.liver import select_liver_tests
    from trialkit.analyses.safety.pipeline import analyse_safety, choose_reference, safety_json

    from .analysis import inherit_options, refuse_other_analysis_under_name, resolve_analysis
    from .workspace import Stage, read_manifest

    subgroups = [parse_subgroup(s) for s in subgroup or []]
    ws = workspace_from(ctx, workspace)
    with Stage(ws, "safety", {}) as stage:
        adsl = stage.read("adsl")
        adae = stage.read("adae", columns=ADAE_COLUMNS)
        adex = stage.read("adex", columns=ADEX_COLUMNS) if stage.has("adex") else None
        adlb = select_liver_tests(stage.read("adlb", columns=ADLB_COLUMNS)) if stage.has("adlb") else None
        subjects, selection = select_subjects(adsl, "safety", population, subgroups)
        changed = {"population": selection.population if selection.population_source == "option" else None,
                   "subgroup": [f"{s.variable}={s.value}" for s in subgroups], "arm": list(arm or []) or None,
                   "reference": reference}
        target = resolve_analysis(ws, "safety", name, {k: v for k, v in changed.items() if v})
        options = {"arm": list(arm or []), "reference": reference, "sort": sort.value, "min_percent": min_percent,
                   "population": population, "subgroup": subgroup or None, "name": name}
        if name is not None:
            refuse_other_analysis_under_name(ws, target.name, options, ("arm", "reference", "population", "subgroup"))
        options, inherited = inherit_options(ctx, ws, target.name, options, ("sort", "min_percent"))
        stage.set_analysis(target, options, selection.to_dict())
        rerun = ([f"re-run of analysis {target.name} with its recorded "
                  + ", ".join(f"--{k.replace('_', '-')} {options[k]}" for k in inherited)] if inherited else [])
        all_arms = arms_of(adsl)
        chosen = select_arms(all_arms, arm)
        ref = choose_reference(all_arms, chosen, reference)
        restrict = subjects["USUBJID"] if selection.subgroups else None
        result = analyse_safety(adsl, adae, chosen, ref, adex=adex, adlb=adlb, sort=options["sort"],
                                min_percent=options["min_percent"], quarantined_orphans=_quarantined_orphans(ws, pl),
                                population_flag=selection.population, subjects=restrict)
        obj = safety_json(result, target.folder)
        obj["analysis"] = {"name": target.name, "primary": target.primary, "folder": target.folder,
                           **selection.to_dict()}
        stage.clear_folder(target.folder)
        written = []
        for table, df in result.tables().items():
            written.append(stage.write_output("safety", table, df, folder=target.folder))
        figures, figure_notes = (_figures(result, chosen) if plot else ({}, []))
        for rel, data in figures.items():
            written.append(stage.write_bytes(target.path(rel), data))
        if not plot and stage.same_as_recorded():
            previous = read_manifest(ws).get("analyses", {}).get(target.name, {}).get("figures", [])
            for rel in previous:
                stage.keep(rel)
            figures_kept = previous
        else:
            figures_kept = sorted(target.path(rel) for rel in figures)
        stage.analysis["figures"] = figures_kept
        obj["notes"] += figure_notes
        obj["figures"] = figures_kept
        written.append(stage.write_json(target.path("safety.json"), obj))
        stage.write_ard(safety_ard(result, AnalysisMeta(target.name, population=selection.population_label,
                                                        subgroup=selection.subgroup_label, options=stage.options)))
        with rendered() as output:  # before the commit: printing cannot fail after it
            if format is Format.json:
                emit_json(obj)
            elif format is Format.csv:
                emit_csv(result.tables())
            else:
                _print(result, obj, ws, written, target, selection, rerun)
    output.emit()


def _quarantined_orphans(ws, pl) -> int:
    """ADAE rows that trialkit validate quarantined because their subject is not in ADSL."""
    path = ws / "quarantine" / "adae.parquet"
    if not path.exists():
        return 0
    q = pl.read_parquet(path, glob=False)
    if "QUARANTINE_REASON" not in q.columns:
        return 0
    return q.filter(pl.col("QUARANTINE_REASON").cast(pl.String).str.contains("usubjid_in_adsl")).height


def _figures(result, chosen) -> tuple[dict[str, bytes], list[str]]:
    from trialkit.schemas.errors import NoDataError
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
def _print(result, obj, ws, written, target, selection, rerun) -> None:
    from trialkit.analyses.formatting import format_n_pct, format_p

    from .tables import Table, print_table

    out = stdout()
    arms = result.population.arms
    n = dict(zip(arms, result.population.counts["n"].to_list()))
    heads = [f"{a}\n(N={n[a]})" for a in arms]
    others = [a for a in arms if a != result.reference]

    t = Table("Overview of treatment-emergent adverse events (TEAEs), n (%)", ["", *heads])
    for (category,), rows in result.overview.group_by(["category"], maintain_order=True):
        cells = {r["arm"]: format_n_pct(r["subjects"], r["percent"]) for r in rows.iter_rows(named=True)}
        t.add_row(category, *[cells[a] for a in arms])
    print_table(out, t)

    t = Table("Incidence of TEAEs by system organ class and preferred term, n (%) [AEs]",
              ["System organ class\n  Preferred term", *heads, *(f"p\n{a}" for a in others)],
              caption=f"p: Fisher's exact test (two-sided) of each group against {result.reference}.")
    pvals = {(r["row"], r["arm"]): r["p"] for r in result.fisher.iter_rows(named=True)}
    for (row,), rows in result.incidence.group_by(["row"], maintain_order=True):
        first = rows.row(0, named=True)
        label = {"any": "Any TEAE", "soc": first["soc"], "pt": f"  {first['pt']}"}[first["level"]]
        cells = {r["arm"]: f"{format_n_pct(r['subjects'], r['percent'])} [{r['events']}]" for r in rows.iter_rows(named=True)}
        style = "bold" if first["level"] != "pt" else None
        t.add_row(label, *[cells[a] for a in arms], *[format_p(pvals.get((row, a))) for a in others], style=style)
    print_table(out, t)

    sev = result.severity.filter(result.severity["level"] == "any")
    if sev.height:
        t = Table("Subjects by maximum severity of TEAE, n (%)", ["Maximum severity", *heads])
        for (severity,), rows in sev.group_by(["severity"], maintain_order=True):
            cells = {r["arm"]: format_n_pct(r["subjects"], r["percent"]) for r in rows.iter_rows(named=True)}
            t.add_row(severity, *[cells[a] for a in arms])
        print_table(out, t)

    files = obj["listings"]
    _listing(out, "Serious adverse events", result.sae,
             ("usubjid", "arm", "pt", "onset_day", "severity", "related", "outcome", "teae"), files["sae"])
    _listing(out, "Deaths", result.deaths, ("usubjid", "arm", "source", "term", "onset_day", "death_day", "outcome"),
             files["deaths"])

    if result.onset is not None:
        t = Table("Onset of AEs after the most recent dose (ADEX): AEs / subjects (%)", ["Days since dose", *heads])
        for (window,), rows in result.onset.group_by(["window"], maintain_order=True):
            cells = {r["arm"]: f"{r['events']} / {format_n_pct(r['subjects'], r['percent'])}" for r in rows.iter_rows(named=True)}
            t.add_row(window, *[cells[a] for a in arms])
        print_table(out, t)

    if result.liver_peaks is not None:
        _listing(out, "Hy's law candidates (peak ALT or AST > 3 x ULN and bilirubin > 2 x ULN)", result.hys_law,
                 ("usubjid", "arm", "alt_uln", "ast_uln", "bili_uln"), files["hys_law"])
        t = Table("Liver tests: baseline -> worst post-baseline category, subjects (low / normal / high)",
                  ["Test", "Baseline", *heads], labels=2)
        for (param, baseline), rows in result.liver_shift.group_by(["param", "baseline"], maintain_order=True):
            cells = {}
            for (a,), r in rows.group_by(["arm"], maintain_order=True):
                counts = dict(zip(r["worst"], r["subjects"]))
                cells[a] = f"{counts.get('low', 0)} / {counts.get('normal', 0)} / {counts.get('high', 0)}"
            t.add_row(param, baseline, *[cells.get(a, "") for a in arms])
        print_table(out, t)

    for note in obj["notes"]:
        out.print(f"[dim]Note:[/] {safe(note)}")
    out.print(f"Reference group: {safe(result.reference)}. Rules used: {safe(ws)}/{safe(target.folder)}/safety.json "
              "(definitions).")
    out.print(f"Analysis {safe(target.name)}" + (" (primary)" if target.primary else "")
              + f"; population {safe(selection.description)}")
    for note in rerun:
        out.print(f"[dim]Note: {safe(note)}[/]")
    out.print(f"Wrote {len(written)} file(s) to {safe(ws)}/{safe(target.folder)}/.")


def _listing(out, title, df, columns, where: dict) -> None:
    """The first ``where["shown"]`` rows of a listing; when there are more, their number and the file with all."""
    import polars as pl

    from .tables import Table, print_table

    if df.height == 0:
        out.print(f"{safe(title)}: none.")
        return
    shown = df.head(where["shown"])
    more = df.height - shown.height
    heads = [c.replace("_", " ") for c in columns]
    text = tuple(h for c, h in zip(columns, heads) if df.schema[c] in (pl.String, pl.Boolean) or df.schema[c] == pl.Categorical)
    t = Table(title + (f" (first {shown.height:,} of {df.height:,})" if more else ""), heads, left=text)
    for r in shown.iter_rows(named=True):
        t.add_row(*[_cell(r[c]) for c in columns])
    print_table(out, t)
    if more:
        out.print(f"\u2026 and {more:,} more: {safe(where['file'])}")


def _cell(v) -> str:
    from trialkit.analyses.formatting import format_number

    if v is None:
        return ""
    if isinstance(v, bool):
        return "Y" if v else "N"
    if isinstance(v, float):
        return format_number(v, 0 if v.is_integer() else 2)
    return str(v)
