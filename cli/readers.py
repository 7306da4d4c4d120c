"""Reading source files into polars frames: CSV, Parquet, SAS XPORT, SAS7BDAT, Excel.

Every reader checks that it got the whole file, using what the format says
about itself, and never returns a partial or silently altered dataset:

- CSV is decoded strictly (UTF-8, with or without a byte-order mark, unless
  ``--encoding`` names another codec; UTF-16 and UTF-32 with a byte-order
  mark are recognised). An undecodable byte, a NUL byte, a row with more or
  fewer fields than the header, or a quote that is never closed is an error
  naming the line and column. Values are read as text and typed by
  ``analyses.ingest.coerce_types``, so identifiers like "001" keep their
  leading zeros.
- Parquet is read with pyarrow, whose errors are clean exceptions (polars'
  reader can panic on a damaged file); the rows read must match the footer.
- SAS files through pyreadstat (ReadStat), which decodes SAS dates and,
  unlike pandas' XPORT reader, reads IBM-float zeros as 0 (pandas issue
  50670 turns them into 5.4e-79). ReadStat stops quietly where a transport
  file is cut, so the rows read are checked against the file's own layout
  (``cli.sasfiles``); a SAS7BDAT file must be as long as its header says.
- Excel through polars' calamine engine, after the workbook's zip checksums.

Two columns with the same name are an error: readers would rename one
(AGE_duplicated_0, AGE_1) and ingest would keep the wrong one.
Every failure is a ``TrialkitError`` naming the file; nothing escapes as a
traceback.
"""

from __future__ import annotations

import codecs
import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING

from trialkit.schemas.errors import DataError, InputOutputError, TrialkitError, UsageError

if TYPE_CHECKING:
    import polars as pl

__all__ = ["SUFFIXES", "find_sources", "check_readable", "check_encoding", "read_table"]

SUFFIXES = (".csv", ".parquet", ".xpt", ".sas7bdat", ".xlsx")
_DAMAGED = "check that the file is complete (compare its size with the original) and is what its extension says, " \
           "then run trialkit ingest again"
