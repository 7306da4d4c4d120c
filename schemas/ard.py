"""The Analysis Results Dataset (ARD): every number of every analysis in one long table.

``<workspace>/ard.parquet`` has one row per statistic, in the shape of CDISC's
Analysis Results Standard and of R's ``cards`` package: who (``group1`` /
``group1_level``, ``group2`` / ``group2_level``), what (``endpoint``,
``visit``, ``variable`` / ``variable_level``, ``keys``), which statistic
(``stat_name``, ``stat_label``) and its value (``stat``, ``stat_fmt``), plus
where it comes from (``analysis``, ``stage``, ``method``, ``table``) and the
analysis options (``options``, JSON with sorted keys).

As in ``cards``, ``group1`` and ``variable`` hold variable *names* (``TRT01A``,
``AEDECOD``) and the ``*_level`` columns their values (``Placebo``,
``Headache``). Declared once here; ``check_ard`` checks a frame against it.
"""

from __future__ import annotations

from .spec import DatasetSchema, Rule, Variable

__all__ = ["ARD", "ARD_COLUMNS", "ARD_KEY", "ARD_FILE", "polars_schema", "check_ard"]

V = Variable

#: The workspace file (relative to the workspace folder).
ARD_FILE = "ard.parquet"

#: The columns that identify one statistic: no two rows of an ARD share them.
ARD_KEY = ("analysis", "table", "endpoint", "visit", "group1_level", "group2_level", "variable", "variable_level",
           "keys", "stat_name")


def _unique_key():
    import polars as pl

    return pl.len().over(list(ARD_KEY)) == 1


ARD = DatasetSchema(
    name="ARD",
    file="ard",
    version="1.0",
    description="Analysis results dataset: every statistic of every analysis run in this workspace.",
    structure="one record per analysis, source table, group, endpoint, visit, variable level and statistic",
    keys=ARD_KEY,
    variables=(
        V("analysis", "str", "Analysis name (one run of a stage; a re-run replaces its rows)", required=True, nullable=False),
        V("stage", "str", "Stage that produced it: survival, biomarkers, safety", required=True, nullable=False),
        V("method", "str", "Statistical method, with the R call it matches where there is one", required=True),
        V("population", "str", "Analysis population", required=True),
        V("subgroup", "str", "Subgroup the analysis is restricted to (null: none)", required=True),
        V("endpoint", "str", "Endpoint or parameter: ADTTE / ADLB PARAMCD", required=True),
        V("table", "str", "Stage output table the row comes from (<stage>/<table>.parquet)", required=True, nullable=False),
        V("group1", "str", "First grouping variable (TRT01A)", required=True),
        V("group1_level", "str", "Its value: the treatment group", required=True),
        V("group2", "str", "Second grouping variable: the comparator group of a comparison (TRT01A)", required=True),
        V("group2_level", "str", "Its value: the comparator (reference) group", required=True),
        V("visit", "str", "Analysis visit (AVISIT), or the time point of a survival estimate (6m, 2y, 182d)", required=True),
        V("variable", "str", "Variable summarised or tested: AVAL, CHG, AEDECOD, AEBODSYS, ...", required=True),
        V("variable_level", "str", "Its value: preferred term, system organ class, model term, ...", required=True),
        V("keys", "str", "Other identifiers of the source row, as name=value; name=value", required=True),
        V("stat_name", "str", "Statistic: the source table's column name (p, hr, mean, subjects, ...)", required=True, nullable=False),
        V("stat_label", "str", "Statistic in words", required=True, nullable=False),
        V("stat", "float", "Value, full precision (null: not estimable, not applicable or infinite)", required=True),
        V("stat_fmt", "str", "Value as the report prints it (null when stat is null)", required=True),
        V("note", "str", "Why a value is missing or qualified (the source row's reason or note)", required=True),
        V("options", "str", "The analysis options, JSON with sorted keys", required=True, nullable=False),
    ),
    rules=(
        Rule("one_row_per_statistic", "one row per " + "+".join(ARD_KEY), ARD_KEY, _unique_key, "stat_name", "key"),
    ),
)

#: Column order of every ARD frame and of ard.parquet.
ARD_COLUMNS = tuple(v.name for v in ARD.variables)


def polars_schema() -> dict:
    """Column name -> polars dtype, in ARD order (for empty frames and casts)."""
    import polars as pl

    types = {"str": pl.String, "float": pl.Float64}
    return {v.name: types[v.dtype] for v in ARD.variables}


def check_ard(df, source: str = ARD_FILE) -> None:
    """Raise ``SchemaViolationError`` naming the first problem when ``df`` is not an ARD.

    Checks that the columns are exactly the declared ones, their types, the
    not-null columns and that no two rows share the key ``ARD_KEY``.
    """
    from trialkit.schemas.errors import SchemaViolationError
    from trialkit.analyses.validation import check_dataset

    extra = [c for c in df.columns if c not in ARD_COLUMNS]
    if extra:
        raise SchemaViolationError(
            f"{source} (ARD): column(s) {', '.join(extra)} are not ARD columns ({', '.join(ARD_COLUMNS)})",
            "the file was not written by this trialkit version; re-run the stages that write it",
        )
    check = check_dataset(df, ARD)
    if not check.clean:
        first = check.violations[0]
        more = len(check.violations) - 1
        raise SchemaViolationError(
            first.message(source) + (f" (and {more} more rule(s) broken)" if more else ""),
            "the file was not written by this trialkit version or was edited; re-run the stages that write it",
        )
