"""``trialkit validate``: check the workspace against the schemas; quarantine bad rows."""

from __future__ import annotations

import typer

from .common import TableOrJson, TableOrJsonOpt, WorkspaceOpt, emit_json, handles_errors, stdout, workspace_from

QUARANTINE_REASON = "QUARANTINE_REASON"


@handles_errors
def validate(ctx: typer.Context, format: TableOrJsonOpt = TableOrJson.table, workspace: WorkspaceOpt = None) -> None:
    """Check every dataset in the workspace against its schema and report every violation.

    Rows that break a row-level rule move to quarantine/<dataset>.parquet with
    the rule(s) they broke; the valid rows stay. Writes validation.json.
    Exit code: 0 clean, 1 data violate rules, 2 usage or I/O problem.

    Example: trialkit validate --format json | jq .violations
    """
    import polars as pl

    from trialkit.analyses.errors import InputOutputError
    from trialkit.analyses.ingest import DATASETS
    from trialkit.analyses.validation import check_dataset
    from trialkit.schemas.adam import schema_for

    from .workspace import Stage

    ws = workspace_from(ctx, workspace)
    present = [d for d in DATASETS if (ws / f"{d}.parquet").exists()]
    if not present:
        raise InputOutputError(f"workspace {ws} holds no dataset", "run trialkit ingest first")
    report = {"workspace_clean": True, "datasets": [], "violations": []}
    with Stage(ws, "validate", {}) as stage:
        frames = {d: stage.read(d, validate=False) for d in present}
        adsl_ids = frames["adsl"]["USUBJID"] if "adsl" in frames and "USUBJID" in frames["adsl"].columns else None
        for name in present:
            schema = schema_for(name)
            check = check_dataset(frames[name], schema, adsl_ids)
            quarantined = check.quarantine.height
            previous = _previous_quarantine(ws, name)
            if quarantined:
                new = check.quarantine.rename({"_RULES": QUARANTINE_REASON})
                combined = pl.concat([previous, new], how="diagonal_relaxed") if previous is not None else new
                stage.write_parquet(f"quarantine/{name}.parquet", combined, f"{schema.name}-quarantine", schema.version)
                stage.write_parquet(f"{name}.parquet", check.valid, schema.name, schema.version)
            report["datasets"].append({
                "dataset": schema.name,
                "file": f"{name}.parquet",
                "input_rows": check.n_input,
                "kept_rows": check.n_input - quarantined,
                "quarantined_rows": quarantined,
                "quarantine_file_rows": (previous.height if previous is not None else 0) + quarantined,
                "reconciles": check.valid.height + check.quarantine.height == check.n_input,
                "structural_problems": check.structural,
                "rules_skipped": list(check.skipped_rules),
            })
            report["violations"].extend(v.to_dict() | {"file": f"{name}.parquet"} for v in check.violations)
        report["workspace_clean"] = not report["violations"]
        stage.write_json("validation.json", report)
    if format is TableOrJson.json:
        emit_json(report)
    else:
        _print_report(ws, report)
    if not report["workspace_clean"]:
        raise typer.Exit(1)


def _previous_quarantine(ws, name):
    import polars as pl

    path = ws / "quarantine" / f"{name}.parquet"
    return pl.read_parquet(path) if path.exists() else None


def _print_report(ws, report: dict) -> None:
    from .tables import Table, print_table

    out = stdout()
    skipped = "rules skipped (variables absent)"
    counts = Table(f"Validation of {ws}/", ["dataset", "input rows", "kept", "quarantined", skipped], left=(skipped,))
    for d in report["datasets"]:
        counts.add_row(d["dataset"], d["input_rows"], d["kept_rows"], d["quarantined_rows"],
                       ", ".join(d["rules_skipped"]) or "-")
    print_table(out, counts)
    if report["workspace_clean"]:
        out.print("[green]Clean:[/] every dataset satisfies its schema.")
        return
    keys = "first rows: keys (USUBJID/PARAMCD/visit)"
    table = Table("Violations", ["dataset", "rule", "column", "rows", keys, "what the rule says"], labels=2,
                  left=("column", keys, "what the rule says"))
    for v in report["violations"]:
        first = ", ".join(str(r) for r in v["rows"][:3])
        examples = "; ".join(v["examples"])
        table.add_row(v["dataset"], v["rule"], v["column"], v["n_rows"], f"{first}: {examples}" if examples else first,
                      v["description"])
    print_table(out, table)
    out.print(f"Rows that broke a rule are in {ws}/quarantine/<dataset>.parquet with the reason in "
              f"{QUARANTINE_REASON}; input rows = kept + quarantined. Fix the source and re-ingest, or analyse the kept rows.")
