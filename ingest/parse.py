"""Parse a document's bytes into clean text blocks with page and heading path (unstructured)."""

from __future__ import annotations

import io
import logging
import re
import unicodedata
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ingest.contents import contents_entries
from ingest.defaults import from_setting
from ingest.detect import DocType, decode_text
from ingest.errors import CorruptDocument, DocumentError, EmptyDocument, PasswordProtected
from ingest.headings import heading_depth, heading_number, list_numbers
from ingest.offline import make_unstructured_offline
from ingest.text import WRAPPED
from ingest.webpage import without_furniture

logger = logging.getLogger(__name__)

# unstructured's per-element language detection: skipped ([""]), since the chunker labels each
# chunk's language itself and langdetect logs a warning for every short element.
_NO_LANGUAGE_DETECTION = [""]

# Element categories that carry no content worth retrieving.
_SKIP = {"PageBreak", "Header", "Footer", "PageNumber", "Image", "FigureCaption_empty"}


@dataclass(frozen=True)
class ParseOptions:
    """Choices that change how documents are read."""

    # Defaults: the settings' (KURA_PDF_PARSER, KURA_OCR, KURA_OCR_LANGUAGES, KURA_PDF_TABLES).
    pdf_parser: str = from_setting("pdf_parser")  # "pdfium" (fast) or "unstructured" (pdfminer)
    ocr: bool = from_setting("ocr")  # OCR PDF pages without a text layer (tesseract)
    ocr_languages: str = from_setting("ocr_languages")
    pdf_tables: bool = from_setting("pdf_tables")  # find ruled tables (pdfium + pdfplumber)


@dataclass(frozen=True)
class Block:
    """One piece of a document's text, in reading order."""

    text: str
    category: str  # unstructured's element category: Title, NarrativeText, ListItem, Table, ...
    page: int | None = None
    section: tuple[str, ...] = ()  # heading path, outermost first
    rows: tuple[tuple[str, ...], ...] = ()  # a table's cells, header row first
    caption: str = ""  # a table's caption


@dataclass
class ParsedDocument:
    """A document's title and its blocks."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    has_pages: bool = False


# PDF line wraps leave a space or newline between two Japanese characters ("ス タイル").
_CJK_GAP = re.compile(rf"(?<=[{WRAPPED}])[ \t\n]+(?=[{WRAPPED}])")


# Marks that are not text: PDFium joins a word a line-end hyphen broke ("Win-/dows") and
# leaves U+FFFE, a noncharacter, where the hyphen was (as Chrome's PDF viewer, which removes
# it); a soft hyphen (U+00AD, HTML's &shy;) is only a place a word may break. Left in, either
# splits the word for keyword search and the embedder.
_NOT_TEXT = dict.fromkeys((0xFFFE, 0x00AD))


def clean_text(text: str) -> str:
    """Normalise width and compatibility forms (ＡＢＣ１２３ -> ABC123), join words broken at a
    hyphen mark, and squeeze whitespace."""
    text = unicodedata.normalize("NFKC", text.translate(_NOT_TEXT))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return _CJK_GAP.sub("", "\n".join(line for line in lines if line))


# Formats whose headings are marked up (h1-h6, heading styles, slide titles): trust
# unstructured's titles there; elsewhere only numbered headings count.
_MARKED_UP = {DocType.HTML, DocType.MARKDOWN, DocType.DOCX, DocType.PPTX, DocType.XLSX}


def parse_document(
    data: bytes, doc_type: DocType, source: str, options: ParseOptions | None = None
) -> ParsedDocument:
    """Partition ``data`` with unstructured and turn its elements into blocks.

    Raises a DocumentError subclass naming ``source`` when the content cannot be read.
    """
    make_unstructured_offline()
    partition = _PARTITIONERS[doc_type]
    try:
        elements = partition(data, source, options or ParseOptions())
    except (DocumentError, ImportError):
        raise  # ImportError is a broken install, not a bad document
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, IndexError, OSError) as exc:
        raise CorruptDocument(
            source, f"cannot be read as {doc_type.name}: {parser_cause(exc)}"
        ) from exc
    except Exception as exc:
        logger.warning("parser failed on %s", source, exc_info=True)
        raise CorruptDocument(
            source, f"cannot be read as {doc_type.name}: {parser_cause(exc)}"
        ) from exc
    parsed = _to_blocks(elements, source, trust_titles=doc_type in _MARKED_UP)
    if not parsed.blocks:
        hint = " (a scanned PDF without a text layer?)" if doc_type is DocType.PDF else ""
        raise EmptyDocument(source, f"no text found in the document{hint}")
    return parsed


_MAX_CAUSE = 300  # characters: a parser's message can quote a whole XML line


def parser_cause(exc: BaseException) -> str:
    """What the parser said, on one short line: its error type and message (a KeyError's
    message is the missing archive part, which alone reads as nothing)."""
    message = " ".join(str(exc).split())
    if isinstance(exc, KeyError):
        message = f"missing part {message}"
    cause = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return cause if len(cause) <= _MAX_CAUSE else cause[: _MAX_CAUSE - 1] + "…"


def _to_blocks(elements: Sequence[Any], source: str, *, trust_titles: bool) -> ParsedDocument:
    blocks: list[Block] = []
    headings: list[tuple[int, str]] = []  # (depth, heading text), outermost first
    title = ""
    has_pages = False
    content = _content(elements)
    listed = set() if trust_titles else list_numbers([_number(text) for _, _, text in content])
    for n, (element, category, text) in enumerate(content):
        meta = element.metadata
        # a PDF's cover title (ingest/pdf.py), an e-mail's subject
        stated = getattr(meta, "document_title", None) or getattr(meta, "subject", None)
        title = title or clean_text(stated or "")
        page = getattr(meta, "page_number", None)
        has_pages = has_pages or page is not None
        depth: int | None
        if trust_titles and category == "Title":
            depth = getattr(meta, "category_depth", None) or 0
        elif trust_titles and category == "ListItem":
            depth = None  # marked up as an item of a list: never a heading, numbered or not
        else:
            depth = heading_depth(text) if category != "Table" and n not in listed else None
            category = "Title" if depth is not None else _demote(category)
        inline = _inline_heading(text) if depth is None and category != "Table" else None
        if inline and n not in listed:
            # "4. Redistribution. You may ..." opens clause 4: its heading, then its body.
            head, text, depth, _ = inline
            headings = [*(h for h in headings if h[0] < depth), (depth, head)]
            blocks.append(Block(text=head, category="Title", page=page, section=_path(headings)))
            if not text:
                continue
            depth = None
        if depth is not None:
            headings = [*(h for h in headings if h[0] < depth), (depth, text)]
            title = title or text
        section = _path(headings)
        rows, caption = _table_rows(getattr(meta, "text_as_html", None) or "")
        blocks.append(
            Block(
                text=text, category=category, page=page, section=section, rows=rows, caption=caption
            )
        )
    if not title and blocks and len(first_line := blocks[0].text.split("\n")[0]) <= 80:
        title = first_line
    name = source.replace("\\", "/").rsplit("/", 1)[-1]
    # Embedded with every chunk, so it is kept short.
    return ParsedDocument(title=(title or name)[:80], blocks=blocks, has_pages=has_pages)


def _content(elements: Sequence[Any]) -> list[tuple[Any, str, str]]:
    """(element, category, cleaned text) of the elements that carry content: not page
    furniture, not empty, not the document's own table of contents (ingest/contents.py)."""
    kept = []
    for element in elements:
        category = getattr(element, "category", type(element).__name__)
        text = clean_text(str(element.text or "")) if category not in _SKIP else ""
        if text:
            kept.append((element, category, text))
    # A table opens with its caption, which is what a list of tables names.
    pages = [
        (getattr(e.metadata, "page_number", None), _opening(e, c, text)) for e, c, text in kept
    ]
    contents = contents_entries(pages)
    return [entry for n, entry in enumerate(kept) if n not in contents]


