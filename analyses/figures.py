"""What every trialkit figure shares: palette, line types, theme, and rendering.

Okabe-Ito colours are colour-blind safe; each group also gets its own line
type and marker so figures read in greyscale. ``render`` returns PNG (300 dpi)
and SVG bytes that are identical for identical inputs (fixed SVG hash salt,
no date or software in the metadata). SVG text stays text (``svg.fonttype``
"none"): it can be searched, copied and edited, and the file is smaller; the
viewer draws it in the named font family (DejaVu Sans, else its sans-serif).
Text from the data is drawn without control characters or ANSI escape
sequences (``formatting.printable``): no font has a glyph for them, and
matplotlib's warning about a missing glyph would quote the raw character on
the terminal.
"""

from __future__ import annotations

import io
import warnings
from contextlib import contextmanager

from trialkit.analyses.formatting import printable

__all__ = ["OKABE_ITO", "LINETYPES", "SHAPES", "palette_for", "theme_journal", "render", "quiet_missing_glyphs",
           "printable_texts"]

OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
LINETYPES = ("solid", "dashed", "dotted", "dashdot", "solid", "dashed", "dotted", "dashdot")
SHAPES = ("o", "s", "^", "D", "v", "P", "X", "*")


def palette_for(labels: list[str]) -> dict[str, str]:
    return {label: OKABE_ITO[i % len(OKABE_ITO)] for i, label in enumerate(labels)}


def theme_journal(base_size: float = 9):
    """A plain, journal-like theme: white background, light grid, legend at the top."""
    from plotnine import element_blank, element_line, element_rect, element_text, theme, theme_bw

    return theme_bw(base_size=base_size) + theme(
        panel_grid_minor=element_blank(),
        panel_grid_major=element_line(color="#e6e6e6", size=0.4),
        panel_border=element_rect(color="#333333", size=0.6),
        legend_position="top",
        legend_title=element_text(size=base_size),
        legend_key=element_blank(),
        strip_background=element_rect(fill="#f2f2f2", color="#333333"),
        plot_title=element_text(size=base_size + 2, weight="bold"),
        axis_title=element_text(size=base_size),
    )


def use_agg() -> None:
    """Load matplotlib for off-screen drawing (Agg), without the help text it writes at import.

    Each Artist class builds the docstring of its ``set`` method from every setter's documentation when it is
    defined (matplotlib.artist.kwdoc): a quarter of matplotlib's import time, for a help() page trialkit never
    shows. Called before any other matplotlib import, it makes those docstrings empty; the methods are unchanged.
    """
    import matplotlib
    import matplotlib.artist

    if getattr(matplotlib.artist, "kwdoc", None) is not None and not getattr(use_agg, "done", False):
        matplotlib.artist.kwdoc = lambda artist: ""
        use_agg.done = True
    matplotlib.use("Agg")


def _deterministic_rc():
    import matplotlib

    use_agg()
    matplotlib.rcParams["svg.hashsalt"] = "trialkit"
    matplotlib.rcParams["svg.fonttype"] = "none"


@contextmanager
def quiet_missing_glyphs():
    """No "Glyph 27 (\\x1b) missing from font(s)" warning while drawing: it would print the data's control
    character raw on stderr, and ``printable_texts`` removes those characters from the figure anyway."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        yield


def printable_texts(fig) -> None:
    """Every text of a matplotlib figure (titles, ticks, legends, annotations) without control characters."""
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        raw = text.get_text()
        if isinstance(raw, str) and printable(raw) != raw:
            text.set_text(printable(raw))


def render(plot, width: float, height: float, *, tight: bool = True) -> dict[str, bytes]:
    """PNG at 300 dpi and SVG of a plotnine plot or a matplotlib figure, as bytes.

    ``tight=False`` saves the canvas as laid out, for figures that already fit it
    (a tight bounding box costs two more layout passes per file); its PNG is
    drawn once by Agg and written as RGB (the figure is opaque white), which
    is smaller and quicker to compress than matplotlib's RGBA.
    """
    _deterministic_rc()
    with quiet_missing_glyphs():
        fig = plot if hasattr(plot, "savefig") else plot.draw()
        managed = getattr(fig.canvas, "manager", None) is not None  # made by pyplot (plotnine)
        printable_texts(fig)
        fig.set_size_inches(width, height)
        bbox = "tight" if tight else None
        out = {}
        if not tight:
            out["png"] = _opaque_png(fig)
        for fmt, meta in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
            if fmt in out:
                continue
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=300, metadata=meta, bbox_inches=bbox, facecolor="white")
            out[fmt] = buf.getvalue()
    if managed:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return {"png": out["png"], "svg": out["svg"]}


def _opaque_png(fig, dpi: int = 300) -> bytes:
    """The figure drawn by Agg at ``dpi`` on white, as an RGB PNG with its resolution and no text chunks."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    face, old_dpi = fig.get_facecolor(), fig.dpi
    fig.set_facecolor("white")
    fig.dpi = dpi
    try:
        canvas.draw()
        rgb = np.asarray(canvas.buffer_rgba())[..., :3]
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="png", dpi=(dpi, dpi), compress_level=4)
    finally:
        fig.dpi = old_dpi
        fig.set_facecolor(face)
    return buf.getvalue()
