"""The report's stage sections: biomarkers, survival and safety, read from what each stage wrote.

Each section reads its stage's JSON (the ``--format json`` contract), its
figures and, where the JSON lacks something, says so. A stage that has not
run is shown as missing with the command that produces it.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping

import polars as pl

from trialkit.analyses.formatting import (DECIMALS, format_cell, MISSING, decimals_for, format_ci, format_median, format_number,
                                         format_p, format_signed)
from trialkit.analyses.report.html import Numbering, esc, figure_html, gt_table, missing_box, section
from trialkit.analyses.report.model import Figure, ReportInputs, StageOutput, stage_command
from trialkit.analyses.survival.endpoint import endpoint_wording
from trialkit.analyses.timescale import time_label

__all__ = ["biomarkers_section", "survival_section", "safety_section", "pivot_by_arm",
           "FIGURE_CAPTIONS", "stage_notes", "NOTE_ROUTES"]

#: the Cox model's treatment term (its rows are labelled by arm)
TREATMENT_TERM = "TRT01A"

#: captions of figures whose file names trialkit's stages use; others are captioned from the file name
#: (the KM figure's caption names its endpoint: ``survival.endpoint.endpoint_wording``)
FIGURE_CAPTIONS = {
    "edish": "eDISH: peak ALT against peak total bilirubin, each as a multiple of the upper limit of normal, per subject.",
    "mdish": "Baseline-relative eDISH (mDISH): peak ALT and bilirubin as multiples of the subject's own baseline.",
    "teae_dotplot": "Most frequent TEAEs: incidence by group and risk difference against the reference group (95% CI).",
    "zph": "Proportional-hazards check: scaled Schoenfeld residuals against time for each term of the Cox model, with a "
           "smooth and its band (R cox.zph, plot.cox.zph); a flat line at the coefficient is what proportional hazards predict.",
    "forest": "Hazard ratios (CI) within each subgroup level, with the treatment-by-subgroup interaction p.",
    "cif": "Cumulative incidence of each event type by group (Aalen-Johansen estimate, competing risks).",
}


def _missing_stage(name: str, inputs: ReportInputs) -> str:
    return missing_box(f"The {name} stage has not run in this workspace.", stage_command(name, inputs.workspace_arg),
                       "This section stays empty until it has; trialkit report never runs a stage itself.")


def _absent(stage: str, keys: Iterable[str]) -> str:
    keys = list(keys)
    if not keys:
        return ""
    return (f'<p class="sans" style="font-size:8.5pt;color:#5a5a5a">{esc(stage)}.json has no '
            + ", ".join(f"<code>{esc(k)}</code>" for k in keys) + "; that part is not shown.</p>")


def _humanize(name: str) -> str:
    return name.replace("_", " ").replace("-", " ").strip().capitalize()


def _caption(fig: Figure, captions: Mapping[str, str]) -> str:
    if fig.name in captions:
        return captions[fig.name]
    if fig.name in FIGURE_CAPTIONS:
        return FIGURE_CAPTIONS[fig.name]
    for prefix, text in (("overview_", "mean ± SE by visit and group"),
                         ("trajectories_", "individual trajectories by group")):
        if fig.name.startswith(prefix):
            return f"{_humanize(fig.name[len(prefix):])}: {text}."
    return _humanize(fig.name) + "."


def _figures(stage: StageOutput, inputs: ReportInputs, num: Numbering, names: Iterable[str] | None = None,
             captions: Mapping[str, str] | None = None) -> str:
    figs = stage.figures if names is None else [f for f in stage.figures if f.name in set(names)]
    out = []
    for fig in figs:
        n = num.figure()
        out.append(figure_html(fig, n, _caption(fig, captions or {}), inputs.figure_links.get(fig.path)))
    return "".join(out)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format_cell(key, value)
    if isinstance(value, (list, tuple, dict)):
        return str(value)
    return str(value)


_EXTRAPOLATED = "†"  # dagger: marks a landmark or RMST computed past the group's follow-up


def _flag(record: Mapping[str, Any]) -> str:
    return _EXTRAPOLATED if record.get("extrapolated") else ""


def _arm_ids(labels: list[str]) -> dict[str, str]:
    return {label: f"g{i}" for i, label in enumerate(labels)}


# --------------------------------------------------------------------------- stage notes
#: Where each note a stage records is shown: the first (place, phrases) whose phrase occurs in the note wins.
#: A place is a table or figure of the stage's section; a note that matches none, or whose table is not
#: shown, goes under the section's first table. No note is ever dropped.
NOTE_ROUTES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "survival": (("zph", ("proportional hazards",)),
                 ("competing", ("competing", "event type", "cumulative incidence", "Gray")),
                 ("forest", ("forest", "subgroup level")),
                 ("cox", ("Cox: ", "Cox model")),
                 ("km", ("after the last follow-up", "is extrapolated", "RMST", "is left out", "one group"))),
    "biomarkers": (("figures", ("figure ",)),
                   ("models", ("model",)),
                   ("change", ("adjusted for multiplicity", "no ADLB records", "without baseline", "BASE"))),
    "safety": (("dotplot", ("figure teae_dotplot",)),
               ("liver_figures", ("figure edish", "figure mdish")),
               ("incidence", ("only one group", "--min-percent")),
               ("severity", ("AESEV",)),
               ("liver", ("liver", "Hy's law"))),
}


def stage_notes(name: str, j: Mapping[str, Any]) -> list[str]:
    """Every note a stage recorded in its JSON, once each, in order.

    Besides ``notes``, the biomarkers stage records what its CLI reports as
    notes in data keys: parameters not analysed (``skipped``), subjects
    without a baseline (``baseline``), delivered BASE values that differ from
    the recomputed ones (``base_check``) and reported scores that disagree
    with the derived ones (``score_check``).
    """
    notes = [str(n) for n in j.get("notes") or [] if n is not None and str(n).strip()]
    if name == "biomarkers":
        params = set((j.get("settings") or {}).get("params") or [])
        for r in j.get("baseline") or []:
            if (r.get("N_NO_BASELINE") or 0) > 0 and (not params or r.get("PARAMCD") in params):
                notes.append(f"{r.get('PARAMCD')}: {r.get('N_NO_BASELINE')} subject(s) without baseline; "
                             f"{r.get('N_RECORDS_NO_CHG')} record(s) kept without CHG")
        differ = (j.get("base_check") or {}).get("n_records_differ") or 0
        if differ:
            notes.append(f"{differ} record(s) where the delivered BASE differs from the recomputed one "
                         "(biomarkers/base_check.parquet)")
        for r in (j.get("score_check") or {}).get("compared") or []:
            if r.get("N_DISAGREE"):
                notes.append(f"score check: {r.get('REPORTED')} vs derived {r.get('DERIVED')}: {r.get('N_DISAGREE')} "
                             f"of {r.get('N_COMPARED')} subject-visits disagree (biomarkers/score_check.parquet)")
        notes += [f"not analysed: {r.get('PARAMCD')} ({r.get('REASON')})" for r in j.get("skipped") or []]
    return list(dict.fromkeys(notes))


def _note_place(stage: str, note: str) -> str | None:
    for place, phrases in NOTE_ROUTES.get(stage, ()):
        if any(p in note for p in phrases):
            return place
    return None


class _PlacedNotes:
    """A section's recorded notes, each shown once beside the table or figure it qualifies.

    ``table`` renders a table with the notes routed to its place; the notes
    no shown table or figure took are added to the section's first table
    (re-rendered in ``finish`` under the same table number), or listed at the
    section's end when it has no table.
    """

    def __init__(self, stage: str, notes: Iterable[str]) -> None:
        self._stage = stage
        self._free = list(notes)
        self._first: tuple[int, Callable[[list[str], Numbering], str], list[str], int] | None = None

    def take(self, place: str) -> list[str]:
        mine = [n for n in self._free if _note_place(self._stage, n) == place]
        self._free = [n for n in self._free if n not in mine]
        return mine

    def table(self, parts: list[str], place: str, num: Numbering, render: Callable[[list[str], Numbering], str]) -> None:
        """Append ``render(notes, num)``: the table, given the "Note: ..." lines to add under it.

        A render that shows nothing (returns "") gives its notes back.
        """
        mine = self.take(place)
        own = [f"Note: {n}" for n in mine]
        before = num.tables
        html = render(own, num)
        if not html:
            self._free += mine
            return
        if self._first is None:
            self._first = (len(parts), render, own, before)
        parts.append(html)

    def notes_list(self, place: str) -> str:
        """The notes routed to ``place`` (a figure, drawn or not, or a part without a table), as a list to put there."""
        return _notes_list(self.take(place))

    def finish(self, parts: list[str]) -> None:
        if not self._free:
            return
        if self._first is None:
            parts.append(_notes_list(self._free))
        else:
            index, render, own, tables_before = self._first
            parts[index] = render(own + [f"Note: {n}" for n in self._free], Numbering(tables=tables_before))
        self._free = []


def _notes_list(notes: list[str]) -> str:
    if not notes:
        return ""
    return ('<ul class="compact sans stage-notes" style="font-size:8.5pt">'
            + "".join(f"<li>Note: {esc(n)}</li>" for n in notes) + "</ul>")


# --------------------------------------------------------------------------- survival
def _median_text(m: Mapping[str, Any]) -> str:
    return format_median(m.get("median"), m.get("lower"), m.get("upper"), DECIMALS["time"])


def _population(j: Mapping[str, Any]) -> str:
    """Which subjects the stage's primary analysis used (from its JSON ``analysis``), or nothing when unrecorded."""
    a = j.get("analysis") or {}
    if not a.get("description"):
        return ""
    return f'<p class="sans" style="font-size:8.5pt">Analysis population: {esc(a["description"])}.</p>'


