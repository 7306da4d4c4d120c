"""Adverse events: safety population, treatment-emergent flag, overview, severity, listings.

Definitions (each function's docstring states its own; ``DEFINITIONS`` gathers them):

- Safety population: ADSL SAFFL = "Y" (every ADSL subject when SAFFL is absent);
  the group is TRT01A (actual treatment), in TRT01AN order. Percentages use
  the number of subjects of the group in the safety population as denominator.
- Treatment-emergent: ADAE TRTEMFL = "Y" when ADAE has TRTEMFL; otherwise
  onset on or after the first dose: ASTDY >= 1, or ASTDT >= ADSL TRTSDT when
  ASTDY is missing; an AE with no onset at all counts as treatment-emergent.
- A subject counts once per row; events count every record.
- AE records whose USUBJID is not in ADSL are excluded and counted.

Output tables use lower-case column names (``arm``, ``n``, ``subjects``,
``percent`` ...), the names of the JSON contract.

At a million subjects the counts work on integers, not text: each AE record
carries its subject's row in the population (``SUBJECT``), looked up once per
run of a subject's records; distinct subjects are counted on that code, and
the incidence and severity counts pack subject, group, SOC, PT (and severity
rank) into one 64-bit integer per TEAE. Each fast path gives exactly what the
group-by on USUBJID gives (tests/test_safety_codes.py), which is still used
when the codes cannot be made (repeated or missing USUBJID in the population).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.schemas.errors import ColumnNotFoundError, NoDataError
from trialkit.analyses.groups import Arm

__all__ = [
    "SafetyPopulation",
    "AESet",
    "NOT_RELATED",
    "SEVERITY_ORDER",
    "SUBJECT",
    "subject_key",
    "counts_by_codes",
    "value_runs",
    "lookup_by_runs",
    "safety_population",
    "teae_rule",
    "derive_var_teae",
    "select_safety_aes",
    "related_expr",
    "overview_table",
    "severity_scale",
    "severity_table",
    "sae_listing",
    "death_listing",
    "count_subjects",
    "keep_rows",
]

#: AEREL values that mean "not related"; any other value, or a missing one, counts as related.
NOT_RELATED = ("NOT RELATED", "UNRELATED", "NONE", "NO", "N", "UNLIKELY", "UNLIKELY RELATED", "REMOTE",
               "NOT SUSPECTED", "NOT APPLICABLE")
SEVERITY_ORDER = ("MILD", "MODERATE", "SEVERE")
MISSING = "MISSING"
#: the integer code of a subject in the AE records: its row in ``SafetyPopulation.subjects``. Counting distinct
#: subjects and grouping per subject by a 32-bit integer instead of the text USUBJID is what keeps the stage fast at a
#: million subjects; USUBJID stays for the listings.
SUBJECT = "_SUBJ"
#: the TEAE columns the counts read (``AESet.teae_slim``), besides the subject, ARM, AEBODSYS and AEDECOD
_COUNTED = ("AEREL", "AESER", "AESEV", "ATOXGR", "AEACN")


@dataclass(frozen=True)
class SafetyPopulation:
    """The safety population: one row per subject, and the groups with their N.

    ``subjects``: USUBJID, ARM, TRTSDT, DTHFL, DTHDT (the last three null when ADSL lacks them).
    ``counts``: arm, order, n (one row per selected group, dose order).
    """

    subjects: pl.DataFrame
    counts: pl.DataFrame
    rule: str

    @property
    def arms(self) -> list[str]:
        return self.counts["arm"].to_list()


@dataclass(frozen=True)
class AESet:
    """The AE records of the safety population, with ARM and the Boolean TEAE added.

    ``not_in_adsl_*`` count the excluded records (and subjects) whose USUBJID is
    not in ADSL; ``outside_population`` the records of ADSL subjects outside the
    safety population or the selected groups. ``codes`` (USUBJID, ``SUBJECT``):
    the subject codes the records carry in ``SUBJECT``, None when they carry none
    (then USUBJID is the subject key).
    """

    records: pl.DataFrame
    te_rule: str
    not_in_adsl_records: int
    not_in_adsl_subjects: int
    outside_population: int
    codes: pl.DataFrame | None = None

    @property
    def teae(self) -> pl.DataFrame:
        return self.records.filter(pl.col("TEAE"))

    @cached_property
    def teae_slim(self) -> pl.DataFrame:
        """The TEAE records with only what the counts read: the subject key (``subject_key``), ARM, AEBODSYS,
        AEDECOD and those of AEREL, AESER, AESEV, ATOXGR, AEACN that ADAE has. Made once (filtering every
        column of five million records, for each table, was a good part of the stage's time)."""
        r = self.records
        columns = [subject_key(r), "ARM", "AEBODSYS", "AEDECOD", *[c for c in _COUNTED if c in r.columns]]
        return r.select(*columns, "TEAE").filter(pl.col("TEAE")).drop("TEAE")

    @cached_property
    def teae_codes(self) -> dict[str, tuple] | None:
        """ARM, AEBODSYS and AEDECOD of ``teae_slim`` as dense integer codes (``_dense_codes``): made once for the
        overview, incidence and severity counts. None (the counts group by the columns) when the records carry
        no subject code or one of those columns is not text."""
        teae = self.teae_slim
        names = ("ARM", "AEBODSYS", "AEDECOD")
        if subject_key(teae) != SUBJECT or any(teae.schema[name] != pl.String for name in names):
            return None
        return {name: _dense_codes(teae[name]) for name in names}


def subject_key(records: pl.DataFrame) -> str:
    """The column that tells subjects apart in ``records``: ``SUBJECT`` when they carry it, else USUBJID."""
    return SUBJECT if SUBJECT in records.columns else "USUBJID"


def safety_population(adsl: pl.DataFrame, arms: list[Arm], flag: str | None = "SAFFL",
                      subjects: pl.Series | None = None) -> SafetyPopulation:
    """Subjects with ``flag`` = "Y" (default SAFFL; everyone when ADSL lacks it or ``flag`` is None), restricted to
    ``subjects`` (the USUBJIDs of a subgroup) when given, in the selected groups (TRT01A)."""
    require_columns(adsl, ("USUBJID", "TRT01A"), dataset="ADSL", purpose="the safety analysis")
    if flag is not None and flag in adsl.columns:
        pop = adsl.filter(pl.col(flag) == "Y")
        rule = f'ADSL {flag} = "Y"; group = TRT01A (actual treatment)'
    elif flag is None:
        pop = adsl
        rule = "every ADSL subject (no population flag); group = TRT01A (actual treatment)"
    else:
        pop = adsl
        rule = f"ADSL has no {flag}: every ADSL subject is in the safety population; group = TRT01A (actual treatment)"
    if subjects is not None:
        pop = pop.filter(pl.col("USUBJID").is_in(subjects.implode()))
        rule += "; restricted to the subgroup"
    labels = [a.label for a in arms]
    pop = pop.filter(pl.col("TRT01A").is_in(labels))
    if pop.height == 0:
        raise NoDataError(
            f"no ADSL subject of the groups {', '.join(labels)} is in the safety population ({rule.split(';')[0]})",
            "check SAFFL in ADSL, or choose other groups with --arm",
        )
    extra = {c: pl.col(c) if c in adsl.columns else pl.lit(None, dtype) for c, dtype in
             (("TRTSDT", pl.Date), ("DTHFL", pl.String), ("DTHDT", pl.Date))}
    subjects = pop.select(pl.col("USUBJID"), pl.col("TRT01A").alias("ARM"), **extra)
    n = subjects.group_by("ARM").len("n")
    counts = (pl.DataFrame({"arm": labels, "order": list(range(1, len(labels) + 1))},
                           schema={"arm": pl.String, "order": pl.Int64})
              .join(n.rename({"ARM": "arm"}), on="arm", how="left")
              .with_columns(pl.col("n").fill_null(0).cast(pl.Int64)))
    return SafetyPopulation(subjects, counts, rule)


def teae_rule(adae: pl.DataFrame) -> str:
    """"TRTEMFL" when ADAE carries a TRTEMFL with at least one value, else "onset"."""
    if "TRTEMFL" in adae.columns and (adae.height == 0 or adae["TRTEMFL"].null_count() < adae.height):
        return "TRTEMFL"
    return "onset"


TEAE_RULE_TEXT = {
    "TRTEMFL": 'ADAE TRTEMFL = "Y"',
    "onset": ("ADAE has no TRTEMFL: onset on or after the first dose, ASTDY >= 1 (ASTDT >= ADSL TRTSDT where "
              "ASTDY is missing); an AE without any onset counts as treatment-emergent"),
}


def derive_var_teae(adae: pl.DataFrame) -> pl.DataFrame:
    """Add TEAE (Boolean) by ``teae_rule``; the onset rule needs ASTDY, or ASTDT with TRTSDT joined."""
    if teae_rule(adae) == "TRTEMFL":
        return adae.with_columns((pl.col("TRTEMFL") == "Y").fill_null(False).alias("TEAE"))
    has_day = "ASTDY" in adae.columns
    has_date = "ASTDT" in adae.columns and "TRTSDT" in adae.columns
    if not (has_day or has_date):
        raise ColumnNotFoundError(
            "ADAE has neither TRTEMFL nor an onset (ASTDY, or ASTDT with ADSL TRTSDT): "
            "treatment-emergent AEs cannot be told apart",
            "add TRTEMFL or ASTDY to ADAE and re-run trialkit ingest",
        )
    by_day = (pl.col("ASTDY") >= 1) if has_day else pl.lit(None, pl.Boolean)
    by_date = (pl.col("ASTDT") >= pl.col("TRTSDT")) if has_date else pl.lit(None, pl.Boolean)
    return adae.with_columns(pl.coalesce(by_day, by_date, pl.lit(True)).alias("TEAE"))


def select_safety_aes(adae: pl.DataFrame, adsl: pl.DataFrame, population: SafetyPopulation) -> AESet:
    """AE records of the safety population with ARM (ADSL TRT01A) and TEAE; the rest counted, not kept.

    When the population's USUBJIDs are distinct, the records also carry ``SUBJECT`` (the subject's row in
    ``population.subjects``) and ``AESet.codes`` maps USUBJID to it.
    """
    require_columns(adae, ("USUBJID", "AEBODSYS", "AEDECOD"), dataset="ADAE", purpose="the safety analysis")
    ids, at = value_runs(adae["USUBJID"])
    known = ids.is_in(adsl["USUBJID"].implode()).gather(at)
    if known.null_count() == 0 and known.all():  # the usual case (trialkit validate quarantines orphans): no copy
        orphans, inside = adae.select("USUBJID").clear(), adae
    else:
        orphans, inside = adae.select("USUBJID").filter(~known), adae.filter(known)
    keep = population.subjects.select("USUBJID", "ARM", "TRTSDT")
    codes = None
    if keep["USUBJID"].null_count() == 0 and keep["USUBJID"].n_unique() == keep.height:
        keep = keep.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias(SUBJECT))
        codes = keep.select("USUBJID", SUBJECT)
    drop = [c for c in ("ARM", "TRTSDT", SUBJECT) if c in adae.columns]
    if codes is not None and inside.height > keep.height:
        # The inner join below keeps the AE records' order when they outnumber the subjects. The same rows:
        # each record's subject looked up once per run of equal USUBJIDs (ADAE lists a subject's records
        # together), every record kept in place, those without a subject (none, usually) dropped.
        # Joining the records on the text USUBJID, gathering every column, took 1.7 s at 1.5 million records.
        looked = lookup_by_runs(ids, at, keep)
        aligned = _chunked_like(looked, adae)  # chunks not aligned with ADAE's made every later step slow
        records = (adae.drop(drop).hstack(looked.get_columns()).rechunk() if aligned is None
                   else adae.drop(drop).hstack(aligned.get_columns()))
        if looked[SUBJECT].null_count():
            records = records.filter(pl.col(SUBJECT).is_not_null())
    else:
        records = inside.drop(drop).join(keep, on="USUBJID", how="inner")
    records = derive_var_teae(records)
    return AESet(
        records=records,
        te_rule=teae_rule(adae),
        not_in_adsl_records=orphans.height,
        not_in_adsl_subjects=orphans["USUBJID"].n_unique(),
        outside_population=inside.height - records.height,
        codes=codes,
    )


