"""The monotone trend over visits (analyses/trend.py): Spearman's rho and its one-sided p, against R.

Reference values: tests/reference/make_power_reference.R, ``spearman``:
``cor.test(seq_along(y), y, method = "spearman", alternative = ..., exact = n <= 9)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from trialkit.analyses.trend import monotone_trend, spearman_trend
from trialkit.schemas.errors import DataError

REF = json.loads((Path(__file__).parent / "reference" / "power_r.json").read_text())


@pytest.mark.parametrize("case", REF["spearman"], ids=lambda c: f"n{len(c['y'])}-{c['alternative']}")
def test_spearman_rho_and_one_sided_p_are_r_cor_test(case):
    y = np.array(case["y"], dtype=float)
    direction = "decreasing" if case["alternative"] == "less" else "increasing"
    t = spearman_trend(np.arange(1, len(y) + 1), y, direction)
    assert t.exact == case["exact"]
    assert t.rho == pytest.approx(case["rho"], rel=1e-6)
    assert t.p == pytest.approx(case["p"], rel=1e-6)


def test_a_strictly_falling_series_of_seven_visits_has_p_one_over_5040():
    t = spearman_trend(np.array([8, 15, 22, 29, 57, 85, 169]), np.array([-1.0, -2, -3, -4, -5, -6, -7]))
    assert (t.rho, t.p, t.reversals) == (pytest.approx(-1.0), pytest.approx(1 / 5040), 0)


def test_the_trend_ignores_how_far_apart_the_visits_are():
    y = np.array([-7.0, -11, -22, -25, -30, -28, -35])
    assert spearman_trend(np.array([8, 15, 22, 29, 57, 85, 169]), y) == spearman_trend(np.arange(7), y)


def test_steps_against_the_trend_are_counted():
    t = spearman_trend(np.arange(7), np.array([-7.0, -11, -22, -25, -30, -28, -35]))
    assert t.reversals == 1  # -30 -> -28


def test_rows_are_put_in_visit_order_and_rows_without_a_value_left_out():
    rows = pl.DataFrame({"visitn": [29.0, 8.0, 15.0, 22.0, 57.0], "mean_change": [-4.0, -1.0, -2.0, -3.0, None]})
    t = monotone_trend(rows, "visitn", "mean_change", "decreasing")
    assert (t.n, t.rho, t.p) == (4, pytest.approx(-1.0), pytest.approx(1 / 24))


def test_a_repeated_visit_is_a_data_error_naming_the_column():
    rows = pl.DataFrame({"visitn": [8.0, 8.0, 15.0], "mean_change": [-1.0, -2.0, -3.0]})
    with pytest.raises(DataError, match="repeat a value of visitn"):
        monotone_trend(rows, "visitn", "mean_change")


def test_fewer_than_three_visits_is_a_data_error():
    with pytest.raises(DataError, match="at least 3 visits"):
        spearman_trend(np.array([1, 2]), np.array([2.0, 1.0]))
