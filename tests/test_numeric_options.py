"""Numeric options that are not finite numbers are usage errors (exit 2) naming the option, not trialkit bugs.

``--rho nan`` used to reach the JSON writer and fail with "unexpected ValueError ... this is a trialkit bug".
Every float option of every command is found by introspection, so an option added later is held to the same
rule; the time options (strings read by ``timescale.parse_time``) are checked by hand.
"""

from __future__ import annotations

import shutil
import pytest
import typer.main

from trialkit.analyses.survival.km import resolve_settings
from trialkit.cli.app import app
from trialkit.schemas.errors import UsageError

NOT_FINITE = ["nan", "inf", "-inf", "NaN", "Infinity"]


def _is_float(param) -> bool:
    return getattr(param.type, "name", None) == "float"  # click's FloatParamType, Optional[float] included


def _float_options() -> list[tuple[str, str]]:
    """(command, --option) of every option typed float (Optional[float] included) in every command."""
    group = typer.main.get_command(app)
    return [(name, opt) for name, command in sorted(group.commands.items()) for p in command.params
            if _is_float(p) for opt in p.opts if opt.startswith("--")]


FLOAT_OPTIONS = _float_options()


def test_the_float_options_are_found():
    assert {("survival", "--rho"), ("survival", "--conf-level"), ("safety", "--min-percent")} <= set(FLOAT_OPTIONS)


@pytest.fixture(scope="module")
def workspace(seed_workspace, tmp_path_factory):
    ws = tmp_path_factory.mktemp("options") / "ws"
    shutil.copytree(seed_workspace, ws)
    return ws


def _refused(run_cli, workspace, args: list[str], option: str) -> None:
    before = sorted(p.relative_to(workspace) for p in workspace.rglob("*"))
    result = run_cli([*args, "--workspace", workspace])
    assert result.exit_code == 2, (args, result.stdout, result.stderr)
    first = result.stderr.splitlines()[0]
    assert first.startswith("Error: ") and option in first, first
    assert "trialkit bug" not in result.stderr
    assert sorted(p.relative_to(workspace) for p in workspace.rglob("*")) == before


@pytest.mark.parametrize("value", NOT_FINITE)
@pytest.mark.parametrize(("command", "option"), FLOAT_OPTIONS)
def test_every_float_option_refuses_values_that_are_not_finite(run_cli, workspace, command, option, value, tmp_path):
    if command == "simulate":  # writes a new folder, not a workspace: nothing may appear
        out = tmp_path / "sim"
        result = run_cli([command, f"{option}={value}", "--subjects", "5", "--out", out])
        assert result.exit_code == 2, (result.stdout, result.stderr)
        first = result.stderr.splitlines()[0]
        assert first.startswith("Error: ") and option in first, first
        assert not out.exists() and list(tmp_path.iterdir()) == []
        return
    _refused(run_cli, workspace, [command, f"{option}={value}", "--no-plot"], option)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0", "1" + "0" * 400, "2 years"])
def test_rmst_tau_must_be_a_positive_finite_time(run_cli, workspace, value):
    _refused(run_cli, workspace, ["survival", f"--rmst-tau={value}", "--no-plot"], "--rmst-tau")


@pytest.mark.parametrize("value", ["nan", "inf", "6m,nan", "-1", "1" + "0" * 400, ","])
def test_times_must_be_finite_times(run_cli, workspace, value):
    _refused(run_cli, workspace, ["survival", f"--times={value}", "--no-plot"], "--times")


def test_a_rho_whose_weights_overflow_is_a_usage_error(run_cli, workspace):
    _refused(run_cli, workspace, ["survival", "--rho=-1e300", "--no-plot"], "--rho")


def test_a_plan_option_that_is_not_finite_is_a_usage_error(run_cli, workspace, tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text('[[analysis]]\nname = "survival-rho"\nstage = "survival"\noptions = { rho = nan }\n')
    _refused(run_cli, workspace, ["run", plan, "--no-plot"], "--rho")


@pytest.mark.parametrize(("conf_level", "rho", "option"), [(float("nan"), 0.0, "--conf-level"),
                                                            (0.95, float("nan"), "--rho"),
                                                            (0.95, float("-inf"), "--rho")])
def test_survival_settings_refuse_values_that_are_not_finite(conf_level, rho, option):
    with pytest.raises(UsageError, match=f"^{option} "):
        resolve_settings(None, None, None, conf_level, rho)