_BOMS = (  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


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
        elif path.is_symlink():
            check_readable(path)
        else:
            raise InputOutputError(f"{path} does not exist", "check the path (folders and files are both accepted)")
    return files


def check_readable(path: Path) -> None:
    """Refuse, naming the path, what cannot be opened and read as a file."""
    try:
        with open(path, "rb") as f:
            f.read(1)
    except IsADirectoryError as exc:
        raise InputOutputError(f"{path} is a folder, not a data file",
                               "rename it, or pass the data files it holds") from exc
    except PermissionError as exc:
        raise InputOutputError(f"{path} cannot be read: permission denied",
                               f"give yourself read permission (chmod u+r {path}) or copy the file") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputOutputError(f"{path} is a symbolic link loop (it leads back to itself)",
                                   "point the link at the data file, or pass the file itself") from exc
        if exc.errno == errno.ENOENT and path.is_symlink():
            raise InputOutputError(f"{path} is a symbolic link to {os.readlink(path)}, which does not exist",
                                   "point the link at the data file, or pass the file itself") from exc
        raise InputOutputError(f"{path} cannot be read ({exc.strerror or exc})",
                               "check the path and that the disk is readable") from exc
    if not path.is_file():
        raise InputOutputError(f"{path} is not a regular file", "pass a data file (.csv, .parquet, .xpt, ...)")


def check_encoding(name: str | None) -> str | None:
    """--encoding as given, once Python knows the codec; else a usage error."""
    if name is None:
        return None
    try:
        codecs.lookup(name)
        return name
    except LookupError as exc:
        raise UsageError(f"--encoding {name}: unknown encoding",
                         "use a Python codec name: utf-8, latin-1, cp1252, utf-16, ...") from exc


def read_table(path: Path, dataset: str | None = None, encoding: str | None = None) -> pl.DataFrame:
    """Read one source file whole, or raise a TrialkitError naming it.

    ``dataset`` (ADSL, ...) only names the dataset in messages; ``encoding``
    (a Python codec name) is the text encoding of a CSV or SAS file.
    """
    import polars as pl

    suffix = path.suffix.lower()
    where = f"{path} ({dataset})" if dataset else str(path)
    readers = {".csv": _read_csv, ".parquet": _read_parquet, ".xlsx": _read_xlsx, ".xpt": _read_xport,
               ".sas7bdat": _read_sas7bdat}
    try:
        df, names = readers[suffix](path, encoding)
    except TrialkitError:
        raise
    except MemoryError as exc:
        raise InputOutputError(f"{path} is too large to read into memory", "free memory or split the file") from exc
    except (Exception, pl.exceptions.PanicException) as exc:  # every reader failure, including a polars panic
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputOutputError(f"{path} cannot be read as {suffix[1:]} ({first})", _DAMAGED) from exc
    _refuse_duplicates(where, names)
    return df


def _refuse_duplicates(where: str, names: list[str]) -> None:
    from collections import Counter

    dupes = sorted((name, n) for name, n in Counter(names).items() if n > 1)
    if dupes:
        shown = ", ".join(f"{name or '(blank)'} ({n} times)" for name, n in dupes)
        raise DataError(f"{where}: column name(s) appear more than once: {shown}",
                        "keep one column of each name (rename or delete the others), then run trialkit ingest again")


# ----------------------------------------------------------------------------- CSV


def _read_csv(path: Path, encoding: str | None) -> tuple[pl.DataFrame, list[str]]:
    import csv
    import io

    import polars as pl
    import pyarrow as pa
    import pyarrow.csv as pacsv

    data = path.read_bytes()
    if not data:
        raise InputOutputError(f"{path} is empty", "export the dataset again, with its header row")
    utf8 = _as_utf8(path, data, encoding)
    header_text = utf8[:1 << 16].decode("utf-8", "ignore")
    header = next(csv.reader(io.StringIO(header_text)), [])
    if not header or header_text.startswith(("\n", "\r")):
        raise InputOutputError(f"{path} has no header row (line 1 is empty)", "export the dataset again, with its header row")
    _refuse_unclosed_quote(path, utf8, header)
    bad: list = []

    def invalid(row):
        bad.append(row)
        return "skip"

    internal = [f"c{i}" for i in range(len(header))]
    table = pacsv.read_csv(
        io.BytesIO(utf8),
        read_options=pacsv.ReadOptions(column_names=internal, skip_rows=1, use_threads=False),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=invalid),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in internal},
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )
    if bad:
        row = bad[0]
        offset = utf8.find(row.text.encode("utf-8"))
        line = utf8.count(b"\n", 0, offset) + 1 if offset >= 0 else row.number
        more = f" ({len(bad) - 1} more row(s) like it)" if len(bad) > 1 else ""
        raise InputOutputError(
            f"{path}: line {line} has {row.actual_columns} field(s) but the header has {row.expected_columns} "
            f"({row.text[:60]!r}){more}; the file is truncated or the row is damaged",
            "repair that row (a cut file: export it again), then run trialkit ingest again")
    del data, utf8  # the file's bytes (a gigabyte at ten million records) are not needed beside its columns
    # column by column, each Arrow column dropped once converted: Arrow's and polars' copies of the text are
    # never both whole
    series = []
    for name in internal:
        series.append(pl.from_arrow(table.column(name)).alias(name))
        table = table.drop_columns([name])
    df = pl.DataFrame(series)
    if len(set(header)) == len(header):
        df = df.rename(dict(zip(internal, header)))
    return df, header


def _as_utf8(path: Path, data: bytes, encoding: str | None) -> bytes:
    """The file's text as UTF-8 bytes without a byte-order mark, decoded strictly."""
    bom = next(((mark, codec) for mark, codec in _BOMS if data.startswith(mark)), None)
    if encoding is None:
        if bom is None and _looks_utf16(data):
            order = "le" if data[1:2] == b"\x00" else "be"
            raise InputOutputError(f"{path} looks like UTF-16 text without a byte-order mark (every other byte is 0)",
                                   f"pass --encoding utf-16-{order}, or save the file as UTF-8")
        codec = bom[1] if bom else "utf-8"
    else:
        codec = codecs.lookup(encoding).name
        if bom is not None and not codec.startswith(bom[1]):
            raise UsageError(f"{path} starts with a {bom[1].upper()} byte-order mark, but --encoding {encoding} was given",
                             "drop --encoding: the file says what it is")
    if codec in ("utf-8", "utf-8-sig"):
        body = data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _undecodable(path, body, "utf-8", exc, encoding is None) from exc
        text_utf8 = body
    else:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as exc:
            raise _undecodable(path, data, encoding or codec, exc, False) from exc
        text_utf8 = text.removeprefix("\ufeff").encode("utf-8")
    nul = text_utf8.find(b"\x00")
    if nul >= 0:
        line, column = _line_and_column(text_utf8[:nul].decode("utf-8"), text_utf8)
        raise InputOutputError(f"{path}: line {line}, {column} holds a NUL byte (0x00): the file is damaged or is "
                               "not text in that encoding",
                               "pass the file's encoding with --encoding NAME (utf-16, ...), or repair that row")
    return text_utf8


