"""The report's sections that do not belong to one analysis stage, and the whole HTML document.

Sections: study and data provenance, baseline characteristics (Table 1),
claims check, methods (from the settings the stages recorded), and the
reproducibility footer. ``render_html`` assembles them with the stage
sections of ``report_stages``.
"""

from __future__ import annotations

from typing import Any, Mapping

import polars as pl

from trialkit.analyses.claims import NOT_EVALUABLE, NOT_REPRODUCED, REPRODUCED, REPRODUCED_BY_CONSTRUCTION, STAGES
from trialkit.analyses.groups import arms_of
from trialkit.analyses.report.html import Numbering, esc, gt_table, missing_box, page, section
from trialkit.analyses.report.extra import extra_analyses_section
from trialkit.analyses.report.model import ReportInputs, stage_command
from trialkit.analyses.report.stages import biomarkers_section, safety_section, survival_section
from trialkit.analyses.report.table1 import baseline_characteristics
from trialkit.analyses.timescale import time_label

__all__ = ["REPORT_FILES", "BY_CONSTRUCTION_NOTE", "render_html", "header_html", "provenance_section", "table1_section",
           "claims_section", "methods_section", "footer_html", "output_files"]

#: what "reproduced by construction" shows and does not show (the report's summary and claims section)
BY_CONSTRUCTION_NOTE = (
    "Reproduced by construction: the data are synthetic, generated until the published claims hold. That the "
    "claims come out shows that trialkit computes the published statistics correctly from data with the "
    "published features; it does not show that the paper's patients had them.")

#: the report's own outputs, never listed as inputs (they would change the report that lists them)
REPORT_FILES = ("report.html", "report.md")


def _subjects_line(inputs: ReportInputs) -> str:
    if inputs.adsl is None or "TRT01A" not in inputs.adsl.columns:
        return ""
    arms = arms_of(inputs.adsl)
    counts = ", ".join(f"{a.label} {inputs.adsl.filter(pl.col('TRT01A') == a.label).height}" for a in arms)
    return f"{inputs.adsl.height} in {len(arms)} groups ({counts})"


def synthetic_origin(inputs: ReportInputs) -> str:
    """Where synthetic data came from, for the banner: the built-in trial, a negative control, or a generator."""
    studies = ", ".join(inputs.study_ids)
    if inputs.builtin:
        return (f"This workspace holds trialkit's built-in seed trial (STUDYID {studies}): every subject, value, event "
                "and death was made up by a seeded generator to mirror the design"
                + (" and the published results of the trial." if inputs.claims is not None else " of a real trial."))
    if inputs.negative_control:
        return (f"This workspace holds a negative control (STUDYID {studies}): data made up by a seeded generator with "
                "effects that contradict the published claims, so that a claims check is seen to fail on it.")
    return f"The data are marked synthetic (STUDYID {studies}): made up by a generator, not observed."


