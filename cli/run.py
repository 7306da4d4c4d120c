"""``trialkit run PLAN.toml``: carry out an analysis plan in one process."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import WorkspaceOpt, handles_errors, safe, stdout, workspace_from


@handles_errors
def run(
    ctx: typer.Context,
    plan: Annotated[
        Optional[Path],
        typer.Argument(metavar="[PLAN]", help="The analysis plan (TOML, docs/plan.md). Default: the built-in trial's "
                                                "plan, when the workspace holds the built-in trial.", show_default=False),
    ] = None,
    only: Annotated[
        Optional[list[str]],
        typer.Option("--only", metavar="NAME", help="Run only this analysis of the plan; repeatable.", show_default=False),
    ] = None,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Draw each analysis' figures.")] = True,
    workspace: WorkspaceOpt = None,
) -> None:
    """Run a plan's analyses (stage, name, options, population, subgroup) in plan order.

    Each dataset is read and checked once and each library imported once for the
    whole plan; each analysis is atomic on its own (it commits, or leaves the
    workspace as it was), and its outputs are byte for byte those of the
    equivalent stage command, which is printed before it runs. A failing
    analysis stops the plan with its exit code; those before it stay committed.

    Example: trialkit run plan.toml --only survival-female
    """
    from trialkit.schemas.errors import InputOutputError, UsageError
    from trialkit.analyses.plan import command_args, parse_plan

    from .transaction import hold
    from .workspace import enable_read_cache

    ws = workspace_from(ctx, workspace)
    path = plan if plan is not None else _builtin_plan(ws)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputOutputError(f"cannot read plan {path} ({getattr(exc, 'strerror', None) or exc})",
                               "check the path; the format is in docs/plan.md") from exc
    parsed = parse_plan(text, str(path))
    if only:
        parsed = parsed.only(only)
    group = _stage_commands()
    for a in parsed.analyses:  # every option name checked before anything runs
        _check_options(group, a, str(path))
    enable_read_cache()
    out = stdout()

    with hold(ws):  # one writer for the whole plan: no other run interleaves with its stages
        for i, a in enumerate(parsed.analyses, start=1):
            args = command_args(a) + ([] if plot else ["--no-plot"])
            shown = " ".join(_quote(x) for x in ["trialkit", *args, "--workspace", str(ws)])
            out.rule(f"[bold]{i}/{len(parsed.analyses)} {safe(a.name)}[/]", align="left")
            out.print(f"[dim]$ {safe(shown)}[/]")
            code = group.main(args=[*args, "--workspace", str(ws)], prog_name="trialkit", standalone_mode=False)
            if code:
                raise typer.Exit(code)
    if not parsed.analyses:
        raise UsageError(f"{path}: no analysis to run", "check --only")
    out.print(f"Ran {len(parsed.analyses)} analys{'is' if len(parsed.analyses) == 1 else 'es'} of {safe(path)} in "
              f"{safe(ws)}/.")


def _builtin_plan(ws: Path) -> Path:
    import json
    from importlib.resources import files

    from trialkit.schemas.errors import UsageError

    ingest = ws / "ingest.json"
    try:
        builtin = ingest.exists() and bool(json.loads(ingest.read_text()).get("builtin"))
    except (OSError, ValueError):
        builtin = False
    if not builtin:
        raise UsageError("no PLAN given and the workspace does not hold the built-in trial",
                         "pass a plan file: trialkit run PLAN.toml (format: docs/plan.md)")
    return Path(str(files("trialkit.fixtures") / "seed_trial" / "plan.toml"))


def _stage_commands():
    """The trialkit command group (typer's click object), to run stages in this process."""
    import typer.main

    from .app import app

    return typer.main.get_command(app)


def _check_options(group, analysis, source: str) -> None:
    from trialkit.schemas.errors import UsageError

    command = group.commands[analysis.stage]
    names = {p.name for p in command.params}
    for key, _value in analysis.options:
        if key not in names:
            valid = ", ".join(sorted(n.replace("_", "-") for n in names
                                     if n not in ("workspace", "format", "name", "population", "subgroup")))
            raise UsageError(f"{source}: analysis {analysis.name!r}: {analysis.stage} has no option {key}",
                             f"its options: {valid}")


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
