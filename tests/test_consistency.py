"""Consistency checks from the paper alone (analyses/consistency.py): hand-worked examples, statcheck's own
examples, R's p-values (tests/reference/make_consistency_reference.R) and a brute-force enumeration of
Kaplan-Meier patterns."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from r_reference import same
from trialkit.analyses.consistency import (
    CONSISTENT,
    INCONSISTENT,
    NOT_CHECKABLE,
    check_difference_ci,
    check_km,
    check_mean,
    check_p_value,
    check_percentage,
    check_ratio_ci,
    check_sd,
    parse_reported,
)

R = json.loads((Path(__file__).parent / "reference" / "consistency_r.json").read_text())
P = parse_reported


# --------------------------------------------------------------------------- reported numbers
def test_a_reported_number_keeps_its_decimals_percent_sign_and_relation():
    r = P("66.7%")
    assert (str(r.value), r.decimals, r.percent, r.relation) == ("66.7", 1, True, "=")
    assert (str(P(".036").value), P(".036").decimals) == ("0.036", 3)
    assert P("p < .001").relation == "<" and P("p < .001").decimals == 3
    assert P("≤ 0.05").relation == "<="
    assert P("2.20").decimals == 2
    assert P(2.2).decimals == 1  # a TOML number loses its trailing zero: write "2.20" as text
    assert P("1e-4").decimals == 4 and P("1e-4").exact == Fraction(1, 10000)
    assert P("66.7%").proportion.exact == Fraction(667, 1000) and P("66.7%").proportion.decimals == 3


@pytest.mark.parametrize("bad", ["66.7 %%", "about 5", "", True, [1], float("nan")])
def test_a_number_a_paper_could_not_print_is_refused(bad):
    with pytest.raises(ValueError):
        P(bad)


# --------------------------------------------------------------------------- GRIM
def test_grim_mean_5_19_of_28_integers_is_impossible_and_5_18_possible():
    """By hand: 5.19 x 28 = 145.32. Totals 145 and 146 give 145/28 = 5.17857 (-> 5.18) and
    146/28 = 5.21429 (-> 5.21): nothing rounds to 5.19; 5.18 is 145/28."""
    bad, good = check_mean(P("5.19"), 28), check_mean(P("5.18"), 28)
    assert bad.verdict == INCONSISTENT and "145/28 = 5.18" in bad.explanation and "146/28 = 5.21" in bad.explanation
    assert good.verdict == CONSISTENT and good.feasible == ("145/28",) and good.rounding == "half-up"


def test_grim_multi_item_scale_counts_totals_in_steps_of_one_over_items():
    """n = 2 people x 2 items: totals in quarters. 2.25 = 9/4; 2.30 lies between 9/4 = 2.25 and 10/4 = 2.50."""
    assert check_mean(P("2.25"), 2, items=2).verdict == CONSISTENT
    assert check_mean(P("2.30"), 2, items=2).verdict == INCONSISTENT


def test_grim_cannot_test_a_mean_when_n_reaches_ten_to_the_decimals():
    """With n = 150 and 2 decimals, totals step by 1/150 < 0.01: every mean is possible."""
    assert check_mean(P("5.19"), 150).verdict == NOT_CHECKABLE


def test_a_percentage_of_n_must_be_some_k_over_n_and_says_whether_censoring_could_give_it():
    """62.5% of 8 = 5/8; 66.7% of 8 is none of 5/8 = 62.5% and 6/8 = 75.0%, but a Kaplan-Meier estimate reaches
    it (2/3); 41.3% of 6 no Kaplan-Meier estimate reaches (see the km tests)."""
    assert check_percentage(P("62.5%"), 8).feasible == ("5/8",)
    bad = check_percentage(P("66.7%"), 8)
    assert bad.verdict == INCONSISTENT
    assert "5/8 = 62.5%, 6/8 = 75.0%" in bad.explanation
    assert "a Kaplan-Meier estimate can give it only with censoring: 2/3 = 66.67%: 2 censored" in bad.explanation
    assert "no Kaplan-Meier estimate of a group of 6 gives it either" in check_percentage(P("41.3%"), 6).explanation


def test_a_tie_is_accepted_under_half_even_and_the_verdict_names_the_rule():
    """1/8 = 12.5%: half-up gives 13%, half-even 12% (2 is even); 3/8 = 37.5% gives 38% under both."""
    assert check_percentage(P("13%"), 8).rounding == "half-up"
    twelve = check_percentage(P("12%"), 8)
    assert twelve.verdict == CONSISTENT and twelve.rounding == "half-even" and "half-even" in twelve.explanation
    assert check_percentage(P("37%"), 8).verdict == INCONSISTENT


# --------------------------------------------------------------------------- GRIMMER
def test_grimmer_sd_of_one_to_five_is_possible():
    """1, 2, 3, 4, 5: total 15, sum of squares 55, SD = sqrt((55 - 45) / 4) = 1.5811 -> 1.58."""
    ok = check_sd(P("3.00"), P("1.58"), 5)
    assert ok.verdict == CONSISTENT and ok.feasible == ("T=15, Q=55",)


def test_grimmer_sd_needing_a_sum_of_squares_of_the_wrong_parity_is_impossible():
    """Mean 3.00 of 5: T = 15 (odd). SD 1.50 needs Q in [4 x 1.495^2 + 45, 4 x 1.505^2 + 45] = [53.94, 54.06],
    so Q = 54: even, but a sum of squares has the parity of the sum (x^2 = x mod 2). SD 1.55 needs Q in
    [54.55, 54.67]: no integer at all."""
    assert check_sd(P("3.00"), P("1.50"), 5).verdict == INCONSISTENT
    assert check_sd(P("3.00"), P("1.55"), 5).verdict == INCONSISTENT


def test_grimmer_sd_below_the_least_spread_of_integers_is_impossible():
    """Mean 1.50 of 10: T = 15. SD 0.24 needs Q in [9 x 0.235^2 + 22.5, 9 x 0.245^2 + 22.5] = [23.00, 23.04]:
    Q = 23 is odd like T, but ten integers summing to 15 have at least Q = 5 x 1 + 5 x 4 = 25 (five 1s and
    five 2s, SD 0.527)."""
    assert check_sd(P("1.50"), P("0.24"), 10).verdict == INCONSISTENT
    assert check_sd(P("1.50"), P("0.53"), 10).verdict == CONSISTENT


def test_grimmer_fails_a_mean_that_fails_grim():
    assert check_sd(P("5.19"), P("1.00"), 28).verdict == INCONSISTENT


# --------------------------------------------------------------------------- Kaplan-Meier feasibility
def test_km_66_7_percent_of_8_needs_two_censorings_before_two_deaths():
    """No k/8 is 66.7%; with one censoring the reachable values near it are 6/7 x ... = 0.571, 0.714, 0.729
    (checked by the enumeration below); 2 censored, then 2 deaths among the 6 left, gives 4/6 = 2/3, as R's
    survfit does for that pattern."""
    v = check_km(P("66.7%"), 8)
    assert v.verdict == CONSISTENT
    assert "needs 2 censorings" in v.explanation and "2 censored, then 2 deaths among the 6 at risk" in v.explanation
    assert v.number("deaths") == 2 and v.number("censorings") == 2
    same([v.number("survival")], [R["km"]["two_censored_then_two_deaths_of_8"]])


def test_km_k_over_n_needs_no_censoring():
    five = check_km(P("62.5%"), 8)
    assert five.verdict == CONSISTENT and "no censoring" in five.explanation and five.number("deaths") == 3
    same([five.number("survival")], [R["km"]["three_deaths_of_8"]])
    seven = check_km(P("87.5%"), 8)
    assert seven.number("deaths") == 1
    same([seven.number("survival")], [R["km"]["one_death_of_8"]])


def test_km_41_3_percent_of_6_is_unreachable():
    """Every pattern of deaths and censorings among 6 gives one of ... 3/8 = 37.5%, 2/5 = 40.0% (1 censored,
    then 3 deaths of 5), 5/12 = 41.67% (1 death of 6, 1 censored, then 2 deaths of 4), 4/9 = 44.4% ...:
    nothing in [41.25%, 41.35%)."""
    v = check_km(P("41.3%"), 6)
    assert v.verdict == INCONSISTENT and "unreachable" in v.explanation


def test_km_with_the_reported_number_of_deaths():
    """66.7% of 8 with 1 death: 5 censored, then 1 death among the 3 left (2/3). 87.5% of 8 with 2 deaths: two
    factors (1 - 1/r) multiply to at most 7/8 x 6/7 = 75%. No death means 100%."""
    one = check_km(P("66.7%"), 8, events=1)
    assert one.verdict == CONSISTENT and "5 censored, then 1 death among the 3 at risk" in one.explanation
    same([one.number("survival")], [R["km"]["five_censored_then_one_death_of_8"]])
    assert check_km(P("87.5%"), 8, events=2).verdict == INCONSISTENT
    assert check_km(P("66.7%"), 8, events=0).verdict == INCONSISTENT
    assert check_km(P("100%"), 8, events=0).verdict == CONSISTENT
    assert check_km(P("50%"), 8, events=9).verdict == INCONSISTENT


def test_km_finds_a_one_censoring_pattern_in_a_group_of_50():
    v = check_km(P("12.3%"), 50)
    assert v.verdict == CONSISTENT and v.number("censorings") == 1
    assert "14 deaths among the 50 at risk, then 1 censored, then 29 deaths among the 35 at risk" in v.explanation
    same([v.number("survival")], [R["km"]["fourteen_deaths_one_censored_twentynine_deaths_of_50"]])


def test_km_search_that_runs_out_of_budget_is_not_checkable():
    assert check_km(P("3.1%"), 50, budget=10).verdict == NOT_CHECKABLE
    assert check_km(P("3.1%"), 50).verdict == CONSISTENT


def _all_km_values(n: int) -> dict[Fraction, set[int]]:
    """Every S reachable among n, by walking every sequence of deaths and censorings (independent of the
    dynamic programme), with the numbers of deaths that give it."""
    out: dict[Fraction, set[int]] = {}

    def walk(at_risk: int, s: Fraction, deaths: int) -> None:
        out.setdefault(s, set()).add(deaths)
        if at_risk:
            walk(at_risk - 1, s, deaths)
            walk(at_risk - 1, s * Fraction(at_risk - 1, at_risk), deaths + 1)

    walk(n, Fraction(1), 0)
    return out


@pytest.mark.parametrize("n", [1, 3, 5, 7])
def test_km_verdicts_agree_with_every_pattern_enumerated(n):
    values = _all_km_values(n)
    for tenths in range(0, 1001, 7):  # 0.0%, 0.7%, ... 99.4%
        target = P(f"{tenths / 10:.1f}%")
        prop = target.proportion
        rounds = [s for s in values if abs(s - prop.exact) <= prop.half]
        expected = CONSISTENT if any(abs(s - prop.exact) < prop.half or s - prop.exact == -prop.half
                                     for s in rounds) else INCONSISTENT
        assert check_km(target, n).verdict == expected, (n, target)


@pytest.mark.parametrize("n", [4, 6, 7])
def test_km_verdicts_with_a_number_of_deaths_agree_with_every_pattern_enumerated(n):
    values = _all_km_values(n)
    for deaths in range(0, n + 1):
        for tenths in range(0, 1001, 9):
            target = P(f"{tenths / 10:.1f}%")
            prop = target.proportion
            fits = [s for s, ds in values.items() if deaths in ds
                    and (abs(s - prop.exact) < prop.half or s - prop.exact == -prop.half)]
            expected = CONSISTENT if fits else INCONSISTENT
            assert check_km(target, n, events=deaths).verdict == expected, (n, deaths, target)


# --------------------------------------------------------------------------- statcheck
@pytest.mark.parametrize("case", R["statcheck"], ids=lambda c: f"{c['test']}={c['stat']},p={c['p']}")
def test_statcheck_p_interval_matches_r(case):
    v = check_p_value(case["test"], P(case["p"]), P(case["stat"]), case["df1"], case["df2"])
    same([v.number("p"), v.number("p_low"), v.number("p_up")], [case["p_at"], case["p_low"], case["p_up"]])


@pytest.mark.parametrize("case", [c for c in R["statcheck"] if c["p"] != ".036"],
                         ids=lambda c: f"{c['test']}={c['stat']},p={c['p']}")
def test_statchecks_own_decision_error_examples_are_decision_errors(case):
    """statcheck's tests/testthat/test-decisionerror.R: each of these is a decision error."""
    v = check_p_value(case["test"], P(case["p"]), P(case["stat"]), case["df1"], case["df2"])
    assert v.verdict == INCONSISTENT and v.decision_error and "decision error" in v.explanation


