"""The real CDISC pilot ingests and validates, and what validate says about it is true.

Each claim of the validation report is re-checked here with plain polars on
the raw XPT files read by pyreadstat, not with trialkit's validation code.
"""

from __future__ import annotations

import json

import polars as pl
import pyreadstat
import pytest


@pytest.fixture(scope="module")
def raw(pilot_dir):
    def read(name):
        df, _ = pyreadstat.read_xport(str(pilot_dir / f"{name}.xpt"), output_format="polars")
        return df

    return {"adsl": read("adsl"), "adae": read("adae"), "adtte": read("adtte"), "adlb": read("adlbhy")}


@pytest.fixture(scope="module")
def report(pilot_workspace):
    return json.loads((pilot_workspace / "validation.json").read_text())


def test_every_pilot_row_reaches_the_workspace(pilot_workspace, raw):
    for name, df in raw.items():
        assert pl.read_parquet(pilot_workspace / f"{name}.parquet").height == df.height, name


def test_validate_reports_the_pilot_clean_and_that_is_true(report, raw):
    assert report["workspace_clean"] is True
    adsl, adae, adtte, adlb = raw["adsl"], raw["adae"], raw["adtte"], raw["adlb"]
    ids = set(adsl["USUBJID"])
    assert adsl["USUBJID"].n_unique() == adsl.height
    assert set(adae["USUBJID"]) <= ids and set(adtte["USUBJID"]) <= ids and set(adlb["USUBJID"]) <= ids
    assert set(adtte["CNSR"].unique()) <= {0.0, 1.0} and adtte["AVAL"].min() >= 0
    assert adtte.select("USUBJID", "PARAMCD").is_duplicated().sum() == 0
    assert set(adsl["SEX"].unique()) <= {"M", "F"}
    assert set(adae["AESEV"].unique()) <= {"MILD", "MODERATE", "SEVERE"}
    assert set(adae["AESER"].unique()) <= {"Y", "N"} and set(adae["TRTEMFL"].unique()) <= {"Y", "N", ""}
    assert adlb.select("USUBJID", "PARAMCD", "AVISITN", "ADY").is_duplicated().sum() == 0
    baselines = adlb.filter(pl.col("ABLFL") == "Y").group_by("USUBJID", "PARAMCD").len()
    assert baselines["len"].max() == 1
    alt = adlb.filter(pl.col("PARAMCD").is_in(["ALT", "AST"]))["AVAL"]
    assert alt.min() >= 0 and alt.max() <= 10000
    assert adsl.group_by("TRT01A").agg(pl.col("TRT01AN").n_unique())["TRT01AN"].max() == 1


def test_validation_counts_reconcile_for_every_pilot_dataset(report):
    for d in report["datasets"]:
        assert d["input_rows"] == d["kept_rows"] + d["quarantined_rows"]
        assert d["rules_skipped"] == [] or d["dataset"] == "ADAE"


def test_pilot_lab_units_are_recognised_from_param(pilot_workspace):
    units = {u["PARAMCD"]: u for u in json.loads((pilot_workspace / "ingest.json").read_text())["units"]}
    assert units["ALT"]["AVALU"] == "U/L" and units["ALT"]["status"] == "canonical"
    assert units["BILI"]["AVALU"] == "umol/L" and units["BILI"]["status"] == "canonical"
