"""What a SAS file says about itself, to check that a reader got all of it.

pyreadstat (ReadStat) reads as many rows of a SAS transport file as it
finds, and stops quietly at a cut: a truncated ``.xpt`` gives a partial
dataset and no error. These functions read the files' own layout so that
``cli.readers`` can compare it with what was read.

- SAS transport (XPORT, ``.xpt``), versions 5 and 8: 80-byte records; a
  library header, one member header per dataset, a NAMESTR record of 140
  bytes per variable (its length and position in the row), then the rows,
  each as long as the variables together, padded with blanks to a whole
  number of 80-byte records. Version 8 also writes the row count in the OBS
  header. So a whole file is a multiple of 80 bytes, its data hold a whole
  number of rows plus fewer than 80 bytes of blanks, and a version 8 file
  holds the rows it declares.
- SAS7BDAT: a header of ``header_size`` bytes followed by ``page_count``
  pages of ``page_size`` bytes, all three given in the header; a whole file
  is exactly that long.

Pure functions over bytes: no file I/O, no polars.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["Damaged", "XportLayout", "xport_layout", "xport_rows_problem", "xport_undecodable", "Sas7bdatHeader", "sas7bdat_header",
           "SAS7BDAT_MAGIC"]

RECORD = 80
_HEADER = b"HEADER RECORD*******"
_NAMESTR_SIZE = 140
SAS7BDAT_MAGIC = bytes.fromhex("000000000000000000000000c2ea8160b31411cfbd92080009c7318c181f1011")


class Damaged(ValueError):
    """The file's bytes contradict its own layout; the message says how."""


@dataclass(frozen=True)
class XportLayout:
    """Where the rows of a transport file's first dataset are, and how long each is."""

    version: int
    members: tuple[str, ...]
    row_length: int
    data_start: int
    data_end: int
    declared_rows: int | None
    #: (name, offset in the row, length, is character)
    variables: tuple[tuple[str, int, int, bool], ...]

    @property
    def data_length(self) -> int:
        return self.data_end - self.data_start


def _header_name(record: bytes) -> str | None:
    if not record.startswith(_HEADER) or len(record) < RECORD:
        return None
    return record[20:28].decode("ascii", "replace").strip()


def _numbers(record: bytes) -> list[int]:
    """The six five-digit numbers after the name of a header record (ReadStat reads them so)."""
    out = []
    for i in range(48, 78, 5):
        text = record[i:i + 5].decode("ascii", "replace").strip()
        out.append(int(text) if text.isdigit() else 0)
    return out


def _find_header(data: bytes, names: tuple[str, ...], start: int, step: int | None = None) -> int:
    """Offset of the first header record named one of ``names`` at or after ``start``; -1 if none.

    With ``step``, only offsets ``start + k * step`` count (records are aligned
    to the start of the data), so the bytes of a row cannot pass for a header.
    """
    pos = start
    while True:
        pos = data.find(_HEADER, pos)
        if pos < 0:
            return -1
        if (step is None or (pos - start) % step == 0) and _header_name(data[pos:pos + RECORD]) in names:
            return pos
        pos += 1


def xport_layout(data: bytes) -> XportLayout:
    """The layout of a SAS transport file's first dataset; ``Damaged`` when the header is cut or is not one."""
    size = len(data)
    first = _header_name(data[:RECORD])
    if first not in ("LIBRARY", "LIBV8"):
        if size < RECORD and _HEADER.startswith(data[:len(_HEADER)]):
            raise Damaged(f"is truncated inside its SAS transport header ({size} bytes)")
        if data.startswith(b"**COMPRESSED**"):
            raise Damaged("is a SAS CPORT file, not a transport (XPORT) file; export it with the XPORT engine "
                          "(libname x xport) or xpt2loc")
        raise Damaged("is not a SAS transport (XPORT) file: it does not begin with a LIBRARY header record")
    version = 5 if first == "LIBRARY" else 8
    member = 3 * RECORD
    names = ("MEMBER", "MEMBV8")
    if _header_name(data[member:member + RECORD]) not in names:
        raise _cut_header(size, member + RECORD)
    namestr_size = _numbers(data[member:member + RECORD])[5] or _NAMESTR_SIZE
    descriptor = data[member + 2 * RECORD:member + 3 * RECORD]
    table = descriptor[8:16 if version == 5 else 40].decode("latin-1").strip()
    namestr_header = member + 4 * RECORD
    if _header_name(data[namestr_header:namestr_header + RECORD]) not in ("NAMESTR", "NAMSTV8"):
        raise _cut_header(size, namestr_header + RECORD)
    n_vars = _numbers(data[namestr_header:namestr_header + RECORD])[1]
    start = namestr_header + RECORD
    end = start + n_vars * namestr_size
    if end > size:
        raise _cut_header(size, end)
    variables = []
    for i in range(n_vars):  # one NAMESTR per variable (columns, not rows)
        rec = data[start + i * namestr_size:start + (i + 1) * namestr_size]
        ntype, _, nlng = struct.unpack(">hhh", rec[0:6])
        (npos,) = struct.unpack(">i", rec[84:88])
        name = (rec[88:120] if version == 8 and rec[88:120].strip(b" \x00") else rec[8:16]).decode("latin-1")
        variables.append((name.strip(" \x00"), npos, nlng, ntype == 2))
    obs = _find_header(data, ("OBS", "OBSV8"), end)
    if obs < 0:
        raise _cut_header(size, end + RECORD)
    data_start = obs + RECORD
    declared = None
    if version == 8:
        text = data[obs + 48:obs + RECORD].decode("ascii", "replace").strip()
        declared = int(text) if text.isdigit() else None
    next_member = _find_header(data, names, data_start, RECORD)
    data_end = size if next_member < 0 else next_member
    members = [table]
    pos = next_member
    while pos >= 0:
        rec = data[pos + 2 * RECORD:pos + 3 * RECORD]
        members.append(rec[8:16 if version == 5 else 40].decode("latin-1").strip() or "?")
        pos = _find_header(data, names, pos + RECORD, RECORD)
    row_length = max((pos + length for _, pos, length, _ in variables), default=0)
    return XportLayout(version, tuple(members), row_length, data_start, data_end, declared, tuple(variables))


