"""The scale suite's data: a simulated trial of N subjects (``trialkit simulate``) and R's copy of it.

    python scale_data.py N FOLDER TRIALKIT

makes FOLDER/parquet/ with ``trialkit simulate --subjects N --lab-subjects min(N, 125000)`` (10 lab
parameters x 8 visits, about 5 AEs per subject: 10M ADLB rows and 5M ADAE rows at a million subjects),
then FOLDER/csv/ with the columns R's side reads (survival.csv one row per subject as make_rds.R's frame;
labs.csv the post-baseline lab records with the arm; aes.csv the treatment-emergent AEs with the arm;
arms.csv the subjects per arm), written by polars' streaming engine so that memory stays bounded, and,
when Rscript is present, FOLDER/*.rds from them (r/make_scale_rds.R). Each step is skipped when its
output exists; each output appears only when complete.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

#: subjects with labs at most (10 parameters x 8 visits: 10M ADLB records), as the issue's 10M-row ADLB
LAB_SUBJECTS = 125_000
HERE = Path(__file__).resolve().parent


def make(n: int, folder: Path, trialkit: str) -> Path:
    """The Parquet folder of the simulated trial of ``n`` subjects (made once)."""
    parquet = folder / "parquet"
    if not (parquet / "adsl.parquet").exists():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(parquet, ignore_errors=True)
        subprocess.run([trialkit, "simulate", "--subjects", str(n), "--lab-subjects", str(min(n, LAB_SUBJECTS)),
                        "--out", str(parquet)], check=True, stdout=subprocess.DEVNULL)
    csv = folder / "csv"
    if not (csv / "arms.csv").exists():
        _csv(parquet, csv)
    if shutil.which("Rscript") and not (folder / "arms.rds").exists():
        subprocess.run(["Rscript", str(HERE / "r" / "make_scale_rds.R"), str(csv), str(folder)], check=True)
    return parquet


def _csv(parquet: Path, csv: Path) -> None:
    import polars as pl

    tmp = csv.with_name(csv.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    adsl = pl.scan_parquet(parquet / "adsl.parquet").select("USUBJID", "TRT01A", "AGE", "SEX", "STRAT1", "STRAT2")
    arm = adsl.select("USUBJID", "TRT01A")
    (pl.scan_parquet(parquet / "adtte.parquet").filter(pl.col("PARAMCD") == "OS").select("USUBJID", "AVAL", "CNSR")
     .join(adsl, on="USUBJID").sink_csv(tmp / "survival.csv"))
    (pl.scan_parquet(parquet / "adlb.parquet").filter(pl.col("ABLFL").ne("Y") | pl.col("ABLFL").is_null())
     .select("USUBJID", "PARAMCD", "AVISITN", "AVAL", "BASE", (pl.col("AVAL") - pl.col("BASE")).alias("CHG"))
     .join(arm, on="USUBJID")
     .sink_csv(tmp / "labs.csv"))
    (pl.scan_parquet(parquet / "adae.parquet").filter(pl.col("TRTEMFL") == "Y")
     .select("USUBJID", "AEBODSYS", "AEDECOD").join(arm, on="USUBJID").sink_csv(tmp / "aes.csv"))
    adsl.group_by("TRT01A").agg(pl.len().alias("N")).sort("TRT01A").sink_csv(tmp / "arms.csv")
    if csv.exists():
        shutil.rmtree(csv)
    os.replace(tmp, csv)


if __name__ == "__main__":
    print(make(int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]))
