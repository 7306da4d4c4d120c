"""``trialkit reconstruct``: patient-level time-to-event data from a published Kaplan-Meier figure (Guyot 2012)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import handles_errors, rendered, safe, stdout

_READS = (".csv", ".parquet")


class TimeUnit(str, Enum):
    days = "days"
    weeks = "weeks"
    months = "months"
    years = "years"


@handles_errors
def reconstruct(
    curves: Annotated[Path, typer.Option("--curves", metavar="FILE", help="Digitised curves: CSV or Parquet with columns group, time, survival (0-1 or 0-100).", show_default=False)],
    at_risk: Annotated[Path, typer.Option("--at-risk", metavar="FILE", help="Numbers at risk under the figure: CSV or Parquet with columns group, time, n_risk (a row at time 0 for every arm).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Folder for adsl.parquet and adtte.parquet (created if needed), ready for trialkit ingest.", show_default=False)],
    events: Annotated[Optional[str], typer.Option("--events", metavar="ARM=N,...|FILE", help='Total events per arm when the paper reports them: "Placebo=45,Drug=38", or a CSV/Parquet file with columns group, events.', show_default=False)] = None,
    time_unit: Annotated[TimeUnit, typer.Option(help="Unit of the figure's time axis (ADTTE AVAL is in days: week 7, month 30.4375, year 365.25 days).")] = TimeUnit.months,
    param_label: Annotated[str, typer.Option("--param-label", metavar="TEXT", help="ADTTE PARAM: what the curve shows.")] = "Overall survival",
    paramcd: Annotated[Optional[str], typer.Option(metavar="CODE", help="ADTTE PARAMCD (default: OS when the label speaks of survival or death, else TTE).", show_default=False)] = None,
    study: Annotated[str, typer.Option(metavar="ID", help="STUDYID of the reconstructed patients (USUBJID is ID-arm-number).")] = "RECONSTRUCTED",
) -> None:
    """Reconstruct patient-level data from a published Kaplan-Meier figure (Guyot et al. 2012).

    Give the curves as a digitiser exports them and the at-risk table printed
    under the figure; add the total events per arm when the paper reports them.
    Within each interval of the at-risk table, censorings are spread evenly so
    that the reconstructed number at risk meets the published one, and events
    follow the drops of the curve. The result is an approximation of the
    trial's patients, marked as reconstructed in both files (and in every
    report made from them). Input format: docs/reconstruct.md.

    Example: trialkit reconstruct --curves km.csv --at-risk risk.csv --events "Placebo=45,Drug=38" --out rec
    """
    from trialkit.analyses.ingest import METHOD_KEY, RECONSTRUCTED_KEY, SOURCES_KEY
    from trialkit.analyses.reconstruct import METHOD, check_at_risk, derive_adam, parse_events, reconstruct_trial
    from trialkit.schemas.adam import ADSL, ADTTE
    from trialkit.schemas.errors import UsageError

    from .workspace import Stage, dumps, sha256_file

    if param_label.strip() == "":
        raise UsageError("--param-label is empty", 'name the endpoint, e.g. --param-label "Overall survival"')
    if study.strip() == "":
        raise UsageError("--study is empty", "give a study identifier, e.g. --study NCT01234567")
    curves_df = _read(curves, "--curves")
    risk_df = _read(at_risk, "--at-risk")
    groups = check_at_risk(risk_df, str(at_risk))["group"].unique(maintain_order=True).to_list()
    counts, events_source = None, None
    if events is not None:
        events_path = Path(events)
        if events_path.suffix.lower() in _READS:
            events_source = events_path
            counts = _events_from_file(_read(events_path, "--events"), events_path, groups)
        else:
            counts = parse_events(events, groups)
    result = reconstruct_trial(curves_df, risk_df, counts, curves_source=str(curves), at_risk_source=str(at_risk))
    adsl, adtte = derive_adam(result.ipd, result.groups, studyid=study.strip(), param=param_label.strip(),
                              paramcd=paramcd.strip() if paramcd else None, time_unit=time_unit.value)

    sources = {"curves": {"file": curves.name, "sha256": sha256_file(curves)},
               "at_risk": {"file": at_risk.name, "sha256": sha256_file(at_risk)}}
    if events_source is not None:
        sources["events"] = {"file": events_source.name, "sha256": sha256_file(events_source)}
    elif counts:
        sources["events"] = {"reported": counts}
    options = {"curves": curves.name, "at_risk": at_risk.name, "events": events, "time_unit": time_unit.value,
               "param_label": param_label, "paramcd": paramcd, "study": study}
    with Stage(out, "reconstruct", options, creates_workspace=True) as stage:
        for role, entry in sources.items():
            if "sha256" in entry:
                stage.record_input(f"{role}:{entry['file']}", entry["sha256"])
        extra = {RECONSTRUCTED_KEY: "true", METHOD_KEY: METHOD,
                 SOURCES_KEY: dumps(sources).strip()}
        for name, df, schema in (("adsl", adsl, ADSL), ("adtte", adtte, ADTTE)):
            metadata = {**stage.metadata(schema.name, schema.version), **extra}
            stage.write_bytes(f"{name}.parquet", _parquet_bytes(df, metadata))
        with rendered() as output:
            _print(out, result, time_unit.value, counts)
    output.emit()


def _read(path: Path, option: str):
    from trialkit.schemas.errors import InputOutputError, UsageError

    from .readers import check_readable, read_table

    if not path.exists():
        raise InputOutputError(f"{option} {path} does not exist", "check the path")
    if path.suffix.lower() not in _READS:
        raise UsageError(f"{option} {path}: unsupported file type {path.suffix or '(none)'}",
                         "give a .csv or .parquet file (see docs/reconstruct.md)")
    check_readable(path)
    return read_table(path)


def _events_from_file(df, path: Path, groups: list[str]) -> dict[str, int]:
    from trialkit.schemas.errors import DataError, UsageError

    by_name = {c.strip().lower(): c for c in df.columns}
    if "group" not in by_name or "events" not in by_name:
        raise UsageError(f"{path}: the events file needs columns group, events (it has: {', '.join(df.columns)})",
                         "one row per arm: group, events")
    out: dict[str, int] = {}
    for g, e in zip(df[by_name["group"]].cast(str).to_list(), df[by_name["events"]].cast(str).to_list()):
        try:
            count = int(float(str(e).strip()))
            if count < 0 or count != float(str(e).strip()):
                raise ValueError
        except ValueError:
            raise DataError(f"{path}: arm {g!r} has events {e!r}, not a count",
                            "give a whole number, 0 or more") from None
        if str(g).strip() not in groups:
            raise UsageError(f"{path}: arm {str(g).strip()!r} is not in the at-risk table (arms: "
                             f"{', '.join(map(repr, groups))})", "spell the arms as in the at-risk table")
        out[str(g).strip()] = count
    return out


def _parquet_bytes(df, metadata: dict[str, str]) -> bytes:
    import io

    import pyarrow.parquet as pq

    table = df.to_arrow()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _print(out: Path, result, time_unit: str, counts: dict | None) -> None:
    from .tables import Table, print_table

    table = Table(f"Reconstructed into {out}/ (Guyot et al. 2012)",
                  ["arm", "patients", "events", "reported", "censored", "at-risk times", "largest miss"], left=("arm",))
    for row in result.summary.iter_rows(named=True):
        reported = "-" if row["events_reported"] is None else row["events_reported"]
        table.add_row(row["group"], row["n"], row["events"], reported, row["censored"], row["risk_times"],
                      row["risk_max_diff"])
    console = stdout()
    print_table(console, table)
    notes = [f"survival read as a {result.scale}; times in {time_unit} (ADTTE AVAL in days)"]
    if result.clamped:
        notes.append(f"{result.clamped} digitised point(s) adjusted as noise (a small rise clamped, or outside [0, 1])")
    if result.dropped_risk_rows:
        notes.append(f"{result.dropped_risk_rows} at-risk row(s) after the end of their curve not used")
    for row in result.summary.iter_rows(named=True):
        if row["events_reported"] is not None and row["events_reported"] != row["events"]:
            notes.append(f"{row['group']}: {row['events']} events reconstructed against {row['events_reported']} "
                         "reported (the total adjusts only the censoring after the last at-risk time)")
    if not counts:
        notes.append("no total events given: censoring after the last at-risk time follows the earlier intervals' rate")
    notes.append("largest miss: the largest difference between the published and the reconstructed numbers at risk")
    for note in notes:
        console.print(f"[dim]Note:[/] {safe(note)}")
    console.print("[bold]Reconstructed data, not the trial's patient data:[/] every analysis of them is an "
                  "approximation.")
    console.print(f"Next: trialkit ingest {safe(out)} --workspace WS")
