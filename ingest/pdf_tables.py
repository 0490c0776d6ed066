"""Ruled tables in PDF text layers: found from the page's drawn lines, read by PDFium.

pdfplumber's table finder turns ruling lines into cells, but its own page reader is pdfminer
(~10 pages/s). Here the lines come from PDFium's path objects and only pdfplumber's geometry
(``TableFinder`` with explicit edges) is used, so no page is ever parsed by pdfminer. Pages
without enough straight rules are skipped by a cheap count first. Cell text is read by PDFium
inside each cell's box, so spacing matches the prose around it.

Only ruled tables are found: borderless tables (layout by whitespace alone) are left to the
prose, because guessing columns from text positions also turns code listings and indented
prose into tables. Tables with rules between columns but none at the sides (LaTeX, DocBook)
are closed at the ends of their horizontal rules.
"""

from __future__ import annotations

import ctypes
import html
import logging
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ingest.pdf_rules import _close_open_sides, _page_edges

logger = logging.getLogger(__name__)

_CAPTION = re.compile(r"^(?:table|tab\.)\s*[\dA-Z]+(?:[.\-]\d+)*\b|^表\s*[\d０-９]", re.IGNORECASE)
_CAPTION_GAP = 30.0  # a caption sits within this many points of its table
# pdfplumber's cell finder compares every rule crossing with every other (quadratic): a page
# ruled as a 200 x 200 grid took 196 s, and a crafted page can hold far more rules. Real tables
# cross far fewer (60 rows x 10 columns: 600); denser pages keep their text as prose.
MAX_RULE_CROSSINGS = 3_000
_FINDER_SETTINGS = {
    "vertical_strategy": "explicit",
    "horizontal_strategy": "explicit",
    "snap_tolerance": 3,
    "join_tolerance": 3,
    "edge_min_length": 3,
    "intersection_tolerance": 3,
}

Box = tuple[float, float, float, float]  # (left, bottom, right, top) in PDF points


@dataclass(frozen=True)
class PdfTable:
    """A table read from one or more consecutive pages."""

    rows: tuple[tuple[str, ...], ...]  # cell text, header row first
    page: int  # 1-based page the table starts on
    bbox: Box  # where it sits on ``page`` (PDF points, origin bottom left)
    caption: str = ""
    pages: tuple[int, ...] = ()  # every page it covers

    @property
    def columns(self) -> int:
        return len(self.rows[0])


Piece = list[str] | PdfTable  # a page's prose lines, or a table, in reading order


def _clean(text: str) -> str:
    return " ".join(text.split())


def _caption(textpage: pdfium.PdfTextPage, box: Box, width: float) -> str:
    """The nearest "Table 3: ..." / "表3 ..." line just above or below the table."""
    _, bottom, _, top = box
    above = textpage.get_text_bounded(0, top, width, top + _CAPTION_GAP).splitlines()[-1:]
    below = textpage.get_text_bounded(0, bottom - _CAPTION_GAP, width, bottom).splitlines()[:1]
    found = [_clean(line) for line in above + below if _CAPTION.match(line.strip())]
    if len(found) < 2:
        return found[0] if found else ""
    # One above and one below (the other belongs to a table next to this one): the nearer
    # wins. A narrow band cuts into a line's characters, hence the match on the start only.
    for gap in range(4, int(_CAPTION_GAP), 4):
        if _CAPTION.match(textpage.get_text_bounded(0, bottom - gap, width, bottom).strip()):
            return found[1]
        if _CAPTION.match(textpage.get_text_bounded(0, top, width, top + gap).strip()):
            return found[0]
    return found[0]