def _chunked_like(frame: pl.DataFrame, like: pl.DataFrame) -> pl.DataFrame | None:
    """``frame`` in chunks of the lengths of each column of ``like`` (None when those columns differ): side by
    side, no column needs copying into one chunk."""
    lengths = {tuple(column.chunk_lengths()) for column in like.get_columns()}
    if len(lengths) != 1:
        return None
    (lengths,) = lengths
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    return pl.concat([frame.slice(start, n) for start, n in zip(starts, lengths)], rechunk=False)


def value_runs(column: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(the value of each run of equal consecutive values of ``column``; each element's run number)."""
    import numpy as np

    runs = column.rle()
    at = np.repeat(np.arange(runs.len(), dtype=np.uint32), runs.struct.field("len").to_numpy())
    return runs.struct.field("value"), pl.Series(at)


def lookup_by_runs(ids: pl.Series, at: pl.Series, table: pl.DataFrame) -> pl.DataFrame:
    """The other columns of ``table`` (keyed by distinct USUBJID) for each element ``ids.gather(at)`` -- null
    where ``table`` lacks it -- joined once per run (``value_runs``), not once per element: what
    ``join(table, on="USUBJID", how="left", maintain_order="left")`` adds."""
    per_run = pl.DataFrame({"USUBJID": ids}).join(table, on="USUBJID", how="left", maintain_order="left")
    return per_run.drop("USUBJID").gather(at)


def related_expr(column: str = "AEREL") -> pl.Expr:
    """True when AEREL is missing or not one of ``NOT_RELATED`` (compared in upper case)."""
    rel = pl.col(column).str.strip_chars().str.to_uppercase()
    return rel.is_null() | ~rel.is_in(list(NOT_RELATED))


def count_subjects(records: pl.DataFrame, population: SafetyPopulation, keys: list[str] | None = None,
                   counted: tuple[pl.DataFrame, pl.DataFrame | None] | None = None) -> pl.DataFrame:
    """Subjects (distinct USUBJID) and events (records) per group, over every group (zero-filled).

    ``counted``: (keys..., arm, subjects, events; the distinct keys of ``records``) when already counted
    (``counts_by_codes``).
    Columns: ``keys``..., arm, order, n, subjects, events, percent (100 x subjects / n; null when n = 0).
    """
    keys = keys or []
    if counted is not None:
        counted, present = counted
    else:
        counted = records.group_by([*keys, "ARM"]).agg(
            pl.col(subject_key(records)).n_unique().cast(pl.Int64).alias("subjects"),
            pl.len().cast(pl.Int64).alias("events")
        ).rename({"ARM": "arm"})
        present = records.select(keys).unique() if keys else None
    frame = population.counts
    if keys:
        frame = present.join(frame, how="cross")
    out = frame.join(counted, on=[*keys, "arm"], how="left", nulls_equal=True).with_columns(
        pl.col("subjects").fill_null(0), pl.col("events").fill_null(0)
    )
    return out.with_columns(_percent())


def keep_rows(df: pl.DataFrame, predicate: pl.Expr) -> pl.DataFrame:
    """The rows of ``df`` where ``predicate`` is true (null counts as false), also when it is a literal.

    ``df.filter(pl.lit(True).fill_null(False))`` raises "ShapeError: filter
    predicate length of 2 doesn't match" in polars 2.1.0 on frames of more than
    about 20,000 rows: a predicate that evaluates to one value is not broadcast.
    Here it is evaluated once; one value for a frame of another height keeps
    every row (true) or none (false or null).
    """
    mask = df.select(predicate.fill_null(False)).to_series()
    if mask.len() != df.height:  # a literal: one value for the whole frame
        return df if mask.len() and mask[0] else df.clear()
    return df.filter(mask)


def _percent() -> pl.Expr:
    return pl.when(pl.col("n") > 0).then(100.0 * pl.col("subjects") / pl.col("n")).otherwise(None).alias("percent")


def _usable(df: pl.DataFrame, column: str) -> bool:
    return column in df.columns and df[column].null_count() < df.height


def _grade_expr() -> pl.Expr:
    return pl.col("ATOXGR").cast(pl.String).str.extract(r"(\d+)", 1).cast(pl.Int64, strict=False)


def _overview_categories(adae_columns: set[str], records: pl.DataFrame) -> list[tuple[str, tuple[pl.Expr, ...] | None, str]]:
    """(category, the filters on TEAE records that must all hold -- each on one variable -- or None when not
    assessable, variable) in display order; "Any TEAE" has none."""
    has = {c: _usable(records, c) or (records.height == 0 and c in adae_columns) for c in
           ("AEREL", "AESER", "AESEV", "ATOXGR", "AEACN")}
    serious = pl.col("AESER") == "Y"
    cats = [
        ("Any TEAE", (), "ADAE"),
        ("Any related TEAE", (related_expr(),) if has["AEREL"] else None, "AEREL"),
        ("Any serious TEAE", (serious,) if has["AESER"] else None, "AESER"),
        ("Any serious related TEAE", (serious, related_expr()) if has["AESER"] and has["AEREL"] else None, "AESER, AEREL"),
        ("Any severe TEAE", (pl.col("AESEV").str.to_uppercase() == "SEVERE",) if has["AESEV"] else None, "AESEV"),
    ]
    if "ATOXGR" in adae_columns:
        cats.append(("Any grade >= 3 TEAE", (_grade_expr() >= 3,) if has["ATOXGR"] else None, "ATOXGR"))
    dc = pl.col("AEACN").str.to_uppercase().str.contains("WITHDRAWN|DISCONTINU")
    cats.append(("Any TEAE leading to discontinuation", (dc,) if has["AEACN"] else None, "AEACN"))
    return cats


def _by_values(df: pl.DataFrame, predicate: pl.Expr) -> pl.Expr:
    """``predicate.fill_null(False)``, a predicate on one column of ``df``, as membership of the values where it
    holds: evaluated once per distinct value (a handful) instead of once per record (text functions on five
    million records)."""
    (column,) = set(predicate.meta.root_names())
    distinct = df.select(pl.col(column).unique())
    hits = distinct.filter(predicate.fill_null(False))[column]
    inside = pl.col(column).is_in(hits.drop_nulls().implode()).fill_null(False)
    return inside | pl.col(column).is_null() if hits.null_count() else inside


def overview_table(aes: AESet, population: SafetyPopulation, adae_columns: list[str]) -> pl.DataFrame:
    """Subjects with any TEAE, related, serious, serious and related, severe (grade >= 3), leading to
    discontinuation, and deaths (ADSL DTHFL = "Y" or any AE with AESDTH = "Y"), n (%) per group.

    A category whose ADAE variable is absent or entirely missing has null subjects and percent.
    Columns: category, order, arm, n, subjects, percent.
    """
    teae = aes.teae_slim
    subject = pl.col(subject_key(teae))
    cats = _overview_categories(set(adae_columns), aes.records)
    # distinct subjects per group among the TEAEs each category's filters keep (null = not kept)
    made: dict[str, pl.Expr] = {}  # a filter shared by two categories (serious; related) is made once
    for _c, filters, _v in cats:
        for f in filters or ():
            if str(f) not in made:
                made[str(f)] = _by_values(teae, f)
    keeps = {i: [made[str(f)] for f in filters] for i, (_c, filters, _v) in enumerate(cats, start=1)
             if filters is not None}
    if aes.teae_codes is not None:
        counted = _subjects_by_codes(teae, aes.teae_codes["ARM"], keeps)
    else:
        counted = teae.group_by("ARM").agg(
            (subject.filter(pl.all_horizontal(keep)) if keep else subject).n_unique().cast(pl.Int64).alias(f"_{i}")
            for i, keep in keeps.items()).rename({"ARM": "arm"})
    parts = []
    for i, (category, filters, _var) in enumerate(cats, start=1):
        if filters is None:
            one = population.counts.with_columns(pl.lit(None, pl.Int64).alias("subjects"),
                                                  pl.lit(None, pl.Float64).alias("percent"))
        else:
            one = _by_group(counted.select("arm", pl.col(f"_{i}").alias("subjects")), population)
        parts.append(one.select(pl.lit(category).alias("category"), pl.lit(i).cast(pl.Int64).alias("order"),
                                "arm", "n", "subjects", "percent"))
    deaths = _dead_subjects(aes, population)
    counted = count_subjects(deaths, population)
    parts.append(counted.select(pl.lit("Deaths").alias("category"), pl.lit(len(cats) + 1).cast(pl.Int64).alias("order"),
                                "arm", "n", "subjects", "percent"))
    return pl.concat(parts)


def _subjects_by_codes(teae: pl.DataFrame, arm: tuple, keeps: dict[int, list[pl.Expr]]) -> pl.DataFrame:
    """arm, then ``_i``: the distinct subjects of the group among the TEAEs where every filter of ``keeps[i]``
    holds -- the group-by's n_unique, as flags over the (subject code, group) pairs: no hashing."""
    import numpy as np

    codes, values = arm
    pair = teae[SUBJECT].to_numpy().astype(np.int64) * values.len() + codes.astype(np.int64)
    size = int(pair.max()) + 1 if pair.size else 0
    out = {"arm": values}
    for i, keep in keeps.items():
        seen = np.zeros(size, dtype=bool)
        seen[pair[teae.select(pl.all_horizontal(keep)).to_series().to_numpy()] if keep else pair] = True
        out[f"_{i}"] = pl.Series(np.bincount(np.flatnonzero(seen) % values.len(), minlength=values.len()),
                                 dtype=pl.Int64)
    return pl.DataFrame(out)


def _by_group(counted: pl.DataFrame, population: SafetyPopulation) -> pl.DataFrame:
    """``counted`` (arm, subjects) on every group of the population, zero-filled, with n and percent."""
    return (population.counts.join(counted, on="arm", how="left", nulls_equal=True)
            .with_columns(pl.col("subjects").fill_null(0)).with_columns(_percent()))


def _dead_subjects(aes: AESet, population: SafetyPopulation) -> pl.DataFrame:
    """USUBJID, ARM, SOURCE of subjects who died: ADSL DTHFL = "Y" and/or an AE with AESDTH = "Y"."""
    adsl_dead = population.subjects.select("USUBJID", "ARM", "DTHFL").filter(pl.col("DTHFL") == "Y").drop("DTHFL")
    if "AESDTH" in aes.records.columns:
        ae_dead = (aes.records.select("USUBJID", "ARM", "AESDTH").filter(pl.col("AESDTH") == "Y")
                   .select("USUBJID", "ARM").unique())
    else:
        ae_dead = adsl_dead.clear()
    if aes.codes is not None:  # a subject's USUBJID (never null) gives its group: where it died, by two flags
        both = (adsl_dead.with_columns(pl.lit(True).alias("_adsl"))
                .join(ae_dead.with_columns(pl.lit(True).alias("_ae")), on=["USUBJID", "ARM"], how="full", coalesce=True))
        return both.select("USUBJID", "ARM", pl.when(pl.col("_adsl") & pl.col("_ae")).then(pl.lit("ADSL DTHFL and ADAE AESDTH"))
                           .when(pl.col("_adsl")).then(pl.lit("ADSL DTHFL")).otherwise(pl.lit("ADAE AESDTH")).alias("SOURCE"))
    both = adsl_dead.join(ae_dead, on=["USUBJID", "ARM"], how="full", coalesce=True)
    return both.with_columns(
        pl.when(pl.col("USUBJID").is_in(adsl_dead["USUBJID"].implode()) & pl.col("USUBJID").is_in(ae_dead["USUBJID"].implode()))
        .then(pl.lit("ADSL DTHFL and ADAE AESDTH"))
        .when(pl.col("USUBJID").is_in(adsl_dead["USUBJID"].implode()))
        .then(pl.lit("ADSL DTHFL"))
        .otherwise(pl.lit("ADAE AESDTH"))
        .alias("SOURCE")
    )


def severity_scale(records: pl.DataFrame) -> str:
    """"ATOXGR" (grade 1-5) when ADAE has any toxicity grade, else "AESEV" (MILD < MODERATE < SEVERE)."""
    return "ATOXGR" if _usable(records, "ATOXGR") else "AESEV"


def _severity_rank(scale: str, columns: list[str]) -> pl.Expr:
    if scale == "ATOXGR":
        return _grade_expr()
    if "AESEV" not in columns:
        return pl.lit(None, pl.Int64)
    ranks = {s: i for i, s in enumerate(SEVERITY_ORDER, start=1)}
    return pl.col("AESEV").str.to_uppercase().replace_strict(ranks, default=None, return_dtype=pl.Int64)


def severity_table(aes: AESet, population: SafetyPopulation) -> pl.DataFrame:
    """Subjects by their maximum severity of TEAE, per row (any, SOC, PT) and group.

    A subject counts once per row, at the most severe of its TEAEs in that row
    (MILD < MODERATE < SEVERE, or ATOXGR grade); a subject whose TEAEs in the
    row all lack a severity counts under "MISSING".
    Columns: level, soc, pt, severity, severity_order, arm, n, subjects, percent.
    """
    teae = aes.teae_slim
    scale = severity_scale(teae)
    rank = _severity_rank(scale, teae.columns)
    subject = subject_key(teae)
    teae = teae.select(subject, "ARM", "AEBODSYS", "AEDECOD", rank.alias("_RANK"))
    if scale == "ATOXGR":
        labels = {g: f"GRADE {g}" for g in range(1, 6)}
    else:
        labels = {i: s for i, s in enumerate(SEVERITY_ORDER, start=1)}
    levels = [("any", []), ("soc", ["AEBODSYS"]), ("pt", ["AEBODSYS", "AEDECOD"])]
    parts = []
    sev_frame = pl.DataFrame({"severity": [*labels.values(), MISSING],
                              "severity_order": [*labels.keys(), 99]},
                             schema={"severity": pl.String, "severity_order": pl.Int64})
    coded = _worst_by_codes(teae, aes.teae_codes) if aes.teae_codes is not None else None  # teae_slim's rows
    for level, keys in levels:
        if coded is not None:
            counted, present = coded[level]
        else:
            worst = (teae.group_by([subject, "ARM", *keys]).agg(pl.col("_RANK").max())
                     .with_columns(pl.col("_RANK").fill_null(99).alias("severity_order")))
            counted = worst.group_by([*keys, "ARM", "severity_order"]).agg(pl.len().cast(pl.Int64).alias("subjects"))
            present = teae.select(keys).unique() if keys else None
        frame = population.counts.join(sev_frame, how="cross")
        if keys:
            frame = present.join(frame, how="cross")
        out = (frame.join(counted.rename({"ARM": "arm"}), on=[*keys, "arm", "severity_order"], how="left")
               .with_columns(pl.col("subjects").fill_null(0)).with_columns(_percent()))
        out = out.with_columns(
            pl.lit(level).alias("level"),
            (pl.col("AEBODSYS") if keys else pl.lit(None, pl.String)).alias("soc"),
            (pl.col("AEDECOD") if len(keys) > 1 else pl.lit(None, pl.String)).alias("pt"),
        )
        parts.append(out.select("level", "soc", "pt", "severity", "severity_order", "arm", "order", "n", "subjects", "percent"))
    table = pl.concat(parts)
    if not teae["_RANK"].null_count():
        table = table.filter(pl.col("severity") != MISSING)
    return table.sort(pl.col("level").replace_strict({"any": 0, "soc": 1, "pt": 2}, return_dtype=pl.Int64),
                      "soc", "pt", "order", "severity_order", nulls_last=False).drop("order")


def _dense_codes(column: pl.Series):
    """(codes 0, 1, ... of the distinct values of the text ``column`` as uint64, null the last code; the values
    by code). The categorical's codes, made dense: casting to Categorical is the cheapest pass over the text."""
    import numpy as np

    cat = column.cast(pl.Categorical)
    distinct = cat.unique().drop_nulls()
    physical = distinct.to_physical().to_numpy().astype(np.int64)
    order = np.argsort(physical)
    values = distinct.cast(pl.String).gather(order)
    # a null (no code) searches past every code: the last code
    codes = np.searchsorted(physical[order], cat.to_physical().fill_null(2 ** 32 - 1).to_numpy().astype(np.int64))
    if cat.null_count():
        values = values.append(pl.Series([None], dtype=pl.String))
    return codes.astype(np.uint64), values


def _worst_by_codes(teae: pl.DataFrame, coded: dict[str, tuple] | None = None
                    ) -> dict[str, tuple[pl.DataFrame, pl.DataFrame | None]] | None:
    """Per level ("any", "soc", "pt"): (keys..., ARM, severity_order, subjects: the subjects whose worst _RANK in
    the row is severity_order, null worst = 99; the distinct keys of the TEAEs) -- what grouping by subject, ARM and
    the keys and then counting gives, by sorting one integer per TEAE instead: subject code, group, SOC, PT and
    rank packed into 64 bits (None, for the group-by, when they do not fit or there is no TEAE). Sorted, the
    last key of each (subject, SOC, PT) holds its worst rank; the worst per SOC and over all are the maxima of
    those over runs of the sorted keys. ``coded``: ``AESet.teae_codes`` of these rows, when made."""
    import numpy as np

    if teae.height == 0:
        return None
    rank = teae["_RANK"]
    low = rank.min() if rank.null_count() < rank.len() else 1
    ranked = (rank - low + 1).fill_null(0)                        # 0 = no severity, else 1 + rank - lowest rank
    fields = [(teae[SUBJECT].to_numpy().astype(np.uint64), None)]
    for name in ("ARM", "AEBODSYS", "AEDECOD"):
        fields.append(coded[name] if coded is not None else _dense_codes(teae[name]))
    fields.append((ranked.cast(pl.UInt64).to_numpy(), None))
    bits = [max(int(codes.max()).bit_length(), 1) for codes, _ in fields]
    if sum(bits) > 64:
        return None
    key = np.zeros(teae.height, dtype=np.uint64)
    for (codes, _), b in zip(fields, bits):
        key = (key << np.uint64(b)) | codes
    b_arm, b_soc, b_pt, b_rank = (np.uint64(b) for b in bits[1:])
    rank_mask = (np.uint64(1) << b_rank) - np.uint64(1)

    def runs(prefix):
        starts = np.flatnonzero(np.concatenate(([True], prefix[1:] != prefix[:-1])))
        return prefix[starts], starts

    u = pl.Series(key).unique().sort().to_numpy()
    pt_group, starts = runs(u >> b_rank)                            # one (subject, ARM, SOC, PT) a run
    pt_worst = u[np.concatenate((starts[1:] - 1, [u.size - 1]))] & rank_mask  # the run's last: its largest rank
    soc_group, starts = runs(pt_group >> b_pt)
    soc_worst = np.maximum.reduceat(pt_worst, starts)
    any_group, starts = runs(soc_group >> b_soc)
    any_worst = np.maximum.reduceat(soc_worst, starts)

    def decode(cells: np.ndarray, counts: np.ndarray | None, names: list[str]) -> pl.DataFrame:
        # cells: (ARM?, SOC?, PT?, rank) packed as in the key, without the subject
        shift, parts = (int(b_rank) if counts is not None else 0), []
        for i, (name, b) in reversed(list(enumerate(zip(("ARM", "AEBODSYS", "AEDECOD"), (b_arm, b_soc, b_pt))))):
            if name in names:
                parts.append((name, fields[1 + i][1], shift, int(b)))
                shift += int(b)
        frame = _decode(cells, parts).select(names)
        if counts is None:
            return frame
        r = pl.Series("_r", cells & rank_mask).cast(pl.Int64)
        return frame.with_columns(pl.when(r == 0).then(99).otherwise(r - 1 + low).cast(pl.Int64).alias("severity_order"),
                                  pl.Series("subjects", counts).cast(pl.Int64))

    result = {}
    for level, group, worst, names, width in (
            ("pt", pt_group, pt_worst, ["AEBODSYS", "AEDECOD", "ARM"], b_arm + b_soc + b_pt),
            ("soc", soc_group, soc_worst, ["AEBODSYS", "ARM"], b_arm + b_soc),
            ("any", any_group, any_worst, ["ARM"], b_arm)):
        cells = ((group & ((np.uint64(1) << width) - np.uint64(1))) << b_rank) | worst
        cells, counts = np.unique(cells, return_counts=True)
        present = None
        if level != "any":
            keys = np.unique(group & ((np.uint64(1) << (width - b_arm)) - np.uint64(1)))  # SOC (and PT) codes
            present = decode(keys, None, names[:-1])
        result[level] = (decode(cells, counts, names), present)
    return result


def _decode(cells, parts: list[tuple[str, pl.Series, int, int]]) -> pl.DataFrame:
    """Columns ``name`` = ``values`` at the code in bits ``shift`` .. ``shift + bits`` of each packed cell."""
    import numpy as np

    return pl.DataFrame({name: values.gather(((cells >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.int64))
                         for name, values, shift, bits in parts})


def counts_by_codes(teae: pl.DataFrame, coded: dict[str, tuple]) -> dict[str, tuple[pl.DataFrame, pl.DataFrame | None]] | None:
    """Per level ("any", "soc", "pt"): (keys..., arm, subjects, events; the distinct keys of the TEAEs), what
    ``count_subjects`` groups and counts, from one integer per TEAE: subject code, group, SOC and PT packed into
    64 bits (None, for the group-by, when they do not fit or there is no TEAE). Events count the packed cells
    without the subject; subjects the distinct (subject, cell)s. ``coded``: ``AESet.teae_codes``."""
    import numpy as np

    if teae.height == 0:
        return None
    fields = [teae[SUBJECT].to_numpy().astype(np.uint64), *(coded[n][0] for n in ("ARM", "AEBODSYS", "AEDECOD"))]
    bits = [max(int(codes.max()).bit_length(), 1) for codes in fields]
    if sum(bits) > 64:
        return None
    b_arm, b_soc, b_pt = bits[1:]
    width = b_arm + b_soc + b_pt
    cell = np.zeros(teae.height, dtype=np.uint64)
    for codes, b in zip(fields[1:], bits[1:]):
        cell = (cell << np.uint64(b)) | codes
    pairs = pl.Series((fields[0] << np.uint64(width)) | cell).unique().to_numpy()  # distinct (subject, cell)
    events = pl.DataFrame({"c": cell}).group_by("c").agg(pl.len().alias("events"))
    arm = ("ARM", coded["ARM"][1])
    soc, pt = coded["AEBODSYS"][1], coded["AEDECOD"][1]
    result = {}
    for level, shift, parts in (
            ("pt", 0, [("AEBODSYS", soc, b_pt, b_soc), ("AEDECOD", pt, 0, b_pt), ("arm", arm[1], b_soc + b_pt, b_arm)]),
            ("soc", b_pt, [("AEBODSYS", soc, 0, b_soc), ("arm", arm[1], b_soc, b_arm)]),
            ("any", b_pt + b_soc, [("arm", arm[1], 0, b_arm)])):
        mask = np.uint64((1 << (width - shift)) - 1)
        distinct = pairs if shift == 0 else pl.Series(pairs >> np.uint64(shift)).unique().to_numpy()
        cells = pl.DataFrame({"c": distinct & mask}).group_by("c").agg(pl.len().alias("subjects"))
        summed = events.group_by(pl.col("c") // (1 << shift)).agg(pl.col("events").sum())
        both = cells.join(summed, on="c", how="inner").sort("c")
        c = both["c"].to_numpy()
        counted = pl.concat([_decode(c, parts), both.select(pl.col("subjects").cast(pl.Int64),
                                                              pl.col("events").cast(pl.Int64))], how="horizontal")
        present = None
        if level != "any":
            keys = np.unique(c & np.uint64((1 << (width - shift - b_arm)) - 1))
            present = _decode(keys, parts[:-1])
        result[level] = (counted, present)
    return result


def _col(df: pl.DataFrame, name: str, dtype=pl.String) -> pl.Expr:
    return pl.col(name) if name in df.columns else pl.lit(None, dtype)


def _present(df: pl.DataFrame, *names: str) -> list[str]:
    """The columns among ``names`` that ``df`` has: sort keys (a literal stand-in cannot sort a frame of 2+ rows)."""
    return [n for n in names if n in df.columns]


def sae_listing(aes: AESet, population: SafetyPopulation) -> pl.DataFrame:
    """Every serious AE (AESER = "Y") of the safety population, treatment-emergent or not.

    Columns: usubjid, arm, soc, pt, term, onset_day, severity, related, outcome, teae.
    """
    r = aes.records
    if "AESER" not in r.columns:
        r = r.clear()
    else:
        r = r.filter(pl.col("AESER") == "Y")
    order = population.counts.select(pl.col("arm").alias("ARM"), "order")
    return (r.join(order, on="ARM", how="left").sort(["order", "USUBJID", *_present(r, "ASTDY")], nulls_last=True,
                                                      maintain_order=True)
            .select(pl.col("USUBJID").alias("usubjid"), pl.col("ARM").alias("arm"), pl.col("AEBODSYS").alias("soc"),
                    pl.col("AEDECOD").alias("pt"), pl.coalesce(_col(r, "AETERM"), pl.col("AEDECOD")).alias("term"),
                    _col(r, "ASTDY", pl.Float64).alias("onset_day"), _col(r, "AESEV").alias("severity"),
                    _col(r, "AEREL").alias("related"), _col(r, "AEOUT").alias("outcome"), pl.col("TEAE").alias("teae")))


def death_listing(aes: AESet, population: SafetyPopulation) -> pl.DataFrame:
    """Subjects of the safety population who died (ADSL DTHFL = "Y" or an AE with AESDTH = "Y").

    ``term``, ``onset_day`` and ``outcome`` are those of the fatal AE(s) (AESDTH = "Y", joined by "; ")
    when ADAE records one; ``death_day`` is DTHDT - TRTSDT + 1 when ADSL has both dates.
    Columns: usubjid, arm, source, term, onset_day, outcome, death_day.
    """
    dead = _dead_subjects(aes, population)
    r = aes.records
    # only the columns used: filtering every column of the records copied them all
    r = r.select(["USUBJID", "AEDECOD", *_present(r, "ASTDY", "AEOUT", "AESDTH")])
    fatal = (r.filter(pl.col("AESDTH") == "Y") if "AESDTH" in r.columns else r.clear())
    fatal = fatal.sort(["USUBJID", *_present(fatal, "ASTDY")], nulls_last=True).group_by("USUBJID", maintain_order=True).agg(
        pl.col("AEDECOD").str.join("; ").alias("term"),
        _col(fatal, "ASTDY", pl.Float64).min().alias("onset_day"),
        _col(fatal, "AEOUT").drop_nulls().unique(maintain_order=True).str.join("; ").alias("outcome"),
    )
    dates = population.subjects.select(
        "USUBJID", _study_day(pl.col("DTHDT"), pl.col("TRTSDT")).alias("death_day"))
    order = population.counts.select(pl.col("arm").alias("ARM"), "order")
    out = dead.join(fatal, on="USUBJID", how="left").join(dates, on="USUBJID", how="left").join(order, on="ARM", how="left")
    return out.sort("order", "USUBJID").select(
        pl.col("USUBJID").alias("usubjid"), pl.col("ARM").alias("arm"), pl.col("SOURCE").alias("source"),
        pl.col("term").cast(pl.String), pl.col("onset_day").cast(pl.Float64),
        pl.when(pl.col("outcome") == "").then(None).otherwise(pl.col("outcome")).cast(pl.String).alias("outcome"),
        "death_day")


def _study_day(date: pl.Expr, start: pl.Expr) -> pl.Expr:
    """CDISC study day: date - TRTSDT + 1 on or after the first dose, date - TRTSDT before it (no day 0)."""
    days = (date - start).dt.total_days()
    return pl.when(days >= 0).then(days + 1).otherwise(days).cast(pl.Float64)
