"""`trialkit safety` end to end: outputs, options, failures, and the edge cases of the issue.

Small trials are written as CSV in tmp_path and go through the real
`trialkit ingest` (and `validate`) first. Pilot numbers come from
tests/reference/make_safety_reference.R (see tests/test_safety.py).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest


ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "fixtures" / "seed_trial"
REF = Path(__file__).parent / "reference"
TABLES = ["population", "overview", "incidence", "fisher", "severity", "sae", "deaths", "risk_differences",
          "hys_law"]


@pytest.fixture(scope="module")
def seed_run(seed_workspace, tmp_path_factory, run_cli):
    """The built-in trial copied (the shared workspace stays untouched), then `safety --format json`."""
    ws = tmp_path_factory.mktemp("seed_safety") / "ws"
    shutil.copytree(seed_workspace, ws)
    result = run_cli(["safety", "--workspace", ws, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return ws, json.loads(result.stdout)


@pytest.fixture(scope="module")
def pilot_run(pilot_workspace, tmp_path_factory, run_cli):
    ws = tmp_path_factory.mktemp("pilot_safety") / "ws"
    shutil.copytree(pilot_workspace, ws)
    result = run_cli(["safety", "--workspace", ws, "--format", "json", "--no-plot"])
    assert result.exit_code == 0, result.stderr
    return ws, json.loads(result.stdout)


def _workspace(tmp_path: Path, run_cli, files: dict[str, str], validate: bool = True) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name, text in files.items():
        (src / name).write_text(text)
    ws = tmp_path / "ws"
    assert run_cli(["ingest", src, "--workspace", ws]).exit_code == 0
    if validate:
        assert run_cli(["validate", "--workspace", ws]).exit_code in (0, 1)
    return ws


ADSL = """USUBJID,TRT01A,TRT01AN,SAFFL,TRTSDT
S1,Placebo,0,Y,2020-01-01
S2,Placebo,0,Y,2020-01-01
S3,Active,1,Y,2020-01-01
S4,Active,1,Y,2020-01-01
S5,Active,1,N,2020-01-01
"""
AE_HEAD = "USUBJID,AEBODSYS,AEDECOD,AESEV,AESER,AEREL,TRTEMFL,ASTDY\n"


def _json(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# ------------------------------------------------------------ built-in trial
def test_built_in_trial_writes_every_table_figure_and_the_json_contract(seed_run):
    ws, obj = seed_run
    out = ws / "safety"
    for name in [*TABLES, "onset", "onset_terms", "liver_peaks", "liver_shift"]:
        meta = pq.read_schema(out / f"{name}.parquet").metadata
        assert meta[b"trialkit.schema"].decode().startswith("safety-"), name
        assert meta[b"trialkit.command"].decode().startswith("trialkit safety"), name
    for stem in ("teae_dotplot", "edish", "mdish"):
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (out / f"{stem}.svg").read_bytes()[:400]
    assert json.loads((out / "safety.json").read_text()) == obj
    assert obj["figures"] == sorted(f"safety/{s}.{e}" for s in ("teae_dotplot", "edish", "mdish") for e in ("png", "svg"))
    assert obj["population"] == [{"arm": "Low dose", "n": 8}, {"arm": "Medium dose", "n": 8}, {"arm": "High dose", "n": 8}]
    assert obj["reference"] == "Low dose"
    for key in ("population", "overview", "incidence", "fisher", "hys_law", "definitions"):
        assert key in obj
    assert {"arm", "n"} <= set(obj["population"][0])
    assert {"category", "arm", "subjects", "percent"} <= set(obj["overview"][0])
    assert {"level", "soc", "pt", "arm", "subjects", "percent", "events"} <= set(obj["incidence"][0])
    assert {"level", "soc", "pt", "arm", "reference", "p"} <= set(obj["fisher"][0])
    anyrow = [r for r in obj["incidence"] if r["level"] == "any"]
    assert all(r["soc"] is None and r["pt"] is None for r in anyrow)
    assert all(r["pt"] is None for r in obj["incidence"] if r["level"] == "soc")
    assert obj["hys_law"] == []
    assert "TRTEMFL" in obj["definitions"]["treatment_emergent"]


def test_built_in_trial_has_no_serious_treatment_related_event(seed_run):
    _, obj = seed_run
    serious_related = [r for r in obj["overview"] if r["category"] == "Any serious related TEAE"]
    assert [r["subjects"] for r in serious_related] == [0, 0, 0]
    assert obj["sae"], "the built-in trial has one serious AE (oesophageal varices haemorrhage)"
    # the fixture's serious AEs, read from its CSV, are all reported NOT RELATED
    with open(SEED / "adae.csv") as f:
        serious = [r for r in csv.DictReader(f) if r["AESER"] == "Y"]
    assert serious and {r["AEREL"] for r in serious} == {"NOT RELATED"}
    assert len(obj["sae"]) == len(serious)


def test_built_in_trial_onset_after_infusion_matches_a_hand_count_from_the_csvs(seed_run):
    _, obj = seed_run
    with open(SEED / "adex.csv") as f:
        doses: dict[str, list[float]] = {}
        for r in csv.DictReader(f):
            doses.setdefault(r["USUBJID"], []).append(float(r["ASTDY"]))
    with open(SEED / "adsl.csv") as f:
        arm = {r["USUBJID"]: r["TRT01A"] for r in csv.DictReader(f)}
    expected: dict[tuple[str, str], int] = {}
    for r in csv.DictReader(open(SEED / "adae.csv")):
        day = float(r["ASTDY"])
        before = [d for d in doses[r["USUBJID"]] if d <= day]
        gap = day - max(before) if before else None
        window = ("before first dose" if gap is None else "within 24 h (day 0-1)" if gap <= 1 else "2-7 days"
                  if gap <= 7 else "8-30 days" if gap <= 30 else "later (> 30 days)")
        key = (window, arm[r["USUBJID"]])
        expected[key] = expected.get(key, 0) + 1
    got = {(r["window"], r["arm"]): r["events"] for r in obj["onset"] if r["events"]}
    assert got == expected
    assert sum(got.values()) == 19


def test_table_format_prints_the_tables_and_the_notes(seed_workspace, tmp_path, run_cli):
    ws = tmp_path / "ws"
    shutil.copytree(seed_workspace, ws)
    result = run_cli(["safety", "--workspace", ws, "--no-plot"])
    assert result.exit_code == 0, result.stderr
    for text in ("Overview of treatment-emergent adverse events", "Incidence of TEAEs", "Onset of AEs after",
                 "Hy's law candidates", "baseline -> worst", "Note:"):
        assert text in result.stdout, text
    assert not list((ws / "safety").glob("*.png"))


def test_no_plot_keeps_the_figures_of_an_identical_earlier_run(seed_run, run_cli, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(seed_run[0], ws)
    before = (ws / "safety" / "edish.png").read_bytes()
    obj = _json(run_cli(["safety", "--workspace", ws, "--no-plot", "--format", "json"]))
    assert "safety/edish.png" in obj["figures"] and (ws / "safety" / "edish.png").read_bytes() == before
    manifest = json.loads((ws / "manifest.json").read_text())
    assert "safety/edish.png" in manifest["files"] and "safety/incidence.parquet" in manifest["files"]


def test_no_plot_removes_figures_of_an_earlier_run_with_other_options(seed_run, run_cli, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(seed_run[0], ws)
    obj = _json(run_cli(["safety", "--workspace", ws, "--no-plot", "--format", "json", "--min-percent", "10"]))
    assert obj["figures"] == [] and not (ws / "safety" / "edish.png").exists()
    manifest = json.loads((ws / "manifest.json").read_text())
    assert "safety/edish.png" not in manifest["files"] and "safety/incidence.parquet" in manifest["files"]


def test_a_single_group_has_no_fisher_test_and_a_dot_plot_of_incidence(seed_workspace, tmp_path, run_cli):
    ws = tmp_path / "ws"
    shutil.copytree(seed_workspace, ws)
    obj = _json(run_cli(["safety", "--workspace", ws, "--format", "json", "--arm", "high"]))
    assert obj["population"] == [{"arm": "High dose", "n": 8}] and obj["fisher"] == []
    assert all(r["rd"] is None for r in obj["risk_differences"])
    assert "analyses/safety-arm-high/teae_dotplot.png" in obj["figures"]
    assert any("only one group" in n for n in obj["notes"])
    assert obj["analysis"]["name"] == "safety-arm-high" and not obj["analysis"]["primary"]


def test_csv_format_writes_every_table_in_one_long_csv(seed_workspace, tmp_path, run_cli):
    ws = tmp_path / "ws"
    shutil.copytree(seed_workspace, ws)
    result = run_cli(["safety", "--workspace", ws, "--format", "csv", "--no-plot"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("table,")
    tables = {line.split(",", 1)[0] for line in lines[1:]}
    assert {"population", "overview", "incidence", "fisher", "onset", "liver_shift"} <= tables


# -------------------------------------------------------------- CDISC pilot
@pytest.mark.realdata
def test_pilot_json_reproduces_table_14_5_01(pilot_run):
    _, obj = pilot_run
    with open(REF / "pilot_t14_5_01.csv") as f:
        ref = list(csv.DictReader(f))
    inc = {(r["level"], r["soc"], r["pt"], r["arm"]): r for r in obj["incidence"]}
    fisher = {(r["level"], r["soc"], r["pt"], r["arm"]): r["p"] for r in obj["fisher"]}
    assert len(inc) == len(ref)
    for r in ref:
        key = (r["level"], r["soc"] or None, r["pt"] or None, r["arm"])
        got = inc[key]
        assert (got["subjects"], got["events"], f"{got['percent']:.1f}") == (
            int(r["subjects"]), int(r["events"]), f"{float(r['percent']):.1f}"), key
        if r["arm"] != r["reference"]:
            want = r["p_vs_reference"]
            assert (fisher[key] is None) == (want == ""), key
            if want:
                assert f"{fisher[key]:.3f}" == f"{float(want):.3f}", key


@pytest.mark.realdata
def test_pilot_hys_law_screen_in_the_json(pilot_run):
    _, obj = pilot_run
    assert [r["usubjid"] for r in obj["hys_law"]] == ["01-705-1186"]
    assert set(obj["hys_law"][0]) == {"usubjid", "arm", "alt_uln", "ast_uln", "bili_uln"}
    assert obj["onset"] is None and any("no ADEX" in n for n in obj["notes"])


@pytest.mark.realdata
def test_pilot_frequency_sort_and_min_percent_filter_rows_not_the_overview(pilot_run, run_cli):
    ws, full = pilot_run
    obj = _json(run_cli(["safety", "--workspace", ws, "--format", "json", "--no-plot", "--sort", "frequency",
                         "--min-percent", "10"]))
    assert obj["overview"] == full["overview"]
    rows = {}
    for r in obj["incidence"]:
        rows.setdefault(r["row"], []).append(r)
    first_soc = rows[2][0]
    assert first_soc["level"] == "soc" and first_soc["soc"] == "GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS"
    for group in rows.values():
        if group[0]["level"] != "any":
            assert max(r["percent"] for r in group) >= 10
    totals = [sum(r["subjects"] for r in g) for g in rows.values() if g[0]["level"] == "soc"]
    assert totals == sorted(totals, reverse=True)
    assert len(rows) < len({r["row"] for r in full["incidence"]})


@pytest.mark.realdata
def test_pilot_arm_and_reference_options(pilot_run, run_cli):
    ws, _ = pilot_run
    obj = _json(run_cli(["safety", "-w", ws, "-f", "json", "--no-plot", "--arm", "high", "--arm", "low",
                         "--reference", "low"]))
    assert [p["arm"] for p in obj["population"]] == ["Xanomeline Low Dose", "Xanomeline High Dose"]
    assert {r["reference"] for r in obj["fisher"]} == {"Xanomeline Low Dose"}
    # R: fisher.test(matrix(c(76, 8, 77, 7), nrow = 2, byrow = TRUE))$p.value = 1
    anyp = [r["p"] for r in obj["fisher"] if r["level"] == "any"]
    assert anyp == [pytest.approx(1.0, rel=1e-9)]


# ------------------------------------------------------------------ failures
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arm", "nonsense"], "matches no group"),
        (["--arm", "low", "--reference", "high"], "is not among the groups"),
        (["--min-percent", "150"], "is not a percentage"),
        (["--sort", "random"], "random"),
    ],
)
def test_bad_options_are_usage_errors_and_write_nothing(seed_workspace, tmp_path, run_cli, args, message):
    ws = tmp_path / "ws"
    shutil.copytree(seed_workspace, ws)
    result = run_cli(["safety", "--workspace", ws, *args])
    assert result.exit_code == 2
    assert message in result.stderr + result.stdout
    assert not (ws / "safety").exists()


def test_missing_workspace_is_a_clear_error(tmp_path, run_cli):
    result = run_cli(["safety", "--workspace", tmp_path / "empty"])
    assert result.exit_code == 2
    assert "run trialkit ingest first" in result.stderr


def test_help_has_an_example_and_loads_no_heavy_library(run_cli):
    result = run_cli(["safety", "--help"])
    assert result.exit_code == 0 and "Example:" in result.stdout
    code = ("import sys\nfrom trialkit.cli.app import app\ntry:\n    app(['safety', '--help'])\nexcept SystemExit:\n"
            "    pass\nprint(' '.join(sorted(sys.modules)))\n")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    assert not {"polars", "scipy", "plotnine", "matplotlib", "pyarrow"} & loaded


# ---------------------------------------------------------------- edge cases
def test_a_trial_with_no_adverse_events_gives_zero_counts_and_says_so(tmp_path, run_cli):
    ws = _workspace(tmp_path, run_cli, {"adsl.csv": ADSL, "adae.csv": AE_HEAD})
    obj = _json(run_cli(["safety", "--workspace", ws, "--format", "json"]))
    assert [(r["level"], r["subjects"], r["events"]) for r in obj["incidence"]] == [("any", 0, 0)] * 2
    assert [r["p"] for r in obj["fisher"]] == [None]
    assert any("no treatment-emergent adverse event in the safety population" in n for n in obj["notes"])
    assert any("teae_dotplot not drawn" in n for n in obj["notes"])
    assert obj["population"] == [{"arm": "Placebo", "n": 2}, {"arm": "Active", "n": 2}]


def test_a_group_with_no_events_gets_zero_rows_and_a_note(tmp_path, run_cli):
    adae = AE_HEAD + "S1,Skin,Rash,MILD,N,NONE,Y,3\nS2,Skin,Rash,MODERATE,N,NONE,Y,4\nS2,Skin,Rash,MILD,N,NONE,Y,9\n"
    ws = _workspace(tmp_path, run_cli, {"adsl.csv": ADSL, "adae.csv": adae})
    obj = _json(run_cli(["safety", "--workspace", ws, "--format", "json", "--no-plot"]))
    rash = {r["arm"]: (r["subjects"], r["percent"], r["events"]) for r in obj["incidence"] if r["pt"] == "Rash"}
    assert rash == {"Placebo": (2, 100.0, 3), "Active": (0, 0.0, 0)}
    # R: fisher.test(matrix(c(0, 2, 2, 0), nrow = 2, byrow = TRUE))$p.value = 0.3333333
    assert [r["p"] for r in obj["fisher"] if r["pt"] == "Rash"] == [pytest.approx(1 / 3, rel=1e-9)]
    assert "Active: no treatment-emergent adverse event (0 of 2 subjects)" in obj["notes"]


def test_missing_aesev_counts_under_missing_and_is_noted(tmp_path, run_cli):
    adae = AE_HEAD + "S1,Skin,Rash,,N,NONE,Y,3\nS3,Skin,Rash,SEVERE,N,NONE,Y,4\nS4,Skin,Rash,,N,NONE,Y,4\n"
    ws = _workspace(tmp_path, run_cli, {"adsl.csv": ADSL, "adae.csv": adae})
    obj = _json(run_cli(["safety", "--workspace", ws, "--format", "json", "--no-plot"]))
    sev = {(r["arm"], r["severity"]): r["subjects"] for r in obj["severity"] if r["level"] == "any"}
    assert sev[("Placebo", "MISSING")] == 1 and sev[("Active", "SEVERE")] == 1 and sev[("Active", "MISSING")] == 1
    assert any("AESEV is missing on 2 TEAE record(s) of 2 subject(s)" in n for n in obj["notes"])
    severe = {r["arm"]: r["subjects"] for r in obj["overview"] if r["category"] == "Any severe TEAE"}
    assert severe == {"Placebo": 0, "Active": 1}


def test_an_ae_of_a_subject_not_in_adsl_is_refused_then_counted_after_validate(tmp_path, run_cli):
    adae = AE_HEAD + "S1,Skin,Rash,MILD,N,NONE,Y,3\nS9,Skin,Rash,MILD,N,NONE,Y,3\n"
    ws = _workspace(tmp_path, run_cli, {"adsl.csv": ADSL, "adae.csv": adae}, validate=False)
    before = run_cli(["safety", "--workspace", ws, "--no-plot"])
    assert before.exit_code == 1
    assert "usubjid_in_adsl" in before.stderr and "trialkit validate" in before.stderr
    assert run_cli(["validate", "--workspace", ws]).exit_code == 1
    obj = _json(run_cli(["safety", "--workspace", ws, "--format", "json", "--no-plot"]))
    assert ("1 ADAE record(s) whose subject is not in ADSL were quarantined by trialkit validate "
            "(quarantine/adae.parquet) and are not counted") in obj["notes"]
    assert [r["subjects"] for r in obj["incidence"] if r["level"] == "any"] == [1, 0]


def test_without_trtemfl_the_onset_rule_is_used_and_stated(tmp_path, run_cli):
    adae = "USUBJID,AEBODSYS,AEDECOD,AESEV,ASTDY\nS1,Skin,Rash,MILD,-3\nS1,Skin,Itch,MILD,1\nS3,Skin,Rash,MILD,2\n"
    adex = "USUBJID,EXDOSE,EXDOSU,ASTDY\nS1,1,mg,1\nS3,1,mg,1\nS1,1,mg,8\n"
    ws = _workspace(tmp_path, run_cli, {"adsl.csv": ADSL, "adae.csv": adae, "adex.csv": adex})
    obj = _json(run_cli(["safety", "--workspace", ws, "--format", "json", "--no-plot"]))
    assert "ASTDY >= 1" in obj["definitions"]["treatment_emergent"]
    assert [(r["pt"], r["arm"], r["subjects"]) for r in obj["incidence"] if r["level"] == "pt" and r["subjects"]] == [
        ("Itch", "Placebo", 1), ("Rash", "Active", 1)]
    onset = {(r["window"], r["arm"]): r["events"] for r in obj["onset"] if r["events"]}
    assert onset == {("before first dose", "Placebo"): 1, ("within 24 h (day 0-1)", "Placebo"): 1,
                     ("within 24 h (day 0-1)", "Active"): 1}
    assert any("liver-safety screens skipped" in n for n in obj["notes"])


def test_parquet_tables_hold_what_the_json_says(seed_run):
    ws, obj = seed_run
    inc = pl.read_parquet(ws / "safety" / "incidence.parquet")
    assert inc.height == len(obj["incidence"])
    assert inc["subjects"].to_list() == [r["subjects"] for r in obj["incidence"]]