def test_statcheck_t28_2_20():
    """t(28) = 2.20: p = 0.0362 (0.0358 to 0.0366 for t in [2.195, 2.205]), which rounds to .036 or .037."""
    assert check_p_value("t", P(".036"), P("2.20"), 28).verdict == CONSISTENT
    assert check_p_value("t", P(".037"), P("2.20"), 28).verdict == CONSISTENT
    wrong = check_p_value("t", P(".01"), P("2.20"), 28)  # wrong, but significant either way
    assert wrong.verdict == INCONSISTENT and not wrong.decision_error
    assert check_p_value("t", P("p < .05"), P("2.20"), 28).verdict == CONSISTENT
    assert check_p_value("t", P("p < .01"), P("2.20"), 28).verdict == INCONSISTENT
    above = check_p_value("t", P("p > .05"), P("2.20"), 28)
    assert above.verdict == INCONSISTENT and above.decision_error
    assert check_p_value("t", P(".018"), P("2.20"), 28, tails=1).verdict == CONSISTENT
    assert check_p_value("t", P(".018"), P("2.20"), 28).verdict == INCONSISTENT


def test_statcheck_without_a_statistic_gives_the_one_the_p_implies():
    v = check_p_value("chi2", P("0.3328"), None, 2)
    assert v.verdict == NOT_CHECKABLE and "chi2(2) = 2.2004" in v.explanation
    same([v.number("statistic")], [R["implied_chi2"]["chi2"]])


