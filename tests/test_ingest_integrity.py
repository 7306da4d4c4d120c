"""trialkit ingest verifies what it read: damaged files, encodings, duplicate columns, paths, implausible values.

Every damaged file is built here from small data in tmp_path (a transport
file written by pyreadstat and cut, a Parquet file cut or overwritten, a zip
cut, ...). Each refusal is checked the same way (``_refused``): the exit code,
one ``Error:`` line naming the file, no traceback and no "trialkit bug", and a
workspace left exactly as it was (it holds an earlier ingest of the built-in
trial, which must survive byte for byte).

SAS7BDAT: pyreadstat cannot write one, so ``tests/data/adtte.sas7bdat`` is a
12-row synthetic file written by ReadStat 1.1.8 (``readstat adtte.dta
adtte.sas7bdat``); the header parser is also tested on synthetic headers.
"""

from __future__ import annotations

import os
import shutil
import struct
import zipfile
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadstat
import pytest

from conftest import snapshot

from trialkit.cli.sasfiles import SAS7BDAT_MAGIC, Damaged, sas7bdat_header

DATA = Path(__file__).parent / "data"

ADSL_CSV = "USUBJID,TRT01A,AGE,SEX,RACE\n001,Low,50,M,Café\n002,High,61,F,White\n"


def _adtte(n: int = 40) -> pl.DataFrame:
    """ADTTE rows 12 + 2 + 8 + 8 + 40 = 70 bytes long in a transport file, so 80-byte cuts land inside rows."""
    return pl.DataFrame({
        "USUBJID": [f"SUBJ-{i:07d}" for i in range(n)],
        "PARAMCD": ["OS"] * n,
        "AVAL": [float(10 * i + 1) for i in range(n)],
        "CNSR": [float(i % 2) for i in range(n)],
        "EVNTDESC": [f"event or censoring {i}" for i in range(n)],
    })


def _xpt(path: Path, df: pl.DataFrame, version: int = 5, **kw) -> bytes:
    pyreadstat.write_xport(df, str(path), file_format_version=version, table_name="ADTTE", **kw)
    return path.read_bytes()




@pytest.fixture(scope="module")
def ingested(tmp_path_factory, run_cli) -> Path:
    ws = tmp_path_factory.mktemp("base") / "ws"
    assert run_cli(["ingest", "-w", ws]).exit_code == 0
    return ws


@pytest.fixture
def ws(tmp_path, ingested) -> Path:
    """A workspace holding an earlier ingest, which a refused ingest must leave exactly as it was."""
    target = tmp_path / "ws"
    shutil.copytree(ingested, target)
    return target


def _refused(run_cli, ws: Path, args: list, code: int, *fragments: str) -> str:
    before = snapshot(ws)
    result = run_cli(["ingest", *args, "-w", ws])
    err = result.stderr
    assert result.exit_code == code, (result.exit_code, err, result.stdout)
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, err
    assert len(err.strip().splitlines()) <= 2, f"one error line and one hint: {err}"
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    assert "Traceback" not in err + result.stdout and "trialkit bug" not in err, err
    assert snapshot(ws) == before, "a refused ingest changes nothing in the workspace"
    return errors[0]


def _ingest_ok(run_cli, args: list, ws: Path) -> pl.DataFrame | None:
    result = run_cli(["ingest", *args, "-w", ws])
    assert result.exit_code == 0, result.stderr
    return result


# ----------------------------------------------------------------------------- SAS transport (.xpt)


@pytest.mark.parametrize("version", [5, 8])
def test_a_transport_file_cut_at_a_record_boundary_inside_a_row_is_refused_not_read_in_part(tmp_path, ws, run_cli, version):
    full = _xpt(tmp_path / "full.xpt", _adtte(), version)
    (tmp_path / "adtte.xpt").write_bytes(full[:len(full) - 80 * 10])  # a whole number of 80-byte records
    expected = "inside row" if version == 5 else "its header declares 40 rows"
    _refused(run_cli, ws, [tmp_path / "adtte.xpt"], 2, "adtte.xpt is truncated", expected)


def test_a_transport_file_that_is_not_whole_80_byte_records_is_truncated(tmp_path, ws, run_cli):
    full = _xpt(tmp_path / "full.xpt", _adtte())
    (tmp_path / "adtte.xpt").write_bytes(full[:-45])
    _refused(run_cli, ws, [tmp_path / "adtte.xpt"], 2, "adtte.xpt is truncated",
             "is not a whole number of 80-byte transport records")


