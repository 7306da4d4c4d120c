"""Median follow-up by the reverse Kaplan-Meier method, as R's ``survival`` computes it.

The reverse Kaplan-Meier curve swaps the roles of the two outcomes: a
censoring (CNSR = 1) is the "event", an event (CNSR = 0) censors. Its median
is the median potential follow-up: how long subjects would have been followed
had none of them had the event (Schemper and Smith, 1996). Each number here is

    survfit(Surv(AVAL, CNSR) ~ 1, data, conf.type = "log", conf.int = conf_level)       # All subjects
    survfit(Surv(AVAL, CNSR) ~ TRT01A, data, conf.type = "log", conf.int = conf_level)  # each arm

and its ``print(fit)`` median with LCL and UCL (survmean's search: the first
time the curve, resp. its lower and upper limit, is <= 0.5; on an exact 0.5
stretch, the midpoint of its start and the next drop).

The limits are always log limits (exp(log S -/+ z se(log S))), whatever
confidence-limit type the run uses for S(t): follow-up is a description of
the trial, reported the same way in every run.
"""

from __future__ import annotations

import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.analyses.survival.km import SURVIVAL_DATA_HINT, km_medians, km_table
from trialkit.schemas.errors import DataError, UsageError

__all__ = ["ALL_SUBJECTS", "FOLLOW_UP_SCHEMA", "median_follow_up"]

#: the label of the row over every subject of the given arms
ALL_SUBJECTS = "All subjects"
FOLLOW_UP_SCHEMA = {"group": pl.String, "n": pl.Int64, "median": pl.Float64, "lower": pl.Float64, "upper": pl.Float64}
CONF_TYPE = "log"


def median_follow_up(data: pl.DataFrame, groups: list[str], conf_level: float = 0.95) -> pl.DataFrame:
    """group, n, median, lower, upper: the reverse Kaplan-Meier median follow-up, "All subjects" first, then each arm.

    ``data`` is the survival data (TRT01A, AVAL in days, CNSR 0 = event / 1 = censored, one row per subject);
    only the rows of ``groups`` count, in "All subjects" too. An arm without subjects has n = 0 and null
    estimates; so does a curve that never falls to 0.5 (more than half of the subjects had the event before
    being censored), and a limit that never does.
    """
    require_columns(data, ("TRT01A", "AVAL", "CNSR"), dataset="the survival data", purpose="the median follow-up",
                    hint=SURVIVAL_DATA_HINT)
    if not 0 < conf_level < 1:  # also NaN
        raise UsageError(f"--conf-level {conf_level} is not between 0 and 1", "use for example --conf-level 0.95")
    rows = data.select("TRT01A", "AVAL", "CNSR").filter(pl.col("TRT01A").is_in(list(groups)))  # only what it reads
    odd = rows.filter(~pl.col("CNSR").is_in([0, 1]) | pl.col("CNSR").is_null())
    if odd.height:
        values = ", ".join(str(v) for v in odd["CNSR"].unique(maintain_order=True).head(5).to_list())
        raise DataError(f"the survival data, column CNSR: {odd.height} row(s) are neither 0 (event) nor 1 (censored): "
                        f"{values}", "fix CNSR in ADTTE and re-run trialkit ingest")
    reverse = rows.with_columns((1 - pl.col("CNSR")).alias("CNSR"))
    overall = reverse.with_columns(pl.lit(ALL_SUBJECTS).alias("TRT01A"))
    labels = [ALL_SUBJECTS, *groups]
    medians = pl.concat([
        km_medians(km_table(overall, [ALL_SUBJECTS], CONF_TYPE, conf_level)).with_columns(pl.lit(0).alias("_block")),
        km_medians(km_table(reverse, list(groups), CONF_TYPE, conf_level)).with_columns(pl.lit(1).alias("_block")),
    ])
    counts = dict(rows.group_by("TRT01A").len().iter_rows())
    n = [rows.height, *(int(counts.get(g, 0)) for g in groups)]
    frame = pl.DataFrame({"group": labels, "n": n, "_block": [0] + [1] * len(groups)},
                         schema={"group": pl.String, "n": pl.Int64, "_block": pl.Int32})
    out = frame.join(medians.rename({"arm": "group"}).with_columns(pl.col("_block").cast(pl.Int32)),
                     on=["group", "_block"], how="left", maintain_order="left")
    return out.select(list(FOLLOW_UP_SCHEMA)).cast(FOLLOW_UP_SCHEMA)
