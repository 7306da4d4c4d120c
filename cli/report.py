"""``trialkit report``: a self-contained HTML report (or a Markdown summary), with a check of published claims when a claims file is given."""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import WorkspaceOpt, handles_errors, rendered, safe, stderr, stdout, workspace_from


class ReportFormat(str, Enum):
    html = "html"
    md = "md"


#: dependency versions shown in the reproducibility footer
DEPENDENCIES = ("polars", "pyarrow", "numpy", "scipy", "scikit-survival", "plotnine", "matplotlib", "great-tables",
                "pyreadstat", "dataframely", "typer")


@handles_errors
def report(
    ctx: typer.Context,
    claims: Annotated[
        Optional[Path],
        typer.Option("--claims", help="TOML file of published claims to check (default: the built-in trial's claims "
                                      "when the workspace holds it; none otherwise).", show_default=False),
    ] = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Where to write the report (default: report.html or report.md in the workspace).",
                     show_default=False),
    ] = None,
    format: Annotated[
        ReportFormat,
        typer.Option("--format", "-f", help="html: the full self-contained report; md: a short summary for CI job pages."),
    ] = ReportFormat.html,
    title: Annotated[Optional[str], typer.Option("--title", help="Report title.", show_default=False)] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 unless every claim is reproduced (a claim not reproduced or not evaluable fails; for CI gates).")
    ] = False,
    table1: Annotated[
        Optional[str],
        typer.Option("--table1", metavar="VAR,VAR,...",
                     help="ADSL variables Table 1 shows, in this order (default: AGE, AGEGR1, SEX, RACE, ETHNIC, "
                          "HEIGHTBL, WEIGHTBL, BMIBL, then the other baseline variables; those ADSL has).",
                     show_default=False),
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write the reanalysis report: provenance, Table 1, biomarkers, survival, safety, claims check, methods.

    Reads whatever the stages wrote to the workspace; a stage that has not run
    is shown as missing with the command that produces it (report never runs
    it). Output is byte-identical for identical inputs and SOURCE_DATE_EPOCH.
    Exit code: 0 written (and, with --check, every claim reproduced); 1 a claim
    not reproduced or not evaluable under --check, or data problems; 2 usage.

    Example: trialkit report --check && open trialkit-work/report.html
    """
    from trialkit.analyses.claims import all_reproduced
    from trialkit.analyses.consistency import INCONSISTENT

    from .workspace import Stage, read_manifest, trialkit_version

    ws = workspace_from(ctx, workspace)
    options = {"claims": str(claims) if claims else None, "out": str(out) if out else None, "format": format.value,
               "title": title, "check": check, "table1": table1}
    target = out if out is not None else ws / f"report.{format.value}"
    outside = None  # a report written outside the workspace: staged beside its target, switched in at the commit
    try:
        with Stage(ws, "report", options) as stage:
            inputs = _read_inputs(ws, stage, read_manifest(ws), claims, title, target)
            if table1 is not None:
                inputs = _with_table1(inputs, table1)
            inputs = _with_table1_computed(inputs)
            text = _render(inputs, format, trialkit_version())
            if inputs.table1 is not None:
                _write_table1_ard(stage, inputs.table1)
            rel = _inside(target, ws)
            if rel is not None:
                stage.write_text(rel, text)
            else:
                outside = _stage_outside(target, text)
            failed = check and ((inputs.claim_results is not None and not all_reproduced(inputs.claim_results))
                                or any(r.verdict == INCONSISTENT for r in inputs.consistency))
            with rendered() as output:  # before the commit: printing cannot fail after it
                _summarise(target, inputs)
                if failed:
                    _print_failed_claims(inputs.claim_results or (), inputs.consistency)
    except BaseException:
        if outside is not None:
            outside.unlink(missing_ok=True)
        raise
    if outside is not None:
        os.replace(outside, target)  # a rename within one folder, checked writable when it was staged
    output.emit()
    if failed:
        raise typer.Exit(1)


def _print_failed_claims(results, consistency=()) -> None:
    from trialkit.analyses.claims import NOT_REPRODUCED, PASSING

    for r in results:
        if r.verdict not in PASSING:
            colour = "red" if r.verdict == NOT_REPRODUCED else "yellow"
            reasons = "; ".join(dict.fromkeys(c.reason for c in r.checks if c.reason))
            stderr().print(f"[{colour}]claim {safe(r.claim.id)} {safe(r.verdict)}[/]: {safe(reasons)}")
    from trialkit.analyses.consistency import INCONSISTENT

    for r in consistency:
        if r.verdict == INCONSISTENT:
            stderr().print(f"[red]claim {safe(r.claim.id)} inconsistent[/] ({safe(r.claim.rule)}): "
                           f"{safe(r.outcome.explanation)}")


def _with_table1_computed(inputs):
    """``inputs`` with Table 1 computed once, for the report and the ARD (None without ADSL or its TRT01A)."""
    from dataclasses import replace

    from trialkit.analyses.report.table1 import baseline_characteristics

    if inputs.adsl is None or "TRT01A" not in inputs.adsl.columns:
        return inputs
    variables = list(inputs.table1_variables) if inputs.table1_variables else None
    return replace(inputs, table1=baseline_characteristics(inputs.adsl, inputs.adlb, None, variables))


def _write_table1_ard(stage, table) -> None:
    """Table 1's numbers into the workspace's ARD, as analysis "table1" (the report shows them)."""
    from trialkit.analyses.ard import AnalysisMeta, table1_ard

    variables = ",".join(dict.fromkeys(table.long["variable"].to_list()))
    stage.write_ard(table1_ard(table.long, AnalysisMeta("table1", population=table.population,
                                                        options={"table1": variables}), group=table.group), "table1")


def _with_table1(inputs, option: str):
    """``inputs`` with the --table1 variables, checked against ADSL (an unknown one is a usage error)."""
    from dataclasses import replace

    from trialkit.schemas.errors import UsageError
    from trialkit.analyses.report.table1 import resolve_variables

    if inputs.adsl is None:
        raise UsageError("--table1 needs ADSL, and the workspace has none", "run trialkit ingest with an ADSL first")
    wanted = [v for v in option.split(",") if v.strip()]
    return replace(inputs, table1_variables=tuple(resolve_variables(inputs.adsl, wanted)))


def _render(inputs, format: ReportFormat, version: str) -> str:
    if format is ReportFormat.md:
        from trialkit.analyses.report.markdown import render_markdown

        return render_markdown(inputs, version)
    from trialkit.analyses.report.document import render_html

    return render_html(inputs, version)


def _inside(target: Path, ws: Path) -> str | None:
    """The target's path relative to the workspace, or None when it lies outside."""
    try:
        return Path(os.path.abspath(target)).relative_to(Path(os.path.abspath(ws))).as_posix()
    except ValueError:
        return None


def _stage_outside(target: Path, text: str) -> Path:
    """Write the report to a temporary file beside ``target`` (outside the workspace); the caller renames it."""
    import tempfile

    from trialkit.schemas.errors import InputOutputError

    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise InputOutputError(f"cannot write {target}: folder {folder} does not exist", "create it or pass another --out")
    if target.is_dir():
        raise InputOutputError(f"cannot write {target}: it is a folder", "pass a file name to --out")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # a document to share: the usual permissions, not mkstemp's 0600
        return Path(tmp)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise InputOutputError(f"cannot write {target} ({exc.strerror})", "check the path and its permissions") from exc


def _read_json(path: Path) -> dict | None:
    from trialkit.schemas.errors import InputOutputError

    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputOutputError(f"{path} cannot be read as JSON ({exc})", "re-run the command that writes it") from exc


def _read_stage(ws: Path, name: str, manifest: dict, folder_rel: str | None = None):
    """The outputs of stage ``name``'s analysis in ``folder_rel`` (default: the primary one, in the stage's folder)."""
    from trialkit.analyses.claims import StageData
    from trialkit.analyses.report.model import Figure, StageOutput
    from trialkit.schemas.outputs import output_table

    from .workspace import OutputTables, check_output

    folder_rel = folder_rel or name
    folder = ws / folder_rel
    if not folder.is_dir():
        return None
    data = _read_json(folder / f"{name}.json")
    paths = {}
    for path in sorted(folder.glob("*.parquet")):
        spec = output_table(name, path.stem)
        if spec is not None:  # a file the stage does not write (say, from an older trialkit) is not its output
            paths[path.stem] = check_output(ws, spec, folder_rel)
    tables = OutputTables(paths, name)
    if data is None and not tables:
        return None
    stems = sorted({p.relative_to(ws).with_suffix("").as_posix() for p in folder.rglob("*")
                    if p.suffix in (".svg", ".png") and p.is_file() and not p.name.startswith(".")})
    figures = []
    for stem in stems:
        svg, png = ws / f"{stem}.svg", ws / f"{stem}.png"
        figures.append(Figure(stem, svg.read_bytes() if svg.exists() else None,
                              png.read_bytes() if png.exists() else None))
    files = tuple(sorted((p, e) for p, e in manifest.get("files", {}).items() if p.startswith(f"{folder_rel}/")))
    commands = tuple(sorted({e.get("command") for _p, e in files if e.get("command")}))
    return StageOutput(name, StageData(name, data, tables), tuple(figures), commands)


def _sources(ws: Path, ingest: dict | None) -> tuple:
    import pyarrow.parquet as pq

    out = []
    for d in (ingest or {}).get("datasets", []):
        path = ws / d.get("file", "")
        if not path.is_file():
            continue
        meta = pq.read_schema(path).metadata or {}
        try:
            inputs = json.loads(meta.get(b"trialkit.inputs", b"{}"))
        except ValueError:
            inputs = {}
        out.extend((d["file"], label, sha) for label, sha in sorted(inputs.items()))
    return tuple(out)


def _versions() -> tuple:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from .workspace import trialkit_version

    out = [("trialkit", trialkit_version()), ("Python", platform.python_version())]
    for dist in DEPENDENCIES:
        try:
            out.append((dist, version(dist)))
        except PackageNotFoundError:
            out.append((dist, "not installed"))
    return tuple(out)


def _timestamp() -> str | None:
    from datetime import datetime, timezone

    from trialkit.schemas.errors import UsageError

    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return None
    try:
        return datetime.fromtimestamp(int(value), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, OverflowError, OSError) as exc:
        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not a whole number of seconds since 1970",
                         "set it to an integer such as $(git log -1 --format=%ct), or unset it") from exc


