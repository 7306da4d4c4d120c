"""Every table trialkit prints goes through here, so no number is ever cut at any terminal width.

Rich shortens a column that does not fit with ``…`` (``-0.81…``) or folds it
mid-word; both can cut a number. This helper lays tables out itself:

1. **Cells.** A cell is *numeric* when it holds a digit and no word of three
   or more letters (``0.85 (0.61, 0.95)``, ``3 (37.5%) [4]``, ``<0.0001``,
   ``-1.43*``): it is printed on one line, whole. Any other cell is
   *text* (``not reached``, a group name, a note): it wraps at spaces; a word
   with a digit in it is never broken, and only a digit-free word longer than
   16 characters may be folded.
2. **Widths.** Each column needs at least its widest numeric cell and its
   widest unbreakable word (headers included; a header wraps at its spaces).
   When the natural widths do not fit the console, the widest text columns
   give up characters first; numeric widths never shrink.
3. **Too wide anyway: split.** When even those minimum widths do not fit, the
   table is split into the fewest parts "(part 1 of 2)", ... that fit; each
   repeats the label column(s) (the first ``labels`` columns, which name the
   row) and takes a run of the other columns, in order, the runs chosen so
   that the parts come out of even width.
4. **Still too wide: stack.** When the labels and a single other column do
   not fit side by side (a very narrow console), every row is printed as a
   list: the labels, then one ``column: value`` line per other column.

The width is the console's: the terminal's, or COLUMNS (80 when unset) when
the output goes to a file or a pipe. Cells, headers, titles and captions are
plain text (never rich markup), so data cannot inject styles, and they go
through ``common.printable`` (no ANSI escape sequence or control character but
tab and newline), so data cannot colour, move or clear the terminal either. The
layout depends only on the cells and the width: the same inputs print the same
bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .common import printable

__all__ = ["Table", "print_table", "is_numeric_cell"]

#: a digit-free word longer than this may be folded in a narrow column
FOLD_AFTER = 16

_PROSE = re.compile(r"[A-Za-z]{3,}")
_DIGIT = re.compile(r"\d")


def is_numeric_cell(text: str) -> bool:
    """A cell printed whole on one line: a digit, and no word of three or more letters."""
    return bool(_DIGIT.search(text)) and not _PROSE.search(text)


def _unbreakable(text: str) -> int:
    """The narrowest width at which ``text`` prints with no number cut."""
    if is_numeric_cell(text):
        return max(len(line) for line in text.split("\n"))
    widest = 1
    for word in text.split():
        widest = max(widest, len(word) if _DIGIT.search(word) else min(len(word), FOLD_AFTER))
    return widest


def _natural(text: str) -> int:
    return max((len(line) for line in text.split("\n")), default=0)


@dataclass
class Table:
    """A table to print: a title, column headers, rows of plain-text cells.

    The first ``labels`` columns name the row (left-aligned, repeated in every
    part of a split table); the others are right-aligned unless listed in
    ``left``. ``caption`` prints under the table (under its last part).
    """

    title: str
    columns: list[str]
    labels: int = 1
    left: tuple[str, ...] = ()
    caption: str | None = None
    rows: list[tuple[list[str], str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.title = printable(self.title)
        self.columns = [printable(c) for c in self.columns]
        self.left = tuple(printable(c) for c in self.left)
        self.caption = None if self.caption is None else printable(self.caption)

    def add_row(self, *cells: object, style: str | None = None) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns in table {self.title!r}")
        self.rows.append(([printable(c) for c in cells], style))

    def minimum_widths(self) -> list[int]:
        return [max([_unbreakable(head)] + [_unbreakable(r[i]) for r, _ in self.rows])
                for i, head in enumerate(self.columns)]

    def natural_widths(self) -> list[int]:
        return [max([_natural(head)] + [_natural(r[i]) for r, _ in self.rows]) for i, head in enumerate(self.columns)]


def _chrome(n: int) -> int:
    """Characters a rich table with n columns adds: one space each side of a cell, n + 1 rules."""
    return 3 * n + 1


def _fit(minimum: list[int], natural: list[int], available: int) -> list[int] | None:
    """Column widths within ``available`` characters: natural when they fit, else the widest text columns shrink."""
    if sum(minimum) > available:
        return None
    widths = list(natural)
    while sum(widths) > available:
        shrinkable = [i for i, w in enumerate(widths) if w > minimum[i]]
        i = max(shrinkable, key=lambda k: (widths[k], -k))  # the widest; the leftmost among equals
        widths[i] -= 1
    return widths


def _parts(table: Table, width: int) -> list[list[int]] | None:
    """Column indexes of each part (labels first in each), or None when a single column cannot sit by the labels.

    The fewest parts in which every column gets its minimum width; among the ways of cutting the other columns
    into that many runs, the one that squeezes its most squeezed part least, then the one whose widest part is
    narrowest (parts of even width); the first such, so output is stable.
    """
    from itertools import combinations
    from math import comb

    n = len(table.columns)
    labels = list(range(min(table.labels, n)))
    others = [i for i in range(n) if i not in labels]
    minimum, natural = table.minimum_widths(), table.natural_widths()

    def fits(part: list[int]) -> bool:
        return sum(minimum[k] for k in part) <= width - _chrome(len(part))

    def squeeze(part: list[int]) -> int:
        return max(0, sum(natural[k] for k in part) - (width - _chrome(len(part))))

    if fits(list(range(n))):
        return [list(range(n))]
    if not others or not all(fits(labels + [i]) for i in others):
        return None
    for k in range(2, len(others) + 1):
        if comb(len(others) - 1, k - 1) > 20000:  # very many columns: fill each part in turn instead
            return _greedy(labels, others, fits)
        best = None
        for cuts in combinations(range(1, len(others)), k - 1):
            bounds = (0, *cuts, len(others))
            parts = [labels + others[a:b] for a, b in zip(bounds, bounds[1:])]
            if all(fits(p) for p in parts):
                score = (max(squeeze(p) for p in parts), max(sum(natural[i] for i in p) for p in parts))
                if best is None or score < best[0]:
                    best = (score, parts)
        if best is not None:
            return best[1]
    return None


def _greedy(labels: list[int], others: list[int], fits) -> list[list[int]]:
    """Parts filled in turn with as many columns as fit (every column fits beside the labels alone)."""
    parts, current = [], []
    for i in others:
        if current and not fits(labels + current + [i]):
            parts.append(labels + current)
            current = []
        current.append(i)
    return parts + [labels + current]


def _header(text: str, width: int) -> str:
    """A header wrapped at its spaces to ``width`` (its words are never longer than the column)."""
    import textwrap

    lines = []
    for line in text.split("\n"):
        lines.extend(textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False) or [""])
    return "\n".join(lines)


def _rich_table(table: Table, columns: list[int], widths: list[int], title: str, caption: str | None):
    from rich.table import Table as RichTable
    from rich.text import Text

    out = RichTable(title=Text(title), title_justify="left", caption=Text(caption) if caption else None,
                    caption_justify="left")
    for i, w in zip(columns, widths):
        head = table.columns[i]
        right = i >= table.labels and head not in table.left
        out.add_column(Text(_header(head, w)), justify="right" if right else "left", width=w, no_wrap=False,
                       overflow="fold")
    for cells, style in table.rows:
        # every column is at least as wide as its numeric cells, so they never wrap
        out.add_row(*[Text(cells[i], overflow="fold") for i in columns], style=style)
    return out


def _print_stacked(console, table: Table) -> None:
    from rich.text import Text

    console.print(Text(table.title, style="italic"))
    n = min(table.labels, len(table.columns))
    for cells, style in table.rows:
        console.print(Text(" · ".join(c for c in cells[:n] if c) or "-", style=style or "bold"))
        for head, cell in zip(table.columns[n:], cells[n:]):
            console.print(Text(f"  {' '.join(head.split())}: {cell}"))
    if table.caption:
        console.print(Text(table.caption))


def print_table(console, table: Table) -> None:
    """Print ``table`` on ``console`` whole, split into parts, or stacked (see the module docstring)."""
    width = console.width
    parts = _parts(table, width)
    if parts is None:
        _print_stacked(console, table)
        return
    minimum, natural = table.minimum_widths(), table.natural_widths()
    for k, columns in enumerate(parts, start=1):
        widths = _fit([minimum[i] for i in columns], [natural[i] for i in columns], width - _chrome(len(columns)))
        title = table.title if len(parts) == 1 else f"{table.title} (part {k} of {len(parts)})"
        caption = table.caption if k == len(parts) else None
        console.print(_rich_table(table, columns, widths, title, caption))
