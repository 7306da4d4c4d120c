"""Survival defaults come from the trial at hand: landmarks, RMST tau, extrapolation, endpoint wording.

R reference: tests/reference/make_survival_defaults_reference.R (survival_defaults_r.json). survRM2 is not in
Debian, so its default tau and the RMST are computed with base R from survfit:
  fit <- survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, data = d); tau <- min(tapply(d$AVAL, d$TRT01A, max))
  rmst: t <- c(0, f$time[f$time <= tau], tau); s <- c(1, f$surv[f$time <= tau]); sum(diff(t) * s)
  se: survival:::survmean(f, rmean = tau)$matrix["se(rmean)"]; landmarks: summary(f, times = times)$surv
"""

from __future__ import annotations

import html as html_lib
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from r_reference import same

from trialkit.schemas.errors import UsageError
from trialkit.analyses.survival.endpoint import endpoint_wording
from trialkit.analyses.timescale import parse_times, round_times_within, time_label

REF = json.loads((Path(__file__).parent / "reference" / "survival_defaults_r.json").read_text())
PILOT_R, SEED_R = REF["pilot"], REF["seed"]


@pytest.fixture
def seed_ws(seed_workspace, tmp_path):
    return Path(shutil.copytree(seed_workspace, tmp_path / "ws"))


@pytest.fixture
def pilot_ws(pilot_workspace, tmp_path):
    return Path(shutil.copytree(pilot_workspace, tmp_path / "ws"))


def survival(run_cli, ws: Path, *options: str):
    return run_cli(["survival", "--workspace", ws, "--no-plot", *options])


