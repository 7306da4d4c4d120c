"""Consistency checks from the paper alone: reported numbers checked against each other, no patient data.

Each rule returns a ``RuleVerdict``: "consistent", "inconsistent" or "not checkable", the rule's name, one
sentence with the numbers used, and the feasible values or patterns where there are some. Reported numbers keep
their decimals (``Reported``): a value reported as 66.7 stands for anything that rounds to it, [66.65, 66.75).

Rules and their sources:

- ``grim`` (percentages and means of integer data): a percentage p of n is possible when some k/n rounds to it;
  a mean of n integer answers on an ``items``-item scale when some integer total T gives T / (n x items) rounding
  to it (Brown & Heathers 2017, "The GRIM test", Soc Psychol Personal Sci 8:363). Rounding: half-up (half away
  from zero) at the reported decimals; half-even is accepted too, and the verdict says which matched. Exact
  integer arithmetic.
- ``grimmer`` (a standard deviation of integer data): given the possible totals T, the sum of squares Q must be
  an integer with Q = T (mod 2) (x^2 and x have the same parity), at least the smallest sum of squares of n
  integers summing to T, and give an SD that rounds to the reported one (Anaya 2016, "The GRIMMER test", PeerJ
  Preprints 4:e2400). The SD's rounding interval is taken closed (both rounding rules).
- ``km`` (a Kaplan-Meier survival of a group of n): S(t) is a product of (1 - 1/r) over deaths, r the number at
  risk, which falls by one at each death and each censoring (tied deaths give the same product). A dynamic
  programme over (censorings, deaths), layered by the number of censorings before the last death, keeps the set
  of reachable products (those below the reported interval are dropped: products only fall; with a reported
  number of deaths D, also those the remaining deaths cannot bring into it), so the first layer with a hit gives
  the simplest patterns; exhausting every layer proves the value unreachable. S lies in {0} and [1/n, 1] (with D
  deaths: [1/(D + 1), (n - D)/n]), which settles far-off values at once. The search stops, "not checkable", after
  ``KM_BUDGET`` partial products.
- ``statcheck`` (a p-value against its test statistic): p recomputed from t(df), F(df1, df2), chi2(df), z or
  r(df) with scipy.stats, two-sided unless one-sided is stated, over the rounding interval of the reported
  statistic; an "=" p is consistent when it lies between the interval's p-values rounded to the reported p's
  decimals, a "<" p when the smallest recomputed p is at most its bound, a ">" p when the largest is at least its bound.
  A decision error is an inconsistency that flips significance at alpha (0.05; p = alpha counts as
  significant). This is statcheck's rule (Nuijten et al. 2016, Behav Res Methods 48:1205; R package statcheck).
- ``hr_ci`` / ``diff_ci`` (an estimate, its confidence interval and its p): SE = (log U - log L) / (2 z) for a
  ratio (U - L for a difference), z the normal quantile of the level (1.959964 for 95%, which Altman & Bland
  round to 1.96), then z = log(HR) / SE and p = 2 P(Z > |z|) (Altman & Bland 2011, BMJ 343:d2090, "How to
  obtain the P value from a confidence interval"); evaluated over the rounding intervals of HR, L and U
  (interval arithmetic), checked with statcheck's rule. The estimate must lie within its CI and at the CI's
  centre on the log scale (a Wald interval) within rounding.

Claims files: ``kind = "consistency"`` claims (keys in ``RULE_KEYS``, format in docs/claims.md) are parsed by
``split_claims``, which hands the other (data) claims back as TOML text for ``analyses.claims.parse_claims``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "CONSISTENT",
    "INCONSISTENT",
    "NOT_CHECKABLE",
    "Reported",
    "RuleVerdict",
    "parse_reported",
    "check_percentage",
    "check_mean",
    "check_sd",
    "check_km",
    "check_p_value",
    "check_ratio_ci",
    "check_difference_ci",
    "implied_statistic",
    "RULE_KEYS",
    "ConsistencyClaim",
    "ConsistencyResult",
    "parse_consistency_claims",
    "split_claims",
    "evaluate_claim",
    "evaluate_consistency",
    "consistency_table",
]

CONSISTENT = "consistent"
INCONSISTENT = "inconsistent"
NOT_CHECKABLE = "not checkable"

#: the KM search stops (verdict "not checkable") once it holds this many partial products
KM_BUDGET = 2_000_000


@dataclass(frozen=True)
class Reported:
    """A number as a paper prints it: its value, decimals, whether it is a percentage, and its relation
    ("=", "<", ">", "<=", ">=": "p < .001" has relation "<")."""

    value: Decimal
    decimals: int
    percent: bool = False
    relation: str = "="
    text: str = ""

    @property
    def half(self) -> Fraction:
        """Half a unit of the last reported decimal: the rounding interval is value ± half."""
        return Fraction(1, 2 * 10 ** self.decimals)

    @property
    def exact(self) -> Fraction:
        return Fraction(self.value)

    @property
    def proportion(self) -> "Reported":
        """A percentage as a proportion (66.7% -> 0.667 with 3 decimals); other numbers unchanged."""
        if not self.percent:
            return self
        return Reported(self.value.scaleb(-2), self.decimals + 2, False, self.relation, self.text)

    def __str__(self) -> str:
        return self.text or f"{self.value}{'%' if self.percent else ''}"


@dataclass(frozen=True)
class RuleVerdict:
    """The outcome of one consistency rule: verdict, rule, one sentence with the numbers, feasible values."""

    rule: str
    verdict: str
    explanation: str
    feasible: tuple[str, ...] = ()
    rounding: str | None = None  # "half-up", "half-even" or None: which rounding rule matched
    decision_error: bool = False  # statcheck: an inconsistency that flips significance at alpha
    numbers: tuple[tuple[str, float], ...] = ()  # what the rule computed: ("p", 0.0362), ("p_low", ...), ...

    def number(self, name: str) -> float | None:
        """One of the computed numbers by name (None when the rule did not compute it)."""
        return dict(self.numbers).get(name)


_NUMBER = re.compile(r"^\s*(?:p\s*)?(<=|>=|≤|≥|=|<|>)?\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(%)?\s*$")
_RELATIONS = {"≤": "<=", "≥": ">="}


def parse_reported(value: Any, name: str = "value") -> Reported:
    """A reported number from text ("66.7%", ".036", "p < .001", "2.20") or a number (decimals as written by
    Python's shortest repr: 2.20 as a number is 2.2, so write "2.20" as text to keep its last zero).
    Raises ValueError with a message naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{name} must be a number or text such as \"66.7%\", not {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, not {value!r}")
        text = repr(value)
    else:
        text = str(value)
    m = _NUMBER.match(text)
    if not m:
        raise ValueError(f"{name} = {value!r} is not a number as a paper prints it (e.g. \"66.7%\", \"0.036\", "
                         f"\"< 0.001\")")
    relation = _RELATIONS.get(m.group(1), m.group(1)) or "="
    try:
        number = Decimal(m.group(2))
    except InvalidOperation as exc:  # the pattern admits only numbers; kept for safety
        raise ValueError(f"{name} = {value!r} is not a number") from exc
    decimals = max(0, -number.as_tuple().exponent)
    if "e" in m.group(2).lower():
        number = Decimal(format(number, "f"))
    shown = text.strip() if isinstance(value, str) else text
    return Reported(number, decimals, m.group(3) is not None, relation, shown)


