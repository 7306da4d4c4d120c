"""Claims: a publication's statements, checked against trialkit's results.

A claims file (TOML, format in ``docs/claims.md``) lists claims; each claim
has one or more checks. A check names where its number lives (a stage, a key
of the stage's JSON or one of its Parquet tables, row selectors and a field),
how to reduce the matching rows to a number (``aggregate``) and how that
number must compare with the published value. Verdicts:

- ``reproduced``: the comparison holds;
- ``reproduced by construction``: the comparison holds on SYNTHETIC data
  (``evaluate_claims(..., synthetic=True)``), data generated until the claims
  hold: it shows that trialkit computes the published statistics correctly from
  data with the published features, not that the trial's patients had them;
- ``not reproduced``: the number was found and the comparison fails (on
  synthetic data, a bug in the generator or in trialkit);
- ``not evaluable``: the number cannot be found (stage not run, key or row
  absent, value missing), with the reason.

A claim is reproduced when every check is; not reproduced when any check is
not reproduced; otherwise not evaluable.

Two-sided checks (``docs/claims.md``): ``compare = "from"`` (significant from a
visit on and not before), ``compare = "trend"`` (a monotone trend over visits,
Spearman, ``analyses.trend``) and ``compare = "equivalent"`` (a difference
excluded within a stated margin: a confidence interval inside the margin, or
for the biomarkers model's group x visit interaction the noncentral-F test of
``analyses.power.interaction_excluded_p``). A check's ``power`` table reports
the power the comparison had for a stated effect (``analyses.power``) beside
the verdict; it does not change the verdict.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

import polars as pl

from trialkit.schemas.errors import DataError, UsageError
from trialkit.analyses.formatting import format_p, format_value

__all__ = [
    "REPRODUCED",
    "REPRODUCED_BY_CONSTRUCTION",
    "PASSING",
    "NOT_REPRODUCED",
    "NOT_EVALUABLE",
    "STAGES",
    "COMPARISONS",
    "AGGREGATES",
    "PowerSpec",
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
REPRODUCED_BY_CONSTRUCTION = "reproduced by construction"
NOT_REPRODUCED = "not reproduced"
NOT_EVALUABLE = "not evaluable"
#: the verdicts ``--check`` passes
PASSING = (REPRODUCED, REPRODUCED_BY_CONSTRUCTION)
#: appended to a failing check's reason on synthetic data
SYNTHETIC_FAILURE = ("the data are synthetic, generated until the claims hold: a failure here points at a bug in "
                     "the generator (or in trialkit), not at the paper")

#: stage name -> the command that produces it (claims may only point at these)
STAGES = {"survival": "trialkit survival", "biomarkers": "trialkit biomarkers", "safety": "trialkit safety"}
COMPARISONS = ("equal", "less", "greater", "at_most", "at_least", "between", "from", "trend", "equivalent")
DIRECTIONS = ("increasing", "decreasing")
SCALES = ("ratio", "difference", "interaction")
AGGREGATES = ("one", "all", "count", "sum", "min", "max")
SELECTOR_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in")
_CHECK_KEYS = {"stage", "analysis", "key", "table", "where", "field", "aggregate", "compare", "value", "low", "high",
               "abs", "rel", "rows", "published", "label", "by", "from", "effect_field", "direction", "margin", "ci",
               "scale", "power"}
_POWER_KEYS = {"effect", "sims", "seed", "alpha"}
_CLAIM_KEYS = {"id", "text", "published", "source", "checks"}
_TOP_KEYS = {"title", "reference", "claims"}
_SELECTOR_REL = 1e-9  # numeric selectors match within this relative tolerance


@dataclass(frozen=True)
class PowerSpec:
    """``power = { effect, sims, seed, alpha }``: the power the comparison had for ``effect`` (an HR for the
    log-rank test, a difference in the parameter's units for the biomarkers interaction)."""

    effect: float
    sims: int = 0
    seed: int = 1
    alpha: float = 0.05


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
    by: str = "visitn"  # from / trend: the column ordering the visits
    start: float | None = None  # from: the first visit (in ``by``) where the change must be significant
    effect_field: str | None = None  # from: the column whose sign must follow ``direction`` from ``start`` on
    direction: str | None = None  # from / trend: increasing | decreasing
    margin: float | None = None  # equivalent: the margin (ratio > 1, or a difference > 0, or an interaction size)
    ci: tuple[str, str] | None = None  # equivalent, ratio / difference: the CI's lower and upper fields
    scale: str | None = None  # equivalent: ratio | difference | interaction
    power: PowerSpec | None = None

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
    power: Any = None  # an ``analyses.power.PowerResult`` when the check asks for power and it could be computed
    power_text: str = ""  # the power in words, or why it could not be computed ("" without ``power``)


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
    extra = _parse_extra(raw, where, compare, fld)
    if compare in ("from", "trend", "equivalent"):
        for name in ("low", "high", "abs", "rel"):
            if raw.get(name) is not None:
                raise _fail(where, f"{name} does not belong to compare = {compare!r}")
        if aggregate not in ("one", "all") or (compare == "equivalent" and aggregate != "one"):
            raise _fail(where, f"compare = {compare!r} sets its own aggregate: drop aggregate = {aggregate!r}")
        alpha = _number(raw.get("value", 0.05), where, "value (the significance level)", allow_none=False)
        if not 0 < alpha < 1:
            raise _fail(where, f"value (the significance level) must lie between 0 and 1, not {format_value(alpha)}")
        rows = raw.get("rows")
        if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 1):
            raise _fail(where, f"rows must be a positive integer, not {rows!r}")
        criterion = _two_sided_text(compare, alpha, extra, fld)
        published = raw.get("published") or criterion
        label = raw.get("label") or ""
        for name, v in (("published", published), ("label", label)):
            if not isinstance(v, str):
                raise _fail(where, f"{name} must be text")
        return Check(stage, key, table, selectors, fld, "all" if compare != "equivalent" else "one", compare, alpha,
                     None, None, None, None, rows, published, label, criterion, analysis, **extra)
    for name in ("by", "from", "effect_field", "direction", "margin", "ci", "scale"):
        if raw.get(name) is not None:
            raise _fail(where, f"{name} belongs to compare = \"from\", \"trend\" or \"equivalent\", not {compare!r}")
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
                 published, label, criterion, analysis, power=extra["power"])


