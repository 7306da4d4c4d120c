"""Quick speed check of the Cox engine (not a unit test): fit_cox on synthetic subjects.

Run from the repository root:
    .venv/bin/python tests/bench/cox_speed.py [N] [--r]
N subjects (default 1,000,000) in 3 arms, 2 strata, 2 covariates (one numeric, one binary),
exponential times rounded up to whole days (heavy ties), about 30% censored. Prints the wall
time of fit_cox (efron and breslow) and the peak RSS of the process. With --r, writes the data
to a temporary CSV and times R's coxph(Surv(time, status) ~ arm + age + sex + strata(s)) on it.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from trialkit.analyses.survival.coxfit import fit_cox


def synthetic(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, 3, n)
    stratum = rng.integers(0, 2, n)
    age = rng.normal(60, 10, n)
    sex = rng.integers(0, 2, n).astype(float)
    rate = 0.001 * np.exp(np.array([0.0, -0.2, -0.4])[arm] + 0.02 * (age - 60) + 0.3 * sex + 0.5 * stratum)
    t = np.ceil(rng.exponential(1 / rate))
    c = np.ceil(rng.uniform(0, 3000, n))
    time_ = np.minimum(t, c)
    event = (t <= c).astype(float)
    x = np.column_stack([arm == 1, arm == 2, age, sex]).astype(float)
    return time_, event, x, stratum, arm


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 1_000_000
    time_, event, x, stratum, arm = synthetic(n)
    print(f"n = {n:,}, events = {int(event.sum()):,}, distinct times = {len(np.unique(time_)):,}")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS before fitting (imports and data): {before:.0f} MB")
    for ties in ("efron", "breslow"):
        t0, c0 = time.perf_counter(), time.process_time()
        fit = fit_cox(time_, event, x, strata=stratum, ties=ties)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        print(f"{ties:8s} {dt:6.2f} s wall ({dc:.2f} s CPU), {fit.iterations} iterations, "
              f"coef = {np.round(fit.coef, 6)}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB (data itself: {(time_.nbytes + event.nbytes + x.nbytes + stratum.nbytes) / 2**20:.0f} MB)")
    if "--r" in sys.argv:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "d.csv"
            np.savetxt(path, np.column_stack([time_, event, arm, x[:, 2], x[:, 3], stratum]), delimiter=",",
                       header="time,status,arm,age,sex,s", comments="", fmt="%.10g")
            script = (f"library(survival); d <- read.csv('{path}'); d$arm <- factor(d$arm);"
                      "for (ties in c('efron', 'breslow')) { t0 <- proc.time()[3];"
                      " f <- coxph(Surv(time, status) ~ arm + age + sex + strata(s), d, ties = ties);"
                      " cat(ties, proc.time()[3] - t0, 's', format(coef(f), digits = 7), '\\n') }")
            subprocess.run(["Rscript", "-e", script], check=True)


if __name__ == "__main__":
    main()
