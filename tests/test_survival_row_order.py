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


def _frames(ids_tte, ids_sl):
    import polars as pl

    n = len(ids_tte)
    tte = pl.DataFrame({"USUBJID": ids_tte, "PARAMCD": ["OS"] * n, "AVAL": [float(10 + i % 4) for i in range(n)],
                        "CNSR": [i % 2 for i in range(n)]})
    sl = pl.DataFrame({"USUBJID": ids_sl, "TRT01A": ["A" if i % 3 else "B" for i in range(len(ids_sl))],
                       "AGE": [float(50 + i) for i in range(len(ids_sl))]})
    return tte, sl


@pytest.mark.parametrize("case", ["same order", "shuffled", "missing subject", "duplicate in ADSL", "duplicate in both"])
def test_pairing_sorted_subjects_by_position_is_the_join(case):
    """derive_survival_data pairs ADTTE and ADSL rows by position when both list the same subjects once, in the
    same order (sorted ADaM): the same frame as the hash join, which every other case still takes."""
    import polars as pl

    from trialkit.analyses.survival import km

    ids = [f"S-{i:03d}" for i in range(40)]
    if case == "duplicate in both":  # the same sequences, but a join pairs the repeated subject's rows 2 x 2
        ids = ids[:-1] + [ids[-2]]
    sl_ids = {"duplicate in both": ids, "same order": ids, "shuffled": ids[::-1], "missing subject": ids[:-1] + ["S-999"],
              "duplicate in ADSL": ids[:-1] + [ids[-2]]}[case]
    tte, sl = _frames(ids, sl_ids)
    got = km.derive_survival_data(tte, sl, "OS", ["A", "B"], adsl_columns=["AGE"])
    rows = tte.select("USUBJID", "AVAL", "CNSR").with_row_index("_row")
    joined = rows.join(sl.select("USUBJID", "TRT01A", "AGE"), on="USUBJID", how="inner")
    position = joined["TRT01A"].replace_strict({"A": 0, "B": 1}, return_dtype=pl.UInt32).to_numpy()
    want = joined[np.lexsort((joined["_row"].to_numpy(), joined["AVAL"].to_numpy(), position))]
    assert got.equals(want.select("USUBJID", "TRT01A", "AVAL", "CNSR", "AGE"))


def test_the_cox_engines_radix_key_sorts_as_the_values_do():
    """coxfit sorts whole-day times and stratum codes as int16 (numpy's radix sort); any other values as they are.
    Either way the stable order is that of the values themselves."""
    from trialkit.analyses.survival.coxfit import _radix_key

    rng = np.random.default_rng(3)
    days = rng.integers(0, 3000, 5000).astype(float)
    cases = {"days": (days, True), "minus days": (-days, True), "halves": (days + 0.5, False),
             "beyond int16": (days + 40000, False), "codes": (rng.integers(0, 6, 5000), True)}
    for name, (values, radix) in cases.items():
        key = _radix_key(values)
        assert (key.dtype == np.int16) == radix, name
        assert (np.argsort(key, kind="stable") == np.argsort(values, kind="stable")).all(), name
