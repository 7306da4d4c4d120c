"""``trialkit survival`` end to end: options, outputs, errors, and its JSON against R.

The R numbers are those of tests/reference/make_survival_reference.R (see
tests/test_survival.py for the exact calls): survfit(conf.type=, conf.int=0.95),
summary(fit, times=, extend=TRUE), print(fit, rmean=), survdiff(rho=),
p.adjust(method="holm") and coxph(ties=) on the same data. Tolerance: rel=1e-6.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from r_reference import same

REF = Path(__file__).parent / "reference"
PILOT_R = json.loads((REF / "survival_pilot_r.json").read_text())
SEED_R = json.loads((REF / "survival_seed_r.json").read_text())
TABLES = ("arms", "km", "landmarks", "medians", "rmst", "risk_table", "tests", "pairwise", "trend", "cox")


@pytest.fixture
def seed_ws(seed_workspace, tmp_path) -> Path:
    """A private copy of the built-in trial's workspace (the session one stays untouched)."""
    return Path(shutil.copytree(seed_workspace, tmp_path / "ws"))


@pytest.fixture(scope="module")
def pilot_ws(pilot_workspace, tmp_path_factory) -> Path:
    return Path(shutil.copytree(pilot_workspace, tmp_path_factory.mktemp("pilot-survival") / "ws"))


def survival_json(run_cli, ws: Path, *options: str) -> dict:
    result = run_cli(["survival", "--workspace", ws, "--format", "json", *options])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def rows_of(items: list[dict], arm: str) -> list[dict]:
    return [x for x in items if x["arm"] == arm]


# ------------------------------------------------------------------ the built-in trial
def test_builtin_trial_gives_the_published_landmarks_and_logrank(run_cli, seed_ws):
    out = survival_json(run_cli, seed_ws, "--times", "182,730", "--no-plot")
    survival = {(x["arm"], x["time"]): x["survival"] for x in out["landmarks"]}
    assert [round(survival[(g, 182.0)], 3) for g in ("Low dose", "Medium dose", "High dose")] == [1.0, 1.0, 1.0]
    assert [round(survival[(g, 730.0)], 3) for g in ("Low dose", "Medium dose", "High dose")] == [0.667, 1.0, 0.875]
    assert round(out["logrank"]["p"], 4) == 0.3328
    # and to 1e-6 against R: summary(fit, times = c(182, 730)); survdiff(..., rho = 0)
    for g in SEED_R["groups"]:
        ref = SEED_R["conf"]["log-log_0.95"]["landmarks"][g]
        same([x["survival"] for x in rows_of(out["landmarks"], g)], [s for t, s in zip(ref["time"], ref["survival"]) if t in (182, 730)])
    same([out["logrank"]["chisq"], out["logrank"]["p"]], [SEED_R["rho_0"]["logrank"]["chisq"], SEED_R["rho_0"]["logrank"]["p"]])


