"""The report's list of the workspace's other analyses: subsets, populations, subgroups and other methods.

Each stage section shows the stage's primary analysis; every other analysis in
``manifest.json`` is listed here with its population, subgroup and the command
that made it, and its headline numbers, so a reader never mistakes one for the
trial's primary result.
"""

from __future__ import annotations

from typing import Any, Mapping

import polars as pl

from trialkit.analyses.formatting import DECIMALS, format_number, format_p
from trialkit.analyses.report.html import Numbering, gt_table, section
from trialkit.analyses.report.model import AnalysisOutput, ReportInputs

__all__ = ["headline", "extra_analyses_section", "extra_analyses_markdown"]


def _survival_headline(j: Mapping[str, Any]) -> str:
    arms = j.get("arms") or []
    counts = "; ".join(f"{a.get('arm')}: {a.get('events')}/{a.get('n')} events" for a in arms)
    lr = j.get("logrank")
    test = ""
    if lr and lr.get("p") is not None:
        test = f"; {lr.get('test', 'log-rank')} chi-square {format_number(lr.get('chisq'), DECIMALS['statistic'])}, p {format_p(lr.get('p'))}"
    return f"{j.get('endpoint', '?')}: {counts}{test}"


def _safety_headline(j: Mapping[str, Any]) -> str:
    rows = [r for r in j.get("overview") or [] if str(r.get("category", "")).lower().startswith("any teae")]
    if not rows:
        return "no TEAE overview"
    return "any TEAE: " + "; ".join(f"{r.get('arm')} {r.get('subjects')} ({format_number(r.get('percent'), DECIMALS['percent'])}%)" for r in rows)


def _biomarkers_headline(j: Mapping[str, Any]) -> str:
    models = j.get("models") or []
    params = sorted({m.get("param") for m in models if m.get("param")})
    return f"{len(params)} parameter(s) modelled: {', '.join(params)}" if params else "no model fitted"


def headline(a: AnalysisOutput) -> str:
    """The analysis' main numbers in one line (from its JSON), or why there are none."""
    j = a.output.json
    if not j:
        return f"{a.stage}.json is absent"
    return {"survival": _survival_headline, "safety": _safety_headline,
            "biomarkers": _biomarkers_headline}.get(a.stage, lambda _j: "")(j)


def extra_analyses_section(inputs: ReportInputs, num: Numbering) -> str:
    """Table of the other analyses (empty string when there are none)."""
    if not inputs.extra_analyses:
        return ""
    df = pl.DataFrame({
        "analysis": [a.name for a in inputs.extra_analyses],
        "stage": [a.stage for a in inputs.extra_analyses],
        "population": [a.selection or (a.population or "all subjects") for a in inputs.extra_analyses],
        "subgroup": [a.subgroup or "–" for a in inputs.extra_analyses],
        "results": [headline(a) for a in inputs.extra_analyses],
        "command": [a.command for a in inputs.extra_analyses],
    })
    intro = ("<p>The sections above show each stage's primary analysis (the default population, every group, the "
             "default endpoint and method). These further analyses were run in the same workspace; each has its own "
             "folder, and none of them is the trial's primary result.</p>")
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
        lines.append(f"- **{md_escape(a.name)}** ({a.stage}; {md_escape(pop)}): {md_escape(headline(a))}"
                     f" — `{a.command}`")
    return lines