def _text_field(raw: Mapping, name: str, where: str, default: str | None = None) -> str | None:
    v = raw.get(name, default)
    if v is not None and (not isinstance(v, str) or not v.strip()):
        raise _fail(where, f"{name} must be a column name")
    return v


def _parse_power(raw: Any, where: str) -> PowerSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _fail(where, "power must be a table, e.g. power = { effect = 0.5, sims = 500, seed = 1 }")
    unknown = sorted(set(raw) - _POWER_KEYS)
    if unknown:
        raise _fail(where, f"power has unknown field(s) {', '.join(unknown)}", "power's fields are effect, sims, seed, alpha")
    effect = _number(raw.get("effect"), where, "power.effect", allow_none=False)
    alpha = _number(raw.get("alpha", 0.05), where, "power.alpha", allow_none=False)
    if not 0 < alpha < 1:
        raise _fail(where, f"power.alpha must lie between 0 and 1, not {format_value(alpha)}")
    ints = {}
    for name, default, low in (("sims", 0, 0), ("seed", 1, 0)):
        v = raw.get(name, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < low or v > 100_000:
            raise _fail(where, f"power.{name} must be a whole number from {low} to 100000, not {v!r}")
        ints[name] = v
    return PowerSpec(effect, ints["sims"], ints["seed"], alpha)


def _parse_extra(raw: Mapping, where: str, compare: str, fld: str | None) -> dict:
    """The fields of the two-sided comparisons and of power, checked."""
    out: dict[str, Any] = {"power": _parse_power(raw.get("power"), where)}
    if compare not in ("from", "trend", "equivalent"):
        return out
    if fld is None:
        raise _fail(where, f"compare = {compare!r} needs field")
    direction = raw.get("direction")
    if compare in ("from", "trend"):
        out["by"] = _text_field(raw, "by", where, "visitn")
        if direction is not None and direction not in DIRECTIONS:
            raise _fail(where, f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
        out["direction"] = direction
    if compare == "trend" and direction is None:
        raise _fail(where, "compare = \"trend\" needs direction = \"decreasing\" or \"increasing\"")
    if compare == "from":
        out["start"] = _number(raw.get("from"), where, "from (the first visit of the change)", allow_none=False)
        out["effect_field"] = _text_field(raw, "effect_field", where)
        if (out["effect_field"] is None) != (direction is None):
            raise _fail(where, "effect_field and direction go together: the column whose sign is checked, and the sign")
    if compare == "equivalent":
        scale = raw.get("scale")
        if scale not in SCALES:
            raise _fail(where, f"scale must be one of {', '.join(SCALES)}, not {scale!r}")
        margin = _number(raw.get("margin"), where, "margin", allow_none=False)
        if (scale == "ratio" and margin <= 1) or margin <= 0:
            raise _fail(where, f"margin must be {'above 1' if scale == 'ratio' else 'positive'}, not {format_value(margin)}")
        ci = raw.get("ci")
        if scale == "interaction":
            if ci is not None:
                raise _fail(where, "scale = \"interaction\" takes no ci: the F test's own numbers are used")
        elif not (isinstance(ci, list) and len(ci) == 2 and all(isinstance(c, str) and c for c in ci)):
            raise _fail(where, "ci must name the interval's two fields, e.g. ci = [\"lower\", \"upper\"]")
        out |= {"scale": scale, "margin": margin, "ci": tuple(ci) if ci else None}
    allowed = {"from": {"by", "from", "effect_field", "direction"}, "trend": {"by", "direction"},
               "equivalent": {"margin", "ci", "scale"}}[compare]
    stray = sorted(n for n in ("by", "from", "effect_field", "direction", "margin", "ci", "scale")
                   if raw.get(n) is not None and n not in allowed)
    if stray:
        raise _fail(where, f"{', '.join(stray)} do(es) not belong to compare = {compare!r}")
    return out


def _margin_text(scale: str, margin: float) -> str:
    if scale == "ratio":
        return f"{format_value(1 / margin)} to {format_value(margin)}"
    return f"-{format_value(margin)} to {format_value(margin)}"


def _two_sided_text(compare: str, alpha: float, extra: Mapping, fld: str) -> str:
    a = format_value(alpha)
    if compare == "from":
        sign = ""
        if extra.get("effect_field"):
            sign = f", {extra['effect_field']} {'> 0' if extra['direction'] == 'increasing' else '< 0'}"
        return (f"{fld} < {a}{sign} at every {extra['by']} ≥ {format_value(extra['start'])}; "
                f"{fld} ≥ {a} at every {extra['by']} before")
    if compare == "trend":
        return f"{fld} {extra['direction']} over {extra['by']} (Spearman, one-sided p < {a})"
    if extra["scale"] == "interaction":
        return (f"an interaction of {format_value(extra['margin'])} (last vs first group at the last visit) "
                f"excluded: P(F ≤ F observed) < {a}")
    return f"CI within {_margin_text(extra['scale'], extra['margin'])}"


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
    """Find the check's number in the stage results and compare it with the published value; with ``power``,
    the power of the comparison for the stated effect beside it."""
    from dataclasses import replace

    if check.compare in ("from", "trend", "equivalent"):
        res = _evaluate_two_sided(claim_id, check, stages)
    else:
        res = _evaluate_plain(claim_id, check, stages)
    if check.power is None:
        return res
    power, text = _power(check, stages)
    return replace(res, power=power, power_text=text)


def _evaluate_plain(claim_id: str, check: Check, stages: Mapping[str, StageData]) -> CheckResult:

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
    return REPRODUCED_BY_CONSTRUCTION if REPRODUCED_BY_CONSTRUCTION in verdicts else REPRODUCED


def _on_synthetic(res: CheckResult) -> CheckResult:
    """A check's result on synthetic data: a pass is by construction; a failure points at the generator."""
    from dataclasses import replace

    if res.verdict == REPRODUCED:
        return replace(res, verdict=REPRODUCED_BY_CONSTRUCTION)
    if res.verdict == NOT_REPRODUCED:
        return replace(res, reason=f"{res.reason}; {SYNTHETIC_FAILURE}" if res.reason else SYNTHETIC_FAILURE)
    return res


def evaluate_claims(claims: ClaimsFile, stages: Mapping[str, StageData], synthetic: bool = False
                    ) -> tuple[ClaimResult, ...]:
    """Every claim's checks evaluated against the stage results, in file order.

    ``synthetic``: the data were generated to have the published features (the built-in trial, a STUDYID
    containing SYNTHETIC): a check that holds is ``reproduced by construction``, and a check that fails
    says that it points at the generator."""
    out = []
    for claim in claims.claims:
        checks = tuple(evaluate_check(claim.id, c, stages) for c in claim.checks)
        if synthetic:
            checks = tuple(_on_synthetic(c) for c in checks)
        out.append(ClaimResult(claim, _combine([c.verdict for c in checks]), checks))
    return tuple(out)


# --------------------------------------------------------------------------- two-sided checks
def _numbers(rows: list[dict], fields: list[str], name: str) -> str | None:
    """Why the rows cannot be used (a field absent or not a number), or None."""
    for f in fields:
        if any(f not in r for r in rows):
            return f"rows of {name} have no field {f!r} (fields: {', '.join(sorted(rows[0]))})"
        bad = [r[f] for r in rows if not _is_number(r[f]) or math.isnan(float(r[f]))]
        if bad:
            return f"{f} is {'missing' if bad[0] is None else format_value(bad[0])} in {len(bad)} of {len(rows)} matching row(s) of {name}"
    return None


def _evaluate_two_sided(claim_id: str, check: Check, stages: Mapping[str, StageData]) -> CheckResult:
    def result(observed, text, verdict, reason=""):
        return CheckResult(claim_id, check, observed, text, verdict, reason)

    rows, name = _rows_for(check, stages)
    if rows is None:
        return result(None, "not available", NOT_EVALUABLE, name)
    selected, why = _select(rows, check, name)
    if why is not None:
        return result(None, "not available", NOT_EVALUABLE, why)
    if check.rows is not None and len(selected) != check.rows:
        return result(None, "not available", NOT_EVALUABLE,
                      f"{len(selected)} row(s) of {name} match the selectors; the claim expects {check.rows}")
    if check.compare == "equivalent":
        if len(selected) > 1:
            return result(None, "not available", NOT_EVALUABLE,
                          f"{len(selected)} rows of {name} match the selectors; add selectors until one row matches")
        if check.scale == "interaction":
            return result(*_interaction_equivalence(check, selected[0], name, stages))
        return result(*_ci_equivalence(check, selected[0], name))
    fields = [check.by, check.field] + ([check.effect_field] if check.effect_field else [])
    why = _numbers(selected, fields, name)
    if why is not None:
        return result(None, "not available", NOT_EVALUABLE, why)
    selected = sorted(selected, key=lambda r: float(r[check.by]))
    alpha = check.value
    text = ", ".join(f"{format_value(r[check.by])}: {format_p(r[check.field])}" for r in selected)
    if check.compare == "trend":
        return result(*_trend(check, selected, name))
    after = [r for r in selected if float(r[check.by]) >= check.start]
    if not after:
        return result(None, text, NOT_EVALUABLE, f"no row of {name} has {check.by} ≥ {format_value(check.start)}")
    for r in selected:
        at = f"{check.by} {format_value(r[check.by])}"
        p = float(r[check.field])
        if float(r[check.by]) < check.start:
            if p < alpha:
                return result(None, text, NOT_REPRODUCED,
                              f"first fails at {at}: {check.field} = {format_p(p)} < {format_value(alpha)} before "
                              f"{format_value(check.start)} (the change is significant earlier than published)")
            continue
        if p >= alpha:
            return result(None, text, NOT_REPRODUCED,
                          f"first fails at {at}: {check.field} = {format_p(p)} ≥ {format_value(alpha)}")
        if check.effect_field:
            e = float(r[check.effect_field])
            if (e <= 0) if check.direction == "increasing" else (e >= 0):
                return result(None, text, NOT_REPRODUCED,
                              f"first fails at {at}: {check.effect_field} = {format_value(e)}, not "
                              f"{'above' if check.direction == 'increasing' else 'below'} 0")
    return result(None, text, REPRODUCED)


def _trend(check: Check, rows: list[dict], name: str) -> tuple:
    from trialkit.analyses.trend import monotone_trend

    frame = pl.DataFrame({"by": [float(r[check.by]) for r in rows], "v": [float(r[check.field]) for r in rows]})
    try:
        t = monotone_trend(frame, "by", "v", check.direction)
    except DataError as exc:
        return None, "not available", NOT_EVALUABLE, f"{name}: {exc.message}"
    how = "exact" if t.exact else "t approximation"
    text = (f"rho = {t.rho:.3f}, one-sided p = {format_p(t.p)} ({how}; {t.n} visits, "
            f"{t.reversals} step(s) against the trend)")
    if t.p < check.value:
        return t.p, text, REPRODUCED, ""
    return t.p, text, NOT_REPRODUCED, (f"{check.field} over {check.by}: one-sided p = {format_p(t.p)} ≥ "
                                       f"{format_value(check.value)} (Spearman rho = {t.rho:.3f})")


def _ci_equivalence(check: Check, row: dict, name: str) -> tuple:
    lo_f, hi_f = check.ci
    why = _numbers([row], [check.field, lo_f, hi_f], name)
    if why is not None:
        return None, "not available", NOT_EVALUABLE, why
    est, lo, hi = float(row[check.field]), float(row[lo_f]), float(row[hi_f])
    m = check.margin
    low, high, null = (1 / m, m, 1.0) if check.scale == "ratio" else (-m, m, 0.0)
    text = f"{format_value(est)} (CI {format_value(lo)} to {format_value(hi)})"
    bounds = _margin_text(check.scale, m)
    if low <= lo and hi <= high:
        smaller = "" if lo <= null <= hi else f" (it excludes {format_value(null)}: a difference smaller than the margin)"
        return est, text, REPRODUCED, f"no difference shown within margin: the CI lies inside {bounds}{smaller}"
    if lo <= null <= hi:
        return est, text, NOT_REPRODUCED, (f"not significant, but the data cannot exclude a difference of the stated "
                                           f"size: the CI reaches beyond {bounds}")
    return est, text, NOT_REPRODUCED, f"a difference was found: the CI excludes {format_value(null)}"


def _stage_rows(data: StageData, name: str) -> list[dict]:
    if name in data.tables:
        return data.tables[name].to_dicts()
    rows = (data.json or {}).get(name)
    return [dict(r) for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []


def _group_sizes(data: StageData, param: Any) -> tuple[int, ...]:
    """Subjects per group with a change from baseline: the largest n of each group's within-group rows."""
    sizes: dict[str, int] = {}
    for r in _stage_rows(data, "within"):
        if r.get("param") == param and r.get("arm") not in (None, "All") and _is_number(r.get("n")):
            sizes[r["arm"]] = max(sizes.get(r["arm"], 0), int(r["n"]))
    return tuple(sizes.values())


def _interaction_inputs(check: Check, row: dict, stages: Mapping[str, StageData]) -> tuple[dict | None, str]:
    """The F test's numbers and the design (group sizes, visits, residual SD) of a biomarkers model row."""
    need = ["interaction_f", "interaction_df1", "interaction_df2", "interaction_p", "sigma", "sd_subject", "n_visits"]
    why = _numbers([row], need, f"{check.stage} models")
    if why is not None:
        return None, why
    sizes = _group_sizes(stages[check.source], row.get("param"))
    if len(sizes) < 2:
        return None, f"the within-group rows of {row.get('param')} name fewer than two groups: no group sizes"
    return {k: float(row[k]) for k in need} | {"sizes": sizes, "visits": int(row["n_visits"])}, ""


def _interaction_equivalence(check: Check, row: dict, name: str, stages: Mapping[str, StageData]) -> tuple:
    from trialkit.analyses.power import interaction_excluded_p

    x, why = _interaction_inputs(check, row, stages)
    if x is None:
        return None, "not available", NOT_EVALUABLE, why
    if x["visits"] < 2:
        return None, "not available", NOT_EVALUABLE, "one visit: no interaction to test"
    q = interaction_excluded_p(x["interaction_f"], x["interaction_df1"], x["interaction_df2"], check.margin,
                               x["sizes"], x["visits"], x["sigma"])
    m, a = format_value(check.margin), format_value(check.value)
    text = (f"F({format_value(x['interaction_df1'])}, {format_value(x['interaction_df2'])}) = "
            f"{format_value(x['interaction_f'])}, p = {format_p(x['interaction_p'])}; "
            f"P(F ≤ F obs | interaction {m}) = {format_p(q)}")
    if q < check.value:
        return q, text, REPRODUCED, f"no interaction of {m} or more: excluded at {a} (equivalence-style noncentral F)"
    if x["interaction_p"] >= check.value:
        return q, text, NOT_REPRODUCED, (f"not significant (p = {format_p(x['interaction_p'])}), but the data cannot "
                                         f"exclude an interaction of the stated size ({m})")
    return q, text, NOT_REPRODUCED, f"an interaction was found (p = {format_p(x['interaction_p'])} < {a})"


# --------------------------------------------------------------------------- power
def _survival_subjects(data: StageData) -> tuple[Any, Any, Any, tuple[str, ...]] | str:
    """(group codes, times, events, arms) rebuilt from the Kaplan-Meier table (every event and censoring time
    with its count), or why they cannot be."""
    import numpy as np

    km, arms = data.tables.get("km"), data.tables.get("arms")
    if km is None or arms is None:
        return "survival/ has no km or arms table (run `trialkit survival`)"
    if not {"arm", "time", "n_event", "n_censor"} <= set(km.columns) or not {"arm", "n"} <= set(arms.columns):
        return "survival/km.parquet or arms.parquet lacks arm, time, n_event, n_censor or n"
    names = tuple(arms["arm"].to_list())
    code = {a: i for i, a in enumerate(names)}
    k = km.filter(pl.col("arm").is_in(list(names)))
    reps = (k["n_event"] + k["n_censor"]).to_numpy().astype(np.int64)
    counted = dict(zip(*np.unique(np.repeat(k["arm"].to_numpy(), reps), return_counts=True))) if reps.sum() else {}
    for a, n in zip(names, arms["n"].to_list()):
        if int(counted.get(a, 0)) != int(n):
            return f"the Kaplan-Meier table accounts for {int(counted.get(a, 0))} of the {n} subjects of {a}"
    time = np.concatenate([np.repeat(k["time"].to_numpy(), k["n_event"].to_numpy()),
                           np.repeat(k["time"].to_numpy(), k["n_censor"].to_numpy())]).astype(float)
    event = np.r_[np.ones(int(k["n_event"].sum()), bool), np.zeros(int(k["n_censor"].sum()), bool)]
    arm = np.concatenate([np.repeat(k["arm"].to_numpy(), k["n_event"].to_numpy()),
                          np.repeat(k["arm"].to_numpy(), k["n_censor"].to_numpy())])
    group = pl.Series(arm).replace_strict(code, return_dtype=pl.Int64).to_numpy()
    return group, time, event, names


def _power_text(p) -> str:
    out = (f"power {p.formula:.2f} to detect {p.effect_text} at alpha {format_value(p.alpha)} with {p.detail} "
           f"({p.formula_method})")
    if p.simulated is not None:
        out += f"; {p.simulated:.2f} ± {1.96 * p.mc_se:.2f} by simulation ({p.sims} runs, seed {p.seed})"
    return out


def _power(check: Check, stages: Mapping[str, StageData]):
    """The power the check's comparison had for ``check.power.effect``, and its text (or why none)."""
    import numpy as np

    from trialkit.analyses import power as pw

    spec = check.power
    data = stages.get(check.source)
    if data is None:
        return None, "power not available: the stage has not run"
    try:
        if check.stage == "survival":
            got = _survival_subjects(data)
            if isinstance(got, str):
                return None, f"power not available: {got}"
            group, time, event, names = got
            sizes = np.bincount(group, minlength=len(names))
            events = int(event.sum())
            formula = pw.logrank_power_formula(events, spec.effect, spec.alpha, tuple(sizes / sizes.sum()))
            sim = se = None
            if spec.sims:
                sim, se = pw.logrank_power_simulated(group, time, event, spec.effect, spec.alpha, spec.sims, spec.seed)
            who = "last vs first group" if len(names) > 2 else f"{names[-1]} vs {names[0]}"
            detail = f"{events} event(s) in {len(sizes)} groups ({'/'.join(str(int(n)) for n in sizes)} subjects)"
            method = ("Schoenfeld" if len(names) == 2 else
                      f"Schoenfeld, {len(names)}-group noncentral chi-square, log hazards linear in dose order")
            res = pw.PowerResult("log-rank", spec.effect, f"HR {format_value(spec.effect)} ({who})", spec.alpha,
                                 formula, method, sim, spec.sims, spec.seed if spec.sims else None, se, detail)
            return res, _power_text(res)
        if check.stage == "biomarkers":
            rows, name = _rows_for(check, stages)
            selected, why = _select(rows, check, name) if rows is not None else ([], name)
            if why is not None or len(selected) != 1:
                return None, f"power not available: {why or 'the selectors must match one model row'}"
            x, why = _interaction_inputs(check, selected[0], stages)
            if x is None:
                return None, f"power not available: {why}"
            formula = pw.interaction_power_formula(spec.effect, x["sizes"], x["visits"], x["sigma"], spec.alpha)
            sim = se = None
            if spec.sims:
                sim, se = pw.interaction_power_simulated(spec.effect, x["sizes"], x["visits"], x["sigma"],
                                                         x["sd_subject"], spec.alpha, spec.sims, spec.seed)
            detail = (f"{len(x['sizes'])} groups ({'/'.join(str(n) for n in x['sizes'])} subjects), {x['visits']} "
                      f"visits, residual SD {format_value(x['sigma'])}")
            res = pw.PowerResult("group x visit interaction", spec.effect,
                                 f"an interaction of {format_value(spec.effect)} (last vs first group, growing "
                                 f"linearly to the last visit)", spec.alpha, formula,
                                 "noncentral F, split-plot model", sim, spec.sims,
                                 spec.seed if spec.sims else None, se, detail)
            return res, _power_text(res)
    except (ValueError, DataError) as exc:
        return None, f"power not available: {exc}"
    return None, f"power not available: power is computed for the survival log-rank test and the biomarkers interaction, not {check.stage}"


def claims_table(results: tuple[ClaimResult, ...]) -> pl.DataFrame:
    """One row per check: claim, claim_text, check, location, published, reanalysis, verdict, reason, power,
    claim_verdict."""
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
            "power": c.power_text,
            "claim_verdict": r.verdict,
        }
        for r in results
        for j, c in enumerate(r.checks, start=1)
    ]
    schema = {"claim": pl.String, "claim_text": pl.String, "check": pl.Int64, "label": pl.String,
              "location": pl.String, "published": pl.String, "reanalysis": pl.String, "verdict": pl.String,
              "reason": pl.String, "power": pl.String, "claim_verdict": pl.String}
    return pl.DataFrame(rows, schema=schema)


def all_reproduced(results: tuple[ClaimResult, ...]) -> bool:
    """True when every claim is reproduced (by construction, on synthetic data): what ``--check`` gates on
    (not evaluable fails the gate too)."""
    return all(r.verdict in PASSING for r in results)