def _looks_utf16(data: bytes) -> bool:
    """Text of ASCII characters in UTF-16 has a NUL in every other byte (and only there: zeroed blocks are damage)."""
    sample = data[:4096]
    if len(sample) < 4:
        return False
    share = sorted((sample[0::2].count(0) / len(sample[0::2]), sample[1::2].count(0) / len(sample[1::2])))
    return share[1] > 0.4 and share[0] < 0.05


def _undecodable(path: Path, data: bytes, codec: str, exc: UnicodeDecodeError, default: bool) -> InputOutputError:
    prefix = data[:exc.start].decode(codec, "replace")
    line, column = _line_and_column(prefix, None)
    byte = data[exc.start:exc.start + 1].hex().upper()
    if default:
        hint = ("the file is not UTF-8: if it was saved as Latin-1 or Windows-1252 (accents as one byte), pass "
                "--encoding latin-1 (or --encoding cp1252)")
        what = "UTF-8"
    else:
        hint = "pass the file's real encoding with --encoding NAME (utf-8, latin-1, cp1252, utf-16, ...)"
        what = codec
    return InputOutputError(f"{path}: line {line}, {column}: byte 0x{byte} is not valid {what}", hint)


def _line_and_column(prefix: str, whole: bytes | None) -> tuple[int, str]:
    """Line number and field ("column 3 (AGE)") at the end of ``prefix``, the text before a bad byte."""
    import csv
    import io

    line = prefix.count("\n") + 1
    start = prefix.rfind("\n") + 1
    fields = next(csv.reader(io.StringIO(prefix[start:])), [""])
    index = len(fields) - 1 if prefix[start:] else 0
    header = next(csv.reader(io.StringIO(prefix.split("\n", 1)[0])), []) if line > 1 else []
    name = f" ({header[index]})" if index < len(header) else ""
    return line, f"column {index + 1}{name}"


def _refuse_unclosed_quote(path: Path, utf8: bytes, header: list[str]) -> None:
    """A double quote that opens a field and is never closed swallows the rest of the file."""
    if utf8.count(b'"') % 2 == 0:
        return
    import polars as pl

    lines = pl.DataFrame({"text": utf8.decode("utf-8").split("\n")})
    odd = lines.with_row_index("line", offset=1).with_columns(
        (pl.col("text").str.count_matches('"', literal=True).cum_sum() % 2 == 1).alias("open"))
    # the last line at which the quote count turns odd and stays odd
    closed = odd.filter(~pl.col("open"))
    after = closed["line"].max() if closed.height else 0
    line = (after or 0) + 1
    raise InputOutputError(f"{path}: the double quote on line {line} is never closed, so the rest of the file would "
                           "be one value; the file is truncated or the quote is stray",
                           "repair that line (a cut file: export it again), then run trialkit ingest again")


# ----------------------------------------------------------------------------- Parquet and Excel


def _read_parquet(path: Path, encoding: str | None) -> tuple[pl.DataFrame, list[str]]:
    import polars as pl
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:
        raise InputOutputError(f"{path} is truncated or not a Parquet file: its footer cannot be read "
                               f"({str(exc).splitlines()[0]})", _DAMAGED) from exc
    declared = parquet.metadata.num_rows
    table = parquet.read()
    if table.num_rows != declared:
        raise InputOutputError(f"{path} is damaged: its footer declares {declared} rows but {table.num_rows} "
                               "could be read", _DAMAGED)
    names = list(table.column_names)
    if len(set(names)) != len(names):
        return pl.DataFrame(), names
    return pl.DataFrame(table), names