class PageChars:
    """A page's text layer and the centre of each of its characters, read from PDFium once
    (on first use) for both the cells of its tables and the split of its text around them."""

    def __init__(self, textpage: pdfium.PdfTextPage) -> None:
        self.textpage = textpage

    @cached_property
    def centres(self) -> list[tuple[float, float]]:
        """(x, y) of each character's centre, by index."""
        left, right, bottom, top = (ctypes.c_double() for _ in range(4))
        get_box, raw = pdfium_c.FPDFText_GetCharBox, self.textpage.raw
        centres = []
        for index in range(self.textpage.count_chars()):
            get_box(raw, index, left, right, bottom, top)
            centres.append(((left.value + right.value) / 2, (bottom.value + top.value) / 2))
        return centres

    @cached_property
    def _by_height(self) -> tuple[list[float], list[tuple[float, float, int]]]:
        # sorted by height, so that a row's characters are found by bisection: a page ruled
        # into thousands of cells costs characters x columns, not characters x cells
        ordered = sorted((y, x, index) for index, (x, y) in enumerate(self.centres))
        return [c[0] for c in ordered], ordered

    def between(self, bottom: float, top: float) -> list[tuple[float, float, int]]:
        """(y, x, index) of the characters whose centre is at a height in [bottom, top]."""
        heights, ordered = self._by_height
        return ordered[bisect_left(heights, bottom) : bisect_right(heights, top)]


def _cell_text(
    textpage: pdfium.PdfTextPage, row: Sequence[tuple[float, float, int]], x0: float, x1: float
) -> str:
    """The text of the characters of ``row`` whose centre lies between ``x0`` and ``x1``.
    PDFium's own bounded read takes every character whose box touches the cell, and a
    Japanese glyph's box reaches past a tightly ruled row: the next row's 在ザ名表 ended up in
    the cell above."""
    inside = sorted(i for _, x, i in row if x0 <= x <= x1)
    runs: list[list[int]] = []  # [first, last] index of each run of consecutive characters
    for index in inside:
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    return _clean(" ".join(textpage.get_text_range(a, b - a + 1) for a, b in runs))


def find_tables(page: pdfium.PdfPage, chars: PageChars, number: int) -> list[PdfTable]:
    """Ruled tables on one page (1-based ``number``), top to bottom."""
    from pdfplumber.table import TableFinder, merge_edges

    # Rules are often drawn cell by cell: join them before looking for the table's sides.
    edges = merge_edges(_page_edges(page), 3, 3, 3, 3)
    edges = _close_open_sides(edges)
    vertical = [e for e in edges if e["orientation"] == "v"]
    horizontal = [e for e in edges if e["orientation"] == "h"]
    if len(vertical) < 2 or len(horizontal) < 2:
        return []
    if len(vertical) * len(horizontal) > MAX_RULE_CROSSINGS:
        logger.info(
            "page %d: %d x %d rules, too dense to search for tables; read as text",
            number,
            len(horizontal),
            len(vertical),
        )
        return []
    settings = {
        **_FINDER_SETTINGS,
        "explicit_vertical_lines": vertical,
        "explicit_horizontal_lines": horizontal,
    }
    # With explicit edges only, the finder never reads the page: no pdfminer parse.
    finder = TableFinder(None, settings)  # type: ignore[arg-type]
    top_y = page.get_mediabox()[3]
    width = page.get_width()
    textpage = chars.textpage
    tables = []
    for found in finder.tables:
        rows = []
        for row in found.rows:
            cells = []
            for cell in row.cells:
                if cell is None:  # covered by a spanning cell
                    cells.append("")
                    continue
                x0, cell_top, x1, cell_bottom = cell
                inside = chars.between(top_y - cell_bottom, top_y - cell_top)
                cells.append(_cell_text(textpage, inside, x0, x1))
            if any(cells):
                rows.append(tuple(cells))
        if len(rows) < 2 or max(len(r) for r in rows) < 2:
            continue  # a boxed note or a shaded listing, not a table
        x0, table_top, x1, table_bottom = found.bbox
        box = (x0, top_y - table_bottom, x1, top_y - table_top)
        tables.append(
            PdfTable(
                rows=tuple(rows),
                page=number,
                bbox=box,
                caption=_caption(textpage, box, width),
                pages=(number,),
            )
        )
    return sorted(tables, key=lambda t: -t.bbox[3])


