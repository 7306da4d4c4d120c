"""``trialkit report``: Table 1, the claims check, missing stages, escaping, determinism, Markdown.

Table 1 is pinned against base R on the same data:
    Rscript tests/reference/make_report_table1.R
writes tests/reference/report_table1_seed.csv and report_table1_pilot.csv
(mean, sd, quantile(type = 7), counts and percentages, rounded half away
from zero), compared here as exact text.

The report tests run the real analysis stages that are registered; those
that need a stage skip, naming it, while it is not registered yet.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from report_workspaces import BUILTIN_OPTIONS, missing_stages, run_stages, staged_copy
from trialkit.analyses.groups import arms_of
from trialkit.analyses.report.table1 import baseline_characteristics

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "fixtures" / "seed_trial"
REF = Path(__file__).parent / "reference"
BAD_TERM = "<script>alert(1)</script>"
BAD_ARM = '"><img src=x onerror=alert(1)>'


def _need_all_stages():
    missing = missing_stages()
    if missing:
        pytest.skip(f"needs the analysis stages {', '.join(missing)}, not registered in trialkit yet")


@pytest.fixture(scope="module")
def staged(seed_workspace, run_cli, tmp_path_factory):
    """The built-in trial with every registered stage run."""
    ws, _ran = staged_copy(seed_workspace, tmp_path_factory.getbasetemp(), run_cli, "seed-staged", BUILTIN_OPTIONS)
    return ws


def _report(run_cli, ws, *args, env=None):
    return run_cli(["report", "--workspace", ws, *args], env=env)


class _Elements(HTMLParser):
    """Every start tag with its attributes, as the browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def _elements(text: str) -> list[tuple[str, dict]]:
    p = _Elements()
    p.feed(text)
    return p.tags


# ----------------------------------------------------------------------------- Table 1
def _compare_table1(ws: Path, reference: Path, variables: list[str] | None = None) -> None:
    adsl, adlb = pl.read_parquet(ws / "adsl.parquet"), pl.read_parquet(ws / "adlb.parquet")
    got = baseline_characteristics(adsl, adlb, arms_of(adsl), variables).display.select("label", "row", "group", "value")
    want = pl.read_csv(reference, infer_schema_length=0)
    assert got.height == want.height
    joined = got.join(want, on=["label", "row", "group"], how="full", suffix="_r", coalesce=True)
    assert joined.filter(pl.col("value").is_null() | pl.col("value_r").is_null()).height == 0
    assert joined.filter(pl.col("value") != pl.col("value_r")).to_dicts() == []


def test_table1_matches_base_r_on_the_builtin_trial(seed_workspace):
    _compare_table1(seed_workspace, REF / "report_table1_seed.csv")


@pytest.mark.realdata
def test_table1_matches_base_r_on_the_cdisc_pilot(pilot_workspace):
    _compare_table1(pilot_workspace, REF / "report_table1_pilot.csv", ["AGE", "SEX", "RACE"])


def test_table1_rounds_half_away_from_zero_and_shows_missing():
    from trialkit.analyses.groups import Arm

    adsl = pl.DataFrame({"USUBJID": ["a", "b", "c", "d"], "TRT01A": ["X"] * 4, "AGE": [30.0, 30.0, 30.0, 31.0],
                         "SEX": ["F", "M", None, "F"]})
    t = baseline_characteristics(adsl, None, [Arm("X", "X", 1.0)]).display
    by = {(r["label"], r["row"], r["group"]): r["value"] for r in t.to_dicts()}
    # mean 30.25 -> "30.3" (half away from zero; Python's round-half-even would give 30.2)
    assert by[("Age (years)", "Mean (SD)", "X")] == "30.3 (0.5)"
    assert by[("Age (years)", "Q1, Q3", "X")] == "30.0, 30.3"  # Q3 = 30.25 (type 7)
    assert by[("Age (years)", "Min, Max", "X")] == "30, 31"
    assert by[("Sex", "Missing", "X")] == "1 (25.0%)"
    assert by[("Sex", "Female", "Total")] == "2 (50.0%)"