#: ADLB's columns the report uses
REPORT_ADLB_COLUMNS = ("STUDYID", "USUBJID", "PARAMCD", "PARAM", "PARCAT1", "AVAL", "AVALU", "ABLFL", "ADY")


def _read_inputs(ws: Path, stage, manifest: dict, claims_path: Path | None, title: str | None, target: Path):
    from urllib.parse import quote

    from trialkit.analyses.claims import STAGES, evaluate_claims

    from .workspace import read_ard
    from trialkit.schemas.errors import InputOutputError
    from trialkit.analyses.report.model import ReportInputs

    ingest = _read_json(ws / "ingest.json")
    if ingest is None and not stage.has("adsl"):
        raise InputOutputError(f"workspace {ws} holds no ingested data", "run trialkit ingest first (or pass --workspace)")
    adsl = stage.read("adsl") if stage.has("adsl") else None
    # the columns Table 1's baseline labs, the parameter labels and the study names use (read alone when validate
    # recorded ADLB clean: ten million lab records hold far more)
    adlb = stage.read("adlb", columns=REPORT_ADLB_COLUMNS) if stage.has("adlb") else None
    studies = tuple(sorted({s for df in (adsl, adlb) if df is not None and "STUDYID" in df.columns
                            for s in df["STUDYID"].drop_nulls().unique().to_list()}))
    builtin = bool((ingest or {}).get("builtin"))
    synthetic = builtin or any("SYNTHETIC" in s.upper() for s in studies)
    # a negative control (fixtures/negative_control) is synthetic too, but made so that the claims fail: its
    # failures are the point, not a generator bug
    negative = not builtin and any("NEGATIVE-CONTROL" in s.upper() for s in studies)
    by_construction = synthetic and not negative
    stages = {name: s for name in STAGES if (s := _read_stage(ws, name, manifest)) is not None}
    extra = _read_extra_analyses(ws, manifest)
    if claims_path is None and builtin:
        claims_path = _builtin_claims()
    claims_file, consistency = _load_claims(claims_path) if claims_path is not None else (None, ())
    if claims_file is not None and claims_path == _builtin_claims():
        claims_file = type(claims_file)("built-in seed trial claims (fixtures/seed_trial/claims.toml)",
                                        claims_file.title, claims_file.reference, claims_file.claims)
    ard = read_ard(ws)
    analyses = _with_ard_rows(ard, {k: v.data for k, v in stages.items()} | {a.name: a.output.data for a in extra})
    results = evaluate_claims(claims_file, analyses, synthetic=by_construction) if claims_file else None
    from trialkit.analyses.consistency import evaluate_consistency

    checked = evaluate_consistency(consistency) if consistency else ()
    note = "" if claims_file else (
        "No claims file was given (--claims FILE) and the workspace does not hold the built-in trial, so no claim is "
        "checked in this report. To check reported results, write them as claims in a TOML file (docs/claims.md) and "
        "pass it with --claims.")
    base = target.parent
    links = {}
    for s in [*stages.values(), *(a.output for a in extra)]:
        for f in s.figures:
            ext = ".svg" if f.svg is not None else ".png"
            links[f.path] = quote(Path(os.path.relpath(ws / f"{f.path}{ext}", base)).as_posix())
    default_title = (claims_file.title if claims_file and claims_file.title else
                     f"Reanalysis of {', '.join(studies) or ws.name}")
    return ReportInputs(
        title=title or default_title, study_ids=studies, builtin=builtin,
        synthetic=synthetic, ingest=ingest, manifest=manifest, validation=_read_json(ws / "validation.json"),
        sources=_sources(ws, ingest), adsl=adsl, adlb=adlb, stages=stages, claims=claims_file,
        claim_results=results, claims_note=note, versions=_versions(), timestamp=_timestamp(),
        workspace_arg=str(ws), figure_links=links, extra_analyses=extra, ard=ard,
        reconstructed=_reconstruction(ingest), consistency=checked, by_construction=by_construction,
        negative_control=negative)


