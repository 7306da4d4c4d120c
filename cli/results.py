"""``trialkit results``: print and filter the analysis results dataset (<workspace>/ard.parquet)."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from .common import Format, FormatOpt, WorkspaceOpt, csv_text, emit_json, handles_errors, safe, stdout, workspace_from

#: Columns of each printed table (one per analysis and source table), shown when some row has a value;
#: a text column with one value throughout moves into the title, and notes are printed under the table.
SHOWN = ("endpoint", "group", "visit", "variable", "keys", "stat_name", "stat", "stat_fmt")
ALWAYS = ("stat_name", "stat", "stat_fmt")
HEADERS = {"stat_name": "statistic", "stat": "value", "stat_fmt": "as printed"}


@handles_errors
def results(
    ctx: typer.Context,
    analysis: Annotated[Optional[list[str]], typer.Option("--analysis", "-a", metavar="NAME", help="Only this analysis; globs allowed (surv*); repeatable.", show_default=False)] = None,
    stat: Annotated[Optional[list[str]], typer.Option("--stat", "-s", metavar="NAME", help="Only this statistic (stat_name: p, hr, mean, p_*); globs allowed; repeatable.", show_default=False)] = None,
    format: FormatOpt = Format.table,
    workspace: WorkspaceOpt = None,
) -> None:
    """Print the analysis results dataset: every number each analysis wrote, one row per statistic.

    Reads ard.parquet in the workspace, which trialkit biomarkers, survival and safety write (columns
    as in the R package cards: group1_level, variable, variable_level, stat_name, stat). Values are
    printed in full precision; the as-printed column shows the rounding of the report.

    Example: trialkit results --analysis survival --stat p --stat hr --format csv
    """
    import polars as pl

    from trialkit.analyses.ard import filter_ard
    from trialkit.schemas.errors import InputOutputError
    from trialkit.schemas.ard import ARD_FILE, check_ard

    from .transaction import reading

    ws = workspace_from(ctx, workspace)
    path = ws / ARD_FILE
    with reading(ws):  # a consistent snapshot, never half a commit
        if not path.exists():
            raise InputOutputError(f"{path} does not exist: no analysis has written results to this workspace",
                                   "run trialkit biomarkers, survival or safety first (each writes its numbers to "
                                   "ard.parquet), or pass --workspace")
        try:
            ard = pl.read_parquet(path, glob=False)
        except Exception as exc:  # polars raises several kinds for a broken file
            raise InputOutputError(f"{path} cannot be read as Parquet ({exc})",
                                   "delete it and re-run the stages that write it") from exc
    check_ard(ard, path.name)
    rows = filter_ard(ard, analysis=analysis, stat=stat)
    if format is Format.json:
        emit_json(rows.to_dicts())
    elif format is Format.csv:
        sys.stdout.write(csv_text(rows))
    else:
        _print_table(rows, ard.height)


def _print_table(rows, total: int) -> None:
    """One table per analysis and source table; values in full precision, never cut."""
    import polars as pl

    from .tables import Table, print_table

    out = stdout()
    if rows.height == 0:
        out.print(f"No result matches these filters ({total} rows in the ARD).")
        return
    view = rows.with_columns(
        pl.concat_str([pl.col("group1_level"), pl.lit(" vs "), pl.col("group2_level")]).fill_null(pl.col("group1_level"))
        .alias("group"),
        pl.concat_str([pl.col("variable"), pl.lit(": "), pl.col("variable_level")]).fill_null(pl.col("variable"))
        .alias("variable"),
        pl.col("stat").map_elements(repr, return_dtype=pl.String, skip_nulls=True).alias("stat"),
    )
    out.print(f"{rows.height} of {total} results in the ARD")
    for block in view.partition_by(["analysis", "table"], maintain_order=True):
        first = block.row(0, named=True)
        title = f"{first['analysis']}: {first['table']}" + (f" ({first['method']})" if first["method"] else "")
        present = [c for c in SHOWN if block[c].null_count() < block.height]
        constant = [c for c in present if c not in ALWAYS and block[c].null_count() == 0 and block[c].n_unique() == 1]
        title += "".join(f"; {c} {first[c]}" for c in constant)
        shown = [c for c in present if c not in constant]
        headers = [HEADERS.get(c, c) for c in shown]
        table = Table(title, headers, labels=1, left=tuple(h for c, h in zip(shown, headers) if c not in ("stat", "stat_fmt")))
        for row in block.select(shown).iter_rows():
            table.add_row(*("" if v is None else v for v in row))
        print_table(out, table)
        notes = block.filter(pl.col("note").is_not_null()).select("group", "note").unique(maintain_order=True)
        for group, note in notes.iter_rows():
            out.print(f"[yellow]Note:[/] {safe((group + ': ') if group else '')}{safe(note)}")