# ----------------------------------------------------------------------------- the built-in trial
def test_builtin_trial_report_reproduces_every_claim_by_construction(staged, run_cli, tmp_path):
    _need_all_stages()
    out = tmp_path / "report.html"
    r = _report(run_cli, staged, "--out", out, "--check")
    assert r.exit_code == 0, r.stdout + r.stderr  # by construction passes the gate
    assert "Claims: 8 reproduced by construction, 0 not reproduced, 0 not evaluable" in r.stdout
    assert "By construction: synthetic data, generated until the claims hold; this checks" in r.stdout
    text = out.read_text()
    checks = sum(1 for _ in re.finditer(r"\[\[claims\.checks\]\]", (SEED / "claims.toml").read_text()))
    assert len(re.findall(r">reproduced by construction(?:</td>|: )", text)) == checks
    assert ">reproduced</td>" not in text
    assert "claims reproduced by construction (synthetic data)</div>" in text
    assert "it does not show that the paper&#x27;s patients had them" in text or \
        "it does not show that the paper's patients had them" in text
    assert "power 0.07 to detect HR 0.5 (last vs first group) at alpha 0.05 with 3 event(s)" in text
    assert "Synthetic data — not real patients." in text
    for section in ("Study and data provenance", "Baseline characteristics", "Biomarkers", "Survival", "Safety",
                    "Claims check", "Methods", "Reproducibility"):
        assert f"</span> {section}</h2>" in text
    assert "has not run" not in text


def test_changed_claim_is_not_reproduced_with_both_values_and_check_exits_1(staged, run_cli, tmp_path):
    if "survival" in missing_stages():
        pytest.skip("needs the survival stage, not registered in trialkit yet")
    claims = tmp_path / "changed.toml"
    original = (SEED / "claims.toml").read_text()
    changed = original.replace("value = 0.3328\n  abs = 0.00005", "value = 0.05\n  abs = 0.001")
    assert changed != original
    claims.write_text(changed)
    out = tmp_path / "r.html"
    r = _report(run_cli, staged, "--claims", claims, "--out", out, "--check")
    assert r.exit_code == 1
    assert "claim 3 not reproduced: p = 0.332801; published = 0.05 ± 0.001" in r.stderr
    text = out.read_text()
    assert "Claim 3 — not reproduced" in text
    row = re.search(r"Three-group log-rank p</td>(.*?)</tr>", text, re.S).group(1)
    assert ">= 0.05 ± 0.001</td>" in row and ">0.332801</td>" in row
    assert ">not reproduced: p = 0.332801; published = 0.05 ± 0.001; the data are synthetic, generated until the " \
           "claims hold: a failure here points at a bug in the generator (or in trialkit), not at the paper</td>" in row
    # without --check the same report is written and the command succeeds
    assert _report(run_cli, staged, "--claims", claims, "--out", out).exit_code == 0


