"""``trialkit simulate``: write a synthetic ADaM trial of any size (``analyses.simulate``) as Parquet files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import handles_errors, safe, stdout

#: ADLB records drawn and written at a time (one Parquet row group per dataset and chunk of subjects): bounds the
#: memory whatever N (about 0.6 GB at 10 parameters x 8 visits, i.e. 10,000 subjects a chunk)
CHUNK_LAB_RECORDS = 800_000


@handles_errors
def simulate(
    subjects: Annotated[int, typer.Option("--subjects", "-n", metavar="N", help="Number of subjects (at least 1).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Folder to create for the datasets (must not exist, or be empty).", show_default=False)],
    visits: Annotated[int, typer.Option("--visits", metavar="V", help="Scheduled lab visits per parameter, baseline included (at least 2).")] = 8,
    params: Annotated[int, typer.Option("--params", metavar="P", help="Lab parameters (the first 10 are real labs; then LB011, ...).")] = 10,
    aes_per_subject: Annotated[float, typer.Option("--aes-per-subject", metavar="K", help="Mean number of adverse events per subject (0 or more).")] = 5.0,
    seed: Annotated[int, typer.Option("--seed", metavar="S", help="Seed of the random numbers: same options, same files byte for byte.")] = 1,
    lab_subjects: Annotated[Optional[int], typer.Option("--lab-subjects", metavar="M", help="Labs (ADLB) for the first M subjects only, e.g. 10M lab records from a trial of a million subjects (default: every subject).", show_default=False)] = None,
    chunk: Annotated[Optional[int], typer.Option("--chunk-subjects", hidden=True, help="Subjects per chunk (row group).")] = None,
) -> None:
    """Write a synthetic three-arm trial of N subjects as DIR/{adsl,adtte,adlb,adae,adex}.parquet.

    Placebo / Low / High arms, two stratification factors, staggered entry,
    exponential death times (OS) with hazard ratios 0.80 and 0.65, labs at
    V visits with reference ranges and nothing after death, about K adverse
    events per subject from a fixed SOC / PT dictionary, and dosing records.
    STUDYID is TK-SYNTHETIC-SIM, so reports mark the trial as synthetic.
    Subjects are made in chunks, so memory stays bounded for any N; the
    files appear only when complete.

    Example: trialkit simulate --subjects 10000 --out sim  (then: trialkit ingest sim --workspace simws)
    """
    from trialkit.schemas.errors import UsageError

    if chunk is None:
        chunk = max(100, CHUNK_LAB_RECORDS // max(params * visits, 1))

    from trialkit.analyses.simulate import Design

    design = Design(subjects=subjects, visits=visits, params=params, aes_per_subject=aes_per_subject, seed=seed,
                    lab_subjects=lab_subjects)
    if chunk < 1:
        raise UsageError(f"--chunk-subjects {chunk} cannot be used", "give --chunk-subjects at least 1")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} already exists and is not an empty folder",
                         "choose a new --out folder, or remove that one first")

    rows = _write(out, design, chunk)

    from .tables import Table, print_table

    table = Table(f"Simulated {subjects:,} subjects into {out}/ (seed {seed})", ["dataset", "rows", "file"], left=("file",))
    for name, count in rows.items():
        table.add_row(name.upper(), f"{count:,}", f"{name}.parquet")
    console = stdout()
    print_table(console, table)
    console.print(f"Next: trialkit ingest {safe(out)} --workspace WS")


def _write(out: Path, design, chunk: int) -> dict[str, int]:
    """Draw the trial chunk by chunk into a hidden folder beside ``out``, then rename it to ``out``."""
    import os
    import shutil

    import numpy as np
    import pyarrow.parquet as pq

    from trialkit.analyses.simulate import DATASETS, simulate_chunk

    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{out.name}.simulating-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    writers: dict[str, pq.ParquetWriter] = {}
    rows = dict.fromkeys(DATASETS, 0)
    starts = list(range(1, design.subjects + 1, chunk))
    try:
        for start, child in zip(starts, np.random.SeedSequence(design.seed).spawn(len(starts))):
            stop = min(start + chunk, design.subjects + 1)
            frames = simulate_chunk(np.random.default_rng(child), start, stop, design).frames()
            for name, frame in frames.items():
                table = frame.to_arrow()
                if name not in writers:
                    writers[name] = pq.ParquetWriter(tmp / f"{name}.parquet", table.schema, compression="zstd")
                writers[name].write_table(table.cast(writers[name].schema), row_group_size=max(table.num_rows, 1))
                rows[name] += table.num_rows
        for writer in writers.values():
            writer.close()
        writers.clear()
        if out.exists():
            out.rmdir()  # empty (checked before): replaced by the finished folder
        tmp.rename(out)
    finally:
        for writer in writers.values():
            writer.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows
