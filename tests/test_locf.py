"""LOCF records (DTYPE = "LOCF") derived by ``derive_locf``.

A hand-worked frame pins the rule (fill every missed scheduled post-baseline visit from the
last earlier observed post-baseline record, never from baseline); the CDISC pilot's Week 24
ALT records are compared with the loop in tests/reference/make_ancova_reference.R (ancova_r.json,
``pilot_locf.week24``: USUBJID, AVAL and whether the value was carried).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from trialkit.analyses.efficacy.impute import derive_locf
from trialkit.schemas.errors import ColumnNotFoundError, DataError, UsageError

VISITS = ["Week 2", "Week 4", "Week 6", "Week 8"]
NUM = {"Baseline": 0, "Week 2": 2, "Week 4": 4, "Week 6": 6, "Week 8": 8}


def _bds(rows: list[tuple[str, str, str, float | None]]) -> pl.DataFrame:
    return pl.DataFrame({
        "USUBJID": [r[0] for r in rows], "PARAMCD": [r[1] for r in rows], "AVISIT": [r[2] for r in rows],
        "AVISITN": [float(NUM[r[2]]) for r in rows], "AVAL": [r[3] for r in rows],
    }, schema={"USUBJID": pl.String, "PARAMCD": pl.String, "AVISIT": pl.String, "AVISITN": pl.Float64,
               "AVAL": pl.Float64}).with_columns((pl.col("AVAL") - 10.0).alias("CHG"), pl.lit(10.0).alias("BASE"))


def _rows(df: pl.DataFrame) -> list[tuple]:
    return df.select("USUBJID", "PARAMCD", "AVISIT", "AVAL", "CHG", "DTYPE").rows()


def test_missed_visits_after_and_between_observed_ones_are_carried_from_the_last_observed():
    bds = _bds([("A", "ALT", "Baseline", 10.0), ("A", "ALT", "Week 2", 12.0), ("A", "ALT", "Week 6", 15.0),
                ("Z", "ALT", "Week 4", 10.0)])
    assert _rows(derive_locf(bds, VISITS).filter(pl.col("USUBJID") == "A")) == [
        ("A", "ALT", "Baseline", 10.0, 0.0, None),
        ("A", "ALT", "Week 2", 12.0, 2.0, None),
        ("A", "ALT", "Week 4", 12.0, 2.0, "LOCF"),
        ("A", "ALT", "Week 6", 15.0, 5.0, None),
        ("A", "ALT", "Week 8", 15.0, 5.0, "LOCF"),
    ]


def test_baseline_is_never_carried_forward():
    bds = _bds([("B", "ALT", "Baseline", 10.0), ("C", "ALT", "Baseline", 9.0), ("C", "ALT", "Week 4", 11.0)])
    out = derive_locf(bds, VISITS)
    assert _rows(out.filter(pl.col("USUBJID") == "B")) == [("B", "ALT", "Baseline", 10.0, 0.0, None)]
    assert _rows(out.filter(pl.col("USUBJID") == "C")) == [
        ("C", "ALT", "Baseline", 9.0, -1.0, None),
        ("C", "ALT", "Week 4", 11.0, 1.0, None),
        ("C", "ALT", "Week 6", 11.0, 1.0, "LOCF"),
        ("C", "ALT", "Week 8", 11.0, 1.0, "LOCF"),
    ]


def test_a_record_with_missing_aval_is_kept_and_gets_a_locf_record_beside_it():
    bds = _bds([("D", "ALT", "Week 2", 12.0), ("D", "ALT", "Week 4", None)])
    assert _rows(derive_locf(bds, ["Week 2", "Week 4"])) == [
        ("D", "ALT", "Week 2", 12.0, 2.0, None),
        ("D", "ALT", "Week 4", None, None, None),
        ("D", "ALT", "Week 4", 12.0, 2.0, "LOCF"),
    ]


def test_a_visit_nobody_attended_gets_a_null_avisitn_and_sorts_last():
    bds = _bds([("A", "ALT", "Week 2", 12.0), ("A", "ALT", "Week 6", 15.0)])
    out = derive_locf(bds, VISITS)
    assert out.select("AVISIT", "AVISITN", "DTYPE").rows() == [
        ("Week 2", 2.0, None), ("Week 6", 6.0, None), ("Week 4", None, "LOCF"), ("Week 8", None, "LOCF")]


def test_parameters_are_carried_separately():
    bds = _bds([("E", "ALT", "Week 2", 12.0), ("E", "AST", "Week 2", 30.0), ("E", "AST", "Week 4", 31.0)])
    out = derive_locf(bds, ["Week 2", "Week 4"]).filter(pl.col("DTYPE") == "LOCF")
    assert _rows(out) == [("E", "ALT", "Week 4", 12.0, 2.0, "LOCF")]


def test_new_records_take_the_avisitn_of_their_visit_and_keep_the_other_columns():
    bds = _bds([("A", "ALT", "Week 2", 12.0), ("B", "ALT", "Week 2", 13.0), ("B", "ALT", "Week 4", 14.0)])
    out = derive_locf(bds.with_columns(pl.lit("Placebo").alias("TRTP")), ["Week 2", "Week 4"])
    row = out.filter(pl.col("DTYPE") == "LOCF").row(0, named=True)
    assert row["AVISITN"] == 4.0 and row["TRTP"] == "Placebo" and row["BASE"] == 10.0
    assert out.columns == [*bds.columns, "TRTP", "DTYPE"]


def test_data_that_already_carry_locf_records_are_returned_unchanged():
    bds = _bds([("A", "ALT", "Week 2", 12.0), ("A", "ALT", "Week 4", 12.0)]).with_columns(
        pl.Series("DTYPE", [None, "LOCF"], dtype=pl.String))
    assert derive_locf(bds, VISITS).equals(bds)


def test_no_missed_visit_adds_nothing_but_the_dtype_column():
    bds = _bds([("A", "ALT", "Week 2", 12.0), ("A", "ALT", "Week 4", 11.0)])
    out = derive_locf(bds, ["Week 2", "Week 4"])
    assert out.drop("DTYPE").equals(bds) and out["DTYPE"].null_count() == 2


def test_empty_or_repeated_visits_are_a_usage_error():
    bds = _bds([("A", "ALT", "Week 2", 12.0)])
    with pytest.raises(UsageError, match="each once"):
        derive_locf(bds, [])
    with pytest.raises(UsageError, match="each once"):
        derive_locf(bds, ["Week 2", "Week 2"])


def test_missing_aval_column_is_named():
    with pytest.raises(ColumnNotFoundError, match="has no AVAL"):
        derive_locf(_bds([("A", "ALT", "Week 2", 12.0)]).drop("AVAL"), VISITS)


def test_a_visit_with_two_avisitn_is_a_data_error():
    bds = _bds([("A", "ALT", "Week 2", 12.0), ("B", "ALT", "Week 2", 12.0)]).with_columns(
        pl.Series("AVISITN", [2.0, 3.0]))
    with pytest.raises(DataError, match="AVISIT Week 2 has more than one AVISITN"):
        derive_locf(bds, VISITS)


def test_pilot_alt_week24_locf_records_match_the_r_loop(pilot_dir):
    import pyreadstat

    adlb = pl.from_pandas(pyreadstat.read_xport(str(pilot_dir / "adlbhy.xpt"))[0])
    alt = adlb.filter(pl.col("PARAMCD") == "ALT").select("USUBJID", "PARAMCD", "AVISIT", "AVISITN", "AVAL", "BASE")
    visits = [f"Week {w}" for w in (2, 4, 6, 8, 12, 16, 20, 24)]
    week24 = derive_locf(alt, visits).filter(pl.col("AVISIT") == "Week 24").sort("USUBJID")
    ref = pl.DataFrame(json.loads((Path(__file__).parent / "reference" / "ancova_r.json").read_text())
                       ["pilot_locf"]["week24"]).sort("USUBJID")
    assert week24["USUBJID"].to_list() == ref["USUBJID"].to_list()
    assert week24["AVAL"].to_list() == ref["AVAL"].to_list()
    assert (week24["DTYPE"] == "LOCF").fill_null(False).to_list() == ref["locf"].to_list()
    assert ref["locf"].sum() > 100  # the pilot's dropouts: most Week 24 values are carried


def _naive_locf(bds: pl.DataFrame, visits: list[str]) -> set[tuple]:
    """The rule written as a plain loop: (USUBJID, PARAMCD, AVISIT, AVAL) of every LOCF record."""
    out = set()
    for (subject, param), rows in bds.group_by(["USUBJID", "PARAMCD"]):
        seen = {r["AVISIT"]: r["AVAL"] for r in rows.iter_rows(named=True) if r["AVAL"] is not None}
        last = None
        for visit in visits:
            if visit in seen:
                last = seen[visit]
            elif last is not None:
                out.add((subject, param, visit, last))
    return out


def test_random_dropouts_and_gaps_match_a_plain_loop():
    import numpy as np

    rng = np.random.default_rng(12)
    names = ["Baseline", *VISITS]
    rows = [(f"S{s:02d}", p, v, float(rng.integers(0, 50))) for s in range(60) for p in ("ALT", "AST") for v in names
            if v == "Baseline" or rng.random() < 0.6]
    bds = _bds(rows)
    out = derive_locf(bds, VISITS)
    ours = set(out.filter(pl.col("DTYPE") == "LOCF").select("USUBJID", "PARAMCD", "AVISIT", "AVAL").rows())
    assert ours == _naive_locf(bds, VISITS) and len(ours) > 50
    assert out.filter(pl.col("DTYPE").is_null()).drop("DTYPE").equals(bds.sort(["USUBJID", "PARAMCD", "AVISITN"]))
