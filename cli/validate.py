"""``trialkit validate``: check the workspace against the schemas; quarantine bad rows."""

from __future__ import annotations

import typer

from .common import (rendered, TableOrJson, TableOrJsonOpt, WorkspaceOpt, emit_json, handles_errors, safe, stderr,
                     stdout, workspace_from)

QUARANTINE_REASON = "QUARANTINE_REASON"


@handles_errors
def validate(ctx: typer.Context, format: TableOrJsonOpt = TableOrJson.table, workspace: WorkspaceOpt = None) -> None:
    """Check every dataset in the workspace against its schema and report every violation.

    Rows that break a row-level rule move to quarantine/<dataset>.parquet with
    the rule(s) they broke; the valid rows stay. Writes validation.json.
    Rows quarantined by an earlier run are reported on every run, and the
    workspace is not clean until the source is fixed and ingested again.
    Exit code: 0 clean, 1 data violate rules (now or earlier), 2 usage or I/O problem.

    Example: trialkit validate --format json | jq .quarantined
    """
    import polars as pl

    from trialkit.schemas.errors import InputOutputError
    from trialkit.analyses.ingest import DATASETS
    from trialkit.analyses.validation import check_dataset, summarise_quarantine
    from trialkit.schemas.adam import schema_for

    from .workspace import Stage, sha256_file

    ws = workspace_from(ctx, workspace)
    present = [d for d in DATASETS if (ws / f"{d}.parquet").exists()]
    if not present:
        raise InputOutputError(f"workspace {ws} holds no dataset", "run trialkit ingest first")
    ingested = _ingested_rows(ws)
    report = {"workspace_clean": True, "datasets": [], "violations": [], "quarantined": []}
    with Stage(ws, "validate", {}) as stage:
        # one dataset in memory at a time (ADSL first: its USUBJIDs check the others), and of each check only
        # what the report needs is kept: at a million subjects, holding every dataset and its checked copy
        # took 9.6 GB
        structural: dict[str, list] = {}
        adsl_ids = None
        for name in DATASETS:
            schema = schema_for(name)
            qfile = f"quarantine/{name}.parquet"
            previous = _read_quarantine(ws, qfile)
            if previous is not None:
                stage.record_input(qfile, sha256_file(ws / qfile))
            if name not in present:
                # quarantine of a dataset that is no longer in the workspace: still not analysed
                if previous is not None:
                    report["quarantined"].append(_quarantined_entry(schema.name, qfile, previous, 0, summarise_quarantine))
                continue
            check = None  # the previous dataset's check: released before this one is read
            frame = stage.read(name, validate=False)
            if name == "adsl" and "USUBJID" in frame.columns:
                adsl_ids = frame["USUBJID"]
            check = check_dataset(frame, schema, adsl_ids)
            del frame
            structural[name] = check.structural
            new = check.quarantine.height
            combined = previous
            if new:
                fresh = check.quarantine.rename({"_RULES": QUARANTINE_REASON})
                combined = pl.concat([previous, fresh], how="diagonal_relaxed") if previous is not None else fresh
                stage.write_parquet(qfile, combined, f"{schema.name}-quarantine", schema.version)
                stage.write_parquet(f"{name}.parquet", check.valid, schema.name, schema.version)
            earlier = previous.height if previous is not None else 0
            kept = check.valid.height
            input_rows = ingested.get(f"{name}.parquet", check.n_input + earlier)
            report["datasets"].append({
                "dataset": schema.name,
                "file": f"{name}.parquet",
                "input_rows": input_rows,
                "rows_checked": check.n_input,
                "kept_rows": kept,
                "quarantined_rows": earlier + new,
                "newly_quarantined_rows": new,
                "previously_quarantined_rows": earlier,
                "reconciles": kept + new == check.n_input and input_rows == kept + earlier + new,
                "structural_problems": check.structural,
                "rules_skipped": list(check.skipped_rules),
            })
            report["violations"].extend(v.to_dict() | {"file": f"{name}.parquet"} for v in check.violations)
            if combined is not None and combined.height:
                report["quarantined"].append(_quarantined_entry(schema.name, qfile, combined, new, summarise_quarantine))
        report["workspace_clean"] = not report["violations"] and not report["quarantined"]
        # what the stages may trust without checking again: each dataset as validate leaves it (kept rows only)
        report["checked"] = {f"{d}.parquet": {"schema": f"{schema_for(d).name} {schema_for(d).version}",
                                              "sha256": stage.pending_sha256(f"{d}.parquet") or stage.inputs[f"{d}.parquet"]}
                             for d in present if not structural[d]}
        stage.write_json("validation.json", report)
        with rendered() as output:  # before the commit: printing cannot fail after it
            if format is TableOrJson.json:
                emit_json(report)
            else:
                _print_report(ws, report)
    output.emit()
    if not report["workspace_clean"]:
        raise typer.Exit(1)


