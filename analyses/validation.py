"""Checking a dataset against its declared schema.

``check_dataset`` returns the rows that pass, the rows that fail (each with
the rules it broke, for the quarantine file) and one ``Violation`` per
broken rule with its row count and example keys. Structural problems (a
required variable missing, a variable of the wrong type) are violations of
the whole dataset: no row can be judged, so none is quarantined.
Row-level checks run through dataframely, with a schema class built from the
declaration for the variables the dataset actually has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dataframely as dy
import polars as pl

from trialkit.schemas.spec import DTYPES, DatasetSchema, Variable

__all__ = ["Violation", "DatasetCheck", "check_dataset", "example_keys", "KEY_COLUMNS", "summarise_quarantine"]

#: Columns that identify a row in messages, in this order, when present.
KEY_COLUMNS = ("USUBJID", "PARAMCD", "AVISIT", "AEDECOD", "ASTDY")
_ROW = "_ROW"
_MAX_EXAMPLES = 3


@dataclass(frozen=True)
class Violation:
    """One broken rule: where, what, how many rows, and which."""

    dataset: str
    rule: str
    column: str
    description: str
    n_rows: int
    examples: tuple[str, ...] = ()
    rows: tuple[int, ...] = ()
    level: str = "row"

    def message(self, file: str) -> str:
        where = f"{file} ({self.dataset}), column {self.column}"
        if self.level == "dataset":
            return f"{where}: {self.description}"
        shown = "; ".join(self.examples)
        row_list = ", ".join(str(r + 1) for r in self.rows[:_MAX_EXAMPLES])
        more = ", ..." if self.n_rows > _MAX_EXAMPLES else ""
        return (
            f"{where}: {self.n_rows} row(s) break rule {self.rule} ({self.description}); "
            f"rows {row_list}{more}: {shown}"
        )

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "rule": self.rule,
            "column": self.column,
            "description": self.description,
            "level": self.level,
            "n_rows": self.n_rows,
            "rows": [r + 1 for r in self.rows[:20]],
            "examples": list(self.examples),
        }


@dataclass(frozen=True)
class DatasetCheck:
    """The outcome of checking one dataset."""

    dataset: str
    n_input: int
    valid: pl.DataFrame
    quarantine: pl.DataFrame
    violations: tuple[Violation, ...]
    skipped_rules: tuple[str, ...] = field(default_factory=tuple)

    @property
    def structural(self) -> bool:
        return any(v.level == "dataset" for v in self.violations)

    @property
    def clean(self) -> bool:
        return not self.violations


def example_keys(df: pl.DataFrame, limit: int = _MAX_EXAMPLES) -> tuple[str, ...]:
    """Readable keys (USUBJID/PARAMCD/visit ...) of the first rows of ``df``."""
    cols = [c for c in KEY_COLUMNS if c in df.columns]
    if not cols:
        return ()
    out = []
    for row in df.head(limit).select(cols).iter_rows():
        out.append("/".join("" if v is None else str(v) for v in row))
    return tuple(out)


def _dy_column(var: Variable) -> dy.Column:
    allowed = var.allowed
    check = (lambda c: c.is_in(list(allowed))) if allowed is not None else None
    common = {"nullable": var.nullable, "check": check}
    if var.dtype == "str":
        return dy.String(**common)
    if var.dtype == "float":
        return dy.Float64(min=var.min, max=var.max, **common)
    if var.dtype == "int":
        return dy.Int64(min=var.min, max=var.max, **common)
    return dy.Date(**common)


def _structural_violations(df: pl.DataFrame, schema: DatasetSchema) -> list[Violation]:
    out = []
    for name in schema.required:
        if name not in df.columns:
            out.append(
                Violation(schema.name, "required_variable", name,
                          f"required variable {name} is missing; add it or rename the column that holds it",
                          df.height, level="dataset")
            )
    for var in schema.variables:
        if var.name in df.columns:
            actual = str(df.schema[var.name])
            if actual != DTYPES[var.dtype] and not (actual == "Null"):
                out.append(
                    Violation(schema.name, "variable_type", var.name,
                              f"{var.name} is {actual}, expected {DTYPES[var.dtype]} ({var.dtype}); re-run trialkit ingest on the source",
                              df.height, level="dataset")
                )
    return out


def _shows_value(schema: DatasetSchema, failed: str) -> bool:
    """Whether a failure is about one value (a range, an allowed set), so that examples show it."""
    rule = next((r for r in schema.rules if r.name == failed), None)
    if rule is not None:
        return rule.scope == "row" and len(rule.needs) == 1
    return failed.partition("|")[2] in ("min", "max", "check")


def _describe(schema: DatasetSchema, failed: str) -> tuple[str, str, str]:
    """(rule name, column, description) of a dataframely failure column like 'AGE|max'."""
    rule = next((r for r in schema.rules if r.name == failed), None)
    if rule is not None:
        return rule.name, rule.column, rule.description
    column, _, kind = failed.partition("|")
    var = schema.variable(column)
    text = {
        "nullability": f"{column} must not be missing",
        "check": f"{column} must be one of {', '.join(map(str, var.allowed or ()))}" if var else "",
        "min": f"{column} must be >= {var.min:g}" if var and var.min is not None else "",
        "max": f"{column} must be <= {var.max:g}" if var and var.max is not None else "",
    }.get(kind, f"{column} breaks {kind}")
    return f"{column}_{kind}", column, text


def check_dataset(df: pl.DataFrame, schema: DatasetSchema, adsl_ids: pl.Series | None = None) -> DatasetCheck:
    """Check ``df`` against ``schema``; ``adsl_ids`` enables the cross-dataset rules."""
    structural = _structural_violations(df, schema)
    if structural:
        empty = df.clear().with_columns(pl.lit(None, pl.String).alias("_RULES"))
        return DatasetCheck(schema.name, df.height, df, empty, tuple(structural))

    present = [v for v in schema.variables if v.name in df.columns and str(df.schema[v.name]) != "Null"]
    attrs: dict[str, object] = {v.name: _dy_column(v) for v in present}
    skipped = []
    work = df.with_row_index(_ROW)
    for rule in schema.rules:
        if not all(c in df.columns for c in rule.needs):
            if not rule.when_present:
                skipped.append(rule.name)
            continue
        if rule.scope == "cross":
            if adsl_ids is None:
                skipped.append(rule.name)
                continue
            work = work.with_columns(pl.col("USUBJID").is_in(adsl_ids.implode()).alias("_IN_ADSL"))
        attrs[rule.name] = dy.rule()(_named(rule.name, rule.build))
    attrs[_ROW] = dy.UInt32()
    if "_IN_ADSL" in work.columns:
        attrs["_IN_ADSL"] = dy.Bool()
    klass = type(f"{schema.name}Schema", (dy.Schema,), attrs)

    columns = attrs_columns(attrs)
    details = klass.filter(work.select(columns)).failure.details()
    rule_cols = [c for c in details.columns if c not in columns]
    violations = []
    reasons = []
    for col in rule_cols:
        bad = details.filter(pl.col(col) == "invalid").sort(_ROW)
        if bad.height == 0:
            continue
        name, column, text = _describe(schema, col)
        rows = tuple(bad[_ROW].to_list())
        sample = df[list(rows[:_MAX_EXAMPLES])]
        examples = example_keys(sample)
        if _shows_value(schema, col) and column in sample.columns and examples:
            values = sample[column].cast(pl.String).fill_null("missing").to_list()
            examples = tuple(f"{key} ({column}={value})" for key, value in zip(examples, values))
        violations.append(Violation(schema.name, name, column, text, bad.height, examples, rows))
        reasons.append(bad.select(_ROW, pl.lit(name).alias("rule")))
    if reasons:
        why = pl.concat(reasons).group_by(_ROW).agg(pl.col("rule").sort().str.join("; ").alias("_RULES"))
    else:
        why = pl.DataFrame({_ROW: pl.Series([], dtype=pl.UInt32), "_RULES": pl.Series([], dtype=pl.String)})
    indexed = df.with_row_index(_ROW)
    quarantine = indexed.join(why, on=_ROW, how="inner").sort(_ROW).drop(_ROW)
    valid = indexed.join(why, on=_ROW, how="anti").sort(_ROW).drop(_ROW)
    violations.sort(key=lambda v: (-v.n_rows, v.rule))
    return DatasetCheck(schema.name, df.height, valid, quarantine, tuple(violations), tuple(skipped))


def _named(name: str, build):
    """A rule function for dataframely, which names each rule after its function."""

    def rule(cls):
        return build()

    rule.__name__ = rule.__qualname__ = name
    return rule


def attrs_columns(attrs: dict[str, object]) -> list[str]:
    """The column names among a schema class's attributes (rules are not columns)."""
    return [k for k, v in attrs.items() if isinstance(v, dy.Column)]


def summarise_quarantine(quarantine: pl.DataFrame, reason_column: str, limit: int = 20) -> dict:
    """Rows held in a quarantine file: their count, how many broke each rule, and the keys of the first ``limit``.

    ``reason_column`` holds the rule(s) each row broke, joined by "; " (as
    ``check_dataset`` writes them). Rules are listed most frequent first; a
    row that broke two rules counts under both.
    """
    rules: list[dict] = []
    if quarantine.height and reason_column in quarantine.columns:
        counts = (quarantine.select(pl.col(reason_column).fill_null("unknown").str.split("; ").alias("rule"))
                  .explode("rule").group_by("rule").len()
                  .sort(["len", "rule"], descending=[True, False]))
        rules = [{"rule": r, "n_rows": n} for r, n in counts.iter_rows()]
    return {"rows": quarantine.height, "rules": rules, "examples": list(example_keys(quarantine, limit))}
