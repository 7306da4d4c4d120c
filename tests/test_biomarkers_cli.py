"""``trialkit biomarkers`` end to end: exit codes, JSON contract, files written, failures.

Runs the real command in-process on copies of the session workspaces (they must not be modified).
Numbers are pinned in test_biomarkers.py against R; here the CLI JSON is checked against the
published patterns the synthetic trial was built to show, and against the R reference files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

REF = Path(__file__).parent / "reference" / "biomarkers"


def _copy(src: Path, tmp_path_factory, name: str) -> Path:
    dst = tmp_path_factory.mktemp(name) / "ws"
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="module")
def seed_ws(seed_workspace, tmp_path_factory) -> Path:
    return _copy(seed_workspace, tmp_path_factory, "bio-seed")


@pytest.fixture(scope="module")
def seed_json(seed_ws, run_cli) -> dict:
    result = run_cli(["biomarkers", "-w", seed_ws, "--format", "json", "--no-plot"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _row(rows: list[dict], **where) -> dict:
    hits = [r for r in rows if all(r.get(k) == v for k, v in where.items())]
    assert len(hits) == 1, (where, len(hits))
    return hits[0]


# ---------------------------------------------------------------- the contract
def test_json_has_the_contract_keys(seed_json):
    for key in ("settings", "summaries", "within", "between", "models"):
        assert key in seed_json
    assert set(seed_json["summaries"][0]) >= {"param", "arm", "visit", "visitn", "n", "mean", "sd", "median", "q1",
                                               "q3", "chg_n", "chg_mean", "chg_sd"}
    assert set(seed_json["within"][0]) >= {"param", "arm", "visit", "visitn", "n", "mean_change", "lower", "upper",
                                           "test", "p", "p_adj"}
    assert set(seed_json["between"][0]) >= {"param", "visit", "visitn", "test", "p"}
    assert set(seed_json["models"][0]) >= {"param", "method", "interaction_p", "group_p"}
    # one between row per parameter and visit (AVAL); CHG comparisons are under between_change
    keys = [(b["param"], b["visitn"]) for b in seed_json["between"]]
    assert len(keys) == len(set(keys)) and {b["variable"] for b in seed_json["between_change"]} == {"CHG"}


def test_json_states_the_methods(seed_json):
    s = seed_json["settings"]
    assert s["within_test"] == "paired t" and s["between_test"] == "one-way ANOVA"
    assert s["adjust"] == "none" and "not adjusted" in " ".join(seed_json["notes"])
    assert "REML" in s["model"] and "random intercept" in s["model"]
    assert "Wald F" in s["interaction_test"] and "type 7" in s["quantiles"]
    assert {m["method"] for m in seed_json["models"]} == {s["model"]}
    assert {a for a in {r["arm"] for r in seed_json["summaries"]}} == {"Low dose", "Medium dose", "High dose", "All"}


def test_cli_reproduces_the_published_patterns(seed_json):
    """Done-when of the issue, through the CLI JSON (pooled over groups)."""
    within = seed_json["within"]
    for day in (57, 85):
        r = _row(within, param="ALB", arm="All", visitn=day)
        assert r["mean_change"] > 0 and r["p"] < 0.05
    assert _row(within, param="ALB", arm="All", visitn=169)["p"] >= 0.05
    for day in (29, 57, 85, 169):
        r = _row(within, param="PTA", arm="All", visitn=day)
        assert r["mean_change"] > 0 and r["p"] < 0.05
    il8 = [r for r in within if r["param"] == "IL8" and r["arm"] == "All"]
    assert len(il8) == 7 and all(r["mean_change"] < 0 for r in il8)
    for param in ("ALB", "PTA"):
        assert _row(seed_json["models"], param=param)["interaction_p"] >= 0.05


def test_cli_numbers_are_the_r_reference(seed_json):
    r_within = pl.read_csv(REF / "seed_within.csv", infer_schema_length=None)
    ref = r_within.filter((pl.col("param") == "ALB") & (pl.col("arm") == "All") & (pl.col("visitn") == 57)).row(0, named=True)
    ours = _row(seed_json["within"], param="ALB", arm="All", visitn=57)
    assert ours["p"] == pytest.approx(ref["t_p"], rel=1e-9)
    assert (ours["lower"], ours["upper"]) == (pytest.approx(ref["lower"], rel=1e-9), pytest.approx(ref["upper"], rel=1e-9))
    r_models = pl.read_csv(REF / "seed_models.csv", infer_schema_length=None)
    for param in ("ALB", "PTA"):
        ref_p = r_models.filter(pl.col("param") == param)["interaction_p"][0]
        assert _row(seed_json["models"], param=param)["interaction_p"] == pytest.approx(ref_p, rel=1e-4)


def test_derived_scores_and_score_check(seed_json):
    assert seed_json["settings"]["derive"] == ["meld", "meldna", "childpugh", "albi"]
    assert {"MELDD", "MELDNA", "CPSCORED", "ALBI"} <= set(seed_json["settings"]["params"])
    assert {(c["REPORTED"], c["N_DISAGREE"]) for c in seed_json["score_check"]["compared"]} == {("MELD", 0), ("CPSCORE", 0)}
    assert {s["PARAMCD"] for s in seed_json["skipped"]} == {"CPCLASS", "ALBIGR"}


def test_files_written_with_contract_metadata(seed_json, seed_ws):
    folder = seed_ws / "biomarkers"
    for name in ("adlb", "summaries", "within", "between", "models", "marginal_means", "score_check", "baseline"):
        meta = pq.read_schema(folder / f"{name}.parquet").metadata
        assert meta[b"trialkit.schema"] == f"biomarkers-{name.replace('_', '-')}".encode()
        assert b"trialkit biomarkers" in meta[b"trialkit.command"]
    adlb = pl.read_parquet(folder / "adlb.parquet")
    assert {"BASE", "CHG", "PCHG", "ABLFL", "DRVNOTE", "PARAMTYP"} <= set(adlb.columns)
    assert json.loads((folder / "biomarkers.json").read_text()) == seed_json
    manifest = json.loads((seed_ws / "manifest.json").read_text())["files"]
    assert "biomarkers/biomarkers.json" in manifest and "biomarkers/within.parquet" in manifest


def test_wilcoxon_with_holm(seed_ws, run_cli):
    result = run_cli(["biomarkers", "-w", seed_ws, "--format", "json", "--no-plot", "--test", "wilcoxon",
                      "--adjust", "holm", "--param", "alb", "--param", "IL8", "--derive", "none"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["settings"]["params"] == ["ALB", "IL8"] and out["settings"]["derive"] == []
    assert {w["test"] for w in out["within"]} == {"Wilcoxon signed-rank"}
    assert {b["test"] for b in out["between"]} == {"Kruskal-Wallis"}
    assert all(w["p_adj"] >= w["p"] for w in out["within"] if w["p"] is not None)
    r_within = pl.read_csv(REF / "seed_within.csv", infer_schema_length=None)
    ref = r_within.filter((pl.col("param") == "IL8") & (pl.col("arm") == "High dose") & (pl.col("visitn") == 169)).row(0, named=True)
    assert _row(out["within"], param="IL8", arm="High dose", visitn=169)["p"] == pytest.approx(ref["wilcoxon_p"], rel=1e-9)


def test_arm_selection(seed_ws, run_cli):
    result = run_cli(["biomarkers", "-w", seed_ws, "--format", "json", "--no-plot", "--arm", "high", "--arm", "LOW",
                      "--param", "PTA"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["settings"]["arms"] == ["Low dose", "High dose"]
    assert {s["arm"] for s in out["summaries"]} == {"Low dose", "High dose", "All"}
    assert _row(out["summaries"], param="PTA", arm="All", visitn=1)["n"] == 16


def test_csv_and_table_formats(seed_ws, run_cli):
    csv = run_cli(["biomarkers", "-w", seed_ws, "--format", "csv", "--no-plot", "--param", "ALB"])
    assert csv.exit_code == 0, csv.stderr
    assert csv.stdout.startswith("table,") and {"summaries", "within", "between", "models"} <= {
        line.split(",")[0] for line in csv.stdout.splitlines()[1:]}
    table = run_cli(["biomarkers", "-w", seed_ws, "--no-plot", "--param", "ALB", "--param", "MELD"])
    assert table.exit_code == 0, table.stderr
    assert "Mean change from baseline" in table.stdout and "Longitudinal model" in table.stdout
    assert "MELD vs derived MELDD: 0 of" in table.stdout


def test_figures_written_and_kept_by_an_identical_no_plot_run(seed_ws, run_cli):
    result = run_cli(["biomarkers", "-w", seed_ws, "--format", "json", "--param", "PTA", "--param", "AT3"])
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)["figures"]
    folder = "analyses/biomarkers-pta-at3/figures"
    assert figures == [f"{folder}/overview_coagulation.png", f"{folder}/overview_coagulation.svg",
                       f"{folder}/trajectories_coagulation.png", f"{folder}/trajectories_coagulation.svg",
                       f"{folder}/param_PTA.png", f"{folder}/param_PTA.svg",
                       f"{folder}/param_AT3.png", f"{folder}/param_AT3.svg"]
    for f in figures:
        data = (seed_ws / f).read_bytes()
        assert data.startswith(b"\x89PNG") if f.endswith(".png") else b"<svg" in data[:500]
    before = (seed_ws / f"{folder}/param_PTA.png").read_bytes()
    again = run_cli(["biomarkers", "-w", seed_ws, "--no-plot", "--param", "PTA", "--param", "AT3"])
    assert again.exit_code == 0
    assert (seed_ws / f"{folder}/param_PTA.png").read_bytes() == before


# ---------------------------------------------------------------- failures
@pytest.mark.parametrize(("args", "message"), [
    (["--arm", "placebo"], "--arm 'placebo' matches no group"),
    (["--param", "NOPE"], "--param NOPE: no such PARAMCD"),
    (["--derive", "meld,magic"], "--derive magic: unknown derivation"),
    (["--test", "anova"], "Invalid value"),
])
def test_usage_errors_exit_2(seed_ws, run_cli, args, message):
    result = run_cli(["biomarkers", "-w", seed_ws, "--no-plot", *args])
    assert result.exit_code == 2
    assert message in result.stderr or message in result.stdout
    assert "Traceback" not in result.stderr


def test_missing_workspace_is_an_io_error(tmp_path, run_cli):
    result = run_cli(["biomarkers", "-w", tmp_path / "nothing", "--no-plot"])
    assert result.exit_code == 2 and "run trialkit ingest first" in result.stderr


def test_group_without_data_is_reported_not_a_crash(tmp_path, run_cli):
    """ADLB without the high-dose subjects: the group shows with n = 0 and the model uses the others."""
    from trialkit.cli.ingest import builtin_sources

    src = tmp_path / "src"
    src.mkdir()
    for f in builtin_sources():
        shutil.copy(f, src / f.name)
    adlb = pl.read_csv(src / "adlb.csv", infer_schema_length=None)
    adsl = pl.read_csv(src / "adsl.csv", infer_schema_length=None)
    high = adsl.filter(pl.col("ARMCD") == "HIGH")["USUBJID"]
    # also: two low-dose subjects lose their baseline albumin record
    no_base = ["TK-SEED-001", "TK-SEED-002"]
    adlb = adlb.filter(~pl.col("USUBJID").is_in(high.implode()))
    adlb = adlb.filter(~((pl.col("PARAMCD") == "ALB") & pl.col("USUBJID").is_in(no_base) & (pl.col("ABLFL") == "Y")).fill_null(False))
    adlb.write_csv(src / "adlb.csv")
    ws = tmp_path / "ws"
    assert run_cli(["ingest", src, "-w", ws]).exit_code == 0
    result = run_cli(["biomarkers", "-w", ws, "--format", "json", "--no-plot", "--param", "ALB", "--derive", "none"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    high_rows = [s for s in out["summaries"] if s["arm"] == "High dose"]
    assert high_rows and all(s["n"] == 0 and s["note"] == "no data for this group at this visit" for s in high_rows)
    assert all(w["n"] == 0 and w["p"] is None for w in out["within"] if w["arm"] == "High dose")
    assert any("High dose" in n for n in out["notes"])
    model = _row(out["models"], param="ALB")
    assert model["n_groups"] == 2 and model["interaction_p"] is not None
    base = _row(out["baseline"], PARAMCD="ALB")
    assert base["N_NO_BASELINE"] == 2 and base["N_RECORDS_NO_CHG"] >= 12
    low8 = _row(out["summaries"], param="ALB", arm="Low dose", visitn=8)
    assert low8["n"] - low8["chg_n"] == low8["n_no_base"] == 2


# ---------------------------------------------------------------- CDISC pilot
@pytest.fixture(scope="module")
def pilot_json(pilot_workspace, tmp_path_factory, run_cli) -> dict:
    ws = _copy(pilot_workspace, tmp_path_factory, "bio-pilot")
    result = run_cli(["biomarkers", "-w", ws, "--format", "json", "--no-plot"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_pilot_runs_and_skips_flag_parameters(pilot_json):
    assert pilot_json["settings"]["params"] == ["ALT", "AST", "BILI"]
    assert pilot_json["settings"]["derive"] == []
    assert {s["PARAMCD"] for s in pilot_json["skipped"]} == {"BILIHY", "HYLAW", "TRANSHY"}
    assert pilot_json["settings"]["arms"] == ["Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"]
    assert pilot_json["base_check"]["n_records_differ"] == 5


def test_pilot_summaries_and_change_pinned_to_r(pilot_json):
    summ = pl.read_csv(REF / "pilot_summaries.csv", infer_schema_length=None)
    within = pl.read_csv(REF / "pilot_within.csv", infer_schema_length=None)
    for param, arm, visitn in (("ALT", "Xanomeline High Dose", 24), ("BILI", "All", 12), ("AST", "Placebo", 2)):
        r = summ.filter((pl.col("param") == param) & (pl.col("arm") == arm) & (pl.col("visitn") == visitn)).row(0, named=True)
        ours = _row(pilot_json["summaries"], param=param, arm=arm, visitn=float(visitn))
        for key in ("n", "mean", "sd", "median", "q1", "q3", "chg_n", "chg_mean", "chg_sd"):
            assert ours[key] == pytest.approx(r[key], rel=1e-9), (param, arm, visitn, key)
        w = within.filter((pl.col("param") == param) & (pl.col("arm") == arm) & (pl.col("visitn") == visitn)).row(0, named=True)
        mine = _row(pilot_json["within"], param=param, arm=arm, visitn=float(visitn))
        assert (mine["n"], mine["mean_change"], mine["p"]) == (w["n"], pytest.approx(w["mean"], rel=1e-9),
                                                              pytest.approx(w["t_p"], rel=1e-9))
    models = pl.read_csv(REF / "pilot_models.csv", infer_schema_length=None)
    for r in models.iter_rows(named=True):
        assert _row(pilot_json["models"], param=r["param"])["interaction_p"] == pytest.approx(r["interaction_p"], rel=1e-4)
