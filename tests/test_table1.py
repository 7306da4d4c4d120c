"""Table 1 (analyses/report/table1.py): variables, population, groups, category order, the long frame, --table1.

On the CDISC pilot, Table 1 is pinned two ways (tests marked realdata):

- against base R on the same XPT files, number for number (rel = 1e-12):
      Rscript tests/reference/make_pilot_table14_2_01.R
  writes tests/reference/pilot_table14_2_01_r.csv (mean, sd, quantile(type = 7), min, max, counts and percentages
  on ITTFL = "Y" by TRT01P);
- against the published Table 14-2.01 (tests/reference/pilot_table14_2_01_published.csv, where each number comes
  from is written at its top). Published numbers are rounded, and not all the same way (R 3.6 prints 42.65 as
  42.6), so each must lie within half a unit of its last printed digit of trialkit's unrounded value
  (|ours - published| <= 0.5 * 10**-decimals); counts and n exactly.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from trialkit.schemas.errors import NoDataError, UsageError
from trialkit.analyses.report.table1 import (ALL, DISPLAY_SCHEMA, LONG_SCHEMA, baseline_characteristics,
                                             default_variables, resolve_variables, table1_long)

REF = Path(__file__).parent / "reference"
PUBLISHED_VARIABLES = ["AGE", "AGEGR1", "SEX", "RACE", "ETHNIC", "HEIGHTBL", "WEIGHTBL", "BMIBL", "BMIBLGR1",
                       "EDUCLVL", "DURDIS", "DURDSGR1", "MMSETOT"]
GROUPS = ("Placebo", "Xanomeline Low Dose", "Xanomeline High Dose", "Total")


def _adsl(**columns) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    base = {"USUBJID": [f"S{i:02d}" for i in range(n)]}
    return pl.DataFrame(base | columns)


def _value(long: pl.DataFrame, variable: str, group: str, stat: str, category: str | None = None):
    rows = long.filter((pl.col("variable") == variable) & (pl.col("group") == group) & (pl.col("stat") == stat)
                       & (pl.col("category").is_null() if category is None else pl.col("category") == category))
    assert rows.height == 1, (variable, category, group, stat, rows)
    return rows["value"][0]


# ----------------------------------------------------------------------------- the CDISC pilot
@pytest.fixture(scope="module")
def pilot_table(pilot_workspace):
    adsl = pl.read_parquet(pilot_workspace / "adsl.parquet")
    return adsl, baseline_characteristics(adsl, None, group="TRT01P")


@pytest.mark.realdata
def test_pilot_default_variables_are_the_demographics_then_the_other_baseline_variables(pilot_table):
    adsl, table = pilot_table
    assert default_variables(adsl) == PUBLISHED_VARIABLES
    assert table.long["variable"].unique(maintain_order=True).to_list() == PUBLISHED_VARIABLES


@pytest.mark.realdata
def test_pilot_table1_is_on_the_itt_population_by_planned_treatment_with_a_total(pilot_table):
    _adsl_, table = pilot_table
    assert table.groups == (("Placebo", 86), ("Xanomeline Low Dose", 84), ("Xanomeline High Dose", 84), ("Total", 254))
    assert table.population == 'intent-to-treat population (ADSL ITTFL = "Y")'
    assert table.group_description == "ADSL TRT01P (planned treatment)"


@pytest.mark.realdata
def test_pilot_table1_matches_base_r_number_for_number(pilot_table):
    _adsl_, table = pilot_table
    want = (pl.read_csv(REF / "pilot_table14_2_01_r.csv", schema_overrides={"value": pl.Float64})
            .with_columns(pl.col("category").fill_null("")))
    got = table.long.with_columns(pl.col("category").fill_null(""))
    assert got.height == want.height
    joined = got.join(want, on=["variable", "category", "group", "stat"], how="full", suffix="_r", coalesce=True)
    assert joined.filter(pl.col("order").is_null() | pl.col("value_r").is_null()).height == 0
    for r in joined.iter_rows(named=True):
        assert r["value"] == pytest.approx(r["value_r"], rel=1e-12), r
    for variable in ("AGEGR1", "RACE"):  # R orders them by AGEGR1N and RACEN
        ours = got.filter(pl.col("variable") == variable)["category"].unique(maintain_order=True).to_list()
        assert ours == want.filter(pl.col("variable") == variable)["category"].unique(maintain_order=True).to_list()


@pytest.mark.realdata
def test_pilot_table1_reproduces_the_published_table_14_2_01(pilot_table):
    _adsl_, table = pilot_table
    published = pl.read_csv(REF / "pilot_table14_2_01_published.csv", comment_prefix="#",
                            schema_overrides={"value": pl.Float64, "decimals": pl.Int64})
    assert set(published["variable"]) >= {"AGE", "AGEGR1", "RACE", "HEIGHTBL", "WEIGHTBL", "BMIBL", "MMSETOT"}
    assert set(published["source"]) == {"rc_pilot1", "t14_2_01"}
    for p in published.iter_rows(named=True):
        ours = _value(table.long, p["variable"], p["group"], p["stat"], p["category"] or None)
        where = f"{p['source']} {p['variable']} {p['category']} {p['group']} {p['stat']}"
        if p["stat"] in ("n", "count"):
            assert ours == p["value"], where
        else:
            assert abs(ours - p["value"]) <= 0.5 * 10 ** -p["decimals"] * (1 + 1e-9), f"{where}: ours {ours}, published {p['value']}"


@pytest.mark.realdata
def test_pilot_categories_follow_adsl_order(pilot_table):
    _adsl_, table = pilot_table
    display = table.display.filter(pl.col("group") == "Total")

    def rows(variable):
        return display.filter(pl.col("variable") == variable)["row"].to_list()

    assert rows("AGEGR1") == ["<65", "65-80", ">80"]  # AGEGR1N
    assert rows("RACE") == ["WHITE", "BLACK OR AFRICAN AMERICAN", "AMERICAN INDIAN OR ALASKA NATIVE"]  # RACEN
    assert rows("BMIBLGR1") == ["<25", "25-<30", ">=30"]  # no BMIBLGR1N: numeric order, as published
    assert rows("DURDSGR1") == ["<12", ">=12"]
    assert rows("SEX") == ["Female", "Male"]
    assert rows("WEIGHTBL") == ["n", "Mean (SD)", "Median", "Q1, Q3", "Min, Max"]


@pytest.mark.realdata
def test_pilot_display_rounds_as_documented(pilot_table):
    _adsl_, table = pilot_table
    by = {(r["variable"], r["row"], r["group"]): r["value"] for r in table.display.iter_rows(named=True)}
    assert by[("AGE", "Mean (SD)", "Placebo")] == "75.2 (8.6)"  # integer data: one decimal
    assert by[("AGE", "Min, Max", "Total")] == "51, 89"
    assert by[("WEIGHTBL", "n", "Xanomeline Low Dose")] == "83"  # one missing weight
    assert by[("WEIGHTBL", "Median", "Placebo")] == "60.55"
    assert by[("DURDIS", "Mean (SD)", "Placebo")] == "42.65 (30.24)"
    assert by[("AGEGR1", "<65", "Xanomeline Low Dose")] == "8 (9.5%)"


# ----------------------------------------------------------------------------- population and groups
def test_population_defaults_to_ittfl_and_all_takes_every_subject():
    adsl = _adsl(TRT01A=["A", "A", "B", "B"], ITTFL=["Y", "N", "Y", "Y"], AGE=[50, 60, 70, 80])
    default = baseline_characteristics(adsl, None)
    assert default.groups == (("A", 1), ("B", 2), ("Total", 3))
    assert default.population == 'intent-to-treat population (ADSL ITTFL = "Y")'
    assert _value(default.long, "AGE", "Total", "mean") == pytest.approx(200 / 3, rel=1e-12)
    every = baseline_characteristics(adsl, None, population=ALL)
    assert every.groups == (("A", 2), ("B", 2), ("Total", 4)) and every.population == "every ADSL subject"
    no_flag = baseline_characteristics(adsl.drop("ITTFL"), None)
    assert no_flag.groups[-1] == ("Total", 4)


def test_population_flag_absent_is_a_usage_error():
    adsl = _adsl(TRT01A=["A"], AGE=[50])
    with pytest.raises(UsageError, match="ADSL has no population flag SAFFL"):
        baseline_characteristics(adsl, None, population="SAFFL")


def test_population_with_no_subject_is_a_data_error():
    adsl = _adsl(TRT01A=["A"], ITTFL=["N"], AGE=[50])
    with pytest.raises(NoDataError, match="no subject in the intent-to-treat population"):
        baseline_characteristics(adsl, None)


def test_groups_follow_their_numeric_companion_and_planned_treatment_can_be_chosen():
    adsl = _adsl(TRT01A=["x", "x", "x"], TRT01P=["Zeta", "Alpha", "Zeta"], TRT01PN=[1.0, 2.0, 1.0], AGE=[1, 2, 3])
    table = baseline_characteristics(adsl, None, group="TRT01P")
    assert table.groups == (("Zeta", 2), ("Alpha", 1), ("Total", 3))
    assert table.group_description == "ADSL TRT01P (planned treatment)"


# ----------------------------------------------------------------------------- variables and categories
def test_default_variables_skip_identifiers_dates_and_flags_and_put_groupings_after_their_variable():
    adsl = _adsl(TRT01A=["A"], BMIBLGR1=["<25"], SEX=["F"], TRTSDT=[None], SAFFL=["Y"], EGFRBL=[90.0],
                 MMSETOT=[20.0], BMIBL=[22.0], AGEGR1=["<65"], AGE=[60.0], CUMDOSE=[3.0])
    assert default_variables(adsl) == ["AGE", "AGEGR1", "SEX", "BMIBL", "BMIBLGR1", "EGFRBL", "MMSETOT"]


def test_resolve_variables_matches_case_insensitively_and_rejects_unknown_or_dates():
    from datetime import date

    adsl = _adsl(TRT01A=["A"], AGE=[60.0], TRTSDT=[date(2020, 1, 1)])
    assert resolve_variables(adsl, ["age", "AGE"]) == ["AGE"]
    with pytest.raises(UsageError, match=r"^ADSL has no variable 'WEIGHT': Table 1 cannot show it$"):
        resolve_variables(adsl, ["AGE", "WEIGHT"])
    with pytest.raises(UsageError, match="ADSL TRTSDT is a Date variable"):
        resolve_variables(adsl, ["TRTSDT"])


def test_categories_follow_the_n_companion_else_numeric_then_alphabetical_order():
    adsl = _adsl(TRT01A=["A"] * 5, RACE=["WHITE", "ASIAN", "BLACK", "WHITE", "ASIAN"], RACEN=[1.0, 3.0, 2.0, 1.0, 3.0],
                 GRP=[">80", "65-80", "<65", "other", "65-80"])
    display = baseline_characteristics(adsl, None, variables=["RACE", "GRP"]).display.filter(pl.col("group") == "Total")
    assert display.filter(pl.col("variable") == "RACE")["row"].to_list() == ["WHITE", "BLACK", "ASIAN"]
    assert display.filter(pl.col("variable") == "GRP")["row"].to_list() == ["<65", "65-80", ">80", "other"]


def test_missing_values_get_a_missing_row_counted_against_the_group():
    adsl = _adsl(TRT01A=["A", "A", "B", "B"], SEX=["F", None, "M", "F"], WEIGHTBL=[60.0, None, 70.5, 80.0])
    table = baseline_characteristics(adsl, None, variables=["SEX", "WEIGHTBL"])
    assert _value(table.long, "SEX", "A", "count", "Missing") == 1
    assert _value(table.long, "SEX", "A", "percent", "Missing") == 50.0
    assert _value(table.long, "SEX", "B", "count", "Missing") == 0
    assert _value(table.long, "WEIGHTBL", "A", "n") == 1
    assert _value(table.long, "WEIGHTBL", "A", "sd") is None  # one value has no SD
    by = {(r["variable"], r["row"], r["group"]): r["value"] for r in table.display.iter_rows(named=True)}
    assert by[("SEX", "Missing", "B")] == "0 (0.0%)"
    assert by[("WEIGHTBL", "Mean (SD)", "A")] == "60.00 (NA)"
    assert by[("WEIGHTBL", "Min, Max", "Total")] == "60.0, 80.0"


# ----------------------------------------------------------------------------- the long frame
def test_long_frame_has_fixed_columns_and_every_number_feeds_a_display_row():
    adsl = _adsl(TRT01A=["A", "A", "B"], AGE=[30.0, 41.0, 52.0], SEX=["F", "M", "F"])
    table = baseline_characteristics(adsl, None)
    assert dict(table.long.schema) == LONG_SCHEMA and dict(table.display.schema) == DISPLAY_SCHEMA
    assert set(table.long["stat"]) == {"n", "mean", "sd", "median", "q1", "q3", "min", "max", "count", "percent"}
    assert set(table.long["order"]) == set(table.display["order"])
    assert table.long.filter(pl.col("variable") == "SEX")["category"].null_count() == 0
    assert table.long.filter(pl.col("variable") == "AGE")["category"].null_count() == 8 * 3
    assert _value(table.long, "AGE", "Total", "q3") == pytest.approx(46.5, rel=1e-12)  # quantile(type = 7)
    assert table1_long(adsl).equals(table.long)


def test_same_inputs_give_identical_frames():
    adsl = _adsl(TRT01A=["B", "A", "A", "B"], AGE=[30.5, 41.0, 52.25, 60.0], RACE=["X", "Y", None, "X"])
    one, two = baseline_characteristics(adsl, None), baseline_characteristics(adsl.reverse(), None)
    assert one.long.equals(two.long) and one.display.equals(two.display)


# ----------------------------------------------------------------------------- trialkit report --table1
def _table1_text(html: str) -> str:
    section = html[html.index('id="baseline"'):]
    section = section[:section.index("</section>")]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section))


def test_report_table1_option_shows_the_chosen_variables_in_order(seed_workspace, run_cli, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(seed_workspace, ws)  # the report writes Table 1 into the ARD: not into the shared workspace
    out = tmp_path / "r.html"
    r = run_cli(["report", "--workspace", ws, "--out", out, "--table1", "sex,AGE"])
    assert r.exit_code == 0, r.stderr
    text = _table1_text(out.read_text())
    assert text.index("Sex") < text.index("Age (years)")
    assert " Race " not in text
    assert 'Population: intent-to-treat population (ADSL ITTFL = "Y")' in text.replace("&quot;", '"')


def test_report_table1_unknown_variable_is_a_usage_error_naming_adsl_and_it(seed_workspace, run_cli, tmp_path):
    r = run_cli(["report", "--workspace", seed_workspace, "--out", tmp_path / "r.html", "--table1", "AGE,HEIGHTBL"])
    assert r.exit_code == 2
    assert "Error: ADSL has no variable 'HEIGHTBL': Table 1 cannot show it" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "r.html").exists()
