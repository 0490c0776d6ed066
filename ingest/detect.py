"""Document type by content, not by name; text decoding (UTF-8, Shift_JIS and friends)."""

from __future__ import annotations

import io
import warnings
from enum import StrEnum

from charset_normalizer import from_bytes

from ingest.errors import EmptyDocument, UnsupportedDocument


class DocType(StrEnum):
    """The document types kura indexes."""

    PDF = "pdf"
    DOCX = "docx"
    PPTX = "pptx"
    XLSX = "xlsx"
    HTML = "html"
    MARKDOWN = "md"
    TEXT = "txt"
    EML = "eml"


_TEXTUAL = {DocType.HTML, DocType.MARKDOWN, DocType.TEXT, DocType.EML}
# Control characters other than tab, newline, carriage return and form feed: text files
# hold almost none of them, binary files are full of them.
_CONTROL = set(range(0x09)) | {0x0B} | set(range(0x0E, 0x20)) | {0x7F}


def detect_type(data: bytes, source: str) -> DocType:
    """Return the type of ``data`` judged by its content; ``source`` is only used in errors.

    The file name's extension only breaks ties between text formats (Markdown vs plain text),
    where the bytes cannot tell them apart.
    """
    if not data.strip():
        raise EmptyDocument(source, "the file is empty")

    from unstructured.file_utils.encoding import EncodingDetectionWarning
    from unstructured.file_utils.filetype import detect_filetype
    from unstructured.file_utils.model import FileType

    with warnings.catch_warnings():
        # It guesses legacy encodings (Shift_JIS) with a warning; decode_text decides below.
        warnings.simplefilter("ignore", EncodingDetectionWarning)
        detected = detect_filetype(file=io.BytesIO(data), metadata_file_path=source)
    by_unstructured = {
        FileType.PDF: DocType.PDF,
        FileType.DOCX: DocType.DOCX,
        FileType.PPTX: DocType.PPTX,
        FileType.XLSX: DocType.XLSX,
        FileType.HTML: DocType.HTML,
        FileType.MD: DocType.MARKDOWN,
        FileType.TXT: DocType.TEXT,
        FileType.EML: DocType.EML,
    }
    doc_type = by_unstructured.get(detected)
    if doc_type is None:
        raise UnsupportedDocument(
            source,
            f"unsupported content type ({detected.name.lower()}); kura reads "
            "PDF, DOCX, PPTX, XLSX, HTML, Markdown, plain text and EML",
        )
    if doc_type in _TEXTUAL:
        # libmagic falls back on the extension for unknown bytes: prove it is really text.
        decode_text(data, source)
    return doc_type


def decode_text(data: bytes, source: str) -> str:
    """Decode a text file: UTF-8 first, then the most likely legacy encoding (e.g. Shift_JIS).

    Raises UnsupportedDocument when the bytes are not text in any encoding.
    """
    if b"\x00" in data[:65536]:
        raise UnsupportedDocument(source, "binary content (NUL bytes), not a text document")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        best = from_bytes(data[:1_000_000]).best()
        if best is None:
            raise UnsupportedDocument(
                source, "binary content: not text in any known encoding"
            ) from None
        text = data.decode(best.encoding, errors="replace")
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) in _CONTROL)
    replaced = sample.count("\ufffd")
    if sample and (controls + replaced) / len(sample) > 0.02:
        raise UnsupportedDocument(source, "binary content: not a text document")
    return text