def header_html(inputs: ReportInputs, version: str) -> str:
    """Title block, the synthetic-data banner, and the verdict summary: the report's first screen."""
    origin = (inputs.ingest or {}).get("origin", "unknown")
    stamp = inputs.timestamp or "SOURCE_DATE_EPOCH not set"
    meta = [("Study", ", ".join(inputs.study_ids) or "STUDYID absent"), ("Data", origin),
            ("Subjects", _subjects_line(inputs)), ("Generated", stamp)]
    out = [f'<header><p class="kicker">Reanalysis report · trialkit {esc(version)}</p><h1>{esc(inputs.title)}</h1>',
           '<p class="meta">' + " · ".join(f"<b>{esc(k)}</b> {esc(v)}" for k, v in meta if v) + "</p></header>\n"]
    if inputs.synthetic:
        out.append('<div class="banner" role="note"><strong>Synthetic data — not real patients.</strong> '
                   f"{esc(synthetic_origin(inputs))} Do not cite any number in this report as a clinical result.</div>\n")
    if inputs.reconstructed:
        out.append(
            '<div class="banner" role="note"><strong>Reconstructed data — not the trial\'s patient data.</strong> '
            f"Every subject here was reconstructed from published Kaplan-Meier curves by the Guyot et al. (2012) "
            f"algorithm ({esc(inputs.reconstructed)}): every number below is an approximation of the trial's, "
            "and only time-to-event results can be meaningful.</div>\n")
    boxes = []
    by_construction = False
    if inputs.claim_results is not None:
        verdicts = [r.verdict for r in inputs.claim_results]
        by_construction = REPRODUCED_BY_CONSTRUCTION in verdicts
        passed = (("claims reproduced by construction (synthetic data)", REPRODUCED_BY_CONSTRUCTION)
                  if by_construction else ("claims reproduced", REPRODUCED))
        for label, verdict, cls in (passed + ("ok",), ("not reproduced", NOT_REPRODUCED, "bad"),
                                    ("not evaluable", NOT_EVALUABLE, "na")):
            boxes.append(f'<div class="{cls}"><span class="n">{verdicts.count(verdict)}</span>{esc(label)}</div>')
    else:
        boxes.append('<div class="na"><span class="n">–</span>no claims file: no claim checked</div>')
    ran = [s for s in STAGES if s in inputs.stages]
    missing = [s for s in STAGES if s not in inputs.stages]
    boxes.append(f'<div><span class="n">{len(ran)}/{len(STAGES)}</span>analysis stages run'
                 + (f" (missing: {esc(', '.join(missing))})" if missing else "") + "</div>")
    out.append('<div class="verdicts">' + "".join(boxes) + "</div>\n")
    if by_construction:
        out.append(f'<p class="meta">{esc(BY_CONSTRUCTION_NOTE)}</p>\n')
    return "".join(out)


def provenance_section(inputs: ReportInputs, num: Numbering) -> str:
    """Input files with SHA-256 and row counts, and the validation summary."""
    ingest = inputs.ingest or {}
    parts = [f"<p>Data ingested from <b>{esc(ingest.get('origin', 'unknown'))}</b> with <code>trialkit ingest</code>; "
             "every dataset is stored as Parquet in the workspace with the SHA-256 of the file it came from.</p>"]
    files = inputs.manifest.get("files", {})
    rows = []
    for d in ingest.get("datasets", []):
        shas = {label: sha for f, label, sha in inputs.sources if f == d.get("file")}
        kept = files.get(d.get("file"), {}).get("rows")
        for label in d.get("sources", []) or [""]:
            rows.append({"dataset": d.get("dataset", ""), "source": label, "sha": shas.get(label, "not recorded"),
                         "rows": str(d.get("rows", "")), "kept": "" if kept is None else str(kept),
                         "cols": str(d.get("columns", ""))})
    if rows:
        t = num.table()
        parts.append(gt_table(pl.DataFrame(rows), f"tbl-{t}", t, "Input data: source files, their SHA-256, and row counts.",
                              labels={"dataset": "Dataset", "source": "Source file", "sha": "SHA-256 of the source file",
                                      "rows": "Rows read", "kept": "Rows kept", "cols": "Vars"},
                              right=["rows", "kept", "cols"], mono=["sha"],
                              widths={"dataset": "9%", "source": "25%", "sha": "42%", "rows": "8%", "kept": "9%",
                                      "cols": "7%"},
                              notes=["Rows kept: in the workspace after trialkit validate moved rows that break a schema rule "
                                     "to quarantine/ (manifest.json); Vars: number of variables."]))
    else:
        parts.append(missing_box("The workspace records no ingested dataset.", f"trialkit ingest --workspace {inputs.workspace_arg}"))
    parts.append(_validation(inputs, num))
    return section("provenance", "Study and data provenance", "".join(parts), num)


