"""Times in days, as trialkit reads, chooses and prints them.

ADaM analysis values (AVAL of ADTTE, study days) are in days. Users write
times with a unit, and read them back the same way:

- ``DAYS_PER``: the units: day 1, week 7, month 30.4375 (= 365.25 / 12) and
  year 365.25 days, the conventions of R's ``lubridate`` durations and of most
  SAP tables.
- ``parse_time`` / ``parse_times``: ``182``, ``182d``, ``26w``, ``6m``, ``2y``
  to days.
- ``time_label``: days back to words: ``style="short"`` gives what
  ``parse_time`` reads ("6m", "2y", "26w", "189d"); ``style="long"`` gives
  what a table header says ("6 months (day 182.6)", "day 189").
- ``round_times_within``: the multiples of one round step (1, 2, 3 days;
  1, 2, 4 weeks; 2, 3, 6 months; 1, 2, 3, 5, 10 years, then 20, 50, 100,
  200, 500, ... years) up to a limit: the smallest step that gives at most
  ``most`` times.
- ``TIME_UNITS`` / ``days_per_unit``: the display units of figure axes by
  name ("days", "weeks", "months", "years"), in days, and the check of a
  unit given by the user (``UsageError`` listing the names).
- ``nice_step``: the smallest of 1, 2, 5 x 10^k at least a given size, which
  keeps every grid of times (landmarks, axis ticks) bounded in count whatever
  the largest time in the data (a time of 1e300 days, or times in
  milliseconds, give a handful of times, never a list as long as the time).
"""

from __future__ import annotations

import math
import re
import sys

from trialkit.schemas.errors import UsageError

__all__ = ["DAYS_PER", "TIME_UNITS", "ROUND_STEPS", "days_per_unit", "parse_time", "parse_times", "time_label",
           "round_times_within", "nice_step"]

DAYS_PER = {"d": 1.0, "w": 7.0, "m": 30.4375, "y": 365.25}
_NAMES = {"d": "day", "w": "week", "m": "month", "y": "year"}
#: display units of time axes, by the name an axis title uses, in days
TIME_UNITS = {"days": DAYS_PER["d"], "weeks": DAYS_PER["w"], "months": DAYS_PER["m"], "years": DAYS_PER["y"]}

#: round steps (number, unit), smallest first; each at most 2.5 times the one before
ROUND_STEPS = ((1, "d"), (2, "d"), (3, "d"), (1, "w"), (2, "w"), (4, "w"), (2, "m"), (3, "m"), (6, "m"),
               (1, "y"), (2, "y"), (3, "y"), (5, "y"), (10, "y"))

_TIME = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([dwmy]?)\s*$", re.IGNORECASE)


def days_per_unit(unit, option: str = "--time-unit") -> float:
    """Days in one ``unit`` ("days", "weeks", "months", "years"; a str enum's value is read); UsageError otherwise."""
    name = getattr(unit, "value", unit)
    if not isinstance(name, str) or name not in TIME_UNITS:
        raise UsageError(f"{option} {name!r} is not a time unit", f"give one of {', '.join(TIME_UNITS)}")
    return TIME_UNITS[name]


def parse_time(text: str, option: str = "--times") -> float:
    """One time in days: ``182`` or ``182d``, ``26w`` (7 d), ``6m`` (30.4375 d), ``2y`` (365.25 d)."""
    m = _TIME.match(text)
    if not m:
        raise UsageError(f"{option} value {text.strip()!r} is not a time",
                         "give days (182) or a number with a unit: 26w, 6m, 2y (week 7 d, month 30.4375 d, year 365.25 d)")
    days = float(m.group(1)) * DAYS_PER[(m.group(2) or "d").lower()]
    if not math.isfinite(days):  # hundreds of digits overflow to inf
        raise UsageError(f"{option} value {text.strip()!r} is too large to be a time",
                         "give days (182) or a number with a unit: 26w, 6m, 2y")
    return days


