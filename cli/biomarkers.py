"""``trialkit biomarkers``: derived liver scores, change from baseline, per-visit tests, a longitudinal model, figures."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from .common import (rendered, Format, FormatOpt, NameOpt, PopulationOpt, SubgroupOpt, WorkspaceOpt, emit_csv, emit_json,
                     handles_errors, safe, stdout, workspace_from)

FOLDER = "biomarkers"


class Test(str, Enum):
    t = "t"
    wilcoxon = "wilcoxon"


class Adjust(str, Enum):
    none = "none"
    holm = "holm"
    bh = "bh"


class Model(str, Enum):
    ancova = "ancova"
    mmrm = "mmrm"


class Weights(str, Enum):
    equal = "equal"
    observed = "observed"


class Cov(str, Enum):
    us = "us"
    cs = "cs"
    ar1 = "ar1"
    toep = "toep"
    csh = "csh"
    ar1h = "ar1h"
    toeph = "toeph"


class Ddfm(str, Enum):
    kr = "kr"
    satterthwaite = "satterthwaite"
    residual = "residual"


class Impute(str, Enum):
    none = "none"
    locf = "locf"


@handles_errors
def biomarkers(
    ctx: typer.Context,
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help="Analyse only this PARAMCD (any case); repeatable. Also draws its own figure.", show_default=False)] = None,
    arm: Annotated[Optional[list[str]], typer.Option("--arm", help="Analyse only this group (ARMCD or TRT01A, case-insensitive); repeatable.", show_default=False)] = None,
    derive: Annotated[Optional[str], typer.Option("--derive", help="Scores to derive: comma list of meld, meldna, childpugh, albi, or none (default: all derivable from ADLB).", show_default=False)] = None,
    test: Annotated[Test, typer.Option("--test", help="Within groups: paired t (groups: one-way ANOVA) or Wilcoxon signed-rank (groups: Kruskal-Wallis).")] = Test.t,
    adjust: Annotated[Adjust, typer.Option("--adjust", help="Multiplicity adjustment across visits within a parameter, as R p.adjust (none: raw p-values).")] = Adjust.none,
    model: Annotated[Optional[Model], typer.Option("--model", help="Efficacy model of each --param's change from baseline: ancova at one visit (R lm + emmeans, SAS GLM LSMEANS) or mmrm over the visits (SAS MIXED REPEATED, REML).", show_default=False)] = None,
    visit: Annotated[Optional[str], typer.Option("--visit", help="Primary visit of --model (AVISIT, any case, or AVISITN). Default: the last scheduled visit after baseline.", show_default=False)] = None,
    covariate: Annotated[Optional[list[str]], typer.Option("--covariate", help="Adjust --model for this ADLB or ADSL variable besides BASE (text: categorical; numbers: numeric); repeatable.", show_default=False)] = None,
    weights: Annotated[Weights, typer.Option("--weights", help="LS means over categorical covariates: equal weights (SAS LSMEANS, emmeans) or observed margins (SAS OM).")] = Weights.equal,
    cov: Annotated[Cov, typer.Option("--cov", help="MMRM covariance across visits: us (unstructured), cs, ar1, toep, or heterogeneous csh, ar1h, toeph.")] = Cov.us,
    ddfm: Annotated[Ddfm, typer.Option("--ddfm", help="MMRM denominator degrees of freedom: kr (Kenward-Roger), satterthwaite, residual.")] = Ddfm.kr,
    impute: Annotated[Optional[Impute], typer.Option("--impute", help="Missing visits in --model: none (observed cases) or locf (ADaM DTYPE=LOCF records, derived where the data have none). Default: locf when ADLB carries DTYPE=LOCF records, else none.", show_default=False)] = None,
    population: PopulationOpt = None,
    subgroup: SubgroupOpt = None,
    name: NameOpt = None,
    format: FormatOpt = Format.table,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Draw per body system the mean +/- SE overview and the trajectories (PNG 300 dpi and SVG; --no-plot keeps those of an earlier identical run).")] = True,
    workspace: WorkspaceOpt = None,
) -> None:
    """Biomarkers over time: derived MELD, MELD-Na, Child-Pugh and ALBI; BASE/CHG; tests by visit; mixed model.

    Reads adlb and adsl from the workspace. Writes biomarkers/: the derived BDS (adlb.parquet),
    summaries, within- and between-group tests, the model of CHG ~ BASE + group * visit with a
    subject random intercept (REML; numbers as R nlme::lme), marginal means, score and baseline
    checks as Parquet; biomarkers.json (what --format json prints); figures/*.png and *.svg.

    With --model, also an efficacy model of each --param: ANCOVA of CHG at one visit (LS means,
    differences, dose-response test) or MMRM over the visits (Kenward-Roger df), in efficacy_*.parquet.

    Example: trialkit biomarkers --param ALB --param PTA --test wilcoxon --adjust holm
    Example: trialkit biomarkers --param ALT --model ancova --visit "Week 24" --covariate SITEGR1
    """
    from trialkit.analyses.ard import AnalysisMeta, biomarkers_ard
    from trialkit.analyses.biomarkers.pipeline import analyse_biomarkers, parse_derive, results_json
    from trialkit.analyses.groups import arms_of, select_arms
    from trialkit.analyses.populations import parse_subgroup, select_subjects

    from .analysis import refuse_other_analysis_under_name, resolve_analysis
    from .workspace import Stage, read_manifest

    subgroups = [parse_subgroup(s) for s in subgroup or []]
    ws = workspace_from(ctx, workspace)
    with Stage(ws, "biomarkers", {}) as stage:
        adlb, adsl = stage.read("adlb", keep=False), stage.read("adsl")
        subjects, selection = select_subjects(adsl, "biomarkers", population, subgroups)
        changed = {"population": selection.population if selection.population_source == "option" else None,
                   "subgroup": [f"{s.variable}={s.value}" for s in subgroups], "param": param or None,
                   "arm": arm or None, "derive": derive, "test": test.value if test is not Test.t else None,
                   "adjust": adjust.value if adjust is not Adjust.none else None,
                   "model": model.value if model else None, "visit": visit, "covariate": covariate or None,
                   "weights": weights.value if weights is not Weights.equal else None,
                   "cov": cov.value if model is Model.mmrm and cov is not Cov.us else None,
                   "ddfm": ddfm.value if model is Model.mmrm and ddfm is not Ddfm.kr else None,
                   "impute": impute.value if impute else None}
        target = resolve_analysis(ws, "biomarkers", name, {k: v for k, v in changed.items() if v})
        options = {"param": param or None, "arm": arm or None, "derive": derive, "test": test.value,
                   "adjust": adjust.value, "population": population, "subgroup": subgroup or None, "name": name,
                   "model": model.value if model else None, "visit": visit, "covariate": covariate or None,
                   "weights": weights.value, "cov": cov.value, "ddfm": ddfm.value,
                   "impute": impute.value if impute else None}
        if name is not None:
            refuse_other_analysis_under_name(ws, target.name, options, ("param", "arm", "derive", "test", "adjust",
                                                                       "population", "subgroup", "model", "visit",
                                                                       "covariate", "weights", "cov", "ddfm", "impute"))
        stage.set_analysis(target, options, selection.to_dict())
        chosen = select_arms(arms_of(adsl), arm)
        efficacy = None
        if model is not None:
            from trialkit.analyses.biomarkers.efficacy import EfficacySettings

            covariates = tuple(dict.fromkeys(("BASE", *(covariate or []))))  # BASE always, each once
            efficacy = EfficacySettings(model.value, visit, covariates, weights.value, cov.value, ddfm.value,
                                        impute.value if impute else None)
        derivations = parse_derive(derive, adlb)
        handed = [adlb]
        del adlb  # the stage holds the only reference, so ADLB as read is freed once its derived copy exists
        res = analyse_biomarkers(handed.pop(), subjects, chosen, params=param, derive=derivations,
                                 test=test.value, adjust=adjust.value, efficacy=efficacy)
        stage.clear_folder(target.folder)
        for table, frame in res.tables().items():
            stage.write_output("biomarkers", table, frame, folder=target.folder)
        if plot:
            figures = _write_figures(stage, res, target, per_parameter=list(res.params) if param else [])
        elif stage.same_as_recorded():
            figures = read_manifest(ws).get("analyses", {}).get(target.name, {}).get("figures", [])
            for rel in figures:
                stage.keep(rel)
        else:
            figures = []
        stage.analysis["figures"] = figures
        report = results_json(res, figures)
        report["analysis"] = {"name": target.name, "primary": target.primary, "folder": target.folder,
                              **selection.to_dict()}
        stage.write_json(target.path("biomarkers.json"), report)
        stage.write_ard(biomarkers_ard(res, AnalysisMeta(target.name, population=selection.population_label,
                                                         subgroup=selection.subgroup_label, options=stage.options)))
        with rendered() as output:  # before the commit: printing cannot fail after it
            if format is Format.json:
                emit_json(report)
            elif format is Format.csv:
                tables = res.tables()
                emit_csv({k: tables[k] for k in ("summaries", "within", "between", "models", "marginal_means")})
            else:
                _print_summary(ws, res, figures, target, selection)
    output.emit()


def _write_figures(stage, res, target, per_parameter: list[str]) -> list[str]:
    from trialkit.analyses.biomarkers.figures import draw_figures

    written = []
    for stem, files in draw_figures(res.data, res.summaries, res.within, res.between, list(res.params),
                                    [a.label for a in res.arms], adjust=res.adjust, per_parameter=per_parameter):
        for ext in ("png", "svg"):
            path = target.path(f"figures/{stem}.{ext}")
            stage.write_bytes(path, files[ext])
            written.append(path)
    if res.efficacy is not None:
        from trialkit.analyses.biomarkers.efficacy import draw_efficacy_figures

        labels = dict(res.data.select("PARAMCD", "PARAM").drop_nulls().unique("PARAMCD", keep="first").rows())
        for stem, files in draw_efficacy_figures(res.efficacy, [a.label for a in res.arms], labels):
            for ext in ("png", "svg"):
                path = target.path(f"figures/{stem}.{ext}")
                stage.write_bytes(path, files[ext])
                written.append(path)
    return written


def _print_efficacy(out, eff) -> None:
    """The efficacy model at its primary visit: LS means, differences against the reference, the tests."""
    import polars as pl

    from trialkit.analyses.formatting import decimals_for, format_ci, format_p

    from .tables import Table, print_table

    conf = f"{eff.settings.conf_level:.0%}"
    for m in eff.models.iter_rows(named=True):
        param, visit = m["param"], m["visit"]
        at = pl.col("visit").is_null() | (pl.col("visit") == visit)
        means = eff.lsmeans.filter((pl.col("param") == param) & at)
        diffs = {r["group"]: r for r in eff.contrasts.filter(
            (pl.col("param") == param) & at & (pl.col("comparison") == "vs reference")).iter_rows(named=True)}
        dec = decimals_for([*means["estimate"].to_list(), *(r["estimate"] for r in diffs.values())])
        what = (f"ANCOVA, {visit}" if m["model"] == "ancova"
                else f"MMRM ({m['cov_structure']}, {m['ddfm']}), {visit} of {m['n_visits']} visits")
        adjusted = next((d["adjust"] for d in diffs.values() if d["adjust"] not in (None, "none")), None)
        table = Table(f"{param}: LS mean change from baseline ({what}; {m['impute']})",
                      ["group", "n", f"LS mean ({conf} CI)", f"vs reference ({conf} CI)", "p"])
        for r in means.iter_rows(named=True):
            d = diffs.get(r["group"])
            table.add_row(r["group"], r["n"], format_ci(r["estimate"], r["lower"], r["upper"], dec),
                          format_ci(d["estimate"], d["lower"], d["upper"], dec) if d else "reference",
                          format_p(d["p"]) if d else "")
        print_table(out, table)
        if adjusted:  # a line, not a column: the table stays within 80 columns
            out.print(f"{adjusted.capitalize()}-adjusted p: "
                      + ", ".join(f"{safe(g)} {format_p(d['p_adjusted'])}" for g, d in diffs.items()))
        tests = eff.tests.filter(pl.col("param") == param)
        lines = [f"{r['term']}: F({r['num_df']:.4g}, {r['den_df']:.4g}) = {r['f']:.3g}, p {format_p(r['p'])}"
                 for r in tests.iter_rows(named=True)]
        dose = eff.dose_response.filter(pl.col("param") == param)
        if dose.height:
            lines.append(f"dose-response (TRT01AN as a number): t = {dose['t'][0]:.3g}, p {format_p(dose['p'][0])}")
        fit = f"{m['n_subjects']} subjects, {m['n_records']} records"
        if m["model"] == "mmrm":
            fit += f"; REML {'converged' if m['converged'] else 'did NOT converge'} in {m['iterations']} iterations"
        out.print(f"Type III tests ({safe(fit)}):")
        for line in lines:
            out.print(f"  {safe(line)}")


def _print_summary(ws, res, figures: list[str], target, selection) -> None:
    import polars as pl

    from trialkit.analyses.formatting import decimals_for, format_p, format_signed

    from .tables import Table, print_table

    out = stdout()
    pooled = res.within.filter(pl.col("arm") == "All")
    visits = pooled.select("visitn", "visit").unique(subset="visitn").sort("visitn").rows()
    use = "p_adj" if res.adjust != "none" else "p"
    table = Table(f"Mean change from baseline, all groups pooled ({pooled.get_column('test')[0] if pooled.height else ''}"
                  f"; * {use} < 0.05)", ["param", *(label for _, label in visits)])
    for param in res.params:
        cells = {r["visitn"]: r for r in pooled.filter(pl.col("param") == param).iter_rows(named=True)}
        decimals = decimals_for(r["mean_change"] for r in cells.values())
        row = [param]
        for vn, _ in visits:
            r = cells.get(vn)
            if r is None or r["mean_change"] is None:
                row.append("")
                continue
            star = "*" if r[use] is not None and r[use] < 0.05 else ""
            row.append(format_signed(r["mean_change"], decimals) + star)
        table.add_row(*row)
    print_table(out, table)
    models = Table("Longitudinal model: CHG ~ BASE + group * visit, subject random intercept (REML)",
                   ["param", "records", "subjects", "group x visit p", "group p", "note"], left=("note",))
    for r in res.models.iter_rows(named=True):
        models.add_row(r["param"], r["n_obs"], r["n_subjects"], format_p(r["interaction_p"]), format_p(r["group_p"]),
                       r["note"] or "")
    print_table(out, models)
    if res.efficacy is not None:
        _print_efficacy(out, res.efficacy)
    for r in res.score_compared.iter_rows(named=True):
        out.print(f"Score check: {safe(r['REPORTED'])} vs derived {safe(r['DERIVED'])}: {r['N_DISAGREE']} of "
                  f"{r['N_COMPARED']} subject-visits disagree"
                  + (f" (listed in {safe(target.folder)}/score_check.parquet)" if r["N_DISAGREE"] else ""))
    missing = res.baseline.filter((pl.col("N_NO_BASELINE") > 0) & pl.col("PARAMCD").is_in(list(res.params)))
    for r in missing.iter_rows(named=True):
        out.print(f"[yellow]Note:[/] {safe(r['PARAMCD'])}: {r['N_NO_BASELINE']} subject(s) without baseline; "
                  f"{r['N_RECORDS_NO_CHG']} record(s) kept without CHG")
    if res.base_check.height:
        out.print(f"[yellow]Note:[/] {res.base_check.height} record(s) where the delivered BASE differs from the "
                  f"recomputed one ({safe(target.folder)}/base_check.parquet)")
    for r in res.skipped.iter_rows(named=True):
        out.print(f"[dim]Not analysed: {safe(r['PARAMCD'])} ({safe(r['REASON'])})[/]")
    for note in res.notes:
        out.print(f"[dim]Note: {safe(note)}[/]")
    out.print(f"Analysis {safe(target.name)}" + (" (primary)" if target.primary else "")
              + f"; population {safe(selection.description)}")
    out.print(f"Wrote {safe(ws)}/{safe(target.folder)}/: {len(res.tables())} Parquet tables, biomarkers.json"
              + (f", {len(figures)} figure files" if figures else "") + ".")
