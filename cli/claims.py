"""``trialkit claims check``: a claims file's consistency claims checked from the paper alone, and its data
claims against a workspace when one is given (as ``trialkit report`` checks them)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import emit_json, handles_errors, stderr, stdout

app = typer.Typer(
    name="claims",
    help="Check a paper's claims: its numbers against each other (no data needed), and against a workspace.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

INCONSISTENT_VERDICTS = ("inconsistent", "not reproduced")

#: unlike the stages, no ./trialkit-work default: without a workspace only the consistency claims are checked
ClaimsWorkspaceOpt = Annotated[
    Optional[str],
    typer.Option("--workspace", "-w", metavar="DIR",
                 help="Workspace whose stage results the data claims are checked against (default: "
                      "$TRIALKIT_WORKSPACE; without one, data claims are listed as not evaluable). Also accepted "
                      "before the command.", show_default=False),
]


@app.command("check")
@handles_errors
def check(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Claims file (TOML; docs/claims.md).",
                                         show_default=False)],
    json_: Annotated[bool, typer.Option("--json", help="Print the verdicts as JSON on stdout (for machines).")] = False,
    workspace: ClaimsWorkspaceOpt = None,
) -> None:
    """Check a claims file: consistency claims from the paper alone, data claims against a workspace.

    Consistency claims (kind = "consistency") check a paper's numbers against
    each other: percentages and means against group sizes (GRIM, GRIMMER), a
    Kaplan-Meier survival against its group size (which patterns of deaths
    and censorings reach it), a p-value against its test statistic
    (statcheck's rule), an estimate's CI against its p. Data claims (the
    default kind) are checked as trialkit report checks them when a
    workspace is given; without one they are listed as not evaluable.
    Exit code: 0 when no claim is inconsistent or not reproduced, 1 when
    one is, 2 for a mistake in the file.

    Example: trialkit claims check fixtures/seed_trial/paper_claims.toml
    """
    from trialkit.analyses.consistency import evaluate_consistency, split_claims

    from .report import read_claims_text

    text = read_claims_text(file, "pass the path of a TOML claims file")
    data_text, consistency = split_claims(text, str(file))
    results = evaluate_consistency(consistency)
    ws = _workspace(ctx, workspace)
    data_rows = _data_rows(data_text, str(file), ws) if data_text is not None else []
    rows = [_consistency_row(r) for r in results] + data_rows
    order = {cid: i for i, cid in enumerate(_ids_in_order(text))}
    rows.sort(key=lambda r: order.get(r["id"], len(order)))
    if json_:
        emit_json({"file": str(file), "workspace": str(ws) if ws is not None else None, "claims": rows,
                   "summary": _summary(rows)})
    else:
        _print(rows, file, ws)
    if any(r["verdict"] in INCONSISTENT_VERDICTS for r in rows):
        raise typer.Exit(1)


def _workspace(ctx: typer.Context, option: str | None) -> Path | None:
    """-w (after or before the command), else $TRIALKIT_WORKSPACE; None when neither is given."""
    from trialkit.schemas.errors import UsageError

    root = (ctx.find_root().obj or {}) if ctx is not None else {}
    value = option or root.get("workspace") or os.environ.get("TRIALKIT_WORKSPACE")
    if not value:
        return None
    ws = Path(value)
    if not ws.is_dir():
        raise UsageError(f"workspace {ws} does not exist or is not a folder",
                         "pass -w with a workspace where trialkit ingest and the stages have run, or drop -w to "
                         "check only the consistency claims")
    return ws


def _ids_in_order(text: str) -> list[str]:
    import tomllib

    return [str(c.get("id", "")).strip() for c in tomllib.loads(text).get("claims", []) if isinstance(c, dict)]


def _consistency_row(result) -> dict:
    o = result.outcome
    return {"id": result.claim.id, "text": result.claim.text, "kind": "consistency", "rule": result.claim.rule,
            "reported": result.claim.reported, "verdict": o.verdict, "explanation": o.explanation,
            "feasible": list(o.feasible), "rounding": o.rounding, "decision_error": o.decision_error,
            "numbers": dict(o.numbers)}


def _data_rows(data_text: str, source: str, ws: Path | None) -> list[dict]:
    """The data claims' rows: evaluated against the workspace as trialkit report does, else not evaluable."""
    from trialkit.analyses.claims import NOT_EVALUABLE, STAGES, evaluate_claims, parse_claims

    claims_file = parse_claims(data_text, source)
    if ws is None:
        return [{"id": c.id, "text": c.text, "kind": "data", "rule": "data", "reported": c.published,
                 "verdict": NOT_EVALUABLE,
                 "explanation": "a data claim: needs a workspace where the stages have run (pass -w DIR)."}
                for c in claims_file.claims]
    from .report import _read_extra_analyses, _read_stage, _with_ard_rows
    from .transaction import reading
    from .workspace import read_ard, read_manifest

    with reading(ws):  # a consistent snapshot, never half a commit
        manifest = read_manifest(ws)
        stages = {name: s for name in STAGES if (s := _read_stage(ws, name, manifest)) is not None}
        extra = _read_extra_analyses(ws, manifest)
        analyses = _with_ard_rows(read_ard(ws), {k: v.data for k, v in stages.items()}
                                  | {a.name: a.output.data for a in extra})
    out = []
    for r in evaluate_claims(claims_file, analyses):
        reasons = "; ".join(dict.fromkeys(c.reason for c in r.checks if c.reason))
        found = "; ".join(f"{c.check.label or c.check.location}: {c.observed_text}" for c in r.checks)
        out.append({"id": r.claim.id, "text": r.claim.text, "kind": "data", "rule": "data",
                    "reported": r.claim.published, "verdict": r.verdict,
                    "explanation": reasons or f"reanalysis: {found}."})
    return out


def _summary(rows: list[dict]) -> dict:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    return dict(sorted(counts.items()))


def _print(rows: list[dict], file: Path, ws: Path | None) -> None:
    import textwrap

    from rich.text import Text

    from .common import printable
    from .tables import Table, print_table

    out = stdout()
    styles = {"consistent": None, "reproduced": None, "inconsistent": "red", "not reproduced": "red",
              "not checkable": "yellow", "not evaluable": "yellow"}
    table = Table(f"Claims in {file}" + (f" (workspace {ws})" if ws is not None else ""),
                  ["claim", "rule", "reported", "verdict"], labels=1, left=("rule", "reported", "verdict"))
    for r in rows:
        table.add_row(r["id"], r["rule"], r["reported"], r["verdict"], style=styles.get(r["verdict"]))
    print_table(out, table)
    for r in rows:  # explanations wrapped at the console's width, never inside a number
        line = textwrap.fill(printable(f"{r['id']} {r['verdict']}: {r['explanation']}"), width=out.width,
                             subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)
        out.print(Text(line, style=styles.get(r["verdict"])))
    counts = ", ".join(f"{n} {v}" for v, n in _summary(rows).items())
    out.print(f"Claims: {counts}")
    if ws is None and any(r["kind"] == "data" for r in rows):
        stderr().print("[dim]Note:[/] data claims need a workspace: run the stages, then pass -w DIR.")