def survival_json(run_cli, ws: Path, *options: str) -> dict:
    result = survival(run_cli, ws, "--format", "json", *options)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def by_arm(rows: list[dict], key: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in rows:
        out.setdefault(r["arm"], []).append(r[key])
    return out


# --------------------------------------------------------------------------- timescale
def test_time_label_short_reads_back_as_parse_times_reads_it():
    assert [time_label(t) for t in (182.625, 730.5, 365.25, 547.875, 182, 14, 190, 0)] == \
        ["6m", "2y", "1y", "18m", "26w", "2w", "190d", "0d"]
    days = [182.625, 730.5, 182.0, 190.0, 60.875]
    assert parse_times(",".join(time_label(t) for t in days)) == sorted(days)


def test_time_label_long_names_the_unit_and_the_day():
    assert time_label(182.625, style="long") == "6 months (day 182.6)"
    assert time_label(730.5, style="long") == "2 years (day 730.5)"
    assert time_label(365.25, style="long") == "1 year (day 365.2)"
    assert time_label(182, style="long") == "26 weeks (day 182)"
    assert time_label(190, style="long") == "day 190"


def test_parse_times_names_the_option_in_its_error():
    with pytest.raises(UsageError, match=r"^--rmst-tau value '2 years' is not a time$"):
        parse_times("2 years", "--rmst-tau")


@pytest.mark.parametrize(("limit", "times", "step"), [
    (189, [60.875, 121.75, 182.625], "2m"),  # 1m would give 6 times; 2m gives 3 (pilot)
    (738, [182.625, 365.25, 547.875, 730.5], "6m"),  # 3m would give 8 (built-in trial)
    (100, [28.0, 56.0, 84.0], "4w"),  # 2w would give 7
    (20, [7.0, 14.0], "1w"),  # 3d would give 6
    (3 * 365.25, [365.25, 730.5, 1095.75], "1y"),  # 6m would give 6
    (0.5, [], ""),
])
def test_default_landmarks_are_the_smallest_round_step_giving_at_most_four(limit, times, step):
    got, got_step = round_times_within(limit)
    assert got == pytest.approx(times) and got_step == step


# --------------------------------------------------------------------------- endpoint wording
def test_overall_survival_is_worded_as_survival():
    w = endpoint_wording("OS", "Overall survival (days)")
    assert (w.y_label, w.estimate, w.events) == ("Survival probability", "survival", "Deaths")
    assert w.km_caption == ("Kaplan-Meier estimates of survival by group (Overall survival (days)), "
                            "with the number at risk under the time axis.")


@pytest.mark.parametrize(("paramcd", "param"), [("PFS", "Progression-Free Survival"), ("TTD", "Time to Death"),
                                                 ("OS", None)])
def test_param_mentioning_survival_or_death_is_worded_as_survival(paramcd, param):
    assert endpoint_wording(paramcd, param).y_label == "Survival probability"


def test_other_endpoints_are_event_free_and_named_by_their_param():
    w = endpoint_wording("TTDE", "Time to First Dermatologic Event")
    assert (w.y_label, w.estimate, w.events) == ("Event-free probability", "event-free probability", "Events")
    assert "Time to First Dermatologic Event" in w.km_caption and "survival" not in w.km_caption


# --------------------------------------------------------------------------- built-in trial
def test_builtin_defaults_are_within_its_follow_up_and_match_r(run_cli, seed_ws):
    out = survival_json(run_cli, seed_ws)
    s = out["settings"]
    assert s["landmark_times"] == SEED_R["times"]
    assert s["landmark_times_source"].startswith("default: every 6m, the smallest round step")
    assert s["rmst_tau"] == SEED_R["tau"] == 738
    assert s["rmst_tau_source"] == "default: the smallest of the groups' last observed times, as survRM2's rmst2"
    assert s["extrapolate"] is False
    assert s["follow_up"]["last_time"] == SEED_R["last_time"] and s["follow_up"]["shortest_group_last_time"] == 738
    landmarks, rmst = by_arm(out["landmarks"], "survival"), {r["arm"]: r for r in out["rmst"]}
    for arm in SEED_R["groups"]:
        ref = SEED_R["by_group"][arm]
        same(landmarks[arm], ref["landmark_survival"])
        assert rmst[arm]["rmst"] == pytest.approx(ref["rmst"], rel=1e-9)
        assert rmst[arm]["se"] == pytest.approx(ref["se"], rel=1e-6, abs=1e-12)
    assert not any(r["extrapolated"] for r in out["landmarks"] + out["rmst"])


def test_explicit_times_and_tau_are_recorded_as_options(run_cli, seed_ws):
    s = survival_json(run_cli, seed_ws, "--times", "6m,2y", "--rmst-tau", "2y")["settings"]
    assert (s["landmark_times"], s["landmark_times_source"]) == ([182.625, 730.5], "option")
    assert (s["rmst_tau"], s["rmst_tau_source"]) == (730.5, "option")


def test_landmark_after_the_last_observed_time_is_a_usage_error(run_cli, seed_ws):
    result = survival(run_cli, seed_ws, "--times", "6m,3y")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == ("Error: --times 3y (1095.75 days) is after the follow-up: the last observed "
                                             "OS time is 740 days")
    assert "--extrapolate" in result.stderr
    assert not (seed_ws / "survival").exists()


def test_tau_after_the_shortest_groups_last_time_is_refused_as_survrm2_does(run_cli, seed_ws):
    result = survival(run_cli, seed_ws, "--rmst-tau", "739")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "Error: --rmst-tau 739 days is after the follow-up: the last observed OS time of Low dose is 738 days, and tau "
        "may not pass the smallest of the groups' last times (as survRM2)")
    assert survival(run_cli, seed_ws, "--rmst-tau", "738").exit_code == 0


def test_landmark_inside_the_follow_up_but_after_one_groups_last_time_is_flagged_for_that_group(run_cli, seed_ws):
    out = survival_json(run_cli, seed_ws, "--times", "739")  # last times: Low 738, Medium 738, High 740
    assert {r["arm"]: r["extrapolated"] for r in out["landmarks"]} == {"Low dose": True, "Medium dose": True,
                                                                       "High dose": False}
    assert "S(739d) is extrapolated for Low dose, Medium dose: 739 days is after their last observed time" in out["notes"][0]


def test_extrapolate_carries_forward_and_flags_every_output(run_cli, seed_ws):
    result = survival(run_cli, seed_ws, "--times", "6m,3y", "--rmst-tau", "3y", "--extrapolate")
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "Note: S(3y) is extrapolated for Low dose, Medium dose, High dose" in text
    assert "Note: RMST to 3y (1095.75 days) is extrapolated for Low dose, Medium dose, High dose" in text
    out = json.loads((seed_ws / "survival" / "survival.json").read_text())
    assert out["settings"]["extrapolate"] is True
    flags = {(r["arm"], r["time"]): r["extrapolated"] for r in out["landmarks"]}
    assert flags == {(a, t): t == 1095.75 for a in SEED_R["groups"] for t in (182.625, 1095.75)}
    # carried forward, as summary(fit, times, extend = TRUE): S(3y) = S at the last time, nobody at risk
    last = {(r["arm"], r["time"]): r for r in out["landmarks"]}
    assert [last[(a, 1095.75)]["survival"] for a in SEED_R["groups"]] == pytest.approx([2 / 3, 1.0, 0.875])
    assert [last[(a, 1095.75)]["n_risk"] for a in SEED_R["groups"]] == [0, 0, 0]
    assert all(r["extrapolated"] for r in out["rmst"])
    parquet = pl.read_parquet(seed_ws / "survival" / "landmarks.parquet")
    assert parquet.filter(pl.col("extrapolated"))["time"].unique().to_list() == [1095.75]
    assert pl.read_parquet(seed_ws / "survival" / "rmst.parquet")["extrapolated"].to_list() == [True, True, True]


