"""Figures drawn in a second process (cli/figure_worker.py): the same bytes, and every failure falls back."""

import os
import shutil
import subprocess

import pytest

from trialkit.cli.figure_worker import FigurePool

from conftest import snapshot


def _boom(text):
    raise ValueError(text)


def test_the_worker_draws_in_another_process():
    with FigurePool() as pool:
        pool.submit("pid", os.getpid)
        assert pool.results()["pid"] != os.getpid()


def test_a_call_that_fails_in_the_worker_fails_the_same_way_in_process():
    with FigurePool() as pool:
        pool.submit("bad", _boom, "the figure's own error")
        with pytest.raises(ValueError, match="the figure's own error"):
            pool.results()


def test_without_a_worker_every_figure_is_drawn_in_process(monkeypatch):
    def no_process(*args, **kwargs):
        raise OSError("no process for you")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    pool = FigurePool()
    pool.submit("pid", os.getpid)
    assert pool.results() == {"pid": os.getpid()}


def test_a_worker_that_dies_leaves_its_figures_to_the_stage():
    pool = FigurePool()
    pool._proc.kill()
    pool.submit("pid", os.getpid)
    assert pool.results() == {"pid": os.getpid()}


def test_closing_the_pool_ends_the_worker():
    pool = FigurePool()
    proc = pool._proc
    pool.close()
    assert proc.poll() is not None


@pytest.mark.parametrize("options", [[], ["--strata", "SEX", "--covariate", "AGE", "--forest", "SEX"]])
def test_survival_figures_from_the_worker_are_byte_identical_to_drawing_in_process(colon_workspace, tmp_path, run_cli,
                                                                                   options):
    copies = {}
    for worker in ("1", "0"):
        ws = tmp_path / f"ws{worker}"
        shutil.copytree(colon_workspace, ws)
        result = run_cli(["survival", "-w", ws, *options], env={"TRIALKIT_FIGURE_WORKER": worker})
        assert result.exit_code == 0, result.stderr
        copies[worker] = {k: v for k, v in snapshot(ws).items() if k.endswith((".png", ".svg"))}
    assert copies["1"] == copies["0"]
    assert len(copies["1"]) >= (2 if not options else 6)


@pytest.mark.parametrize("argv, started", [
    (["survival"], True), (["-w", "survival", "survival", "--arm", "high"], True), (["--workspace", "ws", "survival"], True),
    (["survival", "--no-plot"], False), (["survival", "--help"], False), (["results", "--analysis", "survival"], False),
    (["biomarkers"], False)])
def test_the_console_script_starts_the_figure_process_only_for_a_command_that_draws(argv, started):
    from trialkit.cli import figure_worker

    figure_worker.prestart(argv)
    early = figure_worker._prestarted.get(figure_worker.COMMANDS["survival"])
    assert (early is not None) == started
    with FigurePool(figure_worker.COMMANDS["survival"]) as pool:  # the command's pool takes it over
        assert pool._proc is not None and (pool._proc is early or not started)
        pool.submit("pid", os.getpid)
        assert pool.results()["pid"] != os.getpid()
    assert not figure_worker._prestarted
