"""How trialkit writes numbers and p-values, everywhere: terminal tables, the HTML and Markdown reports, figures.

One rule set, so the same number reads the same in every output (the log-rank
p of the terminal summary, the report table, the Markdown summary and the KM
figure are one string). The rules follow what SAS and R users read in
PROC LIFETEST / PROC PHREG listings and ``summary()`` output:

- **Missing**: ``NA`` (as R prints it) for None and NaN, in every function.
- **p-values** (``format_p``): 4 decimals, as SAS prints ``Pr > ChiSq``;
  below 0.0001 the text is ``<0.0001`` (SAS ``<.0001``, with its zero). In a
  sentence or a figure, ``format_p_statement`` gives ``p = 0.3328`` or
  ``p < 0.0001``.
- **Estimates** (``format_number``): a fixed number of decimals chosen by the
  quantity (``DECIMALS``: probabilities S(t) 3, hazard ratios 3, test
  statistics 3, times in days 1, percentages 1). Python ``int`` values (counts)
  print as they are. Rounding is half away from zero on the value read to 12
  significant digits, as SAS's ``w.d`` formats and a hand calculation do (so
  2.675 -> 2.68, where binary rounding gives 2.67). A value that rounds to
  zero prints without a sign (``0.000``, never ``-0.000``). The minus sign is
  the ASCII hyphen-minus, so numbers copy into R, SAS or a spreadsheet.
  Numbers are never written in scientific notation.
- **Confidence intervals** (``format_ci``): ``est (lower, upper)`` with the
  estimate's decimals; an undefined limit is ``NA`` in its place
  (``1.000 (NA, NA)``), a missing estimate makes the whole cell ``NA``.
  Medians (``format_median``) say ``not reached`` when the curve never falls
  to 0.5, keeping a defined lower limit: ``not reached (365.0, NA)``.
- **Counts with percentages** (``format_n_pct``): ``3 (37.5%)``.
- **Changes** (``format_signed``): an explicit ``+`` on positive values; the
  decimals of a row of values come from ``decimals_for`` (3 significant digits
  for its largest value, at most 3 decimals), so a column of changes lines up.
- **Values quoted as they are** (``format_value``, claims and their reasons):
  integers plainly (also integral floats), other numbers to 6 significant
  digits in positional notation (``0.332801``), booleans ``true``/``false``.
- **Text from the data on a terminal or in a figure** (``printable``): ANSI
  escape sequences (CSI, OSC, DCS/SOS/PM/APC strings, other ESC sequences, and
  their 8-bit C1 forms) and every other control character (C0 but tab and
  newline, DEL, C1) are removed, so a label such as ``[/]\\x1b[31mRED`` can
  neither colour nor move the terminal (it reads ``[/]RED``).
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Iterable

__all__ = [
    "MISSING",
    "DECIMALS",
    "P_DECIMALS",
    "is_missing",
    "format_number",
    "format_p",
    "format_p_statement",
    "format_ci",
    "format_median",
    "format_n_pct",
    "format_signed",
    "decimals_for",
    "format_value",
    "printable",
    "ESCAPE_PATTERN",
    "CONTROL_PATTERN",
]

#: the text of a missing number (None or NaN)
MISSING = "NA"

#: decimals by quantity
DECIMALS = {"probability": 3, "ratio": 3, "statistic": 3, "time": 1, "percent": 1}

#: p-values: decimals, and the smallest value printed as a number
P_DECIMALS = 4
_P_FLOOR = 10.0 ** -P_DECIMALS


def is_missing(x: Any) -> bool:
    """None, or a float NaN."""
    return x is None or (isinstance(x, float) and math.isnan(x))


#: digits enough for any finite float in positional notation (1.8e308) and its decimals
_POSITIONAL = Context(prec=400)


def _fixed(x: float, decimals: int) -> str:
    d = Decimal(f"{float(x):.12g}").quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP, context=_POSITIONAL)
    if d == 0:
        d = abs(d)
    return f"{d:.{decimals}f}"


def _as_is(x: Any) -> str | None:
    """The text of a value that is printed the same whatever the rule: NA, true/false, an int, Inf/-Inf; else None."""
    if is_missing(x):
        return MISSING
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float) and math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    return None


def format_number(x: Any, decimals: int) -> str:
    """A number to ``decimals`` places (ints as they are; NA when missing; infinities as Inf / -Inf)."""
    text = _as_is(x)
    return text if text is not None else _fixed(float(x), decimals)


def format_p(p: Any) -> str:
    """A p-value: ``0.3328``; ``<0.0001`` below 0.0001; ``NA`` when missing."""
    if is_missing(p):
        return MISSING
    p = float(p)
    return f"<{_P_FLOOR:.{P_DECIMALS}f}" if p < _P_FLOOR else _fixed(p, P_DECIMALS)


def format_p_statement(p: Any) -> str:
    """A p-value in a sentence or a figure: ``p = 0.3328``, ``p < 0.0001``, ``p = NA``."""
    text = format_p(p)
    return f"p < {text[1:]}" if text.startswith("<") else f"p = {text}"


def format_ci(est: Any, lower: Any, upper: Any, decimals: int) -> str:
    """``est (lower, upper)``; an undefined limit is NA; a missing estimate gives NA."""
    if is_missing(est):
        return MISSING
    return f"{format_number(est, decimals)} ({format_number(lower, decimals)}, {format_number(upper, decimals)})"


def format_median(median: Any, lower: Any, upper: Any, decimals: int = DECIMALS["time"]) -> str:
    """A Kaplan-Meier median with its CI; ``not reached`` (with the lower limit when it exists)."""
    if not is_missing(median):
        return format_ci(median, lower, upper, decimals)
    if not is_missing(lower):
        return f"not reached ({format_number(lower, decimals)}, {MISSING})"
    return "not reached"


def format_n_pct(n: Any, pct: Any, decimals: int = DECIMALS["percent"]) -> str:
    """Subjects and their percentage: ``3 (37.5%)``; ``NA`` when the count is missing."""
    if is_missing(n):
        return MISSING
    return f"{n}" if is_missing(pct) else f"{n} ({format_number(pct, decimals)}%)"


def format_signed(x: Any, decimals: int) -> str:
    """A change with its sign: ``+1.36``, ``-0.81``, ``0.00``."""
    text = format_number(x, decimals)
    return "+" + text if text != MISSING and not text.startswith("-") and float(text) != 0 else text


def decimals_for(values: Iterable[Any], significant: int = 3, most: int = 3) -> int:
    """Decimals that give the largest of ``values`` ``significant`` digits (0 to ``most``; 2 when all are 0 or missing)."""
    big = max((abs(float(v)) for v in values if not is_missing(v)), default=0.0)
    if big == 0 or math.isinf(big):
        return 2
    return max(0, min(most, significant - 1 - int(math.floor(math.log10(big)))))


def format_value(x: Any) -> str:
    """A value quoted as it is: integers plainly, other numbers to 6 significant digits, never in e-notation."""
    text = _as_is(x)
    if text is not None:
        return text
    if isinstance(x, float):
        if x.is_integer() and abs(x) < 1e15:
            return str(int(x))
        return format(Decimal(f"{x:.6g}"), "f")
    return str(x)


def is_p_name(name: str) -> bool:
    """Whether a result column holds p-values: ``p``, ``p_*`` or ``*_p``."""
    return name == "p" or name.startswith("p_") or name.endswith("_p")


def format_cell(name: str, value: Any) -> str:
    """A number in a result table, as the report and the ARD's ``stat_fmt`` print it: p-values by ``format_p``,
    whole numbers plainly, others to 3 decimals; NA when missing."""
    if is_missing(value):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if is_p_name(name):
        return format_p(value)
    x = float(value)
    if math.isfinite(x) and x.is_integer() and abs(x) < 1e9:
        return str(int(x))
    return format_number(x, 3)


#: ANSI escape sequences; the same pattern serves Python's ``re`` and polars' (Rust) regex engine
ESCAPE_PATTERN = (
    r"(?s)\x1b\[[0-?]*[ -/]*[@-~]"                         # CSI: ESC [ parameters intermediates final
    r"|\x9b[0-?]*[ -/]*[@-~]"                               # 8-bit CSI
    r"|(?:\x1b\]|\x9d).*?(?:\x07|\x1b\\|\x9c)"             # OSC ... BEL or string terminator
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f]).*?(?:\x1b\\|\x9c)"  # DCS, SOS, PM, APC ... string terminator
    r"|\x1b[ -/]*[0-~]"                                     # any other escape sequence (and a lone ESC + one char)
)
#: control characters but tab and newline: C0, DEL, C1
CONTROL_PATTERN = r"[\x00-\x08\x0b-\x1f\x7f-\x9f]"
_ESCAPES = re.compile(ESCAPE_PATTERN)
_CONTROLS = re.compile(CONTROL_PATTERN)


def printable(text: Any) -> str:
    """``text`` (as ``str``) without ANSI escape sequences or control characters other than tab and newline."""
    text = "" if text is None else str(text)
    if not _CONTROLS.search(text):
        return text
    return _CONTROLS.sub("", _ESCAPES.sub("", text))
