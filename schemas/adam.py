"""The ADaM datasets trialkit reads, declared once.

Required variables are only those an analysis cannot do without; everything
else is optional and checked when present. Assumptions where an optional
variable is absent: no SAFFL means every subject is in the safety
population; no TRTEMFL means an AE is treatment-emergent when ASTDY >= 1;
no ABLFL means the baseline is the last value on or before day 1.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from .spec import DatasetSchema, Rule, Variable
from .units import ALIASES, PARAMETERS

__all__ = ["ADSL", "ADLB", "ADAE", "ADTTE", "ADEX", "SCHEMAS", "schema_for", "DATE_RANGE", "MAX_DAYS"]

V = Variable
YN = ("Y", "N")
#: Plausible dates of a clinical trial record; one outside is a damaged value or a wrong date origin.
DATE_RANGE = (date(1900, 1, 1), date(2200, 12, 31))
#: Plausible times and study days, in days (100 years); beyond is a wrong time unit or a damaged value.
MAX_DAYS = 36525


def _pl():
    import polars as pl

    return pl


def _unique_over(*keys: str):
    return lambda: _pl().len().over(list(keys)) == 1


def _in_adsl():
    return _pl().col("_IN_ADSL")


def _rule_in_adsl(dataset: str) -> Rule:
    return Rule(
        "usubjid_in_adsl",
        f"every USUBJID in {dataset} exists in ADSL",
        ("USUBJID",),
        _in_adsl,
        "USUBJID",
        scope="cross",
    )


def _one_baseline():
    pl = _pl()
    is_base = pl.col("ABLFL") == "Y"
    return ~is_base | (is_base.cast(pl.Int32).sum().over(["USUBJID", "PARAMCD"]) <= 1)


def _aval_plausible():
    """AVAL within the parameter's plausible range, judged only in its canonical unit.

    Ingest writes the canonical spelling of every recognised unit into AVALU, so
    a plain comparison suffices; values in an unknown unit are not judged.
    """
    pl = _pl()
    expr = pl.lit(None, dtype=pl.Boolean)
    for p in PARAMETERS.values():
        codes = [p.paramcd, *(a for a, c in ALIASES.items() if c == p.paramcd)]
        in_unit = pl.col("AVALU").is_null() | (pl.col("AVALU") == p.unit)
        expr = (
            pl.when(pl.col("PARAMCD").is_in(codes) & in_unit)
            .then(pl.col("AVAL").is_between(p.low, p.high) | pl.col("AVAL").is_null())
            .otherwise(expr)
        )
    return expr


def _date_rule(name: str) -> Rule:
    low, high = DATE_RANGE
    return Rule(
        f"{name}_date_range",
        f"{name} between {low} and {high}; a date outside is a damaged value or a wrong date origin",
        (name,),
        lambda: _pl().col(name).is_between(_pl().lit(low), _pl().lit(high)),
        name,
        when_present=True,
    )


def _day_rule(name: str) -> Rule:
    return Rule(
        f"{name}_day_range",
        f"{name} finite and within {MAX_DAYS} days (100 years) of the reference date; beyond is a wrong time unit "
        "or a damaged value",
        (name,),
        lambda: _pl().col(name).abs() <= MAX_DAYS,  # NaN and infinities fail too
        name,
        when_present=True,
    )


def _with_plausible_dates_and_days(schema: DatasetSchema) -> DatasetSchema:
    """Add a range rule for every date variable and every study day (a float variable named ...DY)."""
    extra = [_date_rule(v.name) for v in schema.variables if v.dtype == "date"]
    extra += [_day_rule(v.name) for v in schema.variables if v.dtype == "float" and v.name.endswith("DY")]
    return replace(schema, rules=(*schema.rules, *extra))


def _aval_time_plausible():
    return _pl().col("AVAL") <= MAX_DAYS  # NaN and +infinity fail too; negative times break AVAL_min


def _one_treatment_label():
    pl = _pl()
    return pl.col("TRT01AN").n_unique().over("TRT01A") == 1


ADSL = DatasetSchema(
    name="ADSL",
    file="adsl",
    version="1.0",
    description="Subject-level analysis dataset: one row per subject.",
    structure="one record per subject",
    keys=("USUBJID",),
    variables=(
        V("STUDYID", "str", "Study identifier"),
        V("USUBJID", "str", "Unique subject identifier", required=True, nullable=False),
        # identifiers (ADaM: character): a CSV's "0000001" stays text instead of becoming the number 1
        V("SUBJID", "str", "Subject identifier for the study"),
        V("SITEID", "str", "Study site identifier"),
        V("ARMCD", "str", "Planned arm code"),
        V("ARM", "str", "Description of planned arm"),
        V("TRT01A", "str", "Actual treatment for period 01", required=True, nullable=False),
        V("TRT01AN", "float", "Actual treatment for period 01 (N): dose order"),
        V("TRT01P", "str", "Planned treatment for period 01"),
        V("SAFFL", "str", "Safety population flag", allowed=YN),
        V("ITTFL", "str", "Intent-to-treat population flag", allowed=YN),
        V("AGE", "float", "Age", min=0, max=120),
        V("SEX", "str", "Sex", allowed=("M", "F", "U", "UNDIFFERENTIATED")),
        V("RACE", "str", "Race"),
        V("TRTSDT", "date", "Date of first exposure to treatment"),
        V("TRTEDT", "date", "Date of last exposure to treatment"),
        V("DTHFL", "str", "Subject death flag", allowed=YN),
        V("DTHDT", "date", "Date of death"),
    ),
    rules=(
        Rule("one_row_per_subject", "one ADSL row per USUBJID", ("USUBJID",), _unique_over("USUBJID"), "USUBJID", "key"),
        Rule(
            "one_treatment_code",
            "each TRT01A label has one TRT01AN code (one treatment per subject and label)",
            ("TRT01A", "TRT01AN"),
            _one_treatment_label,
            "TRT01AN",
        ),
    ),
)

ADLB = DatasetSchema(
    name="ADLB",
    file="adlb",
    version="1.0",
    description="Longitudinal measurements in BDS form: labs, immune markers, weight, scores.",
    structure="one record per subject, parameter and analysis visit",
    keys=("USUBJID", "PARAMCD", "AVISITN", "ADY"),
    variables=(
        V("STUDYID", "str", "Study identifier"),
        V("USUBJID", "str", "Unique subject identifier", required=True, nullable=False),
        V("PARAMCD", "str", "Parameter code", required=True, nullable=False),
        V("PARAM", "str", "Parameter (unit in parentheses when AVALU is absent)"),
        V("PARCAT1", "str", "Parameter category 1"),
        V("AVAL", "float", "Analysis value (canonical unit after ingest)", required=True),
        V("AVALU", "str", "Analysis value unit"),
        V("AVAL_ORIG", "float", "Value as collected, before unit conversion"),
        V("AVALU_ORIG", "str", "Unit as collected, before unit conversion"),
        V("AVISIT", "str", "Analysis visit"),
        V("AVISITN", "float", "Analysis visit (N)"),
        V("ADY", "float", "Analysis relative day"),
        V("ADT", "date", "Analysis date"),
        V("ABLFL", "str", "Baseline record flag", allowed=("Y",)),
        V("A1LO", "float", "Analysis range 1 lower limit"),
        V("A1HI", "float", "Analysis range 1 upper limit"),
    ),
    rules=(
        Rule(
            "no_duplicate_visit",
            "no duplicate USUBJID+PARAMCD+AVISITN+ADY",
            ("USUBJID", "PARAMCD", "AVISITN", "ADY"),
            _unique_over("USUBJID", "PARAMCD", "AVISITN", "ADY"),
            "AVISITN",
            "key",
        ),
        Rule(
            "one_baseline",
            "at most one baseline record (ABLFL = Y) per subject and parameter",
            ("USUBJID", "PARAMCD", "ABLFL"),
            _one_baseline,
            "ABLFL",
            "key",
        ),
        Rule(
            "aval_plausible",
            "AVAL within the parameter's plausible range in its canonical unit (trialkit schema --units)",
            ("PARAMCD", "AVAL", "AVALU"),
            _aval_plausible,
            "AVAL",
        ),
        _rule_in_adsl("ADLB"),
    ),
)

ADAE = DatasetSchema(
    name="ADAE",
    file="adae",
    version="1.0",
    description="Adverse events analysis dataset.",
    structure="one record per adverse event",
    variables=(
        V("STUDYID", "str", "Study identifier"),
        V("USUBJID", "str", "Unique subject identifier", required=True, nullable=False),
        V("AETERM", "str", "Reported term"),
        V("AEDECOD", "str", "Dictionary-derived term (preferred term)", required=True, nullable=False),
        V("AEBODSYS", "str", "Body system or organ class", required=True, nullable=False),
        V("AESEV", "str", "Severity", allowed=("MILD", "MODERATE", "SEVERE")),
        V("ATOXGR", "str", "Analysis toxicity grade"),
        V("AESER", "str", "Serious event", allowed=YN),
        V("AEREL", "str", "Causality"),
        V("AEACN", "str", "Action taken with study treatment"),
        V("AEOUT", "str", "Outcome of adverse event"),
        V("AESDTH", "str", "Results in death", allowed=YN),
        V("TRTEMFL", "str", "Treatment-emergent analysis flag", allowed=YN),
        V("ASTDT", "date", "Analysis start date"),
        V("ASTDY", "float", "Analysis start relative day"),
        V("AENDY", "float", "Analysis end relative day"),
    ),
    rules=(_rule_in_adsl("ADAE"),),
)

ADTTE = DatasetSchema(
    name="ADTTE",
    file="adtte",
    version="1.0",
    description="Time-to-event analysis dataset.",
    structure="one record per subject and parameter",
    keys=("USUBJID", "PARAMCD"),
    variables=(
        V("STUDYID", "str", "Study identifier"),
        V("USUBJID", "str", "Unique subject identifier", required=True, nullable=False),
        V("PARAMCD", "str", "Parameter code", required=True, nullable=False),
        V("PARAM", "str", "Parameter"),
        V("AVAL", "float", "Analysis value: time in days", required=True, nullable=False, min=0),
        V("CNSR", "int", "Censor: 0 = event, 1 = censored", required=True, nullable=False, allowed=(0, 1)),
        V("STARTDT", "date", "Time-to-event origin date"),
        V("ADT", "date", "Analysis date"),
        V("EVNTDESC", "str", "Event or censoring description"),
    ),
    rules=(
        Rule("one_row_per_subject_parameter", "one ADTTE row per USUBJID+PARAMCD", ("USUBJID", "PARAMCD"),
             _unique_over("USUBJID", "PARAMCD"), "PARAMCD", "key"),
        Rule(
            "aval_time_plausible",
            f"AVAL is a time in days: beyond {MAX_DAYS} days (100 years) or not finite, check the time unit "
            "(hours or seconds instead of days?) or the value",
            ("AVAL",),
            _aval_time_plausible,
            "AVAL",
        ),
        _rule_in_adsl("ADTTE"),
    ),
)

ADEX = DatasetSchema(
    name="ADEX",
    file="adex",
    version="1.0",
    description="Exposure analysis dataset: one record per administration.",
    structure="one record per subject and administration",
    keys=("USUBJID", "ASTDY"),
    variables=(
        V("STUDYID", "str", "Study identifier"),
        V("USUBJID", "str", "Unique subject identifier", required=True, nullable=False),
        V("EXTRT", "str", "Name of treatment"),
        V("EXDOSE", "float", "Dose", required=True, min=0),
        V("EXDOSU", "str", "Dose units", required=True),
        V("ASTDT", "date", "Analysis start date"),
        V("ASTDY", "float", "Analysis start relative day", required=True),
    ),
    rules=(
        Rule("one_dose_per_day", "one ADEX row per USUBJID+ASTDY", ("USUBJID", "ASTDY"),
             _unique_over("USUBJID", "ASTDY"), "ASTDY", "key"),
        Rule("one_treatment_per_subject", "one EXTRT per subject", ("USUBJID", "EXTRT"),
             lambda: _pl().col("EXTRT").n_unique().over("USUBJID") == 1, "EXTRT"),
        _rule_in_adsl("ADEX"),
    ),
)

ADSL, ADLB, ADAE, ADTTE, ADEX = (_with_plausible_dates_and_days(s) for s in (ADSL, ADLB, ADAE, ADTTE, ADEX))
SCHEMAS: dict[str, DatasetSchema] = {s.file: s for s in (ADSL, ADLB, ADAE, ADTTE, ADEX)}


def schema_for(dataset: str) -> DatasetSchema | None:
    """The schema for a dataset name in any case (``adsl``, ``ADSL``); None if unknown."""
    return SCHEMAS.get(dataset.lower())
