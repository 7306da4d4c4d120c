"""A synthetic longitudinal trial of any size, for `make bench`'s MMRM cases.

``make_mmrm_data(n_subjects, n_visits=8, n_groups=3, seed=...)`` returns
``(adsl, adlb)`` polars frames; the same arguments give the same frames on
every machine (numpy's PCG64 seeded by ``seed``), drawn without a Python loop
over subjects. ``python tests/bench/mmrm_synthetic.py N FOLDER`` writes them
as ``FOLDER/adsl.csv`` and ``FOLDER/adlb.csv`` (for ``tests/bench/r/mmrm_gls.R``).

The design, chosen to look like a real continuous-endpoint trial:

- ADSL: ``n_groups`` arms randomised with equal probability (TRT01P/TRT01A
  "Placebo", "Dose 1", "Dose 2", ...; TRT01PN/TRT01AN 0, 1, 2, ...), AGE
  (normal around 55, 18-85, whole years), SEX (M / F), ITTFL and SAFFL "Y".
- ADLB, PARAMCD "SCORE": one baseline record (AVISIT "Baseline", AVISITN 0,
  ABLFL "Y") and ``n_visits`` post-baseline visits "Week 2", "Week 4", ...
  (AVISITN 2, 4, ...). BASE is on every record (the baseline AVAL).
  BASE ~ N(50, 10^2); the change from baseline at visit j (of k) has mean
  -1.5 j/k (placebo drift) - 4 g j/k (arm g's effect grows over time)
  - 0.3 (BASE - 50), and residuals with an unstructured-looking covariance:
  standard deviations rising from 4 to 7 over the visits and correlation
  0.5 + 0.4 * 0.7^|i - j| (AR(1) on top of a subject effect), so that us,
  cs and ar1 fit differently.
- Dropout: 10% of subjects drop out at a visit drawn uniformly from the 2nd
  to the last; their records from that visit on are absent (monotone
  missingness, as in most trials). Values are rounded to 0.1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["make_mmrm_data"]

DROPOUT = 0.10


def _residual_cov(k: int) -> np.ndarray:
    sd = np.linspace(4.0, 7.0, k)
    lag = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
    corr = 0.5 + 0.4 * 0.7**lag
    np.fill_diagonal(corr, 1.0)
    return corr * np.outer(sd, sd)


def make_mmrm_data(n_subjects: int, n_visits: int = 8, n_groups: int = 3,
                   seed: int = 20_261_201) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(ADSL, ADLB) of a synthetic trial: ``n_subjects`` x (baseline + ``n_visits``), ~10% dropout."""
    if n_subjects < 1 or n_visits < 1 or n_groups < 2:
        raise ValueError("make_mmrm_data needs n_subjects >= 1, n_visits >= 1 and n_groups >= 2.")
    n, k = n_subjects, n_visits
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, n_groups, n)
    age = np.clip(np.rint(rng.normal(55.0, 12.0, n)), 18, 85)
    male = rng.random(n) < 0.5
    base = np.round(rng.normal(50.0, 10.0, n), 1)
    frac = np.arange(1, k + 1) / k
    mean = -1.5 * frac[None, :] - 4.0 * arm[:, None] * frac[None, :] - 0.3 * (base[:, None] - 50.0)
    resid = rng.standard_normal((n, k)) @ np.linalg.cholesky(_residual_cov(k)).T
    aval = np.round(base[:, None] + mean + resid, 1)
    drops = rng.random(n) < DROPOUT
    last = np.where(drops, rng.integers(1, k, n), k)  # visits kept: 1..last (a dropout keeps 1..k-1)
    observed = np.arange(1, k + 1)[None, :] <= last[:, None]

    ids = pl.int_range(1, n + 1, eager=True).cast(pl.String).str.zfill(6)
    usubjid = "TK-MMRM-" + ids
    labels = np.array(["Placebo"] + [f"Dose {g}" for g in range(1, n_groups)])[arm]
    adsl = pl.DataFrame({
        "STUDYID": pl.repeat("TK-MMRM-SYNTHETIC", n, eager=True),
        "USUBJID": usubjid,
        "ARM": labels,
        "TRT01P": labels,
        "TRT01PN": arm.astype(np.float64),
        "TRT01A": labels,
        "TRT01AN": arm.astype(np.float64),
        "ITTFL": pl.repeat("Y", n, eager=True),
        "SAFFL": pl.repeat("Y", n, eager=True),
        "AGE": age,
        "SEX": np.where(male, "M", "F"),
    })
    # Records: baseline then visits, subject-major; the absent (dropped-out) ones are filtered away.
    visit_no = np.tile(np.arange(0, k + 1), n)
    subject = np.repeat(np.arange(n), k + 1)
    values = np.concatenate([base[:, None], aval], axis=1).ravel()
    keep = np.concatenate([np.ones((n, 1), bool), observed], axis=1).ravel()
    visit_names = np.array(["Baseline"] + [f"Week {2 * j}" for j in range(1, k + 1)])
    adlb = pl.DataFrame({
        "STUDYID": pl.repeat("TK-MMRM-SYNTHETIC", int(keep.sum()), eager=True),
        "USUBJID": usubjid.to_numpy()[subject[keep]],
        "PARAMCD": pl.repeat("SCORE", int(keep.sum()), eager=True),
        "PARAM": pl.repeat("Symptom score (points)", int(keep.sum()), eager=True),
        "AVISIT": visit_names[visit_no[keep]],
        "AVISITN": (2.0 * visit_no[keep]),
        "AVAL": values[keep],
        "BASE": base[subject[keep]],
        "ABLFL": np.where(visit_no[keep] == 0, "Y", None),
    })
    return adsl, adlb


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python tests/bench/mmrm_synthetic.py N_SUBJECTS FOLDER", file=sys.stderr)
        return 2
    folder = Path(argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    adsl, adlb = make_mmrm_data(int(argv[0]))
    adsl.write_csv(folder / "adsl.csv")
    adlb.write_csv(folder / "adlb.csv")
    print(f"wrote {folder}/adsl.csv ({adsl.height} rows), {folder}/adlb.csv ({adlb.height} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
