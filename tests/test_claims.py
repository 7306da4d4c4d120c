"""The claims engine: parsing and validating claims files, locating numbers, comparing, verdicts.

The stage results here are small hand-written objects of the stages' JSON
shape, so each verdict can be worked out by hand from the numbers shown.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from trialkit.analyses.claims import (
    NOT_EVALUABLE,
    NOT_REPRODUCED,
    REPRODUCED,
    REPRODUCED_BY_CONSTRUCTION,
    SYNTHETIC_FAILURE,
    StageData,
    all_reproduced,
    claims_table,
    evaluate_claims,
    parse_claims,
)
from trialkit.schemas.errors import UsageError

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed_trial"

SURVIVAL = {
    "endpoint": "OS",
    "landmarks": [
        {"arm": "Low dose", "time": 182.625, "survival": 1.0},
        {"arm": "Low dose", "time": 730.5, "survival": 0.6666666666666667},
        {"arm": "High dose", "time": 182.625, "survival": 1.0},
        {"arm": "High dose", "time": 730.5, "survival": 0.875},
    ],
    "logrank": {"chisq": 2.20042, "df": 2, "p": 0.3328011770133931},
}
BIOMARKERS = {
    "within": [
        {"param": "ALB", "arm": "All", "visitn": 57, "mean_change": 1.2, "p": 0.01},
        {"param": "ALB", "arm": "All", "visitn": 85, "mean_change": 0.9, "p": 0.04},
        {"param": "ALB", "arm": "All", "visitn": 169, "mean_change": 0.1, "p": 0.6},
        {"param": "IL8", "arm": "All", "visitn": 8, "mean_change": -3.0, "p": 0.2},
        {"param": "IL8", "arm": "All", "visitn": 29, "mean_change": None, "p": None},
    ],
    "models": [{"param": "ALB", "method": "mixed", "interaction_p": 0.8, "group_p": 0.5}],
}
SAFETY = {"overview": [
    {"category": "Any serious related TEAE", "arm": "Low dose", "subjects": 0},
    {"category": "Any serious related TEAE", "arm": "High dose", "subjects": 0},
    {"category": "Any TEAE", "arm": "Low dose", "subjects": 2},
]}
STAGES = {
    "survival": StageData("survival", SURVIVAL),
    "biomarkers": StageData("biomarkers", BIOMARKERS),
    "safety": StageData("safety", SAFETY, {"sae": pl.DataFrame({"arm": ["High dose"], "related": ["NOT RELATED"]})}),
}


def one(check: str, claim_id: str = "c1") -> str:
    return f'[[claims]]\nid = "{claim_id}"\ntext = "A claim."\n  [[claims.checks]]\n{check}\n'


def evaluate(check: str, stages=STAGES):
    cf = parse_claims(one(check), "test.toml")
    return evaluate_claims(cf, stages)[0].checks[0]


# ----------------------------------------------------------------------------- parsing
def test_parses_a_claim_with_its_checks_and_default_published_text():
    cf = parse_claims('title = "T"\nreference = "R"\n' + one(
        'stage = "survival"\nkey = "landmarks"\nwhere = { arm = "Low dose", time = 730.5 }\n'
        'field = "survival"\ncompare = "equal"\nvalue = 0.667\nabs = 0.0005'), "f.toml")
    (claim,) = cf.claims
    (check,) = claim.checks
    assert (cf.title, cf.reference, claim.id, claim.text) == ("T", "R", "c1", "A claim.")
    assert check.where == (("arm", "Low dose"), ("time", 730.5))
    assert check.published == "= 0.667 ± 0.0005"
    assert claim.published == "= 0.667 ± 0.0005"
    assert check.location == "survival.json landmarks [arm=Low dose, time=730.5] .survival"


@pytest.mark.parametrize(("check", "message"), [
    ('stage = "survivl"\nkey = "logrank"\nfield = "p"\ncompare = "less"\nvalue = 1',
     "claims file test.toml, claim 'c1', check 1: stage must be one of survival, biomarkers, safety, not 'survivl'"),
    ('stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "equals"\nvalue = 1',
     "claims file test.toml, claim 'c1', check 1: compare must be one of equal, less, greater, at_most, at_least, "
     "between, from, trend, equivalent, not 'equals'"),
    ('stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "less"',
     "claims file test.toml, claim 'c1', check 1: value (the published number) is required for compare = 'less'"),
    ('stage = "survival"\nkey = "logrank"\ntable = "tests"\nfield = "p"\ncompare = "less"\nvalue = 1',
     "claims file test.toml, claim 'c1', check 1: give exactly one of key (a key of the stage's JSON) or table "
     "(a Parquet file of the stage)"),
    ('stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "between"\nlow = 2\nhigh = 1',
     "claims file test.toml, claim 'c1', check 1: low (2) is above high (1)"),
    ('stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "less"\nvalue = 1\nabs = 0.1',
     "claims file test.toml, claim 'c1', check 1: abs and rel (tolerances) belong to compare = \"equal\""),
    ('stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "less"\nvalue = 1\nfeild = "x"',
     "claims file test.toml, claim 'c1', check 1: unknown field(s) feild"),
    ('stage = "survival"\nkey = "logrank"\ncompare = "less"\nvalue = 1',
     "claims file test.toml, claim 'c1', check 1: field (the column holding the number) is required unless "
     "aggregate = \"count\""),
    ('stage = "survival"\nkey = "landmarks"\nwhere = { time = { around = 730 } }\nfield = "p"\ncompare = "less"\nvalue = 1',
     "claims file test.toml, claim 'c1', check 1: where.time uses unknown operator 'around'"),
    ('stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "less"\nvalue = "small"',
     "claims file test.toml, claim 'c1', check 1: a text value can only be compared with compare = \"equal\", not 'less'"),
])
def test_invalid_checks_are_usage_errors_naming_file_claim_and_field(check, message):
    with pytest.raises(UsageError) as err:
        parse_claims(one(check), "test.toml")
    assert err.value.message == message
    assert err.value.exit_code == 2


def test_duplicate_ids_missing_text_and_no_checks_are_rejected():
    check = 'stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "less"\nvalue = 1'
    with pytest.raises(UsageError, match="claim 'c1': id is used by an earlier claim"):
        parse_claims(one(check) + one(check), "f.toml")
    with pytest.raises(UsageError, match="claim 'x': text \\(the claim as published\\) is required"):
        parse_claims('[[claims]]\nid = "x"\n', "f.toml")
    with pytest.raises(UsageError, match="claim 'x': no \\[\\[claims.checks\\]\\]"):
        parse_claims('[[claims]]\nid = "x"\ntext = "t"\n', "f.toml")
    with pytest.raises(UsageError, match="claims file f.toml: no \\[\\[claims\\]\\] table"):
        parse_claims('title = "t"\n', "f.toml")
    with pytest.raises(UsageError, match="claims file f.toml: unknown top-level key\\(s\\) claim"):
        parse_claims('[[claim]]\nid = "x"\n', "f.toml")


def test_invalid_toml_names_the_file_and_the_line():
    # (a claims file that does not exist is the CLI's to report: tests/test_report.py)
    with pytest.raises(UsageError, match=r"claims file bad.toml is not valid TOML \(.*line 2"):
        parse_claims('[[claims]]\nid = "1\n', "bad.toml")


def test_the_builtin_claims_file_lists_the_eight_published_claims():
    cf = parse_claims((SEED / "claims.toml").read_text(encoding="utf-8"), "claims.toml")
    assert [c.id for c in cf.claims] == [str(i) for i in range(1, 9)]
    assert {ch.stage for c in cf.claims for ch in c.checks} == {"survival", "biomarkers", "safety"}


# ----------------------------------------------------------------------------- comparisons
@pytest.mark.parametrize(("compare", "verdict"), [
    ("compare = \"equal\"\nvalue = 0.3328\nabs = 0.00005", REPRODUCED),      # |0.332801 - 0.3328| = 1.2e-6
    ("compare = \"equal\"\nvalue = 0.3328\nabs = 0.000001", NOT_REPRODUCED),  # 1.2e-6 > 1e-6
    ("compare = \"equal\"\nvalue = 0.33\nrel = 0.01", REPRODUCED),            # 0.0028 <= 0.0033
    ("compare = \"equal\"\nvalue = 0.33\nrel = 0.005", NOT_REPRODUCED),       # 0.0028 > 0.00165
    ("compare = \"less\"\nvalue = 0.05", NOT_REPRODUCED),
    ("compare = \"greater\"\nvalue = 0.05", REPRODUCED),
    ("compare = \"at_most\"\nvalue = 0.3328011770133931", REPRODUCED),
    ("compare = \"at_least\"\nvalue = 0.34", NOT_REPRODUCED),
    ("compare = \"between\"\nlow = 0.3\nhigh = 0.4", REPRODUCED),
    ("compare = \"between\"\nvalue = [0.4, 0.5]", NOT_REPRODUCED),
])
def test_each_comparison_gives_the_hand_worked_verdict(compare, verdict):
    r = evaluate(f'stage = "survival"\nkey = "logrank"\nfield = "p"\n{compare}')
    assert r.verdict == verdict
    assert r.observed == pytest.approx(0.3328011770133931, rel=1e-12)
    assert r.observed_text == "0.332801"


def test_not_reproduced_gives_both_values():
    r = evaluate('stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "equal"\nvalue = 0.05\nabs = 0.001')
    assert r.verdict == NOT_REPRODUCED
    assert r.reason == "p = 0.332801; published = 0.05 ± 0.001"


def test_selectors_pick_one_row_and_numbers_match_int_or_float():
    r = evaluate('stage = "survival"\nkey = "landmarks"\nwhere = { arm = "low DOSE", time = 730.5 }\n'
                 'field = "survival"\ncompare = "equal"\nvalue = 0.667\nabs = 0.0005')
    assert (r.verdict, r.observed_text) == (REPRODUCED, "0.666667")
    r = evaluate('stage = "biomarkers"\nkey = "within"\nwhere = { param = "ALB", arm = "All", visitn = 57.0 }\n'
                 'field = "p"\ncompare = "less"\nvalue = 0.05')
    assert (r.verdict, r.observed) == (REPRODUCED, 0.01)


def test_operator_and_list_selectors_with_aggregate_all():
    check = ('stage = "biomarkers"\nkey = "within"\nwhere = { param = "ALB", arm = "All", visitn = { ge = 57, le = 85 } }\n'
             'field = "p"\naggregate = "all"\nrows = 2\ncompare = "less"\nvalue = 0.05')
    r = evaluate(check)
    assert (r.verdict, r.observed_text) == (REPRODUCED, "0.01, 0.04")
    r = evaluate(check.replace("le = 85", "le = 169").replace("rows = 2", "rows = 3"))
    assert r.verdict == NOT_REPRODUCED
    assert r.reason == "1 of 3 row(s) fail: p = 0.6 at param=ALB, arm=All, visitn=169; published < 0.05"
    r = evaluate(check.replace("visitn = { ge = 57, le = 85 }", "visitn = [57, 169]"))
    assert r.verdict == NOT_REPRODUCED
    assert r.reason == "1 of 2 row(s) fail: p = 0.6 at param=ALB, arm=All, visitn=169; published < 0.05"
    assert r.check.location == "biomarkers.json within [param=ALB, arm=All, visitn=(57 | 169)] all of .p"


def test_rows_expected_but_not_found_is_not_evaluable():
    r = evaluate('stage = "biomarkers"\nkey = "within"\nwhere = { param = "ALB", visitn = { gt = 1 } }\n'
                 'field = "p"\naggregate = "all"\nrows = 4\ncompare = "less"\nvalue = 1')
    assert r.verdict == NOT_EVALUABLE
    assert r.reason == "3 row(s) of biomarkers.json within match the selectors; the claim expects 4"


def test_count_sum_min_max_aggregates():
    r = evaluate('stage = "safety"\nkey = "overview"\nwhere = { category = "Any serious related TEAE" }\n'
                 'field = "subjects"\naggregate = "sum"\ncompare = "equal"\nvalue = 0')
    assert (r.verdict, r.observed) == (REPRODUCED, 0)
    r = evaluate('stage = "safety"\ntable = "sae"\nwhere = { related = { not_in = ["NOT RELATED", "UNLIKELY RELATED"] } }\n'
                 'aggregate = "count"\ncompare = "equal"\nvalue = 0')
    assert (r.verdict, r.observed_text) == (REPRODUCED, "0 row(s)")
    r = evaluate('stage = "safety"\ntable = "sae"\naggregate = "count"\ncompare = "equal"\nvalue = 0')
    assert (r.verdict, r.reason) == (NOT_REPRODUCED, "1 row(s) of safety/sae.parquet match; published = 0")
    r = evaluate('stage = "survival"\nkey = "landmarks"\nwhere = { time = 730.5 }\nfield = "survival"\n'
                 'aggregate = "min"\ncompare = "greater"\nvalue = 0.6')
    assert (r.verdict, r.observed) == (REPRODUCED, pytest.approx(2 / 3))
    r = evaluate('stage = "survival"\nkey = "landmarks"\nwhere = { time = 730.5 }\nfield = "survival"\n'
                 'aggregate = "max"\ncompare = "equal"\nvalue = 0.875')
    assert r.verdict == REPRODUCED


@pytest.mark.parametrize(("check", "reason"), [
    ('stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "less"\nvalue = 1',
     "the survival stage has not run (run `trialkit survival`)"),
    ('stage = "survival"\nkey = "medians"\nfield = "p"\ncompare = "less"\nvalue = 1',
     "survival.json has no key 'medians' (keys: endpoint, landmarks, logrank)"),
    ('stage = "survival"\nkey = "landmarks"\nwhere = { arm = "Low dose", time = 730 }\nfield = "survival"\n'
     'compare = "less"\nvalue = 1',
     "no row of survival.json landmarks has time=730 (values there: 182.625, 730.5)"),
    ('stage = "survival"\nkey = "landmarks"\nwhere = { arm = "Low dose" }\nfield = "survival"\ncompare = "less"\nvalue = 1',
     "2 rows of survival.json landmarks match the selectors; add selectors until one row matches (or set aggregate)"),
    ('stage = "survival"\nkey = "landmarks"\nwhere = { group = "Low dose" }\nfield = "survival"\ncompare = "less"\nvalue = 1',
     "rows of survival.json landmarks have no field 'group' (fields: arm, survival, time)"),
    ('stage = "biomarkers"\nkey = "within"\nwhere = { param = "IL8", visitn = 29 }\nfield = "mean_change"\n'
     'compare = "less"\nvalue = 0',
     "mean_change is missing in 1 of 1 matching row(s) of biomarkers.json within"),
    ('stage = "safety"\ntable = "incidence"\naggregate = "count"\ncompare = "equal"\nvalue = 0',
     "safety/ has no table incidence.parquet (tables: sae)"),
])
def test_numbers_that_cannot_be_found_are_not_evaluable_with_the_reason(check, reason):
    stages = dict(STAGES)
    if "has not run" in reason:
        stages.pop("survival")
    r = evaluate(check, stages)
    assert r.verdict == NOT_EVALUABLE
    assert r.reason == reason
    assert r.observed_text == "not available"


def test_a_claim_is_reproduced_only_when_every_check_holds():
    good = 'stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "greater"\nvalue = 0.05'
    bad = 'stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "less"\nvalue = 0.05'
    missing = 'stage = "survival"\nkey = "cox"\nfield = "p"\ncompare = "less"\nvalue = 0.05'
    text = (one(good, "a") + one(good, "b") + "  [[claims.checks]]\n" + bad + "\n"
            + one(good, "c") + "  [[claims.checks]]\n" + missing + "\n")
    results = evaluate_claims(parse_claims(text, "f.toml"), STAGES)
    assert [r.verdict for r in results] == [REPRODUCED, NOT_REPRODUCED, NOT_EVALUABLE]
    assert not all_reproduced(results)
    assert all_reproduced(results[:1])
    table = claims_table(results)
    assert table.columns == ["claim", "claim_text", "check", "label", "location", "published", "reanalysis",
                             "verdict", "reason", "power", "claim_verdict"]
    assert table.height == 5
    assert table["claim_verdict"].to_list() == [REPRODUCED, NOT_REPRODUCED, NOT_REPRODUCED, NOT_EVALUABLE, NOT_EVALUABLE]


def test_a_worded_published_value_keeps_the_comparison_in_the_reason():
    r = evaluate('stage = "survival"\nkey = "landmarks"\nwhere = { arm = "High dose", time = 730.5 }\n'
                 'field = "survival"\ncompare = "equal"\nvalue = 0.9\nabs = 0.0005\npublished = "90%"')
    assert r.verdict == NOT_REPRODUCED
    assert r.check.published == "90%"
    assert r.check.expected == "90% (= 0.9 ± 0.0005)"
    assert r.reason == "survival = 0.875; published 90% (= 0.9 ± 0.0005)"


# ----------------------------------------------------------------------------- synthetic data
def test_on_synthetic_data_a_claim_that_holds_is_reproduced_by_construction_and_passes_the_gate():
    good = 'stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "greater"\nvalue = 0.05'
    results = evaluate_claims(parse_claims(one(good), "f.toml"), STAGES, synthetic=True)
    assert results[0].verdict == REPRODUCED_BY_CONSTRUCTION
    assert results[0].checks[0].verdict == REPRODUCED_BY_CONSTRUCTION
    assert all_reproduced(results)
    assert claims_table(results)["claim_verdict"].to_list() == [REPRODUCED_BY_CONSTRUCTION]


def test_on_synthetic_data_a_failing_claim_points_at_the_generator():
    bad = 'stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "less"\nvalue = 0.05'
    (r,) = evaluate_claims(parse_claims(one(bad), "f.toml"), STAGES, synthetic=True)
    assert r.verdict == NOT_REPRODUCED
    assert r.checks[0].reason == f"p = 0.332801; published < 0.05; {SYNTHETIC_FAILURE}"
    assert "bug in the generator" in SYNTHETIC_FAILURE
    assert not all_reproduced((r,))


def test_on_real_data_the_verdict_stays_reproduced():
    good = 'stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "greater"\nvalue = 0.05'
    assert evaluate_claims(parse_claims(one(good), "f.toml"), STAGES)[0].verdict == REPRODUCED


# ----------------------------------------------------------------------------- significant from a visit on
def _within(ps, changes=None, param="PTA"):
    visits = [8, 15, 22, 29, 57]
    changes = changes or [1.0] * len(ps)
    rows = [{"param": param, "arm": "All", "visitn": v, "mean_change": c, "p": p}
            for v, p, c in zip(visits, ps, changes)]
    return {"biomarkers": StageData("biomarkers", {"within": rows})}


FROM_29 = ('stage = "biomarkers"\nkey = "within"\nwhere = { param = "PTA", arm = "All" }\nfield = "p"\n'
           'compare = "from"\nfrom = 29\nvalue = 0.05\neffect_field = "mean_change"\ndirection = "increasing"')


def test_from_holds_when_significant_from_the_visit_on_and_not_before():
    r = evaluate(FROM_29, _within([0.4, 0.3, 0.06, 0.01, 0.001]))
    assert r.verdict == REPRODUCED
    assert r.observed_text == "8: 0.4000, 15: 0.3000, 22: 0.0600, 29: 0.0100, 57: 0.0010"
    assert r.check.criterion == ("p < 0.05, mean_change > 0 at every visitn ≥ 29; p ≥ 0.05 at every visitn before")


def test_from_fails_when_the_change_is_significant_earlier_naming_the_first_such_visit():
    r = evaluate(FROM_29, _within([0.4, 0.03, 0.01, 0.01, 0.001]))
    assert r.verdict == NOT_REPRODUCED
    assert r.reason == ("first fails at visitn 15: p = 0.0300 < 0.05 before 29 "
                        "(the change is significant earlier than published)")


def test_from_fails_at_the_first_later_visit_that_is_not_significant():
    r = evaluate(FROM_29, _within([0.4, 0.3, 0.2, 0.01, 0.2]))
    assert (r.verdict, r.reason) == (NOT_REPRODUCED, "first fails at visitn 57: p = 0.2000 ≥ 0.05")


def test_from_fails_when_the_significant_change_goes_the_other_way():
    r = evaluate(FROM_29, _within([0.4, 0.3, 0.2, 0.01, 0.001], [1.0, 1.0, 1.0, -2.0, 1.0]))
    assert (r.verdict, r.reason) == (NOT_REPRODUCED, "first fails at visitn 29: mean_change = -2, not above 0")


def test_from_without_a_row_at_or_after_the_visit_is_not_evaluable():
    r = evaluate(FROM_29.replace("from = 29", "from = 85"), _within([0.4, 0.3, 0.2, 0.01, 0.001]))
    assert (r.verdict, r.reason) == (NOT_EVALUABLE, "no row of biomarkers.json within has visitn ≥ 85")


@pytest.mark.parametrize("check, message", [
    (FROM_29.replace("from = 29\n", ""), "from (the first visit of the change) must be a number, not None"),
    (FROM_29.replace('\ndirection = "increasing"', ""),
     "effect_field and direction go together: the column whose sign is checked, and the sign"),
    (FROM_29.replace('"increasing"', '"up"'), "direction must be one of increasing, decreasing, not 'up'"),
    (FROM_29 + "\nmargin = 2", "margin do(es) not belong to compare = 'from'"),
    (FROM_29 + '\naggregate = "sum"', "compare = 'from' sets its own aggregate: drop aggregate = 'sum'"),
])
def test_malformed_from_checks_are_usage_errors(check, message):
    with pytest.raises(UsageError) as err:
        parse_claims(one(check), "test.toml")
    assert err.value.message == f"claims file test.toml, claim 'c1', check 1: {message}"


# ----------------------------------------------------------------------------- monotone trend
TREND = ('stage = "biomarkers"\nkey = "within"\nwhere = { param = "PTA", arm = "All" }\nfield = "mean_change"\n'
         'compare = "trend"\ndirection = "decreasing"\nvalue = 0.05')


def test_trend_holds_when_the_means_keep_falling():
    r = evaluate(TREND, _within([0.1] * 5, [-1.0, -2.0, -3.0, -4.0, -5.0]))
    assert r.verdict == REPRODUCED
    assert r.observed == pytest.approx(1 / 120)  # the one ordering of 5! that falls throughout
    assert r.observed_text == "rho = -1.000, one-sided p = 0.0083 (exact; 5 visits, 0 step(s) against the trend)"


def test_trend_fails_when_the_means_do_not_keep_falling():
    r = evaluate(TREND, _within([0.1] * 5, [-1.0, -4.0, -2.0, -3.0, -1.5]))
    assert r.verdict == NOT_REPRODUCED
    assert r.reason.startswith("mean_change over visitn: one-sided p = ")


def test_trend_needs_a_direction():
    with pytest.raises(UsageError, match="needs direction"):
        parse_claims(one(TREND.replace('direction = "decreasing"\n', "")), "t.toml")


# ----------------------------------------------------------------------------- equivalence within a margin
def _cox(lower, upper, hr=1.0):
    return {"survival": StageData("survival", {"cox": [{"level": "High dose", "hr": hr, "lower": lower, "upper": upper}]})}


EQUIV = ('stage = "survival"\nkey = "cox"\nwhere = { level = "High dose" }\nfield = "hr"\ncompare = "equivalent"\n'
         'scale = "ratio"\nmargin = 2\nci = ["lower", "upper"]')


def test_a_ci_inside_the_margin_shows_no_difference():
    r = evaluate(EQUIV, _cox(0.6, 1.7))
    assert (r.verdict, r.reason) == (REPRODUCED, "no difference shown within margin: the CI lies inside 0.5 to 2")
    assert r.observed_text == "1 (CI 0.6 to 1.7)"


def test_a_wide_ci_is_not_significant_but_cannot_exclude_the_stated_difference():
    r = evaluate(EQUIV, _cox(0.1, 9.0))
    assert r.verdict == NOT_REPRODUCED
    assert r.reason == ("not significant, but the data cannot exclude a difference of the stated size: "
                        "the CI reaches beyond 0.5 to 2")


def test_a_ci_that_excludes_no_difference_beyond_the_margin_is_a_difference_found():
    r = evaluate(EQUIV, _cox(2.5, 4.0, 3.1))
    assert (r.verdict, r.reason) == (NOT_REPRODUCED, "a difference was found: the CI excludes 1")


def test_a_ci_inside_the_margin_that_excludes_no_difference_shows_a_difference_smaller_than_the_margin():
    r = evaluate(EQUIV, _cox(1.1, 1.8, 1.4))
    assert (r.verdict, r.reason) == (REPRODUCED, "no difference shown within margin: the CI lies inside 0.5 to 2 "
                                                 "(it excludes 1: a difference smaller than the margin)")


def test_a_difference_margin_is_symmetric_about_zero():
    check = EQUIV.replace('scale = "ratio"', 'scale = "difference"')
    assert evaluate(check, _cox(-1.5, 1.9, 0.2)).verdict == REPRODUCED
    assert evaluate(check, _cox(-2.5, 1.9, 0.2)).verdict == NOT_REPRODUCED


def _model(f, p, sigma=2.0):
    within = [{"param": "ALB", "arm": a, "visitn": v, "n": 8} for a in ("Low", "Mid", "High") for v in (8, 15)]
    within += [{"param": "ALB", "arm": "All", "visitn": 8, "n": 24}]
    models = [{"param": "ALB", "interaction_f": f, "interaction_df1": 12.0, "interaction_df2": 126.0,
               "interaction_p": p, "sigma": sigma, "sd_subject": 1.0, "n_visits": 7}]
    return {"biomarkers": StageData("biomarkers", {"models": models, "within": within})}


INTERACTION = ('stage = "biomarkers"\nkey = "models"\nwhere = { param = "ALB" }\nfield = "interaction_f"\n'
               'compare = "equivalent"\nscale = "interaction"\nmargin = 4\nvalue = 0.05')


def test_a_small_interaction_f_excludes_an_interaction_of_the_stated_size():
    from trialkit.analyses.power import interaction_excluded_p

    r = evaluate(INTERACTION, _model(0.5, 0.91))
    q = interaction_excluded_p(0.5, 12, 126, 4.0, (8, 8, 8), 7, 2.0)
    assert q < 0.05
    assert (r.verdict, r.observed) == (REPRODUCED, pytest.approx(q))
    assert r.reason == "no interaction of 4 or more: excluded at 0.05 (equivalence-style noncentral F)"


def test_a_non_significant_interaction_that_cannot_exclude_the_margin_says_so():
    r = evaluate(INTERACTION, _model(1.5, 0.13))
    assert r.verdict == NOT_REPRODUCED
    assert r.reason == "not significant (p = 0.1300), but the data cannot exclude an interaction of the stated size (4)"


def test_a_significant_interaction_is_an_interaction_found():
    r = evaluate(INTERACTION, _model(3.0, 0.001))
    assert (r.verdict, r.reason) == (NOT_REPRODUCED, "an interaction was found (p = 0.0010 < 0.05)")


# ----------------------------------------------------------------------------- power beside the verdict
def _survival_with_tables():
    km = pl.DataFrame({"arm": ["A", "A", "A", "B", "B", "B"], "time": [100.0, 300.0, 700.0, 200.0, 500.0, 720.0],
                       "n_event": [1, 1, 0, 1, 0, 0], "n_censor": [0, 0, 3, 0, 1, 3]})
    arms = pl.DataFrame({"arm": ["A", "B"], "n": [5, 5], "events": [2, 1]})
    return {"survival": StageData("survival", SURVIVAL, {"km": km, "arms": arms})}


def test_power_of_the_log_rank_test_is_reported_beside_the_verdict_without_changing_it():
    from trialkit.analyses.power import logrank_power_formula

    check = ('stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "greater"\nvalue = 0.05\n'
             'power = { effect = 0.5, sims = 200, seed = 3 }')
    r = evaluate(check, _survival_with_tables())
    assert r.verdict == REPRODUCED
    assert r.power.formula == pytest.approx(logrank_power_formula(3, 0.5, 0.05, (0.5, 0.5)))
    assert (r.power.sims, r.power.seed) == (200, 3)
    assert r.power_text.startswith(f"power {r.power.formula:.2f} to detect HR 0.5 (B vs A) at alpha 0.05 with "
                                   "3 event(s) in 2 groups (5/5 subjects) (Schoenfeld); ")
    assert r.power_text.endswith("by simulation (200 runs, seed 3)")
    assert evaluate(check, _survival_with_tables()).power == r.power  # seeded: the same every time


def test_power_without_the_tables_it_needs_says_why_and_keeps_the_verdict():
    check = ('stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "greater"\nvalue = 0.05\n'
             'power = { effect = 0.5 }')
    r = evaluate(check)
    assert (r.verdict, r.power) == (REPRODUCED, None)
    assert r.power_text == "power not available: survival/ has no km or arms table (run `trialkit survival`)"


def test_power_of_the_interaction_test_uses_the_group_sizes_visits_and_residual_sd():
    from trialkit.analyses.power import interaction_power_formula

    r = evaluate(INTERACTION + "\npower = { effect = 4 }", _model(0.5, 0.91))
    assert r.power.formula == pytest.approx(interaction_power_formula(4.0, (8, 8, 8), 7, 2.0))
    assert r.power.simulated is None
    assert "3 groups (8/8/8 subjects), 7 visits, residual SD 2" in r.power_text


@pytest.mark.parametrize("power, message", [
    ("{ sims = 10 }", "power.effect must be a number, not None"),
    ("{ effect = 0.5, sims = -1 }", "power.sims must be a whole number from 0 to 100000, not -1"),
    ("{ effect = 0.5, runs = 5 }", "power has unknown field(s) runs"),
    ("0.5", "power must be a table, e.g. power = { effect = 0.5, sims = 500, seed = 1 }"),
])
def test_malformed_power_tables_are_usage_errors(power, message):
    check = f'stage = "survival"\nkey = "logrank"\nfield = "p"\ncompare = "greater"\nvalue = 0.05\npower = {power}'
    with pytest.raises(UsageError) as err:
        parse_claims(one(check), "test.toml")
    assert err.value.message == f"claims file test.toml, claim 'c1', check 1: {message}"


def test_the_seed_trial_claims_file_parses_with_its_two_sided_checks():
    cf = parse_claims((SEED / "claims.toml").read_text(), "claims.toml")
    compares = {c.compare for claim in cf.claims for c in claim.checks}
    assert {"from", "trend", "equivalent"} <= compares
    assert {c.power.effect for claim in cf.claims for c in claim.checks if c.power} == {0.5, 4.0, 10.0}
