"""Turning a source table into a workspace dataset (pure, no file I/O).

The steps, in order: ``normalize_names`` (ADaM names are upper case),
``blank_to_null`` (SAS and CSV write missing values as "" or NaN),
``coerce_types`` (each declared variable to its declared type; a value that
cannot be converted is a data error naming its rows, never a silent null),
then for ADLB ``derive_var_avalu`` (unit from PARAM when AVALU is absent) and
``convert_units`` (values in a known other unit to the canonical SI unit,
keeping AVAL_ORIG and AVALU_ORIG).
"""

from __future__ import annotations

import re
from datetime import date

import polars as pl

from trialkit.schemas.spec import DatasetSchema
from trialkit.schemas.units import PARAMETERS, canonical_paramcd, normalize_unit

from trialkit.schemas.errors import DataError

__all__ = [
    "dataset_for_file",
    "normalize_names",
    "blank_to_null",
    "infer_undeclared_numbers",
    "coerce_types",
    "derive_var_avalu",
    "convert_units",
    "prepare_dataset",
    "reconstruction_record",
]

DATASETS = ("adsl", "adlb", "adae", "adtte", "adex")
SAS_EPOCH = date(1960, 1, 1)
#: days from the SAS epoch to the Unix one, which a polars Date counts from
_SAS_TO_UNIX_DAYS = (date(1970, 1, 1) - SAS_EPOCH).days
#: the Unix day numbers of years 1 to 9999, the dates Python (and every later step) can hold; polars would
#: wrap a larger number around or store a date it cannot print
_DATE_DAYS = ((date.min - date(1970, 1, 1)).days, (date.max - date(1970, 1, 1)).days)
_UNIT_IN_PARAM = re.compile(r"\(([^()]+)\)\s*$")


def dataset_for_file(stem: str) -> str | None:
    """The dataset a file holds, from its name: adsl.xpt -> adsl, ADLBHY.csv -> adlb."""
    name = stem.lower()
    if name in DATASETS:
        return name
    if name.startswith("adlb"):
        return "adlb"
    return None


def normalize_names(df: pl.DataFrame, source: str = "source", dataset: str = "") -> pl.DataFrame:
    """Upper-case variable names; two names that differ only in case (age, AGE) are a data error."""
    upper = [c.upper() for c in df.columns]
    if len(set(upper)) != len(upper):
        clashes = sorted({u for u in upper if upper.count(u) > 1})
        spelled = "; ".join(" and ".join(c for c in df.columns if c.upper() == u) for u in clashes)
        where = f"{source} ({dataset})" if dataset else source
        raise DataError(f"{where}: columns {spelled} are the same variable ({', '.join(clashes)}): ADaM names are "
                        "compared without case",
                        f"keep one of them in {source} (rename or delete the other), then run trialkit ingest again")
    return df.rename(dict(zip(df.columns, upper)))


def blank_to_null(df: pl.DataFrame) -> pl.DataFrame:
    """Text stripped of surrounding white space, blank text and NaN as null. Only the text columns that hold
    such values are rewritten (rewriting every text column of ten million records doubled ingest's memory)."""
    texts = [name for name, dtype in df.schema.items() if dtype == pl.String]
    touched = set()
    if texts:
        flags = df.select(pl.col(name).str.contains(r"(?:^\s|\s$|^$)").any().alias(name) for name in texts).row(0)
        touched = {name for name, flag in zip(texts, flags) if flag}
    exprs = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if dtype == pl.String and name in touched:
            stripped = col.str.strip_chars()
            exprs.append(pl.when(stripped == "").then(None).otherwise(stripped).alias(name))
        elif dtype.is_float():
            exprs.append(pl.when(col.is_nan()).then(None).otherwise(col).alias(name))
    return df.with_columns(exprs) if exprs else df


