"""``trialkit schema``: print the declared schemas so users can prepare their data."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import TableOrJson, TableOrJsonOpt, emit_json, handles_errors, safe, stdout


@handles_errors
def schema(
    dataset: Annotated[Optional[str], typer.Argument(help="adsl, adlb, adae, adtte or adex; all when omitted.")] = None,
    units: Annotated[bool, typer.Option("--units", help="Show the canonical units, conversions and plausible ranges of the lab parameters.")] = False,
    format: TableOrJsonOpt = TableOrJson.table,
) -> None:
    """Print the schemas trialkit checks (variables, types, allowed values, keys, rules).

    Example: trialkit schema adlb --format json
    """
    from trialkit.schemas.errors import UsageError
    from trialkit.schemas.adam import SCHEMAS, schema_for
    from trialkit.schemas.units import PARAMETERS

    if units:
        rows = [{"paramcd": p.paramcd, "label": p.label, "unit": p.unit, "low": p.low, "high": p.high,
                 "conversions": {u: f for u, f in p.conversions}} for p in PARAMETERS.values()]
        if format is TableOrJson.json:
            emit_json(rows)
            return
        from .tables import Table, print_table

        heads = ["PARAMCD", "parameter", "unit", "plausible range", "converted from"]
        t = Table("Canonical units and plausible ranges", heads, left=tuple(heads))
        for r in rows:
            t.add_row(r["paramcd"], r["label"], r["unit"], f"{r['low']:g} to {r['high']:g}",
                      ", ".join(f"{u or '(blank)'} x{f:g}" for u, f in r["conversions"].items()))
        print_table(stdout(), t)
        return
    if dataset is not None and schema_for(dataset) is None:
        raise UsageError(f"unknown dataset {dataset!r}", f"use one of {', '.join(SCHEMAS)}")
    chosen = [schema_for(dataset)] if dataset else list(SCHEMAS.values())
    if format is TableOrJson.json:
        emit_json([s.to_dict() for s in chosen])
        return
    from .tables import Table, print_table

    heads = ["variable", "type", "required", "constraint", "label"]
    for s in chosen:
        t = Table(f"{s.name} ({s.file}.parquet, schema {s.version}): {s.description}", heads, left=tuple(heads))
        for v in s.variables:
            t.add_row(v.name, v.dtype, "yes" if v.required else "", v.constraint_text(), v.label)
        print_table(stdout(), t)
        if s.keys:
            stdout().print(f"  keys: {safe(' + '.join(s.keys))}")
        for r in s.rules:
            stdout().print(f"  rule {safe(r.name)}: {safe(r.description)}")
