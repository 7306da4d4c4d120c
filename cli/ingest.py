"""``trialkit ingest``: source files -> ADaM-named Parquet datasets in the workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import rendered, WorkspaceOpt, handles_errors, is_terminal, safe, stderr, stdout, workspace_from

BUILTIN = "built-in seed trial (synthetic)"
#: file formats whose columns carry their own type (read as they are declared, see prepare_dataset)
TYPED_FORMATS = (".xpt", ".sas7bdat", ".parquet")


def builtin_sources() -> list[Path]:
    from importlib.resources import files

    folder = Path(str(files("trialkit.fixtures") / "seed_trial"))
    return sorted(folder.glob("ad*.csv"))


@handles_errors
def ingest(
    ctx: typer.Context,
    sources: Annotated[
        Optional[list[Path]],
        typer.Argument(metavar="SOURCE...", help="Folders or files (.csv .parquet .xpt .sas7bdat .xlsx). None: the built-in seed trial.", show_default=False),
    ] = None,
    dataset: Annotated[
        Optional[str],
        typer.Option("--dataset", "-d", metavar="NAME", help="Dataset of a single SOURCE whose file name does not say it (adsl, adlb, adae, adtte, adex)."),
    ] = None,
    encoding: Annotated[
        Optional[str],
        typer.Option("--encoding", metavar="NAME",
                     help="Text encoding of CSV and SAS files that are not UTF-8: latin-1, cp1252, utf-16, ... "
                          "(any Python codec). Default: UTF-8, with or without a byte-order mark.",
                     show_default=False),
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Read ADaM datasets, convert units to the canonical SI units, and store them as Parquet.

    The dataset is known from each file name (adsl.xpt, ADLB.csv, adlbhy.xpt -> ADLB).
    Variable names are case-insensitive. Every file is checked whole against
    what it says about itself (row counts, sizes, checksums): a truncated or
    damaged file, undecodable text or a duplicated column is an error naming
    the file, and nothing is written. Lab values in a known other unit
    (albumin g/dL, bilirubin mg/dL, ...) are converted, keeping AVAL_ORIG and
    AVALU_ORIG; an unknown unit is kept as it is and reported.

    Example: trialkit ingest ../shared/data/cdiscpilot01 --workspace pilot
    """
    import polars as pl

    from trialkit.schemas.errors import UsageError
    from trialkit.analyses.ingest import DATASETS, dataset_for_file, prepare_dataset, reconstruction_record
    from trialkit.schemas.adam import schema_for

    from .readers import check_encoding, check_readable, find_sources, read_table
    from .workspace import Stage, sha256_file

    ws = workspace_from(ctx, workspace)
    codec = check_encoding(encoding)
    files = find_sources(list(sources)) if sources else builtin_sources()
    origin = ", ".join(str(s) for s in sources) if sources else BUILTIN
    if dataset is not None:
        if len(files) != 1:
            raise UsageError("--dataset names the dataset of a single file, but several were given",
                             "ingest the files one by one, or rename them adsl.csv, adlb.csv, ...")
        if schema_for(dataset) is None:
            raise UsageError(f"unknown dataset {dataset!r}", f"use one of {', '.join(DATASETS)}")

    options = {"sources": [str(s) for s in sources] if sources else [], "dataset": dataset}
    if encoding is not None:
        options["encoding"] = encoding
    units: list = []
    skipped: list[str] = []
    reconstructed: list[dict] = []
    by_dataset: dict[str, list[Path]] = {}
    for path in files:
        name = dataset.lower() if dataset else dataset_for_file(path.stem)
        if name is None:
            skipped.append(path.name)
        else:
            by_dataset.setdefault(name, []).append(path)
    with Stage(ws, "ingest", options, creates_workspace=True) as stage:
        if not by_dataset:
            raise UsageError(f"no ADaM dataset among {origin} (skipped: {', '.join(skipped)})",
                             "name files adsl, adlb, adae, adtte, adex (any case), or pass --dataset")
        summary = []
        ordered = [(name, path) for name in DATASETS for path in by_dataset.get(name, [])]
        parts: list = []
        # one dataset in memory at a time: read its files, write it, let it go (at a million subjects holding
        # all five until the end took most of the 8 GB)
        for i, (name, path) in enumerate(_progress(ordered)):
            label = path.name if sources else f"builtin:seed_trial/{path.name}"
            schema = schema_for(name)
            check_readable(path)
            stage.record_input(label, _hash(path, sha256_file))
            if path.suffix.lower() == ".parquet":
                record = reconstruction_record(_parquet_metadata(path), label)
                if record is not None:
                    reconstructed.append(record)
            df, report = prepare_dataset(read_table(path, schema.name, codec), schema, path.name,
                                         typed=path.suffix.lower() in TYPED_FORMATS)
            parts.append((label, df))
            del df
            if report is not None:
                units.append(report.with_columns(pl.lit(label).alias("source")))
            if i + 1 < len(ordered) and ordered[i + 1][0] == name:
                continue  # more files of this dataset
            df = pl.concat([d for _, d in parts], how="diagonal_relaxed")
            stage.write_parquet(f"{name}.parquet", df, schema.name, schema.version)
            summary.append({"dataset": schema.name, "file": f"{name}.parquet", "rows": df.height,
                            "columns": df.width, "sources": [s for s, _ in parts]})
            parts, df = [], None
        for name in DATASETS:
            if name not in by_dataset:
                stage.remove(f"{name}.parquet")
        unit_rows = pl.concat(units).to_dicts() if units else []
        # Everything derived from the previous data goes with it: a report must not show
        # another trial's (or an older ingest's) results.
        for rel in ("validation.json", "report.html", "report.md", "ard.parquet"):
            stage.remove(rel)
        stage.forget_analyses = True
        for folder in ("quarantine", "biomarkers", "survival", "safety", "analyses"):
            for path in sorted((ws / folder).rglob("*")) if (ws / folder).is_dir() else []:
                if path.is_file():
                    stage.remove(path.relative_to(ws).as_posix())
        record = {
            "origin": origin,
            "builtin": not sources,
            "datasets": summary,
            "units": unit_rows,
            "skipped_files": skipped,
        }
        if reconstructed:  # from trialkit reconstruct: every report made from these data says so
            files = [{k: v for k, v in r.items() if k != "method"} for r in reconstructed]
            record.update(reconstructed=True, reconstruction={"method": reconstructed[0]["method"], "files": files})
        stage.write_json("ingest.json", record)
        with rendered() as output:  # before the commit: printing cannot fail after it
            _print_summary(ws, origin, summary, unit_rows, skipped)
            if reconstructed:
                stderr().print("[bold yellow]Reconstructed data (trialkit reconstruct), not the trial's patient data: "
                               "every result is an approximation.[/]")
    output.emit()