def survival_section(inputs: ReportInputs, num: Numbering) -> str:
    stage = inputs.stage("survival")
    if stage is None:
        return section("survival", "Survival", _missing_stage("survival", inputs), num)
    j = stage.json
    absent = [k for k in ("endpoint", "arms", "landmarks", "medians", "logrank", "pairwise", "trend", "cox", "settings")
              if k not in j]
    recorded = _PlacedNotes("survival", stage_notes("survival", j))
    settings = j.get("settings") or {}
    level = settings.get("conf_level", 0.95)
    ci = f"{format_number(100 * float(level), 0)}% CI" if isinstance(level, (int, float)) else "CI"
    endpoint = f"<code>{esc(j.get('endpoint', '?'))}</code>" + (f" ({esc(j['param'])})" if j.get("param") else "")
    parts = [_population(j)]
    parts += [f"<p>Endpoint {endpoint}; Kaplan-Meier estimates by group"
             + (f" with {esc(settings.get('conf_type'))} confidence limits ({esc(ci)})" if settings.get("conf_type") else "")
             + ".</p>", _absent("survival", absent)]
    wording = endpoint_wording(j.get("endpoint"), j.get("param"))
    parts.append(_figures(stage, inputs, num, names=("km",), captions={"km": wording.km_caption}))
    arms = [a.get("arm") for a in j.get("arms") or []]
    if not arms:
        arms = list(dict.fromkeys(r.get("arm") for r in j.get("landmarks") or []))
    times = sorted({float(r["time"]) for r in j.get("landmarks") or [] if r.get("time") is not None})
    rows = []
    for arm in arms:
        a = next((x for x in j.get("arms") or [] if x.get("arm") == arm), {})
        m = next((x for x in j.get("medians") or [] if x.get("arm") == arm), {})
        row = {"arm": arm, "n": _cell("n", a.get("n")), "events": _cell("events", a.get("events")),
               "median": _median_text(m)}
        for i, t in enumerate(times):
            lm = next((x for x in j.get("landmarks") or [] if x.get("arm") == arm and x.get("time") is not None
                       and math.isclose(float(x["time"]), t)), {})
            row[f"t{i}"] = (format_ci(lm.get("survival"), lm.get("lower"), lm.get("upper"), DECIMALS["probability"])
                            + _flag(lm)) if lm else "–"
        rmst = next((x for x in j.get("rmst") or [] if x.get("arm") == arm), None)
        if j.get("rmst"):
            row["rmst"] = (f"{format_number(rmst.get('rmst'), DECIMALS['time'])} "
                           f"({format_number(rmst.get('se'), DECIMALS['time'])}){_flag(rmst)}") if rmst else "–"
        rows.append(row)
    if rows:
        labels = {"arm": "Group", "n": "N", "events": wording.events,
                  "median": f"Median, days ({ci})", "rmst": "RMST, days (SE)"}
        labels.update({f"t{i}": time_label(t, style="long") for i, t in enumerate(times)})
        t = num.table()
        tau = (j.get("rmst") or [{}])[0].get("tau")
        notes = [f"{wording.y_label}: Kaplan-Meier estimate at the landmark time; median: first time the curve "
                 "reaches 0.5 or below (not reached when it never does; the lower limit is shown when it exists)."]
        source = settings.get("landmark_times_source")
        if source and source != "option":
            notes.append(f"Landmark times: {source}.")
        if tau is not None:
            rule = settings.get("rmst_tau_source")
            notes.append(f"RMST: restricted mean {'survival time' if wording.is_survival else 'event-free time'} up to "
                         f"day {format_number(tau, DECIMALS['time'])}" + (f" ({rule})" if rule and rule != "option" else "") + ".")
        if any(x.get("extrapolated") for x in (j.get("landmarks") or []) + (j.get("rmst") or [])):
            notes.append(f"{_EXTRAPOLATED} Extrapolated: after the group's last observed time; S(t) carried forward "
                         "(R summary(..., extend = TRUE)).")
        recorded.table(parts, "km", num, lambda extra, _num, rows=rows, t=t, labels=labels, notes=notes: gt_table(
            pl.DataFrame(rows), f"tbl-{t}", t, "Kaplan-Meier estimates by group.", labels=labels,
            right=[c for c in rows[0] if c != "arm"], notes=notes + extra,
            spanners={f"{wording.y_label} ({ci})": [f"t{i}" for i in range(len(times))]}))
    tests = []
    lr = j.get("logrank")
    if isinstance(lr, Mapping):
        rho = lr.get("rho", settings.get("rho"))
        name = "Log-rank" if not rho else f"G-rho family, rho = {format_number(rho, 2)}"
        if lr.get("test"):  # log-rank, G-rho (rho = 1), Fleming-Harrington (0, 1)
            name = lr["test"][0].upper() + lr["test"][1:]
        if lr.get("strata"):
            name += f", stratified by {', '.join(lr['strata'])}"
        tests.append({"test": f"{name}, all groups", "stat": format_number(lr.get("chisq"), DECIMALS["statistic"]), "df": _cell("df", lr.get("df")),
                      "p": format_p(lr.get("p")), "p_holm": "–"})
    tr = j.get("trend")
    if isinstance(tr, Mapping):
        tests.append({"test": "Trend across ordered groups", "stat": format_number(tr.get("chisq"), DECIMALS["statistic"]),
                      "df": _cell("df", tr.get("df", 1)), "p": format_p(tr.get("p")), "p_holm": "–"})
    for pw in j.get("pairwise") or []:
        tests.append({"test": f"{pw.get('arm_a')} vs {pw.get('arm_b')}", "stat": format_number(pw.get("chisq"), DECIMALS["statistic"]),
                      "df": _cell("df", pw.get("df", 1)), "p": format_p(pw.get("p")), "p_holm": format_p(pw.get("p_holm"))})
    if tests:
        t = num.table()
        compared = "survival" if wording.is_survival else (j.get("param") or j.get("endpoint") or "the endpoint")
        recorded.table(parts, "tests", num, lambda extra, _num, t=t, compared=compared: gt_table(
            pl.DataFrame(tests), f"tbl-{t}", t, f"Tests comparing {compared} between groups.",
            labels={"test": "Comparison", "stat": "Chi-square", "df": "df", "p": "p", "p_holm": "p (Holm)"},
            right=["stat", "df", "p", "p_holm"],
            notes=["Pairwise: two-group log-rank tests with Holm-adjusted p-values; trend: scores "
                   "from the dose order (TRT01AN)."] + extra))
    _survival_extra_tables(j, parts, recorded, num, ci, wording)
    cox = j.get("cox") or []
    if cox:
        rows = [{"term": _term_label(c), "ref": c.get("reference") or "–",
                 "hr": format_ci(c.get("hr"), c.get("lower"), c.get("upper"), DECIMALS["ratio"]) if c.get("hr") is not None
                 else "not estimable", "p": format_p(c.get("p"))} for c in cox]
        said = set(stage_notes("survival", j))  # a reason the stage recorded as a note is shown as that note
        notes = [f"{_term_label(c)}: {c.get('reason')}." for c in cox
                 if c.get("reason") and f"Cox: {c.get('arm') or _term_label(c)}: {c.get('reason')}" not in said]
        model = j.get("model") or {}
        described = [f"Ties: {settings.get('ties', cox[0].get('ties', 'not recorded'))}."]
        if model.get("strata"):
            described.append("Stratified by " + ", ".join(model["strata"]) + " (a baseline hazard per stratum).")
        if model.get("covariates"):
            described.append("Adjusted for " + ", ".join(_covariate_text(c) for c in model["covariates"]) + ".")
        tests = [f"{t.get('test')} test: chi-square {format_number(t.get('chisq'), DECIMALS['statistic'])} on "
                 f"{t.get('df')} df, p {format_p(t.get('p'))}" for t in j.get("cox_tests") or []]
        if tests:
            described.append("Model: " + "; ".join(tests) + ".")
        t = num.table()
        recorded.table(parts, "cox", num, lambda extra, _num, rows=rows, t=t, notes=described + notes: gt_table(
            pl.DataFrame(rows), f"tbl-{t}", t, "Cox proportional hazards model: hazard ratios.",
            labels={"term": "Term", "ref": "Reference", "hr": f"Hazard ratio ({ci})", "p": "Wald p"},
            right=["hr", "p"], notes=notes + extra))
    zph = j.get("zph") or []
    if zph:
        rows = [{"term": z.get("term"), "chisq": format_number(z.get("chisq"), DECIMALS["statistic"]),
                 "df": _cell("df", z.get("df")), "p": format_p(z.get("p"))} for z in zph]
        t = num.table()
        transform = (j.get("settings") or {}).get("zph_transform", "km")
        recorded.table(parts, "zph", num, lambda extra, _num, rows=rows, t=t: gt_table(
            pl.DataFrame(rows), f"tbl-{t}", t, "Proportional-hazards check of the Cox model (scaled Schoenfeld residuals).",
            labels={"term": "Term", "chisq": "Chi-square", "df": "df", "p": "p"}, right=["chisq", "df", "p"],
            notes=[f"R cox.zph(fit, transform = \"{transform}\"): a small p suggests the hazard ratio changes over time; "
                   "GLOBAL tests all terms together."] + extra))
    for name in ("zph", "forest", "cif"):  # the model's figures follow their tables, in this order
        parts.append(_figures(stage, inputs, num, names=(name,)))
    known = {"km", "zph", "forest", "cif"}
    parts.append(_figures(stage, inputs, num, names=[f.name for f in stage.figures if f.name not in known]))
    recorded.finish(parts)
    return section("survival", "Survival", "".join(parts), num)


