"""Onset of adverse events relative to the infusions (ADEX): what an infusion reaction looks like.

For each AE record of the safety population (treatment-emergent or not), the
most recent dose on or before the AE's onset day is found in ADEX, and
``days`` = onset study day - dose study day (0 = same day). ADEX and ADAE
record days, not hours, so "within 24 h" means the same or the next day
(days 0-1). Windows: "before first dose" (no dose on or before onset),
"within 24 h (day 0-1)", "2-7 days", "8-30 days", "later (> 30 days)",
"onset unknown" (no ASTDY, and no ASTDT with TRTSDT to derive it).
The onset study day is ASTDY, else ASTDT - TRTSDT (+1 on or after TRTSDT).
"""

from __future__ import annotations

import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.analyses.safety.events import (SUBJECT, AESet, SafetyPopulation, _chunked_like, count_subjects,
                                             lookup_by_runs, subject_key, value_runs)

__all__ = ["ONSET_WINDOWS", "derive_var_onset_window", "onset_table", "onset_by_term"]

ONSET_WINDOWS = ("before first dose", "within 24 h (day 0-1)", "2-7 days", "8-30 days", "later (> 30 days)",
                 "onset unknown")


def _onset_day(records: pl.DataFrame) -> pl.Expr:
    day = pl.col("ASTDY").cast(pl.Float64) if "ASTDY" in records.columns else pl.lit(None, pl.Float64)
    if "ASTDT" in records.columns and "TRTSDT" in records.columns:
        diff = (pl.col("ASTDT") - pl.col("TRTSDT")).dt.total_days().cast(pl.Float64)
        from_date = pl.when(diff >= 0).then(diff + 1).otherwise(diff)
        return pl.coalesce(day, from_date)
    return day


def derive_var_onset_window(records: pl.DataFrame, adex: pl.DataFrame, codes: pl.DataFrame | None = None) -> pl.DataFrame:
    """Add ONSETDY (onset study day), DOSEDY (most recent dose on or before it), DAYS and WINDOW.

    ``codes`` (USUBJID, ``SUBJECT``): the subject codes ``records`` carry (``AESet.codes``); with them the doses
    are matched to the records by those integers.
    """
    require_columns(adex, ("USUBJID", "ASTDY"), dataset="ADEX", purpose="the onset-relative-to-dose table")
    doses = adex.select("USUBJID", pl.col("ASTDY").cast(pl.Float64).alias("DOSEDY")).drop_nulls()
    out = records.with_columns(_onset_day(records).alias("ONSETDY"))
    dose = _by_subject(out, doses, codes) if codes is not None and SUBJECT in out.columns else None
    if dose is None:
        doses = doses.sort("DOSEDY")  # a repeated dose day matches as the same day: no unique() needed
        dose = _by_codes(out, doses)
    if dose is None:
        # the match on a narrow frame (row, subject, day): sorting and joining the whole record is what costs
        key = out.select("USUBJID", "ONSETDY").with_row_index("_i")
        known = key.filter(pl.col("ONSETDY").is_not_null()).sort("ONSETDY")
        matched = known.join_asof(doses, left_on="ONSETDY", right_on="DOSEDY", by="USUBJID", strategy="backward",
                                  check_sortedness=False)  # both sorted by day: the asof key
        dose = key.select("_i").join(matched.select("_i", "DOSEDY"), on="_i", how="left",
                                     maintain_order="left")["DOSEDY"]
    aligned = _chunked_like(dose.alias("DOSEDY").to_frame(), out)  # in the records' chunks: neither is copied
    out = (out.with_columns(dose.alias("DOSEDY")) if aligned is None or "DOSEDY" in out.columns
           else out.hstack(aligned.get_columns()))
    days = pl.col("ONSETDY") - pl.col("DOSEDY")
    window = (pl.when(pl.col("ONSETDY").is_null()).then(pl.lit(ONSET_WINDOWS[5]))
              .when(pl.col("DOSEDY").is_null()).then(pl.lit(ONSET_WINDOWS[0]))
              .when(days <= 1).then(pl.lit(ONSET_WINDOWS[1]))
              .when(days <= 7).then(pl.lit(ONSET_WINDOWS[2]))
              .when(days <= 30).then(pl.lit(ONSET_WINDOWS[3]))
              .otherwise(pl.lit(ONSET_WINDOWS[4])))
    return out.with_columns(days.alias("DAYS"), window.alias("WINDOW"))


