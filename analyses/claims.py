"""Claims: a publication's statements, checked against trialkit's results.

A claims file (TOML, format in ``docs/claims.md``) lists claims; each claim
has one or more checks. A check names where its number lives (a stage, a key
of the stage's JSON or one of its Parquet tables, row selectors and a field),
how to reduce the matching rows to a number (``aggregate``) and how that
number must compare with the published value. Verdicts:

- ``reproduced``: the comparison holds;
- ``not reproduced``: the number was found and the comparison fails;
- ``not evaluable``: the number cannot be found (stage not run, key or row
  absent, value missing), with the reason.

A claim is reproduced when every check is; not reproduced when any check is
not reproduced; otherwise not evaluable.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

import polars as pl

from trialkit.schemas.errors import UsageError
from trialkit.analyses.formatting import format_value

__all__ = [
    "REPRODUCED",
    "NOT_REPRODUCED",
    "NOT_EVALUABLE",
    "STAGES",
    "COMPARISONS",
    "AGGREGATES",
    "Check",
    "Claim",
    "ClaimsFile",
    "StageData",
    "CheckResult",
    "ClaimResult",
    "parse_claims",
    "evaluate_check",
    "evaluate_claims",
    "claims_table",
    "all_reproduced",
]

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_EVALUABLE = "not evaluable"

#: stage name -> the command that produces it (claims may only point at these)
STAGES = {"survival": "trialkit survival", "biomarkers": "trialkit biomarkers", "safety": "trialkit safety"}
COMPARISONS = ("equal", "less", "greater", "at_most", "at_least", "between")
AGGREGATES = ("one", "all", "count", "sum", "min", "max")
SELECTOR_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in")
_CHECK_KEYS = {"stage", "analysis", "key", "table", "where", "field", "aggregate", "compare", "value", "low", "high",
               "abs", "rel", "rows", "published", "label"}
_CLAIM_KEYS = {"id", "text", "published", "source", "checks"}
_TOP_KEYS = {"title", "reference", "claims"}
_SELECTOR_REL = 1e-9  # numeric selectors match within this relative tolerance


@dataclass(frozen=True)
class Check:
    """One comparison of a number in trialkit's results with a published value."""

    stage: str
    key: str | None
    table: str | None
    where: tuple[tuple[str, Any], ...]
    field: str | None
    aggregate: str
    compare: str
    value: float | str | None
    low: float | None
    high: float | None
    abs: float | None
    rel: float | None
    rows: int | None
    published: str
    label: str
    criterion: str = ""  # the comparison in words ("= 0.667 ± 0.0005"), whatever ``published`` says
    analysis: str | None = None  # the analysis' name (``trialkit run`` plans, --name); None: the stage's primary one

    @property
    def source(self) -> str:
        """The analysis whose results the check reads: its name, else the stage's primary analysis."""
        return self.analysis or self.stage

    @property
    def expected(self) -> str:
        """The published value, with the comparison when the file words it differently."""
        if self.criterion and self.criterion != self.published:
            return f"{self.published} ({self.criterion})"
        return self.published

    @property
    def location(self) -> str:
        """Where the number lives, e.g. ``survival.json landmarks [arm=Low dose, time=730.5] .survival``."""
        src = f"{self.source}: {self.stage}.json {self.key}" if self.key else f"{self.source}: {self.table}.parquet"
        if self.analysis is None:
            src = f"{self.stage}.json {self.key}" if self.key else f"{self.stage}/{self.table}.parquet"
        sel = ", ".join(f"{k} {_selector_text(v)}" if _is_op_table(v) else f"{k}={_selector_text(v)}"
                        for k, v in self.where)
        out = src + (f" [{sel}]" if sel else "")
        if self.aggregate not in ("one", "count"):
            out += f" {self.aggregate} of"
        if self.aggregate == "count":
            out += " row count"
        elif self.field:
            out += f" .{self.field}"
        return out


