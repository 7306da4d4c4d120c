"""ADLB derivations, admiral style: one function per derived variable or parameter.

``derive_var_*`` adds a column, ``derive_param_*`` adds the rows of a new
PARAMCD. Every function checks the variables it needs first and raises
``ColumnNotFoundError`` (a missing variable) or ``NoDataError`` (a missing
input parameter) naming ADLB and what is absent.

Inputs are read in their canonical unit (``schemas/units.py``: bilirubin and
creatinine umol/L, albumin g/L); a record whose AVALU is another known unit is
converted, and AVALU null is taken to be the canonical unit. Formulas that need
conventional units convert internally with the factors declared there
(bilirubin mg/dL = umol/L / 17.1, creatinine mg/dL = umol/L / 88.4).

Score inputs are matched by subject and analysis visit (AVISITN; ADY when
AVISITN is absent); when a subject has several records of one input at a visit,
the latest (largest ADY) is used. Derived rows carry PARAMTYP = "DERIVED", the
PARCAT1 "Derived scores" and the formula in DRVNOTE.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from trialkit.schemas.units import ALIASES, PARAMETERS

from trialkit.analyses.columns import require_columns, require_one_of
from trialkit.schemas.errors import DataError, NoDataError

__all__ = [
    "DERIVATIONS",
    "ScoreCheck",
    "derivable",
    "derive_var_ablfl",
    "derive_var_base",
    "derive_var_chg",
    "derive_var_pchg",
    "derive_vars_base_chg",
    "derive_param_meld",
    "derive_param_meldna",
    "derive_param_child_pugh",
    "derive_param_albi",
    "derive_params",
    "RECORDS",
    "meld_records",
    "meldna_records",
    "child_pugh_records",
    "albi_records",
    "check_base",
    "check_reported_scores",
]

DERIVED_CATEGORY = "Derived scores"
#: --derive name -> (input PARAMCDs, PARAMCDs it adds)
DERIVATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "meld": (("TBIL", "INR", "CREAT"), ("MELDD",)),
    "meldna": (("TBIL", "INR", "CREAT", "SODIUM"), ("MELDNA",)),
    "childpugh": (("TBIL", "ALB", "INR", "ASCITES", "HEPENC"), ("CPSCORED", "CPCLASS")),
    "albi": (("TBIL", "ALB"), ("ALBI", "ALBIGR")),
}
#: reported score -> the derived parameter it is checked against
REPORTED = {"MELD": "MELDD", "CPSCORE": "CPSCORED"}
DIALYSIS_CODES = ("DIALYSIS", "DIALYS")
TOLERANCE = 1e-9

MELD_NOTE = ("UNOS MELD: round(3.78 ln(bilirubin mg/dL) + 11.2 ln(INR) + 9.57 ln(creatinine mg/dL) + 6.43), "
             "round half up; bilirubin, INR and creatinine floored at 1.0; creatinine capped at 4.0 mg/dL and "
             "set to 4.0 on dialysis (PARAMCD DIALYSIS = 1) when recorded; result capped at 40")
MELDNA_NOTE = ("UNOS 2016 MELD-Na: MELD(i) = the rounded MELD before its cap; sodium bounded to 125-137 mmol/L; "
               "if MELD(i) > 11, MELD(i) + 1.32 (137 - Na) - 0.033 MELD(i) (137 - Na), else MELD(i); "
               "round half up; capped at 40")
CP_NOTE = ("Child-Pugh points: bilirubin < 34.2 / 34.2-51.3 / > 51.3 umol/L; albumin > 35 / 28-35 / < 28 g/L; "
           "INR < 1.7 / 1.7-2.3 / > 2.3; ascites grade 0 / 1 / 2+; encephalopathy grade 0 / 1-2 / 3-4; "
           "1, 2, 3 points each; class A 5-6, B 7-9, C 10-15")
ALBI_NOTE = ("ALBI = 0.66 log10(bilirubin umol/L) - 0.085 albumin g/L (unrounded); "
             "grade 1 <= -2.60 < grade 2 <= -1.39 < grade 3")


# ------------------------------------------------------------------ helpers
def _codes(paramcd: str) -> list[str]:
    """A canonical PARAMCD and the aliases that mean the same quantity (BILI for TBIL)."""
    return [paramcd, *(a for a, c in ALIASES.items() if c == paramcd)]


def _present(adlb: pl.DataFrame, paramcd: str) -> bool:
    return bool((adlb.get_column("PARAMCD").is_in(_codes(paramcd)) & adlb.get_column("AVAL").is_not_null()).any())


def _visit_keys(adlb: pl.DataFrame) -> list[str]:
    return ["USUBJID", "AVISITN" if "AVISITN" in adlb.columns else "ADY"]


def _canonical_values(adlb: pl.DataFrame, paramcd: str, keys: list[str]) -> pl.DataFrame:
    """One canonical-unit value per subject and visit of ``paramcd``: keys + the value named ``paramcd``."""
    used = [c for c in dict.fromkeys([*keys, "PARAMCD", "AVAL", "AVALU", "ADY", "ABLFL"]) if c in adlb.columns]
    rows = adlb.lazy().select(used).filter(pl.col("PARAMCD").is_in(_codes(paramcd)) & pl.col("AVAL").is_not_null())
    rows = rows.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in keys)).collect()
    factor = pl.lit(1.0)
    spec = PARAMETERS.get(paramcd)
    if spec is not None and "AVALU" in rows.columns:
        units = [u for u in rows["AVALU"].unique().to_list() if u is not None]
        unknown = [u for u in units if spec.factor(u) is None]
        if unknown:
            raise DataError(
                f"ADLB {paramcd} has values in unit(s) {', '.join(map(repr, unknown))}, which trialkit cannot "
                f"convert to {spec.unit}",
                "convert them at the source, or add the unit to schemas/units.py",
            )
        for u in units:
            factor = pl.when(pl.col("AVALU") == u).then(pl.lit(spec.factor(u))).otherwise(factor)
    order = [c for c in ("ADY",) if c in rows.columns and c not in keys]
    if order:
        rows = rows.sort(order, nulls_last=False, maintain_order=True)
    extra = [c for c in ("ABLFL",) if c in rows.columns]
    return (
        rows.select(*keys, (pl.col("AVAL") * factor).alias(paramcd), *[pl.col(c).alias(f"_{paramcd}_{c}") for c in extra])
        .unique(subset=keys, keep="last", maintain_order=True)
    )


def _inputs(adlb: pl.DataFrame, codes: tuple[str, ...], purpose: str, optional: tuple[str, ...] = ()) -> pl.DataFrame:
    """Wide frame of the inputs at each subject and visit where all required inputs are present."""
    require_columns(adlb, ("USUBJID", "PARAMCD", "AVAL"), dataset="ADLB", purpose=purpose)
    require_one_of(adlb, ("AVISITN", "ADY"), dataset="ADLB", purpose=purpose)
    absent = [c for c in codes if not _present(adlb, c)]
    if absent:
        raise NoDataError(
            f"ADLB has no {', '.join(absent)} records: {purpose} needs {', '.join(codes)}",
            f"leave {purpose} out of --derive, or add the missing parameter(s) to ADLB",
        )
    keys = _visit_keys(adlb)
    wide = _canonical_values(adlb, codes[0], keys)
    for code in codes[1:]:
        wide = wide.join(_canonical_values(adlb, code, keys), on=keys, how="inner", maintain_order="left")
    for code in optional:
        if _present(adlb, code):
            wide = wide.join(_canonical_values(adlb, code, keys), on=keys, how="left", maintain_order="left")
        else:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(code))
    flags = [c for c in wide.columns if c.endswith("_ABLFL") and c[1:].split("_")[0] in codes]
    base = pl.all_horizontal(pl.col(f) == "Y" for f in flags).fill_null(False) if flags else pl.lit(False)
    wide = wide.with_columns(pl.when(base).then(pl.lit("Y")).otherwise(pl.lit(None, dtype=pl.String)).alias("ABLFL"))
    return wide.drop([c for c in wide.columns if c.startswith("_")])


def _visit_context(adlb: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    cols = [c for c in ("STUDYID", "AVISIT", "AVISITN", "ADY", "ADT") if c in adlb.columns and c not in keys]
    ctx = adlb.lazy().select(*keys, *cols).filter(pl.all_horizontal(pl.col(k).is_not_null() for k in keys))
    if "ADY" in cols:
        ctx = ctx.sort("ADY", nulls_last=False, maintain_order=True)
    return ctx.unique(subset=keys, keep="last", maintain_order=True).collect()


def _param_rows(adlb: pl.DataFrame, wide: pl.DataFrame, paramcd: str, label: str, unit: str, note: str,
                value: pl.Expr, context: pl.DataFrame, text: pl.Expr | None = None) -> pl.DataFrame:
    keys = _visit_keys(adlb)
    rows = wide.select(*keys, "ABLFL", value.cast(pl.Float64).alias("AVAL"),
                       (text if text is not None else pl.lit(None, dtype=pl.String)).alias("AVALC"))
    rows = rows.filter(pl.col("AVAL").is_not_null()).join(context, on=keys, how="left", maintain_order="left")
    return rows.with_columns(
        pl.lit(paramcd).alias("PARAMCD"),
        pl.lit(f"{label} (derived)").alias("PARAM"),
        pl.lit(DERIVED_CATEGORY).alias("PARCAT1"),
        pl.lit(unit).alias("AVALU"),
        pl.lit("DERIVED").alias("PARAMTYP"),
        pl.lit(note).alias("DRVNOTE"),
    )


def _append(adlb: pl.DataFrame, *new: pl.DataFrame) -> pl.DataFrame:
    """ADLB without earlier rows of the new PARAMCDs (a re-derivation replaces them), plus the new rows."""
    codes = [f.get_column("PARAMCD")[0] for f in new if f.height]
    earlier = bool(adlb.get_column("PARAMCD").is_in(codes).any()) if codes else False
    kept = adlb.filter(~pl.col("PARAMCD").is_in(codes)) if earlier else adlb
    if "AVALC" not in kept.columns:
        kept = kept.with_columns(pl.lit(None, dtype=pl.String).alias("AVALC"))
    return pl.concat([kept, *(f for f in new if f.height)], how="diagonal_relaxed")


def _round_half_up(x: pl.Expr) -> pl.Expr:
    return (x + 0.5).floor()


def _meld_raw(wide: pl.DataFrame) -> pl.Expr:
    bili = (pl.col("TBIL") / PARAMETERS["TBIL"].factor("mg/dL")).clip(lower_bound=1.0)
    inr = pl.col("INR").clip(lower_bound=1.0)
    creat = (pl.col("CREAT") / PARAMETERS["CREAT"].factor("mg/dL")).clip(1.0, 4.0)
    if "DIALYSIS" in wide.columns:
        creat = pl.when(pl.col("DIALYSIS") == 1).then(pl.lit(4.0)).otherwise(creat)
    return 3.78 * bili.log() + 11.2 * inr.log() + 9.57 * creat.log() + 6.43


def derivable(adlb: pl.DataFrame) -> list[str]:
    """The --derive names whose input parameters are all in ADLB, in DERIVATIONS order."""
    if not {"PARAMCD", "AVAL"} <= set(adlb.columns):
        return []
    return [name for name, (inputs, _) in DERIVATIONS.items() if all(_present(adlb, c) for c in inputs)]


# ------------------------------------------------------------------ baseline, change
def _time(df: pl.DataFrame) -> pl.Expr:
    """Study time for the baseline rule: ADY, else AVISITN."""
    if "ADY" in df.columns and "AVISITN" in df.columns:
        return pl.coalesce(pl.col("ADY"), pl.col("AVISITN"))
    return pl.col("ADY" if "ADY" in df.columns else "AVISITN")


def derive_var_ablfl(adlb: pl.DataFrame) -> pl.DataFrame:
    """ABLFL: kept where a subject's parameter has a flagged record; otherwise "Y" on the last
    record with non-missing AVAL on or before day 1 (ADY <= 1; AVISITN <= 1 where ADY is missing).
    Subjects with neither keep no baseline."""
    require_columns(adlb, ("USUBJID", "PARAMCD", "AVAL"), dataset="ADLB", purpose="the baseline flag ABLFL")
    require_one_of(adlb, ("AVISITN", "ADY"), dataset="ADLB", purpose="the baseline flag ABLFL")
    df = adlb if "ABLFL" in adlb.columns else adlb.with_columns(pl.lit(None, dtype=pl.String).alias("ABLFL"))
    by = ["USUBJID", "PARAMCD"]
    flag = (pl.col("ABLFL") == "Y").fill_null(False)
    # group-bys and joins on the record number, not windows: a filtered window runs once per group
    rows = df.lazy().select(*by, flag.alias("_FLAG"), _time(df).alias("_T"), pl.col("AVAL")).with_row_index("_ROW")
    flagged = rows.filter(pl.col("_FLAG")).select(by).unique()
    candidates = rows.filter(pl.col("AVAL").is_not_null() & (pl.col("_T") <= 1).fill_null(False))
    latest = candidates.group_by(by).agg(pl.col("_T").max().alias("_LAST"))
    chosen = (candidates.join(latest, on=by).filter(pl.col("_T") == pl.col("_LAST"))
              .join(flagged, on=by, how="anti").group_by(by).agg(pl.col("_ROW").max()))
    picked = chosen.select("_ROW").collect()["_ROW"]
    return df.with_columns(
        pl.when(flag | pl.int_range(pl.len(), dtype=pl.UInt32).is_in(picked.implode()))
        .then(pl.lit("Y")).otherwise(pl.lit(None, dtype=pl.String)).alias("ABLFL")
    )


def derive_var_base(adlb: pl.DataFrame) -> pl.DataFrame:
    """BASE: the AVAL of the subject's ABLFL = "Y" record of the parameter (null without one).

    A BASE already in ADLB is kept as BASE_SRC for ``check_base`` and BASE is recomputed."""
    require_columns(adlb, ("USUBJID", "PARAMCD", "AVAL", "ABLFL"), dataset="ADLB", purpose="BASE")
    df = adlb.rename({"BASE": "BASE_SRC"}) if "BASE" in adlb.columns and "BASE_SRC" not in adlb.columns else adlb
    df = df.drop([c for c in ("BASE",) if c in df.columns])
    by = ["USUBJID", "PARAMCD"]
    is_base = (pl.col("ABLFL") == "Y").fill_null(False)
    return df.with_columns(pl.col("AVAL").filter(is_base).first().over(by).alias("BASE"))


def _after_baseline(df: pl.DataFrame) -> pl.Expr:
    """After the baseline record: a later AVISITN, or a later ADY where AVISITN is missing."""
    by = ["USUBJID", "PARAMCD"]
    is_base = (pl.col("ABLFL") == "Y").fill_null(False)
    tests = []
    for col in ("AVISITN", "ADY"):
        if col in df.columns:
            tests.append((pl.col(col), pl.col(col).filter(is_base).first().over(by)))
    later = pl.lit(None, dtype=pl.Boolean)
    for value, base in reversed(tests):
        later = pl.when(value.is_not_null() & base.is_not_null()).then(value > base).otherwise(later)
    return later.fill_null(False)


def derive_var_chg(adlb: pl.DataFrame) -> pl.DataFrame:
    """CHG = AVAL - BASE on records after the baseline record; null on the baseline record, on
    earlier records and where BASE or AVAL is missing."""
    require_columns(adlb, ("USUBJID", "PARAMCD", "AVAL", "BASE", "ABLFL"), dataset="ADLB", purpose="CHG")
    require_one_of(adlb, ("AVISITN", "ADY"), dataset="ADLB", purpose="CHG")
    return adlb.with_columns(
        pl.when(_after_baseline(adlb)).then(pl.col("AVAL") - pl.col("BASE")).otherwise(None).alias("CHG")
    )


def derive_var_pchg(adlb: pl.DataFrame) -> pl.DataFrame:
    """PCHG = 100 * CHG / BASE; null where CHG is null or BASE is 0."""
    require_columns(adlb, ("CHG", "BASE"), dataset="ADLB", purpose="PCHG")
    return adlb.with_columns(
        pl.when(pl.col("BASE") != 0).then(100.0 * pl.col("CHG") / pl.col("BASE")).otherwise(None).alias("PCHG")
    )


def derive_vars_base_chg(adlb: pl.DataFrame) -> pl.DataFrame:
    """ABLFL, BASE, CHG and PCHG, in that order.

    They are derived on the few columns they read and then set on ADLB: the windows per (subject, parameter)
    would otherwise gather every column of ADLB into one chunk, a copy of it at ten million records."""
    used = [c for c in ("USUBJID", "PARAMCD", "AVAL", "ABLFL", "AVISITN", "ADY") if c in adlb.columns]
    narrow = derive_var_pchg(derive_var_chg(derive_var_base(derive_var_ablfl(pl.DataFrame(
        [adlb.get_column(c) for c in used])))))
    df = adlb.with_columns(narrow.get_column("ABLFL"))
    df = df.rename({"BASE": "BASE_SRC"}) if "BASE" in df.columns and "BASE_SRC" not in df.columns else df
    df = df.drop("BASE", strict=False)
    return df.with_columns(narrow.get_column("BASE"), narrow.get_column("CHG"), narrow.get_column("PCHG"))


# ------------------------------------------------------------------ liver scores
# ``*_records`` make a score's new rows (``context``: each subject and visit's STUDYID, AVISIT, ADY, ADT, from
# ``_visit_context``); ``derive_params`` appends the rows of one or several scores to ADLB at once, so that ADLB is
# copied once however many are derived; ``derive_param_*`` are one score each.
def meld_records(adlb: pl.DataFrame, context: pl.DataFrame) -> list[pl.DataFrame]:
    """The MELDD rows (UNOS MELD, see MELD_NOTE), one per visit with TBIL, INR and CREAT."""
    wide = _inputs(adlb, DERIVATIONS["meld"][0], "MELD", optional=DIALYSIS_CODES[:1])
    value = _round_half_up(_meld_raw(wide)).clip(upper_bound=40)
    return [_param_rows(adlb, wide, "MELDD", "MELD score", "points", MELD_NOTE, value, context)]


def meldna_records(adlb: pl.DataFrame, context: pl.DataFrame) -> list[pl.DataFrame]:
    """The MELDNA rows (UNOS 2016 MELD-Na, see MELDNA_NOTE), one per visit with TBIL, INR, CREAT and SODIUM."""
    wide = _inputs(adlb, DERIVATIONS["meldna"][0], "MELD-Na", optional=DIALYSIS_CODES[:1])
    meld_i = _round_half_up(_meld_raw(wide))
    na = 137 - pl.col("SODIUM").clip(125, 137)
    adjusted = pl.when(meld_i > 11).then(meld_i + 1.32 * na - 0.033 * meld_i * na).otherwise(meld_i)
    value = _round_half_up(adjusted).clip(upper_bound=40)
    return [_param_rows(adlb, wide, "MELDNA", "MELD-Na score", "points", MELDNA_NOTE, value, context)]


def child_pugh_records(adlb: pl.DataFrame, context: pl.DataFrame) -> list[pl.DataFrame]:
    """The CPSCORED (Child-Pugh points, 5-15) and CPCLASS (AVAL 1/2/3, AVALC A/B/C) rows; see CP_NOTE."""
    wide = _inputs(adlb, DERIVATIONS["childpugh"][0], "Child-Pugh")
    b, a, i = pl.col("TBIL"), pl.col("ALB"), pl.col("INR")
    points = (
        pl.when(b < 34.2).then(1).when(b <= 51.3).then(2).otherwise(3)
        + pl.when(a > 35).then(1).when(a >= 28).then(2).otherwise(3)
        + pl.when(i < 1.7).then(1).when(i <= 2.3).then(2).otherwise(3)
        + pl.when(pl.col("ASCITES") <= 0).then(1).when(pl.col("ASCITES") < 2).then(2).otherwise(3)
        + pl.when(pl.col("HEPENC") <= 0).then(1).when(pl.col("HEPENC") <= 2).then(2).otherwise(3)
    )
    wide = wide.with_columns(points.alias("_CP"))
    cls = pl.when(pl.col("_CP") <= 6).then(1).when(pl.col("_CP") <= 9).then(2).otherwise(3)
    letter = pl.when(pl.col("_CP") <= 6).then(pl.lit("A")).when(pl.col("_CP") <= 9).then(pl.lit("B")).otherwise(pl.lit("C"))
    return [_param_rows(adlb, wide, "CPSCORED", "Child-Pugh score", "points", CP_NOTE, pl.col("_CP"), context),
            _param_rows(adlb, wide, "CPCLASS", "Child-Pugh class (1 = A, 2 = B, 3 = C)", "class", CP_NOTE, cls, context,
                        letter)]


def albi_records(adlb: pl.DataFrame, context: pl.DataFrame) -> list[pl.DataFrame]:
    """The ALBI (score) and ALBIGR (grade 1-3, AVALC "Grade n") rows; see ALBI_NOTE. Bilirubin <= 0 gives no
    score."""
    wide = _inputs(adlb, DERIVATIONS["albi"][0], "ALBI")
    albi = pl.when(pl.col("TBIL") > 0).then(0.66 * pl.col("TBIL").log(10) - 0.085 * pl.col("ALB")).otherwise(None)
    wide = wide.with_columns(albi.alias("_ALBI"))
    grade = pl.when(pl.col("_ALBI") <= -2.60).then(1).when(pl.col("_ALBI") <= -1.39).then(2).otherwise(3)
    grade = pl.when(pl.col("_ALBI").is_null()).then(None).otherwise(grade)
    return [_param_rows(adlb, wide, "ALBI", "ALBI score", "score", ALBI_NOTE, pl.col("_ALBI"), context),
            _param_rows(adlb, wide, "ALBIGR", "ALBI grade", "grade", ALBI_NOTE, grade, context,
                        pl.lit("Grade ") + grade.cast(pl.Int64).cast(pl.String))]


#: --derive name -> the function making its rows
RECORDS = {"meld": meld_records, "meldna": meldna_records, "childpugh": child_pugh_records, "albi": albi_records}


def derive_params(adlb: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """ADLB plus the rows of each derivation in ``names`` (DERIVATIONS' names), in that order; earlier rows of
    the PARAMCDs they add are replaced. The same as applying the ``derive_param_*`` one after another."""
    if not names:
        return adlb
    keys = _visit_keys(adlb)
    # without its keys there is no context, and the first score's _inputs names what ADLB lacks
    context = _visit_context(adlb, keys) if set(keys) <= set(adlb.columns) else None
    return _append(adlb, *(rows for name in names for rows in RECORDS[name](adlb, context)))


def derive_param_meld(adlb: pl.DataFrame) -> pl.DataFrame:
    """Adds PARAMCD MELDD, the UNOS MELD score (see MELD_NOTE), at each visit with TBIL, INR and CREAT."""
    return derive_params(adlb, ["meld"])


def derive_param_meldna(adlb: pl.DataFrame) -> pl.DataFrame:
    """Adds PARAMCD MELDNA, UNOS 2016 MELD-Na (see MELDNA_NOTE), at each visit with TBIL, INR, CREAT, SODIUM."""
    return derive_params(adlb, ["meldna"])


def derive_param_child_pugh(adlb: pl.DataFrame) -> pl.DataFrame:
    """Adds CPSCORED (Child-Pugh points, 5-15) and CPCLASS (AVAL 1/2/3, AVALC A/B/C); see CP_NOTE."""
    return derive_params(adlb, ["childpugh"])


def derive_param_albi(adlb: pl.DataFrame) -> pl.DataFrame:
    """Adds ALBI (score) and ALBIGR (grade 1-3, AVALC "Grade n"); see ALBI_NOTE. Bilirubin <= 0 gives no score."""
    return derive_params(adlb, ["albi"])


# ------------------------------------------------------------------ checks
@dataclass(frozen=True)
class ScoreCheck:
    """Reported against derived scores.

    ``compared``: one row per pair (REPORTED, DERIVED, N_COMPARED, N_DISAGREE);
    ``disagreements``: USUBJID, AVISIT, AVISITN, REPORTED, DERIVED, REPORTED_VALUE, DERIVED_VALUE, DIFFERENCE.
    """

    compared: pl.DataFrame
    disagreements: pl.DataFrame


def check_reported_scores(adlb: pl.DataFrame) -> ScoreCheck:
    """Subjects and visits whose reported MELD / CPSCORE differ from the derived MELDD / CPSCORED."""
    require_columns(adlb, ("USUBJID", "PARAMCD", "AVAL"), dataset="ADLB", purpose="the score check")
    keys = _visit_keys(adlb)
    counts, rows = [], []
    for reported, derived in REPORTED.items():
        if not (_present(adlb, reported) and _present(adlb, derived)):
            continue
        pair = _canonical_values(adlb, reported, keys).join(
            _canonical_values(adlb, derived, keys), on=keys, how="inner", maintain_order="left")
        pair = pair.select(*keys, pl.lit(reported).alias("REPORTED"), pl.lit(derived).alias("DERIVED"),
                           pl.col(reported).alias("REPORTED_VALUE"), pl.col(derived).alias("DERIVED_VALUE"),
                           (pl.col(reported) - pl.col(derived)).alias("DIFFERENCE"))
        bad = pair.filter(pl.col("DIFFERENCE").abs() > TOLERANCE)
        counts.append({"REPORTED": reported, "DERIVED": derived, "N_COMPARED": pair.height, "N_DISAGREE": bad.height})
        rows.append(bad.join(_visit_context(adlb, keys), on=keys, how="left", maintain_order="left"))
    schema = {"REPORTED": pl.String, "DERIVED": pl.String, "N_COMPARED": pl.Int64, "N_DISAGREE": pl.Int64}
    cols = ["USUBJID", "AVISIT", "AVISITN", "REPORTED", "DERIVED", "REPORTED_VALUE", "DERIVED_VALUE", "DIFFERENCE"]
    disagreements = pl.concat(rows, how="diagonal_relaxed") if rows else pl.DataFrame()
    for c in cols:
        if c not in disagreements.columns:
            dtype = pl.String if c in ("USUBJID", "AVISIT", "REPORTED", "DERIVED") else pl.Float64
            disagreements = disagreements.with_columns(pl.lit(None, dtype=dtype).alias(c))
    return ScoreCheck(pl.DataFrame(counts, schema=schema), disagreements.select(cols).sort(["REPORTED", "USUBJID", "AVISITN"]))


def check_base(adlb: pl.DataFrame) -> pl.DataFrame:
    """Records whose BASE as delivered (BASE_SRC) differs from the recomputed BASE (empty without BASE_SRC).

    Columns: USUBJID, PARAMCD, AVISIT, AVISITN (null when ADLB lacks them), BASE_SRC, BASE."""
    cols = [pl.col("USUBJID"), pl.col("PARAMCD"),
            *((pl.col(c) if c in adlb.columns else pl.lit(None)).cast(dtype).alias(c)
              for c, dtype in (("AVISIT", pl.String), ("AVISITN", pl.Float64)))]
    if "BASE_SRC" not in adlb.columns:
        return adlb.select(*cols, pl.lit(None, dtype=pl.Float64).alias("BASE_SRC"), pl.lit(None, dtype=pl.Float64).alias("BASE")).clear()
    require_columns(adlb, ("BASE",), dataset="ADLB", purpose="the BASE check")
    differ = (pl.col("BASE_SRC") - pl.col("BASE")).abs() > TOLERANCE
    one_null = pl.col("BASE_SRC").is_null() != pl.col("BASE").is_null()
    # parameters trialkit derived (they carry DRVNOTE) never had a delivered BASE to compare with
    delivered = pl.col("DRVNOTE").is_null() if "DRVNOTE" in adlb.columns else pl.lit(True)
    return adlb.lazy().filter(delivered & (differ.fill_null(False) | one_null)).select(*cols, "BASE_SRC", "BASE").collect()
