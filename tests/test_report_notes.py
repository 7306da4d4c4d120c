"""Notes travel with numbers: every note a stage records is in the HTML report and the Markdown summary.

Workspaces are built where each stage records notes (the CDISC pilot with
landmarks past follow-up and no Cox model; the built-in trial with one group
and --min-percent), the report is rendered in both formats, and every note
of every stage's JSON must appear, escaped, beside the table or figure it
qualifies (HTML) and under the stage's heading (Markdown). A note tied to no
table stands under the section's first table.
"""

from __future__ import annotations

import html
import json
import re
import shutil

import pytest

from report_workspaces import missing_stages
from trialkit.analyses.claims import StageData
from trialkit.analyses.report.document import render_html
from trialkit.analyses.report.markdown import md_escape, render_markdown
from trialkit.analyses.report.model import ReportInputs, StageOutput

STAGES = ("survival", "biomarkers", "safety")


def _need_all_stages():
    missing = missing_stages()
    if missing:
        pytest.skip(f"needs the analysis stages {', '.join(missing)}, not registered in trialkit yet")


def _build(source, tmp_path_factory, name, run_cli, args: dict[str, list[str]]) -> dict:
    _need_all_stages()
    ws = tmp_path_factory.mktemp(name) / "ws"
    shutil.copytree(source, ws)
    for stage in STAGES:
        # --name STAGE: these subsets stand as each stage's primary analysis, which the stage sections show
        r = run_cli([stage, "-w", ws, "--format", "json", "--no-plot", "--name", stage, *args.get(stage, [])])
        assert r.exit_code == 0, f"trialkit {stage}: {r.stderr}"
    for fmt in ("html", "md"):
        r = run_cli(["report", "-w", ws, "--format", fmt])
        assert r.exit_code == 0, r.stderr
    return {"ws": ws, "html": (ws / "report.html").read_text(), "md": (ws / "report.md").read_text(),
            "json": {s: json.loads((ws / s / f"{s}.json").read_text()) for s in STAGES}}


@pytest.fixture(scope="module")
def pilot(pilot_workspace, tmp_path_factory, run_cli):
    """The CDISC pilot: landmarks past follow-up, no Cox model, one biomarker, liver tests, no ADEX."""
    return _build(pilot_workspace, tmp_path_factory, "notes-pilot", run_cli,
                  {"survival": ["--times", "6m,2y", "--extrapolate", "--no-cox"], "biomarkers": ["--param", "ALT"]})


@pytest.fixture(scope="module")
def seed(seed_workspace, tmp_path_factory, run_cli):
    """The built-in trial with one group (no comparison) and --min-percent (hidden incidence rows)."""
    return _build(seed_workspace, tmp_path_factory, "notes-seed", run_cli,
                  {"survival": ["--arm", "low", "--times", "1y,10y", "--extrapolate"],
                   "biomarkers": ["--param", "ALB", "--arm", "low", "--arm", "high"],
                   "safety": ["--arm", "low", "--min-percent", "20"]})


WORKSPACES = [pytest.param("pilot", marks=pytest.mark.realdata), "seed"]


def _table_block(text: str, caption: str) -> str:
    """The HTML of the numbered table whose caption starts with ``caption``."""
    m = re.search(r'<div class="tbl[^"]*" id="(tbl-\d+)-block"><p class="caption"><span class="lbl">Table \d+\.</span> '
                  + re.escape(html.escape(caption)), text)
    assert m, f"no table captioned {caption!r}"
    end = text.find('<div class="tbl', m.end())
    return text[m.start(): end if end != -1 else len(text)]


def _md_under(text: str, heading: str) -> str:
    start = text.index(f"### {heading}\n")
    nxt = re.search(r"^#{2,3} ", text[start + 4:], flags=re.M)
    return text[start: start + 4 + nxt.start()] if nxt else text[start:]


# ----------------------------------------------------------------------------- every note, both formats
@pytest.mark.parametrize("name", WORKSPACES)
def test_every_note_each_stage_records_is_in_the_html_report(name, request):
    built = request.getfixturevalue(name)
    for stage, j in built["json"].items():
        assert j["notes"], f"the {stage} stage should record notes in this workspace"
        for note in j["notes"]:
            assert f"Note: {html.escape(note)}" in built["html"], (stage, note)


@pytest.mark.parametrize("name", WORKSPACES)
def test_every_note_each_stage_records_is_in_the_markdown_under_its_heading(name, request):
    built = request.getfixturevalue(name)
    for stage, j in built["json"].items():
        under = _md_under(built["md"], stage.capitalize())
        for note in j["notes"]:
            assert f"- Note: {md_escape(note)}" in under, (stage, note)


# ----------------------------------------------------------------------------- beside what they qualify
@pytest.mark.realdata
def test_landmark_past_follow_up_stands_under_the_kaplan_meier_table(pilot):
    km = _table_block(pilot["html"], "Kaplan-Meier estimates by group.")
    (landmark,) = [n for n in pilot["json"]["survival"]["notes"] if "is extrapolated" in n]
    assert html.escape(landmark) in km


