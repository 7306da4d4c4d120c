"""One writer at a time, and recovery of what a killed writer left (``cli/transaction.py``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import snapshot

from trialkit.cli import transaction
from trialkit.cli.workspace import Stage

HOLD = """
import sys, time
from pathlib import Path
from trialkit.cli.transaction import hold
sys.argv = ["trialkit", "survival", "--arm", "high"]
with hold(Path({ws!r})):
    print("held", flush=True)
    time.sleep({seconds})
"""




@pytest.fixture
def workspace(seed_workspace, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(seed_workspace, ws)
    return ws


@contextmanager
def _held(ws: Path):
    """Another process holding the workspace's lock for the block."""
    holder = _holder(ws, 30)
    try:
        yield holder
    finally:
        holder.kill()
        holder.wait()


def _holder(ws: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD.format(ws=str(ws), seconds=seconds)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_fails_at_once_naming_the_holder_when_told_not_to_wait(workspace, run_cli):
    with _held(workspace) as holder:
        before = snapshot(workspace)
        result = run_cli(["survival", "--no-plot", "-w", workspace], env={"TRIALKIT_LOCK_TIMEOUT": "0"})
    assert result.exit_code == 2
    assert f"in use by `trialkit survival --arm high` (PID {holder.pid}" in result.stderr
    assert "TRIALKIT_LOCK_TIMEOUT" in result.stderr
    assert snapshot(workspace) == before


def test_a_second_writer_waits_for_the_first_then_runs(workspace, run_cli):
    holder = _holder(workspace, 1.5)
    start = time.monotonic()
    result = run_cli(["survival", "--no-plot", "-w", workspace], env={"TRIALKIT_LOCK_TIMEOUT": "60"})
    holder.wait()
    assert result.exit_code == 0, result.stderr
    assert "waiting up to 60 s for the workspace" in result.stderr
    assert time.monotonic() - start >= 1.0
    assert (workspace / "survival" / "survival.json").exists()


def test_a_writer_that_waits_too_long_gives_up_with_exit_2(workspace, run_cli):
    with _held(workspace):
        result = run_cli(["ingest", "-w", workspace], env={"TRIALKIT_LOCK_TIMEOUT": "0.3"})
    assert result.exit_code == 2
    assert "still in use by" in result.stderr and "after 0.3 s" in result.stderr


def test_a_lock_timeout_that_is_not_a_number_is_a_usage_error(workspace, run_cli):
    with _held(workspace):
        result = run_cli(["ingest", "-w", workspace], env={"TRIALKIT_LOCK_TIMEOUT": "soon"})
    assert result.exit_code == 2
    assert "TRIALKIT_LOCK_TIMEOUT='soon' is not a number of seconds" in result.stderr


def test_an_ingest_started_during_survival_waits_so_survival_never_commits_into_another_trial(workspace, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "adsl.csv").write_text("USUBJID,TRT01A,ITTFL\nX-1,Drug,Y\nX-2,Placebo,Y\n")
    trialkit = [sys.executable, "-c", "from trialkit.cli.app import main; main()"]
    env = {**os.environ, "TRIALKIT_LOCK_TIMEOUT": "120"}
    survival = subprocess.Popen([*trialkit, "survival", "-w", str(workspace)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    lock = workspace / ".trialkit" / "lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    ingest = subprocess.run([*trialkit, "ingest", str(other), "-w", str(workspace)], env=env, capture_output=True,
                            text=True)
    survival.wait(timeout=120)
    assert survival.returncode == 0, survival.stderr.read()
    assert ingest.returncode == 0, ingest.stderr
    assert "waiting up to 120 s for the workspace, in use by `trialkit survival" in ingest.stderr
    # ingest ran second: the workspace holds the other trial and nothing derived from the first one
    manifest = json.loads((workspace / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["adsl.parquet", "ingest.json"]
    assert not (workspace / "survival").exists()
    assert {p.name for p in workspace.iterdir()} == {"adsl.parquet", "ingest.json", "manifest.json"}


def test_the_next_command_finishes_a_commit_that_was_killed_while_switching_files_in(workspace, run_cli, monkeypatch):
    monkeypatch.setattr(transaction, "_apply", lambda ws, folder, plan: None)  # killed right after the commit point
    with Stage(workspace, "test", {}) as stage:
        stage.write_json("extra/out.json", {"a": 1})
        stage.remove("adex.parquet")
    assert not (workspace / "extra").exists() and (workspace / "adex.parquet").exists()
    assert len(list((workspace / ".trialkit").glob("txn-*/journal.json"))) == 1
    monkeypatch.undo()
    result = run_cli(["results", "-w", workspace, "--analysis", "none"])
    assert "Recovered: finished the commit of" in result.stderr
    assert json.loads((workspace / "extra" / "out.json").read_text()) == {"a": 1}
    assert not (workspace / "adex.parquet").exists()
    manifest = json.loads((workspace / "manifest.json").read_text())["files"]
    assert "extra/out.json" in manifest and "adex.parquet" not in manifest
    assert not (workspace / ".trialkit").exists(), "trialkit's state folder is tidied away"


def test_the_next_command_removes_what_a_run_killed_before_its_commit_left(workspace, run_cli):
    before = snapshot(workspace)
    leftover = workspace / ".trialkit" / "txn-99999-1" / "files"
    leftover.mkdir(parents=True)
    (leftover / "00001-adsl.parquet").write_bytes(b"half")
    (workspace / ".adsl.parquet.abc123.tmp").write_bytes(b"old-style temporary file")
    result = run_cli(["survival", "--no-plot", "-w", workspace])
    assert result.exit_code == 0, result.stderr
    assert "Recovered: removed the unfinished outputs of an interrupted run (txn-99999-1)" in result.stderr
    assert "Recovered: removed 1 temporary file(s)" in result.stderr
    assert not (workspace / ".trialkit").exists()
    datasets = {k: v for k, v in before.items() if k.startswith("ad")}
    assert {k: v for k, v in snapshot(workspace).items() if k in datasets} == datasets


def test_a_stage_folder_that_is_a_file_is_an_io_error_that_changes_nothing(workspace, run_cli):
    (workspace / "survival").write_text("not a folder")
    before = snapshot(workspace)
    result = run_cli(["survival", "--no-plot", "-w", workspace])
    assert result.exit_code == 2
    assert f"{workspace / 'survival'} is a file, not a folder" in result.stderr
    assert "Hint: move or delete" in result.stderr
    assert snapshot(workspace) == before


def test_a_workspace_that_cannot_be_written_is_an_io_error_naming_it(workspace, run_cli, monkeypatch):
    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(transaction, "open", refuse, raising=False)
    before = snapshot(workspace)
    result = run_cli(["ingest", "-w", workspace])
    assert result.exit_code == 2
    assert f"cannot create the workspace lock {workspace / '.trialkit' / 'lock'} (Permission denied)" in result.stderr
    assert snapshot(workspace) == before


def test_a_first_ingest_that_fails_leaves_no_workspace_behind(tmp_path, run_cli):
    src = tmp_path / "src"
    src.mkdir()
    (src / "adsl.csv").write_text("USUBJID,TRT01A\nA,x\nA,x\n")
    (src / "adtte.csv").write_text("USUBJID,PARAMCD,AVAL,CNSR\nA,OS,ten,0\n")
    result = run_cli(["ingest", src, "-w", tmp_path / "new"])
    assert result.exit_code == 1
    assert not (tmp_path / "new").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; needs an ordinary user")
def test_a_read_only_workspace_at_ingest_is_an_io_error(workspace, run_cli):
    workspace.chmod(0o555)
    try:
        result = run_cli(["ingest", "-w", workspace])
    finally:
        workspace.chmod(0o755)
    assert result.exit_code == 2
    assert str(workspace) in result.stderr