@pytest.mark.parametrize("keep", [10, 100, 300, 700])
def test_a_transport_file_cut_inside_its_header_is_refused(tmp_path, ws, run_cli, keep):
    full = _xpt(tmp_path / "full.xpt", _adtte())
    (tmp_path / "adtte.xpt").write_bytes(full[:keep])
    _refused(run_cli, ws, [tmp_path / "adtte.xpt"], 2, "adtte.xpt is truncated inside its SAS transport header")


def test_an_intact_transport_file_with_blank_padding_reads_every_row(tmp_path, run_cli):
    data = _xpt(tmp_path / "adtte.xpt", _adtte(41))  # 41 x 70 bytes = 2870, padded with 50 blanks to 2880
    assert data.endswith(b" " * 10)
    _ingest_ok(run_cli, [tmp_path / "adtte.xpt"], tmp_path / "ws")
    assert pl.read_parquet(tmp_path / "ws" / "adtte.parquet").height == 41


def test_a_transport_file_holding_two_datasets_is_refused_rather_than_read_in_part(tmp_path, ws, run_cli):
    first = _xpt(tmp_path / "a.xpt", _adtte(3))
    second = _xpt(tmp_path / "b.xpt", _adtte(5))
    (tmp_path / "adtte.xpt").write_bytes(first + second[240:])  # the second member after the first
    _refused(run_cli, ws, [tmp_path / "adtte.xpt"], 2, "adtte.xpt holds 2 datasets", "only the first would be read")


def test_a_file_that_is_not_a_transport_file_is_refused(tmp_path, ws, run_cli):
    (tmp_path / "adtte.xpt").write_text("USUBJID,AVAL\n1,2\n" * 20)
    _refused(run_cli, ws, [tmp_path / "adtte.xpt"], 2, "adtte.xpt is not a SAS transport (XPORT) file")


def test_transport_text_that_is_not_utf8_is_refused_with_row_column_and_the_encoding_to_pass(tmp_path, ws, run_cli):
    df = pl.DataFrame({"USUBJID": ["001", "002"], "TRT01A": ["Low", "High"], "RACE": ["White", "Cafe"]})
    data = _xpt(tmp_path / "w.xpt", df).replace(b"Cafe", b"Caf\xe9")  # a Latin-1 e-acute, as an old SAS session writes
    (tmp_path / "adsl.xpt").write_bytes(data)
    _refused(run_cli, ws, [tmp_path / "adsl.xpt"], 2, "adsl.xpt holds text that is not UTF-8 (row 2, column RACE)")
    _ingest_ok(run_cli, [tmp_path / "adsl.xpt", "--encoding", "latin-1"], tmp_path / "ok")
    assert pl.read_parquet(tmp_path / "ok" / "adsl.parquet")["RACE"].to_list() == ["White", "Café"]


def test_the_cut_pilot_adtte_that_ingested_118_of_254_rows_is_refused(tmp_path, ws, run_cli, pilot_dir):
    src = tmp_path / "t"
    src.mkdir()
    (src / "adtte.xpt").write_bytes((pilot_dir / "adtte.xpt").read_bytes()[:36720])
    shutil.copy(pilot_dir / "adsl.xpt", src / "adsl.xpt")
    _refused(run_cli, ws, [src], 2, "adtte.xpt is truncated: its data stop inside row 119", "118 row(s)")


# ----------------------------------------------------------------------------- SAS7BDAT


@pytest.fixture
def sas7bdat() -> bytes:
    path = DATA / "adtte.sas7bdat"
    if not path.exists():
        pytest.skip(f"{path} (a tiny synthetic SAS7BDAT written by ReadStat) is absent")
    return path.read_bytes()


def test_an_intact_sas7bdat_file_reads_every_row(tmp_path, run_cli, sas7bdat):
    (tmp_path / "adtte.sas7bdat").write_bytes(sas7bdat)
    _ingest_ok(run_cli, [tmp_path / "adtte.sas7bdat"], tmp_path / "ws")
    assert pl.read_parquet(tmp_path / "ws" / "adtte.parquet").height == 12


