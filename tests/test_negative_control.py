"""The negative control (fixtures/negative_control): the seed trial's design with
effects that contradict the publication. The seed trial's claims file must find
claims 1 to 7 "not reproduced" on it, after the same stages as ``make demo``;
claim 8 (no serious related adverse event) is left true by design and is not
asserted either way. A claims check that cannot fail here would be worthless
on the seed trial, where every claim holds by construction."""

from __future__ import annotations

import csv
import importlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import invoke
from trialkit.analyses.claims import NOT_REPRODUCED, StageData, evaluate_claims, parse_claims

ROOT = Path(__file__).resolve().parents[1]
NEGATIVE = ROOT / "fixtures" / "negative_control"
SEED = ROOT / "fixtures" / "seed_trial"
CLAIMS = ROOT / "fixtures" / "seed_trial" / "claims.toml"
DATASETS = ("adsl", "adex", "adlb", "adae", "adtte")
CONTRADICTED = ("1", "2", "3", "4", "5", "6", "7")


def run(args: list, ws: Path):
    result = invoke([*args, "--workspace", ws])
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A tmp copy of the negative control through ingest, validate and the stages `make demo` runs
    (without figures: the claims read numbers only)."""
    source = tmp_path_factory.mktemp("negative") / "data"
    shutil.copytree(NEGATIVE, source)
    ws = source.parent / "ws"
    for args in (["ingest", source], ["validate"], ["survival", "--times", "6m,2y", "--no-plot"],
                 ["biomarkers", "--no-plot"], ["safety", "--no-plot"]):
        code, output = run(args, ws)
        assert code == 0, (args, output)
    return ws


def stage_data(ws: Path, name: str) -> StageData:
    """A stage's JSON and Parquet tables as the claims engine reads them."""
    folder = ws / name
    tables = {p.stem: pl.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}
    return StageData(name, json.loads((folder / f"{name}.json").read_text()), tables)


def test_generator_rewrites_the_negative_control_byte_for_byte(tmp_path):
    generate = importlib.import_module("trialkit.fixtures.seed_trial.generate")
    generate.main(tmp_path, generate.NEGATIVE_CONTROL)
    for name in DATASETS:
        assert (tmp_path / f"{name}.csv").read_bytes() == (NEGATIVE / f"{name}.csv").read_bytes(), name


def _generator_inputs(folder: Path):
    """ADLB rows and survival arrays as generate.py's checks take them, read back from the CSVs."""
    rows = list(csv.DictReader((folder / "adlb.csv").open(encoding="utf-8")))
    for r in rows:
        r["ADY"] = int(r["ADY"])
    adsl = list(csv.DictReader((folder / "adsl.csv").open(encoding="utf-8")))
    groups = {r["USUBJID"]: r["TRT01A"] for r in adsl}
    index = {r["USUBJID"]: int(r["TRT01AN"]) - 1 for r in adsl}
    adtte = list(csv.DictReader((folder / "adtte.csv").open(encoding="utf-8")))
    time = np.array([float(r["AVAL"]) for r in adtte])
    event = np.array([1.0 - float(r["CNSR"]) for r in adtte])
    group = np.array([index[r["USUBJID"]] for r in adtte])
    return rows, groups, (time, event, group)


@pytest.mark.parametrize("folder, published", [(SEED, True), (NEGATIVE, False)])
def test_each_trial_passes_its_own_generator_checks_and_fails_the_other_trials(folder, published):
    generate = importlib.import_module("trialkit.fixtures.seed_trial.generate")
    rows, groups, survival = _generator_inputs(folder)
    assert generate.published_patterns_hold(rows, groups) is published
    assert generate.published_patterns_fail(rows, groups) is not published
    assert generate.published_survival_holds(*survival) is published
    assert generate.published_survival_fails(*survival) is not published


def test_negative_control_says_it_is_synthetic_and_is_not_the_seed_trial():
    for name in ("adsl", "adlb", "adae", "adtte"):
        df = pl.read_csv(NEGATIVE / f"{name}.csv", infer_schema_length=None)
        assert df["STUDYID"].unique().to_list() == ["TK-SYNTHETIC-NEGATIVE-CONTROL"], name
        assert df["USUBJID"].str.starts_with("TK-NEG-").all(), name
    assert "SYNTHETIC" in (NEGATIVE / "README.md").read_text()


def test_negative_control_validates_clean(workspace):
    code, output = run(["validate"], workspace)
    assert code == 0 and "Clean" in output, output
    report = json.loads((workspace / "validation.json").read_text())
    assert report["workspace_clean"] is True
    assert report["violations"] == [] and report["quarantined"] == []


def test_report_check_fails_with_claims_1_to_7_not_reproduced(workspace):
    code, output = run(["report", "--claims", CLAIMS, "--check"], workspace)
    assert code == 1, output
    failed = set(re.findall(r"claim (\S+) not reproduced", output))
    assert failed >= set(CONTRADICTED), output


def test_claims_engine_finds_claims_1_to_7_not_reproduced(workspace):
    claims = parse_claims(CLAIMS.read_text(encoding="utf-8"), str(CLAIMS))
    stages = {name: stage_data(workspace, name) for name in ("survival", "biomarkers", "safety")}
    verdicts = {r.claim.id: r.verdict for r in evaluate_claims(claims, stages)}
    assert {cid: verdicts[cid] for cid in CONTRADICTED} == {cid: NOT_REPRODUCED for cid in CONTRADICTED}


def test_report_on_the_negative_control_says_so_and_blames_no_generator(workspace):
    code, output = run(["report", "--claims", CLAIMS], workspace)
    assert code == 0, output
    html = (workspace / "report.html").read_text(encoding="utf-8")
    assert "This workspace holds a negative control" in html
    assert "reproduced by construction" not in output and "by construction" not in html.split("<main", 1)[-1][:20000]
    assert "bug in the generator" not in output