def _reconstruction(ingest: dict | None) -> str | None:
    """The method text when ``trialkit reconstruct`` made the ingested data (ingest.json), else None."""
    if not (ingest or {}).get("reconstructed"):
        return None
    return str((ingest.get("reconstruction") or {}).get("method") or "reconstructed from published Kaplan-Meier curves")


def _with_ard_rows(ard, analyses: dict) -> dict:
    """Each analysis' results with its rows of the workspace's ARD as one more table, ``ard``, for claims."""
    from dataclasses import replace

    if ard is None:
        return analyses
    by_name = {name: rows for (name,), rows in ard.group_by(["analysis"], maintain_order=True)}
    return {name: replace(data, tables=data.tables.with_table("ard", by_name[name])) if name in by_name else data
            for name, data in analyses.items()}


def _read_extra_analyses(ws: Path, manifest: dict) -> tuple:
    """Every analysis manifest.json lists besides the stages' primary ones, in name order."""
    from trialkit.analyses.claims import STAGES
    from trialkit.analyses.report.model import AnalysisOutput

    out = []
    for name, entry in sorted(manifest.get("analyses", {}).items()):
        stage, folder = entry.get("stage"), entry.get("folder")
        if entry.get("primary") or stage not in STAGES or not folder:
            continue
        output = _read_stage(ws, stage, manifest, folder)
        if output is None:
            continue
        out.append(AnalysisOutput(name, stage, folder, entry.get("population"), entry.get("subgroup"),
                                  entry.get("selection"), entry.get("command", ""), output))
    return tuple(out)


