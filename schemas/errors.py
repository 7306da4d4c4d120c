"""The one family of errors trialkit raises.

It lives in ``schemas/``, the package everything else builds on, so that
``schemas``, ``analyses`` and ``cli`` all import it and none of them reaches
into another for it. The CLI catches ``TrialkitError`` once, prints ``Error: <message>`` and the
hint, and exits with ``exit_code``: 1 for data problems, 2 for usage and I/O.
"""

from __future__ import annotations

__all__ = [
    "TrialkitError",
    "DataError",
    "SchemaViolationError",
    "ColumnNotFoundError",
    "NoDataError",
    "UsageError",
    "InputOutputError",
]


class TrialkitError(Exception):
    """Base class: a failure the user can act on, with a one-line message."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class DataError(TrialkitError):
    """The data break a rule: wrong values, wrong shape, impossible analysis."""

    exit_code = 1


class SchemaViolationError(DataError):
    """Rows of a workspace dataset break its declared schema."""


class ColumnNotFoundError(DataError):
    """A variable an analysis needs is absent from a dataset."""


class NoDataError(DataError):
    """Nothing is left to analyse (no rows, no events, no group)."""


class UsageError(TrialkitError):
    """Options or arguments that cannot be used as given."""

    exit_code = 2


class InputOutputError(TrialkitError):
    """A file or folder cannot be found, read or written."""

    exit_code = 2
