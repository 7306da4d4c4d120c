"""Table 1: demographic and baseline characteristics by group, from ADSL and baseline ADLB.

Who is counted:

- Population: the ADSL subjects whose Y/N flag ``population`` is "Y".
  Default (``population=None``): ITTFL when ADSL has it, else every subject;
  ``population=ALL`` takes every subject whatever the flags say.
- Groups: the values of ``group`` (default TRT01A, actual treatment; pass
  TRT01P for planned treatment, as the CDISC pilot's Table 14-2.01 does), in
  the order of its numeric companion (TRT01AN, TRT01PN), then by label; plus
  a "Total" column over all of them. Subjects with no group are left out.

Which variables (``variables=None``, the default list):

1. the standard demographics ADSL has, in this order: AGE, AGEGR1, SEX,
   RACE, ETHNIC, HEIGHTBL, WEIGHTBL, BMIBL;
2. then ADSL's other baseline characteristics, in ADSL's column order. A
   variable counts as one when its name ends in BL (ADaM's suffix for a
   baseline value, e.g. EGFRBL) or in BLGRn (a grouping of one, e.g.
   BMIBLGR1), or when it is one of the disease-history and baseline-score
   variables the ADaM pilot conventions name without that suffix: DURDIS
   and its grouping DURDSGRn, EDUCLVL, MMSETOT. Identifiers, dates,
   population flags, treatment, dose, exposure and disposition variables are
   never chosen by default (pass them in ``variables`` to show them anyway);
3. a grouping variable (AGEGRn, DURDSGRn, xxBLGRn) comes right after the
   variable it groups when both are shown.

With ``labs=True`` (the default) the trial's baseline labs follow the ADSL
variables: Child-Pugh class and score (CPSCORE), MELD, then the KEY_LABS
parameters ADLB has. Baseline lab value: the ADLB record flagged
ABLFL = "Y"; where ADLB has no ABLFL, the last non-missing value on or before
study day 1 (ADY <= 1). Child-Pugh class from the score: A 5-6, B 7-9, C 10-15.

Statistics:

- Numeric variables: n (non-missing), mean, SD (n - 1 denominator), median,
  Q1, Q3 (linearly interpolated quantiles, R's default type 7), min, max.
- Character variables: count and percent of the group's subjects for each
  category, in ADSL's order of categories: the order of the numeric
  companion variable (AGEGR1N for AGEGR1, RACEN for RACE) when ADSL has it;
  else categories that start with a number in numeric order, "<x" before
  "x..." before ">x" ("<65", "65-80", ">80"; "<25", "25-<30", ">=30"), then
  the others alphabetically. A "Missing" category appears when some subjects
  have no value.

Two results (``Table1``): ``long``, every number unrounded, one row per
variable, category, group and statistic (the shape an Analysis Results
Dataset wants; see ``table1_long``), and ``display``, the text the report
shows. Display rounding: means, SDs, medians and quartiles to one decimal
more than the data carry (at most two), min and max as the data carry them
(at most two), percentages to one decimal; all rounded half away from zero
(as SAS ROUND): a mean of exactly 30.275 shows as 30.28 whatever the binary
error.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.analyses.formatting import format_number
from trialkit.schemas.errors import ColumnNotFoundError, NoDataError, UsageError
from trialkit.analyses.groups import Arm

__all__ = ["ALL", "KEY_LABS", "STANDARD_VARIABLES", "TOTAL", "LONG_SCHEMA", "DISPLAY_SCHEMA", "Table1",
           "derive_var_base_lab", "child_pugh_class", "default_variables", "resolve_variables",
           "baseline_characteristics", "table1_long"]

TOTAL = "Total"
#: ``population=ALL``: every ADSL subject, whatever its population flags
ALL = "ALL"
#: the standard demographic and baseline variables, in the order Table 1 shows them
STANDARD_VARIABLES = ("AGE", "AGEGR1", "SEX", "RACE", "ETHNIC", "HEIGHTBL", "WEIGHTBL", "BMIBL")
#: baseline characteristics the ADaM pilot conventions name without the BL suffix
_OTHER_BASELINE = re.compile(r"^(DURDIS|DURDSGR\d+|EDUCLVL|MMSETOT)$")
_BASELINE = re.compile(r"^[A-Z0-9]+BL(GR\d+)?$")
#: baseline labs shown in Table 1 when ADLB has them, in this order
KEY_LABS = ("ALB", "TBIL", "BILI", "ALT", "AST", "PTA", "INR", "CREAT", "SODIUM")
_SEX = {"F": "Female", "M": "Male", "U": "Unknown", "UNDIFFERENTIATED": "Undifferentiated"}
_LABELS = {"AGE": "Age (years)", "AGEGR1": "Age group (years)", "SEX": "Sex", "RACE": "Race", "ETHNIC": "Ethnicity",
           "HEIGHTBL": "Baseline height (cm)", "WEIGHTBL": "Baseline weight (kg)", "BMIBL": "Baseline BMI (kg/m²)",
           "BMIBLGR1": "Baseline BMI group (kg/m²)", "MMSETOT": "MMSE total score", "EDUCLVL": "Years of education",
           "DURDIS": "Duration of disease (months)", "DURDSGR1": "Duration of disease group (months)"}
_GROUP_DESCRIPTION = {"TRT01A": "actual treatment", "TRT01P": "planned treatment", "ARM": "planned arm",
                      "ACTARM": "actual arm"}
MISSING = "Missing"

#: ``Table1.long``: one row per variable, category, group and statistic; ``order`` is the display row it feeds
LONG_SCHEMA = {"variable": pl.String, "label": pl.String, "category": pl.String, "group": pl.String,
               "stat": pl.String, "value": pl.Float64, "order": pl.Int64}
#: ``Table1.display``: one row per display row and group, the text the report shows
DISPLAY_SCHEMA = {"variable": pl.String, "label": pl.String, "row": pl.String, "group": pl.String,
                  "value": pl.String, "order": pl.Int64}


@dataclass(frozen=True)
class Table1:
    """Table 1 as numbers (``long``, LONG_SCHEMA) and as text (``display``, DISPLAY_SCHEMA).

    ``groups``: (column label, N) in column order, "Total" last; ``population``:
    who is counted, in words; ``group``: the ADSL variable that forms the groups.
    """

    long: pl.DataFrame
    display: pl.DataFrame
    groups: tuple[tuple[str, int], ...]
    population: str
    group: str

    @property
    def group_description(self) -> str:
        """``ADSL TRT01A (actual treatment)``."""
        what = _GROUP_DESCRIPTION.get(self.group)
        return f"ADSL {self.group}" + (f" ({what})" if what else "")


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


# ----------------------------------------------------------------------------- which variables
def _grouped(name: str) -> str | None:
    """The variable a grouping variable groups: AGEGR1 -> AGE, DURDSGR1 -> DURDIS, BMIBLGR1 -> BMIBL."""
    if re.fullmatch(r"AGEGR\d+", name):
        return "AGE"
    if re.fullmatch(r"DURDSGR\d+", name):
        return "DURDIS"
    if m := re.fullmatch(r"(.+BL)GR\d+", name):
        return m.group(1)
    return None


def _summarisable(adsl: pl.DataFrame, name: str) -> bool:
    dtype = adsl.schema[name]
    return dtype.is_numeric() or dtype in (pl.String, pl.Categorical, pl.Boolean) or isinstance(dtype, pl.Enum)


def default_variables(adsl: pl.DataFrame) -> list[str]:
    """The default Table 1 variables ADSL has (module docstring, "Which variables")."""
    chosen = [v for v in STANDARD_VARIABLES if v in adsl.columns]
    chosen += [v for v in adsl.columns if v not in chosen
               and (_BASELINE.match(v) or _OTHER_BASELINE.match(v)) and _summarisable(adsl, v)]
    return _groupings_after_source(chosen)


def _groupings_after_source(names: list[str]) -> list[str]:
    out = [n for n in names if _grouped(n) not in names]
    for n in names:
        if n not in out:
            source = _grouped(n)
            at = out.index(source) + 1
            while at < len(out) and _grouped(out[at]) == source:
                at += 1
            out.insert(at, n)
    return out


def resolve_variables(adsl: pl.DataFrame, wanted: list[str]) -> list[str]:
    """ADSL's names for ``wanted`` (matched case-insensitively, duplicates dropped); an unknown or unsummarisable
    variable is a usage error naming it."""
    by_upper = {c.upper(): c for c in adsl.columns}
    out: list[str] = []
    for w in wanted:
        name = by_upper.get(w.strip().upper())
        if name is None:
            raise UsageError(f"ADSL has no variable {w.strip()!r}: Table 1 cannot show it",
                             f"choose among ADSL's variables: {', '.join(adsl.columns)}")
        if not _summarisable(adsl, name):
            raise UsageError(f"ADSL {name} is a {adsl.schema[name]} variable: Table 1 summarises numbers and "
                             "categories only", "leave it out of the Table 1 variables")
        if name not in out:
            out.append(name)
    if not out:
        raise UsageError("no Table 1 variable was given", "name ADSL variables, e.g. AGE,SEX,RACE")
    return out


# ----------------------------------------------------------------------------- who is counted
def _population(adsl: pl.DataFrame, population: str | None) -> tuple[pl.DataFrame, str]:
    if population is None:
        population = "ITTFL" if "ITTFL" in adsl.columns else ALL
    if population == ALL:
        return adsl, "every ADSL subject"
    if population not in adsl.columns:
        raise UsageError(f"ADSL has no population flag {population}: Table 1 cannot select its subjects",
                         "name an ADSL Y/N flag such as ITTFL or SAFFL")
    name = {"ITTFL": "intent-to-treat", "SAFFL": "safety", "EFFFL": "efficacy"}.get(population)
    return (adsl.filter(pl.col(population).cast(pl.String) == "Y"),
            (f"{name} population " if name else "") + f"(ADSL {population} = \"Y\")")


def _group_labels(adsl: pl.DataFrame, group: str, arms: list[Arm] | None) -> list[str]:
    if arms is not None:
        return [a.label for a in arms]
    companion = f"{group}N"
    cols = [group] + ([companion] if companion in adsl.columns and adsl.schema[companion].is_numeric() else [])
    rows = adsl.select(cols).filter(pl.col(group).is_not_null()).unique(subset=[group], keep="first")
    order = {r[group]: r.get(companion) for r in rows.iter_rows(named=True)}
    return sorted(order, key=lambda g: (order[g] is None, order[g] if order[g] is not None else 0.0, g))


# ----------------------------------------------------------------------------- statistics
def _quantile7(sorted_values: list[float], p: float) -> float:
    h = (len(sorted_values) - 1) * p
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def _continuous(values: list[float | None]) -> dict[str, float | None]:
    vals = sorted(v for v in values if v is not None and not math.isnan(v))
    n = len(vals)
    if n == 0:
        return {"n": 0.0} | {s: None for s in ("mean", "sd", "median", "q1", "q3", "min", "max")}
    mean = math.fsum(vals) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else None
    return {"n": float(n), "mean": mean, "sd": sd, "median": _quantile7(vals, 0.5), "q1": _quantile7(vals, 0.25),
            "q3": _quantile7(vals, 0.75), "min": vals[0], "max": vals[-1]}


def _categorical(values: list[str | None], levels: list[str], n_group: int) -> dict[str, tuple[float, float | None]]:
    """category -> (count, percent of the group's subjects); "Missing" only when some value is missing."""
    out = {}
    for level in levels:
        k = sum(1 for v in values if v == level)
        out[level] = (float(k), 100.0 * k / n_group if n_group else None)
    missing = sum(1 for v in values if v is None)
    if missing:
        out[MISSING] = (float(missing), 100.0 * missing / n_group)
    return out


def _natural(level: str) -> tuple:
    """"<65" < "65-80" < ">80"; "<25" < "25-<30" < ">=30"; levels with no number after, alphabetically."""
    m = re.search(r"\d+(\.\d+)?", level)
    if m is None:
        return (1, 0.0, 0, level)
    prefix = level[:m.start()].strip()
    return (0, float(m.group()), 0 if prefix.startswith("<") else 2 if prefix.startswith(">") else 1, level)


def _levels(subjects: pl.DataFrame, name: str, values: pl.Series) -> list[str]:
    present = values.drop_nulls().unique().to_list()
    companion = f"{name}N"
    if companion in subjects.columns and subjects.schema[companion].is_numeric():
        codes = (pl.DataFrame({"v": values, "c": subjects[companion].cast(pl.Float64)}).drop_nulls("v")
                 .group_by("v").agg(pl.col("c").min()))
        code = dict(zip(codes["v"].to_list(), codes["c"].to_list()))
        return sorted(present, key=lambda v: (code.get(v) is None, code.get(v) or 0.0, _natural(v)))
    return sorted(present, key=_natural)


# ----------------------------------------------------------------------------- display text
def _precision(values: list[float]) -> int:
    """Decimals the data carry (0, 1 or 2; 2 for anything finer)."""
    for d in range(2):
        if all(abs(v * 10**d - round(v * 10**d)) < 1e-6 for v in values):
            return d
    return 2


def _fixed(x: float | None, decimals: int) -> str:
    """``x`` to ``decimals`` places by trialkit's one rule (analyses/formatting.py: half away from zero); NA when
    missing."""
    return format_number(None if x is None else float(x), decimals)


def _continuous_text(s: dict[str, float | None], precision: int) -> dict[str, str]:
    d = min(precision + 1, 2)
    if not s["n"]:
        return {"n": "0", "Mean (SD)": "–", "Median": "–", "Q1, Q3": "–", "Min, Max": "–"}
    return {"n": str(int(s["n"])), "Mean (SD)": f"{_fixed(s['mean'], d)} ({_fixed(s['sd'], d)})",
            "Median": _fixed(s["median"], d), "Q1, Q3": f"{_fixed(s['q1'], d)}, {_fixed(s['q3'], d)}",
            "Min, Max": f"{_fixed(s['min'], precision)}, {_fixed(s['max'], precision)}"}


# ----------------------------------------------------------------------------- the table
def _lab_label(adlb: pl.DataFrame, paramcd: str) -> str:
    rows = adlb.filter(pl.col("PARAMCD") == paramcd)
    param = rows["PARAM"].drop_nulls().first() if "PARAM" in rows.columns else None
    unit = rows["AVALU"].drop_nulls().first() if "AVALU" in rows.columns else None
    label = param or paramcd
    if unit and f"({unit})" not in label:
        label = f"{label} ({unit})"
    return f"{label}, baseline"


def _label(name: str) -> str:
    if name in _LABELS:
        return _LABELS[name]
    source = _grouped(name)
    return f"{_LABELS[source]}, group" if source in _LABELS else name


def _lab_rows(frame: pl.DataFrame, adlb: pl.DataFrame | None) -> tuple[pl.DataFrame, list[tuple]]:
    """``frame`` with baseline lab columns joined, and their Table 1 items (variable, label, column, levels)."""
    if adlb is None or "PARAMCD" not in adlb.columns:
        return frame, []
    present = set(adlb["PARAMCD"].drop_nulls().unique().to_list())
    wanted = [p for p in ("CPSCORE", "MELD", *KEY_LABS) if p in present]
    if not wanted:
        return frame, []
    base = derive_var_base_lab(adlb, wanted).pivot(on="PARAMCD", index="USUBJID", values="AVAL")
    base = base.rename({p: f"_LB_{p}" for p in wanted if p in base.columns})
    frame = frame.join(base, on="USUBJID", how="left")
    frame = frame.with_columns(pl.lit(None, pl.Float64).alias(f"_LB_{p}") for p in wanted
                               if f"_LB_{p}" not in frame.columns)
    items = []
    if "CPSCORE" in present:
        frame = frame.with_columns(child_pugh_class(pl.col("_LB_CPSCORE")).alias("_LB_CPCLASS"))
        items.append(("CPCLASS", "Child-Pugh class, baseline", "_LB_CPCLASS", ["A", "B", "C"]))
        items.append(("CPSCORE", "Child-Pugh score, baseline", "_LB_CPSCORE", None))
    if "MELD" in present:
        items.append(("MELD", "MELD score, baseline", "_LB_MELD", None))
    items.extend((p, _lab_label(adlb, p), f"_LB_{p}", None) for p in KEY_LABS if p in present)
    return frame, items


def _adsl_items(subjects: pl.DataFrame, group: str, names: list[str]) -> tuple[pl.DataFrame, list[tuple]]:
    """USUBJID, _GROUP and one column per variable (Float64 or String), and the Table 1 items
    (variable, label, column, categories or None for a numeric variable)."""
    frame = subjects.select("USUBJID", pl.col(group).cast(pl.String).alias("_GROUP"))
    items = []
    for name in names:
        series = subjects[name]
        if series.dtype.is_numeric():
            frame = frame.with_columns(series.cast(pl.Float64).alias(f"_V_{name}"))
            items.append((name, _label(name), f"_V_{name}", None))
        else:
            text = series.cast(pl.String)
            frame = frame.with_columns(text.alias(f"_V_{name}"))
            items.append((name, _label(name), f"_V_{name}", _levels(subjects, name, text)))
    return frame, items


def baseline_characteristics(adsl: pl.DataFrame, adlb: pl.DataFrame | None, arms: list[Arm] | None = None,
                             variables: list[str] | None = None, *, population: str | None = None,
                             group: str = "TRT01A", labs: bool = True) -> Table1:
    """Table 1 of ``variables`` (default: ``default_variables``) by ``group`` on ``population``, with baseline labs.

    ``arms``: the groups to show, in order (their labels are values of ``group``); default every value of
    ``group`` in the order of its numeric companion (``group`` + "N"). ``population``: an ADSL Y/N flag;
    None for ITTFL when ADSL has it, else every subject; ``ALL`` for every subject.
    """
    for col in ("USUBJID", group):
        if col not in adsl.columns:
            raise ColumnNotFoundError(f"ADSL has no {col}: Table 1 needs it", "re-run trialkit ingest with it")
    names = default_variables(adsl) if variables is None else resolve_variables(adsl, list(variables))
    chosen, population_text = _population(adsl, population)
    labels = _group_labels(chosen, group, arms)
    subjects = chosen.filter(pl.col(group).cast(pl.String).is_in(labels))
    if subjects.height == 0:
        raise NoDataError(f"ADSL has no subject in the {population_text} with a {group} group: Table 1 is empty",
                          "check the population flag and the group variable")
    frame, items = _adsl_items(subjects, group, names)
    if labs:
        frame, lab_items = _lab_rows(frame, adlb)
        items += lab_items
    columns = [(g, frame.filter(pl.col("_GROUP") == g)) for g in labels] + [(TOTAL, frame)]
    long_rows: list[dict] = []
    display_rows: list[dict] = []
    for name, label, column, levels in items:
        summarise = _summarise_continuous if levels is None else _summarise_categorical
        numbers, texts = summarise(name, label, column, levels, columns, frame, first=len(display_rows) // len(columns) + 1)
        long_rows += numbers
        display_rows += texts
    groups = tuple((g, sub.height) for g, sub in columns)
    return Table1(pl.DataFrame(long_rows, schema=LONG_SCHEMA), pl.DataFrame(display_rows, schema=DISPLAY_SCHEMA),
                  groups, population_text, group)


#: the display row each statistic of a numeric variable feeds
_FEEDS = {"n": "n", "mean": "Mean (SD)", "sd": "Mean (SD)", "median": "Median", "q1": "Q1, Q3", "q3": "Q1, Q3",
          "min": "Min, Max", "max": "Min, Max"}


def _summarise_continuous(name, label, column, _levels, columns, frame, first):
    """Long rows (one per group and statistic) and display rows (one per group and display row) of a numeric one."""
    stats = {g: _continuous(sub[column].to_list()) for g, sub in columns}
    precision = _precision(frame[column].drop_nulls().drop_nans().to_list())
    texts = {g: _continuous_text(stats[g], precision) for g in stats}
    order = {row: first + i for i, row in enumerate(dict.fromkeys(_FEEDS.values()))}
    numbers = [{"variable": name, "label": label, "category": None, "group": g, "stat": stat,
                "value": stats[g][stat], "order": order[_FEEDS[stat]]} for g, _sub in columns for stat in _FEEDS]
    display = [{"variable": name, "label": label, "row": row, "group": g, "value": texts[g][row], "order": o}
               for row, o in order.items() for g, _sub in columns]
    return numbers, display


def _summarise_categorical(name, label, column, levels, columns, _frame, first):
    """Long rows (count and percent per group and category) and display rows ("n (%)") of a character variable."""
    counts = {g: _categorical(sub[column].to_list(), levels, sub.height) for g, sub in columns}
    categories = levels + ([MISSING] if any(MISSING in c for c in counts.values()) else [])
    order = {c: first + i for i, c in enumerate(categories)}
    numbers, texts = [], {}
    for g, sub in columns:
        for c in categories:
            k, pct = counts[g].get(c, (0.0, 0.0 if sub.height else None))
            texts[(g, c)] = f"{int(k)} ({_fixed(pct, 1)}%)" if pct is not None else str(int(k))
            numbers += [{"variable": name, "label": label, "category": c, "group": g, "stat": stat, "value": v,
                         "order": order[c]} for stat, v in (("count", k), ("percent", pct))]
    display = [{"variable": name, "label": label, "row": _display_category(name, c), "group": g,
                "value": texts[(g, c)], "order": o} for c, o in order.items() for g, _sub in columns]
    return numbers, display


def _display_category(name: str, category: str) -> str:
    return _SEX.get(category, category) if name == "SEX" else category


def table1_long(adsl: pl.DataFrame, adlb: pl.DataFrame | None = None, variables: list[str] | None = None, *,
                population: str | None = None, group: str = "TRT01A", labs: bool = True) -> pl.DataFrame:
    """Every Table 1 number, unrounded, in LONG_SCHEMA: ready for an Analysis Results Dataset.

    One row per variable, category, group and statistic. ``variable`` is the ADSL variable (or the lab's
    PARAMCD, CPCLASS for the Child-Pugh class); ``category`` is ADSL's value ("F", not "Female"; "Missing"
    for subjects without one) and null for numeric variables; ``group`` is the group label or "Total";
    ``stat`` is n, mean, sd, median, q1, q3, min, max (numeric variables) or count, percent (percent of the
    group's subjects in the population, 0-100); ``value`` is null where the statistic does not exist (SD of
    one value, any statistic of no value); ``order`` is the display row the number appears in. Arguments as
    for ``baseline_characteristics``. For an ARD, map variable/category/group/stat to the ARD's
    variable, variable_level, group1_level and stat_name columns.
    """
    return baseline_characteristics(adsl, adlb, None, variables, population=population, group=group, labs=labs).long