_DAY_BITS = 24  # study days as offsets below 2^24 in the low bits of one integer key per (subject, day)


def _by_codes(out: pl.DataFrame, doses: pl.DataFrame) -> pl.Series | None:
    """DOSEDY for each row of ``out``: its subject's latest dose day on or before ONSETDY, or null -- what the
    as-of join by USUBJID gives, without it. The as-of join grouped five million AEs by a text key (11 s at a
    million subjects); here each subject is a dense integer code (from a 64-bit hash of USUBJID), subject and day
    make one integer key, and an as-of join of the sorted keys (one merge) finds the dose. None (the caller joins) when a day is not
    a whole number within +-2^23, or when two subjects share a hash: every match is checked on USUBJID itself."""
    import numpy as np

    onset = out["ONSETDY"].to_numpy().astype(np.float64)
    dose_day = doses["DOSEDY"].to_numpy().astype(np.float64)
    known = ~np.isnan(onset)
    half = 2 ** (_DAY_BITS - 1)
    for days in (onset[known], dose_day):
        if days.size and not ((np.abs(days) < half).all() and (days == np.floor(days)).all()):
            return None
    n = out.height
    if n == 0 or doses.height == 0:
        return pl.Series("DOSEDY", [None] * n, dtype=pl.Float64)
    hashed = pl.concat([out["USUBJID"], doses["USUBJID"]]).hash(seed=0)
    code = hashed.rank("dense").to_numpy().astype(np.int64)  # 1, 2, ... in hash order: small enough to shift
    dose_code = code[n:]
    rows = np.flatnonzero(known)
    keys = pl.DataFrame({
        "k": (code[:n][rows] << _DAY_BITS) + (onset[rows].astype(np.int64) + half), "row": rows})
    dose_keys = pl.DataFrame({"k": (dose_code << _DAY_BITS) + (dose_day.astype(np.int64) + half),
                              "at": np.arange(dose_code.size)})
    # sorted keys on both sides: the as-of join without a by-group is one merge
    matched = keys.sort("k").join_asof(dose_keys.sort("k"), on="k", strategy="backward", check_sortedness=False)
    rows, found = matched["row"].to_numpy(), matched["at"].is_not_null().to_numpy()
    at = matched["at"].fill_null(0).to_numpy().astype(np.int64)
    found &= dose_code[at] == code[:n][rows]                      # the same subject (code), not the one before
    hit_rows, hit_doses = rows[found], at[found]
    if not out["USUBJID"].gather(hit_rows).equals(doses["USUBJID"].gather(hit_doses)):
        return None  # a hash shared by two subjects: the join decides
    result = np.full(n, np.nan)
    result[hit_rows] = dose_day[hit_doses]
    return pl.Series("DOSEDY", result).fill_nan(None)