def _opening(element: Any, category: str, text: str) -> str:
    if category != "Table":
        return text
    caption = _table_rows(getattr(element.metadata, "text_as_html", None) or "")[1]
    return f"{caption}\n{text}" if caption else text


# A clause heading run into its body: "2. Grant of Copyright License. Subject to ...",
# "Section 12.3 Confidentiality. The parties ...", "第5条（秘密保持）甲及び乙は…".
_INLINE_HEADING = re.compile(
    r"(?P<head>(?:(?:section|article|clause)\s+)?(?P<num>\d{1,3}(?:\.\d{1,3})*)\.?\s+"
    r"(?P<words>[A-Z][^.。:\n]{0,60}?)[.:](?=\s|$)"
    r"|第[0-9一二三四五六七八九十百]+条(?:の\d+)?\s*[（(][^）)\n]{1,30}[）)])"
    r"\s*(?P<body>.*)",
    re.IGNORECASE | re.DOTALL,
)
_MINOR_WORDS = {"of", "and", "or", "the", "to", "for", "in", "on", "a", "an", "by", "with"}


class _Inline(NamedTuple):
    head: str
    body: str
    depth: int
    number: str | None  # None: a clause numbered by a word (第5条)


def _inline_heading(text: str) -> _Inline | None:
    """The heading and body when ``text`` opens with a clause heading, else None."""
    match = _INLINE_HEADING.match(text)
    if match is None:
        return None
    if match["words"] is not None:
        words = match["words"].split()
        # Title Case, a few words: a heading, not the first sentence of a numbered step.
        if len(words) > 8 or any(w[0].islower() and w not in _MINOR_WORDS for w in words):
            return None
    number = match["num"]
    depth = number.count(".") if number else 0
    return _Inline(match["head"].strip(), match["body"].strip(), depth, number)


def _number(text: str) -> str | None:
    """The section number ``text`` opens with as a heading, or as a clause heading run into
    its body."""
    if (number := heading_number(text)) is not None:
        return number
    inline = _inline_heading(text)
    return inline.number if inline else None


def _path(headings: list[tuple[int, str]]) -> tuple[str, ...]:
    return tuple(h[1] for h in headings)


