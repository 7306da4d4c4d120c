"""Imputation of missing scheduled visits in a BDS dataset: last observation carried forward.

``derive_locf`` adds ADaM LOCF records (DTYPE = "LOCF"), as the CDISC pilot's ADQSADAS does
for its week 8, 16 and 24 analyses. In R terms, for each subject and parameter::

    post <- bds[bds$AVISIT %in% visits & !is.na(bds$AVAL), ]      # observed post-baseline
    for each visit v in visits without an observed record:
        src <- the observed record of the latest visit before v (in visits order), if any
        add src with AVISIT = v, AVISITN = v's AVISITN, DTYPE = "LOCF"

(the loop in tests/reference/make_ancova_reference.R, checked against this polars code).
SAS users know it as the DATA step with RETAIN over the sorted visits.
"""

from __future__ import annotations

import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.schemas.errors import DataError, UsageError

__all__ = ["derive_locf"]

_KEYS = ["USUBJID", "PARAMCD"]


def derive_locf(bds: pl.DataFrame, visits: list[str]) -> pl.DataFrame:
    """Add LOCF records (DTYPE = "LOCF") for the scheduled post-baseline visits a subject missed.

    ``bds``: a BDS dataset with USUBJID, PARAMCD, AVISIT, AVISITN, AVAL and optionally CHG,
    BASE, DTYPE. ``visits``: the scheduled post-baseline visits (AVISIT values) in time order;
    baseline must not be among them.

    Steps, per USUBJID and PARAMCD:

    1. An observed record is one at a visit of ``visits`` with a non-missing AVAL.
    2. Every visit of ``visits`` without an observed record, and after the subject's first
       observed one, gets a new record copied from the observed record of the latest earlier
       visit: AVAL, CHG, BASE and every other column carried, AVISIT and AVISITN set to the
       missed visit's (AVISITN as the data give it for that AVISIT), DTYPE = "LOCF". This fills
       the visits after the last observed one and also intermittent missed visits; a subject
       with no observed post-baseline record gets nothing (a value is never carried from
       baseline).
    3. Observed records are returned unchanged with DTYPE null (the column is added when
       absent); rows are sorted by USUBJID, PARAMCD, AVISITN, the LOCF record after any
       record with a missing AVAL at the same visit.

    If ``bds`` already has DTYPE = "LOCF" records, it is returned unchanged.
    """
    require_columns(bds, [*_KEYS, "AVISIT", "AVISITN", "AVAL"], dataset="the BDS dataset", purpose="LOCF")
    if "DTYPE" in bds.columns and bds.select((pl.col("DTYPE") == "LOCF").any()).item():
        return bds
    visits = list(visits)
    if not visits or len(set(visits)) != len(visits):
        raise UsageError(f"LOCF needs the scheduled post-baseline visits, each once; got {visits}",
                         "pass the AVISIT values of the scheduled visits after baseline, in time order")
    if "DTYPE" not in bds.columns or bds.schema["DTYPE"] == pl.Null:
        out = bds.with_columns(pl.lit(None, dtype=pl.String).alias("DTYPE"))
    else:
        out = bds
    aval = pl.col("AVAL")
    observed = aval.is_not_null() & (aval.is_not_nan() if bds.schema["AVAL"].is_float() else pl.lit(True))
    schedule = pl.DataFrame({"AVISIT": visits, "_pos": range(len(visits))},
                            schema={"AVISIT": bds.schema["AVISIT"], "_pos": pl.Int64})
    visitn = (out.filter(pl.col("AVISIT").is_in(visits) & pl.col("AVISITN").is_not_null())
              .group_by("AVISIT").agg(pl.col("AVISITN").first()))
    conflict = (out.filter(pl.col("AVISIT").is_in(visits)).group_by("AVISIT")
                .agg(pl.col("AVISITN").drop_nulls().n_unique().alias("k")).filter(pl.col("k") > 1))
    if conflict.height:
        raise DataError(f"LOCF: AVISIT {', '.join(sorted(conflict['AVISIT']))} has more than one AVISITN",
                        "give each scheduled visit one AVISITN before deriving LOCF")
    schedule = schedule.join(visitn, on="AVISIT", how="left")
    sources = (out.with_row_index("_row").filter(observed).join(schedule.select("AVISIT", "_pos"), on="AVISIT")
               .group_by([*_KEYS, "_pos"]).agg(pl.col("_row").max()))
    grid = (sources.select(_KEYS).unique().join(schedule, how="cross")
            .join(sources, on=[*_KEYS, "_pos"], how="left")
            .sort([*_KEYS, "_pos"])
            .with_columns(pl.col("_row").forward_fill().over(_KEYS).alias("_source"))
            .filter(pl.col("_row").is_null() & pl.col("_source").is_not_null()))
    if grid.height == 0:
        return out.sort([*_KEYS, "AVISITN"], maintain_order=True, nulls_last=True)
    carried = out[grid["_source"].to_numpy()].with_columns(
        grid["AVISIT"].alias("AVISIT"),
        grid["AVISITN"].cast(bds.schema["AVISITN"]).alias("AVISITN"),
        pl.lit("LOCF", dtype=out.schema["DTYPE"]).alias("DTYPE"),
    )
    return pl.concat([out, carried]).sort([*_KEYS, "AVISITN"], maintain_order=True, nulls_last=True)