def _validation(inputs: ReportInputs, num: Numbering) -> str:
    v = inputs.validation
    if v is None:
        return missing_box("The workspace has not been validated.", f"trialkit validate --workspace {inputs.workspace_arg}")
    rows = [{"dataset": d.get("dataset", ""), "input": str(d.get("input_rows", "")), "kept": str(d.get("kept_rows", "")),
             "quar": str(d.get("quarantined_rows", "")), "skipped": ", ".join(d.get("rules_skipped") or []) or "–"}
            for d in v.get("datasets", [])]
    violations = v.get("violations") or []
    held = v.get("quarantined") or []
    if v.get("workspace_clean"):
        verdict = "Every dataset satisfies its schema (trialkit validate)."
    elif not violations and held:
        verdict = (f"The kept rows satisfy every schema; {sum(q.get('rows', 0) for q in held)} row(s) quarantined by "
                   "an earlier trialkit validate run (" + ", ".join(f"{q.get('dataset', '')} {q.get('rows', 0)}" for q in held)
                   + ") are not analysed.")
    else:
        verdict = (f"trialkit validate found {len(violations)} rule violation(s); the rows that broke a row-level rule "
                   "were moved to quarantine/ and are not analysed.")
    t = num.table()
    notes = [f"{x.get('dataset', '')} {x.get('rule', '')} ({x.get('column', '')}): {x.get('n_rows', '')} row(s) — "
             f"{x.get('description', '')}" for x in violations[:10]]
    if len(violations) > 10:
        notes.append(f"... and {len(violations) - 10} more (validation.json)")
    return (f"<p>{esc(verdict)}</p>" +
            gt_table(pl.DataFrame(rows, schema={k: pl.String for k in ("dataset", "input", "kept", "quar", "skipped")}),
                     f"tbl-{t}", t, "Validation summary (validation.json).",
                     labels={"dataset": "Dataset", "input": "Rows checked", "kept": "Kept", "quar": "Quarantined",
                             "skipped": "Rules skipped (variables absent)"},
                     right=["input", "kept", "quar"], notes=notes))


def table1_section(inputs: ReportInputs, num: Numbering) -> str:
    """Baseline characteristics by group (Table 1: the variables of ``inputs.table1_variables`` or the default)."""
    if inputs.adsl is None:
        body = missing_box("ADSL is absent from the workspace.", f"trialkit ingest --workspace {inputs.workspace_arg}")
        return section("baseline", "Baseline characteristics", body, num)
    table = inputs.table1
    if table is None:
        variables = list(inputs.table1_variables) if inputs.table1_variables else None
        table = baseline_characteristics(inputs.adsl, inputs.adlb, None, variables)
    ids = {label: f"g{i}" for i, (label, _n) in enumerate(table.groups)}
    wide = (table.display.with_columns(pl.col("group").replace_strict(ids, return_dtype=pl.String))
            .pivot(on="group", index=["label", "row", "order"], values="value").sort("order").drop("order"))
    t = num.table()
    body = gt_table(wide, f"tbl-{t}", t, "Baseline characteristics by group.",
                    rowname_col="row", groupname_col="label",
                    labels={ids[k]: f"{k} (N\u00a0=\u00a0{n})" for k, n in table.groups}, right=list(ids.values()),
                    notes=["Continuous variables: n, mean (SD), median, Q1, Q3 (quartiles interpolated as R's default "
                           "type 7), min, max; categorical variables: n (%) of the group's subjects, categories in "
                           "ADSL's order (its *N variable when present).",
                           "Baseline laboratory value: the ADLB record flagged ABLFL = \"Y\" (without ABLFL, the last "
                           "value on or before day 1). Child-Pugh class from the baseline Child-Pugh score: A 5–6, "
                           "B 7–9, C 10–15.",
                           f"Population: {table.population}. Groups: {table.group_description}."])
    return section("baseline", "Baseline characteristics", body, num)


