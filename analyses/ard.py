"""Stage result tables as one Analysis Results Dataset (ARD), and the ARD's upkeep.

``ard_from_tables`` turns the frames a stage writes (``<stage>/<table>.parquet``)
into ARD rows (columns in ``schemas/ard.py``) without a loop over rows: every
numeric column is unpivoted into ``stat_name`` / ``stat``, and the identifier
columns are mapped by name:

- treatment group: ``arm``, ``arm_a``, ``TRT01A``, ``ARM`` -> ``group1 = "TRT01A"``,
  ``group1_level``; comparator: ``arm_b``, ``reference`` -> ``group2`` /
  ``group2_level``;
- endpoint or parameter: ``param``, ``PARAMCD``, ``endpoint`` -> ``endpoint``
  (else the ``endpoint`` argument);
- visit: ``visit``, ``AVISIT`` -> ``visit``; a numeric ``time`` or ``tau`` (days)
  becomes the visit as a time label (``6m``, ``2y``, ``100d``) and stays exact
  in ``keys`` (``time=182.625``);
- variable: the first non-missing of ``pt`` / ``AEDECOD`` (-> ``AEDECOD``),
  ``soc`` / ``AEBODSYS`` (-> ``AEBODSYS``), ``term``, ``category``, ``window``
  (-> ``onset window``), with its value in ``variable_level``; a ``variable``
  column holds the variable name itself (``AVAL``, ``CHG``). Candidates that
  are present but not chosen for a row (the SOC of a preferred-term row) go to
  ``keys``. Rows with none (the "any TEAE" row) have a null variable;
- ``reason`` / ``note`` -> ``note``; every other string column goes to
  ``keys`` as ``name=value; ...`` (nulls left out), so that no identifier is
  lost;
- ordering and code columns (``row``, ``order``, ``arm_order``,
  ``window_order``, ``severity_order``, ``rank``, ``visitn``, ``AVISITN``,
  ``trt01an``) are dropped: the labels identify the row;
- booleans are statistics with value 0 or 1 (``estimable``, ``converged``);
  NaN becomes null, and so does an infinite value (an unbounded confidence
  limit), whose ``stat_fmt`` says ``Inf``.

``stat_fmt`` is the value as the report prints a cell (``report/stages.py``
``_cell``): p-values (``p``, ``p_*``, ``*_p``) to 4 decimals or ``<0.0001``,
whole numbers without decimals, other numbers to 3 decimals with a true minus
sign; null when the value is.

The ``*_ard`` helpers feed one stage's results, choosing the tables, method and
endpoint; they leave out per-subject listings and per-record data (survival
``km``: the whole curve, the figure's data, summarised by landmarks, medians and
the risk table; biomarkers ``adlb``, ``base_check``, ``score_check``: records,
not results, and ``skipped``: text only; safety ``sae``, ``deaths``,
``liver_peaks``, ``hys_law``: one row per subject). Everything else a stage
table holds, and so everything a report table shows, is in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import polars as pl

from trialkit.schemas.errors import UsageError
from trialkit.analyses.formatting import format_cell
from trialkit.schemas.ard import ARD_COLUMNS, polars_schema

if TYPE_CHECKING:
    from trialkit.analyses.biomarkers.pipeline import BiomarkerResults
    from trialkit.analyses.safety.pipeline import SafetyResult
    from trialkit.analyses.survival.pipeline import SurvivalResults

__all__ = ["AnalysisMeta", "ard_from_tables", "replace_analysis", "filter_ard", "empty_ard", "options_json",
           "survival_ard", "biomarkers_ard", "safety_ard", "STAT_LABELS", "EXCLUDED_TABLES"]

GROUP1 = ("arm", "arm_a", "TRT01A", "ARM", "group")
GROUP2 = ("arm_b", "reference")
ENDPOINT = ("param", "PARAMCD", "endpoint")
VISIT = ("visit", "AVISIT")
TIME = ("time", "tau")
#: (column, variable name) in priority order; None: the column's value is the variable name.
VARIABLE = (("pt", "AEDECOD"), ("AEDECOD", "AEDECOD"), ("soc", "AEBODSYS"), ("AEBODSYS", "AEBODSYS"),
            ("term", "term"), ("category", "category"), ("window", "onset window"), ("variable", None))
NOTE = ("reason", "note")
ORDERING = ("row", "order", "arm_order", "window_order", "severity_order", "rank", "visitn", "AVISITN", "trt01an")
SUBJECT = ("USUBJID", "usubjid")
TREATMENT = "TRT01A"

#: Tables the stage helpers leave out, and why.
EXCLUDED_TABLES = {
    "survival": {"km": "the whole Kaplan-Meier curve (the figure's data); landmarks, medians and the risk table summarise it",
                 "cif": "the whole cumulative incidence curve (the figure's data); cif_landmarks summarise it"},
    "biomarkers": {"adlb": "the derived records, not results", "base_check": "a per-record listing",
                   "score_check": "a per-record listing", "skipped": "text only (parameters not analysed and why)"},
    "safety": {"sae": "a per-subject listing", "deaths": "a per-subject listing", "liver_peaks": "per-subject peaks",
               "hys_law": "a per-subject listing"},
}

#: stat_name -> words; names not listed are their own label.
STAT_LABELS = {
    "n": "n", "N": "N", "events": "Events", "subjects": "Subjects with the event", "percent": "Percent of subjects",
    "mean": "Mean", "sd": "SD", "se": "SE", "median": "Median", "q1": "Q1", "q3": "Q3", "min": "Min", "max": "Max",
    "lower": "Lower confidence limit", "upper": "Upper confidence limit", "p": "p-value",
    "p_adj": "Adjusted p-value", "p_holm": "Holm-adjusted p-value", "chisq": "Chi-square", "df": "Degrees of freedom",
    "df1": "Numerator degrees of freedom", "df2": "Denominator degrees of freedom", "statistic": "Test statistic",
    "survival": "Survival probability", "std_err": "Standard error (Greenwood)", "n_risk": "Number at risk",
    "cum_events": "Cumulative events", "cum_censored": "Cumulative censored", "rmst": "Restricted mean survival time",
    "hr": "Hazard ratio", "coef": "Log hazard ratio", "conf_level": "Confidence level", "rho": "G-rho weight",
    "estimable": "Estimable (1 yes, 0 no)", "converged": "Converged (1 yes, 0 no)", "u": "Score statistic U",
    "var": "Variance of U", "estimate": "Estimate", "mean_change": "Mean change from baseline",
    "median_change": "Median change from baseline", "rd": "Risk difference (percentage points)",
    "risk": "Percent of subjects", "ref_risk": "Percent of subjects, reference group",
    "ref_subjects": "Subjects with the event, reference group", "ref_n": "N, reference group",
    "n_groups": "Number of groups", "n_obs": "Number of records", "n_subjects": "Number of subjects",
    "n_visits": "Number of visits", "n_no_base": "Records without a baseline",
}


@dataclass(frozen=True)
class AnalysisMeta:
    """What names one analysis in the ARD: its name, population, subgroup and options."""

    analysis: str
    population: str | None = None
    subgroup: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def options_json(options: Mapping[str, Any]) -> str:
    """The options as ARD text: JSON, sorted keys, no spaces; tuples as lists, other objects as text."""
    return json.dumps(dict(options), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
                      allow_nan=False)


def empty_ard() -> pl.DataFrame:
    return pl.DataFrame(schema=polars_schema())


# --------------------------------------------------------------------------- one table
def _first(columns: list[str], names: Sequence[str]) -> str | None:
    return next((c for c in names if c in columns), None)


def _time_labels(values: pl.Series) -> dict[float, str]:
    from trialkit.analyses.survival.pipeline import time_label

    return {t: time_label(t) for t in values.drop_nulls().unique().to_list()}


def _cell_text(value: float, is_p: bool) -> str:
    """A value as the report prints a cell (analyses/formatting.py ``format_cell``)."""
    return format_cell("p" if is_p else "value", value)


def _with_stat_fmt(rows: pl.DataFrame) -> pl.DataFrame:
    """Add ``stat_fmt``: Python's correctly rounded formatting, as the report uses, over the distinct values only."""
    name = pl.col("stat_name")
    keyed = rows.with_columns(((name == "p") | name.str.starts_with("p_") | name.str.ends_with("_p")).alias("_is_p"))
    distinct = keyed.select("stat", "_is_p").drop_nulls("stat").unique(maintain_order=True)
    texts = distinct.with_columns(pl.Series("stat_fmt", [_cell_text(v, p) for v, p in distinct.iter_rows()],
                                            dtype=pl.String))
    return keyed.join(texts, on=["stat", "_is_p"], how="left", maintain_order="left").drop("_is_p")