def test_a_stage_that_has_not_run_is_shown_with_its_command(seed_workspace, run_cli, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(seed_workspace, ws)
    for stage in ("survival", "biomarkers", "safety"):
        shutil.rmtree(ws / stage, ignore_errors=True)
    r = _report(run_cli, ws, "--check")
    assert r.exit_code == 1  # claims on missing stages are not evaluable: --check does not pass them
    assert "Claims: 0 reproduced, 0 not reproduced, 8 not evaluable" in r.stdout
    text = (ws / "report.html").read_text()
    for stage in ("survival", "biomarkers", "safety"):
        assert f"The {stage} stage has not run in this workspace." in text
        assert f"trialkit {stage} --workspace {ws}" in text
    assert "the survival stage has not run (run `trialkit survival`)" in text
    assert not any(p.is_dir() for p in (ws / "survival", ws / "biomarkers", ws / "safety")), "report never runs a stage"


def test_report_is_byte_identical_for_identical_inputs_and_source_date_epoch(staged, run_cli, tmp_path):
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    assert _report(run_cli, staged, "--out", a, env=env).exit_code == 0
    assert _report(run_cli, staged, "--out", b, env=env).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    assert "Generated 2023-11-14 22:13:20 UTC (SOURCE_DATE_EPOCH)." in a.read_text()
    assert _report(run_cli, staged, "--out", a, env={"SOURCE_DATE_EPOCH": None}).exit_code == 0
    assert _report(run_cli, staged, "--out", b, env={"SOURCE_DATE_EPOCH": None}).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    assert "SOURCE_DATE_EPOCH not set" in a.read_text()
    # the report written inside the workspace (and recorded in manifest.json) does not change the next one
    assert _report(run_cli, staged, env=env).exit_code == 0
    first = (staged / "report.html").read_bytes()
    assert _report(run_cli, staged, env=env).exit_code == 0
    assert (staged / "report.html").read_bytes() == first


def test_html_is_self_contained(staged, run_cli, tmp_path):
    out = tmp_path / "r.html"
    assert _report(run_cli, staged, "--out", out).exit_code == 0
    text = out.read_text()
    tags = _elements(text)
    assert [t for t, _ in tags if t in ("script", "link", "iframe", "object", "embed", "base")] == []
    srcs = [a["src"] for t, a in tags if "src" in a]
    assert srcs and all(s.startswith(("data:image/svg+xml;base64,", "data:image/png;base64,")) for s in srcs)
    hrefs = [a["href"] for t, a in tags if "href" in a]
    assert not [h for h in hrefs if re.match(r"^[a-z]+:", h)], "links are in-page or relative to workspace files"
    for h in hrefs:
        if not h.startswith("#"):
            assert (out.parent / h).is_file(), h
    assert not re.search(r"url\(|@import|https?://", text.split("</style>")[0].split("<style>", 1)[1])
    assert "Content-Security-Policy" in text and "default-src 'none'" in text


def test_html_escapes_data_in_terms_group_labels_and_claims(tmp_path, run_cli):
    """A crafted trial puts script and attribute injections into an AE term, a group label and a claim."""
    src = tmp_path / "src"
    src.mkdir()
    adsl = pl.read_csv(SEED / "adsl.csv", infer_schema_length=0)
    adsl = adsl.with_columns(*(pl.when(pl.col(c) == "High dose").then(pl.lit(BAD_ARM)).otherwise(pl.col(c)).alias(c)
                               for c in ("ARM", "TRT01P", "TRT01A")))
    adsl.write_csv(src / "adsl.csv")
    adae = pl.read_csv(SEED / "adae.csv", infer_schema_length=0)
    adae = adae.with_columns(pl.when(pl.col("AEDECOD") == "Pyrexia").then(pl.lit(BAD_TERM)).otherwise(pl.col("AEDECOD"))
                             .alias("AEDECOD"),
                             pl.when(pl.col("AETERM") == "Fever").then(pl.lit(BAD_ARM)).otherwise(pl.col("AETERM"))
                             .alias("AETERM"))
    adae.write_csv(src / "adae.csv")
    for name in ("adlb", "adtte", "adex"):
        shutil.copy(SEED / f"{name}.csv", src / f"{name}.csv")
    ws = tmp_path / "ws"
    assert run_cli(["ingest", src, "--workspace", ws]).exit_code == 0
    assert run_cli(["validate", "--workspace", ws]).exit_code in (0, 1)
    ran = run_stages(ws, run_cli, {"biomarkers": ["--param", "ALB", "--param", "PTA"]})
    claims = tmp_path / "claims.toml"
    claims.write_text(f'title = "{BAD_TERM}"\n[[claims]]\nid = "x"\ntext = {json.dumps(BAD_ARM)}\n'
                      '  [[claims.checks]]\n  stage = "safety"\n  key = "overview"\n'
                      f'  where = {{ arm = {json.dumps(BAD_ARM)} }}\n  field = "subjects"\n  aggregate = "sum"\n'
                      '  compare = "at_least"\n  value = 0\n')
    for fmt in ("html", "md"):
        out = tmp_path / f"report.{fmt}"
        r = run_cli(["report", "--workspace", ws, "--claims", claims, "--format", fmt, "--out", out,
                     "--title", BAD_ARM])
        assert r.exit_code == 0, r.stderr
        text = out.read_text()
        assert "<script" not in text.lower()
        assert "<img src=x" not in text
    html_text = (tmp_path / "report.html").read_text()
    tags = _elements(html_text)
    assert [t for t, _ in tags if t == "script"] == []
    assert [(t, k) for t, attrs in tags for k in attrs if k.lower().startswith("on")] == []
    assert [a for t, a in tags if t == "img" and not a.get("src", "").startswith("data:")] == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text or "safety" not in ran
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html_text


# ----------------------------------------------------------------------------- the CDISC pilot
@pytest.mark.realdata
def test_pilot_report_without_a_claims_file_says_so(pilot_workspace, run_cli, tmp_path_factory, tmp_path):
    ws, ran = staged_copy(pilot_workspace, tmp_path_factory.getbasetemp(), run_cli, "pilot-staged")
    out = tmp_path / "pilot.html"
    r = _report(run_cli, ws, "--out", out, "--check")
    assert r.exit_code == 0, r.stderr
    assert "No claims checked" in r.stdout
    text = out.read_text()
    assert "No claims file was given (--claims FILE) and the workspace does not hold the built-in trial" in text
    assert "Synthetic data" not in text
    assert "Reanalysis of CDISCPILOT01" in text
    assert "Xanomeline High Dose (N\u00a0=\u00a084)" in text
    for stage in ran:
        assert f"The {stage} stage has not run" not in text


# ----------------------------------------------------------------------------- Markdown, options, errors
def test_markdown_summary_has_claims_headlines_and_figure_links(staged, run_cli):
    r = _report(run_cli, staged, "--format", "md")
    assert r.exit_code == 0, r.stderr
    text = (staged / "report.md").read_text()
    assert "## Claims" in text and "| Claim | Check | Published | Reanalysis | Verdict |" in text
    assert "## Headline results" in text
    links = re.findall(r"\]\(([^)]+)\)", text)
    for link in links:
        assert (staged / link).is_file(), link
    if "survival" not in missing_stages():
        assert "log-rank p = 0.3328" in text and "survival/km.svg" in links


def test_out_outside_the_workspace_links_figures_relative_to_it(staged, run_cli, tmp_path):
    out = tmp_path / "deep" / "r.md"
    out.parent.mkdir()
    assert _report(run_cli, staged, "--format", "md", "--out", out).exit_code == 0
    for link in re.findall(r"\]\(([^)]+)\)", out.read_text()):
        assert (out.parent / link).is_file(), link
    manifest = json.loads((staged / "manifest.json").read_text())
    assert not any(k.endswith("r.md") for k in manifest["files"])


@pytest.mark.parametrize(("args", "env", "code", "message"), [
    (["--claims", "absent.toml"], None, 2, "claims file absent.toml does not exist"),
    ([], {"SOURCE_DATE_EPOCH": "yesterday"}, 2, "SOURCE_DATE_EPOCH='yesterday' is not a whole number of seconds"),
    (["--format", "pdf"], None, 2, "pdf"),
])
def test_bad_options_are_usage_errors(seed_workspace, run_cli, tmp_path, args, env, code, message):
    ws = tmp_path / "ws"
    shutil.copytree(seed_workspace, ws)
    r = _report(run_cli, ws, *args, env=env)
    assert r.exit_code == code
    assert message in r.stderr
    assert not (ws / "report.html").exists()


def test_invalid_claims_file_names_file_claim_and_field(seed_workspace, run_cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[claims]]\nid = "7"\ntext = "t"\n  [[claims.checks]]\n  stage = "survival"\n  key = "logrank"\n'
                   '  field = "p"\n  compare = "about"\n  value = 1\n')
    r = _report(run_cli, seed_workspace, "--claims", bad, "--out", tmp_path / "r.html")
    assert r.exit_code == 2
    assert f"claims file {bad}, claim '7', check 1: compare must be one of" in r.stderr


def test_empty_workspace_is_a_clear_error(run_cli, tmp_path):
    r = _report(run_cli, tmp_path / "nothing")
    assert r.exit_code == 2
    assert "holds no ingested data" in r.stderr and "trialkit ingest" in r.stderr