def claims_section(inputs: ReportInputs, num: Numbering) -> str:
    """The claims check: each claim's checks with published value, reanalysis value and verdict."""
    if inputs.claim_results is None:
        body = f"<p>{esc(inputs.claims_note)}</p>"
        return section("claims", "Claims check", body, num)
    cf = inputs.claims
    results = inputs.claim_results
    if not results:  # a claims file of consistency claims only
        body = (f"<p>The claims file <code>{esc(cf.path)}</code> holds no claim about the data: only the published "
                "numbers' consistency with each other is checked.</p>" + _consistency_table(inputs, num))
        return section("claims", "Claims check", body, num)
    counts = {v: sum(r.verdict == v for r in results)
              for v in (REPRODUCED, REPRODUCED_BY_CONSTRUCTION, NOT_REPRODUCED, NOT_EVALUABLE)}
    passed = (f"{counts[REPRODUCED_BY_CONSTRUCTION]} reproduced by construction"
              + (f", {counts[REPRODUCED]} reproduced" if counts[REPRODUCED] else "")
              if counts[REPRODUCED_BY_CONSTRUCTION] else f"{counts[REPRODUCED]} reproduced")
    intro = (f"<p>{len(results)} claim(s) from <code>{esc(cf.path)}</code>"
             + (f" ({esc(cf.reference)})" if cf.reference else "") +
             f": <b>{passed}</b>, {counts[NOT_REPRODUCED]} not reproduced, "
             f"{counts[NOT_EVALUABLE]} not evaluable. A claim is reproduced when every one of its checks holds.</p>")
    if inputs.by_construction:
        intro += (f"<p>{esc(BY_CONSTRUCTION_NOTE)} A claim not reproduced here would point at a bug in the "
                  "generator (or in trialkit), not at the paper.</p>")
    has_power = any(c.power_text for r in results for c in r.checks)
    rows, where = [], []
    for r in results:
        group = f"Claim {r.claim.id} — {r.verdict}. “{r.claim.text}”" + (
            f" Published: {r.claim.published}." if r.claim.published else "")
        for j, c in enumerate(r.checks, start=1):
            label = c.check.label or f"check {j}"
            row = {"group": group, "check": label, "published": c.check.expected, "reanalysis": c.observed_text,
                   "verdict": c.verdict + (f": {c.reason}" if c.reason else "")}
            if has_power:
                row["power"] = c.power_text or "–"
            rows.append(row)
            where.append({"claim": f"{r.claim.id}.{j}", "check": label, "where": c.check.location})
    t = num.table()
    table = gt_table(pl.DataFrame(rows), f"tbl-{t}", t, "Published claims checked against the reanalysis.",
                     groupname_col="group",
                     labels={"check": "Check", "published": "Published value (criterion)",
                             "reanalysis": "Reanalysis value", "verdict": "Verdict",
                             "power": "Power for the stated effect"},
                     verdict_col="verdict",
                     widths=({"check": "20%", "published": "18%", "reanalysis": "17%", "verdict": "25%", "power": "20%"}
                             if has_power else
                             {"check": "26%", "published": "22%", "reanalysis": "20%", "verdict": "32%"}),
                     notes=["Reproduced: the comparison holds; reproduced by construction: it holds on synthetic data "
                            "generated to have the published features; not reproduced: the number was found and the "
                            "comparison fails; not evaluable: the number could not be found (the reason says why).",
                            *(["Power: the chance the comparison made had of detecting the stated effect at its "
                               "significance level (formula, and by seeded simulation where asked), so that a "
                               "result that is not significant reads for what it is."] if has_power else []),
                            f"Where each number comes from: Table {t + 1}."])
    t = num.table()
    table += gt_table(pl.DataFrame(where), f"tbl-{t}", t, "Where each checked number comes from in the stages' results.",
                      labels={"claim": "#", "check": "Check", "where": "Stage output [row selectors] field"},
                      mono=["where"], widths={"claim": "6%", "check": "32%", "where": "62%"},
                      notes=["JSON: <stage>/<stage>.json, key; Parquet: <stage>/<table>.parquet. 'all of' / 'sum of': "
                             "every matching row is compared, or their sum."])
    return section("claims", "Claims check", intro + table + _consistency_table(inputs, num), num)


