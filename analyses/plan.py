"""An analysis plan: the list of analyses ``trialkit run`` carries out, in order.

A plan is TOML (format and examples in ``docs/plan.md``)::

    title = "CDISCPILOT01 reanalysis"

    [[analysis]]
    name = "survival"            # a stage's own name is its primary analysis
    stage = "survival"
    options = { times = "30d,90d,180d" }

    [[analysis]]
    name = "survival-female"
    stage = "survival"
    subgroup = ["SEX=F"]         # ADSL VAR=VALUE, several combine with "and"
    population = "ITTFL"         # an ADSL Y/N flag; omitted: the stage's default

``parse_plan`` checks the structure (stages, unique names, value types) and
returns frozen ``PlannedAnalysis`` objects; the CLI checks option names
against the stage's command and runs them.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any

from trialkit.schemas.errors import UsageError

__all__ = ["PLAN_STAGES", "PlannedAnalysis", "Plan", "parse_plan", "command_args"]

PLAN_STAGES = ("biomarkers", "survival", "safety")
_TOP_KEYS = {"title", "analysis"}
_ENTRY_KEYS = {"name", "stage", "options", "population", "subgroup", "description"}
#: options that only say how an analysis is shown or when it is read off (never which analysis it is)
_PRESENTATION = frozenset({"times", "rmst_tau", "extrapolate", "plot", "forest", "bands", "time_unit", "break_by",
                           "format"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


@dataclass(frozen=True)
class PlannedAnalysis:
    """One analysis of a plan: a stage run with a name, options, population and subgroup(s)."""

    name: str
    stage: str
    options: tuple[tuple[str, Any], ...]
    population: str | None
    subgroups: tuple[str, ...]
    description: str | None

    @property
    def primary(self) -> bool:
        return self.name == self.stage


@dataclass(frozen=True)
class Plan:
    source: str
    title: str | None
    analyses: tuple[PlannedAnalysis, ...]

    def only(self, names: list[str]) -> Plan:
        """The plan restricted to ``names`` (plan order kept); an unknown name is a usage error."""
        known = [a.name for a in self.analyses]
        for n in names:
            if n not in known:
                raise UsageError(f"--only {n}: {self.source} has no analysis named {n}",
                                 f"the plan's analyses: {', '.join(known)}")
        return Plan(self.source, self.title, tuple(a for a in self.analyses if a.name in names))


def _fail(source: str, where: str, what: str) -> UsageError:
    return UsageError(f"{source}: {where}: {what}", "see docs/plan.md for the plan format")


def _option_value(source: str, where: str, key: str, value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list) and all(isinstance(v, (int, float, str)) for v in value):
        return tuple(value)
    raise _fail(source, where, f"option {key} must be a string, number, true/false or a list of those")


def parse_plan(text: str, source: str) -> Plan:
    """Parse and check a plan; every problem is a usage error naming the file and the analysis."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source} is not valid TOML ({exc})", "see docs/plan.md for the plan format") from exc
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _fail(source, "top level", f"unknown key(s) {', '.join(sorted(unknown))}")
    entries = data.get("analysis")
    if not isinstance(entries, list) or not entries:
        raise _fail(source, "top level", "no [[analysis]] entry")
    out, seen = [], set()
    for i, entry in enumerate(entries, start=1):
        where = f"analysis {i}"
        if not isinstance(entry, dict):
            raise _fail(source, where, "must be a table")
        unknown = set(entry) - _ENTRY_KEYS
        if unknown:
            raise _fail(source, where, f"unknown key(s) {', '.join(sorted(unknown))}")
        stage = entry.get("stage")
        if stage not in PLAN_STAGES:
            raise _fail(source, where, f"stage must be one of {', '.join(PLAN_STAGES)} (got {stage!r})")
        name = entry.get("name", stage)
        if not isinstance(name, str) or not _NAME.match(name):
            raise _fail(source, where, f"name {name!r} must be letters, digits, '.', '_' or '-'")
        where = f"analysis {name!r}"
        if name in seen:
            raise _fail(source, where, "the name is used twice")
        if name in PLAN_STAGES and name != stage:
            raise _fail(source, where, f"{name} is the primary {name} analysis' name")
        seen.add(name)
        options = entry.get("options", {})
        if not isinstance(options, dict):
            raise _fail(source, where, "options must be a table")
        for key in ("name", "workspace", "format", "population", "subgroup"):
            if key in options:
                raise _fail(source, where, f"option {key} is set by the plan entry itself, not in options")
        population = entry.get("population")
        if population is not None and not isinstance(population, str):
            raise _fail(source, where, "population must be a string (an ADSL flag such as ITTFL)")
        subgroup = entry.get("subgroup", [])
        subgroup = [subgroup] if isinstance(subgroup, str) else subgroup
        if not isinstance(subgroup, list) or not all(isinstance(s, str) for s in subgroup):
            raise _fail(source, where, "subgroup must be a string or a list of VAR=VALUE strings")
        description = entry.get("description")
        out.append(PlannedAnalysis(
            name=name, stage=stage,
            options=tuple(sorted((k.replace("-", "_"), _option_value(source, where, k, v)) for k, v in options.items())),
            population=population, subgroups=tuple(subgroup),
            description=description if isinstance(description, str) else None))
    title = data.get("title")
    return Plan(source, title if isinstance(title, str) else None, tuple(out))


def command_args(analysis: PlannedAnalysis) -> list[str]:
    """The ``trialkit <stage> ...`` arguments that run this analysis on its own (same outputs, byte for byte)."""
    args = [analysis.stage]
    defines = analysis.population is not None or analysis.subgroups or any(k not in _PRESENTATION for k, _ in analysis.options)
    if not analysis.primary or defines:  # a primary analysis with its own method or population keeps its name
        args += ["--name", analysis.name]
    if analysis.population is not None:
        args += ["--population", analysis.population]
    for s in analysis.subgroups:
        args += ["--subgroup", s]
    for key, value in analysis.options:
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + key.replace("_", "-"))
        elif isinstance(value, tuple):
            for v in value:
                args += [flag, str(v)]
        else:
            args += [flag, str(value)]
    return args