# --------------------------------------------------------------------------- estimate and CI
def test_hr_ci_gives_se_z_p_as_altman_and_bland():
    for ref in R["ci"]:
        args = (P(str(ref["est"])), P(str(ref["low"])), P(str(ref["high"])))
        v = (check_ratio_ci if ref["kind"] == "ratio" else check_difference_ci)(*args, p=P("0.5"))
        same([v.number("se"), v.number("z"), v.number("p")], [ref["se"], ref["z"], ref["p"]])


def test_hr_0_62_ci_0_41_to_0_93():
    """SE = (log 0.93 - log 0.41) / (2 x 1.96) = 0.2089, z = log(0.62) / 0.2089 = -2.288, p = 0.022; over the
    rounding intervals of the three numbers p runs from 0.017 to 0.028, so 0.021 fits and 0.21 does not."""
    ok = check_ratio_ci(P("0.62"), P("0.41"), P("0.93"), P("0.021"))
    assert ok.verdict == CONSISTENT
    bad = check_ratio_ci(P("0.62"), P("0.41"), P("0.93"), P("0.21"))
    assert bad.verdict == INCONSISTENT and bad.decision_error
    assert check_ratio_ci(P("0.62"), P("0.41"), P("0.93"), P("p < 0.05")).verdict == CONSISTENT


