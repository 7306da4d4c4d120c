"""A synthetic three-arm trial of any size, for `make bench`'s survival cases.

``trial(n, cache)`` returns the folders of an ADaM trial of ``n`` subjects,
writing them on first use and reusing them afterwards (a trial is the same
for the same ``n`` on every machine: the random generator is seeded by ``n``):

- ``<cache>/trial-<n>/parquet/{adsl,adtte}.parquet``, for ``trialkit ingest``;
- ``<cache>/trial-<n>/csv/{adsl,adtte}.csv``, the same rows, for R.

The design, chosen to look like a real phase III trial:

- ADSL: three arms randomised 1:1:1 (TRT01A Placebo / Low / High, TRT01AN
  0 / 1 / 2, ARMCD PBO / LOW / HIGH); two stratification factors of two levels
  each (STRAT1 "ECOG 0" / "ECOG 1-2", STRAT2 "Region A" / "Region B"); AGE
  (years, normal around 62, 18-90, whole years) and SEX (M / F); ITTFL and
  SAFFL all Y.
- ADTTE, PARAMCD OS: exponential death times with a baseline median of about
  400 days and hazard ratios 0.80 (Low) and 0.65 (High) against Placebo,
  1.02 a year of age (centred at 62), 1.20 for men, and baseline hazards that
  differ by stratum (x1.4 for ECOG 1-2, x0.85 for region B: the stratified
  Cox model has something to absorb); uniform administrative censoring over
  0-1,900 days censors about 30%. AVAL is in whole days (ceiling, at least
  1), so there are many ties, as in real data; CNSR 0 is a death, 1 a
  censoring, with EVNTDESC saying which.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["VERSION", "TrialFolders", "make_trial", "trial"]

#: Bump when the design changes: cached trials of another version are regenerated.
VERSION = 1
ARMS = (("Placebo", "PBO", 0.0, 1.0), ("Low", "LOW", 1.0, 0.80), ("High", "HIGH", 2.0, 0.65))
BASE_MEDIAN_DAYS = 400.0
CENSOR_MAX_DAYS = 1900.0


@dataclass(frozen=True)
class TrialFolders:
    n: int
    parquet: Path
    csv: Path


def make_trial(n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(ADSL, ADTTE) of a synthetic trial of ``n`` subjects; the same frames for the same ``n``."""
    rng = np.random.default_rng(20_261_201 + n)
    arm = rng.integers(0, 3, n)
    strat1 = rng.random(n) < 0.45
    strat2 = rng.random(n) < 0.40
    age = np.clip(np.rint(rng.normal(62.0, 10.0, n)), 18, 90)
    male = rng.random(n) < 0.55

    arm_hr = np.array([a[3] for a in ARMS])[arm]
    log_hazard = (np.log(arm_hr) + np.log(1.02) * (age - 62.0) + np.log(1.20) * male
                  + np.log(1.40) * strat1 + np.log(0.85) * strat2)
    rate = np.log(2.0) / BASE_MEDIAN_DAYS * np.exp(log_hazard)
    death = rng.exponential(1.0, n) / rate
    censor = rng.uniform(0.0, CENSOR_MAX_DAYS, n)
    event = death <= censor
    aval = np.maximum(np.ceil(np.minimum(death, censor)), 1.0)

    ids = pl.int_range(1, n + 1, eager=True).cast(pl.String).str.zfill(7)
    labels = pl.Series([a[0] for a in ARMS])[arm]
    codes = pl.Series([a[1] for a in ARMS])[arm]
    adsl = pl.DataFrame({
        "STUDYID": pl.repeat("TK-BENCH-SYNTHETIC", n, eager=True),
        "USUBJID": "TK-BENCH-" + ids,
        "SUBJID": ids,
        "ARM": labels,
        "ARMCD": codes,
        "TRT01P": labels,
        "TRT01A": labels,
        "TRT01AN": np.array([a[2] for a in ARMS])[arm],
        "ITTFL": pl.repeat("Y", n, eager=True),
        "SAFFL": pl.repeat("Y", n, eager=True),
        "AGE": age,
        "SEX": np.where(male, "M", "F"),
        "STRAT1": np.where(strat1, "ECOG 1-2", "ECOG 0"),
        "STRAT2": np.where(strat2, "Region B", "Region A"),
    })
    adtte = pl.DataFrame({
        "STUDYID": adsl["STUDYID"],
        "USUBJID": adsl["USUBJID"],
        "PARAMCD": pl.repeat("OS", n, eager=True),
        "PARAM": pl.repeat("Overall survival (days)", n, eager=True),
        "AVAL": aval,
        "CNSR": (~event).astype(np.int64),
        "EVNTDESC": np.where(event, "Death", "Last known alive"),
    })
    return adsl, adtte


def trial(n: int, cache: Path) -> TrialFolders:
    """The folders of the trial of ``n`` subjects under ``cache``, written unless already complete."""
    root = Path(cache) / f"trial-{n}"
    folders = TrialFolders(n, root / "parquet", root / "csv")
    done = root / "done.json"
    stamp = {"version": VERSION, "n": n}
    if done.exists() and json.loads(done.read_text()) == stamp:
        return folders
    folders.parquet.mkdir(parents=True, exist_ok=True)
    folders.csv.mkdir(parents=True, exist_ok=True)
    done.unlink(missing_ok=True)
    adsl, adtte = make_trial(n)
    for name, frame in (("adsl", adsl), ("adtte", adtte)):
        frame.write_parquet(folders.parquet / f"{name}.parquet")
        frame.write_csv(folders.csv / f"{name}.csv")
    for stale in root.glob("*.rds"):  # R's copy is made from the CSV: remake it too
        stale.unlink()
    done.write_text(json.dumps(stamp) + "\n")  # last: a half-written trial is regenerated
    return folders