@pytest.mark.realdata
def test_a_note_whose_table_is_not_shown_stands_under_the_sections_first_table(pilot):
    # --no-cox: there is no Cox table, so its note goes under survival's first table
    assert "Cox proportional hazards model: hazard ratios." not in pilot["html"]
    assert "Note: Cox model not fitted (--no-cox)" in _table_block(pilot["html"], "Kaplan-Meier estimates by group.")
    # no ADEX: no onset table; the note stands under safety's first table, the overview
    overview = _table_block(pilot["html"], "Overview of treatment-emergent adverse events")
    assert "Note: the workspace holds no ADEX: no onset-relative-to-dose table" in overview


@pytest.mark.realdata
def test_liver_notes_stand_under_the_first_liver_table(pilot):
    hys = _table_block(pilot["html"], "Potential Hy's law cases.")
    for note in pilot["json"]["safety"]["notes"]:
        if note.startswith("liver tests:") or "Hy's law screen" in note:
            assert html.escape(note) in hys, note


@pytest.mark.realdata
def test_biomarker_baseline_gaps_the_cli_reports_are_notes_of_the_change_table(pilot):
    j = pilot["json"]["biomarkers"]
    (alt,) = [r for r in j["baseline"] if r["PARAMCD"] == "ALT"]
    assert alt["N_NO_BASELINE"] > 0
    note = (f"ALT: {alt['N_NO_BASELINE']} subject(s) without baseline; {alt['N_RECORDS_NO_CHG']} record(s) kept "
            "without CHG")
    assert html.escape(note) in _table_block(pilot["html"], "Mean change from baseline by visit, all groups pooled.")
    assert f"- Note: {md_escape(note)}" in _md_under(pilot["md"], "Biomarkers")


def test_one_group_and_min_percent_notes_stand_under_the_incidence_table(seed):
    incidence = _table_block(seed["html"], "Incidence of TEAEs by system organ class and preferred term.")
    notes = seed["json"]["safety"]["notes"]
    for note in notes:
        if note.startswith("only one group") or note.startswith("--min-percent"):
            assert html.escape(note) in incidence, note
    assert any(n.startswith("--min-percent 20") for n in notes)


def test_each_note_is_shown_once(seed):
    for stage, j in seed["json"].items():
        for note in j["notes"]:
            assert seed["html"].count(f"Note: {html.escape(note)}") == 1, (stage, note)


# ----------------------------------------------------------------------------- rendering rules, on hand-made inputs
def _inputs(survival: dict) -> ReportInputs:
    return ReportInputs(title="t", study_ids=(), builtin=False, synthetic=False, ingest=None, manifest={"files": {}},
                        validation=None, sources=(), adsl=None, adlb=None,
                        stages={"survival": StageOutput("survival", StageData("survival", survival))},
                        claims=None, claim_results=None, claims_note="", versions=(), timestamp=None)


KM = {"endpoint": "OS", "arms": [{"arm": "A", "n": 5, "events": 2}, {"arm": "B", "n": 5, "events": 0}],
      "medians": [], "landmarks": [], "logrank": {"rho": 0, "chisq": 1.0, "df": 1, "p": 0.3}, "pairwise": [],
      "trend": None, "settings": {"ties": "efron"}}


def test_cox_reasons_stand_under_the_cox_table_once_and_unknown_notes_under_the_first_table():
    reason = "no event in B: hazard ratio not estimable"
    j = KM | {"cox": [{"arm": "B", "reference": "A", "hr": None, "reason": reason}],
              "notes": [f"Cox: B: {reason}", "a note <b>no route</b> knows"]}
    text = render_html(_inputs(j), "0")
    cox = _table_block(text, "Cox proportional hazards model: hazard ratios.")
    assert html.escape(f"Note: Cox: B: {reason}") in cox
    assert text.count(reason) == 1, "the reason is said once, as the note the stage recorded"
    first = _table_block(text, "Kaplan-Meier estimates by group.")
    assert "Note: a note &lt;b&gt;no route&lt;/b&gt; knows" in first
    numbers = [int(n) for n in re.findall(r'<span class="lbl">Table (\d+)\.</span>', text)]
    assert numbers == list(range(1, len(numbers) + 1)), "re-rendering the first table keeps the numbering"
    md = render_markdown(_inputs(j), "0")
    assert "- Note: a note &lt;b&gt;no route&lt;/b&gt; knows" in _md_under(md, "Survival")


def test_notes_of_a_section_without_a_table_are_listed_not_dropped():
    text = render_html(_inputs({"endpoint": "OS", "notes": ["nothing could be estimated"]}), "0")
    section = text[text.index('<section id="survival">'): text.index("</section>", text.index('<section id="survival">'))]
    assert "<li>Note: nothing could be estimated</li>" in section


def test_the_first_table_keeps_its_own_notes_first_then_those_no_table_took():
    landmark = "S(2y) is extrapolated for Placebo: 2y (730.5 days) is after their last observed time"
    j = KM | {"cox": [], "notes": ["Cox model not fitted (--no-cox)", landmark]}
    km = _table_block(render_html(_inputs(j), "0"), "Kaplan-Meier estimates by group.")
    assert 0 < km.index(f"Note: {landmark}") < km.index("Note: Cox model not fitted (--no-cox)")
