"""Analysis populations and subgroups, from ADSL.

- Population: the subjects whose ADSL flag (ITTFL, SAFFL, EFFFL, PPROTFL, or
  any other variable holding only "Y", "N" or missing) is "Y". A stage's
  default is SAFFL for safety and ITTFL for the efficacy stages (survival,
  biomarkers) when ADSL has it; otherwise every ADSL subject.
- Subgroup: ``VAR=VALUE`` keeps the subjects whose ADSL variable VAR equals
  VALUE (``SEX=F``, ``AGEGR1=>80``: the value is everything after the first
  ``=``). Several subgroups combine with "and". Numeric variables compare as
  numbers (``TRT01PN=54``).

``select_subjects`` applies both and returns the kept ADSL rows with a
``Selection`` that says, in words, what was kept; every output states it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from trialkit.schemas.errors import ColumnNotFoundError, NoDataError, UsageError

__all__ = ["DEFAULT_POPULATION", "Selection", "Subgroup", "parse_subgroup", "population_flags", "default_population",
           "select_subjects"]

#: a stage's default population flag, used when ADSL has it
DEFAULT_POPULATION = {"safety": "SAFFL", "survival": "ITTFL", "biomarkers": "ITTFL"}
_YN = {"Y", "N"}


@dataclass(frozen=True)
class Subgroup:
    """One ``VAR=VALUE`` condition on ADSL."""

    variable: str
    value: str

    @property
    def label(self) -> str:
        return f"{self.variable} = {self.value}"


@dataclass(frozen=True)
class Selection:
    """Which ADSL subjects an analysis uses, and how many."""

    population: str | None  # the flag, or None for every ADSL subject
    population_source: str  # "default" or "option"
    subgroups: tuple[Subgroup, ...]
    n_adsl: int
    n_selected: int

    @property
    def population_label(self) -> str:
        if self.population is None:
            return "all ADSL subjects"
        return f'{self.population} = "Y"'

    @property
    def subgroup_label(self) -> str | None:
        return " and ".join(s.label for s in self.subgroups) or None

    @property
    def description(self) -> str:
        """E.g. 'ITTFL = "Y" (default), subgroup SEX = F: 143 of 254 ADSL subjects'."""
        text = self.population_label + (" (default)" if self.population_source == "default" and self.population else "")
        if self.subgroups:
            text += f", subgroup {self.subgroup_label}"
        return f"{text}: {self.n_selected} of {self.n_adsl} ADSL subjects"

    def to_dict(self) -> dict:
        return {"population": self.population, "population_label": self.population_label,
                "population_source": self.population_source, "subgroup": self.subgroup_label,
                "subgroups": [{"variable": s.variable, "value": s.value} for s in self.subgroups],
                "n_adsl": self.n_adsl, "n_selected": self.n_selected, "description": self.description}


def parse_subgroup(text: str) -> Subgroup:
    """``"SEX=F"`` -> Subgroup("SEX", "F"); ``"AGEGR1=>80"`` -> Subgroup("AGEGR1", ">80")."""
    var, sep, value = text.partition("=")
    var = var.strip().upper()
    if not sep or not re.fullmatch(r"[A-Z][A-Z0-9_]*", var) or value.strip() == "":
        raise UsageError(f"--subgroup {text!r} is not VAR=VALUE", "write an ADSL variable and a value, e.g. --subgroup SEX=F")
    return Subgroup(var, value.strip())


def population_flags(adsl: pl.DataFrame) -> list[str]:
    """ADSL variables that are Y/N flags (only "Y", "N" or missing, at least one "Y"), in ADSL's order."""
    out = []
    for name, dtype in adsl.schema.items():
        if dtype != pl.String or not name.endswith("FL"):
            continue
        values = set(adsl[name].drop_nulls().unique().to_list())
        if values and values <= _YN and "Y" in values:
            out.append(name)
    return out


def default_population(adsl: pl.DataFrame, stage: str) -> str | None:
    """SAFFL for safety, ITTFL for survival and biomarkers, when ADSL has it; else None (every subject)."""
    flag = DEFAULT_POPULATION.get(stage)
    return flag if flag is not None and flag in adsl.columns else None


def _check_flag(adsl: pl.DataFrame, flag: str) -> None:
    flags = population_flags(adsl)
    hint = f"ADSL's Y/N flags: {', '.join(flags)}" if flags else "ADSL has no Y/N flag variable; omit --population"
    if flag not in adsl.columns:
        raise UsageError(f"--population {flag}: ADSL has no variable {flag}", hint)
    if flag not in flags:
        values = sorted(str(v) for v in adsl[flag].drop_nulls().unique().to_list())[:5]
        raise UsageError(f"--population {flag}: ADSL {flag} is not a Y/N flag (values {', '.join(values) or 'all missing'})",
                         hint)


def _matches(adsl: pl.DataFrame, sub: Subgroup) -> pl.Expr:
    dtype = adsl.schema[sub.variable]
    if dtype.is_numeric():
        try:
            number = float(sub.value)
        except ValueError as exc:
            raise UsageError(f"--subgroup {sub.variable}={sub.value}: ADSL {sub.variable} is numeric",
                             f"give a number, e.g. --subgroup {sub.variable}=1") from exc
        return pl.col(sub.variable).cast(pl.Float64) == number
    return pl.col(sub.variable).cast(pl.String) == sub.value


def select_subjects(adsl: pl.DataFrame, stage: str, population: str | None = None,
                    subgroups: list[Subgroup] | tuple[Subgroup, ...] = ()) -> tuple[pl.DataFrame, Selection]:
    """The ADSL rows of the analysis population and subgroup(s), and what was selected.

    ``population`` None means the stage's default (``default_population``);
    ``"ALL"`` means every ADSL subject whatever flags ADSL has.
    """
    source = "option"
    if population is None:
        population, source = default_population(adsl, stage), "default"
    elif population.upper() == "ALL":
        population = None
    else:
        population = population.strip().upper()
        _check_flag(adsl, population)
    kept = adsl.filter(pl.col(population) == "Y") if population else adsl
    for sub in subgroups:
        if sub.variable not in adsl.columns:
            raise ColumnNotFoundError(f"--subgroup {sub.variable}={sub.value}: ADSL has no variable {sub.variable}",
                                      "name an ADSL variable, e.g. --subgroup SEX=F")
        before = kept
        kept = kept.filter(_matches(adsl, sub))
        if kept.height == 0:
            seen = sorted(str(v) for v in before[sub.variable].drop_nulls().unique().to_list())
            shown = ", ".join(seen[:12]) + (", ..." if len(seen) > 12 else "")
            raise NoDataError(f"--subgroup {sub.variable}={sub.value} keeps no ADSL subject"
                              + (f" of population {population}" if population else ""),
                              f"ADSL {sub.variable} takes the values {shown or '(all missing)'}")
    if kept.height == 0:
        raise NoDataError(f"population {population}: no ADSL subject has {population} = \"Y\"",
                          "choose another --population, or --population ALL for every subject")
    selection = Selection(population, source, tuple(subgroups), adsl.height, kept.height)
    return kept, selection
