"""The power of the comparison made (analyses/power.py), against R.

Reference values: tests/reference/make_power_reference.R (the R calls are listed in its header),
written to tests/reference/power_r.json and power_splitplot.csv.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from trialkit.analyses.power import (
    interaction_excluded_p,
    interaction_power_formula,
    interaction_power_simulated,
    logrank_chisq_batch,
    logrank_power_formula,
    logrank_power_simulated,
    schoenfeld_events,
    splitplot_interaction_f,
)
from trialkit.analyses.survival.compare import logrank_test

REF = json.loads((Path(__file__).parent / "reference" / "power_r.json").read_text())
SPLITPLOT = Path(__file__).parent / "reference" / "power_splitplot.csv"


@pytest.mark.parametrize("case", REF["schoenfeld"], ids=lambda c: f"D{c['events']}-hr{c['hr']}-a{c['alpha']}-p{c['p']:.2f}")
def test_two_group_power_is_schoenfelds_formula_as_r_computes_it(case):
    # pnorm(sqrt(D p (1 - p)) |log hr| - qnorm(1 - alpha / 2))
    ours = logrank_power_formula(case["events"], case["hr"], case["alpha"], (case["p"], 1 - case["p"]))
    assert ours == pytest.approx(case["power"], rel=1e-6)


@pytest.mark.parametrize("case", REF["events_needed"], ids=lambda c: f"hr{c['hr']}-pw{c['power']}-p{c['p']:.2f}")
def test_events_needed_invert_the_two_group_formula(case):
    assert schoenfeld_events(case["hr"], case["power"], case["alpha"], case["p"]) == pytest.approx(case["events"], rel=1e-6)


def test_hr_half_at_80_percent_power_needs_the_textbook_66_events():
    # Schoenfeld's formula, 1:1, two-sided 0.05: 4 (1.959964 + 0.841621)^2 / log(2)^2 = 65.35, rounded up 66
    assert math.ceil(schoenfeld_events(0.5, 0.8)) == 66
    assert logrank_power_formula(65.35, 0.5) == pytest.approx(0.8, abs=1e-4)


@pytest.mark.parametrize("case", REF["kgroup"], ids=lambda c: f"k{len(c['proportions'])}-D{c['events']}-hr{c['hr']}")
def test_k_group_power_is_the_noncentral_chi_square_with_k_minus_1_df(case):
    # pchisq(qchisq(0.95, k - 1), k - 1, ncp = D sum p (theta - theta_bar)^2, lower.tail = FALSE)
    ours = logrank_power_formula(case["events"], case["hr"], case["alpha"], tuple(case["proportions"]))
    assert ours == pytest.approx(case["power"], rel=1e-6)


def test_batched_log_rank_statistic_is_the_one_trialkit_runs():
    rng = np.random.Generator(np.random.PCG64(7))
    group = np.repeat([0, 1, 2], [9, 8, 7])
    t = rng.exponential(1.0, (6, group.size))
    c = rng.choice([0.4, 1.0, 3.0], (6, group.size))
    time, event = np.minimum(t, c), t <= c
    ours = logrank_chisq_batch(time, event, group, 3)
    for i in range(6):
        data = pl.DataFrame({"AVAL": time[i], "CNSR": (~event[i]).astype(np.int64),
                             "TRT01A": np.array(["a", "b", "c"])[group]})
        assert ours[i] == pytest.approx(logrank_test(data, ["a", "b", "c"]).chisq, rel=1e-9)


def test_batched_log_rank_drops_a_group_without_expected_events_as_survdiff():
    # group 2's only subject is censored before the first death: E = 0 for it, a 2-group test remains
    time = np.array([[1.0, 2.0, 3.0, 4.0, 0.5]])
    event = np.array([[True, False, True, True, False]])
    group = np.array([0, 0, 1, 1, 2])
    data = pl.DataFrame({"AVAL": time[0], "CNSR": (~event[0]).astype(np.int64), "TRT01A": ["a", "a", "b", "b", "c"]})
    ref = logrank_test(data, ["a", "b", "c"])
    assert ref.df == 1
    assert logrank_chisq_batch(time, event, group, 3)[0] == pytest.approx(ref.chisq, rel=1e-9)


def test_simulated_log_rank_power_agrees_with_survdiff_simulation_within_monte_carlo_error():
    sim = REF["simulation"]
    ours, se = logrank_power_simulated(np.array(sim["group"]), np.array(sim["time"], dtype=float),
                                       np.array(sim["event"], dtype=bool), sim["hr"], sim["alpha"], 2000, seed=3)
    r_se = math.sqrt(sim["power"] * (1 - sim["power"]) / sim["sims"])
    assert abs(ours - sim["power"]) < 4 * math.hypot(se, r_se)


def test_simulated_log_rank_power_agrees_with_schoenfelds_formula_within_monte_carlo_error():
    # 90 subjects, 27 events (the simulation's expected count): formula 0.395, simulation about 0.39 +- 0.011
    sim = REF["simulation"]
    group, event = np.array(sim["group"]), np.array(sim["event"], dtype=bool)
    ours, se = logrank_power_simulated(group, np.array(sim["time"], dtype=float), event, 0.4, 0.05, 2000, seed=5)
    formula = logrank_power_formula(int(event.sum()), 0.4, 0.05, (1 / 3, 1 / 3, 1 / 3))
    assert abs(ours - formula) < 4 * se


def test_simulated_power_under_no_effect_is_the_significance_level():
    sim = REF["simulation"]
    ours, se = logrank_power_simulated(np.array(sim["group"]), np.array(sim["time"], dtype=float),
                                       np.array(sim["event"], dtype=bool), 1.0, 0.05, 4000, seed=2)
    assert abs(ours - 0.05) < 4 * se


def test_the_same_seed_gives_the_same_simulated_power_and_another_seed_another():
    sim = REF["simulation"]
    args = (np.array(sim["group"]), np.array(sim["time"], dtype=float), np.array(sim["event"], dtype=bool), 0.5)
    assert logrank_power_simulated(*args, sims=300, seed=11) == logrank_power_simulated(*args, sims=300, seed=11)
    assert logrank_power_simulated(*args, sims=300, seed=11) != logrank_power_simulated(*args, sims=300, seed=12)


@pytest.mark.parametrize("case", REF["interaction"], ids=lambda c: f"n{c['n']}-m{c['visits']}-effect{c['effect']}")
def test_interaction_power_and_exclusion_are_the_noncentral_f_as_r_computes_them(case):
    # pf(qf(0.95, df1, df2), df1, df2, ncp, lower.tail = FALSE) and pf(f_obs, df1, df2, ncp)
    n, m, sigma = tuple(case["n"]), case["visits"], case["sigma"]
    assert interaction_power_formula(case["effect"], n, m, sigma, case["alpha"]) == pytest.approx(case["power"], rel=1e-6)
    k = len(n)
    df1, df2 = (k - 1) * (m - 1), (sum(n) - k) * (m - 1)
    assert interaction_excluded_p(case["f_obs"], df1, df2, case["effect"], n, m, sigma) == pytest.approx(
        case["excluded"], rel=1e-6)


def test_split_plot_interaction_f_is_nlme_and_aov_on_complete_data():
    d = pl.read_csv(SPLITPLOT).sort("subject", "visit")
    y = d["y"].to_numpy().reshape(-1, 5)
    group = d.filter(pl.col("visit") == 1)["group"].to_numpy()
    f = splitplot_interaction_f(y, group, 3)[0]
    assert f == pytest.approx(REF["splitplot"]["aov_f"], rel=1e-6)
    assert f == pytest.approx(REF["splitplot"]["lme_f"], rel=1e-6)


def test_simulated_interaction_power_agrees_with_r_simulation_and_the_formula():
    ref = REF["power_sim"]
    n = tuple(ref["n"])
    ours, se = interaction_power_simulated(ref["effect"], n, ref["visits"], ref["sigma"], ref["tau"], 0.05, 2000, seed=4)
    r_se = math.sqrt(ref["power"] * (1 - ref["power"]) / ref["sims"])
    assert abs(ours - ref["power"]) < 4 * math.hypot(se, r_se)
    formula = interaction_power_formula(ref["effect"], n, ref["visits"], ref["sigma"])
    assert abs(ours - formula) < 4 * se  # the formula is exact for this model: only Monte-Carlo error


def test_interaction_power_under_no_interaction_is_the_significance_level():
    ours, se = interaction_power_simulated(0.0, (8, 8, 8), 7, 2.0, 3.0, 0.05, 4000, seed=1)
    assert abs(ours - 0.05) < 4 * se
    assert interaction_power_formula(0.0, (8, 8, 8), 7, 2.0) == pytest.approx(0.05, rel=1e-9)