def test_builtin_trial_writes_every_output_with_the_contract_metadata(run_cli, seed_ws):
    out = survival_json(run_cli, seed_ws, "--rmst-tau", "2y")
    folder = seed_ws / "survival"
    for name in TABLES:
        meta = pq.read_schema(folder / f"{name}.parquet").metadata
        assert meta[b"trialkit.schema"] == f"survival-{name.replace('_', '-')}".encode()
        assert meta[b"trialkit.command"].startswith(b"trialkit survival")
    assert json.loads((folder / "survival.json").read_text()) == out
    png = (folder / "km.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    phys = png.index(b"pHYs") + 4
    assert int.from_bytes(png[phys:phys + 4], "big") == 11811  # pixels per metre = 300 dpi
    assert b"<svg" in (folder / "km.svg").read_bytes()[:1000]
    manifest = json.loads((seed_ws / "manifest.json").read_text())["files"]
    assert {f"survival/{n}.parquet" for n in TABLES} <= set(manifest)
    assert out["rmst"][0]["tau"] == 730.5
    km = pl.read_parquet(folder / "km.parquet")
    assert km.select("conf_type", "conf_level").unique().rows() == [("log-log", 0.95)]


def test_every_output_records_the_settings_used(run_cli, seed_ws):
    out = survival_json(run_cli, seed_ws, "--times", "6m,2y", "--no-plot")
    s = out["settings"]
    assert (s["conf_type"], s["ties"], s["rho"], s["parity"], s["conf_level"]) == ("log-log", "efron", 0.0, None, 0.95)
    assert s["sources"] == {"conf_type": "default", "ties": "default"}
    assert s["landmark_times"] == [182.625, 730.5]
    assert s["reference"] == "Low dose" and s["time_unit"] == "months" and s["trend_scores"] == "TRT01AN"
    folder = seed_ws / "survival"
    assert pl.read_parquet(folder / "cox.parquet")["ties"].unique().to_list() == ["efron"]
    assert pl.read_parquet(folder / "landmarks.parquet")["conf_type"].unique().to_list() == ["log-log"]
    assert pl.read_parquet(folder / "tests.parquet")["rho"].to_list() == [0.0]


def test_group_without_events_gets_a_reason_instead_of_a_hazard_ratio(run_cli, seed_ws):
    out = survival_json(run_cli, seed_ws, "--no-plot")
    medium = rows_of(out["cox"], "Medium dose")[0]
    assert (medium["hr"], medium["estimable"]) == (None, False)
    assert medium["reason"] == "no events in Medium dose: its hazard ratio is 0 (monotone likelihood), not estimable"
    high = rows_of(out["cox"], "High dose")[0]
    assert high["estimable"] is True and high["reference"] == "Low dose"


def test_one_arm_gives_estimates_only(run_cli, seed_ws):
    out = survival_json(run_cli, seed_ws, "--arm", "high", "--times", "6m,2y", "--no-plot")
    assert [a["arm"] for a in out["arms"]] == ["High dose"]
    assert (out["logrank"], out["trend"], out["pairwise"], out["cox"]) == (None, None, [], [])
    assert [round(x["survival"], 3) for x in out["landmarks"]] == [1.0, 0.875]


def test_reference_option_sets_the_cox_comparator(run_cli, seed_ws):
    out = survival_json(run_cli, seed_ws, "--reference", "HIGH", "--no-plot")
    assert [(c["arm"], c["reference"]) for c in out["cox"]] == [("Low dose", "High dose"), ("Medium dose", "High dose")]
    assert out["settings"]["reference"] == "High dose"


def test_table_format_prints_a_summary(run_cli, seed_ws):
    result = run_cli(["survival", "--workspace", seed_ws, "--no-plot"])
    assert result.exit_code == 0, result.stderr
    for text in ("Survival: OS", "Low dose", "log-rank", "0.3328", "not estimable", "Settings: CI log-log 95% (default)"):
        assert text in result.stdout


def test_csv_format_puts_every_table_on_stdout(run_cli, seed_ws):
    result = run_cli(["survival", "--workspace", seed_ws, "--format", "csv", "--no-plot"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("table,")
    assert {line.split(",")[0] for line in lines[1:]} >= {"arms", "km", "landmarks", "medians", "risk_table", "tests", "cox"}


def test_no_plot_keeps_the_figures_of_an_identical_earlier_run(run_cli, seed_ws):
    assert run_cli(["survival", "--workspace", seed_ws]).exit_code == 0
    before = (seed_ws / "survival" / "km.png").read_bytes()
    assert run_cli(["survival", "--workspace", seed_ws, "--no-plot"]).exit_code == 0
    assert (seed_ws / "survival" / "km.png").read_bytes() == before and (seed_ws / "survival" / "km.svg").exists()


def test_no_plot_removes_figures_that_no_longer_match_the_analysis(run_cli, seed_ws):
    assert run_cli(["survival", "--workspace", seed_ws]).exit_code == 0
    assert run_cli(["survival", "--workspace", seed_ws, "--no-plot", "--times", "1y"]).exit_code == 0
    assert not (seed_ws / "survival" / "km.png").exists() and not (seed_ws / "survival" / "km.svg").exists()


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(("args", "message"), [
    (["--arm", "nonexistent"], "--arm 'nonexistent' matches no group"),
    (["--arm", "low", "--arm", "high", "--reference", "medium"], "--reference 'medium' matches no group among the analysed groups"),
    (["--times", "6months"], "--times value '6months' is not a time"),
    (["--endpoint", "PFS"], "--endpoint 'PFS' is not a PARAMCD of ADTTE"),
    (["--conf-level", "1.5"], "--conf-level 1.5 is not between 0 and 1"),
    (["--rmst-tau", "0"], "--rmst-tau 0 is not a positive time"),
])
def test_bad_options_are_usage_errors(run_cli, seed_ws, args, message):
    result = run_cli(["survival", "--workspace", seed_ws, "--no-plot", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert not (seed_ws / "survival").exists()  # nothing written


def test_unknown_arm_lists_the_valid_groups(run_cli, seed_ws):
    result = run_cli(["survival", "--workspace", seed_ws, "--arm", "xyz"])
    assert "valid groups: LOW (Low dose), MEDIUM (Medium dose), HIGH (High dose)" in " ".join(result.stderr.split())


def test_several_endpoints_without_os_need_endpoint(run_cli, seed_ws):
    tte = pl.read_parquet(seed_ws / "adtte.parquet")
    both = pl.concat([tte.with_columns(pl.lit("PFS").alias("PARAMCD")), tte.with_columns(pl.lit("TTP").alias("PARAMCD"))])
    both.write_parquet(seed_ws / "adtte.parquet")
    result = run_cli(["survival", "--workspace", seed_ws, "--no-plot"])
    assert result.exit_code == 2
    assert "ADTTE holds several endpoints and none is OS: PFS, TTP" in " ".join(result.stderr.split())
    assert survival_json(run_cli, seed_ws, "--endpoint", "ttp", "--no-plot")["endpoint"] == "TTP"


def test_empty_workspace_says_to_ingest_first(run_cli, tmp_path):
    result = run_cli(["survival", "--workspace", tmp_path / "empty"])
    assert result.exit_code == 2
    assert "run trialkit ingest first" in " ".join(result.stderr.split())


# ------------------------------------------------------------------ the CDISC pilot against R
def assert_matches_r(out: dict, conf: str, ties: str, rho: int = 0) -> None:
    ref, per = PILOT_R, PILOT_R["conf"][conf]
    groups = ref["groups"]
    assert [a["arm"] for a in out["arms"]] == groups
    same([a["n"] for a in out["arms"]], ref["n"])
    same([a["events"] for a in out["arms"]], ref["events"])
    for g in groups:
        marks = rows_of(out["landmarks"], g)
        for col in ("time", "n_risk", "survival", "std_err", "lower", "upper"):
            same([m[col] for m in marks], per["landmarks"][g][col])
        med = rows_of(out["medians"], g)[0]
        same([med["median"], med["lower"], med["upper"]], [per["medians"][g][k] for k in ("median", "lower", "upper")])
        rmst = rows_of(out["rmst"], g)[0]
        same([rmst["tau"], rmst["rmst"], rmst["se"]], [ref["tau"], ref["rmst"][g]["rmst"], ref["rmst"][g]["se"]])
        risk = rows_of(out["risk_table"], g)
        for col in ("time", "n_risk", "cum_events", "cum_censored"):
            same([r[col] for r in risk], ref["risk_table"][g][col])
    tests = ref[f"rho_{rho}"]
    lr = out["logrank"]
    same([lr["chisq"], lr["p"], lr["df"]], [tests["logrank"][k] for k in ("chisq", "p", "df")])
    same([x["observed"] for x in lr["groups"]], tests["logrank"]["observed"])
    same([x["expected"] for x in lr["groups"]], tests["logrank"]["expected"])
    for col in ("chisq", "p", "p_holm"):
        same([x[col] for x in out["pairwise"]], [x[col] for x in tests["pairwise"]])
    same([out["trend"]["chisq"], out["trend"]["p"]], [tests["trend"]["chisq"], tests["trend"]["p"]])
    assert [c["arm"] for c in out["cox"]] == [c["arm"] for c in ref["cox"][ties]]
    for col in ("hr", "lower", "upper", "p", "coef", "se"):
        same([c[col] for c in out["cox"]], [c[col] for c in ref["cox"][ties]])


@pytest.mark.realdata
@pytest.mark.parametrize("conf_type", ["log", "log-log"])
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_pilot_json_matches_r(run_cli, pilot_ws, conf_type, ties):
    out = survival_json(run_cli, pilot_ws, "--conf-type", conf_type, "--ties", ties, "--times", "0,30,3m,6m,2y", "--extrapolate",
                        "--rmst-tau", "180", "--no-plot")
    assert out["endpoint"] == "TTDE" and out["settings"]["risk_table_times"] == PILOT_R["grid"]
    assert_matches_r(out, f"{conf_type}_0.95", ties)


@pytest.mark.realdata
def test_pilot_peto_peto_matches_survdiff_rho_1(run_cli, pilot_ws):
    out = survival_json(run_cli, pilot_ws, "--rho", "1", "--times", "0,30,3m,6m,2y", "--extrapolate", "--rmst-tau", "180", "--no-plot")
    assert out["logrank"]["test"] == "G-rho (rho = 1)"
    assert_matches_r(out, "log-log_0.95", "efron", rho=1)


@pytest.mark.realdata
@pytest.mark.parametrize(("parity", "conf_type", "ties"), [("r", "log", "efron"), ("sas", "log-log", "breslow")])
def test_pilot_parity_sets_the_peer_defaults(run_cli, pilot_ws, parity, conf_type, ties):
    out = survival_json(run_cli, pilot_ws, "--parity", parity, "--times", "0,30,3m,6m,2y", "--extrapolate", "--rmst-tau", "180")
    s = out["settings"]
    assert (s["conf_type"], s["ties"], s["parity"]) == (conf_type, ties, parity)
    assert s["sources"] == {"conf_type": f"parity {parity}", "ties": f"parity {parity}"}
    assert_matches_r(out, f"{conf_type}_0.95", ties)
    assert (pilot_ws / "analyses" / f"survival-parity-{parity}" / "km.png").stat().st_size > 10_000


@pytest.mark.realdata
def test_pilot_explicit_option_overrides_parity(run_cli, pilot_ws):
    s = survival_json(run_cli, pilot_ws, "--parity", "sas", "--conf-type", "plain", "--no-plot")["settings"]
    assert (s["conf_type"], s["ties"]) == ("plain", "breslow")
    assert s["sources"] == {"conf_type": "option", "ties": "parity sas"}