def _consistency_table(inputs: ReportInputs, num: Numbering) -> str:
    """The consistency claims (``kind = "consistency"``): each rule's verdict on the published numbers alone."""
    if not inputs.consistency:
        return ""
    from trialkit.analyses.consistency import CONSISTENT, INCONSISTENT, NOT_CHECKABLE, consistency_table

    frame = consistency_table(inputs.consistency)
    counts = {v: frame.filter(pl.col("verdict") == v).height for v in (CONSISTENT, INCONSISTENT, NOT_CHECKABLE)}
    intro = (f"<p>{frame.height} published number(s) checked against each other, without patient data: "
             f"<b>{counts[CONSISTENT]} consistent</b>, {counts[INCONSISTENT]} inconsistent, "
             f"{counts[NOT_CHECKABLE]} not checkable.</p>")
    t = num.table()
    rows = frame.select(pl.concat_str([pl.col("id"), pl.lit(": "), pl.col("text")]).alias("claim"), "rule",
                        "reported", pl.concat_str([pl.col("verdict"), pl.lit(": "), pl.col("explanation")]).alias("verdict"))
    return intro + gt_table(rows, f"tbl-{t}", t, "Consistency of the published numbers (from the paper alone).",
                            labels={"claim": "Claim", "rule": "Rule", "reported": "Reported", "verdict": "Verdict"},
                            verdict_col="verdict", mono=["rule"],
                            widths={"claim": "24%", "rule": "11%", "reported": "22%", "verdict": "43%"},
                            notes=["Rules: grim (a percentage or mean possible for n), grimmer (an SD possible for n "
                                   "and the mean), km (a Kaplan-Meier estimate some pattern of deaths and censorings "
                                   "in n reaches), statcheck (a p-value recomputed from its test statistic and df), "
                                   "hr_ci / diff_ci (an estimate, its confidence interval and p agree). Consistent "
                                   "does not mean correct: it means the numbers can all be true together."])


def _flat(value: Any) -> str:
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_flat(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_flat(v) for v in value)
    if value is None:
        return "none"
    return str(value)


def _dl(items: Mapping[str, Any]) -> str:
    return '<dl class="methods">' + "".join(
        f"<dt>{esc(str(k).replace('_', ' '))}</dt><dd>{esc(_flat(v))}</dd>" for k, v in items.items()) + "</dl>"


def _prose(name: str, r: Mapping[str, Any]) -> str:
    """One or two sentences from the recorded settings (only what was recorded)."""
    g = lambda k: r.get(k)  # noqa: E731
    out = []
    if name == "survival":
        if g("conf_type"):
            lvl = g("conf_level")
            out.append(f"Kaplan-Meier estimates by group with {g('conf_type')} confidence limits"
                       + (f" at the {100 * float(lvl):g}% level" if isinstance(lvl, (int, float)) else "") + ".")
        if g("rho") is not None:
            out.append("Groups compared with the " + ("log-rank test" if not g("rho") else f"G-rho test (rho = {g('rho')})")
                       + ", pairwise log-rank tests with Holm adjustment and a trend test"
                       + (f" (scores {g('trend_scores')})" if g("trend_scores") else "") + ".")
        if g("ties"):
            out.append(f"Cox proportional hazards model with {g('ties')} ties"
                       + (f" against {g('reference')}" if g("reference") else "") + ".")
        if isinstance(g("landmark_times"), list):
            times = ", ".join(time_label(float(t), style="long") for t in g("landmark_times")
                              if isinstance(t, (int, float))) or "none"
            out.append(f"Landmark times {times}"
                       + (f" ({g('landmark_times_source')})" if g("landmark_times_source") not in (None, "option") else "")
                       + ".")
        if isinstance(g("rmst_tau"), (int, float)):
            out.append(f"Restricted mean up to day {g('rmst_tau'):g}"
                       + (f" ({g('rmst_tau_source')})" if g("rmst_tau_source") not in (None, "option") else "") + ".")
        if g("extrapolate"):
            out.append("Extrapolation requested (--extrapolate): estimates after a group's last observed time carry "
                       "S(t) forward and are flagged.")
        if g("r_equivalent"):
            out.append(f"R equivalent: {g('r_equivalent')}.")
    elif name == "biomarkers":
        if g("within_test"):
            out.append(f"Change from baseline at each visit tested with the {g('within_test')} test within each group "
                       "and with the groups pooled" + (f"; groups compared at each visit with {g('between_test')}"
                                                       if g("between_test") else "") + ".")
        if g("adjust") is not None:
            out.append("p-values " + ("not adjusted for multiplicity" if str(g("adjust")) == "none"
                                      else f"adjusted across visits ({g('adjust')})") + ".")
        if g("model"):
            out.append(f"Longitudinal model: {g('model')}" + (f", {g('model_formula')}" if g("model_formula") else "") + ".")
    elif name == "safety":
        for k, label in (("population", "Safety population"), ("treatment_emergent", "Treatment-emergent")):
            if g(k):
                out.append(f"{label}: {g(k)}.")
    return f"<p>{esc(' '.join(out))}</p>" if out else ""


