"""No grid of times grows with the size of a time: one AVAL of 1e300, or every time in milliseconds.

Axis ticks, number-at-risk times, default landmarks, labels and the whole
survival stage stay small whatever the largest time holds. Validation refuses
ADTTE times beyond 100 years (rule aval_time_plausible), so most of these tests
call the analyses directly, with no validation in front of them, and run the
heavy ones in a subprocess under a memory limit (RLIMIT_AS), so a regression
fails the test instead of eating the machine. The command-line tests check the
user's paths: a refusal in one line, or the quarantine and then the analysis.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from trialkit.analyses.biomarkers.figures import MAX_VISIT_TICKS, visit_ticks
from trialkit.analyses.formatting import format_ci, format_number
from trialkit.analyses.survival.figure import MAX_BREAKS, TimeAxis, time_axis
from trialkit.analyses.survival.km import derive_survival_data
from trialkit.analyses.timescale import nice_step, parse_time, round_times_within, time_label
from trialkit.schemas.errors import DataError, UsageError

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "fixtures" / "seed_trial"
MS_PER_DAY = 86_400_000
#: address space a guarded subprocess may use. The survival stage with its figure touches well under 1 GB, but
#: RLIMIT_AS also counts what polars' thread pool and the allocators reserve without touching; at 2.5 GB the
#: report's ARD check failed now and then once the stage had its models. A time-proportional allocation (the
#: bug guarded against) needs far more than any finite limit.
MEMORY_LIMIT = 4_000_000_000
HUGE = [1e300, 738.0 * MS_PER_DAY, 1.7e308, 41 * 365.25, 1e5]


# ----------------------------------------------------------------------------------------- pure helpers
@pytest.mark.parametrize("longest", [0.0, 9.0, 198.0, 740.0, *HUGE])
def test_time_axis_has_at_most_nine_ticks_whatever_the_longest_time(longest):
    axis = time_axis(longest)
    breaks = axis.breaks_days
    assert 2 <= len(breaks) <= 9
    assert breaks[0] == 0 and breaks == sorted(breaks) and all(math.isfinite(b) for b in breaks)
    assert breaks[-1] <= axis.limit_days * (1 + 1e-12) and axis.limit_days >= longest


def test_time_axis_past_forty_years_steps_in_round_years():
    assert time_axis(41 * 365.25).step == 120  # 10 years, in months
    assert time_axis(1e300).step / 12 == pytest.approx(5e296)


def test_a_hand_made_axis_still_gives_at_most_max_breaks():
    assert len(TimeAxis("days", 1.0, 1.0, 1e300).breaks_days) == MAX_BREAKS


def test_time_axis_refuses_an_infinite_time():
    with pytest.raises(ValueError):
        time_axis(math.inf)


@pytest.mark.parametrize("limit", [1.0, 189.0, 738.0, *HUGE, math.inf])
def test_default_landmarks_are_at_most_four_whatever_the_follow_up(limit):
    times, step = round_times_within(limit)
    assert 1 <= len(times) <= 4 and step
    assert all(0 < t <= min(limit, sys.float_info.max) for t in times)


def test_default_landmarks_past_forty_years_step_in_round_years():
    assert round_times_within(41 * 365.25) == ([3652.5, 7305.0, 10957.5, 14610.0], "10y")
    assert round_times_within(55 * 365.25)[1] == "20y"
    assert round_times_within(738 * MS_PER_DAY)[1] == "50000000y"


def test_nice_step_is_one_two_or_five_times_a_power_of_ten():
    assert [nice_step(x) for x in (0.3, 1, 1.1, 2.5, 7, 10, 3e296)] == pytest.approx([0.5, 1, 2, 5, 10, 10, 5e296])


@pytest.mark.parametrize("days", [1e300, 738.0 * MS_PER_DAY * 365.25, 1.7e308, 365.25e20])
def test_time_labels_of_huge_times_stay_short(days):
    assert len(time_label(days)) <= 16 and len(time_label(days, style="long")) <= 40


def test_format_number_prints_a_huge_value_in_full_instead_of_failing():
    text = format_number(1e300, 1)
    assert text == "1" + "0" * 300 + ".0"
    assert format_ci(1e300, 1e299, 1.7e308, 3).startswith("1000")


def test_a_time_too_large_for_a_float_is_a_usage_error():
    with pytest.raises(UsageError, match=r"^--rmst-tau value '1000.*' is too large to be a time$"):
        parse_time("1" + "0" * 400, "--rmst-tau")


def test_survival_data_with_an_infinite_or_nan_aval_is_a_data_error():
    adsl = pl.DataFrame({"USUBJID": ["A", "B", "C"], "TRT01A": ["X", "X", "Y"]})
    adtte = pl.DataFrame({"USUBJID": ["A", "B", "C"], "PARAMCD": ["OS"] * 3, "AVAL": [1.0, math.inf, math.nan],
                          "CNSR": [0, 1, 0]})
    with pytest.raises(DataError, match=r"^ADTTE, column AVAL: 2 OS row\(s\) hold no finite time .*subjects B, C$"):
        derive_survival_data(adtte, adsl, "OS", ["X", "Y"])


def test_a_visit_axis_labels_at_most_twenty_visits():
    visits = [(float(d), f"Day {d}") for d in range(0, 5000 * MS_PER_DAY, MS_PER_DAY)]
    positions, labels = visit_ticks(visits)
    assert len(positions) == len(labels) <= MAX_VISIT_TICKS and positions[0] == 0 and labels[0] == "Day 0"
    assert visit_ticks(visits[:7]) == (list(range(7)), [v[1] for v in visits[:7]])


# ------------------------------------------------------------------------- whole stages, memory-guarded
def _guarded(code: str, timeout: float = 240) -> dict:
    """Run ``code`` (which prints one JSON object last) in a subprocess limited to MEMORY_LIMIT bytes."""
    script = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))
    """) + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


