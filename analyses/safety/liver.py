"""Liver-safety laboratory screens: peaks over ULN, Hy's law, eDISH and mDISH, shift tables.

Definitions:

- Tests: ALT, AST and total bilirubin (PARAMCD TBIL or BILI) of ADLB, in the
  safety population. ULN = A1HI (ANRHI where A1HI is missing); LLN = A1LO (ANRLO).
- Baseline: the ABLFL = "Y" record; without ABLFL, the last record on or
  before day 1 (ADY <= 1). Post-baseline: records after the baseline record
  (ADY greater than the baseline's ADY; ADY >= 1 when there is no baseline;
  AVISITN greater than the baseline's when ADY is missing).
- Peak: the maximum over post-baseline records of AVAL / ULN (eDISH) or of
  AVAL / the subject's own baseline AVAL (mDISH, xBL).
- Hy's law candidate (FDA eDISH convention): peak ALT or peak AST > 3 x ULN
  and peak bilirubin > 2 x ULN, each peak at any time post-baseline (not
  necessarily at the same visit).
- mDISH candidate: peak ALT or AST > 3 x baseline and peak bilirubin > 2 x
  baseline (for patients, such as those with cirrhosis, who start abnormal).
- eDISH quadrants on peak ALT (x) and peak bilirubin (y): "Hy's law range"
  (x > 3, y > 2), "Temple's corollary" (x > 3), "Cholestasis" (y > 2),
  "Normal range" (neither); mDISH likewise on xBL with its thresholds.
- Shift: category low (AVAL < LLN), high (AVAL > ULN) or normal; baseline
  category -> worst post-baseline category, where worst is the record most
  extreme beyond its limit, measured as a fold (AVAL / ULN above, LLN / AVAL
  below), so a subject both low and high is classed by the larger fold (a tie
  goes to high); normal when no post-baseline record is abnormal. Denominator:
  subjects of the group with a post-baseline value of the test.
"""

from __future__ import annotations

import polars as pl

from trialkit.analyses.safety.events import SafetyPopulation

__all__ = [
    "LIVER_TESTS",
    "HY_TRANSAMINASE",
    "HY_BILIRUBIN",
    "MDISH_TRANSAMINASE",
    "MDISH_BILIRUBIN",
    "QUADRANTS",
    "liver_unavailable",
    "select_liver_tests",
    "liver_paramcds",
    "liver_records",
    "liver_peaks",
    "hys_law_candidates",
    "liver_quadrant_counts",
    "liver_shift_table",
]

#: test -> PARAMCDs that hold it, first found wins
LIVER_TESTS = {"ALT": ("ALT",), "AST": ("AST",), "BILI": ("TBIL", "BILI")}
HY_TRANSAMINASE = 3.0
HY_BILIRUBIN = 2.0
MDISH_TRANSAMINASE = 3.0
MDISH_BILIRUBIN = 2.0
QUADRANTS = ("Hy's law range", "Temple's corollary", "Cholestasis", "Normal range")
CATEGORIES = ("low", "normal", "high")


def _limit(adlb: pl.DataFrame, *names: str) -> pl.Expr:
    cols = [pl.col(n).cast(pl.Float64) for n in names if n in adlb.columns]
    return pl.coalesce(*cols) if cols else pl.lit(None, pl.Float64)


def liver_paramcds(adlb: pl.DataFrame) -> dict[str, str]:
    """The PARAMCD holding each liver test that ADLB has (test -> PARAMCD)."""
    if "PARAMCD" not in adlb.columns:
        return {}
    present = set(adlb["PARAMCD"].unique().to_list())
    return {test: next(c for c in codes if c in present) for test, codes in LIVER_TESTS.items()
            if any(c in present for c in codes)}


def select_liver_tests(adlb: pl.DataFrame) -> pl.DataFrame:
    """The ADLB records of ALT, AST and bilirubin (every PARAMCD of ``LIVER_TESTS``): all the screens read.

    A whole ADLB of many tests need not be held through the safety stage; the result answers
    ``liver_unavailable``, ``liver_paramcds`` and ``liver_records`` as the whole ADLB would.
    """
    if "PARAMCD" not in adlb.columns:
        return adlb
    return adlb.filter(pl.col("PARAMCD").is_in([c for codes in LIVER_TESTS.values() for c in codes]))