# --------------------------------------------------------------------------- rounding
def _rounds_to(x: Fraction, target: Reported) -> str | None:
    """Which rule rounds the exact ``x`` to ``target`` at its decimals: "half-up" (half away from zero, also
    when half-even agrees), "half-even" (only half-even does), or None."""
    scale = 10 ** target.decimals
    v = target.exact * scale
    xs = x * scale
    if v < 0 or (v == 0 and xs < 0):
        v, xs = -v, -xs
    diff = xs - v
    if abs(diff) < Fraction(1, 2):
        return "half-up"
    if diff == Fraction(-1, 2):  # x lies half a unit below: half-up rounds it up to v
        return "half-up"
    if diff == Fraction(1, 2) and int(v) % 2 == 0:  # half a unit above: only half-even rounds down to an even v
        return "half-even"
    return None


def _fmt(x: float, digits: int = 4) -> str:
    """A number for a sentence: ``digits`` significant digits, no exponent."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:.{decimals}f}"


@dataclass(frozen=True)
class _Shown:
    """A reported percentage or proportion as the sentences show it, with the decimals of its percentage."""

    reported: Reported

    @property
    def decimals(self) -> int:
        r = self.reported
        return r.decimals if r.percent else max(0, r.decimals - 2)

    def __str__(self) -> str:
        return str(self.reported)


def _fmt_pct(x: Fraction, decimals: int) -> str:
    return f"{float(x) * 100:.{max(decimals, 1)}f}%"


# --------------------------------------------------------------------------- GRIM
def _totals_near(target: Reported, denominator: int) -> np.ndarray:
    """Integer totals T whose T / denominator may round to ``target``: the few around target x denominator."""
    centre = math.floor(target.exact * denominator)
    return np.arange(centre - 2, centre + 3, dtype=np.int64)


def _matching_totals(target: Reported, denominator: int) -> list[tuple[int, str]]:
    candidates = _totals_near(target, denominator)
    # integer pre-screen, vectorised: |2 (T 10^d - V N)| <= N, the closed rounding interval; ties resolved exactly
    scale = 10 ** target.decimals
    v = int(target.exact * scale)
    close = np.abs(2 * (candidates * scale - v * denominator)) <= denominator
    out = []
    for t in candidates[close].tolist():  # at most two totals
        rule = _rounds_to(Fraction(t, denominator), target)
        if rule:
            out.append((t, rule))
    return out


def check_percentage(value: Reported, n: int) -> RuleVerdict:
    """GRIM for a percentage (or a proportion): is it k/n for some integer k = 0..n, at the reported decimals?"""
    _positive(n, "n")
    prop = value.proportion
    pct = _Shown(value)
    if not 0 <= prop.exact <= 1:
        return RuleVerdict("grim", INCONSISTENT, f"{pct} of {n} is not a percentage between 0% and 100%.")
    hits = [(k, r) for k, r in _matching_totals(prop, n) if 0 <= k <= n]
    if hits:
        k, rule = hits[0]
        alts = ", ".join(f"{k}/{n}" for k, _ in hits)
        return RuleVerdict("grim", CONSISTENT,
                           f"{pct} of {n} is {alts} = {_fmt_pct(Fraction(k, n), pct.decimals + 1)} "
                           f"(rounded {rule} to {value.decimals} decimal{'s' if value.decimals != 1 else ''}).",
                           tuple(f"{k}/{n}" for k, _ in hits), rule)
    below = math.floor(prop.exact * n)
    near = [k for k in (below, below + 1) if 0 <= k <= n]
    nearest = ", ".join(f"{k}/{n} = {_fmt_pct(Fraction(k, n), pct.decimals)}" for k in near)
    km = check_km(value, n, budget=KM_BUDGET // 10)
    if km.verdict == CONSISTENT:
        as_km = (f"a Kaplan-Meier estimate can give it only with censoring: {km.feasible[0]} "
                 f"(rule \"km\" lists the patterns)")
    elif km.verdict == INCONSISTENT:
        as_km = f"no Kaplan-Meier estimate of a group of {n} gives it either"
    else:
        as_km = "a Kaplan-Meier estimate might give it with censoring (check it with rule \"km\")"
    return RuleVerdict("grim", INCONSISTENT, f"no k/{n} rounds to {pct} (nearest: {nearest}); {as_km}.",
                       tuple(f"{k}/{n}" for k in near))


def check_mean(mean: Reported, n: int, items: int = 1) -> RuleVerdict:
    """GRIM for a mean of n integer answers (an ``items``-item scale: totals in steps of 1 / items)."""
    _positive(n, "n")
    _positive(items, "items")
    N = n * items
    of = f"n = {n}" + (f" x {items} items" if items > 1 else "")
    if N >= 10 ** mean.decimals:
        return RuleVerdict("grim", NOT_CHECKABLE,
                           f"with {of} and {mean.decimals} decimal(s) every mean is possible "
                           f"({N} >= 10^{mean.decimals}): GRIM cannot test {mean}.")
    hits = _matching_totals(mean, N)
    if hits:
        t, rule = hits[0]
        return RuleVerdict("grim", CONSISTENT,
                           f"mean {mean} with {of} is a total of {t} / {N} = {_fmt(t / N, 6)} "
                           f"(rounded {rule}).", tuple(f"{t}/{N}" for t, _ in hits), rule)
    below = math.floor(mean.exact * N)
    near = ", ".join(f"{t}/{N} = {float(Fraction(t, N)):.{mean.decimals}f}" for t in (below, below + 1))
    return RuleVerdict("grim", INCONSISTENT,
                       f"mean {mean} is impossible for {of} integer answers: no total T gives T/{N} rounding to "
                       f"it (nearest: {near}).", tuple(f"{t}/{N}" for t in (below, below + 1)))


def check_sd(mean: Reported, sd: Reported, n: int, items: int = 1) -> RuleVerdict:
    """GRIMMER: is the SD possible for n integer answers (``items``-item scale) with this mean?"""
    _positive(n, "n")
    _positive(items, "items")
    if n < 2:
        return RuleVerdict("grimmer", NOT_CHECKABLE, f"an SD needs n >= 2, and n = {n}.")
    if sd.exact < 0:
        return RuleVerdict("grimmer", INCONSISTENT, f"SD {sd} is negative.")
    grim = check_mean(mean, n, items)
    if grim.verdict == INCONSISTENT:
        return RuleVerdict("grimmer", INCONSISTENT, "the mean fails GRIM: " + grim.explanation, grim.feasible)
    N = n * items
    if grim.verdict == CONSISTENT:
        totals = [int(f.split("/")[0]) for f in grim.feasible]
    else:  # every mean is possible: the totals within the mean's rounding interval
        lo = math.ceil((mean.exact - mean.half) * N)
        hi = math.floor((mean.exact + mean.half) * N)
        totals = list(range(lo, hi + 1))
    lo_sd = max(Fraction(0), sd.exact - sd.half) * items
    hi_sd = (sd.exact + sd.half) * items
    found = []
    for t in totals:  # the totals the mean allows: one or two when GRIM applies, more for large n
        q_lo = (n - 1) * lo_sd ** 2 + Fraction(t * t, n)
        q_hi = (n - 1) * hi_sd ** 2 + Fraction(t * t, n)
        q_min_int = _least_sum_of_squares(t, n)
        first = max(math.ceil(q_lo), q_min_int)
        if (first - t) % 2:
            first += 1  # Q and T have the same parity
        if first <= q_hi:
            found.append((t, first))
            if len(found) == 5:  # enough to show
                break
    if found:
        t, q = found[0]
        sd_q = math.sqrt((q - t * t / n) / (n - 1)) / items
        return RuleVerdict("grimmer", CONSISTENT,
                           f"SD {sd} with mean {mean} and n = {n} is possible: total {t} and sum of squares {q} "
                           f"give SD {_fmt(sd_q, 6)}.", tuple(f"T={t}, Q={q}" for t, q in found))
    return RuleVerdict("grimmer", INCONSISTENT,
                       f"SD {sd} is impossible for n = {n} integer answers with mean {mean}: no integer sum of "
                       f"squares of the right parity gives an SD rounding to it (totals tried: "
                       f"{', '.join(map(str, totals))}).")


def _least_sum_of_squares(total: int, n: int) -> int:
    """The smallest sum of squares of n integers summing to ``total`` (values as equal as possible)."""
    q, r = divmod(total, n)
    return n * q * q + r * (2 * q + 1)


# --------------------------------------------------------------------------- Kaplan-Meier feasibility
@dataclass(frozen=True)
class _Layer:
    values: np.ndarray  # products
    from_c: np.ndarray  # the censoring layer of the predecessor (a death's word before it)
    from_i: np.ndarray  # its index there


def _km_words(n: int, lo: float, hi: float, events: int | None, budget: int):
    """The simplest (fewest censorings before the last death) words reaching [lo, hi] (floats, with a small
    margin; the caller checks exactly). Returns (hits, layers, exhausted): hits as (deaths, censorings, index)."""
    tol = 1e-9
    V: dict[tuple[int, int], _Layer] = {(0, 0): _Layer(np.array([1.0]), np.array([0]), np.array([0]))}
    U: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # deaths -> (values, layer, index), cumulative
    held = 1
    max_d = n if events is None else events
    for c in range(0, n):
        hits = []
        for d in range(1, min(max_d, n - c) + 1):
            prev = V.get((d - 1, c))
            if prev is not None and prev.values.size:
                old = U.get(d - 1, (np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64)))
                vals = np.concatenate([old[0], prev.values])
                layer = np.concatenate([old[1], np.full(prev.values.size, c, np.int64)])
                index = np.concatenate([old[2], np.arange(prev.values.size)])
                _, first = np.unique(np.round(vals, 12), return_index=True)
                U[d - 1] = (vals[first], layer[first], index[first])
            pool = U.get(d - 1)
            if pool is None or not pool[0].size:
                continue
            r = n - (d - 1) - c  # at risk just before this death
            if r < 1:
                continue
            values = pool[0] * ((r - 1) / r)
            keep = values >= lo - tol
            if events is not None:
                # k deaths to come among the r - 1 left: S ends in [S / (k + 1), S (r - 1 - k) / (r - 1)]
                k, left = events - d, r - 1
                most = 1.0 if k == 0 else (max(left - k, 0) / left if left else 0.0)
                keep &= values * most >= lo - tol
                if lo > 0:
                    keep &= values / (k + 1) <= hi + tol
            layer = _Layer(values[keep], pool[1][keep], pool[2][keep])
            V[(d, c)] = layer
            held += layer.values.size
            if events is None or d == events:
                inside = np.flatnonzero((layer.values >= lo - tol) & (layer.values <= hi + tol))
                hits.extend((d, c, int(i)) for i in inside)
        if hits:
            return hits, V, True
        if held > budget:
            return [], V, False
    return [], V, True


def _km_range(n: int, events: int | None) -> list[tuple[Fraction, Fraction]]:
    """Where S can lie: 0, or from 1/n (every death, no censoring) to 1; with D deaths, 0 or from 1/(D + 1)
    (censorings down to D + 1 at risk, then the deaths) to (n - D)/n (the deaths first)."""
    if events is None:
        return [(Fraction(0), Fraction(0)), (Fraction(1, n), Fraction(1))]
    top = Fraction(n - events, n)
    return [(Fraction(0), Fraction(0)), (Fraction(1, events + 1), top)] if events < n else [(Fraction(0), Fraction(0))]


def _km_word(V, d: int, c: int, i: int) -> list[int]:
    """The censorings before each death (since the previous one) of the word ending at V[(d, c)][i]."""
    gaps = []
    while d > 0:
        layer = V[(d, c)]
        pc, pi = int(layer.from_c[i]), int(layer.from_i[i])
        gaps.append(c - pc)
        d, c, i = d - 1, pc, pi
    return gaps[::-1]


def _km_product(n: int, gaps: list[int]) -> Fraction:
    s, removed = Fraction(1), 0
    for g in gaps:
        removed += g
        r = n - removed
        s *= Fraction(r - 1, r)
        removed += 1
    return s


def _km_pattern_text(n: int, gaps: list[int]) -> str:
    """"2 censored, then 2 deaths among the 6 at risk" for gaps [2, 0]."""
    parts, removed, run, run_r = [], 0, 0, 0
    for g in gaps:
        if g and run:
            parts.append(f"{run} death{'s' if run > 1 else ''} among the {run_r} at risk")
            run = 0
        if g:
            parts.append(f"{g} censored")
            removed += g
        if run == 0:
            run_r = n - removed
        run += 1
        removed += 1
    parts.append(f"{run} death{'s' if run > 1 else ''} among the {run_r} at risk")
    return ", then ".join(parts)


def _frac_text(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def check_km(survival: Reported, n: int, events: int | None = None, budget: int = KM_BUDGET) -> RuleVerdict:
    """Can a Kaplan-Meier estimate of a group of n give the reported S(t) (with ``events`` deaths by t)?"""
    _positive(n, "n")
    if events is not None and not 0 <= events <= n:
        return RuleVerdict("km", INCONSISTENT, f"{events} events cannot happen in a group of {n}.")
    prop = survival.proportion
    pct = _Shown(survival)
    lo, hi = prop.exact - prop.half, prop.exact + prop.half
    what = f"{pct} of {n}" + (f" with {events} death{'s' if events != 1 else ''}" if events is not None else "")
    if not 0 <= prop.exact <= 1:
        return RuleVerdict("km", INCONSISTENT, f"{pct} is not a survival probability.")
    if _rounds_to(Fraction(1), prop) and events in (None, 0):
        return RuleVerdict("km", CONSISTENT, f"{what} means no death by then (S = 1).", ("1 = no death",), "half-up",
                           numbers=(("survival", 1.0), ("deaths", 0.0), ("censorings", 0.0)))
    if events == 0:
        return RuleVerdict("km", INCONSISTENT, f"{what}: with no death S(t) = 100%, not {pct}.")
    bounds = _km_range(n, events)
    if not any(a <= hi and b >= lo for a, b in bounds):
        shown = " or ".join(f"{_fmt_pct(a, pct.decimals)}" if a == b else
                            f"{_fmt_pct(a, pct.decimals)} to {_fmt_pct(b, pct.decimals)}" for a, b in bounds)
        return RuleVerdict("km", INCONSISTENT,
                           f"{what} is unreachable: a Kaplan-Meier estimate of a group of {n}"
                           f"{' with ' + str(events) + ' deaths' if events is not None else ''} is {shown}.")
    hits, V, exhausted = _km_words(n, float(lo), float(hi), events, budget)
    found = []
    for d, c, i in hits:
        gaps = _km_word(V, d, c, i)
        s = _km_product(n, gaps)
        rule = _rounds_to(s, prop)
        if rule:
            found.append((s, d, c, gaps, rule))
    if not found:
        if not exhausted:
            return RuleVerdict("km", NOT_CHECKABLE,
                               f"{what}: no censoring pattern found before the search budget "
                               f"({budget} partial products) ran out.")
        nearest = ", ".join(f"{k}/{n} = {_fmt_pct(Fraction(k, n), pct.decimals)}"
                            for k in sorted({math.floor(prop.exact * n), math.ceil(prop.exact * n)}) if 0 <= k <= n)
        return RuleVerdict("km", INCONSISTENT,
                           f"{what} is unreachable: no pattern of deaths and censorings in a group of {n} gives a "
                           f"Kaplan-Meier estimate rounding to it (every pattern enumerated; k/{n} nearby: "
                           f"{nearest}).")
    found.sort(key=lambda f: (f[2], f[1], sum(1 for g in f[3] if g), f[3]))  # censorings, deaths, gaps
    s, d, c, gaps, rule = found[0]
    deaths = sorted({f[1] for f in found})
    patterns = []
    for f in found:
        text = f"{_frac_text(f[0])} = {_fmt_pct(f[0], pct.decimals + 1)}: {_km_pattern_text(n, f[3])}"
        if text not in patterns:
            patterns.append(text)
    deaths_text = " or ".join(map(str, deaths)) + f" death{'s' if deaths != [1] else ''}"
    numbers = (("survival", float(s)), ("deaths", float(d)), ("censorings", float(c)))
    if c == 0:
        return RuleVerdict("km", CONSISTENT,
                           f"{what} is {n - d}/{n} = {_fmt_pct(s, pct.decimals + 1)} with no censoring: "
                           f"{deaths_text}.", tuple(patterns[:5]), rule, numbers=numbers)
    not_k = ""
    if events is None:
        near = sorted({math.floor(prop.exact * n), math.ceil(prop.exact * n)})
        not_k = f" is not k/{n} ({', '.join(f'{k}/{n} = {_fmt_pct(Fraction(k, n), pct.decimals)}' for k in near)}) and"
    return RuleVerdict("km", CONSISTENT,
                       f"{what}{not_k} needs {c} censoring{'s' if c > 1 else ''} before the last death: "
                       f"reachable as {_frac_text(s)} with {deaths_text}, e.g. "
                       f"{_km_pattern_text(n, gaps)}.", tuple(patterns[:5]), rule, numbers=numbers)


# --------------------------------------------------------------------------- statcheck
TESTS = ("t", "F", "chi2", "z", "r")


def _p_from(test: str, stat: float, df1: float | None, df2: float | None, tails: int) -> float:
    from scipy import stats

    if test == "t":
        p = stats.t.sf(abs(stat), df1)
    elif test == "z":
        p = stats.norm.sf(abs(stat))
    elif test == "r":
        if abs(stat) >= 1:
            return 0.0
        t = abs(stat) * math.sqrt(df1 / (1 - stat * stat))
        p = stats.t.sf(t, df1)
    elif test == "F":
        return float(stats.f.sf(stat, df1, df2))  # one-sided by nature
    else:
        return float(stats.chi2.sf(stat, df1))
    return float(p * (2 if tails == 2 else 1))


def implied_statistic(test: str, p: float, df1: float | None = None, df2: float | None = None,
                      tails: int = 2) -> float:
    """The statistic that gives p exactly (chi2: the upper quantile; t, z, r: positive)."""
    from scipy import stats

    q = p / 2 if tails == 2 and test in ("t", "z", "r") else p
    if test == "chi2":
        return float(stats.chi2.isf(p, df1))
    if test == "F":
        return float(stats.f.isf(p, df1, df2))
    if test == "z":
        return float(stats.norm.isf(q))
    t = float(stats.t.isf(q, df1))
    return t if test == "t" else t / math.sqrt(df1 + t * t)


def _p_verdict(p: Reported, low_p: float, up_p: float, alpha: float) -> tuple[bool, bool, str]:
    """statcheck's comparison of a reported p with the recomputed interval [low_p, up_p]: (consistent,
    decision error, what was compared)."""
    rp = p.exact
    if p.relation == "=":
        lo_r, hi_r = _round_p(low_p, p.decimals, "down"), _round_p(up_p, p.decimals, "up")
        ok = lo_r <= rp <= hi_r
        shown = _fmt_frac(lo_r, p.decimals) + ("" if lo_r == hi_r else f" to {_fmt_frac(hi_r, p.decimals)}")
        compared = f"the recomputed p rounds to {shown}"
        reported_sig = rp <= Fraction(str(alpha))
    elif p.relation in ("<", "<="):
        ok = not rp < Fraction(low_p)
        compared = f"the smallest recomputed p is {_fmt(low_p)}"
        reported_sig = rp <= Fraction(str(alpha))
    else:
        ok = not rp > Fraction(up_p)
        compared = f"the largest recomputed p is {_fmt(up_p)}"
        reported_sig = not rp >= Fraction(str(alpha))
    if ok:
        return True, False, compared
    computed_sig = up_p <= alpha
    computed_ns = low_p > alpha
    decision = (reported_sig and computed_ns) or (not reported_sig and computed_sig)
    return False, decision, compared


def _round_p(x: float, decimals: int, way: str) -> Fraction:
    """x rounded to ``decimals``; at an exact tie "down" takes the lower and "up" the upper neighbour (both
    half-up and half-even are accepted)."""
    s = 10 ** decimals
    scaled = Fraction(x) * s
    base = math.floor(scaled)
    frac = scaled - base
    if frac > Fraction(1, 2) or (frac == Fraction(1, 2) and way == "up"):
        base += 1
    return Fraction(base, s)


def _fmt_frac(x: Fraction, decimals: int) -> str:
    return f"{float(x):.{decimals}f}"


def _stat_label(test: str, df1, df2) -> str:
    df = lambda v: str(int(v)) if float(v).is_integer() else _fmt(float(v))  # noqa: E731
    if test == "F":
        return f"F({df(df1)}, {df(df2)})"
    if test == "z":
        return "z"
    return f"{'chi2' if test == 'chi2' else test}({df(df1)})"


def check_p_value(test: str, p: Reported, statistic: Reported | None, df1: float | None = None,
                  df2: float | None = None, tails: int = 2, alpha: float = 0.05) -> RuleVerdict:
    """statcheck: is the reported p consistent with the reported statistic (see the module docstring)?"""
    if test not in TESTS:
        raise ValueError(f"test must be one of {', '.join(TESTS)}, not {test!r}")
    label = _stat_label(test, df1, df2)
    sided = "one-sided" if tails == 1 and test in ("t", "z", "r") else ("two-sided" if test in ("t", "z", "r") else "")
    if statistic is None:
        implied = implied_statistic(test, float(p.exact), df1, df2, tails) if p.relation == "=" else None
        more = f"; p = {p.value} implies {label} = {_fmt(implied, 5)}" if implied is not None else ""
        return RuleVerdict("statcheck", NOT_CHECKABLE, f"no test statistic reported{more}.",
                           numbers=(("statistic", implied),) if implied is not None else ())
    st = float(statistic.exact)
    h = float(statistic.half)
    if test in ("F", "chi2") and st < 0:
        return RuleVerdict("statcheck", INCONSISTENT, f"{label} = {statistic}: this statistic cannot be negative.")
    if test == "r" and abs(st) > 1:
        return RuleVerdict("statcheck", INCONSISTENT, f"r = {statistic} is outside [-1, 1].")
    small, large = max(abs(st) - h, 0.0), abs(st) + h
    if test == "r":
        large = min(large, 1.0)
    up_p = _p_from(test, small if test not in ("F", "chi2") else max(st - h, 0.0), df1, df2, tails)
    low_p = _p_from(test, large if test not in ("F", "chi2") else st + h, df1, df2, tails)
    p_at = _p_from(test, st, df1, df2, tails)
    ok, decision, compared = _p_verdict(p, low_p, up_p, alpha)
    shown_p = p.text if p.text.lower().startswith("p") else f"p {p.relation} {p.value}"
    head = (f"{label} = {statistic} gives p = {_fmt(p_at)}{' ' + sided if sided else ''} "
            f"({_fmt(low_p)} to {_fmt(up_p)} over the statistic's rounding interval); {compared}")
    numbers = (("p", p_at), ("p_low", low_p), ("p_up", up_p))
    if ok:
        return RuleVerdict("statcheck", CONSISTENT, f"{head}: reported {shown_p} fits.",
                           (f"{_fmt(low_p)} to {_fmt(up_p)}",), numbers=numbers)
    tail = f"reported {shown_p} does not fit"
    if decision:
        tail += f", and the conclusion at alpha = {alpha:g} flips (a decision error)"
    return RuleVerdict("statcheck", INCONSISTENT, f"{head}: {tail}.", (f"{_fmt(low_p)} to {_fmt(up_p)}",),
                       decision_error=decision, numbers=numbers)


# --------------------------------------------------------------------------- estimate and CI
def _interval(x: Reported) -> tuple[float, float]:
    return float(x.exact - x.half), float(x.exact + x.half)


def _ci_check(rule: str, name: str, est: Reported, low: Reported, high: Reported, p: Reported | None,
              level: float, log: bool, alpha: float) -> RuleVerdict:
    from scipy import stats

    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level}")
    z_crit = float(stats.norm.isf((1 - level) / 2))
    e, l, u = float(est.exact), float(low.exact), float(high.exact)
    ci = f"{name} {est} ({level * 100:g}% CI {low} to {high})"
    if log and min(e, l, u) <= 0:
        return RuleVerdict(rule, INCONSISTENT, f"{ci}: a ratio and its CI must be positive.")
    if l > u:
        return RuleVerdict(rule, INCONSISTENT, f"{ci}: the lower limit is above the upper one.")
    if not l <= e <= u:
        return RuleVerdict(rule, INCONSISTENT, f"{ci}: the estimate lies outside its confidence interval.")
    f = (lambda v: math.log(max(v, 1e-300))) if log else (lambda v: v)  # noqa: E731
    (e_lo, e_hi), (l_lo, l_hi), (u_lo, u_hi) = _interval(est), _interval(low), _interval(high)
    mid_lo, mid_hi = (f(l_lo) + f(u_lo)) / 2, (f(l_hi) + f(u_hi)) / 2
    centre = math.exp((f(l) + f(u)) / 2) if log else (l + u) / 2
    scale_word = "on the log scale " if log else ""
    if f(e_hi) < mid_lo or f(e_lo) > mid_hi:
        return RuleVerdict(rule, INCONSISTENT,
                           f"{ci}: the CI is not centred on the estimate {scale_word}(its centre is "
                           f"{_fmt(centre)}), even allowing for rounding; a Wald interval would be (another kind "
                           f"of interval cannot give the p this way).")
    if p is None:
        return RuleVerdict(rule, CONSISTENT, f"{ci}: the estimate is at the CI's centre {scale_word}(within rounding).")
    se = (f(u) - f(l)) / (2 * z_crit)
    se_lo, se_hi = max((f(u_lo) - f(l_hi)) / (2 * z_crit), 1e-300), (f(u_hi) - f(l_lo)) / (2 * z_crit)
    a_lo = 0.0 if f(e_lo) <= 0 <= f(e_hi) else min(abs(f(e_lo)), abs(f(e_hi)))
    a_hi = max(abs(f(e_lo)), abs(f(e_hi)))
    z_small, z_large = a_lo / se_hi, a_hi / se_lo
    up_p, low_p = 2 * float(stats.norm.sf(z_small)), 2 * float(stats.norm.sf(z_large))
    p_at = 2 * float(stats.norm.sf(abs(f(e)) / se)) if se > 0 else 0.0
    ok, decision, compared = _p_verdict(p, low_p, up_p, alpha)
    z_text = _fmt(f(e) / se) if se else "infinite"
    head = (f"{ci} gives SE = {_fmt(se)}{' of log ' + name if log else ''}, z = {z_text}, p = {_fmt(p_at)}"
            f" ({_fmt(low_p)} to {_fmt(up_p)} over the rounding intervals); {compared}")
    shown_p = p.text if p.text.lower().startswith("p") else f"p {p.relation} {p.value}"
    numbers = (("se", se), ("z", f(e) / se if se else math.copysign(math.inf, f(e))), ("p", p_at), ("p_low", low_p),
               ("p_up", up_p))
    if ok:
        return RuleVerdict(rule, CONSISTENT, f"{head}: reported {shown_p} fits.", (f"{_fmt(low_p)} to {_fmt(up_p)}",),
                           numbers=numbers)
    tail = f"reported {shown_p} does not fit"
    if decision:
        tail += f", and the conclusion at alpha = {alpha:g} flips (a decision error)"
    return RuleVerdict(rule, INCONSISTENT, f"{head}: {tail}.", (f"{_fmt(low_p)} to {_fmt(up_p)}",),
                       decision_error=decision, numbers=numbers)


def check_ratio_ci(hr: Reported, low: Reported, high: Reported, p: Reported | None = None, level: float = 0.95,
                   alpha: float = 0.05, name: str = "HR") -> RuleVerdict:
    """A ratio (hazard, odds, risk) with its CI: within the CI, log-symmetric, and the p it implies
    (Altman & Bland 2011)."""
    return _ci_check("hr_ci", name, hr, low, high, p, level, True, alpha)


def check_difference_ci(estimate: Reported, low: Reported, high: Reported, p: Reported | None = None,
                        level: float = 0.95, alpha: float = 0.05, name: str = "difference") -> RuleVerdict:
    """A difference (of means, of proportions) with its CI: within the CI, symmetric, and the p it implies."""
    return _ci_check("diff_ci", name, estimate, low, high, p, level, False, alpha)


def _positive(n: Any, name: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{name} must be a positive whole number, not {n!r}")


# --------------------------------------------------------------------------- claims files
#: the keys of each rule (besides id, text, kind, rule, source, published): required, then optional
RULE_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "grim": (("n", "value"), ("items",)),
    "grimmer": (("n", "mean", "sd"), ("items",)),
    "km": (("n", "survival"), ("events", "time")),
    "statcheck": (("test", "p"), ("statistic", "df", "df1", "df2", "tails", "alpha")),
    "hr_ci": (("hr", "low", "high"), ("p", "level", "alpha", "measure")),
    "diff_ci": (("estimate", "low", "high"), ("p", "level", "alpha", "measure")),
}
_COMMON_KEYS = {"id", "text", "kind", "rule", "source", "published"}
_NUMBER_KEYS = {"value", "mean", "sd", "survival", "statistic", "p", "hr", "low", "high", "estimate"}
KIND = "consistency"


@dataclass(frozen=True)
class ConsistencyClaim:
    """A consistency claim of a claims file: the rule and its parsed arguments (``args``: key, value pairs;
    numbers as ``Reported``)."""

    id: str
    text: str
    rule: str
    args: tuple[tuple[str, Any], ...]
    reported: str
    source: str | None = None

    def arg(self, key: str, default: Any = None) -> Any:
        return dict(self.args).get(key, default)


@dataclass(frozen=True)
class ConsistencyResult:
    """A consistency claim and its rule's verdict."""

    claim: ConsistencyClaim
    outcome: RuleVerdict

    @property
    def verdict(self) -> str:
        return self.outcome.verdict


