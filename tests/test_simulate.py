"""``trialkit simulate``: a synthetic trial that the whole pipeline accepts, drawn in seeded chunks."""

from __future__ import annotations

import json
import shutil

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from conftest import invoke, snapshot
from trialkit.analyses.simulate import DATASETS, Design, simulate_chunk

N, VISITS, PARAMS, CHUNK = 300, 5, 12, 120  # 3 chunks: 120 + 120 + 60 subjects


def _simulate(out, *extra):
    return invoke(["simulate", "--subjects", N, "--visits", VISITS, "--params", PARAMS,
                   "--chunk-subjects", CHUNK, "--out", out, *extra])


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """(data folder, validated workspace) of the simulated trial. Shared: copy before writing into them."""
    root = tmp_path_factory.mktemp("simulated")
    result = _simulate(root / "sim")
    assert result.exit_code == 0, result.stderr
    ws = root / "ws"
    assert invoke(["ingest", root / "sim", "--workspace", ws]).exit_code == 0
    validate = invoke(["validate", "--workspace", ws])
    assert validate.exit_code == 0, validate.stdout + validate.stderr
    return root / "sim", ws


def _read(folder, name):
    return pl.read_parquet(folder / f"{name}.parquet")


def test_simulated_trial_ingests_and_validates_clean(simulated):
    sim, ws = simulated
    assert sorted(p.name for p in sim.iterdir()) == sorted(f"{d}.parquet" for d in DATASETS)
    assert json.loads((ws / "validation.json").read_text())["workspace_clean"] is True


@pytest.mark.parametrize("command", [["survival", "--no-plot"], ["biomarkers", "--no-plot"], ["safety", "--no-plot"]])
def test_analysis_stages_run_on_the_simulated_trial(simulated, tmp_path, command):
    ws = tmp_path / "ws"
    shutil.copytree(simulated[1], ws)
    result = invoke([*command, "--workspace", ws])
    assert result.exit_code == 0, result.stderr


def test_row_counts_follow_the_design_and_nothing_is_after_death_or_last_contact(simulated):
    sim, _ = simulated
    adsl, adtte, adlb = _read(sim, "adsl"), _read(sim, "adtte"), _read(sim, "adlb")
    assert adsl.height == N and adsl["USUBJID"].n_unique() == N
    assert adtte.filter(pl.col("PARAMCD") == "OS").height == N
    # scheduled visit days: 1 (baseline), 28, 56, ...; a visit after the OS time (death / last contact) is absent
    days = np.array([1] + [28 * j for j in range(1, VISITS)])
    missing = (days[None, :] > adtte["AVAL"].to_numpy()[:, None]).sum()
    assert adlb.height == N * PARAMS * VISITS - PARAMS * missing
    assert adlb.filter(pl.col("ABLFL") == "Y").height == N * PARAMS
    assert adlb.select(pl.col("A1LO", "A1HI").is_nan().any()).row(0) == (False, False)  # no range: null, not NaN
    deaths = adsl.filter(pl.col("DTHFL") == "Y").select("USUBJID", "DTHDT")
    assert deaths.height == adtte.filter(pl.col("CNSR") == 0).height > 0
    for name, date in (("adlb", "ADT"), ("adae", "ASTDT"), ("adex", "ASTDT")):
        late = _read(sim, name).join(deaths, on="USUBJID").filter(pl.col(date) > pl.col("DTHDT"))
        assert late.height == 0, f"{name}: records after death"
    fatal = _read(sim, "adae").filter(pl.col("AESDTH") == "Y").join(deaths, on="USUBJID")
    assert fatal.height > 0 and (fatal["ASTDT"] == fatal["DTHDT"]).all()


def test_each_chunk_is_one_row_group_with_the_same_columns(simulated):
    sim, _ = simulated
    for name in DATASETS:
        assert pq.ParquetFile(sim / f"{name}.parquet").num_row_groups == 3, name


def test_trial_is_marked_synthetic_with_three_arms(simulated):
    adsl = _read(simulated[0], "adsl")
    assert adsl["STUDYID"].unique().to_list() == ["TK-SYNTHETIC-SIM"]
    arms = adsl.group_by("TRT01AN", "TRT01A", "ARMCD").len().sort("TRT01AN")
    assert arms["TRT01A"].to_list() == ["Placebo", "Low", "High"] and arms["TRT01AN"].to_list() == [0.0, 1.0, 2.0]


def test_same_arguments_give_the_same_bytes(simulated, tmp_path):
    assert _simulate(tmp_path / "again").exit_code == 0
    assert snapshot(tmp_path / "again") == snapshot(simulated[0])


def test_another_seed_gives_other_data(simulated, tmp_path):
    assert _simulate(tmp_path / "seed2", "--seed", 2).exit_code == 0
    for name in DATASETS:
        assert not _read(tmp_path / "seed2", name).equals(_read(simulated[0], name)), name


def test_chunk_function_is_reproducible_from_its_generator():
    design = Design(subjects=50, visits=3, params=2)
    a = simulate_chunk(np.random.default_rng(7), 11, 21, design).frames()
    b = simulate_chunk(np.random.default_rng(7), 11, 21, design).frames()
    assert all(a[n].equals(b[n]) for n in DATASETS)
    assert a["adsl"]["USUBJID"].to_list() == [f"TK-SIM-{i:07d}" for i in range(11, 21)]


def test_lab_subjects_limits_adlb_to_the_first_subjects_across_chunks(tmp_path):
    """--lab-subjects M: ADLB holds subjects 1..M only (a chunk past M has none), every other dataset is whole."""
    out = tmp_path / "labs"
    result = invoke(["simulate", "--subjects", 30, "--visits", 3, "--params", 2, "--lab-subjects", 12,
                     "--chunk-subjects", 5, "--out", out])
    assert result.exit_code == 0, result.stderr
    labs = _read(out, "adlb")["USUBJID"].unique().sort().to_list()
    assert labs == [f"TK-SIM-{i:07d}" for i in range(1, 13)]
    assert _read(out, "adsl").height == 30 and _read(out, "adtte").height == 30


@pytest.mark.parametrize("option, value", [("--subjects", 0), ("--subjects", 10**20), ("--visits", 1), ("--params", 0),
                                           ("--aes-per-subject", -1), ("--aes-per-subject", "inf"),
                                           ("--lab-subjects", 0), ("--lab-subjects", 11)])
def test_bad_options_are_refused_in_one_line_with_exit_2(tmp_path, option, value):
    args = {"--subjects": 10, "--visits": 3, "--params": 2, "--aes-per-subject": 1}
    args[option] = value
    result = invoke(["simulate", "--out", tmp_path / "sim", *[str(x) for kv in args.items() for x in kv]])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and option in errors[0]
    assert not (tmp_path / "sim").exists()


def test_existing_folder_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "sim"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = invoke(["simulate", "--subjects", 5, "--out", out])
    assert result.exit_code == 2
    assert str(out) in result.stderr.replace("\n", "")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_empty_folder_is_filled_and_no_temporary_folder_is_left(tmp_path):
    out = tmp_path / "sim"
    out.mkdir()
    result = invoke(["simulate", "--subjects", 5, "--visits", 2, "--params", 1, "--out", out])
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["sim"]
    assert "Next: trialkit ingest" in result.stdout


def test_help_has_an_example_and_loads_no_data_library():
    from test_cli import _imports_after

    result = invoke(["simulate", "--help"])
    assert result.exit_code == 0 and "Example:" in result.stdout
    assert not {"polars", "numpy", "pyarrow"} & _imports_after(["simulate", "--help"])