_ANALYSE = """
    import json, polars as pl
    from trialkit.analyses.groups import arms_of
    from trialkit.analyses.survival.km import resolve_settings
    from trialkit.analyses.survival.pipeline import analyse_survival, results_json
    from trialkit.analyses.survival.figure import render_km_figure
    from trialkit.analyses.ard import AnalysisMeta, survival_ard
    adsl = pl.read_csv(r"{seed}/adsl.csv")
    adtte = pl.read_csv(r"{seed}/adtte.csv").with_columns({scale})
    res = analyse_survival(adtte, adsl, "OS", arms_of(adsl), resolve_settings(None, None, None))
    doc = results_json(res)
    ard = survival_ard(res, AnalysisMeta("survival"))
    fig = render_km_figure(res.km, res.arms, res.risk_table, res.axis)
    print(json.dumps({{"breaks": len(res.axis.breaks_days), "risk_rows": res.risk_table.height,
                       "landmarks": len(res.times), "landmark_rows": res.landmarks.height, "rmst": res.rmst.height,
                       "ard_rows": ard.height, "json_chars": len(json.dumps(doc)), "png": len(fig["png"])}}))
"""


@pytest.mark.parametrize("scale", [
    'pl.when(pl.col("USUBJID") == "TK-SEED-001").then(1e300).otherwise(pl.col("AVAL")).alias("AVAL")',
    f'pl.col("AVAL").cast(pl.Float64) * {MS_PER_DAY}',
], ids=["one-aval-1e300", "milliseconds"])
def test_survival_stage_on_absurd_times_stays_small_under_a_memory_limit(scale):
    got = _guarded(_ANALYSE.format(seed=SEED, scale=scale))
    assert got["breaks"] <= 9 and got["risk_rows"] == 3 * got["breaks"]
    assert 1 <= got["landmarks"] <= 4 and got["landmark_rows"] == 3 * got["landmarks"] and got["rmst"] == 3
    assert got["ard_rows"] < 1000 and got["json_chars"] < 100_000 and got["png"] > 0