def _ingested_rows(ws) -> dict[str, int]:
    """Rows per dataset file as trialkit ingest wrote them (ingest.json), when it says."""
    import json

    path = ws / "ingest.json"
    try:
        datasets = json.loads(path.read_text()).get("datasets", []) if path.exists() else []
    except (OSError, ValueError):
        return {}
    return {d["file"]: d["rows"] for d in datasets if isinstance(d.get("rows"), int) and "file" in d}


def _read_quarantine(ws, relpath: str):
    import polars as pl

    from trialkit.schemas.errors import InputOutputError

    path = ws / relpath
    if not path.exists():
        return None
    try:
        return pl.read_parquet(path, glob=False)
    except Exception as exc:  # polars raises several kinds for a broken file
        raise InputOutputError(f"{path} cannot be read as Parquet ({exc})",
                               "fix the source and re-run trialkit ingest, which starts a fresh quarantine") from exc


def _quarantined_entry(dataset: str, relpath: str, rows, new: int, summarise) -> dict:
    return {"dataset": dataset, "file": relpath, "newly_quarantined_rows": new,
            **summarise(rows, QUARANTINE_REASON)}


def _print_report(ws, report: dict) -> None:
    from .tables import Table, print_table

    out = stdout()
    skipped = "rules skipped (variables absent)"
    counts = Table(f"Validation of {ws}/", ["dataset", "input rows", "kept", "quarantined", skipped], left=(skipped,))
    for d in report["datasets"]:
        earlier = d["previously_quarantined_rows"]
        quarantined = f"{d['quarantined_rows']} ({earlier} earlier)" if earlier else str(d["quarantined_rows"])
        counts.add_row(d["dataset"], d["input_rows"], d["kept_rows"], quarantined,
                       ", ".join(d["rules_skipped"]) or "-")
    print_table(out, counts)
    for d in report["datasets"]:
        if not d["reconciles"]:
            stderr().print(f"[yellow]{safe(d['file'])} ({safe(d['dataset'])}): {d['input_rows']} row(s) ingested, but kept + "
                           f"quarantined = {d['kept_rows'] + d['quarantined_rows']}; the workspace was changed outside "
                           "trialkit: re-run trialkit ingest[/]")
    if report["workspace_clean"]:
        out.print("[green]Clean:[/] every dataset satisfies its schema.")
        return
    keys = "first rows: keys (USUBJID/PARAMCD/visit)"
    if report["violations"]:
        table = Table("Violations", ["dataset", "rule", "column", "rows", keys, "what the rule says"], labels=2,
                      left=("column", keys, "what the rule says"))
        for v in report["violations"]:
            first = ", ".join(str(r) for r in v["rows"][:3])
            examples = "; ".join(v["examples"])
            table.add_row(v["dataset"], v["rule"], v["column"], v["n_rows"], f"{first}: {examples}" if examples else first,
                          v["description"])
        print_table(out, table)
    if report["quarantined"]:
        held = Table(f"In {ws}/quarantine/ (not analysed)", ["dataset", "rows", "of them new", "rules broken (rows)", keys],
                     left=("rules broken (rows)", keys))
        for q in report["quarantined"]:
            held.add_row(q["dataset"], q["rows"], q["newly_quarantined_rows"],
                         ", ".join(f"{r['rule']} ({r['n_rows']})" for r in q["rules"]),
                         "; ".join(q["examples"][:3]) + ("; ..." if q["rows"] > 3 else ""))
        print_table(out, held)
    if not report["violations"]:
        total = sum(q["rows"] for q in report["quarantined"])
        out.print(f"[yellow]Not clean:[/] the kept rows satisfy every schema, but {total} row(s) quarantined by an "
                  "earlier trialkit validate are not analysed.")
    out.print(f"Rows that broke a rule are in {safe(str(ws))}/quarantine/<dataset>.parquet with the reason in "
              f"{QUARANTINE_REASON}; input rows = kept + quarantined. Fix the source and re-ingest "
              "(trialkit ingest clears the quarantine), or analyse the kept rows knowing this run exits 1.")