def read_claims_text(path: Path, missing_hint: str) -> str:
    """A claims file's text, or a one-line UsageError (``missing_hint`` says how to name the file)."""
    from trialkit.schemas.errors import UsageError

    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"claims file {path} does not exist", missing_hint) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"claims file {path} cannot be read ({exc})", "pass a UTF-8 TOML file") from exc


def _load_claims(path: Path):
    """Read a claims file: (its data claims parsed by ``analyses.claims.parse_claims``, its consistency claims
    parsed by ``analyses.consistency``). A file of consistency claims only gives a ClaimsFile without claims."""
    import tomllib

    from trialkit.analyses.claims import ClaimsFile, parse_claims
    from trialkit.analyses.consistency import split_claims

    text = read_claims_text(path, "pass --claims with the path of a TOML claims file")
    data_text, consistency = split_claims(text, str(path))
    if data_text is not None:
        return parse_claims(data_text, str(path)), consistency
    doc = tomllib.loads(text)  # split_claims has read it already
    title, reference = doc.get("title"), doc.get("reference")
    return ClaimsFile(str(path), str(title) if title else None, str(reference) if reference else None, ()), consistency


def _builtin_claims() -> Path:
    from importlib.resources import files

    return Path(str(files("trialkit.fixtures") / "seed_trial" / "claims.toml"))


def _summarise(target: Path, inputs) -> None:
    from trialkit.analyses.claims import NOT_EVALUABLE, NOT_REPRODUCED, REPRODUCED, REPRODUCED_BY_CONSTRUCTION

    out = stdout()
    out.print(f"Report written to {safe(target)}")
    missing = [s for s in ("biomarkers", "survival", "safety") if s not in inputs.stages]
    if missing:
        out.print(f"Stages not run (shown as missing): {', '.join(missing)}")
    if inputs.claim_results is None:
        out.print("No claims checked (no claims file; see --claims).")
        return
    if inputs.consistency:
        from trialkit.analyses.consistency import CONSISTENT, INCONSISTENT, NOT_CHECKABLE

        c = [r.verdict for r in inputs.consistency]
        out.print(f"Consistency of the published numbers: {c.count(CONSISTENT)} consistent, "
                  f"{c.count(INCONSISTENT)} inconsistent, {c.count(NOT_CHECKABLE)} not checkable")
    if not inputs.claim_results:
        return
    v = [r.verdict for r in inputs.claim_results]
    built = v.count(REPRODUCED_BY_CONSTRUCTION)
    passed = (f"{built} reproduced by construction" + (f", {v.count(REPRODUCED)} reproduced" if v.count(REPRODUCED)
                                                       else "")) if built else f"{v.count(REPRODUCED)} reproduced"
    out.print(f"Claims: {passed}, {v.count(NOT_REPRODUCED)} not reproduced, {v.count(NOT_EVALUABLE)} not evaluable")
    if built:
        out.print("By construction: synthetic data, generated until the claims hold; this checks")
        out.print("trialkit's statistics, not the paper's patients.")
