"""Biomarkers by parameter, group and visit: summaries, change from baseline, group comparisons.

Definitions used throughout:

- Groups are ADSL TRT01A in dose order (``groups.arms_of``); "All" pools the chosen groups.
- A visit is AVISITN (label AVISIT); ADY stands in where ADLB has no AVISITN.
- Quantiles (median, Q1, Q3) are R's default type 7, numpy's "linear": for sorted
  x_1..x_n, Q(p) = x_j + g (x_{j+1} - x_j) with j = floor(h), g = h - j, h = (n - 1) p + 1.
- SD has n - 1 in the denominator; SE = SD / sqrt(n); both are null for n < 2.
- Within a group, change from baseline at a visit is tested against 0 with a paired
  t-test (= one-sample t on CHG, ``scipy.stats.ttest_1samp``; CI: mean +/- t(0.975, n - 1) SE)
  or the Wilcoxon signed-rank test as R ``wilcox.test(CHG)`` does it by default: zero
  changes dropped, exact p when fewer than 50 non-zero changes and no ties or zeros,
  otherwise the normal approximation with continuity correction and tie-corrected
  variance; the statistic is R's V (sum of the ranks of positive changes). Rank tests see
  values rounded to 12 significant digits so that floating-point noise does not split ties. R returns
  p = 1 for a single non-zero change; trialkit reports no test below 2 subjects.
- Between groups at a visit: one-way ANOVA (``scipy.stats.f_oneway``, R ``oneway.test(var.equal
  = TRUE)``) or Kruskal-Wallis (``scipy.stats.kruskal``, R ``kruskal.test``), on AVAL at
  every visit (marked "d", with three groups, in the figures) and on CHG after baseline.
- Adjustment across the visits of one parameter (and group, and variable): none, Holm or
  Benjamini-Hochberg, as R ``p.adjust``; p-values that are null are left out of the count.

Undefined statistics are null with the reason in ``note``; no warning escapes.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl

from trialkit.analyses.columns import require_columns, require_one_of
from trialkit.schemas.errors import UsageError
from trialkit.analyses.groups import Arm
from trialkit.analyses.multiplicity import ADJUSTMENTS, adjust_p

__all__ = [
    "ALL",
    "TESTS",
    "BETWEEN_TESTS",
    "ADJUSTMENTS",
    "analysis_data",
    "continuous_params",
    "summarise_by_visit",
    "test_change_within",
    "test_between_groups",
    "adjust_p",
    "count_baselines",
]

ALL = "All"
TESTS = {"t": "paired t", "wilcoxon": "Wilcoxon signed-rank"}
BETWEEN_TESTS = {"t": "one-way ANOVA", "wilcoxon": "Kruskal-Wallis"}
FLAG_REASON = "0/1 flag: a proportion, not a measurement; means and change-from-baseline tests do not apply"
CLASS_REASON = "a class or grade (AVALC): summarise as counts, not means"
EMPTY_REASON = "no non-missing AVAL"


def analysis_data(adlb: pl.DataFrame, adsl: pl.DataFrame, arms: list[Arm]) -> pl.DataFrame:
    """ADLB records of subjects in ``arms``, with ARM (TRT01A), ARMN (dose order), VISIT and VISITN.

    Columns: USUBJID, PARAMCD, PARAM, PARCAT1, AVALU, AVALC, VISIT, VISITN, AVAL, BASE, CHG, ABLFL, ARM, ARMN.
    Records without a visit (AVISITN and ADY both missing) are left out."""
    require_columns(adlb, ("USUBJID", "PARAMCD", "AVAL", "BASE", "CHG"), dataset="ADLB", purpose="the biomarker analysis")
    require_columns(adsl, ("USUBJID", "TRT01A"), dataset="ADSL", purpose="the biomarker analysis")
    require_one_of(adlb, ("AVISITN", "ADY"), dataset="ADLB", purpose="the biomarker analysis (visits)",
                   hint="add AVISITN (and AVISIT) to ADLB and re-run trialkit ingest")
    order = {a.label: i for i, a in enumerate(arms)}
    groups = adsl.select("USUBJID", pl.col("TRT01A").alias("ARM")).filter(pl.col("ARM").is_in(list(order)))
    visitn = pl.col("AVISITN") if "AVISITN" in adlb.columns else pl.col("ADY")
    if "AVISITN" in adlb.columns and "ADY" in adlb.columns:
        visitn = pl.coalesce(pl.col("AVISITN"), pl.col("ADY"))
    label = pl.col("AVISIT") if "AVISIT" in adlb.columns else pl.lit(None, dtype=pl.String)
    fallback = pl.lit("Visit ") + visitn.cast(pl.String).str.replace(r"\.0$", "")
    if "AVISIT" in adlb.columns and not adlb.get_column("AVISIT").null_count():
        fallback = pl.lit(None, dtype=pl.String)  # never used: not formatted for ten million records
    text = lambda c: pl.col(c) if c in adlb.columns else pl.lit(None, dtype=pl.String)  # noqa: E731
    columns = [
        "USUBJID", "PARAMCD", text("PARAM").alias("PARAM"), text("PARCAT1").alias("PARCAT1"),
        text("AVALU").alias("AVALU"), text("AVALC").alias("AVALC"),
        pl.coalesce(label, fallback).alias("VISIT"), visitn.cast(pl.Float64).alias("VISITN"),
        pl.col("AVAL").cast(pl.Float64), pl.col("BASE").cast(pl.Float64), pl.col("CHG").cast(pl.Float64),
        text("ABLFL").alias("ABLFL"),
    ]
    # each record's group looked up on the USUBJID column alone, then one filter: joining the records copies
    # them into one chunk per thread and partition, and the next eager operation copies them again into one
    arm = adlb.select("USUBJID").join(groups, on="USUBJID", how="left", maintain_order="left").get_column("ARM")
    if arm.len() != adlb.height:  # a USUBJID twice in ADSL: the join repeats its records, as before
        data = adlb.lazy().select(columns).filter(pl.col("VISITN").is_not_null())
        data = data.join(groups.lazy(), on="USUBJID", how="inner", maintain_order="left").collect().rechunk()
    else:
        data = adlb.select(*columns, arm.rechunk()).filter(pl.col("VISITN").is_not_null() & pl.col("ARM").is_not_null())
    return data.with_columns(pl.col("ARM").replace_strict(order, return_dtype=pl.Int64).alias("ARMN"))


def continuous_params(data: pl.DataFrame, wanted: list[str] | None = None) -> tuple[list[str], pl.DataFrame]:
    """PARAMCDs to analyse as measurements, in order of first appearance, and those left out.

    Left out: 0/1 flags without a unit (the pilot's BILIHY, HYLAW, TRANSHY), classes and grades
    carrying AVALC (CPCLASS, ALBIGR), parameters without values. ``wanted`` (--param, any case)
    restricts the set; an unknown PARAMCD is a usage error listing the valid ones.
    Returns (params, skipped) with skipped columns PARAMCD, REASON."""
    present = data.get_column("PARAMCD").unique(maintain_order=True).to_list()
    if wanted:
        upper = {p.upper(): p for p in present}
        unknown = [w for w in wanted if w.upper() not in upper]
        if unknown:
            raise UsageError(f"--param {', '.join(unknown)}: no such PARAMCD in ADLB for the chosen groups",
                             f"valid PARAMCDs: {', '.join(present)}")
        present = [upper[w.upper()] for w in dict.fromkeys(wanted)]
    keep, skipped = [], []
    info = (data.lazy().group_by("PARAMCD").agg(  # element-wise tests, then plain sums and alls: no per-group gathers
        pl.col("AVAL").is_not_null().sum().alias("n"),
        (pl.col("AVAL").is_null() | pl.col("AVAL").is_in([0.0, 1.0])).all().alias("binary"),
        pl.col("AVALU").is_null().all().alias("no_unit"),
        pl.col("AVALC").is_not_null().any().alias("coded"),
    ).collect())
    rows = {r["PARAMCD"]: r for r in info.iter_rows(named=True)}
    for p in present:
        r = rows[p]
        reason = (EMPTY_REASON if r["n"] == 0 else CLASS_REASON if r["coded"]
                  else FLAG_REASON if r["binary"] and r["no_unit"] else None)
        (skipped.append((p, reason)) if reason else keep.append(p))
    return keep, pl.DataFrame(skipped, schema={"PARAMCD": pl.String, "REASON": pl.String}, orient="row")


def count_baselines(flags_in: pl.DataFrame, derived: pl.DataFrame) -> pl.DataFrame:
    """Per PARAMCD: subjects, with a baseline flagged in the data, with one imputed (last value on or
    before day 1), without one, and post-baseline records left without CHG because of that.

    ``flags_in`` is ADLB as delivered (USUBJID, PARAMCD, optional ABLFL), ``derived`` after
    ``derive_vars_base_chg``."""
    by = ["USUBJID", "PARAMCD"]
    given = (flags_in.group_by(by).agg(((pl.col("ABLFL") == "Y").fill_null(False).any()
                                        if "ABLFL" in flags_in.columns else pl.lit(False)).alias("given")))
    have = derived.lazy().group_by(by).agg((pl.col("ABLFL") == "Y").fill_null(False).any().alias("has"),
                                    (pl.col("AVAL").is_not_null() & pl.col("BASE").is_null()
                                     & pl.col("ABLFL").is_null()).sum().alias("orphans")).collect()
    both = have.join(given, on=by, how="left").with_columns(pl.col("given").fill_null(False))
    return both.group_by("PARAMCD", maintain_order=True).agg(
        pl.len().alias("N_SUBJECTS"),
        pl.col("given").sum().alias("N_FLAGGED"),
        (pl.col("has") & ~pl.col("given")).sum().alias("N_IMPUTED"),
        (~pl.col("has")).sum().alias("N_NO_BASELINE"),
        pl.col("orphans").sum().alias("N_RECORDS_NO_CHG"),
    ).sort("PARAMCD")


# ------------------------------------------------------------------ summaries
def _describe(col: str, prefix: str) -> list[pl.Expr]:
    v = pl.col(col).drop_nulls()
    n = v.len()
    sd = pl.when(n >= 2).then(v.std(ddof=1))
    return [
        n.cast(pl.Int64).alias(f"{prefix}n"),
        v.mean().alias(f"{prefix}mean"),
        sd.alias(f"{prefix}sd"),
        (sd / n.cast(pl.Float64).sqrt()).alias(f"{prefix}se"),
        v.median().alias(f"{prefix}median"),
        v.quantile(0.25, interpolation="linear").alias(f"{prefix}q1"),
        v.quantile(0.75, interpolation="linear").alias(f"{prefix}q3"),
        v.min().alias(f"{prefix}min"),
        v.max().alias(f"{prefix}max"),
    ]


def _by_group_and_pooled(records: pl.LazyFrame, keys: list[str], aggs: list[pl.Expr]) -> pl.DataFrame:
    """``aggs`` per ``keys`` and group (ARM), then per ``keys`` over every group as the pooled group "All",
    in one frame with ARM: the records are aggregated twice, not copied twice."""
    by_arm = records.group_by(*keys, "ARM").agg(*aggs)
    pooled = records.group_by(*keys).agg(*aggs).with_columns(pl.lit(ALL).alias("ARM"))
    return pl.concat([by_arm, pooled.select(by_arm.collect_schema().names())]).collect()


def _cells(records: pl.DataFrame, keys: list[str], column: str) -> dict[tuple, np.ndarray]:
    """``column``'s values per (``keys``..., ARM), and per (``keys``..., "All") over every group, in record order
    (the key tuples follow that order: ARM after ``keys``)."""
    cells = {k: g.get_column(column).to_numpy() for k, g in records.group_by(*keys, "ARM")}
    for k, g in records.group_by(*keys):
        cells[(*k, ALL)] = g.get_column(column).to_numpy()
    return cells


def _grid(data: pl.DataFrame, params: list[str], arms: list[Arm], visits_from: pl.Expr | None = None) -> pl.DataFrame:
    """Every parameter x visit (of that parameter) x group incl. All, so empty cells show as n = 0."""
    source = data.lazy().filter(pl.col("PARAMCD").is_in(params))
    if visits_from is not None:
        source = source.filter(visits_from)
    visits = source.group_by("PARAMCD", "VISITN").agg(pl.col("VISIT").first()).collect()
    groups = pl.DataFrame({"ARM": [a.label for a in arms] + [ALL], "ARMN": list(range(len(arms) + 1))}, schema={"ARM": pl.String, "ARMN": pl.Int64})
    meta = _param_meta(data, params)
    return visits.join(groups, how="cross").join(meta, on="PARAMCD", how="left")


def _param_meta(data: pl.DataFrame, params: list[str]) -> pl.DataFrame:
    order = pl.DataFrame({"PARAMCD": params, "PARAMN": list(range(len(params)))})
    meta = data.lazy().filter(pl.col("PARAMCD").is_in(params)).group_by("PARAMCD").agg(
        pl.col("PARAM").drop_nulls().first(), pl.col("PARCAT1").drop_nulls().first(), pl.col("AVALU").drop_nulls().first()).collect()
    return order.join(meta, on="PARAMCD", how="left")


_SUMMARY_NAMES = {"PARAMCD": "param", "PARAM": "param_label", "PARCAT1": "category", "AVALU": "unit",
                  "ARM": "arm", "ARMN": "arm_order", "VISIT": "visit", "VISITN": "visitn"}


def summarise_by_visit(data: pl.DataFrame, params: list[str], arms: list[Arm]) -> pl.DataFrame:
    """n, mean, sd, se, median, q1, q3, min, max of AVAL and (chg_*) of CHG by parameter, group and visit,
    and pooled (arm "All"); n_no_base counts records with a value but no baseline; note says why a
    statistic is null."""
    records = data.lazy().select("PARAMCD", "ARM", "VISITN", "AVAL", "CHG", "BASE", "ABLFL").filter(
        pl.col("PARAMCD").is_in(params))
    no_base = pl.col("AVAL").is_not_null() & pl.col("BASE").is_null() & pl.col("ABLFL").is_null()
    stats = _by_group_and_pooled(records, ["PARAMCD", "VISITN"], [
        *_describe("AVAL", ""), *_describe("CHG", "chg_"), no_base.sum().cast(pl.Int64).alias("n_no_base")])
    out = _grid(data, params, arms).join(stats, on=["PARAMCD", "ARM", "VISITN"], how="left")
    out = out.with_columns(pl.col(c).fill_null(0) for c in ("n", "chg_n", "n_no_base"))
    note = (pl.when(pl.col("n") == 0).then(pl.lit("no data for this group at this visit"))
            .when(pl.col("n") == 1).then(pl.lit("n = 1: SD and SE undefined"))
            .when((pl.col("chg_n") == 1)).then(pl.lit("one change from baseline: CHG SD undefined")))
    out = out.with_columns(note.alias("note")).sort("PARAMN", "VISITN", "ARMN")
    return out.rename(_SUMMARY_NAMES).drop("PARAMN")


# ------------------------------------------------------------------ within groups
def _ties_at_12_digits(x: np.ndarray) -> np.ndarray:
    """Values rounded to 12 significant digits for rank tests, so AVAL - BASE rounding noise
    (10.26 - 8.55 != 8.55 - 6.84 in binary) does not split ties."""
    return np.array([float(f"{v:.12g}") for v in x], dtype=float)


def _one_sample(chg: np.ndarray, test: str) -> dict:
    """Mean change, its t CI, and the test of change = 0 (see module docstring)."""
    from scipy import stats

    n = len(chg)
    out = {"n": n, "mean_change": None, "sd": None, "se": None, "lower": None, "upper": None,
           "median_change": None, "statistic": None, "df": None, "p": None, "note": None}
    if n == 0:
        return out | {"note": "no change from baseline for this group at this visit"}
    out |= {"mean_change": float(np.mean(chg)), "median_change": float(np.median(chg))}
    if n == 1:
        return out | {"note": "n = 1: no SD, CI or test"}
    sd = float(np.std(chg, ddof=1))
    se = sd / math.sqrt(n)
    out |= {"sd": sd, "se": se}
    if sd == 0.0:
        out["note"] = "all changes equal (SD = 0): " + ("t and its CI undefined" if test == "t" else "no CI")
    else:
        half = float(stats.t.ppf(0.975, n - 1)) * se
        out |= {"lower": out["mean_change"] - half, "upper": out["mean_change"] + half}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if test == "t":
            if sd > 0:
                r = stats.ttest_1samp(chg, 0.0)
                out |= {"statistic": float(r.statistic), "df": float(n - 1), "p": float(r.pvalue)}
            return out
        chg = _ties_at_12_digits(chg)
        nonzero = chg[chg != 0]
        if len(nonzero) == 0:
            return out | {"note": "all changes are 0: signed-rank test undefined"}
        ranks = stats.rankdata(np.abs(nonzero))
        ties = len(np.unique(np.abs(nonzero))) < len(nonzero)
        exact = len(nonzero) < 50 and not ties and len(nonzero) == n
        r = stats.wilcoxon(nonzero, zero_method="wilcox", correction=not exact,
                           method="exact" if exact else "asymptotic")
        method = "exact" if exact else "normal approximation with continuity correction"
        note = f"{method}; {n - len(nonzero)} zero change(s) dropped" if len(nonzero) < n else method
        return out | {"statistic": float(ranks[nonzero > 0].sum()), "p": float(r.pvalue),
                      "note": "; ".join(x for x in (out["note"], note) if x)}


def _with_adjusted(rows: list[dict], by: tuple[str, ...], method: str) -> list[dict]:
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(tuple(r[k] for k in by), []).append(i)
    for members in groups.values():
        adjusted = adjust_p([rows[i]["p"] for i in members], method)
        for i, a in zip(members, adjusted):
            rows[i]["p_adj"] = a
            rows[i]["adjust"] = method
    return rows


_WITHIN_SCHEMA = {
    "param": pl.String, "arm": pl.String, "arm_order": pl.Int64, "visit": pl.String, "visitn": pl.Float64,
    "n": pl.Int64, "mean_change": pl.Float64, "sd": pl.Float64, "se": pl.Float64, "lower": pl.Float64,
    "upper": pl.Float64, "median_change": pl.Float64, "test": pl.String, "statistic": pl.Float64,
    "df": pl.Float64, "p": pl.Float64, "p_adj": pl.Float64, "adjust": pl.String, "note": pl.String,
}


def test_change_within(data: pl.DataFrame, params: list[str], arms: list[Arm], test: str = "t",
                       adjust: str = "none") -> pl.DataFrame:
    """Change from baseline against 0 per parameter, group (and All) and post-baseline visit.

    Columns: param, arm, arm_order, visit, visitn, n, mean_change, sd, se, lower, upper (95% t CI),
    median_change, test, statistic (t, or R's V), df, p, p_adj, adjust, note. p_adj adjusts across
    the visits of one parameter within one group."""
    if test not in TESTS:
        raise UsageError(f"unknown test {test!r}", f"use one of {', '.join(TESTS)}")
    grid = _grid(data, params, arms, pl.col("CHG").is_not_null()).sort("PARAMN", "VISITN", "ARMN")
    records = data.lazy().select("PARAMCD", "ARM", "VISITN", "CHG").filter(
        pl.col("CHG").is_not_null() & pl.col("PARAMCD").is_in(params)).collect()
    cells = _cells(records, ["PARAMCD", "VISITN"], "CHG")
    rows = []
    for cell in grid.iter_rows(named=True):
        chg = cells.get((cell["PARAMCD"], cell["VISITN"], cell["ARM"]), np.array([], dtype=float))
        res = _one_sample(np.asarray(chg, dtype=float), test)
        rows.append({"param": cell["PARAMCD"], "arm": cell["ARM"], "arm_order": cell["ARMN"], "visit": cell["VISIT"],
                     "visitn": cell["VISITN"], "test": TESTS[test], **res})
    rows = _with_adjusted(rows, ("param", "arm"), adjust)
    return pl.DataFrame(rows, schema=_WITHIN_SCHEMA)


# ------------------------------------------------------------------ between groups
def _compare_groups(samples: list[np.ndarray], test: str) -> dict:
    from scipy import stats

    present = [s for s in samples if len(s)]
    n = int(sum(len(s) for s in present))
    out = {"n_groups": len(present), "n": n, "statistic": None, "df1": None, "df2": None, "p": None, "note": None}
    if len(present) < 2:
        return out | {"note": "fewer than 2 groups with data: no comparison"}
    values = np.concatenate(present)
    if np.all(values == values[0]):
        return out | {"note": "all values equal: no comparison"}
    k = len(present)
    within_ss = float(sum(((s - s.mean()) ** 2).sum() for s in present))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if test == "t":
            if n - k < 1:
                return out | {"note": "one value per group: no within-group variance, ANOVA undefined"}
            if within_ss == 0.0:
                return out | {"note": "no variation within groups: F undefined"}
            r = stats.f_oneway(*present)
            return out | {"statistic": float(r.statistic), "df1": float(k - 1), "df2": float(n - k), "p": float(r.pvalue)}
        r = stats.kruskal(*(_ties_at_12_digits(s) for s in present))
        return out | {"statistic": float(r.statistic), "df1": float(k - 1), "p": float(r.pvalue)}


_BETWEEN_SCHEMA = {
    "param": pl.String, "variable": pl.String, "visit": pl.String, "visitn": pl.Float64, "test": pl.String,
    "n_groups": pl.Int64, "n": pl.Int64, "statistic": pl.Float64, "df1": pl.Float64, "df2": pl.Float64,
    "p": pl.Float64, "p_adj": pl.Float64, "adjust": pl.String, "note": pl.String,
}


def test_between_groups(data: pl.DataFrame, params: list[str], arms: list[Arm], test: str = "t",
                        adjust: str = "none") -> pl.DataFrame:
    """The groups compared at each visit: on AVAL at every visit and on CHG after baseline.

    Columns: param, variable (AVAL | CHG), visit, visitn, test, n_groups, n, statistic (F or H),
    df1, df2, p, p_adj, adjust, note. p_adj adjusts across the visits of one parameter and variable."""
    if test not in TESTS:
        raise UsageError(f"unknown test {test!r}", f"use one of {', '.join(TESTS)}")
    sub = data.lazy().select("PARAMCD", "ARM", "VISITN", "VISIT", "AVAL", "CHG").filter(
        pl.col("PARAMCD").is_in(params)).collect()
    order = {p: i for i, p in enumerate(params)}
    rows = []
    for variable in ("AVAL", "CHG"):
        kept = sub.filter(pl.col(variable).is_not_null())
        cells = {k: g.get_column(variable).to_numpy() for k, g in kept.group_by("PARAMCD", "VISITN", "ARM")}
        visits = kept.group_by("PARAMCD", "VISITN").agg(pl.col("VISIT").first())
        visits = visits.with_columns(pl.col("PARAMCD").replace_strict(order, return_dtype=pl.Int64).alias("o"))
        for v in visits.sort("o", "VISITN").iter_rows(named=True):
            samples = [np.asarray(cells.get((v["PARAMCD"], v["VISITN"], a.label), []), dtype=float) for a in arms]
            rows.append({"param": v["PARAMCD"], "variable": variable, "visit": v["VISIT"], "visitn": v["VISITN"],
                         "test": BETWEEN_TESTS[test], **_compare_groups(samples, test)})
    rows = _with_adjusted(rows, ("param", "variable"), adjust)
    return pl.DataFrame(rows, schema=_BETWEEN_SCHEMA)
