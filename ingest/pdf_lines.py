"""A PDF page's lines with the size each is set in, read from PDFium: what the text alone
does not say. A numbered heading wrapped onto a second line in its own size is one heading,
and a document's title is its cover's largest text (ingest/pdf.py reads the pages)."""

from __future__ import annotations

import re

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ingest.headings import heading_depth

_LINE = re.compile(r"[^\r\n]+")
_HEADING_SCALE = 1.1  # a heading set at this times the page's usual size or more
_MAX_HEADING = 120  # characters: what headings.heading_depth takes for a heading
# A cover's title stands out: set at 1.5 times the document's usual text size or more
# (LaTeX's \title is 1.7 times, Word's Title style 2.5), on at most three lines. The usual
# size is read from the first pages, since a cover may hold little besides its title.
_TITLE_SCALE = 1.5
_TITLE_LINES = 3
USUAL_PAGES = 3

Sized = list[tuple[str, float]]  # a page's lines, each with the size it is set in


def _starts(text: str) -> list[tuple[int, str]]:
    """Each line of a page's text (PDFium's, or OCR's), stripped and not empty, with the
    offset of its first character."""
    return [
        (m.start() + len(m.group()) - len(m.group().lstrip()), m.group().strip())
        for m in _LINE.finditer(text)
        if m.group().strip()
    ]


def page_lines(text: str) -> list[str]:
    """The lines of a page's text, stripped, without the empty ones."""
    return [line for _, line in _starts(text)]


def sized_lines(text: str, textpage: pdfium.PdfTextPage) -> Sized:
    """``page_lines`` of a page's text, each with the size its first character is set in
    (call with PDFium held); 0.0 throughout when the text's offsets are not PDFium's
    character indexes (characters past U+FFFF). One size read per line, not per character:
    a hostile page of 200,000 lines costs as many reads."""
    found = _starts(text)
    if len(text) != textpage.count_chars():
        return [(line, 0.0) for _, line in found]
    get_size, raw = pdfium_c.FPDFText_GetFontSize, textpage.raw
    return [(line, get_size(raw, start)) for start, line in found]


def usual_size(lines: Sized) -> float:
    """The size most of the text is set in: the median over characters (0.0: unknown)."""
    by_size = sorted((size, len(line)) for line, size in lines)
    rest = sum(length for _, length in by_size) / 2
    for size, length in by_size:
        rest -= length
        if rest <= 0:
            return size
    return 0.0


def text_lines(lines: Sized) -> list[str]:
    """A page's lines, a numbered heading that wraps ("7.18 Why does the output from anova()
    depend on the" / "order of factors in the model?") as one: the line after it, set in its
    size, larger than the page's usual text, continues it rather than opening its body."""
    usual = usual_size(lines)
    if usual <= 0:
        return [line for line, _ in lines]
    joined: list[str] = []
    heading_size: float | None = None  # the size of the heading the last line belongs to
    for line, size in lines:
        continues = (
            heading_size is not None
            and abs(size - heading_size) < 0.5
            and heading_depth(line) is None
            and len(joined[-1]) + 1 + len(line) <= _MAX_HEADING
        )
        if continues:
            joined[-1] = f"{joined[-1]} {line}"
            continue
        joined.append(line)
        heading = size >= _HEADING_SCALE * usual and heading_depth(line) is not None
        heading_size = size if heading else None
    return joined


def cover_title(pages: list[Sized]) -> str | None:
    """The cover's title, from the first pages' sized lines: the largest text of the first
    page with text, when that stands well above the document's usual text. A document's
    first heading ("1 Introduction") names only its first section, yet the title is embedded
    with, and cited for, every passage."""
    usual = usual_size([line for lines in pages for line in lines])
    cover = next((lines for lines in pages if lines), [])
    if usual <= 0 or not cover:
        return None
    largest = max(size for _, size in cover)
    if largest < _TITLE_SCALE * usual:
        return None
    title = [line for line, size in cover if size > largest - 0.5]
    return " ".join(title) if len(title) <= _TITLE_LINES else None
