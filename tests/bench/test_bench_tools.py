"""The bench's own tools: the synthetic trial is reproducible and ingestable, the table fits 80 columns.

No timing here: `make bench` does that.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # run_bench imports its neighbours as a script does

import cases  # noqa: E402
import run_bench  # noqa: E402
import scale_data  # noqa: E402
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
    big = [c for c in cases.scale_cases(1_000_000) if c.source == "parquet"]
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


def test_foreign_csv_has_every_dataset_with_reversed_columns_and_two_extra_variables_and_is_the_same_twice(tmp_path):
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    adsl = pl.DataFrame({"STUDYID": ["S"] * 3, "USUBJID": ["S-1", "S-2", "S-3"], "AGE": [61.0, 70.0, 48.0],
                         "TRTSDT": [date(2021, 1, 4), None, date(2022, 12, 31)]})
    adae = pl.DataFrame({"USUBJID": ["S-1", "S-1"], "AEDECOD": ["HEADACHE", "NAUSEA, MILD"]})
    adsl.write_parquet(parquet / "adsl.parquet")
    adae.write_parquet(parquet / "adae.parquet")
    out = scale_data.adam_csv(parquet, tmp_path / "adam-csv")
    assert sorted(p.name for p in out.iterdir()) == ["adae.csv", "adsl.csv"]
    assert not (tmp_path / "adam-csv.part").exists()
    for name, frame in (("adsl", adsl), ("adae", adae)):
        got = pl.read_csv(out / f"{name}.csv", try_parse_dates=True)
        assert got.columns == ["XNOTE", *reversed(frame.columns), "XSCORE"]
        assert got.select(frame.columns).equals(frame)  # the data themselves unchanged
        assert got["XNOTE"].to_list()[:2] == ["free text, row 0", "free text, row 1"]
        assert got["XSCORE"].dtype == pl.Float64 and got["XSCORE"].to_list()[:2] == [0.0, 0.125]
    first = (out / "adsl.csv").read_bytes()
    scale_data.adam_csv(parquet, out)
    assert (out / "adsl.csv").read_bytes() == first


def test_foreign_csv_is_made_once_beside_the_parquet_and_r_folders(tmp_path, monkeypatch):
    folder = tmp_path / "sim"
    (folder / "parquet").mkdir(parents=True)
    (folder / "csv").mkdir()
    (folder / "csv" / "arms.csv").write_text("TRT01A,N\n")
    (folder / "arms.rds").write_text("")
    pl.DataFrame({"USUBJID": ["S-1"]}).write_parquet(folder / "parquet" / "adsl.parquet")
    made = []
    monkeypatch.setattr(scale_data, "subprocess", None)  # nothing to simulate: the Parquet folder exists
    monkeypatch.setattr(scale_data.shutil, "which", lambda name: None)
    real = scale_data.adam_csv
    monkeypatch.setattr(scale_data, "adam_csv", lambda *a: made.append(a) or real(*a))
    assert scale_data.make(1, folder, "trialkit") == folder / "parquet"
    assert (folder / "adam-csv" / "adsl.csv").exists() and len(made) == 1
    scale_data.make(1, folder, "trialkit")
    assert len(made) == 1


def test_foreign_csv_ingests_and_validates_clean_keeping_the_extra_variables(tmp_path, run_cli):
    folders = synthetic.trial(300, tmp_path / "data")
    out = scale_data.adam_csv(folders.parquet, tmp_path / "adam-csv")
    ws = tmp_path / "ws"
    assert run_cli(["ingest", out, "-w", ws]).exit_code == 0
    assert run_cli(["validate", "-w", ws, "--format", "json"]).exit_code == 0
    adsl = pl.read_parquet(ws / "adsl.parquet")
    assert {"XNOTE", "XSCORE"} <= set(adsl.columns) and adsl["XSCORE"].dtype == pl.Float64


def test_scale_suite_runs_the_foreign_csv_variant_after_the_parquet_one_in_pipeline_order_with_the_memory_target():
    for n in (10_000, 1_000_000):
        every = cases.scale_cases(n)
        csv = [c for c in every if c.source == "csv"]
        assert every[-len(csv):] == csv  # after the whole Parquet pipeline
        assert [c.argv[1] for c in csv] == ["ingest", "validate", "biomarkers", "survival", "safety", "report"]
        assert all(c.name.startswith(f"scale {cases.label(n)}, CSV reversed + extra columns: ") for c in csv)
        assert all(c.target_mib == 8192 and c.scale_size == n and not c.versus for c in csv)
        assert csv[0].argv[2] == "{sc_csv}" and all("{sc_ws_csv}" in c.argv for c in csv)
        assert all(c.needs_workspace for c in csv[1:]) and not csv[0].needs_workspace
        report, parquet_report = csv[-1], [c for c in every if c.source == "parquet"][-1]
        assert (report.target_s, report.target_output_mib) == (parquet_report.target_s,
                                                               parquet_report.target_output_mib)
        assert report.output == "{sc_ws_csv}/report.html"


def test_a_csv_case_gets_its_own_workspace_ingested_from_the_foreign_csv_folder(tmp_path, monkeypatch):
    import scale_data as data

    monkeypatch.setattr(run_bench, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(data, "make", lambda n, folder, tk: folder / "parquet")
    calls = []
    monkeypatch.setattr(run_bench.subprocess, "run", lambda argv, **kw: calls.append(argv))
    places = run_bench.Places.__new__(run_bench.Places)
    places.work, places.trialkit, places.base, places.made = tmp_path / "work", "tk", {}, {10_000}
    csv_case = next(c for c in cases.scale_cases(10_000) if c.source == "csv" and c.argv[1] == "validate")
    got = places.for_scale(csv_case)
    folder = tmp_path / "cache" / "sim-10000"
    assert got["sc_csv"] == str(folder / "adam-csv") and got["sc_ws_csv"] == str(tmp_path / "work" / "scale-10000-csv")
    assert calls[0] == ["tk", "ingest", str(folder / "adam-csv"), "-w", got["sc_ws_csv"]]
    assert calls[1] == ["tk", "validate", "-w", got["sc_ws_csv"]]
    calls.clear()
    parquet_case = next(c for c in cases.scale_cases(10_000) if c.source == "parquet" and c.argv[1] == "validate")
    got = places.for_scale(parquet_case)
    assert calls[0] == ["tk", "ingest", str(folder / "parquet"), "-w", got["sc_ws"]]


def test_biomarkers_with_figures_runs_on_a_fresh_copy_of_the_parquet_workspace(tmp_path, monkeypatch):
    import scale_data as data

    monkeypatch.setattr(run_bench, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(data, "make", lambda n, folder, tk: folder / "parquet")
    monkeypatch.setattr(run_bench.subprocess, "run", lambda argv, **kw: None)
    places = run_bench.Places.__new__(run_bench.Places)
    places.work, places.trialkit, places.base, places.made = tmp_path / "work", "tk", {}, {10_000}
    ws = tmp_path / "work" / "scale-10000"
    (ws / ".trialkit").mkdir(parents=True)
    (ws / "adsl.parquet").write_text("adsl")
    (ws / ".trialkit" / "lock").write_text("")
    (tmp_path / "work" / "scale-10000-figures").mkdir()
    (tmp_path / "work" / "scale-10000-figures" / "stale.png").write_text("")
    case = next(c for c in cases.scale_cases(10_000) if "(figures)" in c.name)
    got = places.for_scale(case)
    copy = Path(got["sc_ws_figures"])
    assert copy != ws and (copy / "adsl.parquet").read_text() == "adsl"
    assert not (copy / "stale.png").exists() and not (copy / ".trialkit" / "lock").exists()


def test_biomarkers_with_figures_is_timed_against_no_plot_up_to_100k_and_at_100k_at_most_twice_as_long():
    for n in (10_000, 100_000):
        every = cases.scale_cases(n)
        names = [c.name for c in every]
        figures = [c for c in every if "(figures)" in c.name]
        assert len(figures) == 1
        (case,) = figures
        assert "--no-plot" not in case.argv and case.argv[1] == "biomarkers" and case.source == "parquet"
        assert "{sc_ws_figures}" in case.argv  # a copy: the report of {sc_ws} is the same at every size
        assert case.versus_case == f"scale {cases.label(n)}: biomarkers --no-plot"
        assert case.target_ratio == (2.0 if n == 100_000 else None)  # the size; smaller: shown, no verdict
        assert names.index(case.name) == names.index(case.versus_case) + 1
    assert not [c for c in cases.scale_cases(1_000_000) if "(figures)" in c.name]


def _fake(name, wall, code=0, **more):
    return {"name": name, "target_s": None, "target_mib": None, "wall_median_s": wall, "peak_rss_max_mib": 100.0,
            "exit_codes": [code], "argv": ["tk", name], "versus": [], **more}


def test_a_case_over_its_ratio_to_another_case_fails_and_under_it_passes():
    earlier = {"no-plot": _fake("no-plot", 10.0)}
    over = run_bench.versus_case(_fake("figures", 25.0), "no-plot", earlier, 2.0)
    assert over == {"name": "no-plot", "wall_median_s": 10.0, "ratio": 2.5, "target_ratio": 2.0, "meets_target": False}
    assert run_bench.versus_case(_fake("figures", 19.0), "no-plot", earlier, 2.0)["meets_target"] is True
    lines = run_bench.lines_of(_fake("figures", 25.0, versus_case=over))
    assert any("vs no-plot" in line and "2.50" in line and "<=2.0x" in line and "FAIL" in line for line in lines)
    assert all(len(line) <= 80 for line in lines)


def test_a_ratio_to_a_case_that_did_not_run_or_failed_has_no_verdict():
    assert "meets_target" not in run_bench.versus_case(_fake("figures", 5.0), "no-plot", {}, 2.0)
    failed = {"no-plot": _fake("no-plot", 1.0, code=1)}
    got = run_bench.versus_case(_fake("figures", 5.0), "no-plot", failed, 2.0)
    assert got["skipped"] == "not compared with no-plot: it failed"


def test_run_case_counts_the_ratio_to_another_case_in_its_verdict():
    places = run_bench.Places.__new__(run_bench.Places)
    places.lacking = []
    places.for_case = lambda c: {}
    case = cases.Case("figures", ("true",), versus_case="no-plot", target_ratio=2.0)
    result = run_bench.run_case(case, places, runs=1, earlier={"no-plot": _fake("no-plot", 1e-9)})
    assert result["versus_case"]["meets_target"] is False and result["meets_target"] is False
    result = run_bench.run_case(case, places, runs=1, earlier={"no-plot": _fake("no-plot", 1000.0)})
    assert result["versus_case"]["meets_target"] is True and result["meets_target"] is True


def _scaled(stage, n, wall, code=0):
    prefix = f"scale {cases.label(n)}" + (": " if not stage.startswith("CSV") else ", ")
    return _fake(prefix + stage, wall, code, scale_size=n, stage=stage)


def test_scaling_exponents_between_consecutive_sizes_with_the_target_only_from_100k_to_1m():
    results = [_scaled("ingest", 10_000, 1.0), _scaled("ingest", 100_000, 10.0), _scaled("ingest", 1_000_000, 200.0),
               _scaled("report", 10_000, 2.0), _scaled("report", 100_000, 4.0), _scaled("report", 1_000_000, 40.0)]
    got = run_bench.scaling_exponents(results)
    assert [(e["stage"], e["n1"], e["n2"]) for e in got] == [
        ("ingest", 10_000, 100_000), ("ingest", 100_000, 1_000_000),
        ("report", 10_000, 100_000), ("report", 100_000, 1_000_000)]
    assert [e["exponent"] for e in got] == [pytest.approx(1.0), pytest.approx(1.301, abs=1e-3),
                                            pytest.approx(0.301, abs=1e-3), pytest.approx(1.0)]
    assert "meets_target" not in got[0] and "meets_target" not in got[2]  # 10k -> 100k: shown, no verdict
    assert got[1]["target"] == 1.1 and got[1]["meets_target"] is False
    assert got[3]["meets_target"] is True
    lines = run_bench.exponent_lines(got)
    assert all(len(line) <= 80 for line in lines)
    assert any("100k -> 1M" in line and "1.30" in line and "FAIL" in line for line in lines)
    assert not any("10k -> 100k" in line and ("pass" in line or "FAIL" in line) for line in lines)


def test_scaling_exponents_skip_stages_missing_or_failed_at_a_size_and_keep_the_variants_apart():
    csv = "CSV reversed + extra columns: biomarkers --no-plot"
    results = [_scaled("validate", 100_000, 3.0), _scaled("validate", 1_000_000, 30.0, code=1),
               _scaled("safety", 1_000_000, 20.0),
               _scaled("safety", 100_000, 1.0), _scaled(csv, 100_000, 2.0), _scaled(csv, 1_000_000, 20.0),
               {"name": "scale 1M: report", "skipped": "why"}]
    got = run_bench.scaling_exponents(results)
    assert [(e["stage"], e["meets_target"]) for e in got] == [("safety", False), (csv, True)]
    assert run_bench.scaling_exponents([_scaled("ingest", 10_000, 1.0)]) == []
    lines = run_bench.exponent_lines(got)
    assert csv in lines and all(len(line) <= 80 for line in lines)


def test_a_scale_case_result_names_its_stage_without_the_size():
    places = run_bench.Places.__new__(run_bench.Places)
    places.lacking = []
    places.for_case = lambda c: {}
    for case in cases.scale_cases(100_000):
        stage = case.name.split(": ", 1)[1]
        fake = cases.Case(case.name, ("true",), scale_size=case.scale_size)
        result = run_bench.run_case(fake, places, runs=1)
        assert result["scale_size"] == 100_000
        assert result["stage"] == (stage if case.source == "parquet" else f"{cases.CSV_VARIANT}: {stage}")