def parse_times(text: str, option: str = "--times") -> list[float]:
    """Comma-separated times in days, sorted and without repeats: ``182,730``, ``6m,2y``, ``26w``."""
    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise UsageError(f"{option} is empty", "give times such as 182,730 or 6m,2y")
    return sorted({parse_time(p, option) for p in parts})


#: labels name whole units up to this many; beyond, the days in short (%g) form, so a label stays short
_MAX_WHOLE = 1e15


def _whole_units(days: float) -> tuple[int, str] | None:
    """(k, unit) for the largest of year, month, week in which ``days`` is a whole number 1 <= k < 1e15."""
    for unit in ("y", "m", "w"):
        k = days / DAYS_PER[unit]
        if 1 <= k < _MAX_WHOLE and abs(k - round(k)) < 1e-9:
            return int(round(k)), unit
    return None


def _day(days: float) -> str:
    if not math.isfinite(days) or abs(days) >= 1e15:
        return f"{days:g}"
    return str(int(days)) if float(days).is_integer() else f"{days:.1f}"


def time_label(days: float, style: str = "short") -> str:
    """A time in days as people write it.

    ``short``: 182.625 -> "6m", 730.5 -> "2y", 182 -> "26w", 189 -> "27w", 190 -> "190d" (what ``parse_time`` reads back).
    ``long``: 182.625 -> "6 months (day 182.6)", 182 -> "26 weeks (day 182)", 190 -> "day 190".
    """
    whole = _whole_units(days)
    if style == "short":
        return f"{whole[0]}{whole[1]}" if whole else f"{days:g}d"
    if style == "long":
        if whole is None:
            return f"day {_day(days)}"
        k, unit = whole
        return f"{k} {_NAMES[unit]}{'s' if k != 1 else ''} (day {_day(days)})"
    raise ValueError(f"time_label style {style!r} is not 'short' or 'long'")


def nice_step(at_least: float) -> float:
    """The smallest of 1, 2, 5 x 10^k (k any integer) that is >= ``at_least`` (> 0 and finite)."""
    if not (at_least > 0 and math.isfinite(at_least)):
        raise ValueError(f"nice_step needs a positive finite size, got {at_least!r}")
    power = 10.0 ** math.floor(math.log10(at_least))
    for m in (1, 2, 5, 10):
        if m * power >= at_least * (1 - 1e-12):
            return m * power
    return 10 * power


def _multiples(step: float, limit: float, most: int) -> list[float]:
    """step, 2 step, ... up to ``limit``: at most ``most`` of them, whatever step and limit hold."""
    n = min(int(math.floor(limit / step + 1e-9)), most)
    return [j * step for j in range(1, n + 1)]


def round_times_within(limit_days: float, most: int = 4) -> tuple[list[float], str]:
    """The multiples of the smallest step in ``ROUND_STEPS`` that puts at most ``most`` of them in (0, limit_days].

    Returns the times in days and the step as ``parse_time`` reads it ("2m"); no times (and "") when the
    limit is under one day (or not a number). Past ``most`` x 10 years the step is the smallest 1, 2 or 5 x 10^k
    years that gives at most ``most`` times: never more than ``most`` times, whatever the limit.
    """
    if not limit_days >= 0:  # NaN
        return [], ""
    limit = min(limit_days, sys.float_info.max)
    if math.floor(limit / DAYS_PER["d"] + 1e-9) == 0:
        return [], ""
    for k, unit in ROUND_STEPS:
        step = k * DAYS_PER[unit]
        if math.floor(limit / step + 1e-9) <= most:
            return _multiples(step, limit, most), f"{k}{unit}"
    years = nice_step(limit / DAYS_PER["y"] / most)
    return _multiples(years * DAYS_PER["y"], limit, most), f"{years:.0f}y" if years < 1e15 else f"{years:g}y"
