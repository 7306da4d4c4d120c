"""Table 1: baseline characteristics by group, from ADSL and baseline ADLB.

Definitions:

- Population: every ADSL subject with a group (TRT01A), in TRT01AN order,
  plus a "Total" column over all of them.
- Baseline lab value: the ADLB record flagged ABLFL = "Y"; where ADLB has
  no ABLFL, the last non-missing value on or before study day 1 (ADY <= 1).
- Continuous variables: n (non-missing), mean (SD) with the sample SD
  (n - 1 denominator), median [Q1, Q3] with linearly interpolated quantiles
  (R's default, type 7). Summaries are shown to one decimal more than the
  data carry (at most two), rounded half away from zero (as SAS ROUND):
  a mean of exactly 30.275 shows as 30.28 whatever the binary error.
- Categorical variables: n (%) of the group's subjects; a "Missing" row
  appears when some subjects have no value.
- Child-Pugh class from the baseline Child-Pugh score (CPSCORE): A 5-6,
  B 7-9, C 10-15.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.analyses.groups import Arm

__all__ = ["KEY_LABS", "TOTAL", "derive_var_base_lab", "child_pugh_class", "baseline_characteristics"]

TOTAL = "Total"
#: baseline labs shown in Table 1 when ADLB has them, in this order
KEY_LABS = ("ALB", "TBIL", "BILI", "ALT", "AST", "PTA", "INR", "CREAT", "SODIUM")
_SEX = {"F": "Female", "M": "Male", "U": "Unknown", "UNDIFFERENTIATED": "Undifferentiated"}
_COLUMNS = {"variable": pl.String, "row": pl.String, "arm": pl.String, "value": pl.String,
            "order": pl.Int64}


def derive_var_base_lab(adlb: pl.DataFrame, paramcds: list[str]) -> pl.DataFrame:
    """One baseline value per subject and parameter: USUBJID, PARAMCD, AVAL (ABLFL = "Y", else last ADY <= 1)."""
    require_columns(adlb, ("USUBJID", "PARAMCD", "AVAL"), dataset="ADLB", purpose="the baseline labs of Table 1")
    rows = adlb.filter(pl.col("PARAMCD").is_in(paramcds) & pl.col("AVAL").is_not_null())
    if "ABLFL" in adlb.columns:
        base = rows.filter(pl.col("ABLFL") == "Y")
    elif "ADY" in adlb.columns:
        base = rows.filter(pl.col("ADY") <= 1).sort("ADY").group_by(["USUBJID", "PARAMCD"], maintain_order=True).last()
    else:
        base = rows.clear()
    return base.select("USUBJID", "PARAMCD", pl.col("AVAL").cast(pl.Float64)).unique(["USUBJID", "PARAMCD"], keep="first")


def child_pugh_class(score: pl.Expr) -> pl.Expr:
    """Child-Pugh class from the score: A 5-6, B 7-9, C 10-15 (null outside 5-15 or missing)."""
    return (pl.when(score.is_between(5, 6)).then(pl.lit("A"))
            .when(score.is_between(7, 9)).then(pl.lit("B"))
            .when(score.is_between(10, 15)).then(pl.lit("C"))
            .otherwise(pl.lit(None, pl.String)))


def _decimals(values: list[float]) -> int:
    """Decimals to show: one more than the data carry, at most two."""
    for d in range(3):
        if all(abs(v * 10**d - round(v * 10**d)) < 1e-6 for v in values):
            return min(d + 1, 2)
    return 2


def _fixed(x: float, decimals: int) -> str:
    """``x`` to ``decimals`` places, half away from zero, judged on its value to 12 significant digits."""
    d = Decimal(f"{x:.12g}").quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    return f"{d:.{decimals}f}" if d != 0 else f"{0:.{decimals}f}"


def _quantile7(sorted_values: list[float], p: float) -> float:
    h = (len(sorted_values) - 1) * p
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def _continuous(values: list[float], decimals: int) -> dict[str, str]:
    vals = sorted(v for v in values if v is not None and not math.isnan(v))
    n = len(vals)
    if n == 0:
        return {"n": "0", "Mean (SD)": "–", "Median [Q1, Q3]": "–"}
    mean = sum(vals) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else None
    sd_text = _fixed(sd, decimals) if sd is not None else "–"
    q = [_fixed(_quantile7(vals, p), decimals) for p in (0.5, 0.25, 0.75)]
    return {"n": str(n), "Mean (SD)": f"{_fixed(mean, decimals)} ({sd_text})",
            "Median [Q1, Q3]": f"{q[0]} [{q[1]}, {q[2]}]"}


def _categorical(values: list[str | None], levels: list[str], n_group: int) -> dict[str, str]:
    out = {}
    for level in levels + ["Missing"]:
        k = sum(1 for v in values if (v is None and level == "Missing") or v == level)
        if level == "Missing" and k == 0:
            continue
        pct = 100.0 * k / n_group if n_group else 0.0
        out[level] = f"{k} ({_fixed(pct, 1)}%)"
    return out


def _lab_label(adlb: pl.DataFrame, paramcd: str) -> str:
    rows = adlb.filter(pl.col("PARAMCD") == paramcd)
    param = rows["PARAM"].drop_nulls().first() if "PARAM" in rows.columns else None
    unit = rows["AVALU"].drop_nulls().first() if "AVALU" in rows.columns else None
    label = param or paramcd
    if unit and f"({unit})" not in label:
        label = f"{label} ({unit})"
    return f"{label}, baseline"


def baseline_characteristics(adsl: pl.DataFrame, adlb: pl.DataFrame | None, arms: list[Arm]) -> pl.DataFrame:
    """Table 1 in long form: variable, row (statistic or level), arm (group label or "Total"), value (text), order."""
    require_columns(adsl, ("USUBJID", "TRT01A"), dataset="ADSL", purpose="Table 1")
    subjects = adsl.filter(pl.col("TRT01A").is_in([a.label for a in arms]))
    cols = {"USUBJID": subjects["USUBJID"]}
    variables: list[tuple[str, str, list[str] | None]] = []  # (label, column, levels or None)
    if "AGE" in subjects.columns:
        cols["AGE"] = subjects["AGE"].cast(pl.Float64)
        variables.append(("Age (years)", "AGE", None))
    if "SEX" in subjects.columns:
        sex = subjects["SEX"].cast(pl.String).replace_strict(_SEX, default=subjects["SEX"].cast(pl.String))
        cols["SEX"] = sex
        variables.append(("Sex", "SEX", sorted(set(sex.drop_nulls().to_list()))))
    if "RACE" in subjects.columns and subjects["RACE"].drop_nulls().len():
        race = subjects["RACE"].cast(pl.String)
        cols["RACE"] = race
        variables.append(("Race", "RACE", sorted(set(race.drop_nulls().to_list()))))
    frame = pl.DataFrame(cols).with_columns(subjects["TRT01A"].alias("_ARM"))
    if adlb is not None and "PARAMCD" in adlb.columns:
        present = set(adlb["PARAMCD"].drop_nulls().unique().to_list())
        wanted = [p for p in ("CPSCORE", "MELD", *KEY_LABS) if p in present]
        base = derive_var_base_lab(adlb, wanted).pivot(on="PARAMCD", index="USUBJID", values="AVAL") if wanted else None
        if base is not None:
            frame = frame.join(base, on="USUBJID", how="left")
        if "CPSCORE" in present:
            frame = frame.with_columns(child_pugh_class(pl.col("CPSCORE")).alias("_CPCLASS"))
            variables.append(("Child-Pugh class, baseline", "_CPCLASS", ["A", "B", "C"]))
            variables.append(("Child-Pugh score, baseline", "CPSCORE", None))
        if "MELD" in present:
            variables.append(("MELD score, baseline", "MELD", None))
        variables.extend((_lab_label(adlb, p), p, None) for p in KEY_LABS if p in present)
    columns = [(a.label, frame.filter(pl.col("_ARM") == a.label)) for a in arms] + [(TOTAL, frame)]
    rows = []
    order = 0
    for label, column, levels in variables:
        if levels is None:
            dec = _decimals(frame[column].drop_nulls().drop_nans().to_list())
            stats = {arm: _continuous(sub[column].to_list(), dec) for arm, sub in columns}
        else:
            stats = {arm: _categorical(sub[column].to_list(), levels, sub.height) for arm, sub in columns}
        row_names = list(dict.fromkeys(name for s in stats.values() for name in s))
        for name in row_names:
            order += 1
            for arm, _sub in columns:
                rows.append({"variable": label, "row": name, "arm": arm,
                             "value": stats[arm].get(name, "0 (0.0%)"), "order": order})
    return pl.DataFrame(rows, schema=_COLUMNS)
