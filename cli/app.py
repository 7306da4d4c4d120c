"""The ``trialkit`` command: a thin shell over ``trialkit.analyses``.

Each subcommand lives in its own module and imports its heavy libraries
inside the function body, so ``trialkit --help`` loads neither polars nor
any statistics or plotting library.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from . import biomarkers, claims, ingest, reconstruct, report, results, run, safety, schema, simulate, survival, validate

app = typer.Typer(
    name="trialkit",
    help="Reanalyse a clinical trial from its CDISC ADaM data: ingest, validate, biomarkers, survival, safety, run (a plan), report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from .workspace import trialkit_version

        typer.echo(f"trialkit {trialkit_version()}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    workspace: Annotated[
        Optional[str],
        typer.Option("--workspace", "-w", metavar="DIR", help="Workspace folder for every stage (default: $TRIALKIT_WORKSPACE, else ./trialkit-work)."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Stages pass Parquet files through a workspace folder; each checks its inputs against trialkit's schemas."""
    ctx.obj = {"workspace": workspace}


# In pipeline order, as --help lists them.
app.command("ingest")(ingest.ingest)
app.command("simulate")(simulate.simulate)
app.command("reconstruct")(reconstruct.reconstruct)
app.command("validate")(validate.validate)
app.command("biomarkers")(biomarkers.biomarkers)
app.command("survival")(survival.survival)
app.command("safety")(safety.safety)
app.command("run")(run.run)
app.command("report")(report.report)
app.add_typer(claims.app, name="claims")
app.command("results")(results.results)
app.command("schema")(schema.schema)


def main() -> None:
    import signal
    import sys

    from .common import Terminated, install_signal_handlers

    install_signal_handlers()
    try:
        try:
            app()
        finally:  # the command has ended: a late SIGTERM ends the process the usual way, not with a traceback
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except KeyboardInterrupt as exc:  # before or after a command ran: no stage was open, nothing was written
        sys.stderr.write("Error: interrupted; the workspace was left as it was\n")
        sys.exit(143 if isinstance(exc, Terminated) else 130)