def test_hr_outside_or_off_centre_of_its_ci_is_inconsistent():
    outside = check_ratio_ci(P("0.95"), P("0.41"), P("0.93"))
    assert outside.verdict == INCONSISTENT and "outside" in outside.explanation
    off = check_ratio_ci(P("0.62"), P("0.30"), P("0.93"))  # centre sqrt(0.30 x 0.93) = 0.528
    assert off.verdict == INCONSISTENT and "not centred" in off.explanation
    assert check_ratio_ci(P("0.62"), P("0.41"), P("0.93")).verdict == CONSISTENT


def test_difference_ci_implies_its_p():
    """2.3 (0.4 to 4.2): SE = 3.8 / 3.92 = 0.969, z = 2.37, p = 0.018."""
    assert check_difference_ci(P("2.3"), P("0.4"), P("4.2"), P("0.018")).verdict == CONSISTENT
    assert check_difference_ci(P("2.3"), P("0.4"), P("4.2"), P("0.18")).verdict == INCONSISTENT


def test_km_outside_the_range_a_group_can_give_is_unreachable_at_once():
    """Among 50 the smallest non-zero estimate is 1/50 (49 deaths, no censoring): 0.1% is impossible."""
    v = check_km(P("0.1%"), 50)
    assert v.verdict == INCONSISTENT and "0.0% or 2.0% to 100.0%" in v.explanation


def test_a_proportion_is_checked_at_its_own_decimals():
    """0.5 of 8 means [0.45, 0.55): 4/8. 0.625 of 8 is 5/8; 0.667 of 8 needs censoring like 66.7%."""
    assert check_percentage(P("0.5"), 8).feasible == ("4/8",)
    assert check_percentage(P("0.625"), 8).feasible == ("5/8",)
    assert check_km(P("0.667"), 8).number("censorings") == 2


def test_a_negative_chi_square_or_f_is_inconsistent():
    assert check_p_value("chi2", P(".5"), P("-1.2"), 2).verdict == INCONSISTENT


def test_statchecks_readme_example_is_consistent():
    """statcheck's README and CRAN description: "t(28) = 2.2, p < .05". With one decimal t lies in [2.15, 2.25],
    so p runs from 0.0325 to 0.0403 (R: 2 * pt(2.25, 28, lower.tail = FALSE), 2 * pt(2.15, 28, ...)): below .05
    throughout."""
    v = check_p_value("t", P("p < .05"), P("2.2"), 28)
    assert v.verdict == CONSISTENT
    assert round(v.number("p_low"), 4) == 0.0325 and round(v.number("p_up"), 4) == 0.0403