def liver_unavailable(adlb: pl.DataFrame | None) -> str | None:
    """Why the liver screens cannot run on this ADLB; None when they can."""
    if adlb is None:
        return "the workspace holds no ADLB"
    codes = liver_paramcds(adlb)
    missing = [t if t != "BILI" else "bilirubin (TBIL or BILI)" for t in LIVER_TESTS if t not in codes]
    if missing:
        return f"ADLB has no {', '.join(missing)}"
    if "AVAL" not in adlb.columns:
        return "ADLB has no AVAL"
    uln = adlb.filter(pl.col("PARAMCD").is_in(list(codes.values()))).select(
        pl.col("PARAMCD"), _limit(adlb, "A1HI", "ANRHI").alias("ULN"))
    without = [p for p in codes.values() if uln.filter((pl.col("PARAMCD") == p) & pl.col("ULN").is_not_null()).height == 0]
    if without:
        return f"ADLB has no upper limit of normal (A1HI or ANRHI) for {', '.join(without)}"
    return None


def liver_records(adlb: pl.DataFrame, population: SafetyPopulation) -> pl.DataFrame:
    """ALT, AST and bilirubin records of the safety population, with baseline and post-baseline flags.

    Columns: USUBJID, ARM, TEST (ALT, AST, BILI), PARAMCD, AVAL, ULN, LLN, ADY, AVISITN,
    BASEFL, POSTFL, BASE, BASE_LLN, BASE_ULN.
    """
    codes = liver_paramcds(adlb)
    test_of = {code: test for test, code in codes.items()}
    num = {c: (pl.col(c).cast(pl.Float64) if c in adlb.columns else pl.lit(None, pl.Float64)) for c in ("ADY", "AVISITN")}
    lb = (adlb.filter(pl.col("PARAMCD").is_in(list(test_of)))
          .join(population.subjects.select("USUBJID", "ARM"), on="USUBJID", how="inner")
          .select("USUBJID", "ARM", pl.col("PARAMCD").replace_strict(test_of, return_dtype=pl.String).alias("TEST"),
                  "PARAMCD", pl.col("AVAL").cast(pl.Float64), _limit(adlb, "A1HI", "ANRHI").alias("ULN"),
                  _limit(adlb, "A1LO", "ANRLO").alias("LLN"), num["ADY"].alias("ADY"), num["AVISITN"].alias("AVISITN"),
                  (pl.col("ABLFL") == "Y").fill_null(False).alias("BASEFL") if "ABLFL" in adlb.columns
                  else pl.lit(False).alias("BASEFL"))
          .with_row_index("_i"))
    if "ABLFL" not in adlb.columns:
        last = (lb.filter((pl.col("ADY") <= 1) & pl.col("AVAL").is_not_null()).sort("ADY", "AVISITN", "_i")
                .group_by("USUBJID", "TEST").agg(pl.col("_i").last()))
        lb = lb.with_columns(pl.col("_i").is_in(last["_i"].implode()).alias("BASEFL"))
    base = lb.filter(pl.col("BASEFL")).group_by("USUBJID", "TEST").agg(
        pl.col("AVAL").first().alias("BASE"), pl.col("ADY").first().alias("_BDY"),
        pl.col("AVISITN").first().alias("_BVN"), pl.col("LLN").first().alias("BASE_LLN"),
        pl.col("ULN").first().alias("BASE_ULN"))
    lb = lb.join(base, on=["USUBJID", "TEST"], how="left")
    after = (pl.when(pl.col("ADY").is_not_null() & pl.col("_BDY").is_not_null()).then(pl.col("ADY") > pl.col("_BDY"))
             .when(pl.col("ADY").is_not_null()).then(pl.col("ADY") >= 1)
             .when(pl.col("AVISITN").is_not_null() & pl.col("_BVN").is_not_null()).then(pl.col("AVISITN") > pl.col("_BVN"))
             .otherwise(False))
    lb = lb.with_columns((~pl.col("BASEFL") & pl.col("AVAL").is_not_null() & after).alias("POSTFL"))
    return lb.sort("_i").drop("_i", "_BDY", "_BVN")