def _usage(where: str, message: str, hint: str | None = None):
    from trialkit.schemas.errors import UsageError

    return UsageError(f"{where}: {message}",
                      hint or "see docs/claims.md, \"Consistency checks from the paper alone\", for the keys")


def _whole(raw: dict, key: str, where: str, *, least: int, default: Any = None) -> Any:
    v = raw.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < least:
        raise _usage(where, f"{key} must be a whole number >= {least}, not {v!r}")
    return v


def _positive_number(raw: dict, key: str, where: str) -> float | None:
    v = raw.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise _usage(where, f"{key} must be a positive number, not {v!r}")
    return float(v)


def _reported_text(rule: str, a: dict) -> str:
    if rule == "grim":
        items = f" x {a['items']} items" if a.get("items", 1) > 1 else ""
        what = "" if a["value"].percent else "mean "
        return f"{what}{a['value']} of n = {a['n']}{items}"
    if rule == "grimmer":
        return f"mean {a['mean']}, SD {a['sd']}, n = {a['n']}"
    if rule == "km":
        at = f" at {a['time']}" if a.get("time") else ""
        ev = f", {a['events']} events" if a.get("events") is not None else ""
        return f"S{at} = {a['survival']} of n = {a['n']}{ev}"
    if rule == "statcheck":
        stat = f"{_stat_label(a['test'], a.get('df1'), a.get('df2'))}"
        stat += f" = {a['statistic']}" if a.get("statistic") is not None else " (no statistic)"
        p = a["p"]
        shown = p.text if p.text.lower().startswith("p") else f"p {p.relation} {p.value}"
        return f"{stat}, {shown}" + (", one-sided" if a.get("tails") == 1 else "")
    est = a.get("hr", a.get("estimate"))
    name = a.get("measure") or ("HR" if rule == "hr_ci" else "difference")
    level = a.get("level") or 0.95
    p = a.get("p")
    shown = "" if p is None else (f", {p.text}" if p.text.lower().startswith("p") else f", p {p.relation} {p.value}")
    return f"{name} {est} ({level * 100:g}% CI {a['low']} to {a['high']}){shown}"