def _read_xlsx(path: Path, encoding: str | None) -> tuple[pl.DataFrame, list[str]]:
    import zipfile

    import polars as pl

    try:
        with zipfile.ZipFile(path) as z:
            broken = z.testzip()
    except (zipfile.BadZipFile, EOFError, NotImplementedError, ValueError) as exc:
        raise InputOutputError(f"{path} is truncated or not an Excel workbook: it is not a whole zip archive ({exc})",
                               _DAMAGED) from exc
    if broken is not None:
        raise InputOutputError(f"{path} is damaged: part {broken} of the workbook fails its checksum", _DAMAGED)
    raw = pl.read_excel(path, engine="calamine", infer_schema_length=0, read_options={"header_row": None})
    if raw.height == 0:
        return raw, []
    header = ["" if v is None else str(v) for v in raw.row(0)]
    names = [h if h else f"__UNNAMED__{i}" for i, h in enumerate(header)]
    df = raw.slice(1)
    if len(set(names)) == len(names):
        df = df.rename(dict(zip(raw.columns, names)))
    return df, names


# ----------------------------------------------------------------------------- SAS


def _pyreadstat_encoding(encoding: str | None) -> str | None:
    """A Python codec name as iconv (ReadStat) spells it."""
    if encoding is None:
        return None
    codec = codecs.lookup(encoding).name
    return {"iso8859-1": "ISO-8859-1", "cp1252": "WINDOWS-1252", "utf-8": "UTF-8"}.get(codec, codec.upper())


def _read_sas(path: Path, reader, encoding: str | None, where=None):
    try:
        return reader(str(path), output_format="polars", encoding=_pyreadstat_encoding(encoding))
    except UnicodeDecodeError as exc:
        if encoding is not None:
            raise
        at = where() if where is not None else None
        place = f"row {at[0]}, column {at[1]}" if at else f"byte 0x{exc.object[exc.start]:02X}"
        raise InputOutputError(f"{path} holds text that is not UTF-8 ({place})",
                               "if it was written by a Latin-1 or Windows-1252 SAS session, pass --encoding latin-1 "
                               "(or --encoding cp1252)") from exc


def _read_xport(path: Path, encoding: str | None) -> tuple[pl.DataFrame, list[str]]:
    import pyreadstat

    from .sasfiles import Damaged, xport_layout, xport_rows_problem, xport_undecodable

    data = path.read_bytes()
    try:
        layout = xport_layout(data)
    except Damaged as exc:
        raise InputOutputError(f"{path} {exc}", _DAMAGED) from exc
    if len(layout.members) > 1:
        raise InputOutputError(f"{path} holds {len(layout.members)} datasets ({', '.join(layout.members)}), and "
                               "only the first would be read", "export each dataset to its own .xpt file")
    names = [name for name, *_ in layout.variables]
    if len(set(names)) != len(names):
        import polars as pl

        return pl.DataFrame(), names
    df, _meta = _read_sas(path, pyreadstat.read_xport, encoding, lambda: xport_undecodable(layout, data, "utf-8"))
    problem = xport_rows_problem(layout, data, df.height)
    if problem:
        raise InputOutputError(f"{path} {problem}", _DAMAGED)
    return df, list(df.columns)


def _read_sas7bdat(path: Path, encoding: str | None) -> tuple[pl.DataFrame, list[str]]:
    import pyreadstat

    from .sasfiles import Damaged, sas7bdat_header

    with open(path, "rb") as f:
        head = f.read(1024)
    size = path.stat().st_size
    try:
        header = sas7bdat_header(head)
    except Damaged as exc:
        raise InputOutputError(f"{path} {exc}", _DAMAGED) from exc
    if size != header.file_size:
        cut = "is truncated" if size < header.file_size else "has bytes after its last page"
        raise InputOutputError(
            f"{path} {cut}: its header declares {header.header_size} + {header.page_count} page(s) x "
            f"{header.page_size} bytes = {header.file_size} bytes, but the file has {size}", _DAMAGED)
    df, meta = _read_sas(path, pyreadstat.read_sas7bdat, encoding)
    if meta.number_rows is not None and meta.number_rows != df.height:
        raise InputOutputError(f"{path} is damaged: its header declares {meta.number_rows} rows but {df.height} "
                               "could be read", _DAMAGED)
    return df, list(df.columns)
