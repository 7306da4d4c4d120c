"""``trialkit biomarkers``: derived liver scores, change from baseline, per-visit tests, a longitudinal model, figures."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from .common import Format, FormatOpt, WorkspaceOpt, emit_csv, emit_json, handles_errors, stdout, workspace_from

FOLDER = "biomarkers"


class Test(str, Enum):
    t = "t"
    wilcoxon = "wilcoxon"


class Adjust(str, Enum):
    none = "none"
    holm = "holm"
    bh = "bh"


@handles_errors
def biomarkers(
    ctx: typer.Context,
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help="Analyse only this PARAMCD (any case); repeatable. Also draws its own figure.", show_default=False)] = None,
    arm: Annotated[Optional[list[str]], typer.Option("--arm", help="Analyse only this group (ARMCD or TRT01A, case-insensitive); repeatable.", show_default=False)] = None,
    derive: Annotated[Optional[str], typer.Option("--derive", help="Scores to derive: comma list of meld, meldna, childpugh, albi, or none (default: all derivable from ADLB).", show_default=False)] = None,
    test: Annotated[Test, typer.Option("--test", help="Within groups: paired t (groups: one-way ANOVA) or Wilcoxon signed-rank (groups: Kruskal-Wallis).")] = Test.t,
    adjust: Annotated[Adjust, typer.Option("--adjust", help="Multiplicity adjustment across visits within a parameter, as R p.adjust (none = as the paper).")] = Adjust.none,
    format: FormatOpt = Format.table,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Draw per body system the mean +/- SE overview and the trajectories (PNG 300 dpi and SVG).")] = True,
    workspace: WorkspaceOpt = None,
) -> None:
    """Biomarkers over time: derived MELD, MELD-Na, Child-Pugh and ALBI; BASE/CHG; tests by visit; mixed model.

    Reads adlb and adsl from the workspace. Writes biomarkers/: the derived BDS (adlb.parquet),
    summaries, within- and between-group tests, the model of CHG ~ BASE + group * visit with a
    subject random intercept (REML; numbers as R nlme::lme), marginal means, score and baseline
    checks as Parquet; biomarkers.json (what --format json prints); figures/*.png and *.svg.

    Example: trialkit biomarkers --param ALB --param PTA --test wilcoxon --adjust holm
    """
    from trialkit.analyses.biomarkers.pipeline import analyse_biomarkers, parse_derive, results_json
    from trialkit.analyses.groups import arms_of, select_arms

    from .workspace import Stage

    ws = workspace_from(ctx, workspace)
    options = {"param": param or None, "arm": arm or None, "derive": derive, "test": test.value,
               "adjust": adjust.value, "plot": plot}
    with Stage(ws, "biomarkers", options) as stage:
        adlb, adsl = stage.read("adlb"), stage.read("adsl")
        chosen = select_arms(arms_of(adsl), arm)
        res = analyse_biomarkers(adlb, adsl, chosen, params=param, derive=parse_derive(derive, adlb),
                                 test=test.value, adjust=adjust.value)
        _clear_previous(stage, ws)
        for name, frame in res.tables().items():
            stage.write_output(FOLDER, name, frame)
        figures = _write_figures(stage, res, per_parameter=list(res.params) if param else []) if plot else []
        report = results_json(res, figures)
        stage.write_json(f"{FOLDER}/biomarkers.json", report)
    if format is Format.json:
        emit_json(report)
    elif format is Format.csv:
        tables = res.tables()
        emit_csv({k: tables[k] for k in ("summaries", "within", "between", "models", "marginal_means")})
    else:
        _print_summary(ws, res, figures)


def _clear_previous(stage, ws) -> None:
    """Outputs of an earlier run disappear when this one commits (unless rewritten)."""
    folder = ws / FOLDER
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                stage.remove(path.relative_to(ws).as_posix())


def _write_figures(stage, res, per_parameter: list[str]) -> list[str]:
    from trialkit.analyses.biomarkers.figures import draw_figures

    written = []
    for stem, files in draw_figures(res.data, res.summaries, res.within, res.between, list(res.params),
                                    [a.label for a in res.arms], adjust=res.adjust, per_parameter=per_parameter):
        for ext in ("png", "svg"):
            path = f"{FOLDER}/figures/{stem}.{ext}"
            stage.write_bytes(path, files[ext])
            written.append(path)
    return written


def _num(x: float) -> str:
    """Fixed-point with 3 significant digits for |x| >= 0.01, never scientific notation."""
    digits = 0 if abs(x) >= 100 else 1 if abs(x) >= 10 else 2 if abs(x) >= 1 else 3
    return f"{x:.{digits}f}"


def _p(p) -> str:
    if p is None:
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _print_summary(ws, res, figures: list[str]) -> None:
    import polars as pl
    from rich.markup import escape
    from rich.table import Table

    out = stdout()
    pooled = res.within.filter(pl.col("arm") == "All")
    visits = pooled.select("visitn", "visit").unique(subset="visitn").sort("visitn").rows()
    use = "p_adj" if res.adjust != "none" else "p"
    table = Table(title=f"Mean change from baseline, all groups pooled ({pooled.get_column('test')[0] if pooled.height else ''}"
                        f"; * {use} < 0.05)", title_justify="left")
    table.add_column("param")
    for _, label in visits:
        table.add_column(label, justify="right")
    for param in res.params:
        cells = {r["visitn"]: r for r in pooled.filter(pl.col("param") == param).iter_rows(named=True)}
        row = [escape(param)]
        for vn, _ in visits:
            r = cells.get(vn)
            if r is None or r["mean_change"] is None:
                row.append("")
                continue
            star = "*" if r[use] is not None and r[use] < 0.05 else ""
            row.append(_num(r["mean_change"]) + star)
        table.add_row(*row)
    out.print(table)
    models = Table(title="Longitudinal model: CHG ~ BASE + group * visit, subject random intercept (REML)",
                   title_justify="left")
    for col in ("param", "records", "subjects", "group x visit p", "group p", "note"):
        models.add_column(col, justify="left" if col in ("param", "note") else "right", overflow="fold")
    for r in res.models.iter_rows(named=True):
        models.add_row(escape(r["param"]), str(r["n_obs"]), str(r["n_subjects"]), _p(r["interaction_p"]), _p(r["group_p"]),
                       r["note"] or "")
    out.print(models)
    for r in res.score_compared.iter_rows(named=True):
        out.print(f"Score check: {r['REPORTED']} vs derived {r['DERIVED']}: {r['N_DISAGREE']} of {r['N_COMPARED']} "
                  "subject-visits disagree" + (" (listed in biomarkers/score_check.parquet)" if r["N_DISAGREE"] else ""))
    missing = res.baseline.filter((pl.col("N_NO_BASELINE") > 0) & pl.col("PARAMCD").is_in(list(res.params)))
    for r in missing.iter_rows(named=True):
        out.print(f"[yellow]Note:[/] {r['PARAMCD']}: {r['N_NO_BASELINE']} subject(s) without baseline; "
                  f"{r['N_RECORDS_NO_CHG']} record(s) kept without CHG")
    if res.base_check.height:
        out.print(f"[yellow]Note:[/] {res.base_check.height} record(s) where the delivered BASE differs from the "
                  "recomputed one (biomarkers/base_check.parquet)")
    for r in res.skipped.iter_rows(named=True):
        out.print(f"[dim]Not analysed: {r['PARAMCD']} ({r['REASON']})[/]")
    for note in res.notes:
        out.print(f"[dim]Note: {note}[/]")
    out.print(f"Wrote {ws}/{FOLDER}/: {len(res.tables())} Parquet tables, biomarkers.json"
              + (f", {len(figures)} figure files" if figures else "") + ".")
