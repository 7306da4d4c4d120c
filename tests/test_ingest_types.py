"""Column types at ingest: a typed source keeps its types; CSV text that reads as numbers becomes numbers."""

import polars as pl
import pyreadstat

from conftest import SEED


def _adsl_with_site_group(tmp_path):
    adsl = pl.read_csv(SEED / "adsl.csv", infer_schema_length=0)
    return adsl.with_columns(pl.Series("SITEGR1", ["701", "703"] * (adsl.height // 2)))


def test_a_sas_character_column_of_digits_stays_text(tmp_path, run_cli):
    src = tmp_path / "src"
    src.mkdir()
    adsl = _adsl_with_site_group(tmp_path).to_pandas()
    for col in ("TRT01AN", "AGE"):
        adsl[col] = adsl[col].astype(float)
    pyreadstat.write_xport(adsl, str(src / "adsl.xpt"), table_name="ADSL")
    result = run_cli(["ingest", src, "-w", tmp_path / "ws"])
    assert result.exit_code == 0, result.stderr
    got = pl.read_parquet(tmp_path / "ws" / "adsl.parquet")
    assert got.schema["SITEGR1"] == pl.String and got["SITEGR1"].unique().sort().to_list() == ["701", "703"]


def test_a_csv_column_of_digits_becomes_numbers(tmp_path, run_cli):
    src = tmp_path / "src"
    src.mkdir()
    _adsl_with_site_group(tmp_path).write_csv(src / "adsl.csv")
    result = run_cli(["ingest", src, "-w", tmp_path / "ws"])
    assert result.exit_code == 0, result.stderr
    assert pl.read_parquet(tmp_path / "ws" / "adsl.parquet").schema["SITEGR1"] == pl.Float64
