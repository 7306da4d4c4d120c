"""schemas/outputs.py: the declared stage outputs, what the stages write, and what the report refuses.

The declarations cannot drift from the stages: every table each stage writes
on the built-in trial must be declared and match its declaration (names,
dtypes, schema name and version in the file metadata), and every declared
table must be written.
"""

from __future__ import annotations

import shutil

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from report_workspaces import STAGES, missing_stages, staged_copy
from trialkit.cli.workspace import Stage, read_output
from trialkit.schemas.outputs import OUTPUTS, OutputTable, output_table, stage_tables

KNOWN_DTYPES = {"String", "Float64", "Int64", "UInt32", "Boolean", "Date"}


@pytest.fixture(scope="module")
def staged(seed_workspace, run_cli, tmp_path_factory):
    """The built-in trial with every stage run (shared with the report tests; do not modify)."""
    missing = missing_stages()
    if missing:
        pytest.skip(f"needs the analysis stages {', '.join(missing)}, not registered in trialkit yet")
    ws, _ran = staged_copy(seed_workspace, tmp_path_factory.getbasetemp(), run_cli, "seed-staged")
    return ws


# ---------------------------------------------------------------- declarations
def test_every_declaration_has_a_unique_schema_name_unique_columns_known_dtypes_and_a_version_number():
    names = [t.name for t in OUTPUTS.values()]
    assert len(names) == len(set(names))
    for t in OUTPUTS.values():
        assert t.stage in STAGES and t.name.startswith(f"{t.stage}-") and t.version.isdigit()
        cols = [c.name for c in t.columns]
        assert len(cols) == len(set(cols)), t.name
        assert {c.dtype for c in t.columns} <= KNOWN_DTYPES, t.name


KM = output_table("survival", "km")
KM_TYPES = {c.name: c.dtype for c in KM.columns}


def test_a_matching_table_has_no_problems():
    assert KM.problems(KM_TYPES, "survival-km", "1") == []


@pytest.mark.parametrize("dtypes, schema, version, problem", [
    ({k: v for k, v in KM_TYPES.items() if k != "survival"}, None, None, "column(s) survival missing"),
    ({**KM_TYPES, "n_risk": "Float64"}, None, None, "n_risk is Float64, not Int64"),
    ({**KM_TYPES, "note": "String"}, None, None, "undeclared column(s) note"),
    (KM_TYPES, "survival-medians", "1", "its schema is 'survival-medians', not 'survival-km'"),
    (KM_TYPES, "survival-km", "0", "it is version '0' of survival-km, this trialkit reads version '1'"),
])
def test_each_kind_of_mismatch_is_named(dtypes, schema, version, problem):
    assert KM.problems(dtypes, schema, version) == [problem]


def test_the_derived_adlb_may_carry_the_ingested_variables_but_not_lose_its_own():
    adlb = output_table("biomarkers", "adlb")
    own = {c.name: c.dtype for c in adlb.columns}
    assert adlb.problems({**own, "AVISIT": "String", "TRTA": "String"}) == []
    assert adlb.problems({k: v for k, v in own.items() if k != "CHG"}) == ["column(s) CHG missing"]


# ------------------------------------------------------- the stages' own outputs
def test_every_table_each_stage_writes_on_the_builtin_trial_matches_its_declaration(staged):
    for stage in STAGES:
        written = sorted(p.stem for p in (staged / stage).glob("*.parquet"))
        required = sorted(t.table for t in stage_tables(stage) if not t.optional)
        assert set(required) <= set(written) <= {t.table for t in stage_tables(stage)}, stage
        for spec in (t for t in stage_tables(stage) if t.table in written):
            path = staged / spec.file
            meta = pq.read_schema(path).metadata
            df = pl.read_parquet(path)
            problems = spec.problems({c: str(t) for c, t in df.schema.items()},
                                     meta[b"trialkit.schema"].decode(), meta[b"trialkit.schema_version"].decode())
            assert problems == [], f"{spec.file}: {problems}"
            if not spec.extra_columns:  # closed tables: declared in the order they are written
                assert df.columns == [c.name for c in spec.columns], spec.file


def test_a_stage_cannot_write_a_table_that_breaks_its_declaration(tmp_path):
    frame = pl.DataFrame({"arm": ["A"], "armcd": ["A"], "trt01an": [1.0], "n": [3]})  # no events
    with pytest.raises(RuntimeError, match=r"survival/arms.parquet does not match its declaration survival-arms: "
                                           r"column\(s\) events missing"):
        with Stage(tmp_path, "survival", {}) as stage:
            stage.write_output("survival", "arms", frame)
    with pytest.raises(RuntimeError, match="survival/extra.parquet is not declared in schemas/outputs.py"):
        with Stage(tmp_path, "survival", {}) as stage:
            stage.write_output("survival", "extra", frame)
    assert list(tmp_path.iterdir()) == []  # the failed stage left nothing behind


# ------------------------------------------------------------ tampered outputs
def _drop_survival(table: pa.Table) -> pa.Table:
    return table.drop_columns(["survival"])


def _n_risk_as_float(table: pa.Table) -> pa.Table:
    i = table.schema.get_field_index("n_risk")
    return table.set_column(i, pa.field("n_risk", pa.float64()), table.column("n_risk").cast(pa.float64()))


def _version_zero(table: pa.Table) -> pa.Table:
    return table.replace_schema_metadata({**table.schema.metadata, b"trialkit.schema_version": b"0"})


@pytest.mark.parametrize("tamper, problem", [
    (_drop_survival, "column(s) survival missing"),
    (_n_risk_as_float, "n_risk is Float64, not Int64"),
    (_version_zero, "it is version '0' of survival-km, this trialkit reads version '1'"),
])
def test_the_report_refuses_a_tampered_output_naming_the_file_and_the_stage_to_rerun(
        staged, run_cli, tmp_path, tamper, problem):
    ws = tmp_path / "ws"
    shutil.copytree(staged, ws)
    path = ws / "survival" / "km.parquet"
    table = pq.read_table(path)
    changed = tamper(table)
    pq.write_table(changed.replace_schema_metadata(changed.schema.metadata or table.schema.metadata), path)
    out = tmp_path / "report.html"
    r = run_cli(["report", "--workspace", ws, "--out", out])
    assert r.exit_code == 1, r.stdout
    assert (f"Error: {path} does not match its declared schema survival-km version 1: {problem}"
            in " ".join(r.stderr.split()))
    assert "re-run trialkit survival to rewrite it" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


def test_read_output_returns_the_table_when_it_matches(staged):
    spec: OutputTable = output_table("safety", "population")
    assert read_output(staged, spec).equals(pl.read_parquet(staged / spec.file))