def _pairs(parts: list[tuple[str, pl.Expr]]) -> pl.Expr:
    """``name=value; name=value`` over the non-null parts, null when all are null."""
    return _joined([pl.when(e.is_not_null()).then(pl.format("{}={}", pl.lit(n), e.cast(pl.String))) for n, e in parts])


def _joined(texts: list[pl.Expr]) -> pl.Expr:
    """The non-null texts joined by "; "; null when there are none."""
    if not texts:
        return pl.lit(None, pl.String)
    joined = pl.concat_str(texts, separator="; ", ignore_nulls=True)
    return pl.when(joined == "").then(None).otherwise(joined)


def _table_rows(name: str, df: pl.DataFrame, *, endpoint: str | None, method: str | None) -> pl.DataFrame:
    """One stage table as ARD rows (without the analysis-wide columns)."""
    cols = df.columns
    subject = _first(cols, SUBJECT)
    if subject is not None:
        raise UsageError(f"table {name} has a {subject} column: it is a per-subject listing, not results",
                         "leave per-subject listings out of the ARD (see analyses.ard.EXCLUDED_TABLES)")
    g1, g2 = _first(cols, GROUP1), _first(cols, GROUP2)
    ep, visit, time = _first(cols, ENDPOINT), _first(cols, VISIT), _first(cols, TIME)
    variables = [(c, v) for c, v in VARIABLE if c in cols]
    notes = [c for c in NOTE if c in cols]
    used = {g1, g2, ep, visit, *(c for c, _ in variables), *notes, *ORDERING}
    used.add(time)
    numeric = [c for c in cols if c not in used and (df.schema[c].is_numeric() or df.schema[c] == pl.Boolean)]
    strings = [c for c in cols if c not in used and c not in numeric]

    def text(c: str | None) -> pl.Expr:
        return pl.col(c).cast(pl.String) if c else pl.lit(None, pl.String)

    if visit is None and time is not None:
        labels = _time_labels(df[time].cast(pl.Float64))
        visit_expr = pl.col(time).cast(pl.Float64).replace_strict(labels, default=None, return_dtype=pl.String)
    else:
        visit_expr = text(visit)
    var_name = pl.lit(None, pl.String)
    for c, v in reversed(variables):
        var_name = pl.when(pl.col(c).is_not_null()).then(pl.lit(v) if v else pl.col(c).cast(pl.String)).otherwise(var_name)
    var_level = pl.coalesce([pl.col(c).cast(pl.String) for c, v in variables if v] or [pl.lit(None, pl.String)])
    key_parts: list[tuple[str, pl.Expr]] = []
    for i, (c, v) in enumerate(variables):  # present but not chosen: e.g. the SOC of a preferred term
        if v and i:
            chosen_before = pl.any_horizontal([pl.col(p).is_not_null() for p, _ in variables[:i]])
            key_parts.append((v, pl.when(chosen_before).then(pl.col(c))))
    if time is not None:
        key_parts.append((time, pl.col(time).cast(pl.Float64)))
    key_parts += [(c, pl.col(c)) for c in strings]

    ids = df.select(
        pl.lit(method, pl.String).alias("method"),
        pl.coalesce([text(ep), pl.lit(endpoint, pl.String)]).alias("endpoint"),
        pl.lit(name, pl.String).alias("table"),
        pl.lit(TREATMENT if g1 else None, pl.String).alias("group1"),
        text(g1).alias("group1_level"),
        pl.lit(TREATMENT if g2 else None, pl.String).alias("group2"),
        text(g2).alias("group2_level"),
        visit_expr.alias("visit"),
        var_name.alias("variable"),
        var_level.alias("variable_level"),
        _pairs(key_parts).alias("keys"),
        _joined([pl.col(c).cast(pl.String) for c in notes]).alias("note"),
        *(pl.col(c).cast(pl.Float64).fill_nan(None) for c in numeric),
    ).with_row_index("_row")
    if not numeric:
        return ids.select(ids.columns[1:13]).clear().with_columns(
            pl.lit(None, pl.String).alias("stat_name"), pl.lit(None, pl.Float64).alias("stat"))
    long = ids.unpivot(on=numeric, index=["_row", *ids.columns[1:13]], variable_name="stat_name", value_name="stat")
    return long.sort("_row", maintain_order=True).drop("_row")


