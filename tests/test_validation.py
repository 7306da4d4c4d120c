"""Every schema rule, broken on purpose: the violation names dataset, rule, column and rows.

Each case takes the built-in trial's ingested data, breaks exactly one rule
in a known row, and checks that check_dataset reports it and quarantines
that row only. ``test_every_declared_rule_has_a_breaking_case`` fails when
a rule is declared without a case here.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from trialkit.analyses.validation import check_dataset
from trialkit.schemas.adam import SCHEMAS


def _set(column, row, value):
    def mutate(df: pl.DataFrame) -> pl.DataFrame:
        values = df[column].to_list()
        values[row] = value
        return df.with_columns(pl.Series(column, values, dtype=df.schema[column]))

    return mutate


def _set_date(column, row, value):
    """Set one date, adding the (optional) column when the built-in trial lacks it."""
    def mutate(df: pl.DataFrame) -> pl.DataFrame:
        if column not in df.columns:
            df = df.with_columns(pl.lit(None, pl.Date).alias(column))
        return _set(column, row, value)(df)

    return mutate


def _duplicate_row(row):
    return lambda df: pl.concat([df, df[row]])


def _second_baseline(df: pl.DataFrame) -> pl.DataFrame:
    # row 1 is the day-8 albumin record of the subject whose baseline is row 0
    return _set("ABLFL", 1, "Y")(df)


def _orphan(df: pl.DataFrame) -> pl.DataFrame:
    return _set("USUBJID", 0, "NOT-IN-ADSL")(df)


# (dataset, rule id, column, mutation, rows expected to break (0-based), extra)
CASES = [
    ("adsl", "one_row_per_subject", "USUBJID", _duplicate_row(3), [3, 24]),
    ("adsl", "one_treatment_code", "TRT01AN", _set("TRT01AN", 0, 7.0), None),
    ("adsl", "USUBJID_nullability", "USUBJID", _set("USUBJID", 2, None), [2]),
    ("adsl", "TRT01A_nullability", "TRT01A", _set("TRT01A", 2, None), [2]),
    ("adsl", "SAFFL_check", "SAFFL", _set("SAFFL", 5, "YES"), [5]),
    ("adsl", "ITTFL_check", "ITTFL", _set("ITTFL", 5, "y"), [5]),
    ("adsl", "AGE_min", "AGE", _set("AGE", 4, -1.0), [4]),
    ("adsl", "AGE_max", "AGE", _set("AGE", 4, 130.0), [4]),
    ("adsl", "SEX_check", "SEX", _set("SEX", 6, "Male"), [6]),
    ("adsl", "DTHFL_check", "DTHFL", _set("DTHFL", 6, "1"), [6]),
    ("adlb", "no_duplicate_visit", "AVISITN", _duplicate_row(10), None),
    ("adlb", "one_baseline", "ABLFL", _second_baseline, [0, 1]),
    ("adlb", "aval_plausible", "AVAL", _set("AVAL", 0, 3.0), [0]),  # albumin 3 g/L: a g/dL value
    ("adlb", "usubjid_in_adsl", "USUBJID", _orphan, [0]),
    ("adlb", "USUBJID_nullability", "USUBJID", _set("USUBJID", 7, None), [7]),
    ("adlb", "PARAMCD_nullability", "PARAMCD", _set("PARAMCD", 7, None), [7]),
    ("adlb", "ABLFL_check", "ABLFL", _set("ABLFL", 1, "N"), [1]),
    ("adae", "usubjid_in_adsl", "USUBJID", _orphan, [0]),
    ("adae", "USUBJID_nullability", "USUBJID", _set("USUBJID", 1, None), [1]),
    ("adae", "AEDECOD_nullability", "AEDECOD", _set("AEDECOD", 1, None), [1]),
    ("adae", "AEBODSYS_nullability", "AEBODSYS", _set("AEBODSYS", 1, None), [1]),
    ("adae", "AESEV_check", "AESEV", _set("AESEV", 2, "Mild"), [2]),
    ("adae", "AESER_check", "AESER", _set("AESER", 2, "NO"), [2]),
    ("adae", "AESDTH_check", "AESDTH", _set("AESDTH", 2, "X"), [2]),
    ("adae", "TRTEMFL_check", "TRTEMFL", _set("TRTEMFL", 2, "YES"), [2]),
    ("adtte", "one_row_per_subject_parameter", "PARAMCD", _duplicate_row(0), [0, 24]),
    ("adtte", "usubjid_in_adsl", "USUBJID", _orphan, [0]),
    ("adtte", "USUBJID_nullability", "USUBJID", _set("USUBJID", 1, None), [1]),
    ("adtte", "PARAMCD_nullability", "PARAMCD", _set("PARAMCD", 1, None), [1]),
    ("adtte", "AVAL_nullability", "AVAL", _set("AVAL", 1, None), [1]),
    ("adtte", "AVAL_min", "AVAL", _set("AVAL", 1, -3.0), [1]),
    ("adtte", "CNSR_nullability", "CNSR", _set("CNSR", 1, None), [1]),
    ("adtte", "CNSR_check", "CNSR", _set("CNSR", 1, 2), [1]),
    ("adex", "one_dose_per_day", "ASTDY", _set("ASTDY", 1, 1.0), [0, 1]),
    ("adex", "one_treatment_per_subject", "EXTRT", _set("EXTRT", 1, "placebo"), [0, 1, 2]),
    ("adex", "usubjid_in_adsl", "USUBJID", _orphan, [0]),
    ("adex", "USUBJID_nullability", "USUBJID", _set("USUBJID", 1, None), [1]),
    ("adex", "EXDOSE_min", "EXDOSE", _set("EXDOSE", 1, -1.0), [1]),
    # dates outside 1900-01-01..2200-12-31, study days and times beyond 100 years (or not finite)
    ("adsl", "TRTSDT_date_range", "TRTSDT", _set_date("TRTSDT", 3, date(1899, 12, 31)), [3]),
    ("adsl", "TRTEDT_date_range", "TRTEDT", _set_date("TRTEDT", 3, date(2201, 1, 1)), [3]),
    ("adsl", "DTHDT_date_range", "DTHDT", _set_date("DTHDT", 3, date(9999, 12, 31)), [3]),
    ("adlb", "ADT_date_range", "ADT", _set_date("ADT", 2, date(1066, 10, 14)), [2]),
    ("adlb", "ADY_day_range", "ADY", _set("ADY", 2, 1e15), [2]),
    ("adae", "ASTDT_date_range", "ASTDT", _set_date("ASTDT", 2, date(2999, 1, 1)), [2]),
    ("adae", "ASTDY_day_range", "ASTDY", _set("ASTDY", 2, -36526.0), [2]),
    ("adae", "AENDY_day_range", "AENDY", _set("AENDY", 2, float("inf")), [2]),
    ("adtte", "STARTDT_date_range", "STARTDT", _set_date("STARTDT", 2, date(1850, 1, 1)), [2]),
    ("adtte", "ADT_date_range", "ADT", _set_date("ADT", 2, date(2500, 1, 1)), [2]),
    ("adtte", "aval_time_plausible", "AVAL", _set("AVAL", 2, 1e300), [2]),
    ("adex", "ASTDT_date_range", "ASTDT", _set_date("ASTDT", 1, date(1800, 1, 1)), [1]),
    ("adex", "ASTDY_day_range", "ASTDY", _set("ASTDY", 1, 40000.0), [1]),
]


@pytest.fixture(scope="module")
def seed_frames(seed_workspace):
    return {name: pl.read_parquet(seed_workspace / f"{name}.parquet") for name in SCHEMAS}


def _declared_rule_ids(name: str) -> set[str]:
    schema = SCHEMAS[name]
    ids = {r.name for r in schema.rules}
    for v in schema.variables:
        if not v.nullable:
            ids.add(f"{v.name}_nullability")
        if v.allowed is not None:
            ids.add(f"{v.name}_check")
        if v.min is not None:
            ids.add(f"{v.name}_min")
        if v.max is not None:
            ids.add(f"{v.name}_max")
    return ids


def test_every_declared_rule_has_a_breaking_case():
    covered = {(d, r) for d, r, *_ in CASES}
    missing = {(d, r) for d in SCHEMAS for r in _declared_rule_ids(d)} - covered
    assert not missing, f"rules without a test that breaks them: {sorted(missing)}"


@pytest.mark.parametrize(("dataset", "rule", "column", "mutate", "rows"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_broken_rule_is_reported_with_dataset_column_and_rows(seed_frames, dataset, rule, column, mutate, rows):
    df = mutate(seed_frames[dataset])
    adsl_ids = seed_frames["adsl"]["USUBJID"] if dataset != "adsl" else None
    check = check_dataset(df, SCHEMAS[dataset], adsl_ids)
    hits = [v for v in check.violations if v.rule == rule]
    assert len(hits) == 1, [v.rule for v in check.violations]
    v = hits[0]
    assert v.column == column
    if rows is not None:
        assert list(v.rows) == rows
    message = v.message(f"{dataset}.parquet")
    assert f"{dataset}.parquet ({dataset.upper()})" in message
    assert f"column {column}" in message
    assert f"rows {v.rows[0] + 1}" in message
    # nothing is lost: the broken rows are quarantined with the rule, the rest kept
    assert check.valid.height + check.quarantine.height == df.height
    assert check.quarantine.height == len(set().union(*(set(x.rows) for x in check.violations)))
    assert check.quarantine["_RULES"].str.contains(rule).sum() == v.n_rows


def test_missing_required_variable_is_a_dataset_level_violation(seed_frames):
    check = check_dataset(seed_frames["adtte"].drop("CNSR"), SCHEMAS["adtte"])
    (v,) = check.violations
    assert (v.level, v.rule, v.column) == ("dataset", "required_variable", "CNSR")
    assert "required variable CNSR is missing" in v.message("adtte.parquet")
    assert check.quarantine.height == 0, "no row can be judged, so none is quarantined"


def test_variable_of_the_wrong_type_is_a_dataset_level_violation(seed_frames):
    df = seed_frames["adsl"].with_columns(pl.col("AGE").cast(pl.String))
    (v,) = check_dataset(df, SCHEMAS["adsl"]).violations
    assert (v.level, v.rule, v.column) == ("dataset", "variable_type", "AGE")
    assert "expected Float64" in v.description


def test_rules_whose_variables_are_absent_are_skipped_and_said(seed_frames):
    check = check_dataset(seed_frames["adlb"].drop("ABLFL"), SCHEMAS["adlb"], seed_frames["adsl"]["USUBJID"])
    assert check.clean
    assert "one_baseline" in check.skipped_rules


def test_a_time_beyond_100_years_names_the_value_and_the_time_unit(seed_frames):
    df = _set("AVAL", 2, 1e300)(seed_frames["adtte"])
    check = check_dataset(df, SCHEMAS["adtte"], seed_frames["adsl"]["USUBJID"])
    (v,) = [v for v in check.violations if v.rule == "aval_time_plausible"]
    message = v.message("adtte.parquet")
    assert "AVAL=1e+300" in message and "beyond 36525 days (100 years)" in message and "time unit" in message
    assert check.quarantine.height == 1 and check.valid.height == df.height - 1


def test_a_date_and_day_rule_of_an_absent_variable_is_not_reported_as_skipped(seed_frames):
    check = check_dataset(seed_frames["adsl"], SCHEMAS["adsl"])
    assert "TRTEDT" not in seed_frames["adsl"].columns
    assert check.clean and not check.skipped_rules


def test_plausible_range_is_not_judged_in_an_unknown_unit(seed_frames):
    df = _set("AVALU", 0, "mystery")(_set("AVAL", 0, 3.0)(seed_frames["adlb"]))
    check = check_dataset(df, SCHEMAS["adlb"], seed_frames["adsl"]["USUBJID"])
    assert check.clean


def test_builtin_trial_validates_clean(seed_frames):
    ids = seed_frames["adsl"]["USUBJID"]
    for name, df in seed_frames.items():
        check = check_dataset(df, SCHEMAS[name], ids if name != "adsl" else None)
        assert check.clean, [v.message(name) for v in check.violations]
        assert not check.skipped_rules, (name, check.skipped_rules)
