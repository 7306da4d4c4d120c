"""Consistency claims in claims files: parsing, splitting from data claims, evaluation, the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from trialkit.analyses.claims import parse_claims
from trialkit.analyses.consistency import (
    consistency_table,
    evaluate_consistency,
    parse_consistency_claims,
    split_claims,
)
from trialkit.schemas.errors import UsageError

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed_trial"


def _claim(**keys) -> str:
    body = "\n".join(f"{k} = {v!r}".replace("'", '"') if isinstance(v, str) else f"{k} = {v}"
                     for k, v in keys.items())
    return f'[[claims]]\nid = "c1"\nkind = "consistency"\ntext = "A claim."\n{body}\n'


def test_the_seed_papers_numbers_are_consistent_and_the_log_rank_p_implies_its_chi_square():
    claims = parse_consistency_claims((SEED / "paper_claims.toml").read_text(), "paper_claims.toml")
    table = consistency_table(evaluate_consistency(claims))
    assert table.columns == ["id", "text", "rule", "reported", "verdict", "explanation"]
    verdicts = dict(zip(table["id"], table["verdict"]))
    assert verdicts == {"1-low": "consistent", "1-medium": "consistent", "1-high": "consistent",
                        "2-low": "consistent", "2-medium": "consistent", "2-high": "consistent",
                        "3-logrank": "not checkable"}
    why = dict(zip(table["id"], table["explanation"]))
    assert "2 censored, then 2 deaths among the 6 at risk" in why["2-low"]
    assert "7/8" in why["2-high"] and "1 death" in why["2-high"]
    assert "chi2(2) = 2.2004" in why["3-logrank"]


def test_split_hands_the_data_claims_to_parse_claims_unchanged():
    data = (SEED / "claims.toml").read_text()
    consistency = (SEED / "paper_claims.toml").read_text().split("[[claims]]", 1)[1]
    text, claims = split_claims(data + "\n[[claims]]" + consistency, "mixed.toml")
    assert len(claims) == 7
    assert parse_claims(text, "mixed.toml") == parse_claims(data, "mixed.toml")


def test_split_of_a_file_without_data_claims_gives_no_data_text():
    text, claims = split_claims(_claim(rule="grim", n=8, value="62.5%"), "f.toml")
    assert text is None and len(claims) == 1


def test_kind_data_is_the_default_and_is_dropped_for_parse_claims():
    data = (SEED / "claims.toml").read_text().replace('id = "1"\n', 'id = "1"\nkind = "data"\n')
    text, _ = split_claims(data, "f.toml")
    assert parse_claims(text, "f.toml").claims[0].id == "1"


def test_the_reported_column_reads_as_the_paper_wrote_it():
    text = (_claim(rule="statcheck", test="t", df=28, statistic="2.20", p=".036")
            + _claim(rule="hr_ci", hr="0.62", low="0.41", high="0.93", p="p = 0.021").replace("c1", "c2")
            + _claim(rule="grim", n=28, value="5.19").replace("c1", "c3")
            + _claim(rule="statcheck", test="F", df=[2, 28], statistic="22.20", p="< .001").replace("c1", "c4"))
    table = consistency_table(evaluate_consistency(parse_consistency_claims(text, "f.toml")))
    assert table["reported"].to_list() == ["t(28) = 2.20, p = 0.036", "HR 0.62 (95% CI 0.41 to 0.93), p = 0.021",
                                           "mean 5.19 of n = 28", "F(2, 28) = 22.20, p < 0.001"]
    assert table["verdict"].to_list() == ["consistent", "consistent", "inconsistent", "consistent"]


@pytest.mark.parametrize("keys, message", [
    ({"rule": "grimm", "n": 8, "value": "5.1"}, "rule must be one of grim, grimmer, km, statcheck, hr_ci, diff_ci"),
    ({"rule": "grim", "value": "5.1"}, "rule 'grim' needs n"),
    ({"rule": "grim", "n": 0, "value": "5.1"}, "n must be a whole number >= 1, not 0"),
    ({"rule": "grim", "n": 8.5, "value": "5.1"}, "n must be a whole number >= 1"),
    ({"rule": "grim", "n": 8, "value": "five"}, "value = 'five' is not a number as a paper prints it"),
    ({"rule": "grim", "n": 8, "value": "5.1", "sd": "1.0"}, "unknown key(s) sd for rule 'grim'"),
    ({"rule": "km", "n": 8, "survival": "66.7%", "events": 9}, "events = 9 is more than n = 8"),
    ({"rule": "statcheck", "test": "q", "p": ".03", "statistic": "2.2"}, "test must be one of t, F, chi2, z, r"),
    ({"rule": "statcheck", "test": "t", "p": ".03", "statistic": "2.2"}, "test t needs df"),
    ({"rule": "statcheck", "test": "F", "df": 2, "p": ".03", "statistic": "2.2"}, "test F needs df = [df1, df2]"),
    ({"rule": "statcheck", "test": "t", "df": 28, "p": "1.5", "statistic": "2.2"}, "is not a probability"),
    ({"rule": "hr_ci", "hr": "< 0.62", "low": "0.41", "high": "0.93"}, "only p may be reported as an inequality"),
    ({"rule": "hr_ci", "hr": "0.62", "low": "0.41", "high": "0.93", "level": 95}, "level must be below 1"),
    ({"rule": "grimmer", "n": 1, "mean": "3.0", "sd": "1.0"}, "an SD needs n >= 2"),
])
def test_a_mistake_in_a_consistency_claim_names_the_file_the_claim_and_the_key(keys, message):
    with pytest.raises(UsageError) as err:
        parse_consistency_claims(_claim(**keys), "paper.toml")
    assert err.value.message.startswith("claims file paper.toml, claim 'c1': ")
    assert message in err.value.message
    assert err.value.hint


def test_file_level_mistakes_are_usage_errors():
    with pytest.raises(UsageError, match="is not valid TOML"):
        split_claims("[[claims]\n", "f.toml")
    with pytest.raises(UsageError, match="no \\[\\[claims\\]\\] table"):
        split_claims('title = "x"\n', "f.toml")
    with pytest.raises(UsageError, match="claim 'c1': id is used by an earlier claim"):
        split_claims(_claim(rule="grim", n=8, value="62.5%") * 2, "f.toml")
    with pytest.raises(UsageError, match="kind must be \"data\" .* or \"consistency\""):
        split_claims(_claim(rule="grim", n=8, value="62.5%").replace('"consistency"', '"paper"'), "f.toml")
    with pytest.raises(UsageError, match="claim #1: id is required"):
        split_claims('[[claims]]\nkind = "consistency"\n', "f.toml")