def ard_from_tables(tables: Mapping[str, pl.DataFrame | None], *, analysis: str, stage: str,
                    method: str | Mapping[str, str] | None = None, population: str | None = None,
                    subgroup: str | None = None, endpoint: str | None = None,
                    options: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """A stage's result tables (name -> frame, as written to ``<stage>/<name>.parquet``) as ARD rows.

    ``method`` is one text for every table or a mapping table -> text (tables
    not in it get null); ``endpoint`` fills rows whose table has no endpoint
    column. A None frame is skipped; a frame with a USUBJID column is refused
    (a listing). Rows follow the tables' order, then each table's rows, then
    its columns.
    """
    if not analysis:
        raise UsageError("an ARD analysis needs a name", "pass analysis='...' (e.g. the stage's name)")
    parts = []
    for name, df in tables.items():
        if df is None:
            continue
        m = method.get(name) if isinstance(method, Mapping) else method
        parts.append(_table_rows(name, df, endpoint=endpoint, method=m))
    if not parts:
        return empty_ard()
    rows = pl.concat(parts, how="vertical_relaxed")
    out = _with_stat_fmt(rows).with_columns(
        pl.when(pl.col("stat").is_finite()).then(pl.col("stat")).alias("stat"),  # inf: null, stat_fmt says Inf
        pl.lit(analysis, pl.String).alias("analysis"),
        pl.lit(stage, pl.String).alias("stage"),
        pl.lit(population, pl.String).alias("population"),
        pl.lit(subgroup, pl.String).alias("subgroup"),
        pl.col("stat_name").replace_strict(STAT_LABELS, default=pl.col("stat_name")).alias("stat_label"),
        pl.lit(options_json(options or {}), pl.String).alias("options"),
    )
    return out.select(ARD_COLUMNS).cast(polars_schema())


# --------------------------------------------------------------------------- the whole ARD
def replace_analysis(existing: pl.DataFrame | None, new: pl.DataFrame, analysis: str) -> pl.DataFrame:
    """``existing`` without the rows of ``analysis``, plus ``new``; sorted by analysis, each analysis's rows in order.

    The result depends only on the rows, not on the order analyses were run in:
    same inputs, same frame, same Parquet bytes. ``existing`` as read from
    ard.parquet should have passed ``schemas.ard.check_ard``.
    """
    other = set(new["analysis"].unique().to_list()) - {analysis}
    if other:
        raise UsageError(f"the new ARD rows belong to analysis {', '.join(sorted(other))}, not {analysis}",
                         "build them with ard_from_tables(..., analysis=...) of the same name")
    schema = polars_schema()
    kept = [] if existing is None else [existing.filter(pl.col("analysis") != analysis).select(ARD_COLUMNS).cast(schema)]
    merged = pl.concat([*kept, new.select(ARD_COLUMNS).cast(schema)], how="vertical")
    return merged.sort("analysis", maintain_order=True)


def _glob_regex(pattern: str) -> str:
    """A shell glob (``*``, ``?``) as an anchored regex for polars (Rust regex syntax)."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch in "\\.+()|[]{}^$#&-~":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "^" + "".join(out) + "$"


def _matches(column: str, patterns: Sequence[str]) -> pl.Expr:
    return pl.any_horizontal([pl.col(column).str.contains(_glob_regex(p)).fill_null(False) for p in patterns])


def filter_ard(ard: pl.DataFrame, analysis: Sequence[str] | str | None = None, stat: Sequence[str] | str | None = None,
               *, stage: Sequence[str] | str | None = None, table: Sequence[str] | str | None = None,
               endpoint: Sequence[str] | str | None = None, group: Sequence[str] | str | None = None) -> pl.DataFrame:
    """The rows matching every given filter; each filter is a list of globs (``surv*``, ``p_*``), any of which may match.

    ``stat`` matches ``stat_name``; ``group`` matches ``group1_level`` or ``group2_level``.
    A pattern that matches nothing in its column is a ``UsageError`` listing the values there are.
    """
    filters = {"analysis": analysis, "stat_name": stat, "stage": stage, "table": table, "endpoint": endpoint}
    out = ard
    for column, value in filters.items():
        if value is None:
            continue
        patterns = [value] if isinstance(value, str) else list(value)
        _check_patterns(ard, column, patterns, [column])
        out = out.filter(_matches(column, patterns))
    if group is not None:
        patterns = [group] if isinstance(group, str) else list(group)
        _check_patterns(ard, "group", patterns, ["group1_level", "group2_level"])
        out = out.filter(_matches("group1_level", patterns) | _matches("group2_level", patterns))
    return out


def _check_patterns(ard: pl.DataFrame, option: str, patterns: list[str], columns: list[str]) -> None:
    values = sorted(set(pl.concat([ard[c] for c in columns]).drop_nulls().unique().to_list()))
    for p in patterns:
        regex = _glob_regex(p)
        if not pl.Series(values, dtype=pl.String).str.contains(regex).any():
            flag = {"stat_name": "stat"}.get(option, option)
            shown = ", ".join(values[:20]) + (", ..." if len(values) > 20 else "")
            raise UsageError(f"--{flag} {p!r} matches no {option} in the ARD",
                             f"the ARD holds: {shown or 'nothing'}")


# --------------------------------------------------------------------------- stage helpers
def _kept(stage: str, tables: Mapping[str, pl.DataFrame | None]) -> dict[str, pl.DataFrame | None]:
    return {k: v for k, v in tables.items() if k not in EXCLUDED_TABLES[stage]}


def survival_ard(res: SurvivalResults, meta: AnalysisMeta) -> pl.DataFrame:
    """The survival stage's ARD rows: arms, landmarks, quartiles, follow-up, RMST and contrasts, risk table, tests,
    pairwise, trend, the Cox model and its tests, the PH check, competing risks and the forest."""
    from trialkit.analyses.survival.pipeline import test_name

    s = res.settings
    test = test_name(s.rho, res.gamma)
    strata = f" + strata({', '.join(res.strata)})" if res.strata else ""
    covs = "".join(f" + {c.split(':')[0]}" for c in res.covariates)
    km = f"Kaplan-Meier, {s.conf_type} limits (survfit(Surv(AVAL, 1 - CNSR) ~ TRT01A, conf.type = \"{s.conf_type}\"))"
    cox = f"coxph(Surv(AVAL, 1 - CNSR) ~ TRT01A{covs}{strata}, ties = \"{s.ties}\")"
    methods = {
        "arms": "subjects and events by group",
        "landmarks": km + "; summary(times = , extend = TRUE)",
        "medians": km + "; median and its limits (print(survfit))",
        "quantiles": km + "; quantile(survfit, probs = c(0.25, 0.5, 0.75))",
        "follow_up": "median follow-up by the reverse Kaplan-Meier method (survfit(Surv(AVAL, CNSR) ~ 1, conf.type = \"log\"))",
        "rmst": "restricted mean survival time (print(survfit, rmean = tau))",
        "rmst_contrasts": "RMST difference and ratio against the reference, normal approximation (as survRM2 rmst2, unadjusted)",
        "risk_table": "number at risk (summary(survfit, times = ))",
        "tests": f"{test} (survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01A{strata}, rho = {s.rho:g}))",
        "pairwise": f"pairwise {test}{', stratified' if strata else ''}, Holm adjustment (p.adjust(method = \"holm\"))",
        "trend": f"{test} test for trend{', stratified' if strata else ''}, scores {res.trend_scores}",
        "cox": f"Cox proportional hazards, Wald test ({cox})",
        "cox_tests": f"likelihood-ratio, Wald and score tests of the Cox model (summary({cox}))",
        "zph": f"proportional-hazards check, scaled Schoenfeld residuals (cox.zph({cox}, transform = \"km\"))",
        "cif_landmarks": "cumulative incidence by event type, Aalen-Johansen (cmprsk::cuminc)",
        "gray": "Gray's test of equal cumulative incidence (cmprsk::cuminc)",
        "forest": "Cox hazard ratios within subgroup levels; interaction p: likelihood-ratio test of TRT01A x subgroup",
    }
    population = meta.population or f"ADSL subjects of the analysed groups with an ADTTE {res.endpoint} record"
    tables = _kept("survival", res.tables())
    for name in ("tests", "trend"):  # tests across the groups: the grouping variable is what they test
        tables[name] = tables[name].with_columns(pl.lit(TREATMENT).alias("variable"))
    if tables.get("quantiles") is not None:  # the quantile is a key; its time is the estimate, not a time point
        tables["quantiles"] = tables["quantiles"].select(
            "arm", pl.format("{}%", (pl.col("prob") * 100).round(6)).alias("quantile"), pl.col("time").alias("estimate"),
            pl.exclude("arm", "prob", "time"))
    if tables.get("cox") is not None:  # treatment rows are a group against the reference; covariates are variables
        treatment = pl.col("term") == TREATMENT
        tables["cox"] = tables["cox"].select(
            pl.when(treatment).then(pl.col("level")).alias("arm"), pl.when(~treatment).then(pl.col("term")).alias("variable"),
            pl.when(~treatment).then(pl.col("level")).alias("level"), pl.exclude("term", "level"))
    return ard_from_tables(tables, analysis=meta.analysis, stage="survival", method=methods,
                           population=population, subgroup=meta.subgroup, endpoint=res.endpoint, options=meta.options)


def _split_change(summaries: pl.DataFrame) -> pl.DataFrame:
    """Summaries with AVAL and CHG statistics as separate rows (variable AVAL / CHG, the same statistic names)."""
    chg = [c for c in summaries.columns if c.startswith("chg_")]
    ids = [c for c in summaries.columns if c not in chg and not summaries.schema[c].is_numeric()] + \
          [c for c in ("arm_order", "visitn") if c in summaries.columns]
    aval_stats = [c for c in summaries.columns if c not in chg and c not in ids and c != "n_no_base"]
    indexed = summaries.rename({"category": "PARCAT1", "param_label": "PARAM"}, strict=False).with_row_index("_i")
    ids = [{"category": "PARCAT1", "param_label": "PARAM"}.get(c, c) for c in ids]
    aval = indexed.select("_i", *ids, *aval_stats).with_columns(pl.lit("AVAL").alias("variable"))
    change = (indexed.select("_i", *ids, *chg, *(["n_no_base"] if "n_no_base" in summaries.columns else []))
              .rename({c: c.removeprefix("chg_") for c in chg}).with_columns(pl.lit("CHG").alias("variable")))
    return pl.concat([aval, change], how="diagonal").sort("_i", maintain_order=True).drop("_i")


def biomarkers_ard(res: BiomarkerResults, meta: AnalysisMeta) -> pl.DataFrame:
    """The biomarkers stage's ARD rows: summaries (AVAL and CHG), within, between, models, marginal means, checks."""
    from trialkit.analyses.biomarkers.longitudinal import FORMULA, INTERACTION_TEST, METHOD
    from trialkit.analyses.biomarkers.summaries import ADJUSTMENTS, BETWEEN_TESTS, TESTS

    adjust = "" if res.adjust == "none" else f"; {ADJUSTMENTS[res.adjust]} across visits"
    tables = dict(_kept("biomarkers", res.tables()))
    tables["summaries"] = _split_change(res.summaries)
    tables["within"] = res.within.with_columns(pl.lit("CHG").alias("variable"))
    tables["marginal_means"] = res.marginal_means.with_columns(pl.lit("CHG").alias("variable"))
    tables["models"] = (res.models.drop("method", "formula", "test", strict=False)  # in the method column
                        .with_columns(pl.lit("CHG").alias("variable")))
    tables["baseline"] = res.baseline.rename(lambda c: c if c == "PARAMCD" else c.lower())
    tables["score_compared"] = res.score_compared.rename(str.lower)
    methods = {
        "summaries": "descriptive statistics by visit and group (quantiles type 7)",
        "within": f"{TESTS[res.test]} of the change from baseline{adjust}",
        "between": f"{BETWEEN_TESTS[res.test]} between groups{adjust}",
        "models": f"{METHOD}: {FORMULA}; {INTERACTION_TEST}", "marginal_means": METHOD + "; marginal means at the mean baseline",
        "coefficients": METHOD + "; fixed effects",
        "baseline": "baseline records by parameter", "score_compared": "reported against derived scores",
    }
    if res.efficacy is not None:
        from trialkit.analyses.biomarkers.efficacy import method_text

        methods |= {name: method_text(res.efficacy) for name in res.efficacy.tables()}
    population = meta.population or "ADSL subjects of the analysed groups with ADLB records"
    return ard_from_tables(tables, analysis=meta.analysis, stage="biomarkers", method=methods, population=population,
                           subgroup=meta.subgroup, options=meta.options)


def safety_ard(res: SafetyResult, meta: AnalysisMeta) -> pl.DataFrame:
    """The safety stage's ARD rows: population, overview, incidence, Fisher, severity, risk differences, onset, liver shift.

    Preferred-term rows have ``variable`` AEDECOD and their SOC in ``keys``
    (``AEBODSYS=...``); SOC rows have ``variable`` AEBODSYS; the "any TEAE"
    rows have no variable and ``keys`` ``level=any``.
    """
    methods = {
        "population": "subjects in the safety population by group",
        "overview": "subjects with at least one TEAE of the category (a subject counts once)",
        "incidence": "subjects with at least one TEAE by SOC and preferred term, and events",
        "fisher": "Fisher's exact test, two-sided, against the reference group (fisher.test)",
        "severity": "subjects by maximum severity",
        "risk_differences": "risk difference against the reference group, Newcombe hybrid score 95% CI (method 10)",
        "onset": "TEAE onset relative to the most recent dose",
        "onset_terms": "TEAE onset relative to the most recent dose, by preferred term",
        "liver_shift": "shift from baseline to worst post-baseline category (low / normal / high)",
    }
    population = meta.population or res.population.rule
    tables = _kept("safety", res.tables())
    for name, df in tables.items():  # level pt / soc repeats the variable (AEDECOD / AEBODSYS); keep "any" only
        if "level" in df.columns:
            tables[name] = df.with_columns(pl.when(pl.col("level") == "any").then(pl.col("level")).alias("level"))
    return ard_from_tables(tables, analysis=meta.analysis, stage="safety", method=methods,
                           population=population, subgroup=meta.subgroup, options=meta.options)


def table1_ard(long: pl.DataFrame, meta: AnalysisMeta, group: str = "TRT01A") -> pl.DataFrame:
    """Table 1's numbers (``report.table1.table1_long``) as ARD rows of analysis ``meta.analysis``, stage report.

    variable -> variable, category -> variable_level, group -> group1_level (``group1`` = the group variable,
    or null for the Total column), stat -> stat_name, value -> stat.
    """
    if long.height == 0:
        return empty_ard()
    stat_fmt = pl.when(pl.col("stat").is_in(["n", "count"])).then(pl.col("value").round(0).cast(pl.Int64).cast(pl.String))
    rows = long.select(
        pl.lit(meta.analysis, pl.String).alias("analysis"), pl.lit("report", pl.String).alias("stage"),
        pl.lit("descriptive statistics by group (Table 1)", pl.String).alias("method"),
        pl.lit(meta.population, pl.String).alias("population"), pl.lit(meta.subgroup, pl.String).alias("subgroup"),
        pl.lit(None, pl.String).alias("endpoint"), pl.lit("table1", pl.String).alias("table"),
        pl.when(pl.col("group") != "Total").then(pl.lit(group)).alias("group1"),
        pl.col("group").alias("group1_level"), pl.lit(None, pl.String).alias("group2"),
        pl.lit(None, pl.String).alias("group2_level"), pl.lit(None, pl.String).alias("visit"),
        pl.col("variable"), pl.col("category").alias("variable_level"),
        pl.col("label").alias("keys") if "label" in long.columns else pl.lit(None, pl.String).alias("keys"),
        pl.col("stat").alias("stat_name"), pl.col("stat").alias("stat_label"),
        pl.col("value").cast(pl.Float64).alias("stat"),
        stat_fmt.otherwise(pl.col("value").round(4).cast(pl.String)).alias("stat_fmt"),
        pl.lit(None, pl.String).alias("note"), pl.lit(options_json(meta.options), pl.String).alias("options"),
    )
    return rows.select(ARD_COLUMNS).cast(polars_schema())
