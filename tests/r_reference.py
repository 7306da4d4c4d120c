"""Comparing trialkit's numbers with R's reference values."""

from __future__ import annotations

import pytest


def same(ours, ref, rel=1e-6) -> None:
    """Element-wise equality to rel (None where R gives NA/NaN)."""
    ours, ref = list(ours), list(ref)
    assert len(ours) == len(ref), (ours, ref)
    for i, (o, r) in enumerate(zip(ours, ref)):
        if r is None:
            assert o is None, f"item {i}: R gives NA, we give {o}"
        else:
            assert o == pytest.approx(r, rel=rel, abs=1e-12), f"item {i}: {o} != R {r}"
