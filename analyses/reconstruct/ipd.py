"""Reconstructed patients for every arm, and their ADaM form (ADSL, ADTTE) for trialkit's other stages.

``reconstruct_trial`` cleans the inputs (``inputs``), runs Guyot et al.'s algorithm on each arm
(``guyot.reconstruct_arm``) and returns the patients (group, time, event) with a per-arm summary:
n, events, censored, the reported events, and the largest difference between the published and the
reconstructed numbers at risk.

``derive_adam`` turns the patients into ADSL (STUDYID, USUBJID, ARM, TRT01P, TRT01A, TRT01AN in the arms'
order, SAFFL = ITTFL = "Y") and ADTTE (STUDYID, USUBJID, PARAMCD, PARAM, AVAL in days, CNSR 0 = event /
1 = censored, EVNTDESC, CNSDTDSC). Times are converted to days with a day = 1, week = 7, month =
365.25 / 12 and year = 365.25 days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from trialkit.analyses.reconstruct.guyot import reconstruct_arm
from trialkit.analyses.reconstruct.inputs import add_at_risk_points, check_at_risk, check_groups, clean_curves
from trialkit.schemas.errors import DataError

__all__ = ["DAYS_PER", "METHOD", "IPD_SCHEMA", "SUMMARY_SCHEMA", "Reconstruction", "reconstruct_trial",
           "derive_adam", "default_paramcd"]

DAYS_PER = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12, "years": 365.25}
METHOD = ("Guyot P, Ades AE, Ouwens MJNM, Welton NJ. Enhanced secondary analysis of survival data: reconstructing "
          "the data from published Kaplan-Meier survival curves. BMC Med Res Methodol 2012;12:9")
IPD_SCHEMA = {"group": pl.String, "time": pl.Float64, "event": pl.Int64}
SUMMARY_SCHEMA = {"group": pl.String, "n": pl.Int64, "events": pl.Int64, "censored": pl.Int64,
                  "events_reported": pl.Int64, "risk_times": pl.Int64, "risk_max_diff": pl.Int64}
_SURVIVAL = re.compile(r"surviv|death", re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class Reconstruction:
    """The reconstructed patients (``IPD_SCHEMA``, arms in order), the per-arm summary (``SUMMARY_SCHEMA``), the
    arms in order, the cleaned curves and what cleaning did (``scale``, ``clamped``, ``dropped_risk_rows``)."""

    ipd: pl.DataFrame
    summary: pl.DataFrame
    groups: tuple[str, ...]
    curves: pl.DataFrame
    scale: str
    clamped: int
    dropped_risk_rows: int


def reconstruct_trial(curves: pl.DataFrame, at_risk: pl.DataFrame, events: dict[str, int] | None = None, *,
                      curves_source: str = "curves", at_risk_source: str = "at-risk table") -> Reconstruction:
    """Patients of every arm from digitised curves, a published at-risk table and (optionally) total events."""
    clean = clean_curves(curves, curves_source)
    table = check_at_risk(at_risk, at_risk_source)
    groups = check_groups(clean.curves, table, curves_source, at_risk_source)
    events = events or {}
    pointed, kept = add_at_risk_points(clean.curves, table)
    ipd_parts, rows = [], []
    for g in groups:
        arm = pointed.filter(pl.col("group") == g)
        risk = kept.filter(pl.col("group") == g)
        n0 = int(risk["n_risk"][0])
        if g in events and events[g] > n0:
            raise DataError(f"--events gives {events[g]} events for arm {g!r}, more than its {n0} patients at time 0",
                            "check the total events and the at-risk table")
        r = reconstruct_arm(arm["time"].to_numpy(), arm["survival"].to_numpy(), risk["time"].to_numpy(),
                            risk["n_risk"].to_numpy(), events.get(g))
        ipd_parts.append(pl.DataFrame({"group": g, "time": r.time, "event": r.event}, schema=IPD_SCHEMA))
        rows.append({"group": g, "n": r.n, "events": r.events, "censored": r.n - r.events,
                     "events_reported": r.events_target, "risk_times": int(r.risk_time.size),
                     "risk_max_diff": int(np.abs(r.risk_reconstructed - r.risk_published).max())})
    return Reconstruction(pl.concat(ipd_parts), pl.DataFrame(rows, schema=SUMMARY_SCHEMA), tuple(groups),
                          pointed, clean.scale, clean.clamped, table.height - kept.height)


def default_paramcd(param: str) -> str:
    """OS when the parameter's label speaks of survival or death, else TTE."""
    return "OS" if _SURVIVAL.search(param or "") else "TTE"


def derive_adam(ipd: pl.DataFrame, groups: list[str] | tuple[str, ...], *, studyid: str = "RECONSTRUCTED",
                param: str = "Overall survival", paramcd: str | None = None,
                time_unit: str = "months") -> tuple[pl.DataFrame, pl.DataFrame]:
    """ADSL and ADTTE for the reconstructed patients (module docstring); USUBJID is STUDYID-arm-number."""
    order = {g: i + 1 for i, g in enumerate(groups)}
    pts = ipd.with_columns(pl.col("group").replace_strict(order, return_dtype=pl.Int64).alias("_arm"))
    pts = pts.with_columns((pl.int_range(pl.len()).over("_arm") + 1).alias("_seq"))
    usubjid = pl.format("{}-{}-{}", pl.lit(studyid), pl.col("_arm"), pl.col("_seq").cast(pl.String).str.zfill(4))
    pts = pts.with_columns(usubjid.alias("USUBJID"), pl.lit(studyid).alias("STUDYID"))
    adsl = pts.select(
        "STUDYID", "USUBJID", pl.col("group").alias("ARM"), pl.col("group").alias("TRT01P"),
        pl.col("group").alias("TRT01A"), pl.col("_arm").cast(pl.Float64).alias("TRT01AN"),
        pl.lit("Y").alias("SAFFL"), pl.lit("Y").alias("ITTFL"))
    event = pl.col("event") == 1
    adtte = pts.select(
        "STUDYID", "USUBJID", pl.lit(paramcd or default_paramcd(param)).alias("PARAMCD"), pl.lit(param).alias("PARAM"),
        (pl.col("time") * DAYS_PER[time_unit]).alias("AVAL"), (1 - pl.col("event")).cast(pl.Int64).alias("CNSR"),
        pl.when(event).then(pl.lit("Event (reconstructed)")).otherwise(None).alias("EVNTDESC"),
        pl.when(event).then(None).otherwise(pl.lit("Censored (reconstructed)")).alias("CNSDTDSC"))
    return adsl, adtte