def _parse_one(raw: dict, where: str, cid: str) -> ConsistencyClaim:
    rule = raw.get("rule")
    if rule not in RULE_KEYS:
        raise _usage(where, f"rule must be one of {', '.join(RULE_KEYS)}, not {rule!r}")
    required, optional = RULE_KEYS[rule]
    unknown = sorted(set(raw) - _COMMON_KEYS - set(required) - set(optional))
    if unknown:
        raise _usage(where, f"unknown key(s) {', '.join(unknown)} for rule {rule!r}",
                     f"rule {rule!r} takes {', '.join(required)}" + (f" and optionally {', '.join(optional)}"
                                                                     if optional else ""))
    missing = [k for k in required if k not in raw]
    if missing:
        raise _usage(where, f"rule {rule!r} needs {', '.join(missing)}")
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _usage(where, "text (the claim as published) is required")
    a: dict[str, Any] = {}
    for key in (*required, *optional):
        if key not in raw or key not in _NUMBER_KEYS:
            continue
        try:
            a[key] = parse_reported(raw[key], key)
        except ValueError as exc:
            raise _usage(where, str(exc)) from exc
        if a[key].relation != "=" and key != "p":
            raise _usage(where, f"{key} = {raw[key]!r}: only p may be reported as an inequality")
        if a[key].percent and key not in ("value", "survival"):
            raise _usage(where, f"{key} = {raw[key]!r}: only value and survival may be percentages")
    if "n" in required:
        a["n"] = _whole(raw, "n", where, least=1)
    if rule in ("grim", "grimmer"):
        a["items"] = _whole(raw, "items", where, least=1, default=1)
    if rule == "km":
        a["events"] = _whole(raw, "events", where, least=0)
        if a["events"] is not None and a["events"] > a["n"]:
            raise _usage(where, f"events = {a['events']} is more than n = {a['n']}")
        if raw.get("time") is not None and not isinstance(raw["time"], str):
            raise _usage(where, f"time must be text (a label such as \"2 years\"), not {raw['time']!r}")
        a["time"] = raw.get("time")
    if rule == "grimmer" and a["n"] < 2:
        raise _usage(where, f"n = {a['n']}: an SD needs n >= 2")
    if rule == "statcheck":
        _parse_statcheck(raw, a, where)
    if rule in ("hr_ci", "diff_ci"):
        a["level"] = _positive_number(raw, "level", where) or 0.95
        if not a["level"] < 1:
            raise _usage(where, f"level must be below 1 (0.95 for a 95% CI), not {a['level']!r}")
        a["alpha"] = _positive_number(raw, "alpha", where) or 0.05
        m = raw.get("measure")
        if m is not None and (not isinstance(m, str) or not m.strip()):
            raise _usage(where, "measure must be text (\"HR\", \"OR\", \"RR\", \"mean difference\")")
        a["measure"] = m
    for name in ("source", "published"):
        if raw.get(name) is not None and not isinstance(raw[name], str):
            raise _usage(where, f"{name} must be text")
    reported = raw.get("published") or _reported_text(rule, a)
    args = tuple((k, v) for k, v in a.items() if v is not None)
    return ConsistencyClaim(cid, text.strip(), rule, args, reported, raw.get("source"))