def _as_date(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Date:
        return col
    if isinstance(dtype, pl.Datetime):
        return col.dt.date()
    if dtype.is_numeric():  # SAS date: days since 1960-01-01; beyond a Date's range -> null (an error, not a wrap)
        since_1970 = col.cast(pl.Float64).floor() - _SAS_TO_UNIX_DAYS
        return pl.when(since_1970.is_between(*_DATE_DAYS)).then(since_1970.cast(pl.Int32, strict=False).cast(pl.Date))
    return col.cast(pl.String).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def _cast(col: pl.Expr, dtype: pl.DataType, target: str) -> pl.Expr:
    if target == "date":
        return _as_date(col, dtype)
    if target == "str":
        if dtype.is_float():  # SAS stores codes as floats: 1.0 -> "1"
            return pl.when(col == col.round(0)).then(col.cast(pl.Int64).cast(pl.String)).otherwise(col.cast(pl.String))
        return col.cast(pl.String)
    if target == "int":
        return col.cast(pl.Float64, strict=False).pipe(
            lambda c: pl.when(c == c.round(0)).then(c.cast(pl.Int64)).otherwise(None)
        )
    return col.cast(pl.Float64, strict=False)


def infer_undeclared_numbers(df: pl.DataFrame, schema: DatasetSchema) -> pl.DataFrame:
    """Text columns the schema does not declare become Float64 when every value is a number."""
    declared = {v.name for v in schema.variables}
    exprs = []
    for name, dtype in df.schema.items():
        if name in declared or dtype != pl.String or df[name].null_count() == df.height:
            continue
        as_number = df[name].cast(pl.Float64, strict=False)
        if as_number.null_count() == df[name].null_count():
            exprs.append(as_number.alias(name))
    return df.with_columns(exprs) if exprs else df


def coerce_types(df: pl.DataFrame, schema: DatasetSchema, source: str) -> pl.DataFrame:
    """Cast each declared variable present to its declared type, refusing lossy casts."""
    exprs = []
    for var in schema.variables:
        if var.name in df.columns:
            exprs.append(_cast(pl.col(var.name), df.schema[var.name], var.dtype).alias(var.name))
    out = df.with_columns(exprs)
    for var in schema.variables:
        if var.name not in df.columns:
            continue
        lost = df[var.name].is_not_null() & out[var.name].is_null()
        if lost.any():
            rows = lost.arg_true().to_list()
            shown = ", ".join(str(r + 1) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
            values = ", ".join(repr(str(v)) for v in df[var.name].filter(lost).head(3).to_list())
            raise DataError(
                f"{source} ({schema.name}), column {var.name}: {len(rows)} value(s) are not a valid "
                f"{var.dtype} (rows {shown}: {values})",
                f"correct those values in {source} (dates as YYYY-MM-DD), then run trialkit ingest again",
            )
    return out


def derive_var_avalu(df: pl.DataFrame) -> pl.DataFrame:
    """AVALU from the unit in parentheses at the end of PARAM, where AVALU is absent or null."""
    if "PARAM" not in df.columns:
        return df if "AVALU" in df.columns else df.with_columns(pl.lit(None, pl.String).alias("AVALU"))
    from_param = pl.col("PARAM").str.extract(_UNIT_IN_PARAM.pattern, 1).str.strip_chars()
    if "AVALU" not in df.columns:
        return df.with_columns(from_param.alias("AVALU"))
    return df.with_columns(pl.coalesce(pl.col("AVALU"), from_param).alias("AVALU"))


def convert_units(df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Convert AVAL (and A1LO/A1HI) of known parameters to their canonical unit.

    BASE, when delivered, is in AVAL's unit and is converted with it.
    Returns the converted frame and a report with one row per parameter and
    unit as collected: rows, canonical unit, factor, and status ("canonical",
    "converted", "unknown unit" or "no unit"). Values in an unknown unit are
    kept exactly as they are.
    """
    pairs = df.select("PARAMCD", "AVALU").unique().sort("PARAMCD", "AVALU", nulls_last=True)
    rows = []
    for paramcd, unit in pairs.iter_rows():
        p = PARAMETERS.get(canonical_paramcd(paramcd))
        if p is None:
            continue
        factor = p.factor(unit)
        status = "no unit" if unit is None else "unknown unit" if factor is None else (
            "canonical" if unit == p.unit else "converted")
        rows.append({"PARAMCD": paramcd, "AVALU": unit, "canonical": p.unit, "factor": factor, "status": status})
    report = pl.DataFrame(rows, schema={"PARAMCD": pl.String, "AVALU": pl.String, "canonical": pl.String,
                                        "factor": pl.Float64, "status": pl.String})
    counts = df.group_by("PARAMCD", "AVALU").len("rows")
    report = report.join(counts, on=["PARAMCD", "AVALU"], how="left", nulls_equal=True)
    known = report.filter(pl.col("factor").is_not_null()).select("PARAMCD", "AVALU", "factor", "canonical")
    # each record's factor looked up on its two key columns alone (joining the records copied every column)
    looked = df.select("PARAMCD", "AVALU").join(known, on=["PARAMCD", "AVALU"], how="left", nulls_equal=True,
                                                maintain_order="left")
    out = df.with_columns(looked.get_column("factor"), looked.get_column("canonical"))
    changes = pl.col("factor").is_not_null() & (pl.col("AVALU") != pl.col("canonical"))
    scaled = [
        pl.when(pl.col("factor").is_not_null()).then(pl.col(c) * pl.col("factor")).otherwise(pl.col(c)).alias(c)
        for c in ("AVAL", "BASE", "A1LO", "A1HI", "ANRLO", "ANRHI") if c in df.columns
    ]
    out = out.with_columns(
        pl.when(changes).then(pl.col("AVAL")).otherwise(None).cast(pl.Float64).alias("AVAL_ORIG"),
        pl.when(changes).then(pl.col("AVALU")).otherwise(None).cast(pl.String).alias("AVALU_ORIG"),
    ).with_columns(
        *scaled,
        pl.coalesce(pl.col("canonical"), pl.col("AVALU")).alias("AVALU"),
    ).drop("factor", "canonical")
    return out, report


def prepare_dataset(df: pl.DataFrame, schema: DatasetSchema, source: str, *,
                    typed: bool = False) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """All ingest steps for one dataset; the unit report is None except for ADLB.

    ``typed``: the source file declares each column's type (SAS transport, SAS7BDAT, Parquet), so an
    undeclared character column stays text even when every value is a number (the pilot's SITEGR1 "701"
    is a site group, not a quantity); CSV and spreadsheet text that reads as numbers becomes numbers."""
    df = blank_to_null(normalize_names(df, source, schema.name))
    df = coerce_types(df if typed else infer_undeclared_numbers(df, schema), schema, source)
    if schema.file != "adlb" or "PARAMCD" not in df.columns or "AVAL" not in df.columns:
        return df, None
    return convert_units(derive_var_avalu(df))


#: the Parquet key-value metadata ``trialkit reconstruct`` stamps on its ADSL and ADTTE
RECONSTRUCTED_KEY, METHOD_KEY, SOURCES_KEY = ("trialkit.reconstructed", "trialkit.reconstruction_method",
                                              "trialkit.reconstruction_sources")


def reconstruction_record(metadata: dict[str, str], source: str) -> dict | None:
    """What ingest.json records of a source file reconstructed from a published figure (``trialkit reconstruct``):
    the file, the method and the figure's files; None for a file that was not reconstructed."""
    if metadata.get(RECONSTRUCTED_KEY, "").lower() != "true":
        return None
    import json

    try:
        sources = json.loads(metadata.get(SOURCES_KEY) or "{}")
    except ValueError:
        sources = {}
    return {"file": source, "method": metadata.get(METHOD_KEY, "reconstructed from published Kaplan-Meier curves"),
            "sources": sources}
