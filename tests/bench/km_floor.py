"""The least work any Kaplan-Meier estimate needs, as a lower bound for `make bench`.

    python km_floor.py WORKSPACE

Reads the workspace's ADTTE and ADSL Parquet files, keeps PARAMCD OS, joins
TRT01A by USUBJID, counts subjects and deaths per arm and distinct AVAL, and
takes the cumulative sums that give the numbers at risk and S(t). No checks,
no confidence limits, no test, no output files: `trialkit survival --no-plot
--no-cox` does all of this and more, so its wall time over this script's is
the overhead of everything else.
"""

import sys

import polars as pl

ws = sys.argv[1]
tte = pl.scan_parquet(f"{ws}/adtte.parquet").filter(pl.col("PARAMCD") == "OS").select("USUBJID", "AVAL", "CNSR")
arms = pl.scan_parquet(f"{ws}/adsl.parquet").select("USUBJID", "TRT01A")
km = (
    tte.join(arms, on="USUBJID")
    .group_by("TRT01A", "AVAL")
    .agg(n=pl.len(), d=(pl.col("CNSR") == 0).sum())
    .sort("TRT01A", "AVAL")
    .with_columns(at_risk=pl.col("n").sum().over("TRT01A") - pl.col("n").cum_sum().over("TRT01A") + pl.col("n"))
    .with_columns(surv=(1 - pl.col("d") / pl.col("at_risk")).log().cum_sum().over("TRT01A").exp())
    .collect()
)
print(km.group_by("TRT01A").agg(pl.col("surv").last(), pl.len()))
