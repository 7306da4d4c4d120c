"""lifelines' Cox model on a synthetic bench trial, for `make bench`.

    python lifelines_cox.py WORKSPACE

The model of ``trialkit survival --strata STRAT1 --strata STRAT2 --covariate
AGE --covariate SEX`` and of R's ``coxph(Surv(AVAL, EVENT) ~ TRT01A + AGE +
SEX + strata(STRAT1, STRAT2))``: ``CoxPHFitter().fit`` (Efron ties) with arm
and sex as 0/1 columns (Placebo and F the references) and strata STRAT1,
STRAT2. Prints the fit's own elapsed time as BENCH_COMPUTE_S=<seconds> and its
CPU time as BENCH_COMPUTE_CPU_S (reading and shaping the data excluded), then
the coefficients.
"""

import sys
import time

import polars as pl
from lifelines import CoxPHFitter

ws = sys.argv[1]
tte = pl.read_parquet(f"{ws}/adtte.parquet").filter(pl.col("PARAMCD") == "OS")
adsl = pl.read_parquet(f"{ws}/adsl.parquet")
frame = tte.join(adsl, on="USUBJID").select(
    "AVAL",
    EVENT=1 - pl.col("CNSR"),
    LOW=(pl.col("TRT01A") == "Low").cast(pl.Int8),
    HIGH=(pl.col("TRT01A") == "High").cast(pl.Int8),
    AGE="AGE",
    MALE=(pl.col("SEX") == "M").cast(pl.Int8),
    STRAT1="STRAT1",
    STRAT2="STRAT2",
).to_pandas()
start, start_cpu = time.perf_counter(), time.process_time()
fit = CoxPHFitter().fit(frame, duration_col="AVAL", event_col="EVENT", strata=["STRAT1", "STRAT2"])
print(f"BENCH_COMPUTE_S={time.perf_counter() - start:.4f}")
print(f"BENCH_COMPUTE_CPU_S={time.process_time() - start_cpu:.4f}")
print(fit.params_.to_string())