def _by_subject(out: pl.DataFrame, doses: pl.DataFrame, codes: pl.DataFrame) -> pl.Series | None:
    """DOSEDY for each row of ``out`` as ``_by_codes`` finds it, from the subject codes the records already carry
    (``SUBJECT``; ``codes`` maps USUBJID to them): the doses get theirs by a look-up, nothing is hashed, ranked or
    checked twice, and the sorted dose keys are searched (binary search of the sorted record keys) instead of
    joined. None (``_by_codes`` decides) when a day is not a whole number within +-2^23, is -0.0, or a record
    has no code."""
    import numpy as np

    subject = out[SUBJECT]
    if subject.null_count():
        return None
    ids, run = value_runs(doses["USUBJID"])  # ADEX lists a subject's doses together: one look-up a run
    dose_subject = lookup_by_runs(ids, run, codes).to_series()
    dose_day = doses["DOSEDY"]
    if dose_subject.null_count():  # a dose of a subject outside ``codes`` serves no record
        dose_day = dose_day.filter(dose_subject.is_not_null())
        dose_subject = dose_subject.drop_nulls()
    onset = out["ONSETDY"].to_numpy().astype(np.float64)
    dose_day = dose_day.to_numpy().astype(np.float64)
    known = ~np.isnan(onset)
    half = 2 ** (_DAY_BITS - 1)
    for days in (onset[known], dose_day):
        if days.size and not ((np.abs(days) < half).all() and (days == np.floor(days)).all()
                              and not np.signbit(days).any(where=days == 0)):
            return None
    n = out.height
    result = np.full(n, np.nan)
    rows = np.flatnonzero(known)
    if rows.size and dose_day.size:
        keys = (subject.to_numpy()[rows].astype(np.int64) << _DAY_BITS) + (onset[rows].astype(np.int64) + half)
        dose_keys = pl.Series((dose_subject.to_numpy().astype(np.int64) << _DAY_BITS)
                              + (dose_day.astype(np.int64) + half)).sort().to_numpy()
        order = pl.Series(keys).arg_sort().to_numpy()
        keys, rows = keys[order], rows[order]
        last = np.searchsorted(dose_keys, keys, side="right") - 1    # the last dose key <= the record's key
        latest = dose_keys[np.maximum(last, 0)]
        found = (last >= 0) & (latest >> _DAY_BITS == keys >> _DAY_BITS)  # of the same subject, not the one before
        result[rows[found]] = (latest[found] & (2 ** _DAY_BITS - 1)) - half
    return pl.Series("DOSEDY", result).fill_nan(None)


def _window_frame() -> pl.DataFrame:
    return pl.DataFrame({"WINDOW": list(ONSET_WINDOWS), "window_order": list(range(1, len(ONSET_WINDOWS) + 1))},
                        schema={"WINDOW": pl.String, "window_order": pl.Int64})


def onset_table(aes: AESet, population: SafetyPopulation, adex: pl.DataFrame,
                timed: pl.DataFrame | None = None) -> pl.DataFrame:
    """AE records (events) and subjects per onset window and group; percent = subjects / N.

    Every window and group appears (zero-filled), "onset unknown" only when some onset is unknown.
    ``timed``: ``derive_var_onset_window(aes.records, adex)`` when already derived (for ``onset_by_term`` too).
    Columns: window, window_order, arm, n, events, subjects, percent.
    """
    timed = derive_var_onset_window(aes.records, adex, aes.codes) if timed is None else timed
    counted = count_subjects(timed, population, ["WINDOW"]).select("WINDOW", "arm", "subjects", "events")
    full = (_window_frame().join(population.counts, how="cross")
            .join(counted, on=["WINDOW", "arm"], how="left")
            .with_columns(pl.col("subjects").fill_null(0), pl.col("events").fill_null(0))
            .with_columns(pl.when(pl.col("n") > 0).then(100.0 * pl.col("subjects") / pl.col("n"))
                          .otherwise(None).alias("percent")))
    if not timed.filter(pl.col("WINDOW") == ONSET_WINDOWS[5]).height:
        full = full.filter(pl.col("WINDOW") != ONSET_WINDOWS[5])
    return full.sort("window_order", "order").select(
        pl.col("WINDOW").alias("window"), "window_order", "arm", "n", "events", "subjects", "percent")


def onset_by_term(aes: AESet, population: SafetyPopulation, adex: pl.DataFrame,
                  timed: pl.DataFrame | None = None) -> pl.DataFrame:
    """AE records and subjects per preferred term, onset window and group (only non-empty cells).

    ``timed`` as in ``onset_table``. Columns: pt, window, window_order, arm, events, subjects.
    """
    timed = derive_var_onset_window(aes.records, adex, aes.codes) if timed is None else timed
    order = population.counts.select("arm", "order")
    return (timed.group_by("AEDECOD", "WINDOW", "ARM")
            .agg(pl.len().cast(pl.Int64).alias("events"),
                 pl.col(subject_key(timed)).n_unique().cast(pl.Int64).alias("subjects"))
            .join(_window_frame(), on="WINDOW", how="left")
            .join(order, left_on="ARM", right_on="arm", how="left")
            .sort("window_order", "AEDECOD", "order")
            .select(pl.col("AEDECOD").alias("pt"), pl.col("WINDOW").alias("window"), "window_order",
                    pl.col("ARM").alias("arm"), "events", "subjects"))
