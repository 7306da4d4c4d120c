"""Every stage, and the report after them, on the smallest datasets the schemas accept.

schemas/adam.py requires only USUBJID and TRT01A in ADSL; USUBJID, AEDECOD,
AEBODSYS in ADAE; USUBJID, PARAMCD, AVAL, CNSR in ADTTE; USUBJID, PARAMCD,
AVAL in ADLB. Data that valid must give tables, figures and a report (or a
one-line data error naming what is missing), never "this is a trialkit bug".
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from trialkit.analyses.ard import AnalysisMeta, safety_ard
from trialkit.analyses.groups import arms_of
from trialkit.analyses.safety.pipeline import analyse_safety, choose_reference, safety_json
from trialkit.schemas.errors import TrialkitError

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "fixtures" / "seed_trial"

ADSL = "USUBJID,TRT01A\nS1,Placebo\nS2,Placebo\nS3,Drug\nS4,Drug\n"
ADAE = ("USUBJID,AEDECOD,AEBODSYS,ASTDY\nS1,Headache,Nervous system disorders,3\n"
        "S3,Nausea,Gastrointestinal disorders,5\nS3,Headache,Nervous system disorders,-2\n")
# treatment-emergence from TRTEMFL, serious and fatal AEs, and no onset day at all
ADAE_FLAGS = ("USUBJID,AEDECOD,AEBODSYS,TRTEMFL,AESER,AESDTH\nS1,Headache,Nervous system disorders,Y,Y,N\n"
              "S3,Nausea,Gastrointestinal disorders,Y,Y,Y\nS3,Headache,Nervous system disorders,N,Y,N\n")
ADTTE = "USUBJID,PARAMCD,AVAL,CNSR\nS1,OS,100,0\nS2,OS,200,1\nS3,OS,150,0\nS4,OS,50,1\n"
ADLB = "USUBJID,PARAMCD,AVAL\nS1,ALT,30\nS2,ALT,60\nS3,ALT,200\nS4,AST,20\nS1,BILI,10\nS3,BILI,50\n"
ADLB_ULN = "USUBJID,PARAMCD,AVAL,A1HI\nS1,ALT,30,40\nS2,ALT,60,40\nS3,ALT,200,40\nS4,AST,20,40\nS1,BILI,10,20\nS3,BILI,50,20\n"
ADLB_DAYS = ("USUBJID,PARAMCD,AVAL,ADY\nS1,ALB,30,1\nS1,ALB,35,10\nS2,ALB,33,1\nS2,ALB,31,10\nS3,ALB,30,1\n"
             "S3,ALB,38,10\nS4,ALB,30,1\nS4,ALB,32,10\n")


def _workspace(tmp_path: Path, run_cli, files: dict[str, str]) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name, text in files.items():
        (src / name).write_text(text)
    ws = tmp_path / "ws"
    result = run_cli(["ingest", src, "--workspace", ws])
    assert result.exit_code == 0, result.stderr
    result = run_cli(["validate", "--workspace", ws])
    assert result.exit_code == 0, result.stdout + result.stderr
    return ws


def _ok(run_cli, ws: Path, *args: str):
    result = run_cli([*args, "--workspace", ws])
    assert result.exit_code == 0, f"{args}: {result.stderr}"
    assert "trialkit bug" not in result.stderr
    return result


@pytest.mark.parametrize(("adae", "adlb"), [(ADAE, ADLB), (ADAE_FLAGS, ADLB_ULN)], ids=["onset-day", "flags-only"])
def test_every_safety_output_and_the_report_work_on_minimal_datasets(tmp_path, run_cli, adae, adlb):
    ws = _workspace(tmp_path, run_cli, {"adsl.csv": ADSL, "adae.csv": adae, "adtte.csv": ADTTE, "adlb.csv": adlb})
    table = _ok(run_cli, ws, "safety")
    assert "Serious adverse events" in table.stdout
    doc = json.loads(_ok(run_cli, ws, "safety", "--format", "json").stdout)
    assert {"overview", "incidence", "sae", "deaths"} <= set(doc)
    assert _ok(run_cli, ws, "safety", "--format", "csv").stdout.startswith("table,")
    assert (ws / "safety" / "teae_dotplot.png").exists()
    _ok(run_cli, ws, "safety", "--no-plot", "--sort", "frequency", "--min-percent", "10")
    _ok(run_cli, ws, "survival")
    _ok(run_cli, ws, "report")
    _ok(run_cli, ws, "report", "--format", "md")
    _ok(run_cli, ws, "results")
    assert (ws / "report.html").stat().st_size > 0


def test_serious_and_fatal_aes_without_an_onset_day_are_listed(tmp_path, run_cli):
    ws = _workspace(tmp_path, run_cli, {"adsl.csv": ADSL, "adae.csv": ADAE_FLAGS})
    doc = json.loads(_ok(run_cli, ws, "safety", "--format", "json", "--no-plot").stdout)
    assert [(r["usubjid"], r["arm"], r["pt"], r["onset_day"]) for r in doc["sae"]] == [  # groups by label, records
        ("S3", "Drug", "Nausea", None), ("S3", "Drug", "Headache", None), ("S1", "Placebo", "Headache", None)]
    assert [(r["usubjid"], r["term"], r["onset_day"]) for r in doc["deaths"]] == [("S3", "Nausea", None)]


def test_biomarkers_with_study_days_and_no_visits_write_their_base_check(tmp_path, run_cli):
    ws = _workspace(tmp_path, run_cli, {"adsl.csv": ADSL, "adlb.csv": ADLB_DAYS})
    _ok(run_cli, ws, "biomarkers", "--no-plot")
    check = pl.read_parquet(ws / "biomarkers" / "base_check.parquet")
    assert check.columns == ["USUBJID", "PARAMCD", "AVISIT", "AVISITN", "BASE_SRC", "BASE"]
    _ok(run_cli, ws, "report")


def _seed(name: str) -> pl.DataFrame:
    return pl.read_csv(SEED / f"{name}.csv", try_parse_dates=True)


_REQUIRED_ADAE = ["USUBJID", "AEDECOD", "AEBODSYS"]
_OPTIONAL_ADAE = [c for c in _seed("adae").columns if c not in _REQUIRED_ADAE]


@pytest.mark.parametrize("onset", ["ASTDY", "TRTEMFL", "ASTDT"])
@pytest.mark.parametrize("extra", [None, *_OPTIONAL_ADAE])
def test_safety_analysis_accepts_the_required_adae_variables_with_any_one_optional_one(onset, extra):
    adsl, adae = _seed("adsl"), _seed("adae")
    keep = list(dict.fromkeys([*_REQUIRED_ADAE, onset, *([extra] if extra else [])]))
    arms = arms_of(adsl)
    result = analyse_safety(adsl, adae.select(keep), arms, choose_reference(arms, arms, None),
                            adex=_seed("adex"), adlb=_seed("adlb"))
    safety_json(result)
    assert safety_ard(result, AnalysisMeta("safety")).height > 0


def test_an_adae_without_any_onset_or_flag_is_a_data_error_not_a_bug():
    adsl = _seed("adsl")
    arms = arms_of(adsl)
    with pytest.raises(TrialkitError, match="neither TRTEMFL nor an onset"):
        analyse_safety(adsl, _seed("adae").select(_REQUIRED_ADAE), arms, choose_reference(arms, arms, None))