def _parse_statcheck(raw: dict, a: dict, where: str) -> None:
    test = raw.get("test")
    if test not in TESTS:
        raise _usage(where, f"test must be one of {', '.join(TESTS)}, not {test!r}")
    a["test"] = test
    df, df1, df2 = raw.get("df"), raw.get("df1"), raw.get("df2")
    if isinstance(df, list):
        if len(df) != 2 or df1 is not None or df2 is not None:
            raise _usage(where, "df as a list is [df1, df2] (for F); or give df1 and df2")
        df1, df2 = df
    elif df is not None:
        if df1 is not None:
            raise _usage(where, "give df or df1, not both")
        df1 = df
    for name, v in (("df", df1), ("df2", df2)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0
                              or not math.isfinite(v)):
            raise _usage(where, f"{name} must be a positive number, not {v!r}")
    if test == "F" and (df1 is None or df2 is None):
        raise _usage(where, "test F needs df = [df1, df2]")
    if test in ("t", "chi2", "r") and df1 is None:
        raise _usage(where, f"test {test} needs df")
    if test in ("t", "chi2", "r", "z") and df2 is not None:
        raise _usage(where, f"test {test} takes one df, not df2")
    if test == "z" and df1 is not None:
        raise _usage(where, "test z takes no df")
    a["df1"], a["df2"] = df1, df2
    tails = raw.get("tails", 2)
    if tails not in (1, 2) or isinstance(tails, bool):
        raise _usage(where, f"tails must be 1 (one-sided) or 2, not {tails!r}")
    if tails == 1 and test in ("F", "chi2"):
        raise _usage(where, f"test {test} is one-sided by nature: drop tails")
    a["tails"] = tails
    a["alpha"] = _positive_number(raw, "alpha", where) or 0.05
    if a["p"].exact > 1 or a["p"].percent:
        raise _usage(where, f"p = {raw['p']!r} is not a probability")


