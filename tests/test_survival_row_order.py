"""The survival frame's row order: by arm (in the order asked), time, then ADTTE's row order -- whatever order
the join returned the rows in, and whether or not a row joined twice."""

import numpy as np
import pytest

from trialkit.analyses.survival.km import _arm_time_row_order


@pytest.mark.parametrize("n", [1, 7, 5000])
def test_the_linear_order_is_lexsort_by_arm_time_and_row(n):
    rng = np.random.default_rng(n)
    row = rng.permutation(n + n // 2)[:n]              # distinct row numbers, with gaps (rows filtered out)
    time = np.round(rng.exponential(30, n))            # many ties
    arm = rng.integers(0, 3, n).astype(np.uint32)
    assert (_arm_time_row_order(arm, time, row) == np.lexsort((row, time, arm))).all()


def test_a_row_joined_twice_falls_back_to_lexsort():
    row = np.array([4, 2, 4, 0])
    time = np.array([5.0, 5.0, 5.0, 1.0])
    arm = np.array([1, 1, 1, 0], dtype=np.uint32)
    assert _arm_time_row_order(arm, time, row).tolist() == np.lexsort((row, time, arm)).tolist() == [3, 1, 0, 2]


def test_no_rows_give_an_empty_order():
    empty = np.array([], dtype=np.int64)
    assert _arm_time_row_order(empty.astype(np.uint32), empty.astype(float), empty).size == 0


def test_whole_day_times_and_fractional_times_give_the_lexsort_order():
    rng = np.random.default_rng(7)
    n = 3000
    row = rng.permutation(n)
    arm = rng.integers(0, 4, n).astype(np.uint32)
    for time in (rng.integers(0, 2000, n).astype(float), rng.integers(0, 2000, n) + 0.5,
                 rng.integers(30000, 40000, n).astype(float)):  # radix-sortable days, halves, beyond int16
        assert (_arm_time_row_order(arm, time, row) == np.lexsort((row, time, arm))).all()