def split_text(chars: PageChars, tables: Sequence[PdfTable]) -> list[Piece]:
    """The page's text with each table's text replaced by the table, where its text began.

    Text that overflows a cell past the table's side stays with the table; each table's
    caption line is taken out of the prose next to it.
    """
    pieces: list[Piece] = []
    placed: set[int] = set()
    run_start = 0
    textpage = chars.textpage
    count = len(chars.centres)
    current: int | None = None  # the table the previous character belonged to

    def flush(end: int) -> None:
        if end > run_start:
            text = textpage.get_text_range(run_start, end - run_start).replace("\r\n", "\n")
            pieces.append([line.strip() for line in text.split("\n") if line.strip()])

    # Per character, so kept lean: a page of prose has a few thousand characters.
    areas = [(t.bbox[0] - 1, t.bbox[1] - 1, t.bbox[2] + 1, t.bbox[3] + 1) for t in tables]
    get_unicode, raw = pdfium_c.FPDFText_GetUnicode, textpage.raw
    for index, (x, y) in enumerate(chars.centres):
        beside = current is not None and areas[current][1] <= y <= areas[current][3]
        if beside and get_unicode(raw, index) not in (10, 13):
            run_start = index + 1  # a cell's text running on past the table's side
            continue
        current = None
        for number, (x0, y0, x1, y1) in enumerate(areas):
            if x0 <= x <= x1 and y0 <= y <= y1:
                current = number
                break
        if current is None:
            continue
        flush(index)
        run_start = index + 1
        if current not in placed:
            placed.add(current)
            pieces.append(tables[current])
    flush(count)
    pieces.extend(t for i, t in enumerate(tables) if i not in placed)  # a table of images
    return [p for p in _drop_captions(pieces) if p]


def _drop_captions(pieces: list[Piece]) -> list[Piece]:
    """The prose without the caption lines the tables already carry."""
    out: list[Piece] = [list(p) if isinstance(p, list) else p for p in pieces]
    for i, piece in enumerate(out):
        if not isinstance(piece, PdfTable) or not piece.caption:
            continue
        for j, end in ((i - 1, -1), (i + 1, 0)):
            near = out[j] if 0 <= j < len(out) else None
            if isinstance(near, list) and near and _clean(near[end]) == piece.caption:
                near.pop(end)
                break
    return out


def merge_continued(pages: list[list[Piece]]) -> list[list[Piece]]:
    """Join a table that runs on at the top of the next page into the table it continues.

    A continuation has the same number of columns and either repeats the header row or is
    the first thing on its page while the table before it was the last on its own page.
    """
    out: list[list[Piece]] = [list(p) for p in pages]
    # (page index, piece index) of a table that ends the page before this one
    open_at: tuple[int, int] | None = None
    for p, pieces in enumerate(out):
        first = next((i for i, piece in enumerate(pieces) if isinstance(piece, PdfTable)), None)
        if open_at is not None and first is not None:
            previous, current = out[open_at[0]][open_at[1]], pieces[first]
            assert isinstance(previous, PdfTable)
            assert isinstance(current, PdfTable)
            if _continues(previous, current, at_top=first == 0):
                repeats = current.rows[0] == previous.rows[0]
                out[open_at[0]][open_at[1]] = replace(
                    previous,
                    rows=previous.rows + (current.rows[1:] if repeats else current.rows),
                    caption=previous.caption or current.caption,
                    pages=previous.pages + current.pages,
                )
                del pieces[first]
                if first == len(pieces):  # nothing after it on this page: it may run on
                    continue
        open_at = None
        if pieces and isinstance(pieces[-1], PdfTable):
            open_at = (p, len(pieces) - 1)
    return out


def _continues(previous: PdfTable, current: PdfTable, *, at_top: bool) -> bool:
    if current.columns != previous.columns:
        return False
    # Two captions with different numbers name two tables, however alike their headers.
    labels = [_CAPTION.match(t.caption) for t in (previous, current)]
    if labels[0] and labels[1] and labels[0][0].lower() != labels[1][0].lower():
        return False
    return at_top or current.rows[0] == previous.rows[0]


def table_html(table: PdfTable) -> str:
    """The table as unstructured gives tables in ``metadata.text_as_html``."""
    parts = ["<table>"]
    if table.caption:
        parts.append(f"<caption>{html.escape(table.caption)}</caption>")
    for number, row in enumerate(table.rows):
        tag = "th" if number == 0 else "td"
        cells = "".join(f"<{tag}>{html.escape(cell)}</{tag}>" for cell in row)
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</table>")
    return "".join(parts)


def table_text(table: PdfTable) -> str:
    """Plain text of a table: one line per row, cells separated by " | "."""
    return "\n".join(" | ".join(row) for row in table.rows)
