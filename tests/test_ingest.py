"""trialkit ingest: file formats, names, units, and what reaches the workspace."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from trialkit.analyses.ingest import dataset_for_file

ADSL_CSV = """studyid,usubjid,trt01a,trt01an,age,sex,saffl,trtsdt
S,001,Low,1,50,M,Y,2021-01-05
S,002,High,2,61,F,Y,2021-02-11
"""


def _adlb_csv(rows: list[str]) -> str:
    return "USUBJID,PARAMCD,PARAM,AVAL,AVALU,AVISIT,AVISITN,ADY,ABLFL,A1LO,A1HI\n" + "\n".join(rows) + "\n"


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize(
    ("stem", "dataset"),
    [("adsl", "adsl"), ("ADSL", "adsl"), ("adlbhy", "adlb"), ("ADLBC", "adlb"), ("adtte", "adtte"), ("dm", None)],
)
def test_dataset_is_known_from_the_file_name(stem, dataset):
    assert dataset_for_file(stem) == dataset


def test_variable_names_are_case_insensitive_and_identifiers_keep_leading_zeros(tmp_path, run_cli):
    src = _write(tmp_path / "src", {"adsl.csv": ADSL_CSV})
    result = run_cli(["ingest", src, "-w", tmp_path / "ws"])
    assert result.exit_code == 0, result.stderr
    df = pl.read_parquet(tmp_path / "ws" / "adsl.parquet")
    assert df["USUBJID"].to_list() == ["001", "002"]
    assert df.schema["AGE"] == pl.Float64 and df.schema["TRTSDT"] == pl.Date


def test_albumin_in_g_per_dl_is_converted_to_g_per_l_keeping_the_original(tmp_path, run_cli):
    src = _write(tmp_path / "src", {
        "adsl.csv": ADSL_CSV,
        "adlb.csv": _adlb_csv([
            "001,ALB,Albumin,3.1,g/dL,Baseline,1,1,Y,3.5,5.5",
            "001,TBIL,Total bilirubin,2.0,mg/dL,Baseline,1,1,Y,0.2,1.2",
            "001,ALT,ALT,40,IU/L,Baseline,1,1,Y,7,40",
            "002,ALB,Albumin,30,g/L,Baseline,1,1,Y,40,55",
        ]),
    })
    assert run_cli(["ingest", src, "-w", tmp_path / "ws"]).exit_code == 0
    lb = pl.read_parquet(tmp_path / "ws" / "adlb.parquet").sort("USUBJID", "PARAMCD")
    alb = lb.filter(pl.col("USUBJID") == "001", pl.col("PARAMCD") == "ALB").row(0, named=True)
    assert alb["AVAL"] == pytest.approx(31.0) and alb["AVALU"] == "g/L"
    assert (alb["AVAL_ORIG"], alb["AVALU_ORIG"]) == (3.1, "g/dL")
    assert (alb["A1LO"], alb["A1HI"]) == (pytest.approx(35.0), pytest.approx(55.0))
    bili = lb.filter(pl.col("PARAMCD") == "TBIL").row(0, named=True)
    assert bili["AVAL"] == pytest.approx(34.2) and bili["AVALU"] == "umol/L"
    alt = lb.filter(pl.col("PARAMCD") == "ALT").row(0, named=True)
    assert (alt["AVAL"], alt["AVALU"], alt["AVALU_ORIG"]) == (40.0, "U/L", "IU/L")
    untouched = lb.filter(pl.col("USUBJID") == "002").row(0, named=True)
    assert (untouched["AVAL"], untouched["AVAL_ORIG"]) == (30.0, None)


def test_unknown_unit_is_kept_as_it_is_and_reported(tmp_path, run_cli):
    src = _write(tmp_path / "src", {
        "adsl.csv": ADSL_CSV,
        "adlb.csv": _adlb_csv(["001,ALB,Albumin,3.1,furlongs,Baseline,1,1,Y,,"]),
    })
    result = run_cli(["ingest", src, "-w", tmp_path / "ws"])
    assert result.exit_code == 0
    assert "unknown unit 'furlongs'" in result.stderr
    row = pl.read_parquet(tmp_path / "ws" / "adlb.parquet").row(0, named=True)
    assert (row["AVAL"], row["AVALU"]) == (3.1, "furlongs")
    report = json.loads((tmp_path / "ws" / "ingest.json").read_text())
    assert {"PARAMCD": "ALB", "AVALU": "furlongs", "status": "unknown unit"}.items() <= report["units"][0].items()


def test_unit_is_read_from_param_when_avalu_is_absent(tmp_path, run_cli):
    csv = "USUBJID,PARAMCD,PARAM,AVAL,AVISITN,ADY\n001,BILI,Bilirubin (mg/dL),1.0,1,1\n"
    src = _write(tmp_path / "src", {"adsl.csv": ADSL_CSV, "adlb.csv": csv})
    assert run_cli(["ingest", src, "-w", tmp_path / "ws"]).exit_code == 0
    row = pl.read_parquet(tmp_path / "ws" / "adlb.parquet").row(0, named=True)
    assert (row["AVAL"], row["AVALU"], row["AVALU_ORIG"]) == (pytest.approx(17.1), "umol/L", "mg/dL")


def test_a_value_that_is_not_a_number_is_a_data_error_naming_file_column_and_rows(tmp_path, run_cli):
    bad = ADSL_CSV.replace("S,002,High,2,61", "S,002,High,2,sixty")
    src = _write(tmp_path / "src", {"adsl.csv": bad})
    result = run_cli(["ingest", src, "-w", tmp_path / "ws"])
    assert result.exit_code == 1
    assert "adsl.csv (ADSL), column AGE: 1 value(s) are not a valid float (rows 2: 'sixty')" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "ws").exists(), "a failed ingest creates nothing"


def test_missing_source_is_an_io_error_with_exit_code_2(tmp_path, run_cli):
    result = run_cli(["ingest", tmp_path / "nope", "-w", tmp_path / "ws"])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_excel_and_parquet_sources_are_read(tmp_path, run_cli):
    src = tmp_path / "src"
    src.mkdir()
    _xlsx(src / "ADSL.xlsx", [line.split(",") for line in ADSL_CSV.strip().splitlines()])
    pl.DataFrame({"USUBJID": ["001"], "PARAMCD": ["OS"], "AVAL": [100.0], "CNSR": [1]}).write_parquet(src / "adtte.parquet")
    result = run_cli(["ingest", src, "-w", tmp_path / "ws"])
    assert result.exit_code == 0, result.stderr
    assert pl.read_parquet(tmp_path / "ws" / "adsl.parquet")["USUBJID"].to_list() == ["001", "002"]
    assert pl.read_parquet(tmp_path / "ws" / "adtte.parquet").schema["CNSR"] == pl.Int64


def test_dataset_option_names_a_file_whose_name_does_not(tmp_path, run_cli):
    src = _write(tmp_path / "src", {"subjects.csv": ADSL_CSV})
    assert run_cli(["ingest", src / "subjects.csv", "-w", tmp_path / "ws"]).exit_code == 2
    assert run_cli(["ingest", src / "subjects.csv", "--dataset", "adsl", "-w", tmp_path / "ws"]).exit_code == 0
    assert (tmp_path / "ws" / "adsl.parquet").exists()


def test_parquet_outputs_carry_the_contract_metadata(seed_workspace):
    meta = pq.read_schema(seed_workspace / "adlb.parquet").metadata
    meta = {k.decode(): v.decode() for k, v in meta.items() if k.startswith(b"trialkit.")}
    assert meta["trialkit.schema"] == "ADLB" and meta["trialkit.schema_version"] == "1.0"
    assert meta["trialkit.command"].startswith("trialkit ")
    inputs = json.loads(meta["trialkit.inputs"])
    seed = Path(__file__).resolve().parents[1] / "fixtures" / "seed_trial" / "adlb.csv"
    assert inputs["builtin:seed_trial/adlb.csv"] == hashlib.sha256(seed.read_bytes()).hexdigest()


def test_manifest_lists_every_file_with_rows_and_hash(seed_workspace):
    manifest = json.loads((seed_workspace / "manifest.json").read_text())["files"]
    on_disk = {p.relative_to(seed_workspace).as_posix() for p in seed_workspace.rglob("*") if p.is_file()}
    state = {p for p in on_disk if p.startswith(".trialkit/")}
    assert state <= {".trialkit/lock", ".trialkit/commit.lock"}, "trialkit's own state: the locks, nothing left over"
    assert set(manifest) == on_disk - {"manifest.json"} - state
    for rel, entry in manifest.items():
        path = seed_workspace / rel
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        if rel.endswith(".parquet"):
            assert entry["rows"] == pq.read_metadata(path).num_rows


def test_same_inputs_give_byte_identical_workspaces(tmp_path, run_cli):
    for ws in ("a", "b"):
        assert run_cli(["ingest", "-w", tmp_path / ws]).exit_code == 0
        assert run_cli(["validate", "-w", tmp_path / ws]).exit_code == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_ingesting_another_trial_removes_the_previous_trials_datasets(tmp_path, run_cli):
    assert run_cli(["ingest", "-w", tmp_path / "ws"]).exit_code == 0
    assert (tmp_path / "ws" / "adex.parquet").exists()
    src = _write(tmp_path / "src", {"adsl.csv": ADSL_CSV})
    assert run_cli(["ingest", src, "-w", tmp_path / "ws"]).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "ws").glob("*.parquet")) == ["adsl.parquet"]
    assert set(json.loads((tmp_path / "ws" / "manifest.json").read_text())["files"]) == {"adsl.parquet", "ingest.json"}


def _xlsx(path: Path, rows: list[list[str]]) -> None:
    """A minimal Office Open XML workbook with inline strings (no writer library needed)."""
    def cell(ref, value):
        return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'

    cols = "ABCDEFGHIJ"
    sheet_rows = "".join(
        f'<row r="{i + 1}">' + "".join(cell(f"{cols[j]}{i + 1}", v) for j, v in enumerate(r)) + "</row>"
        for i, r in enumerate(rows)
    )
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   '<Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                   '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                   "</Types>")
        z.writestr("_rels/.rels", f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", f'<?xml version="1.0"?><workbook {ns} xmlns:r="{rel}"><sheets>'
                   '<sheet name="ADSL" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
        z.writestr("xl/worksheets/sheet1.xml", f'<?xml version="1.0"?><worksheet {ns}><sheetData>{sheet_rows}</sheetData></worksheet>')


def test_a_delivered_base_is_converted_with_aval(tmp_path, run_cli):
    csv = ("USUBJID,PARAMCD,AVAL,AVALU,BASE,AVISITN,ADY,ABLFL\n"
           "001,ALB,3.0,g/dL,3.0,1,1,Y\n001,ALB,3.5,g/dL,3.0,2,29,\n")
    src = _write(tmp_path / "src", {"adsl.csv": ADSL_CSV, "adlb.csv": csv})
    assert run_cli(["ingest", src, "-w", tmp_path / "ws"]).exit_code == 0
    lb = pl.read_parquet(tmp_path / "ws" / "adlb.parquet")
    assert lb["AVAL"].to_list() == [pytest.approx(30.0), pytest.approx(35.0)]
    assert lb["BASE"].to_list() == [pytest.approx(30.0), pytest.approx(30.0)]


def test_reingesting_removes_every_output_derived_from_the_previous_data(tmp_path, run_cli):
    ws = tmp_path / "ws"
    assert run_cli(["ingest", "-w", ws]).exit_code == 0
    assert run_cli(["validate", "-w", ws]).exit_code == 0
    assert run_cli(["survival", "-w", ws, "--no-plot", "--no-cox"]).exit_code == 0
    assert (ws / "survival" / "survival.json").exists()
    assert run_cli(["ingest", "-w", ws]).exit_code == 0
    assert not (ws / "survival").exists() or not any((ws / "survival").iterdir())
    assert not (ws / "validation.json").exists()
    manifest = json.loads((ws / "manifest.json").read_text())["files"]
    assert not [f for f in manifest if f.startswith("survival/")]