def _load(text: str, source: str) -> dict:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        from trialkit.schemas.errors import UsageError

        raise UsageError(f"claims file {source} is not valid TOML ({exc})",
                         "fix the syntax; see docs/claims.md") from exc


def _claim_where(source: str, raw: Any, i: int) -> tuple[str, str]:
    cid = str(raw.get("id", "")).strip() if isinstance(raw, dict) else ""
    where = f"claims file {source}, claim {cid!r}" if cid else f"claims file {source}, claim #{i}"
    if not cid:
        raise _usage(where, "id is required")
    return cid, where


def parse_consistency_claims(text: str, source: str) -> tuple[ConsistencyClaim, ...]:
    """The consistency claims (``kind = "consistency"``) of a claims file's TOML text, checked; other claims
    are skipped (``split_claims`` hands them on). ``source`` names the file in messages."""
    return split_claims(text, source)[1]


def split_claims(text: str, source: str) -> tuple[str | None, tuple[ConsistencyClaim, ...]]:
    """A claims file cut in two: the TOML text of its data claims (its title and reference kept; None when it
    has none), for ``analyses.claims.parse_claims``, and its consistency claims, parsed. Ids must be unique
    across both; ``kind = "data"`` is dropped from the data claims (the default kind)."""
    doc = _load(text, source)
    raw_claims = doc.get("claims")
    if not isinstance(raw_claims, list) or not raw_claims:
        raise _usage(f"claims file {source}", "no [[claims]] table: the file lists no claim")
    data, consistency, seen = [], [], set()
    for i, raw in enumerate(raw_claims, start=1):
        cid, where = _claim_where(source, raw, i)
        if cid in seen:
            raise _usage(where, "id is used by an earlier claim; ids must be unique")
        seen.add(cid)
        kind = raw.get("kind", "data")
        if kind == KIND:
            consistency.append(_parse_one(raw, where, cid))
        elif kind == "data":
            data.append({k: v for k, v in raw.items() if k != "kind"})
        else:
            raise _usage(where, f"kind must be \"data\" (checked against the workspace) or \"consistency\" "
                                f"(checked from the paper alone), not {kind!r}")
    if not data:
        return None, tuple(consistency)
    rest = {k: v for k, v in doc.items() if k != "claims"}
    return _toml_document({**rest, "claims": data}), tuple(consistency)


