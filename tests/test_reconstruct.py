"""The Guyot et al. (2012) reconstruction, its input checks and its ADaM form (analyses/reconstruct.py).

The reference for the algorithm is a tiny example worked by hand below, step by step as the paper
describes it (BMC Med Res Methodol 2012;12:9, "Methods"): one arm, 10 patients, at-risk table 10 at
time 0 and 6 at time 10 (two intervals), digitised points (0, 1), (2, 0.85), (10, 0.85), (12, 0.6),
(15, 0.6).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from trialkit.analyses.reconstruct import (METHOD, check_at_risk, clean_curves, derive_adam, parse_events,
                                           reconstruct_arm, reconstruct_trial)
from trialkit.analyses.reconstruct import default_paramcd
from trialkit.schemas.errors import DataError, UsageError

T = [0, 2, 10, 12, 15]
S = [1, 0.85, 0.85, 0.6, 0.6]


def test_hand_worked_example_adjusts_censoring_until_the_published_number_at_risk_is_met():
    # Interval 1, [0, 10). Step 1: nc = round(10 x 0.85 / 1 - 6) = round(2.5) = 3 (half up).
    # Step 2: censorings at 2.5, 5, 7.5, all in [2, 10). Step 3: at t = 2, d = round(10 x (1 - 0.85)) = round(1.5)
    # = 2, KM = 0.8; then 3 censored: 5 at risk at 10. Step 4: 5 != 6, so nc = 3 + (5 - 6) = 2: censorings at
    # 10/3 and 20/3, d = 2 again, 10 - 2 - 2 = 6 at risk at 10: met.
    # Interval 2 (last), no total events: nc = round(2 censored x (15 - 10) / (10 - 0)) = 1, at 12.5.
    # At t = 10: d = round(6 (1 - 0.85 / 0.8)) < 0 -> 0. At t = 12: d = round(6 (1 - 0.6 / 0.8)) = round(1.5) = 2,
    # KM = 0.8 x 4/6; the censoring at 12.5 leaves 3; at t = 15: d = round(3 (1 - 0.6 / 0.5333)) < 0 -> 0.
    # The 3 still at risk are censored at 15.
    r = reconstruct_arm(T, S, [0, 10], [10, 6])
    assert r.time.tolist() == pytest.approx([2, 2, 10 / 3, 20 / 3, 12, 12, 12.5, 15, 15, 15], rel=1e-12)
    assert r.event.tolist() == [1, 1, 0, 0, 1, 1, 0, 0, 0, 0]
    assert r.risk_reconstructed.tolist() == [10, 6]
    assert (r.n, r.events, r.events_target) == (10, 4, None)


def test_hand_worked_example_with_total_events_adjusts_the_last_interval():
    # Total events 3: the last interval starts at nc = 1 (4 events, one too many), so nc = 1 + (4 - 3) = 2:
    # censorings at 35/3 and 40/3. The one at 11.67 leaves 5 at risk at t = 12: d = round(5 x 0.25) = round(1.25)
    # = 1, KM = 0.64; the one at 13.33 leaves 3; at t = 15 d = round(3 (1 - 0.6 / 0.64)) = 0. 3 events: met.
    r = reconstruct_arm(T, S, [0, 10], [10, 6], total_events=3)
    assert r.time.tolist() == pytest.approx([2, 2, 10 / 3, 20 / 3, 35 / 3, 12, 40 / 3, 15, 15, 15], rel=1e-12)
    assert r.event.tolist() == [1, 1, 0, 0, 0, 1, 0, 0, 0, 0]
    assert (r.events, r.events_target) == (3, 3)


def test_unreachable_total_events_keep_the_closest_censoring_and_say_so_in_the_counts():
    # 5 events: no censoring count in the last interval gives more than 2 there (d at t = 12 is round(1.5) = 2
    # with 6 at risk and less with fewer), so the first guess (nc = 1, 4 events) is kept
    r = reconstruct_arm(T, S, [0, 10], [10, 6], total_events=5)
    assert (r.events, r.events_target) == (4, 5)
    assert r.event.tolist() == [1, 1, 0, 0, 1, 1, 0, 0, 0, 0]


def test_total_events_only_variant_uses_one_interval_from_time_zero():
    # no at-risk number after time 0: the whole curve is the last interval; with 10 patients and the curve at
    # 0.5 the reported 5 events are met without censoring before the end
    r = reconstruct_arm([0, 4, 8], [1, 0.7, 0.5], [0], [10], total_events=5)
    assert (r.n, r.events) == (10, 5)
    assert r.time[r.event == 1].tolist() == [4, 4, 4, 8, 8]
    assert (r.time[r.event == 0] == 8).all()


def test_without_at_risk_numbers_or_events_no_censoring_is_invented_before_the_end():
    r = reconstruct_arm([0, 4, 8], [1, 0.7, 0.5], [0], [10])
    assert r.time[r.event == 1].tolist() == [4, 4, 4, 8, 8]
    assert r.time[r.event == 0].tolist() == [8] * 5


def _curves(rows):
    return pl.DataFrame(rows, schema=["group", "time", "survival"], orient="row")


def test_percent_curves_are_detected_sorted_clamped_and_given_their_origin():
    clean = clean_curves(_curves([("A", 5.0, 80.0), ("A", 1.0, 90.0), ("A", 3.0, 90.8), ("A", 8.0, 70.0)]), "c.csv")
    assert clean.scale == "percent"
    assert clean.curves["time"].to_list() == [0, 1, 3, 5, 8]
    assert clean.curves["survival"].to_list() == pytest.approx([1, 0.9, 0.9, 0.8, 0.7])
    assert clean.clamped == 1 and clean.added_origin == ("A",)


def test_a_starting_point_a_hair_below_one_is_noise():
    clean = clean_curves(_curves([("A", 0.0, 0.995), ("A", 2.0, 0.9)]), "c.csv")
    assert clean.curves["time"].to_list() == [0, 2] and clean.curves["survival"].to_list() == [1, 0.9]
    assert clean.scale == "proportion"


def test_a_curve_that_rises_beyond_the_tolerance_is_refused_naming_arm_time_and_row():
    with pytest.raises(DataError, match=r"c\.csv, arm 'B': the curve rises from 0\.600 to 0\.650 at time 6 \(row 3\)"):
        clean_curves(_curves([("B", 2.0, 0.8), ("B", 4.0, 0.6), ("B", 6.0, 0.65)]), "c.csv")


def test_survival_outside_the_scale_is_refused():
    with pytest.raises(DataError, match=r"c\.csv, column survival: value\(s\) outside \[0, 1\] .*rows 2"):
        clean_curves(_curves([("A", 2.0, 0.8), ("A", 4.0, -0.2)]), "c.csv")
    with pytest.raises(DataError, match=r"outside \[0, 100\] \(read as percent; rows 2: 130"):
        clean_curves(_curves([("A", 2.0, 80.0), ("A", 4.0, 130.0)]), "c.csv")


def test_negative_times_and_non_numbers_in_curves_are_refused_naming_rows():
    with pytest.raises(DataError, match=r"column time: negative time\(s\) \(rows 2: -1\)"):
        clean_curves(_curves([("A", 2.0, 0.8), ("A", -1.0, 0.9)]), "c.csv")
    bad = pl.DataFrame({"group": ["A", "A"], "time": ["1", "x"], "survival": ["0.9", "0.8"]})
    with pytest.raises(DataError, match=r"column time: 1 value\(s\) are missing or not a number \(rows 2: 'x'\)"):
        clean_curves(bad, "c.csv")


def test_missing_columns_are_a_usage_error_listing_what_the_file_has():
    with pytest.raises(UsageError, match=r"c\.csv: the curves file has no column survival \(it has: group, time, S\)"):
        clean_curves(pl.DataFrame({"group": ["A"], "time": [1.0], "S": [0.9]}), "c.csv")
    with pytest.raises(UsageError, match=r"r\.csv: the at-risk table has no column n_risk"):
        check_at_risk(pl.DataFrame({"Group": ["A"], "Time": [0.0]}), "r.csv")


def _risk(rows):
    return pl.DataFrame(rows, schema=["group", "time", "n_risk"], orient="row")


@pytest.mark.parametrize("rows, message", [
    ([("A", 0, 10), ("A", 6, 8), ("A", 3, 5)], r"arm 'A': times out of order or repeated \(6 then 3, rows 2 and 3\)"),
    ([("A", 0, 10), ("A", 6, 8), ("A", 12, 9)], r"arm 'A': the number at risk grows from 8 at time 6 to 9 at time 12"),
    ([("A", 3, 10)], r"arm 'A': no number at risk at time 0 \(the first time is 3\)"),
    ([("A", 0, 10), ("A", -3, 8)], r"column time: negative time\(s\) \(rows 2\)"),
    ([("A", 0, 10.5)], r"column n_risk: 1 value\(s\) are not a count \(rows 1: 10\.5\)"),
])
def test_impossible_at_risk_tables_are_refused(rows, message):
    with pytest.raises(DataError, match=message):
        check_at_risk(_risk(rows), "r.csv")


def test_arms_missing_from_either_file_are_refused():
    curves = _curves([("A", 2.0, 0.9), ("B", 2.0, 0.8)])
    with pytest.raises(DataError, match=r"r\.csv: arm\(s\) 'C' have no curve in c\.csv"):
        reconstruct_trial(curves, _risk([("A", 0, 10), ("B", 0, 10), ("C", 0, 5)]), curves_source="c.csv",
                          at_risk_source="r.csv")
    with pytest.raises(DataError, match=r"c\.csv: arm\(s\) 'B' have no at-risk numbers in r\.csv"):
        reconstruct_trial(curves, _risk([("A", 0, 10)]), curves_source="c.csv", at_risk_source="r.csv")


def test_events_option_is_parsed_and_checked():
    assert parse_events("Placebo=45, Drug A=38", ["Placebo", "Drug A"]) == {"Placebo": 45, "Drug A": 38}
    with pytest.raises(UsageError, match=r"--events names arm 'Drug B', which is not in the at-risk table"):
        parse_events("Drug B=3", ["Placebo"])
    with pytest.raises(UsageError, match=r"'Placebo' is not ARM=COUNT"):
        parse_events("Placebo", ["Placebo"])
    with pytest.raises(UsageError, match=r"'x' for arm 'Placebo' is not a count"):
        parse_events("Placebo=x", ["Placebo"])


def test_more_events_than_patients_is_a_data_error():
    with pytest.raises(DataError, match=r"--events gives 12 events for arm 'A', more than its 10 patients"):
        reconstruct_trial(_curves([("A", 2.0, 0.9)]), _risk([("A", 0, 10)]), {"A": 12})


def test_at_risk_times_get_a_digitised_point_and_times_after_the_curve_are_not_used():
    curves = _curves([("A", 0.0, 1.0), ("A", 2.0, 0.85), ("A", 12.0, 0.6), ("A", 15.0, 0.6)])
    r = reconstruct_trial(curves, _risk([("A", 0, 10), ("A", 10, 6), ("A", 20, 2)]))
    assert r.dropped_risk_rows == 1
    assert r.curves["time"].to_list() == [0, 2, 10, 12, 15]  # the point (10, 0.85) of the hand-worked example
    assert r.ipd["time"].to_list() == pytest.approx(reconstruct_arm(T, S, [0, 10], [10, 6]).time.tolist())
    assert r.summary.row(0, named=True) == {"group": "A", "n": 10, "events": 4, "censored": 6, "events_reported": None,
                                            "risk_times": 2, "risk_max_diff": 0}


def test_adam_form_has_the_schema_columns_in_days_and_the_arms_in_file_order():
    curves = _curves([("Drug", 2.0, 0.8), ("Placebo", 2.0, 0.9)])
    r = reconstruct_trial(curves, _risk([("Placebo", 0, 10), ("Drug", 0, 5)]))
    adsl, adtte = derive_adam(r.ipd, r.groups, studyid="NCT1", param="Progression-free survival", time_unit="months")
    assert r.groups == ("Placebo", "Drug")
    assert adsl.columns == ["STUDYID", "USUBJID", "ARM", "TRT01P", "TRT01A", "TRT01AN", "SAFFL", "ITTFL"]
    assert adsl["USUBJID"].head(2).to_list() == ["NCT1-1-0001", "NCT1-1-0002"]
    assert adsl.filter(pl.col("TRT01A") == "Drug")["TRT01AN"].unique().to_list() == [2.0]
    assert adsl["USUBJID"].n_unique() == 15 and (adsl["USUBJID"] == adtte["USUBJID"]).all()
    assert set(adtte["PARAMCD"]) == {"OS"} and set(adtte["PARAM"]) == {"Progression-free survival"}
    events = adtte.filter(pl.col("CNSR") == 0)
    assert events["AVAL"].to_list() == pytest.approx([2 * 365.25 / 12] * events.height)
    assert events.height == 2  # 1 of 10 (0.9) and 1 of 5 (0.8)


def test_paramcd_default_follows_the_label():
    assert default_paramcd("Overall survival") == "OS"
    assert default_paramcd("Time to first dermatologic event") == "TTE"
    assert "Guyot" in METHOD and "2012;12:9" in METHOD


def test_same_inputs_give_the_same_patients():
    curves = _curves([("A", float(t), float(s)) for t, s in zip(np.linspace(1, 30, 40), np.linspace(0.98, 0.3, 40))])
    risk = _risk([("A", 0, 50), ("A", 10, 33), ("A", 20, 20)])
    a, b = reconstruct_trial(curves, risk), reconstruct_trial(curves, risk)
    assert a.ipd.equals(b.ipd)
