"""The command line as a whole: help, workspace selection, exit codes, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

COMMANDS = ["ingest", "simulate", "reconstruct", "validate", "schema", "biomarkers", "survival", "safety", "report"]


def _imports_after(argv: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from trialkit.cli.app import app\n"
        f"try:\n    app({argv!r})\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split()[-1000:]) if out else set()


@pytest.mark.parametrize("argv", [["--help"], *[[c, "--help"] for c in COMMANDS]])
def test_help_loads_no_data_statistics_or_plotting_library(argv):
    loaded = _imports_after(argv)
    heavy = {"polars", "pyarrow", "scipy", "sksurv", "sklearn", "plotnine", "matplotlib", "statsmodels", "dataframely"}
    assert not heavy & loaded, sorted(heavy & loaded)


def test_every_command_has_an_example_in_its_help(run_cli):
    for command in COMMANDS:
        result = run_cli([command, "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.stdout, command


def test_workspace_comes_from_global_option_command_option_or_environment(tmp_path, run_cli):
    assert run_cli(["--workspace", tmp_path / "g", "ingest"]).exit_code == 0
    assert (tmp_path / "g" / "adsl.parquet").exists()
    assert run_cli(["ingest", "--workspace", tmp_path / "c"]).exit_code == 0
    assert (tmp_path / "c" / "adsl.parquet").exists()
    assert run_cli(["ingest"], env={"TRIALKIT_WORKSPACE": str(tmp_path / "e")}).exit_code == 0
    assert (tmp_path / "e" / "adsl.parquet").exists()


def test_unknown_option_is_a_usage_error_with_exit_code_2(run_cli):
    assert run_cli(["validate", "--no-such-option"]).exit_code == 2


def test_schema_prints_every_dataset_as_json(run_cli):
    result = run_cli(["schema", "--format", "json"])
    assert result.exit_code == 0
    names = [d["name"] for d in json.loads(result.stdout)]
    assert names == ["ADSL", "ADLB", "ADAE", "ADTTE", "ADEX"]


def test_schema_of_an_unknown_dataset_is_a_usage_error(run_cli):
    result = run_cli(["schema", "dm"])
    assert result.exit_code == 2
    assert "unknown dataset 'dm'" in result.stderr


def test_units_table_lists_canonical_units(run_cli):
    result = run_cli(["schema", "--units", "--format", "json"])
    rows = {r["paramcd"]: r for r in json.loads(result.stdout)}
    assert rows["ALB"]["unit"] == "g/L" and rows["ALB"]["conversions"]["g/dL"] == 10.0


def test_installed_console_script_runs_and_reports_errors_without_traceback(tmp_path):
    script = ["trialkit"] if not (exe := sys.executable.rsplit("/", 1)[0] + "/trialkit") else [exe]
    result = subprocess.run([*script, "validate", "-w", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr


def test_a_reader_that_closes_the_pipe_early_ends_the_command_with_sigpipes_code_and_no_message(seed_workspace,
                                                                                                 tmp_path):
    import shutil
    import subprocess

    ws = tmp_path / "ws"
    shutil.copytree(seed_workspace, ws)
    exe = sys.executable.rsplit("/", 1)[0] + "/trialkit"
    subprocess.run([exe, "survival", "--no-plot", "-w", str(ws)], check=True, capture_output=True)
    proc = subprocess.Popen([exe, "results", "-w", str(ws)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()  # as `| head -1`: one line, then the reader is gone
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert err == ""