def _table_rows(html: str) -> tuple[tuple[tuple[str, ...], ...], str]:
    """Cells of an HTML table (as unstructured gives tables in metadata.text_as_html)."""
    if "<tr" not in html:
        return (), ""
    import lxml.html

    try:
        table = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return (), ""
    caption = clean_text(" ".join(table.xpath(".//caption//text()")))
    rows = []
    for tr in table.xpath(".//tr"):
        cells = tuple(
            clean_text(cell.text_content()).replace("\n", " ") for cell in tr.xpath("./th|./td")
        )
        if any(cells):
            rows.append(cells)
    return tuple(rows), caption


def _demote(category: str) -> str:
    return "NarrativeText" if category in ("Title", "UncategorizedText") else category


def _pdf(data: bytes, source: str, options: ParseOptions) -> list[Any]:
    if options.pdf_parser == "pdfium":
        from ingest.pdf import PdfOptions, partition_pdf_fast

        pdf_options = PdfOptions(
            ocr=options.ocr, ocr_languages=options.ocr_languages, tables=options.pdf_tables
        )
        return partition_pdf_fast(data, source, pdf_options)
    return _pdf_unstructured(data, source)


def _pdf_unstructured(data: bytes, source: str) -> list[Any]:
    """unstructured's own text-layer path (pdfminer): slower, kept as a baseline."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise PasswordProtected(source, "the PDF is password protected")
        page_count = len(reader.pages)
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise CorruptDocument(source, f"not a readable PDF: {exc}") from exc
    if page_count == 0:
        raise EmptyDocument(source, "the PDF has no pages")

    from unstructured.partition.pdf import partition_pdf

    return list(partition_pdf(file=io.BytesIO(data), strategy="fast", languages=["eng", "jpn"]))


def _docx(data: bytes, source: str, options: ParseOptions) -> list[Any]:
    from unstructured.partition.docx import partition_docx

    return list(partition_docx(file=io.BytesIO(data), languages=_NO_LANGUAGE_DETECTION))


def _pptx(data: bytes, source: str, options: ParseOptions) -> list[Any]:
    from unstructured.partition.pptx import partition_pptx

    return list(partition_pptx(file=io.BytesIO(data), languages=_NO_LANGUAGE_DETECTION))


def _xlsx(data: bytes, source: str, options: ParseOptions) -> list[Any]:
    from unstructured.partition.xlsx import partition_xlsx

    return list(
        partition_xlsx(file=io.BytesIO(data), find_subtable=False, languages=_NO_LANGUAGE_DETECTION)
    )


def _html(data: bytes, source: str, options: ParseOptions) -> list[Any]:
    from unstructured.partition.html import partition_html

    page = without_furniture(decode_text(data, source))
    return list(partition_html(text=page, languages=_NO_LANGUAGE_DETECTION))


# python-markdown's list and blockquote parsing grows faster than the square of the nesting
# depth (a list nested 512 deep: 8 s; 2,000 deep: a RecursionError after 5 minutes and 3.5 GB).
# No real document nests past a few levels: deeper indentation and quote markers are cut back
# to these (the text is kept; only the deepest levels are flattened).
MARKDOWN_MAX_INDENT = 64  # columns: 16 list levels at 4 spaces
MARKDOWN_MAX_QUOTES = 16
_DEEP_INDENT = re.compile(rf"^[ \t]{{{MARKDOWN_MAX_INDENT + 1},}}", re.MULTILINE)
_DEEP_QUOTES = re.compile(rf"^(?:[ \t]*>){{{MARKDOWN_MAX_QUOTES + 1},}}", re.MULTILINE)


def shallow_markdown(text: str) -> str:
    """``text`` with list nesting and blockquotes cut back to a depth the parser reads in
    linear time."""
    text = _DEEP_QUOTES.sub(">" * MARKDOWN_MAX_QUOTES, text)
    return _DEEP_INDENT.sub(" " * MARKDOWN_MAX_INDENT, text)


def _markdown(data: bytes, source: str, options: ParseOptions) -> list[Any]:
    from unstructured.partition.md import partition_md

    text = shallow_markdown(decode_text(data, source))
    return list(partition_md(text=text, languages=_NO_LANGUAGE_DETECTION))


def _text(data: bytes, source: str, options: ParseOptions) -> list[Any]:
    from unstructured.partition.text import partition_text

    return list(partition_text(text=decode_text(data, source), languages=_NO_LANGUAGE_DETECTION))


def _eml(data: bytes, source: str, options: ParseOptions) -> list[Any]:
    from unstructured.partition.email import partition_email

    return list(partition_email(file=io.BytesIO(data), languages=_NO_LANGUAGE_DETECTION))


_PARTITIONERS: dict[DocType, Callable[[bytes, str, ParseOptions], list[Any]]] = {
    DocType.PDF: _pdf,
    DocType.DOCX: _docx,
    DocType.PPTX: _pptx,
    DocType.XLSX: _xlsx,
    DocType.HTML: _html,
    DocType.MARKDOWN: _markdown,
    DocType.TEXT: _text,
    DocType.EML: _eml,
}
