"""A synthetic three-arm trial for the safety stage at any size: ADSL, ADAE, ADLB (liver tests) and ADEX.

``make_safety_trial(n)`` returns the four frames of ``n`` subjects (the same
frames for the same ``n`` and ``seed``: numpy's generator seeded by both);
``python tests/bench/safety_synthetic.py N DIR``
writes them as DIR/{adsl,adae,adlb,adex}.parquet for ``trialkit ingest``.
Nothing here is committed data: it is made on demand for timing runs.

The design, chosen to look like a real phase III trial's safety data:

- ADSL: arms Placebo / Low / High 1:1:1 (TRT01A, TRT01AN 0 / 1 / 2); SAFFL
  "Y" for 98% of subjects; TRTSDT staggered over two years; about 3% dead
  (DTHFL "Y", DTHDT after TRTSDT).
- ADAE: a Poisson number of AEs per subject (mean ``aes_per_subject``, 5 by
  default), over 20 system organ classes of 6 preferred terms with skewed
  frequencies; AESEV mild / moderate / severe 60 / 30 / 10%; AESER "Y" 2%
  (a serious-AE listing of about 0.1 x the subjects); AEREL, AEACN, AEOUT;
  ASTDY 1-365 (5% before the first dose, TRTEMFL "N"); AESDTH "Y" on one
  AE of half the dead subjects.
- ADLB: ALT, AST and TBIL at a baseline (ABLFL "Y", day 1) and 4 later
  visits; log-normal around 0.6 x ULN, with about 0.5% of subjects given a
  hepatotoxic excursion (ALT x 5-15, bilirubin x 2.5-5: Hy's law range).
- ADEX: a dose every 28 days from day 1 to day 365.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["make_safety_trial", "write_safety_trial"]

ARMS = (("Placebo", "PBO", 0.0), ("Low", "LOW", 1.0), ("High", "HIGH", 2.0))
SOCS = [f"SOC {chr(65 + i)} disorders" for i in range(20)]
VISITS = (1, 29, 57, 113, 169)  # study days; the first is baseline
LIVER = (("ALT", "Alanine aminotransferase (U/L)", 7.0, 40.0), ("AST", "Aspartate aminotransferase (U/L)", 8.0, 40.0),
         ("TBIL", "Bilirubin (umol/L)", 3.0, 21.0))


def _flag(yes: np.ndarray) -> pl.Series:
    """"Y" where ``yes``, else null."""
    return pl.select(pl.when(pl.Series(yes)).then(pl.lit("Y"))).to_series()


def make_safety_trial(n: int, aes_per_subject: float = 5.0, seed: int = 20_261_201):
    """(ADSL, ADAE, ADLB, ADEX) of a synthetic trial of ``n`` subjects."""
    rng = np.random.default_rng([seed, n])
    arm = rng.integers(0, 3, n)
    ids = "TK-SAFE-" + pl.int_range(1, n + 1, eager=True).cast(pl.String).str.zfill(7)
    start = np.datetime64("2022-01-01") + rng.integers(0, 730, n).astype("timedelta64[D]")
    dead = rng.random(n) < 0.03
    death_day = rng.integers(30, 700, n)
    labels = pl.Series([a[0] for a in ARMS])[arm]
    adsl = pl.DataFrame({
        "STUDYID": pl.repeat("TK-SAFE-SYNTHETIC", n, eager=True), "USUBJID": ids,
        "ARM": labels, "ARMCD": pl.Series([a[1] for a in ARMS])[arm], "TRT01A": labels,
        "TRT01AN": np.array([a[2] for a in ARMS])[arm],
        "SAFFL": np.where(rng.random(n) < 0.98, "Y", "N"), "ITTFL": pl.repeat("Y", n, eager=True),
        "AGE": np.clip(np.rint(rng.normal(62.0, 10.0, n)), 18, 90), "SEX": np.where(rng.random(n) < 0.55, "M", "F"),
        "TRTSDT": start, "DTHFL": _flag(dead),
        "DTHDT": np.where(dead, start + death_day.astype("timedelta64[D]"), np.datetime64("NaT")),
    }).with_columns(pl.col("TRTSDT").cast(pl.Date), pl.col("DTHDT").cast(pl.Date))

    # ADAE: k AEs per subject; preferred terms with Zipf-like frequencies
    k = rng.poisson(aes_per_subject, n)
    subj = np.repeat(np.arange(n), k)
    m = subj.size
    n_pt = len(SOCS) * 6
    weights = 1.0 / np.arange(1, n_pt + 1) ** 0.8
    pt = rng.choice(n_pt, m, p=weights / weights.sum())
    soc = pt % len(SOCS)
    day = rng.integers(1, 366, m)
    before = rng.random(m) < 0.05
    day = np.where(before, -rng.integers(1, 15, m), day)
    fatal = np.zeros(m, dtype=bool)
    first_of = np.concatenate([[0], np.cumsum(k)[:-1]])
    fatal_subjects = np.flatnonzero(dead & (k > 0) & (rng.random(n) < 0.5))
    fatal[first_of[fatal_subjects]] = True
    serious = (rng.random(m) < 0.02) | fatal
    sev = rng.choice(np.array(["MILD", "MODERATE", "SEVERE"]), m, p=[0.6, 0.3, 0.1])
    pt_name = pl.Series([f"Term {i:03d}" for i in range(n_pt)])[pt]
    adae = pl.DataFrame({
        "STUDYID": pl.repeat("TK-SAFE-SYNTHETIC", m, eager=True), "USUBJID": ids[subj],
        "AETERM": pt_name.str.to_lowercase(), "AEDECOD": pt_name, "AEBODSYS": pl.Series(SOCS)[soc],
        "AESEV": sev, "AESER": np.where(serious, "Y", "N"),
        "AEREL": rng.choice(np.array(["NOT RELATED", "POSSIBLY RELATED", "RELATED"]), m, p=[0.5, 0.3, 0.2]),
        "AEACN": rng.choice(np.array(["DOSE NOT CHANGED", "DRUG WITHDRAWN", "NOT APPLICABLE"]), m, p=[0.85, 0.03, 0.12]),
        "AEOUT": np.where(fatal, "FATAL", "RECOVERED/RESOLVED"),
        "ASTDT": start[subj] + np.where(day > 0, day - 1, day).astype("timedelta64[D]"),
        "ASTDY": day.astype(np.int64), "TRTEMFL": np.where(before, "N", "Y"), "AESDTH": np.where(fatal, "Y", "N"),
    }).with_columns(pl.col("ASTDT").cast(pl.Date))

    # ADLB: ALT, AST, TBIL x visits; a few subjects with a hepatotoxic excursion
    v = len(VISITS)
    hepatic = rng.random(n) < 0.005
    frames = []
    for code, name, lo, hi in LIVER:
        s = np.repeat(np.arange(n), v)
        visit = np.tile(np.arange(v), n)
        aval = hi * 0.6 * np.exp(rng.normal(0.0, 0.35, n * v))
        bump = hepatic[s] & (visit >= 2)
        factor = rng.uniform(5, 15, n * v) if code != "TBIL" else rng.uniform(2.5, 5, n * v)
        aval = np.round(np.where(bump, aval * factor, aval), 1)
        frames.append(pl.DataFrame({
            "STUDYID": pl.repeat("TK-SAFE-SYNTHETIC", n * v, eager=True), "USUBJID": ids[s],
            "PARAMCD": pl.repeat(code, n * v, eager=True), "PARAM": pl.repeat(name, n * v, eager=True),
            "AVAL": aval, "AVISITN": np.array(VISITS, dtype=np.float64)[visit],
            "ADY": np.array(VISITS, dtype=np.int64)[visit], "ABLFL": _flag(visit == 0),
            "A1LO": np.full(n * v, lo), "A1HI": np.full(n * v, hi),
        }))
    adlb = pl.concat(frames).sort("USUBJID", "PARAMCD", "ADY")

    doses = np.arange(1, 366, 28)
    d = doses.size
    adex = pl.DataFrame({"USUBJID": ids[np.repeat(np.arange(n), d)], "EXTRT": pl.repeat("Drug", n * d, eager=True),
                         "EXDOSE": np.full(n * d, 100.0), "EXDOSU": pl.repeat("mg", n * d, eager=True),
                         "ASTDY": np.tile(doses, n).astype(np.int64)})
    return adsl, adae, adlb, adex


def write_safety_trial(n: int, folder: Path, aes_per_subject: float = 5.0) -> Path:
    """Write DIR/{adsl,adae,adlb,adex}.parquet of ``make_safety_trial(n)``; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(("adsl", "adae", "adlb", "adex"), make_safety_trial(n, aes_per_subject)):
        frame.write_parquet(folder / f"{name}.parquet")
    return folder


if __name__ == "__main__":  # python tests/bench/safety_synthetic.py N DIR
    write_safety_trial(int(sys.argv[1]), Path(sys.argv[2]))
