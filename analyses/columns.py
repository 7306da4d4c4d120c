"""Required-column checks: one place, one message format.

Every analysis checks its required variables first (the admiral habit) and
says the same thing when one is absent::

    ADLB has no AVAL: BASE needs USUBJID, PARAMCD, AVAL, ABLFL
    Hint: add AVAL to ADLB and re-run trialkit ingest

The message names the dataset, the missing column(s) and, with ``purpose``,
what needs them and the whole list it needs; the hint says what to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from trialkit.schemas.errors import ColumnNotFoundError

if TYPE_CHECKING:
    import polars as pl

__all__ = ["require_columns", "require_one_of"]


def _default_hint(dataset: str, columns: list[str]) -> str:
    return f"add {', '.join(columns)} to {dataset} and re-run trialkit ingest"


def require_columns(df: pl.DataFrame, columns: Iterable[str], *, dataset: str, purpose: str | None = None,
                    hint: str | None = None) -> None:
    """Raise ``ColumnNotFoundError`` unless ``df`` has every one of ``columns``.

    ``dataset`` names the frame as the user knows it ("ADSL", "the survival
    data"); ``purpose`` what needs the columns ("the safety tables"); ``hint``
    replaces the default "add ... to <dataset> and re-run trialkit ingest".
    """
    wanted = list(columns)
    missing = [c for c in wanted if c not in df.columns]
    if not missing:
        return
    needs = f": {purpose} needs {', '.join(wanted)}" if purpose else ""
    raise ColumnNotFoundError(f"{dataset} has no {', '.join(missing)}{needs}", hint or _default_hint(dataset, missing))


def require_one_of(df: pl.DataFrame, columns: Iterable[str], *, dataset: str, purpose: str,
                   hint: str | None = None) -> None:
    """Raise ``ColumnNotFoundError`` unless ``df`` has at least one of ``columns`` (alternatives such as AVISITN, ADY)."""
    wanted = list(columns)
    if any(c in df.columns for c in wanted):
        return
    raise ColumnNotFoundError(f"{dataset} has none of {', '.join(wanted)}: {purpose} needs one of them",
                              hint or f"add one of {', '.join(wanted)} to {dataset} and re-run trialkit ingest")