def methods_section(inputs: ReportInputs, num: Numbering) -> str:
    """Methods, from the settings and definitions each stage recorded in its JSON."""
    parts = ["<p>This section is written from the options and definitions the stages recorded when they ran "
             "(the <code>settings</code> or <code>definitions</code> of each stage's JSON); nothing here is assumed.</p>"]
    for name, key, title in (("survival", "settings", "Survival"), ("biomarkers", "settings", "Biomarkers"),
                             ("safety", "definitions", "Safety")):
        parts.append(f"<h3>{esc(title)}</h3>")
        stage = inputs.stage(name)
        if stage is None:
            parts.append(missing_box(f"The {name} stage has not run.", stage_command(name, inputs.workspace_arg)))
            continue
        recorded = stage.json.get(key)
        if not recorded:
            parts.append(f"<p>{esc(name)}.json records no <code>{esc(key)}</code>.</p>")
            continue
        parts.append(_prose(name, recorded))
        if stage.commands:
            parts.append("<p>Run as: " + ", ".join(f"<code>{esc(c)}</code>" for c in stage.commands) + ".</p>")
        parts.append(_dl(recorded))
    return section("methods", "Methods", "".join(parts), num)


def output_files(inputs: ReportInputs) -> pl.DataFrame:
    """Every workspace file in manifest.json but the report's own (any file ``trialkit report`` wrote, which would
    change the report that lists it): command, file, rows, sha256 (sorted)."""
    rows = [{"command": e.get("command") or "unknown", "file": path,
             "rows": "" if e.get("rows") is None else str(e.get("rows")), "sha256": e.get("sha256", "")}
            for path, e in sorted(inputs.manifest.get("files", {}).items())
            if path not in REPORT_FILES and e and not str(e.get("command", "")).startswith("trialkit report")]
    return pl.DataFrame(rows, schema={"command": pl.String, "file": pl.String, "rows": pl.String, "sha256": pl.String})


def footer_html(inputs: ReportInputs, num: Numbering, generator: str) -> str:
    """Reproducibility: versions, the command behind every output, and the timestamp."""
    versions = ", ".join(f"{k} {v}" for k, v in inputs.versions)
    files = output_files(inputs).sort(["command", "file"])
    t = num.table()
    table = gt_table(files, f"tbl-{t}", t, "Workspace outputs, the command that wrote each, and their SHA-256 (manifest.json).",
                     groupname_col="command", labels={"file": "File", "rows": "Rows", "sha256": "SHA-256"},
                     right=["rows"], mono=["sha256"], widths={"file": "42%", "rows": "8%", "sha256": "50%"})
    stamp = (f"Generated {inputs.timestamp} (SOURCE_DATE_EPOCH)." if inputs.timestamp else
             "SOURCE_DATE_EPOCH not set: the report carries no timestamp, so identical inputs give identical bytes.")
    return (f'<footer id="reproducibility"><h2><span class="num">{len(num.toc) + 1}</span> Reproducibility</h2>'
            f"<p>{esc(generator)}. {esc(stamp)}</p><p>Software: {esc(versions)}.</p>{table}</footer>\n")


def render_html(inputs: ReportInputs, version: str) -> str:
    """The self-contained HTML report."""
    num = Numbering()
    body = "".join([
        provenance_section(inputs, num),
        table1_section(inputs, num),
        biomarkers_section(inputs, num),
        survival_section(inputs, num),
        safety_section(inputs, num),
        extra_analyses_section(inputs, num),
        claims_section(inputs, num),
        methods_section(inputs, num),
    ])
    generator = f"trialkit {version}"
    footer = footer_html(inputs, num, generator)
    num.toc.append(("reproducibility", "Reproducibility"))
    return page(inputs.title, header_html(inputs, version), body, num, footer, generator)
