"""The Markdown summary for CI job pages (``trialkit report --format md``).

Short: the claims table, the headline survival, biomarker and safety
numbers under a heading per stage with every note the stage recorded, and
links to the figure files. Data strings are HTML-escaped and
pipes escaped, since job pages render Markdown tables and inline HTML.
"""

from __future__ import annotations

import html
from typing import Any

from trialkit.analyses.claims import NOT_EVALUABLE, NOT_REPRODUCED, REPRODUCED, REPRODUCED_BY_CONSTRUCTION, STAGES
from trialkit.analyses.formatting import DECIMALS, format_number, format_p, format_p_statement
from trialkit.analyses.report.model import ReportInputs, stage_command
from trialkit.analyses.report.stages import stage_notes
from trialkit.analyses.timescale import time_label

__all__ = ["render_markdown", "md_escape"]

_MARK = {REPRODUCED: "✅ reproduced", REPRODUCED_BY_CONSTRUCTION: "☑️ reproduced by construction",
         NOT_REPRODUCED: "❌ not reproduced", NOT_EVALUABLE: "⚠️ not evaluable"}


def md_escape(value: Any) -> str:
    """Text safe in a Markdown table cell: HTML-escaped, pipes and newlines neutralised."""
    text = html.escape("" if value is None else str(value), quote=False)
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ").replace("`", "'")


def _claims(inputs: ReportInputs) -> list[str]:
    if inputs.claim_results is None:
        return [md_escape(inputs.claims_note), ""]
    res = inputs.claim_results
    if not res:  # consistency claims only
        return _consistency(inputs)
    from trialkit.analyses.report.document import BY_CONSTRUCTION_NOTE

    counts = {v: sum(r.verdict == v for r in res) for v in _MARK}
    built = counts[REPRODUCED_BY_CONSTRUCTION]
    passed = (f"{built} of {len(res)} claim(s) reproduced by construction"
              + (f", {counts[REPRODUCED]} reproduced" if counts[REPRODUCED] else "")
              if built else f"{counts[REPRODUCED]} of {len(res)} claim(s) reproduced")
    has_power = any(c.power_text for r in res for c in r.checks)
    out = [f"{passed}, {counts[NOT_REPRODUCED]} not reproduced, "
           f"{counts[NOT_EVALUABLE]} not evaluable (`{md_escape(inputs.claims.path)}`).", ""]
    if built:
        out += [f"> {md_escape(BY_CONSTRUCTION_NOTE)}", ""]
    out += ["| Claim | Check | Published | Reanalysis | Verdict |" + (" Power |" if has_power else ""),
            "| --- | --- | --- | --- | --- |" + (" --- |" if has_power else "")]
    for r in res:
        for i, c in enumerate(r.checks):
            claim = f"{md_escape(r.claim.id)}: {md_escape(r.claim.text)}" if i == 0 else ""
            verdict = _MARK[c.verdict] + (f" ({md_escape(c.reason)})" if c.reason else "")
            out.append(f"| {claim} | {md_escape(c.check.label or c.check.location)} | {md_escape(c.check.expected)} | "
                       f"{md_escape(c.observed_text)} | {verdict} |"
                       + (f" {md_escape(c.power_text) or '–'} |" if has_power else ""))
    return out + [""] + _consistency(inputs)


def _consistency(inputs: ReportInputs) -> list[str]:
    """The consistency claims: rule, reported numbers, verdict and why."""
    if not inputs.consistency:
        return []
    out = ["Published numbers checked against each other (no patient data needed):", "",
           "| Claim | Rule | Reported | Verdict |", "| --- | --- | --- | --- |"]
    for r in inputs.consistency:
        out.append(f"| {md_escape(r.claim.id)}: {md_escape(r.claim.text)} | {md_escape(r.claim.rule)} | "
                   f"{md_escape(r.claim.reported)} | {md_escape(r.verdict)}: {md_escape(r.outcome.explanation)} |")
    return out + [""]


def _survival(inputs: ReportInputs) -> list[str]:
    s = inputs.stage("survival")
    if s is None:
        return [f"- Survival: not run (`{stage_command('survival', inputs.workspace_arg)}`)"]
    j = s.json
    lr = j.get("logrank") or {}
    line = f"- Survival ({md_escape(j.get('endpoint', '?'))}): log-rank {format_p_statement(lr.get('p'))}"
    times = sorted({float(r["time"]) for r in j.get("landmarks") or [] if r.get("time") is not None})
    for t in times:
        vals = [f"{md_escape(r.get('arm'))} {format_number(r.get('survival'), DECIMALS['probability'])}"
                + (" (extrapolated)" if r.get("extrapolated") else "")
                for r in j.get("landmarks") or [] if r.get("time") is not None and float(r["time"]) == t]
        line += f"; S at {time_label(t, style='long')}: " + ", ".join(vals)
    return [line]


def _biomarkers(inputs: ReportInputs) -> list[str]:
    s = inputs.stage("biomarkers")
    if s is None:
        return [f"- Biomarkers: not run (`{stage_command('biomarkers', inputs.workspace_arg)}`)"]
    models = s.json.get("models") or []
    if not models:
        return ["- Biomarkers: biomarkers.json has no models"]
    return ["- Biomarkers, group × visit interaction p: "
            + ", ".join(f"{md_escape(m.get('param'))} {format_p(m.get('interaction_p'))}" for m in models)]


def _safety(inputs: ReportInputs) -> list[str]:
    s = inputs.stage("safety")
    if s is None:
        return [f"- Safety: not run (`{stage_command('safety', inputs.workspace_arg)}`)"]
    out = []
    overview = s.json.get("overview") or []
    for cat in dict.fromkeys(r.get("category") for r in overview):
        vals = [f"{md_escape(r.get('arm'))} {r.get('subjects') if r.get('subjects') is not None else 'n/a'}"
                + (f" ({format_number(r.get('percent'), DECIMALS['percent'])}%)" if r.get("percent") is not None else "")
                for r in overview if r.get("category") == cat]
        out.append(f"- Safety, {md_escape(cat)}: " + ", ".join(vals))
    return out or ["- Safety: safety.json has no overview"]


def _notes(inputs: ReportInputs, name: str) -> list[str]:
    """Every note the stage recorded, as a list under its heading."""
    s = inputs.stage(name)
    return [f"- Note: {md_escape(n)}" for n in stage_notes(name, s.json)] if s is not None else []


def render_markdown(inputs: ReportInputs, version: str) -> str:
    """The Markdown summary."""
    lines = [f"# {md_escape(inputs.title)}", ""]
    if inputs.synthetic:
        from trialkit.analyses.report.document import synthetic_origin

        lines += [f"> **Synthetic data — not real patients.** {md_escape(synthetic_origin(inputs))} Do not cite its "
                  "numbers as clinical results.", ""]
    if inputs.reconstructed:
        lines += ["> **Reconstructed data — not the trial's patient data.** Every subject was reconstructed from "
                  "published Kaplan-Meier curves by the Guyot et al. (2012) algorithm "
                  f"({md_escape(inputs.reconstructed)}): every number below is an approximation of the trial's.", ""]
    lines += [f"Study {md_escape(', '.join(inputs.study_ids))} · data: {md_escape((inputs.ingest or {}).get('origin', '?'))}"
              f" · trialkit {md_escape(version)} · "
              + (f"generated {inputs.timestamp}" if inputs.timestamp else "SOURCE_DATE_EPOCH not set"), "",
              "## Claims", ""]
    lines += _claims(inputs)
    lines += ["## Headline results", ""]
    for name, title, headline in (("survival", "Survival", _survival), ("biomarkers", "Biomarkers", _biomarkers),
                                  ("safety", "Safety", _safety)):
        lines += [f"### {title}", ""] + headline(inputs) + _notes(inputs, name) + [""]
    from trialkit.analyses.report.extra import extra_analyses_markdown

    extra = extra_analyses_markdown(inputs)
    if extra:
        lines += extra[1:] + [""]
    figs = [(f.path, inputs.figure_links.get(f.path)) for name in STAGES if name in inputs.stages
            for f in inputs.stages[name].figures]
    if figs:
        lines += ["## Figures", ""] + [f"- [{md_escape(p)}]({link})" for p, link in figs if link] + [""]
    return "\n".join(lines)
