"""Multiplicity adjustment of p-values, as R's ``p.adjust``.

One implementation for every stage: the biomarker per-visit tests
(``--adjust``) and the pairwise log-rank tests (Holm) both call it.
"""

from __future__ import annotations

import math

import numpy as np

from trialkit.schemas.errors import UsageError

__all__ = ["ADJUSTMENTS", "adjust_p", "holm"]

ADJUSTMENTS = {"none": "none", "holm": "Holm", "bh": "Benjamini-Hochberg"}


def adjust_p(p: list[float | None], method: str) -> list[float | None]:
    """R p.adjust over the non-null p-values: "none", "holm" or "bh" (Benjamini-Hochberg)."""
    if method not in ADJUSTMENTS:
        raise UsageError(f"unknown adjustment {method!r}", f"use one of {', '.join(ADJUSTMENTS)}")
    idx = [i for i, v in enumerate(p) if v is not None and not math.isnan(v)]
    out: list[float | None] = [None] * len(p)
    if method == "none" or not idx:
        for i in idx:
            out[i] = p[i]
        return out
    vals = np.array([p[i] for i in idx], dtype=float)
    m = len(vals)
    if method == "holm":
        o = np.argsort(vals, kind="stable")
        adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * vals[o]))
    else:
        o = np.argsort(vals, kind="stable")[::-1]
        adj = np.minimum(1.0, np.minimum.accumulate(m / np.arange(m, 0, -1) * vals[o]))
    res = np.empty(m)
    res[o] = adj
    for k, i in enumerate(idx):
        out[i] = float(res[k])
    return out


def holm(p: list[float | None]) -> list[float | None]:
    """``p.adjust(p, "holm")`` over the non-missing p-values."""
    return adjust_p(p, "holm")
