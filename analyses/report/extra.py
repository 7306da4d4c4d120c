"""The report's list of the workspace's other analyses: subsets, populations, subgroups and other methods.

Each stage section shows the stage's primary analysis; every other analysis in
``manifest.json`` is listed here with its population, subgroup and the command
that made it, and its headline numbers read from the Analysis Results Dataset,
so a reader never mistakes one for the trial's primary result.
"""

from __future__ import annotations

import polars as pl

from trialkit.analyses.formatting import DECIMALS, format_number, format_p
from trialkit.analyses.report.html import Numbering, gt_table, section
from trialkit.analyses.report.model import AnalysisOutput, ReportInputs

__all__ = ["headline", "extra_analyses_section", "extra_analyses_markdown"]


def _values(rows: pl.DataFrame, table: str, stat: str) -> list[tuple[str | None, float | None]]:
    """(group, value) of statistic ``stat`` in the ARD rows of ``table``, in the rows' order."""
    part = rows.filter((pl.col("table") == table) & (pl.col("stat_name") == stat))
    return list(zip(part["group1_level"].to_list(), part["stat"].to_list()))


def _survival_headline(rows: pl.DataFrame) -> str:
    endpoint = next((e for e in rows["endpoint"].to_list() if e), "?")
    n, events = dict(_values(rows, "arms", "n")), dict(_values(rows, "arms", "events"))
    counts = "; ".join(f"{g}: {format_number(events.get(g), 0)}/{format_number(v, 0)} events" for g, v in n.items())
    chisq, p = _values(rows, "tests", "chisq"), _values(rows, "tests", "p")
    test = ""
    if p and p[0][1] is not None:
        method = next(iter(rows.filter(pl.col("table") == "tests")["method"].drop_nulls().to_list()), "") or ""
        name = method.split(" (survdiff")[0] or "log-rank"  # log-rank, G-rho (rho = 1), Fleming-Harrington (0, 1)
        name += ", stratified" if "strata(" in method else ""
        test = f"; {name} chi-square {format_number(chisq[0][1], DECIMALS['statistic'])}, p {format_p(p[0][1])}"
    return f"{endpoint}: {counts}{test}"


def _safety_headline(rows: pl.DataFrame) -> str:
    anyte = rows.filter((pl.col("table") == "overview") & (pl.col("variable_level") == "Any TEAE"))
    if anyte.height == 0:
        return "no TEAE overview"
    subjects = dict(_values(anyte, "overview", "subjects"))
    percent = dict(_values(anyte, "overview", "percent"))
    return "any TEAE: " + "; ".join(f"{g} {format_number(v, 0)} ({format_number(percent.get(g), DECIMALS['percent'])}%)"
                                     for g, v in subjects.items())


def _biomarkers_headline(rows: pl.DataFrame) -> str:
    params = list(dict.fromkeys(e for e in rows.filter(pl.col("table") == "models")["endpoint"].to_list() if e))
    return f"{len(params)} parameter(s) modelled: {', '.join(params)}" if params else "no model fitted"


def headline(a: AnalysisOutput, ard: pl.DataFrame | None) -> str:
    """The analysis' main numbers in one line, read from its rows of the workspace's ARD."""
    rows = ard.filter(pl.col("analysis") == a.name) if ard is not None else None
    if rows is None or rows.height == 0:
        return f"no rows in ard.parquet (re-run {a.command.split(' --', 1)[0]} --name {a.name})"
    return {"survival": _survival_headline, "safety": _safety_headline,
            "biomarkers": _biomarkers_headline}.get(a.stage, lambda _r: "")(rows)


def extra_analyses_section(inputs: ReportInputs, num: Numbering) -> str:
    """Table of the other analyses (empty string when there are none)."""
    if not inputs.extra_analyses:
        return ""
    df = pl.DataFrame({
        "analysis": [a.name for a in inputs.extra_analyses],
        "stage": [a.stage for a in inputs.extra_analyses],
        "population": [a.selection or (a.population or "all subjects") for a in inputs.extra_analyses],
        "subgroup": [a.subgroup or "–" for a in inputs.extra_analyses],
        "results": [headline(a, inputs.ard) for a in inputs.extra_analyses],
        "command": [a.command for a in inputs.extra_analyses],
    })
    intro = ("<p>The sections above show each stage's primary analysis (the default population, every group, the "
             "default endpoint and method). These further analyses were run in the same workspace; each has its own "
             "folder, and none of them is the trial's primary result. Their numbers are read from the workspace's "
             "Analysis Results Dataset (ard.parquet; <code>trialkit results --analysis NAME</code>).</p>")
    table = gt_table(df, "extra-analyses", num.table(), "Other analyses in this workspace: population, subgroup, "
                     "headline results and the command that made each.", mono=["command"],
                     notes=[f"{a.name}: files in {a.folder}/" for a in inputs.extra_analyses])
    return section("other-analyses", "Other analyses", intro + table, num)


def extra_analyses_markdown(inputs: ReportInputs) -> list[str]:
    """Markdown lines listing the other analyses (none when there are none)."""
    if not inputs.extra_analyses:
        return []
    from trialkit.analyses.report.markdown import md_escape

    lines = ["", "### Other analyses", ""]
    for a in inputs.extra_analyses:
        pop = a.selection or a.population or "all subjects"
        lines.append(f"- **{md_escape(a.name)}** ({a.stage}; {md_escape(pop)}): {md_escape(headline(a, inputs.ard))}"
                     f" — `{a.command}`")
    return lines
