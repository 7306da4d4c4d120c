"""The bench's own tools: the synthetic trial is reproducible and ingestable, the table fits 80 columns.

No timing here: `make bench` does that.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # run_bench imports its neighbours as a script does

import cases  # noqa: E402
import run_bench  # noqa: E402
import synthetic  # noqa: E402


def test_synthetic_trial_is_the_same_for_the_same_size_and_differs_for_another():
    adsl, adtte = synthetic.make_trial(500)
    again_adsl, again_adtte = synthetic.make_trial(500)
    assert adsl.equals(again_adsl) and adtte.equals(again_adtte)
    assert not synthetic.make_trial(501)[1].head(500)["AVAL"].equals(adtte["AVAL"])


def test_synthetic_trial_has_three_arms_two_strata_covariates_tied_days_and_about_30_percent_censored():
    adsl, adtte = synthetic.make_trial(20_000)
    assert adsl.height == adtte.height == 20_000
    arms = adsl.select("TRT01A", "TRT01AN", "ARMCD").unique().sort("TRT01AN").rows()
    assert arms == [("Placebo", 0.0, "PBO"), ("Low", 1.0, "LOW"), ("High", 2.0, "HIGH")]
    assert sorted(adsl["STRAT1"].unique()) == ["ECOG 0", "ECOG 1-2"]
    assert sorted(adsl["STRAT2"].unique()) == ["Region A", "Region B"]
    assert sorted(adsl["SEX"].unique()) == ["F", "M"]
    assert adsl["AGE"].is_between(18, 90).all()
    assert adtte["AVAL"].min() >= 1 and (adtte["AVAL"] == adtte["AVAL"].round()).all()
    assert adtte["AVAL"].n_unique() < adtte.height // 5  # whole days: many ties
    assert 0.25 < adtte["CNSR"].mean() < 0.35
    assert adtte.filter(pl.col("CNSR") == 0)["EVNTDESC"].unique().to_list() == ["Death"]
    assert set(adtte["PARAMCD"].unique()) == {"OS"}


def test_synthetic_trial_is_written_once_and_reused(tmp_path):
    folders = synthetic.trial(300, tmp_path)
    written = (folders.parquet / "adtte.parquet").stat().st_mtime_ns
    assert synthetic.trial(300, tmp_path) == folders
    assert (folders.parquet / "adtte.parquet").stat().st_mtime_ns == written
    assert pl.read_csv(folders.csv / "adsl.csv").height == pl.read_parquet(folders.parquet / "adsl.parquet").height
    (folders.parquet.parent / "done.json").unlink()  # as if interrupted: written again
    synthetic.trial(300, tmp_path)
    assert (folders.parquet.parent / "done.json").exists()


def test_synthetic_trial_ingests_and_validates_clean(tmp_path, run_cli):
    folders = synthetic.trial(300, tmp_path / "data")
    ws = tmp_path / "ws"
    assert run_cli(["ingest", folders.parquet, "-w", ws]).exit_code == 0
    result = run_cli(["validate", "-w", ws, "--format", "json"])
    assert result.exit_code == 0, result.stdout


def test_bench_sizes_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("BENCH_SIZES", "10000, 1_000_000")
    assert cases.sizes() == [10_000, 1_000_000]
    monkeypatch.setenv("BENCH_SIZES", "")
    assert cases.sizes() == []
    monkeypatch.delenv("BENCH_SIZES")
    assert cases.sizes() == [10_000, 100_000, 1_000_000]


@pytest.mark.parametrize("n", [10_000, 1_000_000])
def test_table_rows_fit_80_columns(n):
    result = {"name": cases.synthetic_cases(n)[1].name, "target_s": None, "target_mib": 2048, "wall_median_s": 123.456,
              "peak_rss_max_mib": 1999.0, "exit_codes": [0], "note": "ran without --strata: not an option yet",
              "versus": [{"label": "R", "basis": "compute", "compute_median_s": 38.2, "wall_median_s": 50.1,
                          "ratio": 3.23, "target_ratio": 0.25, "meets_target": False, "peak_rss_max_mib": 900.0},
                         {"label": "lifelines", "skipped": "lifelines not compared: not importable (make install "
                                                           "installs it)"}]}
    lines = run_bench.lines_of(result)
    assert all(len(line) <= 80 for line in lines)
    assert "FAIL" in lines[2] and "0.25x" in lines[2]


def test_missing_survival_options_are_left_out_with_a_note():
    places = run_bench.Places.__new__(run_bench.Places)
    places.lacking = ["--covariate", "--strata"]
    case = next(c for c in cases.synthetic_cases(10_000) if c.name.startswith("survival +strata"))
    argv, note = places.argv(case, {"trialkit": "tk", "syn_ws": "ws"})
    assert argv == ["tk", "survival", "-w", "ws", "--no-plot"]
    assert "--covariate, --strata" in note
    places.lacking = []
    argv, note = places.argv(case, {"trialkit": "tk", "syn_ws": "ws"})
    assert argv[-8:] == list(cases.SURVIVAL_OPTIONS) and note is None


def test_a_failing_trialkit_command_fails_its_case_and_is_not_compared(tmp_path):
    places = run_bench.Places.__new__(run_bench.Places)
    places.lacking = []
    case = cases.Case("false", ("false",), versus=(cases.Other("true", ("true",), target=1.0),))
    places.for_case = lambda c: {}
    result = run_bench.run_case(case, places, runs=1)
    assert result["meets_target"] is False
    assert result["versus"] == [{"label": "true", "skipped": "true not compared: trialkit failed"}]
    assert any("FAIL" in line for line in run_bench.lines_of(result))


def test_a_peer_still_running_at_its_timeout_is_stopped_and_gives_a_bound_on_the_ratio():
    peer = cases.Other("slow peer", ("sleep", "30"), target=1.0, timeout_s=0.5)
    got = run_bench.compare(peer, {"wall_median_s": 0.25}, {}, runs=1, warmup=False)
    assert got["basis"] == "timeout" and got["timed_out_s"] == 0.5
    assert got["ratio"] == pytest.approx(0.5) and got["meets_target"] is True
    lines = run_bench.lines_of({"name": "case", "target_s": None, "target_mib": None, "wall_median_s": 0.25,
                                "peak_rss_max_mib": 10.0, "exit_codes": [0], "argv": ["x"], "versus": [got]})
    assert any("<0.50" in line and ">0.500" in line for line in lines)
    assert any("still computing" in line for line in lines) and all(len(line) <= 80 for line in lines)


def test_mmrm_cases_time_the_whole_command_against_gls_with_a_timeout():
    (case,) = cases.mmrm_cases(2000)
    assert case.mmrm_size == 2000 and "--model" in case.argv and "mmrm" in case.argv
    assert case.versus[0].timeout_s and case.versus[0].target == 1.0


def test_scale_suite_runs_every_stage_in_pipeline_order_with_memory_and_r_targets_at_a_million(monkeypatch):
    monkeypatch.delenv("BENCH_SCALE_SIZES", raising=False)
    assert cases.scale_sizes() == []  # kept out of a plain `make bench`
    monkeypatch.setenv("BENCH_SCALE_SIZES", "10000,1_000_000")
    assert cases.scale_sizes() == [10_000, 1_000_000]
    big = cases.scale_cases(1_000_000)
    assert [c.argv[1] for c in big] == ["ingest", "validate", "biomarkers", "survival", "safety", "report"]
    assert all(c.target_mib == 8192 and c.scale_size == 1_000_000 for c in big)
    assert {c.argv[1]: c.versus[0].target for c in big if c.versus} == {"biomarkers": 0.5, "survival": 0.5,
                                                                        "safety": 0.5}
    report = big[-1]
    assert report.target_s == 30.0 and report.target_output_mib == 10.0
    assert all(c.versus[0].target is None for c in cases.scale_cases(10_000) if c.versus)


def test_an_output_over_its_size_target_fails_the_case(tmp_path):
    places = run_bench.Places.__new__(run_bench.Places)
    places.lacking = []
    (tmp_path / "report.html").write_bytes(b"x" * (3 * 2**20))
    case = cases.Case("report", ("true",), output="{out}/report.html", target_output_mib=2.0)
    places.for_case = lambda c: {"out": str(tmp_path)}
    result = run_bench.run_case(case, places, runs=1)
    assert result["output_mib"] == 3.0 and result["meets_target"] is False
    assert any("report.html: 3.00 MB (target <= 2 MB: FAIL)" in line for line in run_bench.lines_of(result))
