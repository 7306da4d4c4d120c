"""analyses/columns.py: one message format for a missing required column."""

from __future__ import annotations

import polars as pl
import pytest

from trialkit.analyses.columns import require_columns, require_one_of
from trialkit.schemas.errors import ColumnNotFoundError
from trialkit.analyses.groups import arms_of
from trialkit.analyses.safety.events import safety_population
from trialkit.analyses.survival.km import derive_survival_data

ADSL = pl.DataFrame({"USUBJID": ["S1"], "AGE": [50]})


def test_present_columns_pass_silently():
    require_columns(ADSL, ("USUBJID", "AGE"), dataset="ADSL", purpose="Table 1")
    require_one_of(ADSL, ("TRT01A", "AGE"), dataset="ADSL", purpose="Table 1")


def test_missing_columns_are_named_with_the_dataset_the_purpose_and_the_whole_list():
    with pytest.raises(ColumnNotFoundError) as info:
        require_columns(ADSL, ("USUBJID", "TRT01A", "SEX"), dataset="ADSL", purpose="Table 1")
    assert info.value.message == "ADSL has no TRT01A, SEX: Table 1 needs USUBJID, TRT01A, SEX"
    assert info.value.hint == "add TRT01A, SEX to ADSL and re-run trialkit ingest"
    assert info.value.exit_code == 1


def test_without_a_purpose_the_message_names_only_what_is_missing():
    with pytest.raises(ColumnNotFoundError) as info:
        require_columns(ADSL, ["TRT01A"], dataset="ADSL")
    assert info.value.message == "ADSL has no TRT01A"


def test_a_given_hint_replaces_the_default():
    with pytest.raises(ColumnNotFoundError) as info:
        require_columns(ADSL, ("CNSR",), dataset="the survival data", purpose="the Cox model",
                        hint="build them with derive_survival_data")
    assert info.value.hint == "build them with derive_survival_data"


def test_none_of_the_alternatives_present_is_refused_naming_them_all():
    with pytest.raises(ColumnNotFoundError) as info:
        require_one_of(ADSL, ("AVISITN", "ADY"), dataset="ADLB", purpose="CHG")
    assert info.value.message == "ADLB has none of AVISITN, ADY: CHG needs one of them"
    assert info.value.hint == "add one of AVISITN, ADY to ADLB and re-run trialkit ingest"


def test_analyses_report_missing_columns_in_the_shared_format():
    adtte = pl.DataFrame({"USUBJID": ["S1"], "PARAMCD": ["OS"], "AVAL": [1.0]})
    cases = [
        (lambda: arms_of(ADSL), "ADSL has no TRT01A: grouping subjects by actual treatment needs TRT01A"),
        (lambda: derive_survival_data(adtte, ADSL, "OS", ["A"]),
         "ADTTE has no CNSR: the survival analysis needs USUBJID, PARAMCD, AVAL, CNSR"),
        (lambda: safety_population(ADSL, []), "ADSL has no TRT01A: the safety analysis needs USUBJID, TRT01A"),
    ]
    for call, message in cases:
        with pytest.raises(ColumnNotFoundError) as info:
            call()
        assert info.value.message == message