def test_report_marks_extrapolated_estimates(run_cli, seed_ws, tmp_path):
    assert survival(run_cli, seed_ws, "--times", "6m,3y", "--extrapolate").exit_code == 0
    md = run_cli(["report", "--workspace", seed_ws, "--format", "md", "--out", tmp_path / "r.md"])
    assert md.exit_code == 0, md.stderr
    text = (tmp_path / "r.md").read_text()
    assert "S at 3 years (day 1095.8): Low dose 0.667 (extrapolated)" in text
    assert "S at 6 months (day 182.6): Low dose 1.000," in text
    html = run_cli(["report", "--workspace", seed_ws, "--out", tmp_path / "r.html"])
    assert html.exit_code == 0, html.stderr
    page = html_lib.unescape((tmp_path / "r.html").read_text()).replace("\u00a0", " ")
    assert 'class="gt_row gt_right">0.667 (0.195, 0.904)\u2020</td>' in page  # Low dose, S(3y), log-log CI
    assert "\u2020 Extrapolated: after the group's last observed time; S(t) carried forward" in page


# --------------------------------------------------------------------------- CDISC pilot
@pytest.mark.realdata
def test_pilot_defaults_fall_inside_its_200_days_and_match_r(run_cli, pilot_ws):
    out = survival_json(run_cli, pilot_ws)
    s = out["settings"]
    assert s["landmark_times"] == PILOT_R["times"] == [60.875, 121.75, 182.625]  # 2m, 4m, 6m
    assert (s["rmst_tau"], s["follow_up"]["last_time"]) == (PILOT_R["tau"], PILOT_R["last_time"]) == (189, 198)
    landmarks, rmst = by_arm(out["landmarks"], "survival"), {r["arm"]: r for r in out["rmst"]}
    for arm in PILOT_R["groups"]:
        ref = PILOT_R["by_group"][arm]
        same(landmarks[arm], ref["landmark_survival"])
        assert rmst[arm]["rmst"] == pytest.approx(ref["rmst"], rel=1e-9)
        assert rmst[arm]["se"] == pytest.approx(ref["se"], rel=1e-6)
    assert not any(r["extrapolated"] for r in out["landmarks"] + out["rmst"])


@pytest.mark.realdata
def test_pilot_refuses_two_years_unless_extrapolate(run_cli, pilot_ws):
    refused = survival(run_cli, pilot_ws, "--times", "2y")
    assert refused.exit_code == 2
    assert refused.stderr.splitlines()[0] == ("Error: --times 2y (730.5 days) is after the follow-up: the last observed "
                                              "TTDE time is 198 days")
    out = survival_json(run_cli, pilot_ws, "--times", "2y", "--extrapolate")
    assert [r["extrapolated"] for r in out["landmarks"]] == [True, True, True]
    assert any(n.startswith("S(2y) is extrapolated for Placebo, Xanomeline Low Dose, Xanomeline High Dose")
               for n in out["notes"])


@pytest.mark.realdata
def test_pilot_km_figure_and_report_name_the_endpoint_not_survival(run_cli, pilot_ws, tmp_path):
    assert run_cli(["survival", "--workspace", pilot_ws]).exit_code == 0
    svg = (pilot_ws / "survival" / "km.svg").read_text()
    assert "Event-free probability" in svg and "Survival probability" not in svg  # matplotlib keeps text as comments
    assert run_cli(["report", "--workspace", pilot_ws, "--out", tmp_path / "r.html"]).exit_code == 0
    page = (tmp_path / "r.html").read_text()
    assert ("Kaplan-Meier estimates of event-free probability by group (Time to First Dermatologic Event)" in page)
    assert "the paper" not in page.lower() and "published" not in page.lower()