def _term_label(c: Mapping[str, Any]) -> str:
    """A Cox row's label: the arm for treatment rows, else "VAR" (numeric) or "VAR: level"."""
    term, level = c.get("term"), c.get("level", c.get("arm"))
    if term in (None, TREATMENT_TERM):
        return str(level)
    return f"{term}: {level}" if level is not None else f"{term} (per unit)"


def _covariate_text(c: Mapping[str, Any]) -> str:
    ref = c.get("reference")
    return f"{c.get('name')} (reference {ref})" if ref is not None else str(c.get("name"))


def _survival_extra_tables(j: Mapping[str, Any], parts: list[str], recorded: "_PlacedNotes", num: Numbering, ci: str,
                           wording) -> None:
    """Follow-up and quartiles, RMST contrasts, competing risks and the forest table, when the stage wrote them."""
    fu = j.get("follow_up_median") or []
    quart = j.get("quantiles") or []
    if fu or quart:
        groups = [r.get("group") for r in fu] or list(dict.fromkeys(r.get("arm") for r in quart))
        rows = []
        for g in groups:
            f = next((r for r in fu if r.get("group") == g), {})
            row = {"group": g, "fu": _median_text(f) if f else "–"}
            for k, prob in enumerate((0.25, 0.5, 0.75)):
                q = next((r for r in quart if r.get("arm") == g and r.get("prob") is not None
                          and math.isclose(float(r["prob"]), prob)), None)
                row[f"q{k}"] = _median_text({"median": q.get("time"), "lower": q.get("lower"), "upper": q.get("upper")}) if q else "–"
            rows.append(row)
        t = num.table()
        recorded.table(parts, "quantiles", num, lambda extra, _num, rows=rows, t=t: gt_table(
            pl.DataFrame(rows), f"tbl-{t}", t, "Follow-up and quartiles of the time to event by group, in days.",
            labels={"group": "Group", "fu": f"Median follow-up ({ci})", "q0": f"25% ({ci})", "q1": f"50% ({ci})",
                    "q2": f"75% ({ci})"}, right=["fu", "q0", "q1", "q2"],
            notes=["Median follow-up: reverse Kaplan-Meier (censorings counted as events), log limits; quartiles: the "
                   "times the curve reaches 0.75, 0.5 and 0.25, as R quantile(survfit)."] + extra))
    contrasts = j.get("rmst_contrasts") or []
    if contrasts:
        rows = [{"arm": c.get("arm"), "ref": c.get("reference"),
                 "diff": format_ci(c.get("difference"), c.get("diff_lower"), c.get("diff_upper"), DECIMALS["time"]),
                 "diff_p": format_p(c.get("diff_p")),
                 "ratio": format_ci(c.get("ratio"), c.get("ratio_lower"), c.get("ratio_upper"), DECIMALS["ratio"]),
                 "ratio_p": format_p(c.get("ratio_p"))} for c in contrasts]
        tau = contrasts[0].get("tau")
        t = num.table()
        recorded.table(parts, "rmst", num, lambda extra, _num, rows=rows, t=t, tau=tau: gt_table(
            pl.DataFrame(rows), f"tbl-{t}", t, f"Restricted mean {'survival' if wording.is_survival else 'event-free'} "
            f"time up to day {format_number(tau, DECIMALS['time'])}: differences and ratios against the reference.",
            labels={"arm": "Group", "ref": "Reference", "diff": f"Difference, days ({ci})", "diff_p": "p",
                    "ratio": f"Ratio ({ci})", "ratio_p": "p"}, right=["diff", "diff_p", "ratio", "ratio_p"],
            notes=["Normal approximation from each group's RMST and its standard error, as survRM2 rmst2 (unadjusted); "
                   "the ratio's limits on the log scale."] + extra))
    comp = j.get("competing") or {}
    if comp.get("cif_landmarks"):
        rows = [{"arm": r.get("arm"), "event": r.get("event"), "time": time_label(float(r["time"]), style="long"),
                 "cif": format_ci(r.get("estimate"), r.get("lower"), r.get("upper"), DECIMALS["probability"])}
                for r in comp["cif_landmarks"]]
        gray = [f"{g.get('event')}: chi-square {format_number(g.get('chisq'), DECIMALS['statistic'])} on {g.get('df')} df, "
                f"p {format_p(g.get('p'))}" for g in comp.get("gray") or []]
        t = num.table()
        recorded.table(parts, "competing", num, lambda extra, _num, rows=rows, t=t, gray=gray: gt_table(
            pl.DataFrame(rows), f"tbl-{t}", t, "Cumulative incidence of each event type (competing risks).",
            labels={"arm": "Group", "event": "Event type", "time": "Time", "cif": f"Cumulative incidence ({ci})"},
            right=["cif"], notes=[f"Event types from ADTTE {comp.get('event_variable', 'EVNTDESC')}; Aalen-Johansen "
                                  "estimates (R cmprsk::cuminc)."] + (["Gray's test: " + "; ".join(gray) + "."] if gray else [])
            + extra))
    forest = j.get("forest") or []
    if forest:
        rows = [{"variable": r.get("variable"), "level": r.get("level") or "", "arm": r.get("arm"),
                 "n": _cell("n", r.get("n")), "events": _cell("events", r.get("events")),
                 "hr": format_ci(r.get("hr"), r.get("lower"), r.get("upper"), DECIMALS["ratio"]) if r.get("hr") is not None
                 else "not estimable", "pint": format_p(r.get("p_interaction")) if r.get("p_interaction") is not None else ""}
                for r in forest]
        t = num.table()
        recorded.table(parts, "forest", num, lambda extra, _num, rows=rows, t=t: gt_table(
            pl.DataFrame(rows), f"tbl-{t}", t, "Hazard ratios within subgroups.",
            labels={"variable": "Subgroup", "level": "Level", "arm": "Group", "n": "N", "events": "Events",
                    "hr": f"Hazard ratio ({ci})", "pint": "Interaction p"}, right=["n", "events", "hr", "pint"],
            notes=["Cox model within each subgroup level; interaction p: likelihood-ratio test of treatment x subgroup "
                   "(R anova(coxph(~ TRT01A + VAR), coxph(~ TRT01A * VAR)))."] + extra))