def _hash(path: Path, sha256_file) -> str:
    from trialkit.schemas.errors import InputOutputError

    try:
        return sha256_file(path)
    except OSError as exc:
        raise InputOutputError(f"{path} cannot be read ({exc.strerror or exc})",
                               "check the file and the disk it is on, then run trialkit ingest again") from exc


def _parquet_metadata(path: Path) -> dict[str, str]:
    """The key-value metadata of a Parquet file ({} when it cannot be read: the reader then says why)."""
    import pyarrow.parquet as pq

    try:
        raw = pq.read_schema(path).metadata or {}
    except Exception:  # a damaged file: read_table reports it, naming the file
        return {}
    return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in raw.items()}


def _progress(files: list[Path]):
    if not is_terminal() or len(files) < 2:
        return files
    from rich.progress import track

    return track(files, description="Reading", console=stderr(), transient=True)


def _print_summary(ws: Path, origin: str, summary: list[dict], units: list[dict], skipped: list[str]) -> None:
    from .tables import Table, print_table

    table = Table(f"Ingested {origin} into {ws}/", ["dataset", "file", "rows", "columns", "from"], left=("file", "from"))
    for s in summary:
        table.add_row(s["dataset"], s["file"], s["rows"], s["columns"], ", ".join(s["sources"]))
    out = stdout()
    print_table(out, table)
    converted = [u for u in units if u["status"] == "converted"]
    unknown = [u for u in units if u["status"] == "unknown unit"]
    for u in converted:
        out.print(f"converted {safe(u['PARAMCD'])}: {u['rows']} value(s) from {safe(u['AVALU'])} to {safe(u['canonical'])} "
                  f"(x{u['factor']:g})")
    for u in unknown:
        stderr().print(f"[yellow]kept {safe(u['PARAMCD'])}: {u['rows']} value(s) in unknown unit {safe(repr(u['AVALU']))} "
                       f"(canonical: {safe(u['canonical'])}); not converted[/]")
    if skipped:
        stderr().print(f"skipped (not a dataset trialkit reads): {safe(', '.join(skipped))}")
    out.print(f"Next: trialkit validate --workspace {safe(ws)}")
