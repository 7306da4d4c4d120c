"""Treatment groups: which arms a user means, and in what order.

Groups are ADSL's TRT01A (actual treatment), ordered by TRT01AN (dose order)
and then by label. ``--arm`` values match ARMCD or TRT01A case-insensitively,
as a whole label or as words of it ("high" finds "High dose" and
"Xanomeline High Dose"); an exact label or code wins over a partial match.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from trialkit.analyses.columns import require_columns
from trialkit.schemas.errors import UsageError

__all__ = ["Arm", "arms_of", "select_arms"]


@dataclass(frozen=True)
class Arm:
    """One treatment group: its label (TRT01A), code (ARMCD or label) and order."""

    label: str
    code: str
    order: float | None


def arms_of(adsl: pl.DataFrame) -> list[Arm]:
    """The trial's groups in dose order (TRT01AN, then label)."""
    require_columns(adsl, ("TRT01A",), dataset="ADSL", purpose="grouping subjects by actual treatment")
    cols = ["TRT01A"] + [c for c in ("ARMCD", "TRT01AN") if c in adsl.columns]
    rows = adsl.select(cols).unique(subset=["TRT01A"], keep="first", maintain_order=True)
    arms = [
        Arm(r["TRT01A"], (r.get("ARMCD") or r["TRT01A"]), r.get("TRT01AN"))
        for r in rows.iter_rows(named=True)
        if r["TRT01A"] is not None
    ]
    return sorted(arms, key=lambda a: (a.order is None, a.order if a.order is not None else 0.0, a.label))


def _matching(arms: list[Arm], wanted: str) -> list[Arm]:
    """Exact label or code matches; failing those, labels that contain ``wanted`` as a word."""
    w = wanted.strip().lower()
    exact = [a for a in arms if w in (a.label.lower(), a.code.lower())]
    return exact or [a for a in arms if " ".join(w.split()) in _words(a.label)]


def _words(label: str) -> set[str]:
    words = label.lower().split()
    return {" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)}


def select_arms(arms: list[Arm], wanted: list[str] | None) -> list[Arm]:
    """The arms named by ``--arm`` (all when none), in dose order; unknown or ambiguous is a usage error."""
    if not wanted:
        return list(arms)
    valid = ", ".join(f"{a.code} ({a.label})" for a in arms)
    chosen: list[Arm] = []
    for w in wanted:
        hits = _matching(arms, w)
        if not hits:
            raise UsageError(f"--arm {w!r} matches no group", f"valid groups: {valid}")
        if len(hits) > 1:
            raise UsageError(f"--arm {w!r} matches several groups: {', '.join(a.label for a in hits)}",
                             f"use the code or the full label; valid groups: {valid}")
        if hits[0] not in chosen:
            chosen.append(hits[0])
    return [a for a in arms if a in chosen]