def _cli(args: list[str]) -> str:
    return f"""
        import json, sys
        from typer.testing import CliRunner
        from trialkit.cli.app import app
        r = CliRunner().invoke(app, {args!r}, catch_exceptions=False)
        print(json.dumps({{"code": r.exit_code, "out": r.stdout[-2000:], "err": r.stderr[-2000:]}}))
    """


def _ingest(run_cli, tmp_path: Path, source: Path) -> Path:
    ws = tmp_path / "ws"
    result = run_cli(["ingest", source, "--workspace", ws])
    assert result.exit_code == 0, result.stderr
    return ws


def test_survival_command_refuses_millisecond_times_in_one_line_within_a_memory_limit(tmp_path, run_cli):
    src = tmp_path / "src"
    src.mkdir()
    for f in SEED.glob("*.csv"):
        df = pl.read_csv(f, infer_schema_length=0)
        if f.stem == "adtte":
            df = df.with_columns(pl.col("AVAL").cast(pl.Float64) * MS_PER_DAY)
        df.write_csv(src / f.name)
    ws = _ingest(run_cli, tmp_path, src)
    got = _guarded(_cli(["survival", "--workspace", str(ws)]))
    assert got["code"] == 1 and "trialkit bug" not in got["err"]
    assert got["err"].startswith("Error: adtte.parquet (ADTTE), column AVAL: 24 row(s)")
    report = _guarded(_cli(["report", "--workspace", str(ws)]))
    assert report["code"] == 0, report["err"]


def test_pilot_with_one_aval_of_1e300_quarantined_then_analysed_within_a_memory_limit(tmp_path, run_cli, pilot_dir):
    import pyreadstat

    src = tmp_path / "src"
    src.mkdir()
    frame, _ = pyreadstat.read_xport(str(pilot_dir / "adtte.xpt"))
    adtte = pl.from_pandas(frame)
    first = adtte["USUBJID"][0]
    adtte.with_columns(pl.when(pl.col("USUBJID") == first).then(1e300).otherwise(pl.col("AVAL")).alias("AVAL")
                       ).write_csv(src / "adtte.csv")
    (src / "adsl.xpt").symlink_to(pilot_dir / "adsl.xpt")
    ws = _ingest(run_cli, tmp_path, src)
    assert run_cli(["validate", "--workspace", ws]).exit_code == 1  # the 1e300 row is quarantined
    for args in (["survival", "--workspace", str(ws)], ["report", "--workspace", str(ws)]):
        got = _guarded(_cli(args))
        assert got["code"] == 0, got["err"]
    doc = json.loads((ws / "survival" / "survival.json").read_text())
    assert len(doc["settings"]["risk_table_times"]) <= 9 and sum(a["n"] for a in doc["arms"]) == adtte.height - 1


@pytest.mark.parametrize("value", [math.inf, 1e300])
def test_edish_and_mdish_draw_huge_peaks_and_leave_out_infinite_or_nan_ones(value):
    from trialkit.analyses.figures import render
    from trialkit.analyses.groups import arms_of
    from trialkit.analyses.safety.figures import edish_plot, mdish_plot
    from trialkit.analyses.safety.pipeline import analyse_safety, choose_reference

    adsl = pl.read_csv(SEED / "adsl.csv", try_parse_dates=True)
    adlb = pl.read_csv(SEED / "adlb.csv", try_parse_dates=True)
    alt = (pl.col("PARAMCD") == "ALT") & (pl.col("USUBJID") == "TK-SEED-001")
    adlb = adlb.with_columns(pl.when(alt).then(value).otherwise(pl.col("AVAL")).alias("AVAL"))
    arms = arms_of(adsl)
    result = analyse_safety(adsl, pl.read_csv(SEED / "adae.csv", try_parse_dates=True), arms,
                            choose_reference(arms, arms, None), adlb=adlb)
    for plot in (edish_plot, mdish_plot):  # an infinite value at baseline too: inf / inf is NaN in mDISH
        images = render(plot(result.liver_peaks, [a.label for a in arms]), 6, 5)
        assert images["png"] and images["svg"]