# --------------------------------------------------------------------------- biomarkers
def _param_info(inputs: ReportInputs, summaries: list[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """PARAMCD -> (label, category): from the biomarkers summaries (param_label, category), else ADLB."""
    out: dict[str, tuple[str, str]] = {}
    for r in summaries:
        if r.get("param") not in out and r.get("param_label"):
            out[r["param"]] = (str(r["param_label"]), str(r.get("category") or "Other"))
    if inputs.adlb is not None and "PARAMCD" in inputs.adlb.columns:
        cols = [c for c in ("PARAMCD", "PARAM", "PARCAT1") if c in inputs.adlb.columns]
        for r in inputs.adlb.select(cols).unique("PARAMCD", keep="first", maintain_order=True).iter_rows(named=True):
            out.setdefault(r["PARAMCD"], (r.get("PARAM") or r["PARAMCD"], r.get("PARCAT1") or "Other"))
    return out


def _efficacy_table(parts: list[str], eff: Mapping[str, Any], info, num: Numbering, recorded=None,
                    analysis: str | None = None) -> None:
    """The efficacy model (``--model``) at its primary visit: LS means, differences against the reference,
    type III tests and the dose-response test, with the method written from the options. ``analysis``: the
    name of the (non-primary) analysis it comes from; ``recorded``: the primary analysis' notes."""
    models = eff.get("models") or []
    conf = f"{float((eff.get('settings') or {}).get('conf_level') or 0.95):.0%}"
    rows, notes = [], [str(eff.get("method") or "")]
    for m in models:
        param, visit = m.get("param"), m.get("visit")
        at = [r for r in eff.get("lsmeans") or [] if r.get("param") == param and r.get("visit") in (None, visit)]
        diffs = {r.get("group"): r for r in eff.get("contrasts") or [] if r.get("param") == param
                 and r.get("visit") in (None, visit) and r.get("comparison") == "vs reference"}
        dec = decimals_for([r.get("estimate") for r in at] + [r.get("estimate") for r in diffs.values()])
        label = f"{info.get(param, (param, ''))[0]} [{param}], {visit}"
        for r in at:
            d = diffs.get(r.get("group"))
            rows.append({"param": label, "group": str(r.get("group")), "n": str(r.get("n")),
                         "lsmean": format_ci(r.get("estimate"), r.get("lower"), r.get("upper"), dec),
                         "diff": format_ci(d.get("estimate"), d.get("lower"), d.get("upper"), dec) if d else "reference",
                         "p": format_p(d.get("p")) if d else "", "padj": format_p(d.get("p_adjusted")) if d else ""})
        tests = [t for t in eff.get("tests") or [] if t.get("param") == param]
        text = "; ".join(f"{t.get('term')} F({format_number(t.get('num_df'), 2 if t.get('num_df') % 1 else 0)}, "
                         f"{format_number(t.get('den_df'), 1 if t.get('den_df') % 1 else 0)}) = "
                         f"{format_number(t.get('f'), 2)}, p {format_p(t.get('p'))}" for t in tests)
        dose = [d for d in eff.get("dose") or [] if d.get("param") == param]
        if dose:
            text += f"; dose-response (TRT01AN as a number) p {format_p(dose[0].get('p'))}"
        fit = (f"{m.get('n_subjects')} subjects, {m.get('n_records')} records"
               + (f" ({m.get('n_dropped')} dropped for missing values)" if m.get("n_dropped") else "")
               + (f", {m.get('n_locf')} LOCF records" if m.get("n_locf") else ""))
        if m.get("model") == "mmrm":
            fit += (f"; REML {'converged' if m.get('converged') else 'did NOT converge'} in {m.get('iterations')} "
                    f"iterations")
        notes.append(f"{param}: {fit}. Type III: {text}.")
        if m.get("note"):
            notes.append(f"{param}: {m.get('note')}")
    if not rows:
        return
    adjust = next((r.get("adjust") for r in eff.get("contrasts") or [] if r.get("comparison") == "vs reference"), None)
    model = "ANCOVA" if (eff.get("settings") or {}).get("model") == "ancova" else "MMRM"
    caption = (f"Efficacy model ({model}): LS mean change from baseline and difference from the reference group"
               + (f" (analysis {analysis})." if analysis else "."))

    if not adjust or adjust == "none":  # p_adjusted is p
        for r in rows:
            r.pop("padj")

    def table(extra: list[str], _num=None, t: int | None = None) -> str:
        t = t if t is not None else num.table()
        return gt_table(pl.DataFrame(rows), f"tbl-{t}", t, caption, groupname_col="param",
                        labels={"group": "Group", "n": "n", "lsmean": f"LS mean ({conf} CI)",
                                "diff": f"Difference ({conf} CI)", "p": "p",
                                "padj": f"p ({adjust})" if adjust and adjust != "none" else "p adjusted"},
                        right=["n", "lsmean", "diff", "p", "padj"], notes=notes + list(extra))

    if recorded is None:
        parts.append(table([]))
    else:
        t = num.table()
        recorded.table(parts, "models", num, lambda extra, _num, t=t: table(extra, _num, t))


def biomarkers_section(inputs: ReportInputs, num: Numbering) -> str:
    stage = inputs.stage("biomarkers")
    if stage is None:
        return section("biomarkers", "Biomarkers", _missing_stage("biomarkers", inputs), num)
    j = stage.json
    absent = [k for k in ("summaries", "within", "between", "models", "settings") if k not in j]
    settings = j.get("settings") or {}
    parts = [_population(j), _absent("biomarkers", absent)]
    recorded = _PlacedNotes("biomarkers", stage_notes("biomarkers", j))
    info = _param_info(inputs, j.get("summaries") or [])
    pooled = [w for w in j.get("within") or [] if w.get("arm") == "All"]
    adjust = str(settings.get("adjust", "none"))
    use_adj = adjust not in ("none", "None", "")
    if pooled:
        visits = sorted({(float(w["visitn"]), str(w.get("visit") or w["visitn"])) for w in pooled
                         if w.get("visitn") is not None})
        vid = {vn: f"v{i}" for i, (vn, _) in enumerate(visits)}
        between = {(b.get("param"), float(b["visitn"])): b.get("p") for b in j.get("between") or []
                   if b.get("visitn") is not None}
        params = list(dict.fromkeys(w.get("param") for w in pooled))
        rows = []
        for p in params:
            cells = {float(w["visitn"]): w for w in pooled if w.get("param") == p and w.get("visitn") is not None}
            dec = decimals_for([w.get("mean_change") for w in cells.values() if w.get("mean_change") is not None])
            label, cat = info.get(p, (p, "Derived parameters"))
            row = {"cat": cat, "param": f"{label} [{p}]"}
            for vn, _ in visits:
                w = cells.get(vn)
                if w is None:
                    row[vid[vn]] = ""
                    continue
                pw = w.get("p_adj") if use_adj else w.get("p")
                mark = "*" if pw is not None and pw < 0.05 else ""
                bp = between.get((p, vn))
                mark += "†" if bp is not None and bp < 0.05 else ""
                row[vid[vn]] = format_signed(w.get("mean_change"), dec) + mark
            rows.append(row)
        test = next((w.get("test") for w in pooled if w.get("test")), settings.get("test", "paired test"))
        cat_order = {c: i for i, c in enumerate(dict.fromkeys(info.get(p, (p, "Derived parameters"))[1] for p in
                                                            list(info) + params))}
        rows.sort(key=lambda r: cat_order.get(r["cat"], len(cat_order)))
        t = num.table()
        recorded.table(parts, "change", num, lambda extra, _num, rows=rows, t=t: gt_table(
            pl.DataFrame(rows), f"tbl-{t}", t,
            "Mean change from baseline by visit, all groups pooled.", rowname_col="param", groupname_col="cat",
            labels={vid[vn]: name for vn, name in visits}, right=list(vid.values()),
            notes=[f"* change from baseline p < 0.05 ({test}"
                   + (f", {adjust}-adjusted across visits" if use_adj else ", not adjusted for multiplicity") + ").",
                   "† the groups differ at that visit, p < 0.05 ("
                   + str(next((b.get("test") for b in j.get("between") or [] if b.get("test")), "between-group test"))
                   + ")."] + extra))
    models = j.get("models") or []
    if models:
        methods = list(dict.fromkeys(str(m.get("method")) for m in models if m.get("method")))
        one_method = len(methods) == 1
        rows = []
        for m in models:
            row = {"param": f"{info.get(m.get('param'), (m.get('param'), ''))[0]} [{m.get('param')}]"}
            if not one_method:
                row["method"] = str(m.get("method", "–"))
            row.update({"inter": format_p(m.get("interaction_p")), "group": format_p(m.get("group_p"))})
            if any("visit_p" in x for x in models):
                row["visit"] = format_p(m.get("visit_p"))
            if any(x.get("note") for x in models):
                row["note"] = str(m.get("note") or "")
            rows.append(row)
        notes = ["Group × visit: whether the change from baseline over visits differs between groups "
                 "(a dose-efficacy interaction when the groups are doses)."]
        if one_method:
            notes.append(f"Model: {methods[0]}" + (f"; {models[0]['formula']}" if models[0].get("formula") else "")
                         + (f"; test: {models[0]['test']}" if models[0].get("test") else "") + ".")
        t = num.table()
        recorded.table(parts, "models", num, lambda extra, _num, rows=rows, t=t, notes=notes: gt_table(
            pl.DataFrame(rows), f"tbl-{t}", t,
            "Longitudinal model of change from baseline: dose-by-visit interaction, group and visit effects.",
            labels={"param": "Parameter", "method": "Model", "inter": "Group × visit p",
                    "group": "Group p", "visit": "Visit p", "note": "Note"},
            right=["inter", "group", "visit"], notes=notes + extra))
    eff = j.get("efficacy")
    if eff:
        _efficacy_table(parts, eff, info, num, recorded)
    for a in inputs.extra_analyses:  # efficacy models of the plan's other biomarkers analyses (--model)
        other = (a.output.json or {}).get("efficacy") if a.stage == "biomarkers" and a.output is not None else None
        if other:
            _efficacy_table(parts, other, info, num, analysis=f"{a.name}; {a.selection or a.population or 'all subjects'}")
    efficacy_figures = [f for f in stage.figures if f.name.startswith("efficacy")]
    overview = [f for f in stage.figures if "overview" in f.name or f.name.startswith("system")]
    key = [f for f in stage.figures if f not in overview and any(p in f.name.upper().split("_") for p in ("ALB", "PTA", "IL8"))]
    shown = efficacy_figures + (overview or key)
    if shown:
        parts.append(_figures(stage, inputs, num, [f.name for f in shown]))
    rest = [f for f in stage.figures if f not in shown]
    if rest:
        links = ", ".join(f'<a href="{esc(inputs.figure_links.get(f.path, f.path + ".svg"))}">{esc(f.name)}</a>'
                          for f in rest)
        parts.append(f'<p class="sans" style="font-size:8.5pt">Further figures in the workspace: {links}.</p>')
    parts.append(recorded.notes_list("figures"))
    recorded.finish(parts)
    return section("biomarkers", "Biomarkers", "".join(parts), num)


# --------------------------------------------------------------------------- safety
def _npct(r: Mapping[str, Any] | None) -> str:
    if r is None:
        return "–"
    if r.get("subjects") is None:
        return "not assessable"
    pct = r.get("percent")
    return f"{r['subjects']} ({format_number(pct, DECIMALS['percent'])}%)" if pct is not None else str(r["subjects"])


def _npct_e(r: Mapping[str, Any] | None) -> str:
    return "–" if r is None else f"{_npct(r)} [{r.get('events', '–')}]"


def pivot_by_arm(records: list[Mapping[str, Any]], arms: list[str], key, cell, label=str) -> tuple[pl.DataFrame, dict]:
    """Rows keyed by ``key(record)`` (first-seen order), one text column per arm (ids g0, g1, ...) from ``cell``."""
    ids = _arm_ids(arms)
    index: dict[Any, dict[str, Mapping[str, Any]]] = {}
    for r in records:
        index.setdefault(key(r), {})[r.get("arm")] = r
    rows = [{"label": label(k), **{ids[a]: cell(by_arm.get(a)) for a in arms}} for k, by_arm in index.items()]
    return pl.DataFrame(rows, schema={"label": pl.String, **{i: pl.String for i in ids.values()}}), ids


def _listing(records: list[Mapping[str, Any]], columns: dict[str, tuple[str, int]], num: Numbering, caption: str,
             notes: Iterable[str] = ()) -> str:
    """A listing: ``columns`` maps a record key to (label, relative width); absent keys are left out."""
    cols = [c for c in columns if any(c in r for r in records)]
    total = sum(columns[c][1] for c in cols)
    df = pl.DataFrame([{c: _cell(c, r.get(c)) for c in cols} for r in records], schema={c: pl.String for c in cols})
    t = num.table()
    return gt_table(df, f"tbl-{t}", t, caption, labels={c: columns[c][0] for c in cols}, notes=notes, listing=True,
                    widths={c: f"{100 * columns[c][1] / total:.1f}%" for c in cols})


def _incidence(j: Mapping[str, Any], arms: list[str], head: dict[str, str], defs: Mapping[str, Any], num: Numbering,
               extra: Iterable[str] = ()) -> str:
    inc = j.get("incidence") or []
    fisher = {(f.get("level"), f.get("soc"), f.get("pt"), f.get("arm")): f.get("p") for f in j.get("fisher") or []}
    ref = j.get("reference")
    others = [a for a in arms if a != ref]

    def label(k):
        level, soc, pt = k
        return {"any": "Any TEAE", "soc": str(soc or ""), "pt": "\u2003" + str(pt or "")}.get(level, str(pt or soc))

    df, ids = pivot_by_arm(inc, arms, lambda r: (r.get("level"), r.get("soc"), r.get("pt")), _npct_e, label)
    keys = list(dict.fromkeys((r.get("level"), r.get("soc"), r.get("pt")) for r in inc))
    for i, arm in enumerate(others):
        df = df.with_columns(pl.Series(f"p{i}", [format_p(fisher.get((*k, arm))) for k in keys], pl.String))
    labels = {"label": "System organ class / preferred term", **{ids[a]: head[a] for a in arms}}
    labels.update({f"p{i}": f"{a} vs {ref}" for i, a in enumerate(others)})
    t = num.table()
    bold = [i for i, k in enumerate(keys) if k[0] in ("any", "soc")]
    return gt_table(df, f"tbl-{t}", t, "Incidence of TEAEs by system organ class and preferred term.",
                    labels=labels, right=[c for c in df.columns if c != "label"], bold_rows=bold,
                    spanners={"n (%) [E]": list(ids.values()), "Fisher's exact p": [f"p{i}" for i in range(len(others))]},
                    notes=["n (%) [E]: subjects with the event, percentage of the group's safety population, and number "
                           "of events."] + [f"{k.capitalize()}: {defs[k]}." for k in ("counting", "fisher") if k in defs]
                    + list(extra))


def _liver_shift(records: list[Mapping[str, Any]], arms: list[str], head: dict[str, str], num: Numbering,
                 defs: Mapping[str, Any], extra: Iterable[str] = ()) -> str:
    cats = list(dict.fromkeys(r.get("worst") for r in records))
    ids = _arm_ids(arms)
    index: dict[tuple, dict] = {}
    for r in records:
        index.setdefault((r.get("test"), r.get("baseline")), {})[(r.get("arm"), r.get("worst"))] = r
    rows = []
    for (test, base), cells in index.items():
        row = {"test": str(test), "baseline": f"{base} at baseline"}
        for a in arms:
            for k, c in enumerate(cats):
                r = cells.get((a, c))
                row[f"{ids[a]}_{k}"] = "–" if r is None else _cell("subjects", r.get("subjects"))
        rows.append(row)
    df = pl.DataFrame(rows)
    labels = {f"{ids[a]}_{k}": str(c) for a in arms for k, c in enumerate(cats)}
    t = num.table()
    return gt_table(df, f"tbl-{t}", t, "Liver tests: shift from baseline to the worst post-baseline category (subjects).",
                    rowname_col="baseline", groupname_col="test", labels=labels, right=list(labels),
                    spanners={head[a]: [f"{ids[a]}_{k}" for k in range(len(cats))] for a in arms},
                    notes=([f"Shift: {defs['shift']}."] if "shift" in defs else []) + list(extra))


def _quadrants(j: Mapping[str, Any], arms: list[str], head: dict[str, str], num: Numbering,
               extra: Iterable[str] = ()) -> str:
    """Subjects per eDISH / mDISH quadrant and group: safety.json ``liver_quadrants`` (counted by the stage), or
    counted from ``liver_peaks`` as JSONs written before the quadrant counts were recorded hold every subject."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    if j.get("liver_quadrants") is not None:
        names = {"eDISH": "eDISH (× ULN)", "mDISH": "mDISH (× baseline)"}
        for r in j["liver_quadrants"]:
            counts.setdefault((names.get(r.get("plot"), str(r.get("plot"))), str(r.get("quadrant"))), {})[r.get("arm")] = \
                r.get("subjects") or 0
    else:
        peaks = j.get("liver_peaks") or []
        for key, name in (("edish_quadrant", "eDISH (× ULN)"), ("mdish_quadrant", "mDISH (× baseline)")):
            for q in sorted({str(p.get(key)) for p in peaks if p.get(key) is not None}):
                counts[(name, q)] = {a: sum(1 for p in peaks if p.get("arm") == a and p.get(key) == q) for a in arms}
    rows = [{"plot": plot, "quad": q, **{f"g{i}": str(by_arm.get(a, 0)) for i, a in enumerate(arms)}}
            for (plot, q), by_arm in counts.items()]
    if not rows:
        return ""
    t = num.table()
    return gt_table(pl.DataFrame(rows), f"tbl-{t}", t, "Subjects by eDISH and mDISH quadrant of their peak liver tests.",
                    rowname_col="quad", groupname_col="plot", labels={f"g{i}": head[a] for i, a in enumerate(arms)},
                    right=[f"g{i}" for i in range(len(arms))], notes=extra)


def _shown(j: Mapping[str, Any], name: str, what: str) -> list[str]:
    """A note under a listing safety.json holds only the first rows of: how many there are and the file with all."""
    info = (j.get("listings") or {}).get(name) or {}
    rows, shown = info.get("rows"), info.get("shown")
    if rows is None or shown is None or rows <= shown:
        return []
    return [f"The first {shown:,} of {rows:,} {what}; all of them: {info.get('file')}."]


def safety_section(inputs: ReportInputs, num: Numbering) -> str:
    stage = inputs.stage("safety")
    if stage is None:
        return section("safety", "Safety", _missing_stage("safety", inputs), num)
    j = stage.json
    absent = [k for k in ("population", "overview", "incidence", "fisher", "hys_law", "definitions") if k not in j]
    parts = [_population(j), _absent("safety", absent)]
    recorded = _PlacedNotes("safety", stage_notes("safety", j))
    pop = j.get("population") or []
    arms = [p.get("arm") for p in pop]
    n = {p.get("arm"): p.get("n") for p in pop}
    defs = j.get("definitions") or {}
    head = {arm: f"{arm} (N\u00a0=\u00a0{n.get(arm, '?')})" for arm in arms}
    if "population" in defs:
        parts.append(f"<p>Safety population: {esc(defs['population'])}.</p>")
    if j.get("overview"):
        df, ids = pivot_by_arm(j["overview"], arms, lambda r: r.get("category"), _npct)
        t = num.table()
        recorded.table(parts, "overview", num, lambda extra, _num, df=df, ids=ids, t=t: gt_table(
            df, f"tbl-{t}", t, "Overview of treatment-emergent adverse events (TEAEs): subjects, n (%).",
            labels={"label": "", **{ids[a]: head[a] for a in arms}}, right=list(ids.values()),
            notes=[f"{k.replace('_', '-').capitalize()}: {defs[k]}." for k in
                   ("treatment_emergent", "related", "serious", "severe", "discontinuation", "deaths")
                   if k in defs] + extra))
    if j.get("incidence"):
        recorded.table(parts, "incidence", num, lambda extra, n: _incidence(j, arms, head, defs, n, extra))
    parts.append(_figures(stage, inputs, num, [f.name for f in stage.figures if "dot" in f.name]))
    parts.append(recorded.notes_list("dotplot"))
    if j.get("severity"):
        anyrow = sorted((r for r in j["severity"] if r.get("level") == "any"), key=lambda r: r.get("severity_order") or 0)
        df, ids = pivot_by_arm(anyrow, arms, lambda r: r.get("severity"), _npct, lambda k: str(k).capitalize())
        t = num.table()
        recorded.table(parts, "severity", num, lambda extra, _num, df=df, ids=ids, t=t: gt_table(
            df, f"tbl-{t}", t, "Subjects by maximum severity of their TEAEs, n (%).",
            labels={"label": "Maximum severity", **{ids[a]: head[a] for a in arms}}, right=list(ids.values()),
            notes=([f"Severity: {defs['severity']}."] if "severity" in defs else [])
            + ["By system organ class and preferred term: safety/severity.parquet."] + extra))
    if j.get("onset"):
        rows = sorted(j["onset"], key=lambda r: r.get("window_order") or 0)
        df, ids = pivot_by_arm(rows, arms, lambda r: r.get("window"), _npct_e)
        t = num.table()
        recorded.table(parts, "onset", num, lambda extra, _num, df=df, ids=ids, t=t: gt_table(
            df, f"tbl-{t}", t, "Onset of adverse events relative to the most recent infusion.",
            labels={"label": "Days since the most recent dose", **{ids[a]: head[a] for a in arms}},
            right=list(ids.values()),
            notes=["n (%) [E]: subjects with an AE starting in the window, and events."]
            + ([f"Onset: {defs['onset']}."] if "onset" in defs else []) + extra))
    parts.append("<h3>Serious adverse events and deaths</h3>")
    if j.get("sae"):
        recorded.table(parts, "sae", num, lambda extra, n: _listing(
            j["sae"], {"usubjid": ("Subject", 11), "arm": ("Group", 12), "pt": ("Preferred term", 15),
                       "term": ("Reported term", 15), "onset_day": ("Onset day", 6),
                       "severity": ("Severity", 11), "related": ("Causality", 11),
                       "outcome": ("Outcome", 13), "teae": ("TEAE", 6)},
            n, "Listing of serious adverse events.",
            ([f"{defs['sae_listing'][0].upper()}{defs['sae_listing'][1:]}."] if defs.get("sae_listing") else [])
            + _shown(j, "sae", "serious adverse events") + extra))
    else:
        parts.append("<p>No serious adverse event is recorded.</p>")
    if j.get("deaths"):
        recorded.table(parts, "deaths", num, lambda extra, n: _listing(
            j["deaths"], {"usubjid": ("Subject", 14), "arm": ("Group", 14),
                          "death_day": ("Study day of death", 9), "source": ("Source", 16),
                          "term": ("AE term", 19), "onset_day": ("AE onset day", 9),
                          "outcome": ("Outcome", 19)}, n, "Listing of deaths.",
            ([f"Deaths: {defs['deaths']}."] if "deaths" in defs else []) + _shown(j, "deaths", "deaths") + extra))
    else:
        parts.append("<p>No death is recorded.</p>")
    parts.append("<h3>Liver safety</h3>")
    hy = j.get("hys_law")
    if hy:
        recorded.table(parts, "liver", num, lambda extra, n: _listing(
            hy, {"usubjid": ("Subject", 20), "arm": ("Group", 20), "alt_uln": ("Peak ALT (× ULN)", 20),
                 "ast_uln": ("Peak AST (× ULN)", 20), "bili_uln": ("Peak bilirubin (× ULN)", 20)},
            n, "Potential Hy's law cases.", ([f"Hy's law: {defs['hys_law']}."] if "hys_law" in defs else [])
            + _shown(j, "hys_law", "potential Hy's law cases") + extra))
    elif hy is not None:
        parts.append("<p>No subject meets the Hy's law screen"
                     + (f" ({esc(defs['hys_law'])})" if "hys_law" in defs else "") + ".</p>")
    if j.get("liver_peaks") or j.get("liver_quadrants"):
        recorded.table(parts, "liver", num, lambda extra, n: _quadrants(j, arms, head, n, extra))
    parts.append(_figures(stage, inputs, num, [f.name for f in stage.figures if "dot" not in f.name]))
    parts.append(recorded.notes_list("liver_figures"))
    if j.get("liver_shift"):
        recorded.table(parts, "liver", num, lambda extra, n: _liver_shift(j["liver_shift"], arms, head, n, defs, extra))
    parts.append(recorded.notes_list("liver"))  # liver notes with no liver table to stand under
    recorded.finish(parts)
    return section("safety", "Safety", "".join(parts), num)