def _quadrant(x: str, y: str, xt: float, yt: float) -> pl.Expr:
    return (pl.when(pl.col(x).is_null() | pl.col(y).is_null()).then(None)
            .when((pl.col(x) > xt) & (pl.col(y) > yt)).then(pl.lit(QUADRANTS[0]))
            .when(pl.col(x) > xt).then(pl.lit(QUADRANTS[1]))
            .when(pl.col(y) > yt).then(pl.lit(QUADRANTS[2]))
            .otherwise(pl.lit(QUADRANTS[3])))


def liver_peaks(records: pl.DataFrame, population: SafetyPopulation) -> pl.DataFrame:
    """Peak post-baseline ALT, AST and bilirubin over ULN and over baseline, per subject.

    One row per subject with at least one post-baseline liver value. Columns:
    usubjid, arm, alt_uln, ast_uln, bili_uln, alt_xbl, ast_xbl, bili_xbl,
    hys_law, mdish, edish_quadrant, mdish_quadrant.
    """
    post = records.filter(pl.col("POSTFL"))
    ratio = pl.when(pl.col("ULN") > 0).then(pl.col("AVAL") / pl.col("ULN"))
    xbl = pl.when(pl.col("BASE") > 0).then(pl.col("AVAL") / pl.col("BASE"))
    out = post.group_by("USUBJID", "ARM").agg(  # one pass, one row per subject; a test without a value: null
        *(ratio.filter(pl.col("TEST") == test).max().alias(f"{test.lower()}_uln") for test in LIVER_TESTS),
        *(xbl.filter(pl.col("TEST") == test).max().alias(f"{test.lower()}_xbl") for test in LIVER_TESTS))
    hy = ((pl.col("alt_uln") > HY_TRANSAMINASE) | (pl.col("ast_uln") > HY_TRANSAMINASE)) & (pl.col("bili_uln") > HY_BILIRUBIN)
    md = (((pl.col("alt_xbl") > MDISH_TRANSAMINASE) | (pl.col("ast_xbl") > MDISH_TRANSAMINASE))
          & (pl.col("bili_xbl") > MDISH_BILIRUBIN))
    order = population.counts.select(pl.col("arm").alias("ARM"), "order")
    return (out.with_columns(hy.fill_null(False).alias("hys_law"), md.fill_null(False).alias("mdish"),
                             _quadrant("alt_uln", "bili_uln", HY_TRANSAMINASE, HY_BILIRUBIN).alias("edish_quadrant"),
                             _quadrant("alt_xbl", "bili_xbl", MDISH_TRANSAMINASE, MDISH_BILIRUBIN).alias("mdish_quadrant"))
            .join(order, on="ARM", how="left").sort("order", "USUBJID")
            .select(pl.col("USUBJID").alias("usubjid"), pl.col("ARM").alias("arm"), "alt_uln", "ast_uln", "bili_uln",
                    "alt_xbl", "ast_xbl", "bili_xbl", "hys_law", "mdish", "edish_quadrant", "mdish_quadrant"))


def hys_law_candidates(peaks: pl.DataFrame) -> pl.DataFrame:
    """Subjects meeting the Hy's law screen. Columns: usubjid, arm, alt_uln, ast_uln, bili_uln."""
    return peaks.filter(pl.col("hys_law")).select("usubjid", "arm", "alt_uln", "ast_uln", "bili_uln")


def liver_quadrant_counts(peaks: pl.DataFrame, population: SafetyPopulation) -> pl.DataFrame:
    """Subjects per eDISH and mDISH quadrant and group: the numbers behind the two figures.

    Quadrants that no subject falls in are left out; within those shown, every group appears (zero-filled).
    Columns: plot ("eDISH", "mDISH"), quadrant, arm, subjects; ordered by plot, quadrant (alphabetically), group.
    """
    parts = []
    for i, (plot, column) in enumerate((("eDISH", "edish_quadrant"), ("mDISH", "mdish_quadrant"))):
        counted = (peaks.filter(pl.col(column).is_not_null())
                   .group_by(pl.col(column).alias("quadrant"), "arm").agg(pl.len().cast(pl.Int64).alias("subjects")))
        grid = counted.select("quadrant").unique().join(population.counts.select("arm", "order"), how="cross")
        parts.append(grid.join(counted, on=["quadrant", "arm"], how="left")
                     .with_columns(pl.col("subjects").fill_null(0), pl.lit(plot).alias("plot"), pl.lit(i).alias("_p")))
    return pl.concat(parts, how="vertical_relaxed").sort("_p", "quadrant", "order").select("plot", "quadrant", "arm", "subjects")


