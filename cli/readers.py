"""Reading source files into polars frames: CSV, Parquet, SAS XPORT, SAS7BDAT, Excel.

CSV is read as text and typed by ``analyses.ingest.coerce_types`` so that
identifiers like "001" keep their leading zeros; SAS files through
pyreadstat (ReadStat), which decodes SAS dates and, unlike pandas'
XPORT reader, reads IBM-float zeros as 0 (pandas issue 50670 turns them into
5.4e-79); Excel through polars' calamine engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from trialkit.schemas.errors import InputOutputError, UsageError

if TYPE_CHECKING:
    import polars as pl

__all__ = ["SUFFIXES", "find_sources", "read_table"]

SUFFIXES = (".csv", ".parquet", ".xpt", ".sas7bdat", ".xlsx")


def find_sources(paths: list[Path]) -> list[Path]:
    """Expand folders to the data files in them (sorted); check files exist."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES and not p.name.startswith("."))
            if not found:
                raise UsageError(f"folder {path} holds no data file ({', '.join(SUFFIXES)})",
                                 "pass the folder that holds adsl.xpt, adlb.csv, ... or the files themselves")
            files.extend(found)
        elif path.exists():
            if path.suffix.lower() not in SUFFIXES:
                raise UsageError(f"{path}: unsupported file type {path.suffix or '(none)'}",
                                 f"trialkit reads {', '.join(SUFFIXES)}")
            files.append(path)
        else:
            raise InputOutputError(f"{path} does not exist", "check the path (folders and files are both accepted)")
    return files


def read_table(path: Path) -> pl.DataFrame:
    """Read one source file; any reader failure becomes an InputOutputError naming the file."""
    import polars as pl

    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
        if suffix == ".parquet":
            return pl.read_parquet(path)
        if suffix == ".xlsx":
            return pl.read_excel(path, engine="calamine", infer_schema_length=0)
        import pyreadstat

        reader = pyreadstat.read_xport if suffix == ".xpt" else pyreadstat.read_sas7bdat
        frame, _meta = reader(str(path), output_format="polars")
        return frame
    except (OSError, ValueError, pl.exceptions.PolarsError, UnicodeDecodeError, *_sas_errors()) as exc:
        raise InputOutputError(f"{path} cannot be read as {suffix[1:]} ({str(exc).splitlines()[0]})",
                               "check that the file is not damaged and has the right extension") from exc


def _sas_errors() -> tuple[type[Exception], ...]:
    import pyreadstat

    return (pyreadstat.ReadstatError, pyreadstat.PyreadstatError)
