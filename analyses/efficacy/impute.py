"""Imputation of missing scheduled visits in a BDS dataset: last observation carried forward.

``derive_locf`` adds ADaM LOCF records (DTYPE = "LOCF"), in the manner of the CDISC pilot's
ADQSADAS for its week 8, 16 and 24 analyses. In R terms, for each subject and parameter::

    post <- bds[bds$AVISIT %in% visits & !is.na(bds$AVAL), ]      # observed post-baseline
    for each visit v in visits without an observed record:
        src <- the observed record of the latest visit before v (in visits order), if any
        add src with AVISIT = v, AVISITN = v's AVISITN, DTYPE = "LOCF"

The tests check the polars code against such a loop in R (tests/reference/make_ancova_reference.R,
the pilot's Week 24 ALT records) and in plain Python (random intermittent gaps). In SAS it is
the DATA step with RETAIN over the visits sorted within subject.
"""

from __future__ import annotations

import numpy as np
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
       missed visit's (AVISITN as the data give it for that AVISIT; null for a visit no record
       in ``bds`` has), DTYPE = "LOCF". This fills the visits after the last observed one and
       also intermittent missed visits; the visits before the first observed one, and every
       visit of a subject with no observed post-baseline record, stay empty: a value is never
       carried from baseline.
    3. Observed records are returned unchanged with DTYPE null (the column is added when
       absent); rows are sorted by USUBJID, PARAMCD, AVISITN (nulls last), the LOCF record
       after any record with a missing AVAL at the same visit.

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
    visitn = (out.filter(pl.col("AVISIT").is_in(visits)).group_by("AVISIT")
              .agg(pl.col("AVISITN").drop_nulls().unique().alias("n")))
    conflict = visitn.filter(pl.col("n").list.len() > 1)
    if conflict.height:
        raise DataError(f"LOCF: AVISIT {', '.join(sorted(conflict['AVISIT']))} has more than one AVISITN",
                        "give each scheduled visit one AVISITN before deriving LOCF")
    number = dict(zip(visitn["AVISIT"], visitn["n"].list.first()))
    # Subject-parameter k, visit position v: the last observed row of each cell of a dense k x v grid.
    cells = out.select(pl.struct(_KEYS).rank("dense").cast(pl.Int64).alias("k") - 1,
                       pl.col("AVISIT").replace_strict(visits, list(range(len(visits))), default=None,
                                                       return_dtype=pl.Int64).alias("v"),
                       observed.alias("obs"))
    k = cells["k"].to_numpy()
    v = cells["v"].fill_null(-1).to_numpy()
    rows = np.flatnonzero(cells["obs"].to_numpy() & (v >= 0))
    n_visits = len(visits)
    source = np.full((int(k.max()) + 1 if len(k) else 0, n_visits), -1, dtype=np.int64)
    np.maximum.at(source, (k[rows], v[rows]), rows)  # two observed records in a cell: the later row
    # Forward fill along the visits: the position of the latest observed visit so far (-1: none yet).
    latest = np.maximum.accumulate(np.where(source >= 0, np.arange(n_visits), -1), axis=1)
    key, pos = np.nonzero((source < 0) & (latest >= 0))
    if key.size == 0:
        return out.sort([*_KEYS, "AVISITN"], maintain_order=True, nulls_last=True)
    from_rows = source[key, latest[key, pos]]
    new_visit = pl.Series("AVISIT", np.array(visits, dtype=object)[pos], dtype=pl.String)
    new_visitn = pl.Series("AVISITN", [number.get(visits[i]) for i in range(n_visits)], dtype=pl.Float64).gather(pos)
    carried = out[from_rows].with_columns(
        new_visit.cast(bds.schema["AVISIT"]),
        new_visitn.cast(bds.schema["AVISITN"]),
        pl.lit("LOCF", dtype=out.schema["DTYPE"]).alias("DTYPE"),
    )
    return pl.concat([out, carried]).sort([*_KEYS, "AVISITN"], maintain_order=True, nulls_last=True)
