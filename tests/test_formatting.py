"""The one number and p-value rule set (analyses/formatting.py), and that every output uses it."""

from __future__ import annotations

import json
import math

import pytest

from trialkit.analyses.formatting import (
    DECIMALS,
    MISSING,
    decimals_for,
    format_ci,
    format_median,
    format_n_pct,
    format_number,
    format_p,
    format_p_statement,
    format_signed,
    format_value,
)


def test_p_values_have_four_decimals_and_a_floor_as_sas_prints_them():
    # SAS PROC LIFETEST prints Pr > Chi-Square as 0.3328 and <.0001
    assert [format_p(p) for p in (0.332801, 0.004567, 0.00010, 0.0000999, 1e-20, 1.0)] == \
        ["0.3328", "0.0046", "0.0001", "<0.0001", "<0.0001", "1.0000"]


def test_p_value_in_a_sentence_uses_equals_or_less_than():
    assert [format_p_statement(p) for p in (0.332801, 0.00002, None)] == ["p = 0.3328", "p < 0.0001", "p = NA"]


def test_missing_numbers_print_as_na_everywhere():
    assert MISSING == "NA"
    assert {format_p(None), format_p(math.nan), format_number(None, 2), format_number(math.nan, 2),
            format_ci(None, 0.1, 0.2, 3), format_n_pct(None, None), format_signed(None, 2), format_value(None),
            format_value(math.nan)} == {"NA"}
    assert format_ci(1.0, None, math.nan, 3) == "1.000 (NA, NA)"


def test_rounding_is_half_away_from_zero_on_the_decimal_value():
    # binary rounding would give 2.67 and 0.12 (2.675 and 0.125 are not exact in binary / round-half-even)
    assert [format_number(x, 2) for x in (2.675, 0.125, -0.125, 1.005)] == ["2.68", "0.13", "-0.13", "1.01"]


def test_a_value_that_rounds_to_zero_has_no_sign_and_minus_is_ascii():
    assert format_number(-0.0004, 3) == "0.000"
    assert format_number(-0.81, 2) == "-0.81"
    assert "\u2212" not in format_ci(-1.5, -2.25, -0.75, 2)


def test_counts_print_as_integers_and_numbers_never_in_e_notation():
    assert format_number(24, 3) == "24"
    assert format_number(1.5e-7, 3) == "0.000"
    assert format_value(3.32801e-7) == "0.000000332801"
    assert format_value(1.5e20) == "150000000000000000000"


def test_confidence_interval_and_median_layout():
    assert format_ci(0.40625, 0.0367, 4.4821, DECIMALS["ratio"]) == "0.406 (0.037, 4.482)"
    assert format_median(547.0, 365.0, None) == "547.0 (365.0, NA)"
    assert format_median(None, 674.0, None) == "not reached (674.0, NA)"
    assert format_median(None, None, None) == "not reached"


def test_counts_with_percent_and_signed_changes():
    assert format_n_pct(3, 37.5) == "3 (37.5%)"
    assert format_n_pct(0, 0.0) == "0 (0.0%)"
    assert [format_signed(x, 2) for x in (1.364, -0.81, 0.0, -0.001)] == ["+1.36", "-0.81", "0.00", "0.00"]


@pytest.mark.parametrize(("values", "decimals"), [([54.2, -12.6], 1), ([1.41, -0.81], 2), ([0.194, -0.089], 3),
                                                  ([250.0], 0), ([0.0], 2), ([None], 2), ([0.0001], 3)])
def test_decimals_give_the_largest_value_three_significant_digits(values, decimals):
    assert decimals_for(values) == decimals


def test_values_quoted_as_they_are_keep_six_significant_digits():
    assert [format_value(x) for x in (0.3328012345, 24, 24.0, True, "Low dose")] == \
        ["0.332801", "24", "24", "true", "Low dose"]


# ------------------------------------------------------------------------ one rule in every output
@pytest.fixture(scope="module")
def survival_ws(seed_workspace, tmp_path_factory, run_cli):
    import shutil

    ws = tmp_path_factory.mktemp("formatting") / "ws"
    shutil.copytree(seed_workspace, ws)
    result = run_cli(["survival", "--workspace", ws])
    assert result.exit_code == 0, result.stderr
    return ws, result.stdout


def test_the_log_rank_p_reads_the_same_in_terminal_html_markdown_and_figure(survival_ws, run_cli):
    ws, terminal = survival_ws
    p = json.loads((ws / "survival" / "survival.json").read_text())["logrank"]["p"]
    text = format_p(p)
    assert text == "0.3328"  # R: survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A) p = 0.332801
    assert f" {text} " in terminal
    assert run_cli(["report", "--workspace", ws]).exit_code == 0
    assert f">{text}</td>" in (ws / "report.html").read_text().replace("\u00a0", " ")
    assert run_cli(["report", "--workspace", ws, "--format", "md"]).exit_code == 0
    assert f"log-rank p = {text}" in (ws / "report.md").read_text()
    assert f"Log-rank p = {text}" in (ws / "survival" / "km.svg").read_text()


def test_a_hazard_ratio_reads_the_same_in_terminal_and_report(survival_ws, run_cli):
    ws, terminal = survival_ws
    cox = [c for c in json.loads((ws / "survival" / "survival.json").read_text())["cox"] if c["estimable"]]
    assert cox
    assert run_cli(["report", "--workspace", ws]).exit_code == 0
    html = (ws / "report.html").read_text().replace("\u00a0", " ")  # the report keeps numeric cells on one line
    for c in cox:
        text = format_ci(c["hr"], c["lower"], c["upper"], DECIMALS["ratio"])
        assert text in terminal
        assert f">{text}</td>" in html
