"""The scale suite's data: a simulated trial of N subjects (``trialkit simulate``) and R's copy of it.

    python scale_data.py N FOLDER TRIALKIT

makes FOLDER/parquet/ with ``trialkit simulate --subjects N --lab-subjects min(N, 125000)`` (10 lab
parameters x 8 visits, about 5 AEs per subject: 10M ADLB rows and 5M ADAE rows at a million subjects),
then FOLDER/csv/ with the columns R's side reads (survival.csv one row per subject as make_rds.R's frame;
labs.csv the post-baseline lab records with the arm; aes.csv the treatment-emergent AEs with the arm;
arms.csv the subjects per arm), written by polars' streaming engine so that memory stays bounded,
FOLDER/adam-csv/ with every ADaM dataset of parquet/ as <name>.csv shaped as trialkit did not write it
(columns in reversed order, and the extra variables XNOTE, text with a comma, and XSCORE, a float; both
derived from the row number, so the same on every run), streamed likewise, and, when Rscript is present,
FOLDER/*.rds from csv/ (r/make_scale_rds.R). Each step is skipped when its output exists; each output
appears only when complete.
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
    foreign = folder / "adam-csv"
    if not (foreign / "adsl.csv").exists():
        adam_csv(parquet, foreign)
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


#: the variables trialkit does not know that adam_csv adds to every dataset
EXTRA = ("XNOTE", "XSCORE")


def adam_csv(parquet: Path, out: Path) -> Path:
    """Every ``*.parquet`` of ``parquet`` as ``out/<name>.csv``: XNOTE, the columns in reversed order, XSCORE.

    Streamed (scan_parquet ... sink_csv), one dataset at a time; ``out`` appears only when every file is written.
    """
    import polars as pl

    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for path in sorted(parquet.glob("*.parquet")):
        frame = pl.scan_parquet(path)
        columns = frame.collect_schema().names()
        row = pl.col("_XROW")
        (frame.with_row_index("_XROW")
         .select(pl.format("free text, row {}", row).alias("XNOTE"), *reversed(columns),
                 ((row % 1000).cast(pl.Float64) / 8).alias("XSCORE"))
         .sink_csv(tmp / f"{path.stem}.csv"))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


if __name__ == "__main__":
    print(make(int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]))
