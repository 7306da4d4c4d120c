"""The shape of a schema declaration: variables, keys and rules.

Plain frozen dataclasses with no heavy imports, so that ``trialkit schema``
and ``--help`` stay instant. Rule expressions are built on demand
(``Rule.build()``) because they need polars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

__all__ = ["Variable", "Rule", "DatasetSchema", "DTYPES"]

#: Declared type -> the polars dtype name the workspace stores.
DTYPES = {"str": "String", "float": "Float64", "int": "Int64", "date": "Date"}


@dataclass(frozen=True)
class Variable:
    """One ADaM variable: its type, whether analyses need it, its allowed values."""

    name: str
    dtype: Literal["str", "float", "int", "date"]
    label: str
    required: bool = False
    nullable: bool = True
    allowed: tuple[object, ...] | None = None
    min: float | None = None
    max: float | None = None

    def constraint_text(self) -> str:
        parts = []
        if not self.nullable:
            parts.append("not missing")
        if self.allowed is not None:
            parts.append("one of " + ", ".join(map(str, self.allowed)))
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Rule:
    """A row-level rule over one or more variables (keys, consistency, ranges).

    ``build`` returns a polars expression that is true for valid rows; a null
    result counts as valid. ``needs`` lists the variables it reads: a rule
    whose variables are absent from a dataset is skipped and reported so.
    ``scope`` "cross" marks rules that read another dataset (the checker adds
    the helper column ``_IN_ADSL`` before evaluating them). ``when_present``
    marks a check of one optional variable (a plausible date, a plausible
    study day): a dataset without the variable has nothing to check, so the
    rule is not reported as skipped.
    """

    name: str
    description: str
    needs: tuple[str, ...]
    build: Callable[[], object]
    column: str
    scope: Literal["row", "key", "cross"] = "row"
    when_present: bool = False


@dataclass(frozen=True)
class DatasetSchema:
    """A dataset: its ADaM name, workspace file, variables, keys and rules."""

    name: str
    file: str
    version: str
    description: str
    structure: str
    variables: tuple[Variable, ...]
    keys: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables if v.required)

    def variable(self, name: str) -> Variable | None:
        return next((v for v in self.variables if v.name == name), None)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "file": f"{self.file}.parquet",
            "version": self.version,
            "description": self.description,
            "structure": self.structure,
            "keys": list(self.keys),
            "variables": [
                {
                    "name": v.name,
                    "type": v.dtype,
                    "label": v.label,
                    "required": v.required,
                    "nullable": v.nullable,
                    "allowed": list(v.allowed) if v.allowed is not None else None,
                    "min": v.min,
                    "max": v.max,
                }
                for v in self.variables
            ],
            "rules": [
                {"name": r.name, "scope": r.scope, "needs": list(r.needs), "description": r.description}
                for r in self.rules
            ],
        }
