"""The whole safety stage as one pure call: every table, the rules used, and notes on the data.

``analyse_safety`` runs the derivations of ``safety``, ``safety_incidence``,
``safety_onset`` and ``safety_liver`` on frames; ``safety_json`` turns the
result into the ``--format json`` object (the contract the report stage reads).

Sizes stay bounded at any number of subjects: the summary tables (overview,
incidence, severity, onset, shift, quadrant counts) go into the JSON whole;
the per-subject listings (``LISTINGS``: serious AEs, deaths, Hy's law
candidates, liver peaks) only by their first ``LISTING_ROWS`` rows, with
their number of rows and the Parquet file that holds them all under
``listings``.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from trialkit.schemas.errors import UsageError
from trialkit.analyses.groups import Arm, select_arms
from trialkit.analyses.safety.events import (
    MISSING,
    NOT_RELATED,
    TEAE_RULE_TEXT,
    AESet,
    SafetyPopulation,
    overview_table,
    safety_population,
    sae_listing,
    death_listing,
    select_safety_aes,
    severity_scale,
    severity_table,
    subject_key,
    SUBJECT,
)
from trialkit.analyses.safety.incidence import SORTS, filter_min_percent, fisher_table, incidence_table, risk_differences, sort_incidence
from trialkit.analyses.safety.liver import (
    HY_BILIRUBIN,
    HY_TRANSAMINASE,
    MDISH_BILIRUBIN,
    MDISH_TRANSAMINASE,
    hys_law_candidates,
    liver_paramcds,
    liver_peaks,
    liver_quadrant_counts,
    liver_records,
    liver_shift_table,
    liver_unavailable,
)
from trialkit.analyses.safety.onset import derive_var_onset_window, onset_by_term, onset_table

__all__ = ["SafetyResult", "choose_reference", "analyse_safety", "safety_definitions", "safety_json", "TOP_TERMS",
           "LISTINGS", "LISTING_ROWS", "listing_head"]

TOP_TERMS = 15
#: the per-subject (or per-record) tables: in the JSON, the terminal and the report by their first rows only
LISTINGS = ("sae", "deaths", "hys_law", "liver_peaks")
#: rows of a listing shown in safety.json, the terminal and the report; the rest are in its Parquet file
LISTING_ROWS = 20


@dataclass(frozen=True)
class SafetyResult:
    """Every safety table (None where the data do not allow it), the rules used, and notes."""

    population: SafetyPopulation
    reference: str
    overview: pl.DataFrame
    incidence: pl.DataFrame
    fisher: pl.DataFrame
    severity: pl.DataFrame
    sae: pl.DataFrame
    deaths: pl.DataFrame
    risk_differences: pl.DataFrame
    onset: pl.DataFrame | None
    onset_terms: pl.DataFrame | None
    liver_peaks: pl.DataFrame | None
    hys_law: pl.DataFrame
    liver_shift: pl.DataFrame | None
    definitions: dict[str, str]
    notes: tuple[str, ...]

    def tables(self) -> dict[str, pl.DataFrame]:
        """The tables that exist, by output name."""
        named = {
            "population": self.population.counts, "overview": self.overview, "incidence": self.incidence,
            "fisher": self.fisher, "severity": self.severity, "sae": self.sae, "deaths": self.deaths,
            "risk_differences": self.risk_differences, "onset": self.onset, "onset_terms": self.onset_terms,
            "liver_peaks": self.liver_peaks, "hys_law": self.hys_law, "liver_shift": self.liver_shift,
        }
        return {k: v for k, v in named.items() if v is not None}


def choose_reference(arms: list[Arm], chosen: list[Arm], reference: str | None) -> Arm:
    """The reference group: ``--reference`` (matched like --arm), else the first chosen group by TRT01AN."""
    if reference is None:
        return chosen[0]
    ref = select_arms(arms, [reference])[0]
    if ref not in chosen:
        raise UsageError(f"--reference {reference!r} ({ref.label}) is not among the groups analysed "
                         f"({', '.join(a.label for a in chosen)})",
                         "add it with --arm, or leave --arm out to analyse every group")
    return ref


def safety_definitions(aes: AESet, population: SafetyPopulation, reference: str, sort: str,
                       min_percent: float | None, scale: str) -> dict[str, str]:
    """The rules this run used, in words (the ``definitions`` of safety.json)."""
    return {
        "population": population.rule + "; percentages use the group's number of subjects in the safety population",
        "treatment_emergent": TEAE_RULE_TEXT[aes.te_rule],
        "counting": "a subject counts once per row (any TEAE, each system organ class AEBODSYS, each preferred term "
                    "AEDECOD); events [AEs] count every TEAE record",
        "fisher": f"Fisher's exact test, two-sided (as R's fisher.test), of each group against the reference "
                  f"group {reference!r} on the 2x2 table of subjects with and without the event; p is null when "
                  "neither group has a subject in the row",
        "sort": {"alpha": "system organ classes, then preferred terms within each, alphabetically",
                 "frequency": "system organ classes, then preferred terms within each, by descending total number "
                              "of subjects over the groups shown (ties alphabetically)"}[sort],
        "min_percent": (f"incidence rows shown only when at least one group reaches {min_percent:g}% (the 'any' "
                        "row always); the overview is unchanged" if min_percent is not None else "all rows shown"),
        "related": f"AEREL missing or not one of {', '.join(NOT_RELATED)}",
        "serious": 'AESER = "Y"',
        "severe": 'AESEV = "SEVERE"; grade >= 3: the number in ATOXGR is 3 or more',
        "discontinuation": 'AEACN contains "WITHDRAWN" or "DISCONTINU" (e.g. DRUG WITHDRAWN)',
        "deaths": 'ADSL DTHFL = "Y" or any AE record (treatment-emergent or not) with AESDTH = "Y"',
        "severity": ("maximum per subject and row of " + ("ATOXGR grade" if scale == "ATOXGR" else
                     "AESEV, MILD < MODERATE < SEVERE") + f"; a subject whose TEAEs in the row all lack it counts "
                     f"under {MISSING}"),
        "sae_listing": 'every AE record with AESER = "Y" in the safety population, treatment-emergent or not',
        "onset": ("every AE record of the safety population against ADEX: days = onset study day (ASTDY, else from "
                  "ASTDT and TRTSDT) - study day of the most recent dose on or before it; with day-level data "
                  "'within 24 h' means the same or the next day (0-1), then 2-7, 8-30 and > 30 days; AEs with no "
                  "dose on or before onset are 'before first dose'"),
        "liver_baseline": ('baseline = the ABLFL = "Y" record (without ABLFL, the last on or before day 1); '
                           "post-baseline = records after it: ADY greater than the baseline ADY (ADY >= 1 for a "
                           "subject without baseline; AVISITN greater than the baseline's where ADY is missing)"),
        "liver_peaks": ("per subject, the maximum over post-baseline records of AVAL / ULN (ULN = A1HI, else ANRHI) "
                        "and of AVAL / the subject's baseline AVAL (xBL), for ALT, AST and total bilirubin "
                        "(PARAMCD TBIL or BILI)"),
        "hys_law": (f"peak ALT or peak AST > {HY_TRANSAMINASE:g} x ULN and peak bilirubin > {HY_BILIRUBIN:g} x ULN, "
                    "peaks taken at any time post-baseline, not necessarily at the same visit (FDA eDISH convention)"),
        "edish": (f"log10 peak ALT/ULN against log10 peak bilirubin/ULN, reference lines at {HY_TRANSAMINASE:g} x ULN "
                  f"and {HY_BILIRUBIN:g} x ULN; quadrants: Hy's law range (both above), Temple's corollary (ALT "
                  "only), Cholestasis (bilirubin only), Normal range"),
        "mdish": (f"baseline-relative eDISH: peak / the subject's own baseline; candidate when peak ALT or AST > "
                  f"{MDISH_TRANSAMINASE:g} x baseline and peak bilirubin > {MDISH_BILIRUBIN:g} x baseline"),
        "shift": ("low (AVAL < A1LO), high (AVAL > A1HI), else normal; baseline category -> worst post-baseline "
                  "category, worst being the record most extreme beyond its limit as a fold (AVAL / A1HI above, "
                  "A1LO / AVAL below): a subject both low and high is classed by the larger fold, a tie goes to "
                  "high; percent of the group's subjects with a post-baseline value of the test"),
        "listings": (f"serious AEs, deaths, Hy's law candidates and liver peaks: safety.json, the terminal and the "
                     f"report show the first {LISTING_ROWS} rows of each with its number of rows; every row is in "
                     "the Parquet file named under 'listings'"),
        "risk_difference": (f"for the {TOP_TERMS} most frequent preferred terms: percentage of each group minus the "
                            f"reference group's, with the 95% Newcombe hybrid score interval (method 10, Wilson "
                            "limits)"),
    }


def _notes(aes: AESet, population: SafetyPopulation, overview: pl.DataFrame, incidence: pl.DataFrame,
           adae_columns: list[str], quarantined: int) -> list[str]:
    notes = []
    if aes.not_in_adsl_records:
        notes.append(f"{aes.not_in_adsl_records} ADAE record(s) of {aes.not_in_adsl_subjects} subject(s) not in "
                     "ADSL were excluded (trialkit validate quarantines such records)")
    if quarantined:
        notes.append(f"{quarantined} ADAE record(s) whose subject is not in ADSL were quarantined by trialkit "
                     "validate (quarantine/adae.parquet) and are not counted")
    if aes.outside_population:
        notes.append(f"{aes.outside_population} ADAE record(s) of subjects outside the safety population or the "
                     "selected groups are not counted")
    teae = aes.teae_slim
    if teae.height == 0:
        notes.append("no treatment-emergent adverse event in the safety population: every count is 0")
    else:
        anyrow = incidence.filter(pl.col("level") == "any")
        for arm, n in anyrow.filter(pl.col("subjects") == 0).select("arm", "n").iter_rows():
            notes.append(f"{arm}: no treatment-emergent adverse event (0 of {n} subjects)")
    for arm in population.counts.filter(pl.col("n") == 0)["arm"]:
        notes.append(f"{arm}: no subject in the safety population; its percentages are null")
    if "AESEV" not in adae_columns:
        notes.append("ADAE has no AESEV: severity is unknown (MISSING) for every TEAE and no TEAE counts as severe")
    elif teae.height and teae["AESEV"].null_count():
        miss = teae.filter(pl.col("AESEV").is_null())
        notes.append(f"AESEV is missing on {miss.height} TEAE record(s) of {miss[subject_key(miss)].n_unique()} subject(s): "
                     f"they count under {MISSING} in the severity table (unless the subject has a known severity in "
                     "the row) and not as severe in the overview")
    absent = overview.filter(pl.col("subjects").is_null())["category"].unique(maintain_order=True).to_list()
    for category in absent:
        notes.append(f"'{category}' cannot be assessed: its ADAE variable is absent or entirely missing")
    return notes


def analyse_safety(adsl: pl.DataFrame, adae: pl.DataFrame, arms: list[Arm], reference: Arm, *,
                   adex: pl.DataFrame | None = None, adlb: pl.DataFrame | None = None, sort: str = "alpha",
                   min_percent: float | None = None, quarantined_orphans: int = 0, population_flag: str | None = "SAFFL",
                   subjects: pl.Series | None = None) -> SafetyResult:
    """Every safety table for the groups ``arms`` against ``reference`` (one of them).

    The population is ADSL ``population_flag`` = "Y" (SAFFL by default), restricted to ``subjects`` (a subgroup's
    USUBJIDs) when given.
    """
    if sort not in SORTS:
        raise UsageError(f"--sort {sort!r} is not a sort order", f"use one of: {', '.join(SORTS)}")
    if min_percent is not None and not 0 <= min_percent <= 100:
        raise UsageError(f"--min-percent {min_percent:g} is not a percentage", "give a number from 0 to 100")
    population = safety_population(adsl, arms, population_flag, subjects)
    aes = select_safety_aes(adae, adsl, population)
    overview = overview_table(aes, population, adae.columns)
    full = incidence_table(aes, population)
    fisher_all = fisher_table(full, reference.label)
    incidence = filter_min_percent(sort_incidence(full, sort), min_percent)
    kept = incidence.select("row", "level", "soc", "pt").unique()
    fisher = (fisher_all.drop("row").join(kept, on=["level", "soc", "pt"], how="inner", nulls_equal=True)
              .join(population.counts.select("arm", "order"), on="arm", how="left")
              .sort("row", "order").select("row", *[c for c in fisher_all.columns if c != "row"]))
    notes = _notes(aes, population, overview, full, adae.columns, quarantined_orphans)
    if len(arms) == 1:
        notes.append("only one group: no Fisher's exact test and no risk difference (the dot plot shows incidence only)")
    if min_percent is not None:
        hidden = full.select("level", "soc", "pt").unique().height - kept.height
        notes.append(f"--min-percent {min_percent:g}: {hidden} incidence row(s) with every group below it are hidden; "
                     "the overview is unchanged")

    onset = onset_terms = None
    if adex is None:
        notes.append("the workspace holds no ADEX: no onset-relative-to-dose table")
    else:
        # once, for both tables; on the columns they use, in one chunk (grouping the chunks of ADAE was slower)
        used = [c for c in ("USUBJID", SUBJECT, "ARM", "AEDECOD", "ASTDY", "ASTDT", "TRTSDT") if c in aes.records.columns]
        timed = derive_var_onset_window(aes.records.select(used).rechunk(), adex, aes.codes)
        onset = onset_table(aes, population, adex, timed)
        onset_terms = onset_by_term(aes, population, adex, timed)

    peaks = shift = None
    why = liver_unavailable(adlb)
    if why is not None:
        notes.append(f"liver-safety screens skipped: {why}")
    else:
        records = liver_records(adlb, population)
        peaks = liver_peaks(records, population)
        shift = liver_shift_table(records, population)
        codes = liver_paramcds(adlb)
        notes.append(f"liver tests: ALT = {codes['ALT']}, AST = {codes['AST']}, bilirubin = {codes['BILI']}; "
                     f"{peaks.height} subject(s) with a post-baseline value")
    hys = hys_law_candidates(peaks) if peaks is not None else pl.DataFrame(
        schema={"usubjid": pl.String, "arm": pl.String, "alt_uln": pl.Float64, "ast_uln": pl.Float64,
                "bili_uln": pl.Float64})
    if peaks is not None:
        notes.append(f"{hys.height} subject(s) meet the Hy's law screen" if hys.height
                     else "no subject meets the Hy's law screen")

    return SafetyResult(
        population=population, reference=reference.label, overview=overview, incidence=incidence, fisher=fisher,
        severity=severity_table(aes, population), sae=sae_listing(aes, population),
        deaths=death_listing(aes, population),
        risk_differences=risk_differences(full, reference.label, TOP_TERMS),
        onset=onset, onset_terms=onset_terms, liver_peaks=peaks, hys_law=hys, liver_shift=shift,
        definitions=safety_definitions(aes, population, reference.label, sort, min_percent, severity_scale(aes.teae_slim)),
        notes=tuple(notes),
    )


def _records(df: pl.DataFrame | None, drop: tuple[str, ...] = ("order",)) -> list[dict] | None:
    if df is None:
        return None
    return df.drop([c for c in drop if c in df.columns]).to_dicts()


def listing_head(df: pl.DataFrame, name: str, folder: str, rows: int = LISTING_ROWS) -> dict:
    """What safety.json says of a listing besides its first rows: rows (all), shown, file (workspace-relative)."""
    return {"rows": df.height, "shown": min(df.height, rows), "file": f"{folder}/{name}.parquet"}


def safety_json(result: SafetyResult, folder: str = "safety", rows: int = LISTING_ROWS) -> dict:
    """The ``--format json`` object and ``<folder>/safety.json``: the contract of the safety stage.

    Summary tables whole; each listing of ``LISTINGS`` by its first ``rows`` rows, with
    ``listings[name]`` = {rows, shown, file} naming the Parquet file (under ``folder``) that has them all.
    """
    tables = result.tables()
    listings = {name: listing_head(tables[name], name, folder, rows) for name in LISTINGS if name in tables}

    def head(name: str) -> list[dict] | None:
        return _records(tables[name].head(rows)) if name in tables else None

    return {
        "population": _records(result.population.counts.select("arm", "n")),
        "reference": result.reference,
        "overview": _records(result.overview.select("category", "arm", "subjects", "percent", "n")),
        "incidence": _records(result.incidence.select("row", "level", "soc", "pt", "arm", "subjects", "percent",
                                                      "events", "n")),
        "fisher": _records(result.fisher.select("row", "level", "soc", "pt", "arm", "reference", "p")),
        "hys_law": head("hys_law"),
        "severity": _records(result.severity),
        "sae": head("sae"),
        "deaths": head("deaths"),
        "risk_differences": _records(result.risk_differences),
        "onset": _records(result.onset),
        "onset_by_term": _records(result.onset_terms),
        "liver_peaks": head("liver_peaks"),
        "liver_quadrants": (_records(liver_quadrant_counts(result.liver_peaks, result.population))
                            if result.liver_peaks is not None else None),
        "liver_shift": _records(result.liver_shift),
        "listings": listings,
        "definitions": result.definitions,
        "notes": list(result.notes),
    }