@pytest.mark.parametrize(("cut", "fragments"), [
    (4096, ("adtte.sas7bdat is truncated: its header declares 8192 + 2 page(s) x 4096 bytes = 16384 bytes",
            "the file has 12288")),
    (1000, ("adtte.sas7bdat is truncated: its header declares", "the file has 15384")),
    (16384 - 100, ("adtte.sas7bdat is truncated inside its SAS7BDAT header (100 bytes)",)),
], ids=["a-page", "inside-a-page", "inside-the-header"])
def test_a_cut_sas7bdat_file_is_refused_by_its_header_sizes(tmp_path, ws, run_cli, sas7bdat, cut, fragments):
    assert len(sas7bdat) == 16384
    (tmp_path / "adtte.sas7bdat").write_bytes(sas7bdat[:len(sas7bdat) - cut])
    _refused(run_cli, ws, [tmp_path / "adtte.sas7bdat"], 2, *fragments)


def test_bytes_after_the_last_sas7bdat_page_are_refused(tmp_path, ws, run_cli, sas7bdat):
    (tmp_path / "adtte.sas7bdat").write_bytes(sas7bdat + b"\0" * 512)
    _refused(run_cli, ws, [tmp_path / "adtte.sas7bdat"], 2, "has bytes after its last page")


def test_a_file_that_is_not_sas7bdat_is_refused(tmp_path, ws, run_cli):
    (tmp_path / "adtte.sas7bdat").write_bytes(b"not a SAS file " * 200)
    _refused(run_cli, ws, [tmp_path / "adtte.sas7bdat"], 2, "adtte.sas7bdat is not a SAS7BDAT file")


def _synthetic_header(u64: bool, pad: bool, little: bool, sizes: tuple[int, int, int]) -> bytes:
    head = bytearray(1024)
    head[:32] = SAS7BDAT_MAGIC
    head[32] = 0x33 if u64 else 0x22
    head[35] = 0x33 if pad else 0x22
    head[37] = 0x01 if little else 0x00
    at = 196 + (4 if pad else 0)
    order = "<" if little else ">"
    head[at:at + 8] = struct.pack(order + "II", *sizes[:2])
    count = struct.pack(order + ("Q" if u64 else "I"), sizes[2])
    head[at + 8:at + 8 + len(count)] = count
    return bytes(head)


@pytest.mark.parametrize("u64", [True, False])
@pytest.mark.parametrize("pad", [True, False])
@pytest.mark.parametrize("little", [True, False])
def test_sas7bdat_header_sizes_are_read_in_every_layout(u64, pad, little):
    header = sas7bdat_header(_synthetic_header(u64, pad, little, (65536, 65536, 7)))
    assert (header.header_size, header.page_size, header.page_count) == (65536, 65536, 7)
    assert header.file_size == 65536 * 8


def test_a_damaged_sas7bdat_header_is_refused():
    with pytest.raises(Damaged, match="damaged header"):
        sas7bdat_header(_synthetic_header(True, False, True, (12, 0, 1)))
    with pytest.raises(Damaged, match="truncated inside its SAS7BDAT header"):
        sas7bdat_header(SAS7BDAT_MAGIC[:20])


# ----------------------------------------------------------------------------- Parquet


@pytest.mark.parametrize("keep", [0, 3, 100, 0.5, -8, -1])
def test_a_cut_parquet_file_is_refused_naming_its_missing_footer(tmp_path, ws, run_cli, keep):
    _adtte(1000).write_parquet(tmp_path / "full.parquet", row_group_size=100)
    data = (tmp_path / "full.parquet").read_bytes()
    end = int(len(data) * keep) if isinstance(keep, float) else (keep if keep >= 0 else len(data) + keep)
    (tmp_path / "adtte.parquet").write_bytes(data[:end])
    _refused(run_cli, ws, [tmp_path / "adtte.parquet"], 2, "adtte.parquet is truncated or not a Parquet file")


def test_overwritten_parquet_data_pages_are_an_error_not_a_panic(tmp_path, ws, run_cli):
    _adtte(1000).write_parquet(tmp_path / "full.parquet", row_group_size=100)
    data = bytearray((tmp_path / "full.parquet").read_bytes())
    data[200:400] = b"\xab" * 200  # polars' own reader panics on some such files
    (tmp_path / "adtte.parquet").write_bytes(bytes(data))
    _refused(run_cli, ws, [tmp_path / "adtte.parquet"], 2, "adtte.parquet cannot be read as parquet")