def _category(value: str, lln: str, uln: str) -> pl.Expr:
    return (pl.when(pl.col(value).is_null()).then(pl.lit("missing"))
            .when(pl.col(lln).is_not_null() & (pl.col(value) < pl.col(lln))).then(pl.lit("low"))
            .when(pl.col(uln).is_not_null() & (pl.col(value) > pl.col(uln))).then(pl.lit("high"))
            .otherwise(pl.lit("normal")))


def liver_shift_table(records: pl.DataFrame, population: SafetyPopulation) -> pl.DataFrame:
    """Subjects by baseline category and worst post-baseline category, per test and group.

    Columns: param (the ADLB PARAMCD), test, arm, baseline, worst, n, subjects, percent
    (n = subjects of the group with a post-baseline value of the test; every cell zero-filled;
    baseline "missing" appears only when some subject has no baseline value).
    """
    post = records.filter(pl.col("POSTFL")).with_columns(
        _category("AVAL", "LLN", "ULN").alias("_cat"),
        pl.when(pl.col("ULN").is_not_null() & (pl.col("AVAL") > pl.col("ULN"))).then(pl.col("AVAL") / pl.col("ULN"))
        .when(pl.col("LLN").is_not_null() & (pl.col("AVAL") < pl.col("LLN")))
        .then(pl.when(pl.col("AVAL") > 0).then(pl.col("LLN") / pl.col("AVAL")).otherwise(float("inf")))
        .otherwise(0.0).alias("_fold"))
    worst = (post.sort(["_fold", "_cat"], descending=[True, False])  # "high" < "low": a tie goes to high
             .group_by("USUBJID", "ARM", "TEST", "PARAMCD", maintain_order=True)
             .agg(pl.col("_cat").first().alias("worst"), pl.col("_fold").first().alias("_f"),
                  pl.col("BASE").first(), pl.col("BASE_LLN").first(), pl.col("BASE_ULN").first())
             .with_columns(pl.when(pl.col("_f") > 0).then(pl.col("worst")).otherwise(pl.lit("normal")).alias("worst"),
                           _category("BASE", "BASE_LLN", "BASE_ULN").alias("baseline")))
    counts = worst.group_by("TEST", "PARAMCD", "ARM", "baseline", "worst").agg(pl.len().cast(pl.Int64).alias("subjects"))
    denom = worst.group_by("TEST", "ARM").agg(pl.len().cast(pl.Int64).alias("n"))
    base_levels = [*CATEGORIES, *(["missing"] if (worst["baseline"] == "missing").any() else [])]
    tests = worst.select("TEST", "PARAMCD").unique()
    grid = (tests.join(population.counts.select(pl.col("arm").alias("ARM"), "order"), how="cross")
            .join(pl.DataFrame({"baseline": base_levels, "_b": list(range(len(base_levels)))}), how="cross")
            .join(pl.DataFrame({"worst": list(CATEGORIES), "_w": list(range(3))}), how="cross"))
    test_rank = {t: i for i, t in enumerate(LIVER_TESTS)}
    out = (grid.join(counts, on=["TEST", "PARAMCD", "ARM", "baseline", "worst"], how="left")
           .join(denom, on=["TEST", "ARM"], how="left")
           .with_columns(pl.col("subjects").fill_null(0), pl.col("n").fill_null(0))
           .with_columns(pl.when(pl.col("n") > 0).then(100.0 * pl.col("subjects") / pl.col("n")).otherwise(None).alias("percent"))
           .with_columns(pl.col("TEST").replace_strict(test_rank, return_dtype=pl.Int64).alias("_t")))
    return out.sort("_t", "order", "_b", "_w").select(
        pl.col("PARAMCD").alias("param"), pl.col("TEST").alias("test"), pl.col("ARM").alias("arm"),
        "baseline", "worst", "n", "subjects", "percent")
