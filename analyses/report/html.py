"""HTML building blocks of the report: escaping, journal-style tables, inline figures, the page.

Every string that may come from data goes through ``esc`` (or great_tables,
which escapes cell text, labels and notes). Figures are embedded as
``data:`` URIs in ``<img>`` elements, so nothing in an SVG can run or reach
the network; a Content-Security-Policy forbids scripts and remote loads as a
second line of defence. Element ids are fixed, so output is deterministic.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from typing import Iterable

import polars as pl

from trialkit.analyses.report.model import Figure

__all__ = ["esc", "Numbering", "gt_table", "figure_html", "section", "missing_box", "page", "CSS"]


def esc(value: object) -> str:
    """HTML-escape any value, quotes included."""
    return html.escape("" if value is None else str(value), quote=True)


@dataclass
class Numbering:
    """Running numbers for tables and figures, and the table of contents."""

    tables: int = 0
    figures: int = 0
    toc: list[tuple[str, str]] = field(default_factory=list)

    def table(self) -> int:
        self.tables += 1
        return self.tables

    def figure(self) -> int:
        self.figures += 1
        return self.figures


# --------------------------------------------------------------------------- tables
def _journal(gt):
    return gt.tab_options(
        table_font_names=["Helvetica Neue", "Helvetica", "Arial", "Liberation Sans", "sans-serif"],
        table_font_size="8.5pt",
        table_width="100%",
        table_font_color="#111111",
        table_border_top_style="solid", table_border_top_width="1.5px", table_border_top_color="#000000",
        table_border_bottom_style="solid", table_border_bottom_width="1.5px", table_border_bottom_color="#000000",
        column_labels_font_weight="bold",
        column_labels_border_top_style="none",
        column_labels_border_bottom_style="solid", column_labels_border_bottom_width="1px",
        column_labels_border_bottom_color="#000000",
        column_labels_padding="3px",
        table_body_hlines_style="none",
        table_body_border_top_style="none",
        table_body_border_bottom_style="solid", table_body_border_bottom_width="1px",
        table_body_border_bottom_color="#000000",
        row_group_font_weight="bold",
        row_group_padding="3px",
        row_group_border_top_style="none",
        row_group_border_bottom_style="none",
        stub_border_style="none",
        data_row_padding="1.5px",
        source_notes_font_size="7.5pt",
        source_notes_padding="1px",
        container_padding_y="0px",
        container_overflow_x="visible",
        container_overflow_y="visible",
    )


def gt_table(df: pl.DataFrame, tid: str, number: int, caption: str, *, notes: Iterable[str] = (),
             rowname_col: str | None = None, groupname_col: str | None = None,
             labels: dict[str, str] | None = None, right: Iterable[str] = (), mono: Iterable[str] = (),
             verdict_col: str | None = None, widths: dict[str, str] | None = None,
             spanners: dict[str, list[str]] | None = None, bold_rows: list[int] | None = None,
             listing: bool = False) -> str:
    """A numbered, captioned journal-style table rendered by great_tables (cells are text, escaped by it)."""
    from great_tables import GT, loc, style

    right = [c for c in right if c in df.columns]
    if right:  # short numeric cells never break ("3 (37.5%)"); long ones may, at their spaces
        df = df.with_columns(pl.when(pl.col(c).str.len_chars() <= 16).then(pl.col(c).str.replace_all(" ", "\u00a0"))
                             .otherwise(pl.col(c).str.replace_all(", ", ",\u00a0")).alias(c)
                             for c in right if df.schema[c] == pl.String)
    gt = _journal(GT(df, id=tid, rowname_col=rowname_col, groupname_col=groupname_col))
    if labels:
        gt = gt.cols_label(**{k: v for k, v in labels.items() if k in df.columns})
    if right:
        gt = gt.cols_align("right", columns=right)
    mono = [c for c in mono if c in df.columns]
    if mono:
        gt = gt.tab_style(style.text(font="DejaVu Sans Mono, Menlo, Consolas, monospace", size="7pt"),
                          loc.body(columns=mono))
    for i, (label, columns) in enumerate((spanners or {}).items()):
        columns = [c for c in columns if c in df.columns]
        if columns:
            gt = gt.tab_spanner(label=label, columns=columns, id=f"{tid}-span{i}")
    if widths:
        gt = gt.cols_width({k: v for k, v in widths.items() if k in df.columns})
    if verdict_col and verdict_col in df.columns:
        for verdict, colour in (("reproduced", "#00684a"), ("reproduced by construction", "#00684a"),
                                ("not reproduced", "#b8420e"), ("not evaluable", "#6b6b6b"),
                                ("consistent", "#00684a"), ("inconsistent", "#b8420e"), ("not checkable", "#6b6b6b")):
            rows = [i for i, v in enumerate(df[verdict_col].to_list()) if v == verdict or v.startswith(verdict + ":")]
            if rows:
                gt = gt.tab_style(style.text(color=colour), loc.body(columns=verdict_col, rows=rows))
    if bold_rows:
        gt = gt.tab_style(style.text(weight="bold"), loc.body(rows=bold_rows))
        if rowname_col:
            gt = gt.tab_style(style.text(weight="bold"), loc.stub(rows=bold_rows))
    for note in notes:
        gt = gt.tab_source_note(note)
    body = gt.as_raw_html()
    cls = "tbl listing" if listing else "tbl"
    return (f'<div class="{cls}" id="{esc(tid)}-block"><p class="caption"><span class="lbl">Table {number}.</span> '
            f"{esc(caption)}</p>\n{body}</div>\n")


# --------------------------------------------------------------------------- figures
def figure_html(fig: Figure, number: int, caption: str, link: str | None = None) -> str:
    """An inline figure: SVG as a data URI when there is one (PNG otherwise), numbered and captioned."""
    if fig.svg is not None:
        uri = "data:image/svg+xml;base64," + base64.b64encode(fig.svg).decode("ascii")
    elif fig.png is not None:
        uri = "data:image/png;base64," + base64.b64encode(fig.png).decode("ascii")
    else:
        return ""
    source = f' <span class="src">File: <a href="{esc(link)}">{esc(fig.path)}</a></span>' if link else \
        f' <span class="src">File: {esc(fig.path)}</span>'
    return (f'<figure class="fig"><img src="{uri}" alt="{esc(caption)}">'
            f'<figcaption><span class="lbl">Figure {number}.</span> {esc(caption)}{source}</figcaption></figure>\n')


# --------------------------------------------------------------------------- layout
def section(sid: str, title: str, body: str, numbering: Numbering) -> str:
    numbering.toc.append((sid, title))
    n = len(numbering.toc)
    return f'<section id="{esc(sid)}"><h2><span class="num">{n}</span> {esc(title)}</h2>\n{body}</section>\n'


def missing_box(what: str, command: str, reason: str = "") -> str:
    """The notice for a stage that has not run (or lacks an output), with the command that produces it."""
    extra = f" {esc(reason)}" if reason else ""
    return (f'<div class="missing"><p><strong>{esc(what)}</strong>{extra}</p>'
            f'<p>Produce it with: <code>{esc(command)}</code>, then re-run <code>trialkit report</code>.</p></div>\n')


CSS = """
:root { --ink: #161616; --muted: #5a5a5a; --rule: #000; --accent: #0a4f8a; --warn: #b8420e; --ok: #00684a; }
* { box-sizing: border-box; }
html { background: #f3f2ef; }
body { font-family: "Charter", "Bitstream Charter", "Georgia", "DejaVu Serif", "Times New Roman", serif;
  font-size: 10pt; line-height: 1.45; color: var(--ink); background: #fff; max-width: 196mm;
  margin: 0 auto; padding: 14mm 16mm 18mm; }
.sans, header .kicker, .caption, figcaption, nav.toc, .banner, .missing, .meta, .verdicts, footer {
  font-family: "Helvetica Neue", Helvetica, Arial, "Liberation Sans", "DejaVu Sans", sans-serif; }
header { border-bottom: 2px solid var(--rule); padding-bottom: 8px; margin-bottom: 10px; }
header .kicker { text-transform: uppercase; letter-spacing: .08em; font-size: 8pt; color: var(--accent); margin: 0; }
h1 { font-size: 19pt; line-height: 1.2; margin: 4px 0 6px; font-weight: 700; }
.meta { font-size: 8.5pt; color: var(--muted); margin: 0; }
.meta b { color: var(--ink); font-weight: 600; }
.banner { border: 2px solid var(--warn); background: #fff3ea; color: #6e2600; padding: 7px 10px; margin: 10px 0;
  font-size: 9pt; }
.banner strong { text-transform: uppercase; letter-spacing: .04em; }
.verdicts { display: flex; gap: 6px; margin: 10px 0 6px; font-size: 8pt; flex-wrap: wrap; }
.verdicts div { border: 1px solid #c9c9c9; padding: 4px 8px; flex: 1 1 0; min-width: 96px; }
.verdicts .n { font-size: 14pt; font-weight: 700; display: block; line-height: 1.1; }
.verdicts .ok .n { color: var(--ok); } .verdicts .bad .n { color: var(--warn); } .verdicts .na .n { color: var(--muted); }
nav.toc { font-size: 8.5pt; columns: 2; column-gap: 24px; margin: 8px 0 4px; padding: 6px 0; border-top: 1px solid #ccc;
  border-bottom: 1px solid #ccc; }
nav.toc a { color: var(--ink); text-decoration: none; display: block; break-inside: avoid; }
nav.toc .num, h2 .num { color: var(--accent); font-weight: 700; margin-right: 4px; }
h2 { font-size: 13pt; margin: 22px 0 6px; padding-bottom: 2px; border-bottom: 1px solid var(--rule);
  break-after: avoid; page-break-after: avoid; }
h3 { font-size: 10.5pt; margin: 14px 0 4px; break-after: avoid; page-break-after: avoid; }
p { margin: 4px 0 8px; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 8.5pt; background: #f4f4f4;
  padding: 0 2px; overflow-wrap: anywhere; }
a { color: var(--accent); }
.tbl { margin: 12px 0 14px; break-inside: auto; }
.tbl .caption, figcaption { font-size: 8.5pt; margin: 0 0 3px; }
.lbl { font-weight: 700; }
.tbl table { break-inside: auto; }
.tbl tr { break-inside: avoid; page-break-inside: avoid; }
.tbl thead { display: table-header-group; }
.tbl td { overflow-wrap: break-word; }
.tbl.listing table { table-layout: fixed; }
.tbl.listing td { font-size: 7.5pt; overflow-wrap: break-word; }
.tbl td[style*="monospace"] { overflow-wrap: anywhere; word-break: break-all; }
.tbl th { overflow-wrap: normal; word-break: normal; hyphens: manual; }
.tbl .gt_stub { padding-left: 14px !important; min-width: 10.5em; }
.tbl .gt_column_spanner { font-weight: bold; }
figure.fig { margin: 12px 0 16px; break-inside: avoid; page-break-inside: avoid; }
figure.fig img { display: block; max-width: 100%; max-height: 125mm; width: auto; height: auto; margin: 0 auto 4px; }
figcaption .src { color: var(--muted); }
.missing { border-left: 3px solid var(--warn); background: #faf7f4; padding: 5px 10px; margin: 8px 0; font-size: 9pt; }
.missing p { margin: 2px 0; }
dl.methods { display: grid; grid-template-columns: minmax(90px, 24%) 1fr; column-gap: 12px; row-gap: 3px;
  margin: 4px 0 12px; font-size: 8.5pt; line-height: 1.35; border-top: 1px solid #000; border-bottom: 1px solid #000;
  padding: 4px 0; font-family: "Helvetica Neue", Helvetica, Arial, "Liberation Sans", "DejaVu Sans", sans-serif; }
dl.methods dt { font-weight: 700; }
dl.methods dd { margin: 0; overflow-wrap: anywhere; }
ul.compact { margin: 2px 0 8px; padding-left: 18px; }
footer { margin-top: 26px; border-top: 2px solid var(--rule); padding-top: 6px; font-size: 8pt; color: var(--muted); }
@page { margin: 15mm 13mm 16mm; }
@media print {
  html { background: #fff; }
  body { max-width: none; padding: 0; font-size: 9.5pt; }
  nav.toc a { color: var(--ink); }
  a { color: inherit; text-decoration: none; }
  h2 { margin-top: 16px; }
  section { break-before: auto; }
  .banner, .verdicts div, .missing { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def page(title: str, header: str, body: str, numbering: Numbering, footer: str, generator: str) -> str:
    """The whole document: head (inline CSS, CSP), header, table of contents, sections, footer."""
    toc = "".join(f'<a href="#{esc(sid)}"><span class="num">{i}</span>{esc(t)}</a>'
                  for i, (sid, t) in enumerate(numbering.toc, start=1))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="{esc(generator)}">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"{header}<nav class=\"toc\" aria-label=\"Contents\">{toc}</nav>\n<main>\n{body}</main>\n{footer}</body>\n</html>\n"
    )