def test_duplicate_parquet_columns_are_refused(tmp_path, ws, run_cli):
    pq.write_table(pa.table([pa.array(["1"]), pa.array(["A"]), pa.array([1.0]), pa.array([2.0])],
                            names=["USUBJID", "TRT01A", "AGE", "AGE"]), tmp_path / "adsl.parquet")
    _refused(run_cli, ws, [tmp_path / "adsl.parquet"], 1, "adsl.parquet (ADSL)", "AGE (2 times)")


# ----------------------------------------------------------------------------- Excel


def _workbook(path: Path, rows: list[list[str]]) -> None:
    from test_ingest import _xlsx

    _xlsx(path, rows)


def test_a_cut_workbook_is_refused(tmp_path, ws, run_cli):
    _workbook(tmp_path / "full.xlsx", [line.split(",") for line in ADSL_CSV.strip().splitlines()])
    data = (tmp_path / "full.xlsx").read_bytes()
    (tmp_path / "adsl.xlsx").write_bytes(data[:len(data) // 2])
    _refused(run_cli, ws, [tmp_path / "adsl.xlsx"], 2, "adsl.xlsx is truncated or not an Excel workbook")


def test_a_workbook_part_that_fails_its_checksum_is_refused(tmp_path, ws, run_cli):
    rows = [["USUBJID", "TRT01A"]] + [[f"{i:03d}", "Low"] for i in range(50)]
    _workbook(tmp_path / "adsl.xlsx", rows)
    data = bytearray((tmp_path / "adsl.xlsx").read_bytes())
    at = data.index(b"<t>025</t>")
    data[at + 3:at + 6] = b"999"  # the stored sheet still parses, but its CRC-32 no longer matches
    (tmp_path / "adsl.xlsx").write_bytes(bytes(data))
    with zipfile.ZipFile(tmp_path / "adsl.xlsx") as z:
        assert z.testzip() == "xl/worksheets/sheet1.xml"
    _refused(run_cli, ws, [tmp_path / "adsl.xlsx"], 2, "adsl.xlsx is damaged: part xl/worksheets/sheet1.xml")


def test_duplicate_workbook_columns_are_refused(tmp_path, ws, run_cli):
    _workbook(tmp_path / "adsl.xlsx", [["USUBJID", "TRT01A", "AGE", "AGE"], ["1", "Low", "50", "51"]])
    _refused(run_cli, ws, [tmp_path / "adsl.xlsx"], 1, "adsl.xlsx (ADSL)", "AGE (2 times)")


# ----------------------------------------------------------------------------- CSV: damage


def test_a_csv_cut_inside_a_row_is_refused_naming_the_line(tmp_path, ws, run_cli):
    (tmp_path / "adsl.csv").write_text(ADSL_CSV[:-12])
    _refused(run_cli, ws, [tmp_path / "adsl.csv"], 2, "adsl.csv: line 3 has 2 field(s) but the header has 5")


def test_a_csv_row_with_an_extra_field_is_refused_naming_the_line(tmp_path, ws, run_cli):
    (tmp_path / "adsl.csv").write_text(ADSL_CSV + "003,Low,40,F,White,extra\n")
    _refused(run_cli, ws, [tmp_path / "adsl.csv"], 2, "adsl.csv: line 4 has 6 field(s) but the header has 5")


def test_a_csv_cut_inside_a_quoted_value_is_refused(tmp_path, ws, run_cli):
    (tmp_path / "adsl.csv").write_text(ADSL_CSV + '003,Low,40,F,"Black or\nAfrican')
    _refused(run_cli, ws, [tmp_path / "adsl.csv"], 2, "adsl.csv: the double quote on line 4 is never closed")


def test_a_csv_ending_in_zeroed_blocks_is_refused_naming_the_nul_byte(tmp_path, ws, run_cli):
    (tmp_path / "adsl.csv").write_bytes(ADSL_CSV.encode() + b"\0" * 512)
    _refused(run_cli, ws, [tmp_path / "adsl.csv"], 2, "adsl.csv: line 4, column 1 (USUBJID) holds a NUL byte")


def test_an_empty_csv_is_refused(tmp_path, ws, run_cli):
    (tmp_path / "adsl.csv").write_bytes(b"")
    _refused(run_cli, ws, [tmp_path / "adsl.csv"], 2, "adsl.csv is empty")


# ----------------------------------------------------------------------------- CSV: encodings


def _read_adsl(run_cli, tmp_path: Path, raw: bytes, *options: str) -> pl.DataFrame:
    (tmp_path / "adsl.csv").write_bytes(raw)
    _ingest_ok(run_cli, [tmp_path / "adsl.csv", *options], tmp_path / "out")
    return pl.read_parquet(tmp_path / "out" / "adsl.parquet")


@pytest.mark.parametrize("raw", [
    ADSL_CSV.encode(),
    b"\xef\xbb\xbf" + ADSL_CSV.encode(),
    ADSL_CSV.encode("utf-16"),
    b"\xfe\xff" + ADSL_CSV.encode("utf-16-be"),
], ids=["utf-8", "utf-8-bom", "utf-16-le-bom", "utf-16-be-bom"])
def test_utf8_with_or_without_bom_and_utf16_with_bom_are_read_exactly(tmp_path, run_cli, raw):
    df = _read_adsl(run_cli, tmp_path, raw)
    assert df.columns[0] == "USUBJID", df.columns
    assert df["RACE"].to_list() == ["Café", "White"]


def test_latin1_without_encoding_is_refused_naming_line_and_column_and_suggesting_latin1(tmp_path, ws, run_cli):
    (tmp_path / "adsl.csv").write_bytes(ADSL_CSV.encode("latin-1"))
    line = _refused(run_cli, ws, [tmp_path / "adsl.csv"], 2,
                    "adsl.csv: line 2, column 5 (RACE): byte 0xE9 is not valid UTF-8")
    assert "\ufffd" not in line
    result = run_cli(["ingest", tmp_path / "adsl.csv", "-w", tmp_path / "other"])
    assert "--encoding latin-1" in result.stderr


@pytest.mark.parametrize(("codec", "text"), [("latin-1", "Café"), ("cp1252", "€ 5"), ("utf-16-le", "Café")])
def test_encoding_option_reads_other_codecs_exactly(tmp_path, run_cli, codec, text):
    df = _read_adsl(run_cli, tmp_path, ADSL_CSV.replace("Café", text).encode(codec), "--encoding", codec)
    assert df["RACE"].to_list() == [text, "White"]


def test_utf16_without_bom_is_refused_suggesting_the_encoding(tmp_path, ws, run_cli):
    (tmp_path / "adsl.csv").write_bytes(ADSL_CSV.encode("utf-16-le"))
    _refused(run_cli, ws, [tmp_path / "adsl.csv"], 2, "adsl.csv looks like UTF-16 text without a byte-order mark")
    assert "--encoding utf-16-le" in run_cli(["ingest", tmp_path / "adsl.csv", "-w", tmp_path / "x"]).stderr


def test_a_byte_the_given_encoding_cannot_decode_is_refused_naming_line_and_column(tmp_path, ws, run_cli):
    (tmp_path / "adsl.csv").write_bytes(ADSL_CSV.encode("utf-8"))
    _refused(run_cli, ws, [tmp_path / "adsl.csv", "--encoding", "ascii"], 2,
             "adsl.csv: line 2, column 5 (RACE): byte 0xC3 is not valid ascii")


def test_an_unknown_encoding_or_one_contradicting_the_bom_is_a_usage_error(tmp_path, ws, run_cli):
    (tmp_path / "adsl.csv").write_bytes(b"\xef\xbb\xbf" + ADSL_CSV.encode())
    _refused(run_cli, ws, [tmp_path / "adsl.csv", "--encoding", "klingon"], 2, "--encoding klingon: unknown encoding")
    _refused(run_cli, ws, [tmp_path / "adsl.csv", "--encoding", "latin-1"], 2,
             "adsl.csv starts with a UTF-8 byte-order mark, but --encoding latin-1 was given")


# ----------------------------------------------------------------------------- duplicate columns


def test_an_exactly_duplicated_csv_column_names_file_dataset_and_column(tmp_path, ws, run_cli):
    (tmp_path / "adsl.csv").write_text("USUBJID,TRT01A,AGE,AGE\n001,Low,50,51\n")
    _refused(run_cli, ws, [tmp_path / "adsl.csv"], 1, "adsl.csv (ADSL): column name(s) appear more than once: AGE")


def test_columns_equal_but_for_case_name_file_dataset_and_both_spellings(tmp_path, ws, run_cli):
    (tmp_path / "adsl.csv").write_text("USUBJID,TRT01A,age,AGE\n001,Low,50,51\n")
    _refused(run_cli, ws, [tmp_path / "adsl.csv"], 1, "adsl.csv (ADSL): columns age and AGE are the same variable")


# ----------------------------------------------------------------------------- paths


def test_a_folder_named_like_a_dataset_is_refused(tmp_path, ws, run_cli):
    (tmp_path / "src" / "adsl.csv").mkdir(parents=True)
    _refused(run_cli, ws, [tmp_path / "src"], 2, "adsl.csv is a folder, not a data file")


@pytest.mark.parametrize("in_folder", [True, False])
def test_a_symbolic_link_loop_is_refused(tmp_path, ws, run_cli, in_folder):
    src = tmp_path / "src"
    src.mkdir()
    os.symlink("adsl.csv", src / "adsl.csv")
    _refused(run_cli, ws, [src if in_folder else src / "adsl.csv"], 2, "adsl.csv is a symbolic link loop")


def test_a_dangling_symbolic_link_is_refused_naming_its_target(tmp_path, ws, run_cli):
    src = tmp_path / "src"
    src.mkdir()
    os.symlink("gone.csv", src / "adsl.csv")
    _refused(run_cli, ws, [src], 2, "adsl.csv is a symbolic link to gone.csv, which does not exist")


def test_an_unreadable_file_is_refused(tmp_path, ws, run_cli):
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("running as root, which reads a file whatever its permissions (chmod 000 cannot stop it)")
    src = tmp_path / "src"
    src.mkdir()
    (src / "adsl.csv").write_text(ADSL_CSV)
    (src / "adsl.csv").chmod(0)
    try:
        _refused(run_cli, ws, [src], 2, "adsl.csv cannot be read: permission denied")
    finally:
        (src / "adsl.csv").chmod(0o644)


# ----------------------------------------------------------------------------- implausible dates and times


def test_dates_outside_1900_2200_and_times_beyond_100_years_are_quarantined_and_counts_reconcile(tmp_path, run_cli):
    import json

    src = tmp_path / "src"
    src.mkdir()
    pl.DataFrame({
        "USUBJID": ["1", "2", "3", "4"], "TRT01A": ["Low", "Low", "High", "High"],
        "TRTSDT": [date(2020, 1, 1), date(1899, 12, 31), date(2020, 2, 1), date(2020, 3, 1)],
    }).write_parquet(src / "adsl.parquet")
    pl.DataFrame({
        "USUBJID": ["1", "2", "3", "4"], "PARAMCD": ["OS"] * 4, "AVAL": [10.0, 20.0, 1e300, 30.0],
        "CNSR": [0, 1, 0, 1],
        # days since 1970: the last is in year 227093, a SAS day count gone wrong
        "ADT": pl.Series([18293, 18322, 18353, (227093 - 1970) * 365], dtype=pl.Int32).cast(pl.Date),
    }).write_parquet(src / "adtte.parquet")
    ws = tmp_path / "ws"
    _ingest_ok(run_cli, [src], ws)
    result = run_cli(["validate", "-w", ws], env={"COLUMNS": "250"})
    assert result.exit_code == 1, result.stderr
    report = json.loads((ws / "validation.json").read_text())
    rules = {(v["dataset"], v["rule"]): v for v in report["violations"]}
    assert rules[("ADSL", "TRTSDT_date_range")]["rows"] == [2]
    assert rules[("ADTTE", "aval_time_plausible")]["rows"] == [3]
    assert "AVAL=1e+300" in rules[("ADTTE", "aval_time_plausible")]["examples"][0]
    assert rules[("ADTTE", "ADT_date_range")]["rows"] == [4]
    held = pl.read_parquet(ws / "quarantine" / "adtte.parquet")
    assert sorted(held["QUARANTINE_REASON"]) == ["ADT_date_range", "aval_time_plausible"]
    for d in report["datasets"]:
        assert d["input_rows"] == d["kept_rows"] + d["quarantined_rows"] and d["reconciles"], d
    assert "check the time unit" in result.stdout


def test_a_sas_day_number_no_date_can_hold_is_refused_at_ingest_not_wrapped_around(tmp_path, ws, run_cli):
    pl.DataFrame({"USUBJID": ["1", "2"], "TRT01A": ["Low", "High"], "TRTSDT": [22000.0, 1e15]}) \
        .write_parquet(tmp_path / "adsl.parquet")
    _refused(run_cli, ws, [tmp_path / "adsl.parquet"], 1,
             "adsl.parquet (ADSL), column TRTSDT: 1 value(s) are not a valid date (rows 2: '1000000000000000.0')")