def _cut_header(size: int, needed: int) -> Damaged:
    return Damaged(f"is truncated inside its SAS transport header ({size} bytes; the header alone needs at least "
                   f"{needed})")


def xport_rows_problem(layout: XportLayout, data: bytes, rows_read: int) -> str | None:
    """Why ``rows_read`` rows are not the whole first dataset of this file; None when they are."""
    length = layout.data_length
    if len(data) % RECORD:
        return (f"is truncated: {len(data)} bytes is not a whole number of 80-byte transport records "
                f"(rows are {layout.row_length} bytes; {rows_read} row(s) could be read)")
    if layout.declared_rows is not None and layout.declared_rows != rows_read:
        return f"is truncated or damaged: its header declares {layout.declared_rows} rows but {rows_read} could be read"
    if layout.row_length == 0:
        return None
    used = rows_read * layout.row_length
    rest = data[layout.data_start + used:layout.data_end]
    if used > length or len(rest) >= RECORD or rest.strip(b" "):
        whole, part = divmod(length, layout.row_length)
        if part and rest.strip(b" ") and whole == rows_read:
            return (f"is truncated: its data stop inside row {whole + 1} (rows are {layout.row_length} bytes; "
                    f"{length} bytes of data hold {whole} rows and {part} bytes more), so only {rows_read} row(s) "
                    "could be read")
        return (f"is damaged: {rows_read} row(s) of {layout.row_length} bytes were read, but the data hold "
                f"{length} bytes ({length / layout.row_length:.1f} rows)")
    return None


def xport_undecodable(layout: XportLayout, data: bytes, codec: str) -> tuple[int, str] | None:
    """The first (row number from 1, variable) whose text is not valid ``codec``; None if all are."""
    import numpy as np

    n = layout.data_length // layout.row_length if layout.row_length else 0
    if n == 0:
        return None
    rows = np.frombuffer(data, dtype=np.uint8, count=n * layout.row_length, offset=layout.data_start)
    rows = rows.reshape(n, layout.row_length)
    found: list[tuple[int, str]] = []
    for name, pos, length, is_char in layout.variables:  # one pass per character variable, not per row
        if not is_char or length <= 0:
            continue
        try:
            rows[:, pos:pos + length].tobytes().decode(codec)
        except UnicodeDecodeError as exc:
            found.append((exc.start // length + 1, name))
    return min(found) if found else None


@dataclass(frozen=True)
class Sas7bdatHeader:
    """The sizes a SAS7BDAT header declares."""

    header_size: int
    page_size: int
    page_count: int

    @property
    def file_size(self) -> int:
        return self.header_size + self.page_size * self.page_count


def sas7bdat_header(head: bytes) -> Sas7bdatHeader:
    """Header size, page size and page count from the first bytes of a SAS7BDAT file (ReadStat's layout).

    Byte 32 is 0x33 in a 64-bit file (the page count is 8 bytes), byte 35 is
    0x33 when the fields after the dataset name are shifted by 4 bytes, and
    byte 37 gives the byte order (1: little-endian).
    """
    if len(head) < 32 or head[:32] != SAS7BDAT_MAGIC:
        if len(head) < 32 and SAS7BDAT_MAGIC.startswith(head):
            raise Damaged(f"is truncated inside its SAS7BDAT header ({len(head)} bytes)")
        raise Damaged("is not a SAS7BDAT file: it does not begin with the SAS7BDAT signature")
    u64 = head[32] == 0x33
    pad = 4 if head[35] == 0x33 else 0
    order = "<" if head[37] == 0x01 else ">"
    at = 196 + pad
    need = at + 8 + (8 if u64 else 4)
    if len(head) < need:
        raise Damaged(f"is truncated inside its SAS7BDAT header ({len(head)} bytes)")
    header_size, page_size = struct.unpack(order + "II", head[at:at + 8])
    (page_count,) = struct.unpack(order + ("Q" if u64 else "I"), head[at + 8:need])
    if not (1024 <= header_size <= 1 << 24 and 1024 <= page_size <= 1 << 24):
        raise Damaged(f"has a damaged header (header size {header_size}, page size {page_size})")
    return Sas7bdatHeader(header_size, page_size, page_count)
