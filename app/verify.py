"""Do cited passages really stand in their source, at the page given?

Each cited passage is looked up again in the file it came from: the PDF page (or pages) it
names, or the whole text of other formats. A passage is verified when nearly all of its
fragments (sentences, table cells) are found there, compared after the same cleaning the
ingestion applied and with whitespace removed. The file must still be the version indexed.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import unicodedata
from pathlib import Path

from app.passages import Passage
from ingest import native
from ingest.detect import DocType, detect_type
from ingest.errors import KuraError
from ingest.parse import ParseOptions, clean_text, parse_document
from ingest.settings import IndexSettings
from ingest.uploads import find_original

logger = logging.getLogger(__name__)

_FRAGMENT_SPLIT = re.compile(r"\s*\|\s*|\n|(?<=[。！？.!?])\s*")
_MIN_FRAGMENT = 6  # characters; shorter pieces ("(a)", "Code:") prove nothing
_FOUND_SHARE = 0.8


def _original(settings: IndexSettings, passage: Passage) -> Path | None:
    path = Path(passage.source)
    if path.is_absolute() and path.is_file():
        return path
    return find_original(settings.data_dir, passage.document_version)


def _squash(text: str) -> str:
    return "".join(clean_text(unicodedata.normalize("NFKC", text)).split())


@functools.lru_cache(maxsize=16)
def _document_text(path: str, version: str) -> str:
    data = Path(path).read_bytes()
    doc_type = detect_type(data, path)
    parsed = parse_document(data, doc_type, path, ParseOptions(ocr=False))
    return _squash("\n".join(b.text for b in parsed.blocks))


def _pdf_pages(path: Path, first: int, last: int) -> str:
    import pypdfium2 as pdfium

    texts = []
    # PDFium is not thread-safe: questions check citations on request threads while the upload
    # worker parses PDFs. Pages are closed here, under the lock, not by finalizers.
    with native.pdfium():
        pdf = pdfium.PdfDocument(str(path))
        try:
            for number in range(first, min(last, len(pdf)) + 1):
                page = pdf[number - 1]
                textpage = page.get_textpage()
                texts.append(textpage.get_text_range())
                textpage.close()
                page.close()
        finally:
            pdf.close()
    return _squash("\n".join(texts))


def check(settings: IndexSettings, passage: Passage) -> tuple[bool | None, str]:
    """(verified, why): None when the source cannot be read again."""
    path = _original(settings, passage)
    if path is None:
        return None, "the source file is not available to check"
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != passage.document_version:
        return False, "the source file has changed since it was indexed"
    try:
        if detect_type(data, str(path)) is DocType.PDF and passage.page_start:
            haystack = _pdf_pages(path, passage.page_start, passage.page_end or passage.page_start)
            where = f"page {passage.pages}"
        else:
            haystack = _document_text(str(path), passage.document_version)
            where = "the document"
    except (KuraError, OSError) as exc:
        return None, f"the source could not be read again: {exc}"
    fragments = [
        f
        for f in (_squash(x) for x in _FRAGMENT_SPLIT.split(passage.text))
        if len(f) >= _MIN_FRAGMENT
    ]
    # Table rows are stored as "Column: value"; the source holds the value.
    fragments = [f.split(":", 1)[1] if ":" in f and f.split(":", 1)[1] else f for f in fragments]
    if not fragments:
        return None, "the passage is too short to check"
    found = sum(1 for f in fragments if f in haystack)
    share = found / len(fragments)
    if share >= _FOUND_SHARE:
        return True, f"found on {where}"
    return False, f"only {found} of {len(fragments)} fragments found on {where}"


def verify_citations(passages: list[Passage], settings: IndexSettings) -> list[Passage]:
    """``passages`` with ``verified`` and ``verification`` filled in."""
    checked = []
    for passage in passages:
        try:
            verified, why = check(settings, passage)
        except Exception:
            logger.exception("citation check failed for %s", passage.chunk_id)
            verified, why = None, "the check failed"
        checked.append(passage.model_copy(update={"verified": verified, "verification": why}))
    return checked
