"""Safety's integer subject codes: the fast paths give exactly what the text-keyed derivations give.

``select_safety_aes`` adds ``_SUBJ`` (each subject's row in the population)
to the AE records, looks subjects up once per run of equal USUBJIDs, counts
distinct subjects by the code, packs subject, group, SOC, PT and severity
rank into one integer for the worst severity, evaluates the overview's
filters once per distinct value, and matches doses by the codes. Each is
checked here against the plain derivation on a randomised trial with the
awkward cases: records of subjects not in ADSL or outside the population, a
subject's records not together, missing SOC, PT, severity, relatedness and
onset, lower-case values, a fatal AE, doses of subjects outside the
population and of subjects without AEs.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from trialkit.analyses.groups import arms_of
from trialkit.analyses.safety import events, onset as onset_module
from trialkit.analyses.safety.events import (
    SUBJECT,
    AESet,
    death_listing,
    derive_var_teae,
    keep_rows,
    overview_table,
    safety_population,
    sae_listing,
    select_safety_aes,
    severity_table,
)
from trialkit.analyses.safety.incidence import incidence_table
from trialkit.analyses.safety.onset import derive_var_onset_window, onset_by_term, onset_table


def _trial(seed: int, n: int = 400, records: int = 3000, grades: bool = False):
    rng = np.random.default_rng(seed)

    def pick(values, size, p=None) -> list:
        return rng.choice(np.array(values, dtype=object), size, p=p).tolist()

    ids = [f"S{i:04d}" for i in range(n)]
    adsl = pl.DataFrame({
        "USUBJID": ids,
        "TRT01A": rng.choice(["Placebo", "Low", "High", "Other"], n, p=[0.3, 0.3, 0.3, 0.1]),
        "SAFFL": rng.choice(["Y", "N"], n, p=[0.9, 0.1]),
        "TRTSDT": [date(2020, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 60, n)],
        "DTHFL": pick(["Y", None], n, p=[0.1, 0.9]),
        "DTHDT": [date(2021, 1, 1)] * n,
    }).with_columns(pl.col("TRT01A").replace_strict({"Placebo": 0.0, "Low": 1.0, "High": 2.0, "Other": 3.0})
                    .alias("TRT01AN"))
    subject = np.sort(rng.choice(ids + ["Z001", "Z002"], records))    # together, and two subjects not in ADSL
    mixed = rng.random(records) < 0.05
    subject[mixed] = rng.choice(ids, mixed.sum())                      # a few records away from their subject's
    soc = pick(["Skin", "Nervous", "Cardiac", None], records, p=[0.4, 0.3, 0.28, 0.02])
    pt = pick(["Rash", "Headache", "Pruritus", "Palpitations", None], records, p=[0.3, 0.3, 0.2, 0.18, 0.02])
    day = rng.integers(-10, 200, records).astype(float)
    day[rng.random(records) < 0.05] = np.nan
    adae = pl.DataFrame({
        "USUBJID": subject, "AEBODSYS": soc, "AEDECOD": pt,
        "AETERM": pick(["RASH", "HEADACHE"], records),
        "AESEV": pick(["MILD", "moderate", "SEVERE", None], records, p=[0.4, 0.3, 0.2, 0.1]),
        "AESER": pick(["Y", "N", None], records, p=[0.1, 0.85, 0.05]),
        "AEREL": pick(["NOT RELATED", " unlikely ", "PROBABLE", None], records),
        "AEACN": pick(["DRUG WITHDRAWN", "DOSE NOT CHANGED", None], records),
        "AEOUT": pick(["FATAL", "RECOVERED", None], records),
        "AESDTH": pick(["Y", "N"], records, p=[0.02, 0.98]),
        "TRTEMFL": pick(["Y", None], records, p=[0.85, 0.15]),
        "ASTDY": day,
    }).with_columns(pl.col("ASTDY").fill_nan(None))
    if grades:
        adae = adae.with_columns(pl.Series("ATOXGR", pick(["1", "2", "3", "4", "5", None], records)))
    dosed = rng.choice(ids[: n - 20] + ["Z001"], 5000)                 # 20 subjects never dosed
    adex = pl.DataFrame({"USUBJID": np.sort(dosed), "ASTDY": rng.integers(1, 150, 5000).astype(float)})
    return adsl, adae, adex


def _plain(aes: AESet) -> AESet:
    """The same records keyed by USUBJID alone: every derivation takes its text-keyed path."""
    return AESet(aes.records.drop(SUBJECT), aes.te_rule, aes.not_in_adsl_records, aes.not_in_adsl_subjects,
                 aes.outside_population)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_records_are_the_inner_join_of_the_adsl_subjects_in_the_same_order(seed):
    adsl, adae, _adex = _trial(seed)
    population = safety_population(adsl, arms_of(adsl))
    aes = select_safety_aes(adae, adsl, population)
    known = adae["USUBJID"].is_in(adsl["USUBJID"].implode())
    want = derive_var_teae(adae.filter(known).join(population.subjects.select("USUBJID", "ARM", "TRTSDT"),
                                                  on="USUBJID", how="inner"))
    assert aes.codes is not None and aes.records.drop(SUBJECT).equals(want)
    assert (aes.not_in_adsl_records, aes.not_in_adsl_subjects) == ((~known).sum(), adae.filter(~known)["USUBJID"].n_unique())
    assert aes.outside_population == known.sum() - want.height > 0
    codes = population.subjects["USUBJID"].gather(aes.records[SUBJECT])
    assert codes.equals(aes.records["USUBJID"], check_names=False)  # the code is the subject's population row


def test_fewer_records_than_subjects_keep_the_inner_join():
    adsl, adae, _adex = _trial(4, n=400, records=200)
    population = safety_population(adsl, arms_of(adsl))
    aes = select_safety_aes(adae, adsl, population)
    known = adae["USUBJID"].is_in(adsl["USUBJID"].implode())
    want = adae.filter(known).join(population.subjects.select("USUBJID", "ARM", "TRTSDT").with_row_index(SUBJECT),
                                   on="USUBJID", how="inner")
    assert aes.records.drop("TEAE").equals(want.select(*adae.columns, "ARM", "TRTSDT", pl.col(SUBJECT).cast(pl.UInt32)))


def test_a_population_with_a_repeated_usubjid_is_counted_by_usubjid():
    adsl, adae, _adex = _trial(5)
    adsl = pl.concat([adsl, adsl.head(1)])
    population = safety_population(adsl, arms_of(adsl))
    aes = select_safety_aes(adae, adsl, population)
    assert aes.codes is None and SUBJECT not in aes.records.columns
    assert overview_table(aes, population, adae.columns).height > 0


@pytest.mark.parametrize(("seed", "grades"), [(1, False), (2, True), (3, False)])
def test_every_table_by_subject_codes_equals_the_tables_by_usubjid(seed, grades):
    adsl, adae, adex = _trial(seed, grades=grades)
    population = safety_population(adsl, arms_of(adsl))
    aes = select_safety_aes(adae, adsl, population)
    plain = _plain(aes)
    for table in (lambda a: overview_table(a, population, adae.columns), lambda a: incidence_table(a, population),
                  lambda a: severity_table(a, population), lambda a: sae_listing(a, population),
                  lambda a: death_listing(a, population), lambda a: onset_table(a, population, adex),
                  lambda a: onset_by_term(a, population, adex)):
        fast, slow = table(aes), table(plain)
        assert fast.equals(slow) and fast.height > 0


def test_worst_severity_by_packed_keys_equals_the_group_by(monkeypatch):
    """Subjects with only missing severities in a row, missing SOC and PT, grades: the packed sort and the
    group-by per subject count the same subjects at the same worst severity."""
    adsl, adae, _adex = _trial(6, grades=True)
    population = safety_population(adsl, arms_of(adsl))
    aes = select_safety_aes(adae, adsl, population)
    fast = severity_table(aes, population)
    monkeypatch.setattr(events, "_worst_by_codes", lambda teae, coded=None: None)
    slow = severity_table(aes, population)
    assert fast.equals(slow)
    assert fast.filter(pl.col("severity") == "MISSING")["subjects"].sum() > 0
    assert aes.teae_slim["AEBODSYS"].null_count() and aes.teae_slim["AEDECOD"].null_count()


def test_worst_severity_takes_the_group_by_when_the_key_does_not_fit():
    teae = pl.DataFrame({SUBJECT: [0, 1], "ARM": ["A", "B"], "AEBODSYS": ["S", "S"], "AEDECOD": ["P", "Q"],
                         "_RANK": [1, 2 ** 40]}, schema_overrides={SUBJECT: pl.UInt32})
    assert events._worst_by_codes(teae.with_columns(pl.col(SUBJECT) * 2 ** 31)) is None
    got = events._worst_by_codes(teae)
    assert got["any"][0].sort("ARM")["severity_order"].to_list() == [1, 2 ** 40]


def test_overview_filters_by_distinct_values_keep_the_records_the_row_filters_keep():
    adsl, adae, _adex = _trial(7, grades=True)
    population = safety_population(adsl, arms_of(adsl))
    teae = select_safety_aes(adae, adsl, population).teae_slim
    for category, filters, _var in events._overview_categories(set(adae.columns), teae):
        if not filters:
            continue
        by_rows = keep_rows(teae, pl.all_horizontal(filters))
        by_values = teae.filter(pl.all_horizontal([events._by_values(teae, f) for f in filters]))
        assert by_values.equals(by_rows), category


def test_doses_matched_by_subject_codes_equal_the_as_of_join(monkeypatch):
    adsl, adae, adex = _trial(8)
    adex = pl.concat([adex, pl.DataFrame({"USUBJID": ["S0001"], "ASTDY": [-0.0]})])
    population = safety_population(adsl, arms_of(adsl))
    aes = select_safety_aes(adae, adsl, population)
    fast = derive_var_onset_window(aes.records, adex, aes.codes)
    monkeypatch.setattr(onset_module, "_by_codes", lambda out, doses: None)
    slow = derive_var_onset_window(aes.records, adex)
    assert fast.equals(slow) and fast["DOSEDY"].null_count() < fast.height
    ok = adex.filter(pl.col("ASTDY") != 0)
    assert derive_var_onset_window(aes.records, ok, aes.codes).equals(derive_var_onset_window(aes.records, ok))


@pytest.mark.parametrize("chunks", ["aligned", "unaligned"])
def test_records_of_an_adae_in_several_chunks_are_the_same(chunks):
    """ADAE read from Parquet comes in chunks: the looked-up columns are cut alike (or everything rechunked)."""
    adsl, adae, _adex = _trial(9)
    population = safety_population(adsl, arms_of(adsl))
    split = pl.concat([adae.head(1000), adae.tail(adae.height - 1000)], rechunk=False)
    if chunks == "unaligned":
        split = split.with_columns(split["AETERM"].rechunk())
    assert len({tuple(c.chunk_lengths()) for c in split.get_columns()}) == (1 if chunks == "aligned" else 2)
    got = select_safety_aes(split, adsl, population).records
    assert got.equals(select_safety_aes(adae, adsl, population).records)
    assert derive_var_teae(got.drop("TEAE")).equals(got)


def test_fisher_by_the_gammaln_table_equals_gammaln_on_the_support():
    """_fisher looks log-factorials up in one gammaln table: bit for bit what evaluating gammaln gives."""
    import math

    from scipy.special import gammaln

    from trialkit.analyses.safety.incidence import _fisher

    def direct(a, n_a, r, n_r):
        k, n = a + r, n_a + n_r
        x = np.arange(max(0, k - n_r), min(k, n_a) + 1, dtype=np.float64)
        logp = (gammaln(n_a + 1.0) - gammaln(x + 1) - gammaln(n_a - x + 1) + gammaln(n_r + 1.0) - gammaln(k - x + 1)
                - gammaln(n_r - k + x + 1) - gammaln(n + 1.0) + gammaln(k + 1.0) + gammaln(n - k + 1.0))
        tail = logp[logp <= logp[a - int(x[0])] + math.log1p(1e-7)]
        return float(min(1.0, math.exp(tail.max()) * np.exp(tail - tail.max()).sum()))

    rng = np.random.default_rng(10)
    for size in (4, 40, 4000, 200_000):
        for _ in range(25):
            n_a, n_r = (int(v) for v in rng.integers(1, size + 1, 2))
            a, r = int(rng.integers(0, n_a + 1)), int(rng.integers(1, n_r + 1))
            assert _fisher(a, n_a, r, n_r) == direct(a, n_a, r, n_r), (a, n_a, r, n_r)
