"""Every stage run is a named analysis; this decides which one, and where its files go.

- The stage's **primary analysis** (every subject of the default population,
  the stage's default endpoint and method) is named after the stage and keeps
  the stage's folder (``survival/``).
- A run that changes what is analysed (``--population``, ``--subgroup``,
  ``--arm``, another endpoint or parameter subset) or the method (``--parity``,
  ``--ties``, ``--test``, ...) is its own analysis, named from those options
  (``survival-arm-high``, ``safety-sex-f``) or by ``--name``, in
  ``analyses/<name>/``.
- Re-running an analysis replaces only its own files. Options that only
  choose what is reported (landmark times, the RMST horizon, sort order) and
  are not given again keep the values the analysis was last run with, so
  ``trialkit survival --no-plot`` after ``trialkit run PLAN`` re-runs the
  plan's primary analysis as the plan defined it.

``manifest.json`` lists every analysis under ``analyses`` with its stage,
folder, options, population and subgroup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

__all__ = ["AnalysisTarget", "analysis_name", "resolve_analysis", "inherit_options", "given_on_command_line",
           "refuse_other_analysis_under_name"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
STAGES = ("biomarkers", "survival", "safety")


@dataclass(frozen=True)
class AnalysisTarget:
    """Where one analysis writes: its name, its folder in the workspace, and whether it is the primary one."""

    name: str
    stage: str
    folder: str
    primary: bool

    def path(self, relpath: str) -> str:
        return f"{self.folder}/{relpath}"


def _slug(value: Any) -> str:
    text = str(value).strip().lower()
    for sym, word in ((">=", "ge"), ("<=", "le"), (">", "gt"), ("<", "lt"), ("=", "eq"), ("+", "plus")):
        text = text.replace(sym, f"-{word}-")
    text = re.sub(r"[^a-z0-9.]+", "-", text).strip("-")
    return text or "x"


def analysis_name(stage: str, changed: Mapping[str, Any]) -> str:
    """The readable name of an analysis from the options that make it differ from the primary one.

    ``changed`` maps option name to value, in the order the parts should read:
    ``{"population": "EFFFL", "subgroup": ["SEX=F"], "arm": ["high"]}`` ->
    ``"survival-efffl-sex-f-arm-high"``; ``AGEGR1=>80`` reads ``agegr1-gt-80``. Empty -> the stage name.
    """
    parts = []
    for key, value in changed.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        if key == "subgroup":
            parts += [_slug(str(v).partition("=")[0]) + "-" + _slug(str(v).partition("=")[2]) for v in values]
        elif key in ("population", "endpoint", "param"):
            parts += [_slug(v) for v in values]
        elif isinstance(value, bool):
            parts.append(_slug(key.replace("_", "-")) if value else "no-" + _slug(key.replace("_", "-")))
        else:
            parts.append(_slug(key.replace("_", "-")) + "-" + "-".join(_slug(v) for v in values))
    name = "-".join([stage, *parts])
    return name[:80].rstrip("-.")


def resolve_analysis(workspace: Path, stage: str, explicit: str | None, changed: Mapping[str, Any]) -> AnalysisTarget:
    """The analysis a run writes: ``--name``, else derived from the changed options; primary when none changed."""
    from trialkit.schemas.errors import UsageError

    from .workspace import read_manifest

    if explicit is not None:
        if not _NAME.match(explicit):
            raise UsageError(f"--name {explicit!r} is not a usable analysis name",
                             "use letters, digits, '.', '_' and '-' (at most 80), starting with a letter or digit")
        if explicit in STAGES and explicit != stage:
            raise UsageError(f"--name {explicit} is the name of the primary {explicit} analysis",
                             "choose another name")
        name = explicit
    else:
        name = analysis_name(stage, changed)
    existing = read_manifest(workspace).get("analyses", {}).get(name) if workspace.exists() else None
    if existing and existing.get("stage") != stage:
        raise UsageError(f"analysis {name!r} already exists in {workspace} as a {existing.get('stage')} analysis",
                         "choose another --name")
    primary = name == stage
    return AnalysisTarget(name, stage, stage if primary else f"analyses/{name}", primary)


def recorded_options(workspace: Path, name: str) -> dict[str, Any] | None:
    from .workspace import read_manifest

    if not workspace.exists():
        return None
    entry = read_manifest(workspace).get("analyses", {}).get(name)
    return dict(entry.get("options", {})) if entry else None


def given_on_command_line(ctx, name: str) -> bool:
    """Whether option ``name`` was given explicitly (command line or plan), not left at its default."""
    if ctx is None or not hasattr(ctx, "get_parameter_source"):
        return True
    source = ctx.get_parameter_source(name)  # typer may carry its own copy of click's ParameterSource: compare names
    return source is not None and getattr(source, "name", str(source)) not in ("DEFAULT", "DEFAULT_MAP")


def inherit_options(ctx, workspace: Path, name: str, current: Mapping[str, Any], inheritable: tuple[str, ...]) -> tuple[dict[str, Any], list[str]]:
    """``current`` with each inheritable option not given explicitly taken from the analysis' last run.

    Returns the options and the names of those inherited (for a note).
    """
    out = dict(current)
    recorded = recorded_options(workspace, name)
    inherited = []
    if recorded is None:
        return out, inherited
    for key in inheritable:
        if key in recorded and not given_on_command_line(ctx, key) and recorded[key] != out.get(key):
            out[key] = recorded[key]
            inherited.append(key)
    return out, inherited


def _norm(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value] or None
    return value


def refuse_other_analysis_under_name(workspace: Path, name: str, options: Mapping[str, Any],
                                     identity: tuple[str, ...]) -> None:
    """``--name NAME`` of an existing analysis must not change what it analyses or how (a misleading name otherwise).

    ``identity``: the options that define the analysis (population, subgroup, arms, endpoint, method).
    """
    from trialkit.schemas.errors import UsageError

    recorded = recorded_options(workspace, name)
    if recorded is None or name in STAGES:  # the primary analysis is what the latest plan or command defines
        return
    differ = [k for k in identity if _norm(recorded.get(k)) != _norm(options.get(k))]
    if differ:
        def shown(source: Mapping[str, Any]) -> str:
            parts = []
            for k in differ:
                v = source.get(k)
                flag = f"--{k.replace('_', '-')}"
                if v is None or v == []:
                    parts.append(f"no {flag}")
                else:
                    parts.append(f"{flag} " + (" ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)))
            return ", ".join(parts)
        raise UsageError(f"--name {name}: that analysis was run with {shown(recorded)}, this run has {shown(options)}",
                         f"give the same options to re-run {name}, or choose another --name for this analysis")
