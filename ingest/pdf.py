"""Fast PDF parsing: pypdfium2's text layer turned into unstructured elements, OCR for scans.

pdfminer (unstructured's ``fast`` strategy) reads 1.5-3 pages/s on two cores; PDFium reads
hundreds. Pages are rebuilt into paragraphs, list items and numbered headings; lines repeated
at the top or bottom of most pages (running headers, page numbers) are dropped. A page with no
text layer is rendered and read with tesseract (Japanese included), when OCR is enabled.
Ruled tables become ``Table`` elements with ``text_as_html`` (see ``ingest.pdf_tables``), in
place of their text, and a table that runs on over the next page becomes one table.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import pypdfium2 as pdfium
from PIL.Image import Image
from unstructured.documents.elements import (
    Element,
    ElementMetadata,
    ListItem,
    NarrativeText,
    Table,
    Title,
)

from ingest import native
from ingest.contents import entry_title
from ingest.errors import CorruptDocument, EmptyDocument, PasswordProtected
from ingest.headings import BARE_CHAPTER, heading_depth
from ingest.pdf_lines import (
    USUAL_PAGES,
    Sized,
    cover_title,
    page_lines,
    sized_lines,
    text_lines,
)
from ingest.pdf_rules import has_rules
from ingest.pdf_tables import (
    PageChars,
    PdfTable,
    Piece,
    find_tables,
    merge_continued,
    split_text,
    table_html,
    table_text,
)

logger = logging.getLogger(__name__)

_BULLET = re.compile(r"^\s*(?:[•●○◦▪■□・\-–—*]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s+")
_SENTENCE_END = tuple(".。!?！？:：")
_DIGITS = re.compile(r"\d+")
_MIN_TEXT_CHARS = 16  # fewer than this on a page: treat it as a scan
# A PDF page may be 14,400 points square: at 200 dpi its OCR bitmap would be 40,000 pixels
# square (6 GB, and 10 GB peak in one probe). Larger pages are rendered at a lower resolution,
# to at most this many pixels (an A2 sheet at 200 dpi; tesseract's time grows with it too).
MAX_OCR_PIXELS = 16_000_000


@dataclass(frozen=True)
class PdfOptions:
    """How PDFs are read."""

    ocr: bool = True
    ocr_languages: str = "jpn+eng"
    ocr_dpi: int = 200
    tables: bool = True  # read ruled tables as tables (pages without rules cost nothing)


def _running_lines(pages: list[list[str]]) -> set[str]:
    """Header and footer lines, at a page edge: the same (numbers aside) on most pages, or on
    three pages or more carrying the page's number (a chapter's running title, "Chapter 2: R
    Basics 8", changes by chapter: its number minus the page's index is the same on each).
    Once titles ending in the page's number show how the pages are numbered, an edge line
    ending in its page's number is one too: a chapter of one or two pages has its title on
    fewer than three ("Chapter 6: R and Emacs 27")."""
    if len(pages) < 3:
        return set()
    # (line, its shape, its number minus the page's index) of each line at a page edge
    edge = [
        (line, _shape(line), _page_offset(line, index))
        for index, lines in enumerate(pages)
        for line in {*lines[:2], *lines[-2:]}
    ]
    edges = Counter(key for _, key, _ in edge)
    offsets: dict[str, set[int | None]] = {}
    for _, key, offset in edge:
        offsets.setdefault(key, set()).add(offset)

    def numbers_the_page(key: str) -> bool:
        return len(offsets[key]) == 1 and None not in offsets[key]

    most = max(3, 0.6 * len(pages))
    running = {key for key, n in edges.items() if n >= most or (n >= 3 and numbers_the_page(key))}
    numbering = {
        offset
        for key in running
        if key != "#" and key.endswith("#") and numbers_the_page(key)
        for offset in offsets[key]
    }
    roman: dict[int | None, set[str]] = {}  # front matter's page numbers (ii, iii), by offset
    for line, key, offset in edge:
        if line[-1].isdigit() and offset in numbering:
            running.add(key)
        elif _ROMAN.fullmatch(line):
            roman.setdefault(offset, set()).add(line)
    running.update(*(lines for lines in roman.values() if len(lines) >= 2))
    return running


# A lowercase roman numeral, as front matter numbers its pages.
_ROMAN = re.compile(r"(?=[ivxlc])c{0,3}(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})")
_ROMAN_DIGITS = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100}


def _roman_value(numeral: str) -> int:
    values = [_ROMAN_DIGITS[c] for c in numeral]
    return sum(-v if v < after else v for v, after in zip(values, [*values[1:], 0], strict=True))


def _shape(line: str) -> str:
    """A line as running lines are compared: its numbers as #, a roman folio at either end
    too ("Debian リファレンス xvii" in the front matter, "Debian リファレンス 12" after)."""
    shaped = _DIGITS.sub("#", line)
    head, _, rest = shaped.partition(" ")
    if rest and _ROMAN.fullmatch(head):
        shaped = f"# {rest}"
    body, _, tail = shaped.rpartition(" ")
    return f"{body} #" if body and _ROMAN.fullmatch(tail) else shaped


def _page_offset(line: str, index: int) -> int | None:
    """The line's last number (or, with none, a roman folio at either end or alone) minus the
    page's index; None: no number. Only the last digits are read: a hostile line of 5,000
    digits is no integer to Python."""
    numbers = _DIGITS.findall(line)
    if numbers:
        return int(numbers[-1][-6:]) - index
    words = line.split()
    folio = next((w for w in (words[-1], words[0]) if _ROMAN.fullmatch(w)), None)
    return None if folio is None else _roman_value(folio) - index


def _without(pieces: list[Piece], running: set[str]) -> list[Piece]:
    return [
        [line for line in piece if _shape(line) not in running]
        if isinstance(piece, list)
        else piece
        for piece in pieces
    ]


def _content(pieces: list[Piece]) -> bool:
    return any(piece for piece in pieces if not isinstance(piece, list) or piece)


def _lines(pieces: list[Piece]) -> list[str]:
    return [line for piece in pieces if isinstance(piece, list) for line in piece]


def _table_element(table: PdfTable) -> Table:
    metadata = ElementMetadata(page_number=table.page, text_as_html=table_html(table))
    return Table(text=table_text(table), metadata=metadata)


def _elements(lines: list[str], page: int) -> Iterator[Element]:
    metadata = ElementMetadata(page_number=page)
    paragraph: str | None = None
    kind: type[NarrativeText | ListItem] = NarrativeText

    def flush() -> Iterator[Element]:
        if paragraph:
            yield kind(text=paragraph, metadata=metadata)

    chapter: str | None = None  # "Chapter 2" alone: its title is the next line

    def title(text: str, depth: int) -> Title:
        return Title(text=text, metadata=ElementMetadata(page_number=page, category_depth=depth))

    for line in lines:
        depth = heading_depth(line)
        if chapter is not None:
            named = depth is None and len(line) <= 80 and not line.endswith(_SENTENCE_END)
            yield title(f"{chapter} {line}" if named else chapter, 0)
            chapter = None
            if named:  # "Chapter 2 Debian パッケージ管理"
                continue
        if depth is not None and not _BULLET.match(line.split(" ", 1)[0] + " "):
            yield from flush()
            paragraph = None
            if BARE_CHAPTER.match(line):
                chapter = line
            else:
                yield title(line, depth)
            continue
        if _BULLET.match(line):
            yield from flush()
            paragraph, kind = line, ListItem
            continue
        if entry_title(line) is not None:  # a contents entry is a line of its own
            yield from flush()
            paragraph = None
            yield NarrativeText(text=line, metadata=metadata)
            continue
        if paragraph is None:
            paragraph, kind = line, NarrativeText
        elif paragraph.endswith(_SENTENCE_END) and kind is NarrativeText:
            yield from flush()
            paragraph = line
        else:
            # A Japanese wrap gets no space: clean_text drops gaps between Japanese characters.
            paragraph = f"{paragraph} {line}"
    yield from flush()
    if chapter is not None:
        yield title(chapter, 0)


def ocr_scale(width: float, height: float, dpi: int) -> float:
    """Render scale for OCR of a page ``width`` x ``height`` points: ``dpi``, unless the bitmap
    would be over ``MAX_OCR_PIXELS``."""
    scale = dpi / 72
    pixels = width * height * scale * scale
    if pixels > MAX_OCR_PIXELS:
        scale *= (MAX_OCR_PIXELS / pixels) ** 0.5
    return scale


def _render(page: pdfium.PdfPage, options: PdfOptions) -> Image:
    """The page as a picture for OCR (call with PDFium held; the picture owns its pixels)."""
    width, height = page.get_size()
    bitmap = page.render(scale=ocr_scale(width, height, options.ocr_dpi))
    try:
        return bitmap.to_pil().copy()
    finally:
        bitmap.close()


def _ocr(image: Image, options: PdfOptions, source: str) -> str:
    # tesseract runs as a child process: no PDFium lock needed, other threads go on meanwhile.
    import pytesseract

    try:
        return str(pytesseract.image_to_string(image, lang=options.ocr_languages))
    except (pytesseract.TesseractError, subprocess.SubprocessError, OSError) as exc:
        raise CorruptDocument(source, f"OCR failed: {exc}") from exc


class _Read(NamedTuple):
    """What one page gave: its text, its pieces when the text layer is read, its picture
    when the page must go to OCR, and its lines with their sizes (the text layer read as
    lines; empty for OCR and for pages with tables)."""

    text: str
    pieces: list[Piece] | None
    picture: Image | None
    sized: Sized


def _read_page(document: pdfium.PdfDocument, index: int, options: PdfOptions) -> _Read:
    """One page, all PDFium work done under its lock."""
    with native.pdfium():
        page = document[index]
        textpage = page.get_textpage()
        try:
            text = textpage.get_text_range()
            if len(text.strip()) < _MIN_TEXT_CHARS and options.ocr:
                if shutil.which("tesseract") is None:
                    return _Read(text, None, None, [])
                return _Read(text, None, _render(page, options), [])
            # The rule count is cheap; only pages that draw rules are searched for tables.
            chars = PageChars(textpage)
            if options.tables and has_rules(page):
                tables = find_tables(page, chars, index + 1)
                if tables:
                    return _Read(text, split_text(chars, tables), None, [])
            sized = sized_lines(text, textpage)
            return _Read(text, [text_lines(sized)], None, sized)
        finally:
            # Closed here, not by pypdfium2's finalizers, which may run on any thread.
            textpage.close()
            page.close()


def partition_pdf_fast(data: bytes, source: str, options: PdfOptions) -> list[Element]:
    """Elements of a PDF with page numbers and numbered headings, read by PDFium."""
    with native.pdfium():
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                raise PasswordProtected(source, "the PDF is password protected") from exc
            raise CorruptDocument(source, f"not a readable PDF ({exc})") from exc
        count = len(document)
    try:
        if count == 0:
            raise EmptyDocument(source, "the PDF has no pages")
        pages: list[list[Piece]] = []
        opening: list[Sized] = []  # the first pages' sized lines, for the cover's title
        scanned: list[int] = []
        unreadable: list[int] = []
        # PDFium is held one page at a time, so questions checking citations on other PDFs
        # wait for a page, not for a whole manual.
        for index in range(count):
            text, pieces, picture, sized = _read_page(document, index, options)
            if index < USUAL_PAGES:
                opening.append(sized)
            if pieces is None:
                if picture is None:
                    unreadable.append(index + 1)  # blank, a figure, or a scan: skip the page
                else:
                    text = _ocr(picture, options, source)
                    scanned.append(index + 1)
                pages.append([page_lines(text)])
            else:
                pages.append(pieces)
        if scanned:
            logger.info("%s: OCR on pages %s", source, scanned)
        if unreadable and not any(_lines(p) for p in pages):
            raise EmptyDocument(
                source,
                "no text layer and OCR is unavailable "
                "(install tesseract-ocr and tesseract-ocr-jpn)",
            )
        if unreadable:
            logger.warning("%s: pages %s have no text layer (no OCR available)", source, unreadable)
        running = _running_lines([_lines(p) for p in pages])
        kept = [_without(pieces, running) for pieces in pages]
        if running and not any(_content(pieces) for pieces in kept):
            # Every line repeats on every page: that is the text layer itself (a form, a
            # stamped notice), not a running header. Keep it once, where it first appears,
            # rather than call a PDF with text empty or scanned.
            first = next(i for i, pieces in enumerate(pages) if _content(pieces))
            kept[first] = pages[first]
        elements: list[Element] = []
        for number, pieces in enumerate(merge_continued([[p for p in ps if p] for ps in kept]), 1):
            for piece in pieces:
                if isinstance(piece, PdfTable):
                    elements.append(_table_element(piece))
                else:
                    elements.extend(_elements(piece, number))
        if elements and (title := cover_title(opening)):
            elements[0].metadata.document_title = title  # read by parse.py
        return elements
    finally:
        with native.pdfium():
            document.close()