def _toml_value(v: Any) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return {math.inf: "inf", -math.inf: "-inf"}.get(v, "nan" if v != v else repr(v))
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)} = {_toml_value(x)}"
                               for k, x in v.items()) + "}"
    return json.dumps(str(v))  # dates and times do not occur in claims files


def _toml_document(doc: dict) -> str:
    """A TOML document with every top-level key on one line (tables inline): enough for claims files."""
    import json

    return "".join(f"{json.dumps(str(k), ensure_ascii=False)} = {_toml_value(v)}\n" for k, v in doc.items())


def evaluate_claim(claim: ConsistencyClaim) -> ConsistencyResult:
    """The claim's rule applied to its reported numbers."""
    a = dict(claim.args)
    rule = claim.rule
    if rule == "grim":
        v = a["value"]
        outcome = check_percentage(v, a["n"]) if v.percent else check_mean(v, a["n"], a.get("items", 1))
    elif rule == "grimmer":
        outcome = check_sd(a["mean"], a["sd"], a["n"], a.get("items", 1))
    elif rule == "km":
        outcome = check_km(a["survival"], a["n"], a.get("events"))
    elif rule == "statcheck":
        outcome = check_p_value(a["test"], a["p"], a.get("statistic"), a.get("df1"), a.get("df2"), a["tails"],
                                a["alpha"])
    elif rule == "hr_ci":
        outcome = check_ratio_ci(a["hr"], a["low"], a["high"], a.get("p"), a["level"], a["alpha"],
                                 a.get("measure") or "HR")
    else:
        outcome = check_difference_ci(a["estimate"], a["low"], a["high"], a.get("p"), a["level"], a["alpha"],
                                      a.get("measure") or "difference")
    return ConsistencyResult(claim, outcome)


def evaluate_consistency(claims: tuple[ConsistencyClaim, ...]) -> tuple[ConsistencyResult, ...]:
    """Every consistency claim evaluated, in file order."""
    return tuple(evaluate_claim(c) for c in claims)


def consistency_table(results: tuple[ConsistencyResult, ...]) -> "pl.DataFrame":
    """One row per claim: id, text, rule, reported, verdict, explanation."""
    import polars as pl

    schema = {c: pl.String for c in ("id", "text", "rule", "reported", "verdict", "explanation")}
    rows = [{"id": r.claim.id, "text": r.claim.text, "rule": r.claim.rule, "reported": r.claim.reported,
             "verdict": r.verdict, "explanation": r.outcome.explanation} for r in results]
    return pl.DataFrame(rows, schema=schema)