@dataclass(frozen=True)
class Claim:
    """A published claim and the checks that test it."""

    id: str
    text: str
    published: str
    source: str | None
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class ClaimsFile:
    """A parsed claims file."""

    path: str
    title: str | None
    reference: str | None
    claims: tuple[Claim, ...]


@dataclass(frozen=True)
class StageData:
    """What one stage wrote: its JSON object and its Parquet tables by name (file stem)."""

    name: str
    json: Mapping[str, Any] | None
    tables: Mapping[str, pl.DataFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: the number found (as text too) and the verdict with its reason."""

    claim_id: str
    check: Check
    observed: float | str | None
    observed_text: str
    verdict: str
    reason: str


@dataclass(frozen=True)
class ClaimResult:
    """The outcome of a claim: every check's result and the combined verdict."""

    claim: Claim
    verdict: str
    checks: tuple[CheckResult, ...]


# --------------------------------------------------------------------------- parsing
def _fail(where: str, message: str, hint: str | None = None) -> UsageError:
    return UsageError(f"{where}: {message}", hint or "see docs/claims.md for the claims file format")


def _number(value: Any, where: str, name: str, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(where, f"{name} must be a number, not {value!r}")
    if not math.isfinite(value):
        raise _fail(where, f"{name} must be finite, not {value!r}")
    return float(value)


_OP_TEXT = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥", "in": "in", "not_in": "not in"}


def _is_op_table(value: Any) -> bool:
    return isinstance(value, tuple) and bool(value) and all(isinstance(v, tuple) and len(v) == 2 for v in value)


def _selector_text(value: Any) -> str:
    if isinstance(value, dict):
        value = tuple(value.items())
    if _is_op_table(value):
        return " and ".join(f"{_OP_TEXT.get(op, op)} {_selector_text(arg)}" for op, arg in value)
    if isinstance(value, (list, tuple)):
        return "(" + " | ".join(_selector_text(v) for v in value) + ")"
    return format_value(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _check_selector(name: str, value: Any, where: str) -> Any:
    scalar = (str, int, float, bool)
    if isinstance(value, scalar):
        return value
    if isinstance(value, list) and value and all(isinstance(v, scalar) for v in value):
        return tuple(value)
    if isinstance(value, dict) and value:
        out = {}
        for op, arg in value.items():
            if op not in SELECTOR_OPS:
                raise _fail(where, f"where.{name} uses unknown operator {op!r}", f"use one of {', '.join(SELECTOR_OPS)}")
            if op in ("in", "not_in"):
                if not isinstance(arg, list) or not all(isinstance(v, scalar) for v in arg):
                    raise _fail(where, f"where.{name}.{op} must be a list of values")
                arg = tuple(arg)
            elif op in ("lt", "le", "gt", "ge"):
                arg = _number(arg, where, f"where.{name}.{op}", allow_none=False)
            elif not isinstance(arg, scalar):
                raise _fail(where, f"where.{name}.{op} must be a single value")
            out[op] = arg
        return tuple(sorted(out.items()))
    raise _fail(where, f"where.{name} must be a value, a non-empty list of values, or a table of operators "
                       f"({', '.join(SELECTOR_OPS)}), not {value!r}")


def _plain(x: float) -> str:
    """A tolerance in positional notation: 5e-05 -> "0.00005"."""
    return format(Decimal(repr(float(x))).normalize(), "f")


def _default_published(compare: str, value: Any, low: float | None, high: float | None,
                       abs_: float | None, rel: float | None) -> str:
    if compare == "between":
        return f"between {format_value(low)} and {format_value(high)}"
    v = format_value(value) if not isinstance(value, str) else value
    if compare == "equal":
        tol = [f"± {_plain(abs_)}" if abs_ is not None else None,
               f"± {_plain(rel * 100)}%" if rel is not None else None]
        tol = [t for t in tol if t]
        return f"= {v}" + (f" {' or '.join(tol)}" if tol else "")
    return {"less": "< ", "greater": "> ", "at_most": "≤ ", "at_least": "≥ "}[compare] + v


def _parse_check(raw: Any, where: str) -> Check:
    if not isinstance(raw, dict):
        raise _fail(where, "a check must be a table ([[claims.checks]])")
    unknown = sorted(set(raw) - _CHECK_KEYS)
    if unknown:
        raise _fail(where, f"unknown field(s) {', '.join(unknown)}", f"a check's fields are {', '.join(sorted(_CHECK_KEYS))}")
    stage = raw.get("stage")
    if stage not in STAGES:
        raise _fail(where, f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
    analysis = raw.get("analysis")
    if analysis is not None and (not isinstance(analysis, str) or not analysis.strip()):
        raise _fail(where, "analysis must be the name of an analysis (e.g. \"survival-female\")")
    key, table = raw.get("key"), raw.get("table")
    if (key is None) == (table is None):
        raise _fail(where, "give exactly one of key (a key of the stage's JSON) or table (a Parquet file of the stage)")
    for name, v in (("key", key), ("table", table)):
        if v is not None and (not isinstance(v, str) or not v.strip()):
            raise _fail(where, f"{name} must be a non-empty string")
    where_raw = raw.get("where", {})
    if not isinstance(where_raw, dict):
        raise _fail(where, "where must be a table of selectors, e.g. where = { arm = \"Low dose\", time = 730.5 }")
    selectors = tuple((str(k), _check_selector(str(k), v, where)) for k, v in where_raw.items())
    aggregate = raw.get("aggregate", "one")
    if aggregate not in AGGREGATES:
        raise _fail(where, f"aggregate must be one of {', '.join(AGGREGATES)}, not {aggregate!r}")
    fld = raw.get("field")
    if aggregate == "count":
        if fld is not None:
            raise _fail(where, "aggregate = \"count\" counts rows: drop field")
    elif not isinstance(fld, str) or not fld:
        raise _fail(where, "field (the column holding the number) is required unless aggregate = \"count\"")
    compare = raw.get("compare")
    if compare not in COMPARISONS:
        raise _fail(where, f"compare must be one of {', '.join(COMPARISONS)}, not {compare!r}")
    value, low, high = raw.get("value"), raw.get("low"), raw.get("high")
    if compare == "between":
        if isinstance(value, list) and len(value) == 2 and low is None and high is None:
            low, high = value
            value = None
        if value is not None:
            raise _fail(where, "compare = \"between\" takes low and high (or value = [low, high]), not value")
        low = _number(low, where, "low", allow_none=False)
        high = _number(high, where, "high", allow_none=False)
        if low > high:
            raise _fail(where, f"low ({format_value(low)}) is above high ({format_value(high)})")
    else:
        if low is not None or high is not None:
            raise _fail(where, f"low and high belong to compare = \"between\", not {compare!r}")
        if value is None:
            raise _fail(where, f"value (the published number) is required for compare = {compare!r}")
        if isinstance(value, str):
            if compare != "equal":
                raise _fail(where, f"a text value can only be compared with compare = \"equal\", not {compare!r}")
        else:
            value = _number(value, where, "value", allow_none=False)
    abs_ = _number(raw.get("abs"), where, "abs")
    rel = _number(raw.get("rel"), where, "rel")
    if (abs_ is not None or rel is not None) and compare != "equal":
        raise _fail(where, "abs and rel (tolerances) belong to compare = \"equal\"")
    if (abs_ is not None and abs_ < 0) or (rel is not None and rel < 0):
        raise _fail(where, "abs and rel must not be negative")
    rows = raw.get("rows")
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 1):
        raise _fail(where, f"rows (the number of rows the selectors must match) must be a positive integer, not {rows!r}")
    criterion = _default_published(compare, value, low, high, abs_, rel)
    published = raw.get("published") or criterion
    label = raw.get("label") or ""
    for name, v in (("published", published), ("label", label)):
        if not isinstance(v, str):
            raise _fail(where, f"{name} must be text")
    return Check(stage, key, table, selectors, fld, aggregate, compare, value, low, high, abs_, rel, rows,
                 published, label, criterion, analysis)


def parse_claims(text: str, source: str) -> ClaimsFile:
    """Parse and validate a claims file's TOML text; ``source`` names the file in messages."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"claims file {source} is not valid TOML ({exc})", "fix the syntax; see docs/claims.md") from exc
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise _fail(f"claims file {source}", f"unknown top-level key(s) {', '.join(unknown)}",
                    "top-level keys are title, reference and [[claims]]")
    raw_claims = doc.get("claims")
    if not isinstance(raw_claims, list) or not raw_claims:
        raise _fail(f"claims file {source}", "no [[claims]] table: the file lists no claim")
    claims, seen = [], set()
    for i, raw in enumerate(raw_claims, start=1):
        cid = str(raw.get("id", "")).strip() if isinstance(raw, dict) else ""
        where = f"claims file {source}, claim {cid!r}" if cid else f"claims file {source}, claim #{i}"
        if not cid:
            raise _fail(where, "id is required")
        if cid in seen:
            raise _fail(where, "id is used by an earlier claim; ids must be unique")
        seen.add(cid)
        unknown = sorted(set(raw) - _CLAIM_KEYS)
        if unknown:
            raise _fail(where, f"unknown field(s) {', '.join(unknown)}", f"a claim's fields are {', '.join(sorted(_CLAIM_KEYS))}")
        text_ = raw.get("text")
        if not isinstance(text_, str) or not text_.strip():
            raise _fail(where, "text (the claim as published) is required")
        checks_raw = raw.get("checks")
        if not isinstance(checks_raw, list) or not checks_raw:
            raise _fail(where, "no [[claims.checks]]: a claim needs at least one check")
        checks = tuple(_parse_check(c, f"{where}, check {j}") for j, c in enumerate(checks_raw, start=1))
        published = raw.get("published") or "; ".join(c.published for c in checks)
        src = raw.get("source")
        for name, v in (("published", published), ("source", src if src is not None else "")):
            if not isinstance(v, str):
                raise _fail(where, f"{name} must be text")
        claims.append(Claim(cid, text_.strip(), published, src, checks))
    for name in ("title", "reference"):
        if doc.get(name) is not None and not isinstance(doc[name], str):
            raise _fail(f"claims file {source}", f"{name} must be text")
    return ClaimsFile(source, doc.get("title"), doc.get("reference"), tuple(claims))


# --------------------------------------------------------------------------- evaluation
def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _scalar_match(actual: Any, wanted: Any) -> bool:
    if actual is None:
        return False
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return actual is wanted if isinstance(actual, bool) and isinstance(wanted, bool) else False
    if _is_number(wanted):
        return _is_number(actual) and math.isclose(float(actual), float(wanted), rel_tol=_SELECTOR_REL, abs_tol=1e-12)
    return isinstance(actual, str) and actual.strip().casefold() == str(wanted).strip().casefold()


def _op_match(actual: Any, op: str, arg: Any) -> bool:
    if op == "eq":
        return _scalar_match(actual, arg)
    if op == "ne":
        return actual is not None and not _scalar_match(actual, arg)
    if op == "in":
        return any(_scalar_match(actual, a) for a in arg)
    if op == "not_in":
        return actual is not None and not any(_scalar_match(actual, a) for a in arg)
    if not _is_number(actual) or (isinstance(actual, float) and math.isnan(actual)):
        return False
    a = float(actual)
    return {"lt": a < arg, "le": a <= arg, "gt": a > arg, "ge": a >= arg}[op]


def _matches(actual: Any, selector: Any) -> bool:
    if _is_op_table(selector):  # operator table
        return all(_op_match(actual, op, arg) for op, arg in selector)
    if isinstance(selector, tuple):  # list of alternatives
        return any(_scalar_match(actual, s) for s in selector)
    return _scalar_match(actual, selector)


def _rows_for(check: Check, stages: Mapping[str, StageData]) -> tuple[list[dict] | None, str]:
    """The candidate rows and a name for them, or None and the reason they cannot be had."""
    data = stages.get(check.source)
    run = f"run `{STAGES[check.stage]}`" + (f" --name {check.analysis} (or its plan)" if check.analysis else "")
    if data is None:
        what = f"analysis {check.analysis}" if check.analysis else f"the {check.stage} stage"
        return None, f"{what} has not run ({run})"
    if data.name != check.stage:
        return None, f"analysis {check.source} is a {data.name} analysis, not a {check.stage} one"
    if check.table is not None:
        frame = data.tables.get(check.table)
        if frame is None:
            have = ", ".join(sorted(data.tables)) or "none"
            return None, f"{check.stage}/ has no table {check.table}.parquet (tables: {have})"
        return frame.to_dicts(), f"{check.stage}/{check.table}.parquet"
    if data.json is None:
        return None, f"{check.stage}/{check.stage}.json is absent ({run})"
    node: Any = data.json
    for part in check.key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            have = (", ".join(sorted(node)) or "none") if isinstance(node, Mapping) else type(node).__name__
            return None, f"{check.stage}.json has no key {check.key!r} (keys: {have})"
        node = node[part]
    name = f"{check.stage}.json {check.key}"
    if node is None:
        return None, f"{name} is null"
    if isinstance(node, Mapping):
        return [dict(node)], name
    if isinstance(node, list):
        if not all(isinstance(r, Mapping) for r in node):
            return None, f"{name} is a list of values, not of rows"
        return [dict(r) for r in node], name
    return [{"value": node}], name


def _select(rows: list[dict], check: Check, name: str) -> tuple[list[dict], str | None]:
    """The rows matching every selector, and why none do (None when the fields exist and rows matched)."""
    for column, selector in check.where:
        if rows and not any(column in r for r in rows):
            return [], f"rows of {name} have no field {column!r} (fields: {', '.join(sorted(rows[0]))})"
        kept = [r for r in rows if _matches(r.get(column), selector)]
        if not kept:
            seen = sorted({format_value(r.get(column)) for r in rows}, key=str)
            listed = ", ".join(seen[:12]) + (", ..." if len(seen) > 12 else "")
            return [], f"no row of {name} has {column}={_selector_text(selector)} (values there: {listed or 'none'})"
        rows = kept
    return rows, None if rows else f"{name} has no rows"


def _holds(check: Check, x: Any) -> bool:
    if isinstance(check.value, str):
        return isinstance(x, str) and x.strip().casefold() == check.value.strip().casefold()
    x = float(x)
    if check.compare == "equal":
        tol = max(check.abs or 0.0, (check.rel or 0.0) * abs(check.value))
        return abs(x - check.value) <= tol
    if check.compare == "between":
        return check.low <= x <= check.high
    return {"less": x < check.value, "greater": x > check.value,
            "at_most": x <= check.value, "at_least": x >= check.value}[check.compare]


def _usable_value(v: Any, check: Check) -> bool:
    if isinstance(check.value, str):
        return isinstance(v, str)
    return _is_number(v) and not math.isnan(float(v))


def evaluate_check(claim_id: str, check: Check, stages: Mapping[str, StageData]) -> CheckResult:
    """Find the check's number in the stage results and compare it with the published value."""

    def result(observed, text, verdict, reason=""):
        return CheckResult(claim_id, check, observed, text, verdict, reason)

    rows, name = _rows_for(check, stages)
    if rows is None:
        return result(None, "not available", NOT_EVALUABLE, name)
    selected, why = _select(rows, check, name)
    if check.aggregate == "count":
        if why is not None and why.startswith("rows of"):  # a selector names a field the rows lack
            return result(None, "not available", NOT_EVALUABLE, why)
        n = len(selected)
        ok = _holds(check, n)
        return result(n, f"{n} row(s)", REPRODUCED if ok else NOT_REPRODUCED,
                      "" if ok else f"{n} row(s) of {name} match; published {check.expected}")
    if why is not None:
        return result(None, "not available", NOT_EVALUABLE, why)
    if check.rows is not None and len(selected) != check.rows:
        return result(None, "not available", NOT_EVALUABLE,
                      f"{len(selected)} row(s) of {name} match the selectors; the claim expects {check.rows}")
    if check.aggregate == "one" and len(selected) > 1:
        return result(None, "not available", NOT_EVALUABLE,
                      f"{len(selected)} rows of {name} match the selectors; add selectors until one row matches "
                      f"(or set aggregate)")
    if any(check.field not in r for r in selected):
        return result(None, "not available", NOT_EVALUABLE,
                      f"rows of {name} have no field {check.field!r} (fields: {', '.join(sorted(selected[0]))})")
    values = [r[check.field] for r in selected]
    unusable = [v for v in values if not _usable_value(v, check)]
    if unusable:
        return result(None, "not available", NOT_EVALUABLE,
                      f"{check.field} is {'missing' if unusable[0] is None else format_value(unusable[0])} in {len(unusable)} of {len(values)} matching row(s) of {name}")
    if check.aggregate in ("one", "sum", "min", "max"):
        x = values[0] if check.aggregate == "one" else {"sum": sum, "min": min, "max": max}[check.aggregate](values)
        text = format_value(x)
        ok = _holds(check, x)
        return result(x, text, REPRODUCED if ok else NOT_REPRODUCED,
                      "" if ok else f"{check.field} = {text}; published {check.expected}")
    # aggregate == "all": every matching row must satisfy the comparison
    failing = [(r, v) for r, v in zip(selected, values) if not _holds(check, v)]
    text = ", ".join(format_value(v) for v in values)
    if not failing:
        return result(None, text, REPRODUCED)
    r, v = failing[0]
    which = ", ".join(f"{k}={format_value(r.get(k))}" for k, _ in check.where) or "row"
    return result(None, text, NOT_REPRODUCED,
                  f"{len(failing)} of {len(values)} row(s) fail: {check.field} = {format_value(v)} at {which}; "
                  f"published {check.expected}")


def _combine(verdicts: list[str]) -> str:
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED
    if NOT_EVALUABLE in verdicts:
        return NOT_EVALUABLE
    return REPRODUCED


def evaluate_claims(claims: ClaimsFile, stages: Mapping[str, StageData]) -> tuple[ClaimResult, ...]:
    """Every claim's checks evaluated against the stage results, in file order."""
    out = []
    for claim in claims.claims:
        checks = tuple(evaluate_check(claim.id, c, stages) for c in claim.checks)
        out.append(ClaimResult(claim, _combine([c.verdict for c in checks]), checks))
    return tuple(out)


def claims_table(results: tuple[ClaimResult, ...]) -> pl.DataFrame:
    """One row per check: claim, claim_text, check, location, published, reanalysis, verdict, reason, claim_verdict."""
    rows = [
        {
            "claim": r.claim.id,
            "claim_text": r.claim.text,
            "check": j,
            "label": c.check.label,
            "location": c.check.location,
            "published": c.check.published,
            "reanalysis": c.observed_text,
            "verdict": c.verdict,
            "reason": c.reason,
            "claim_verdict": r.verdict,
        }
        for r in results
        for j, c in enumerate(r.checks, start=1)
    ]
    schema = {"claim": pl.String, "claim_text": pl.String, "check": pl.Int64, "label": pl.String,
              "location": pl.String, "published": pl.String, "reanalysis": pl.String, "verdict": pl.String,
              "reason": pl.String, "claim_verdict": pl.String}
    return pl.DataFrame(rows, schema=schema)


def all_reproduced(results: tuple[ClaimResult, ...]) -> bool:
    """True when every claim is reproduced: what ``--check`` gates on (not evaluable fails the gate too)."""
    return all(r.verdict == REPRODUCED for r in results)
