"""Document type by content, not by name; text decoding (UTF-8, Shift_JIS and friends)."""

from __future__ import annotations

import codecs
import io
import logging
import unicodedata
import warnings
import zipfile
from enum import StrEnum
from pathlib import PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING

from charset_normalizer import from_bytes

from ingest.errors import CorruptDocument, EmptyDocument, UnsafeDocument, UnsupportedDocument

if TYPE_CHECKING:
    from unstructured.file_utils.model import FileType

logger = logging.getLogger(__name__)


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


# Fewer bytes than this (8 characters) cannot be told from binary data as UTF-16 text.
_MIN_UTF16_BYTES = 16
# Unicode categories of control, surrogate, private-use and unassigned code points.
_NOT_TEXT = {"Cc", "Cs", "Co", "Cn"}
_TEXTUAL = {DocType.HTML, DocType.MARKDOWN, DocType.TEXT, DocType.EML}
# Control characters other than tab, newline, carriage return and form feed: text files
# hold almost none of them, binary files are full of them.
_CONTROL = set(range(0x09)) | {0x0B} | set(range(0x0E, 0x20)) | {0x7F}

# ZIP-based formats (DOCX, PPTX, XLSX) are archives the parsers inflate in memory. Limits on
# what the central directory declares; Python's zipfile never inflates a member past its
# declared size, so the declaration bounds what python-docx, python-pptx and openpyxl read.
_ZIP_MAGIC = b"PK\x03\x04"
_OOXML = {DocType.DOCX, DocType.PPTX, DocType.XLSX}
# A fixed cap rather than a multiple of max_file_mb: 20x the default 100 MiB limit would be
# 2 GiB, more than a 2-core machine should inflate for one document. Real office files, even
# 2,000-page manuals, expand to tens of MiB of XML plus their images.
MAX_ARCHIVE_EXPANDED = 1 << 30  # 1 GiB in all
# XML compresses 10-30:1 and images barely at all; only a crafted run of repeated bytes
# reaches 200:1 at a size that matters.
MAX_MEMBER_RATIO = 200
MIN_RATIO_CHECKED = 10 << 20  # members under 10 MiB expanded are harmless at any ratio
MAX_ARCHIVE_MEMBERS = 10_000
# What zipfile raises on a damaged archive (UnicodeDecodeError: a member name flagged UTF-8
# that is not; NotImplementedError: a damaged "version needed to extract" field).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    UnicodeDecodeError,
    EOFError,
    ValueError,
    NotImplementedError,
)


def detect_type(data: bytes, source: str) -> DocType:
    """Return the type of ``data`` judged by its content; ``source`` is only used in errors.

    The file name's extension only breaks ties between text formats (Markdown vs plain text),
    where the bytes cannot tell them apart.
    """
    if not data.strip():
        raise EmptyDocument(source, "the file is empty")
    if data.startswith(_ZIP_MAGIC):
        # Before unstructured's detector, which opens the archive itself.
        check_archive(data, source)

    from unstructured.file_utils.model import FileType

    detected = _detect_filetype(data, source)
    if detected is FileType.UNK and _utf16_without_bom(data) is not None:
        # libmagic calls UTF-16 without a BOM "data": judge the text itself (only then, so
        # a format with a signature of its own is never read as text).
        detected = _detect_filetype(decode_text(data, source).encode("utf-8"), source)
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
    if doc_type in _OOXML and not data.startswith(_ZIP_MAGIC):
        # Named .docx but no ZIP header: not an archive at all, or one behind a prefix,
        # which the parsers would still open.
        check_archive(data, source)
    if doc_type in _TEXTUAL:
        # libmagic falls back on the extension for unknown bytes: prove it is really text.
        decode_text(data, source)
    return doc_type


def _detect_filetype(data: bytes, source: str) -> FileType:
    """unstructured's type detection, with its exceptions on damaged files made ours."""
    from unstructured.errors import UnprocessableEntityError
    from unstructured.file_utils.encoding import EncodingDetectionWarning
    from unstructured.file_utils.filetype import detect_filetype

    def detect(content: bytes) -> FileType:
        with warnings.catch_warnings():
            # It guesses legacy encodings (Shift_JIS) with a warning; decode_text decides.
            warnings.simplefilter("ignore", EncodingDetectionWarning)
            return detect_filetype(file=io.BytesIO(content), metadata_file_path=source)

    try:
        try:
            return detect(data)
        except UnprocessableEntityError:
            # Its encoding guess gives up on text with a damaged character (a Shift_JIS file
            # cut mid-character): judge the text as decode_text reads it instead.
            return detect(decode_text(data, source).encode("utf-8"))
    except UnsupportedDocument:
        raise
    except Exception as exc:
        if b"PK\x05\x06" in data[-(1 << 16) - 22 :]:
            # A ZIP end record but no readable archive: zipfile failed inside the detector.
            raise CorruptDocument(source, f"damaged ZIP archive ({exc})") from exc
        logger.warning("type detection failed on %s", source, exc_info=True)
        raise UnsupportedDocument(source, "cannot tell what type of document this is") from exc


def decode_text(data: bytes, source: str) -> str:
    """Decode a text file: UTF-16 (with or without a BOM), UTF-8, then the likeliest legacy
    encoding (Shift_JIS).

    Raises UnsupportedDocument when the bytes are not text in any encoding.
    """
    utf16 = _utf16_without_bom(data)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Windows "Unicode" text: every other byte of ASCII text is NUL.
        text = data.decode("utf-16", errors="replace")
    elif utf16 is not None:
        text = data.decode(utf16, errors="replace")
        # Random bytes decode as UTF-16 too, into C1 controls and unassigned or private code
        # points that real text holds almost none of.
        sample = text[:32768]
        strange = sum(
            1 for ch in sample if unicodedata.category(ch) in _NOT_TEXT and ch not in "\t\n\r\f"
        )
        if strange > 0.02 * len(sample):
            raise UnsupportedDocument(source, "binary content (NUL bytes), not a text document")
    elif b"\x00" in data[:65536]:
        raise UnsupportedDocument(source, "binary content (NUL bytes), not a text document")
    else:
        text = _decode_8bit(data, source)
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) in _CONTROL)
    replaced = sample.count("\ufffd")
    if sample and (controls + replaced) / len(sample) > 0.02:
        raise UnsupportedDocument(source, "binary content: not a text document")
    return text


def _utf16_without_bom(data: bytes) -> str | None:
    """The codec ("utf-16-le" or "utf-16-be") of UTF-16 text without a byte order mark.

    Only bytes with NULs are asked about (ASCII characters, newlines included, carry one in
    UTF-16), so a legacy 8-bit encoding is never taken for UTF-16; charset-normalizer then tells
    UTF-16 text from binary data that merely holds NULs.
    """
    sample = data[:65536]
    if (
        len(sample) < _MIN_UTF16_BYTES
        or b"\x00" not in sample
        or data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    ):
        return None
    # In UTF-16 text the NULs are the high bytes of ASCII characters: all on one side of each
    # pair (the second in little-endian, the first in big-endian). Binary formats (PDF, ZIP)
    # have them on both, and skip the slower detector.
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if min(even, odd) * 10 > max(even, odd):
        return None
    best = from_bytes(sample[: len(sample) // 2 * 2]).best()
    expected = "utf_16_le" if odd > even else "utf_16_be"
    if best is None or best.encoding != expected:
        return None
    return expected.replace("_", "-")


def _decode_8bit(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        best = from_bytes(data[:1_000_000]).best()
        if best is None:
            raise UnsupportedDocument(
                source, "binary content: not text in any known encoding"
            ) from None
        return data.decode(best.encoding, errors="replace")


def check_archive(data: bytes, source: str) -> None:
    """Refuse a ZIP archive that is unsafe to open, reading only its central directory.

    Raises UnsafeDocument for a ZIP bomb (too large expanded in all, an absurdly compressed
    member, too many members) or member names that climb out of the archive, and
    CorruptDocument when there is no readable archive (truncated, damaged, not a ZIP at all).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except _ZIP_ERRORS as exc:
        what = (
            "damaged or truncated ZIP archive"
            if data.startswith(_ZIP_MAGIC)
            else "not a ZIP archive"
        )
        raise CorruptDocument(
            source, f"{what} ({exc}): DOCX, PPTX and XLSX files are ZIP archives"
        ) from exc
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise UnsafeDocument(
            source,
            f"archive holds {len(members):,} files, over the limit of "
            f"{MAX_ARCHIVE_MEMBERS:,} (ZIP bomb?)",
        )
    expanded = 0
    for member in members:
        if _escapes(member.filename):
            raise UnsafeDocument(
                source,
                f"archive member name {member.filename!r} escapes the archive (path traversal)",
            )
        expanded += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > MIN_RATIO_CHECKED and ratio > MAX_MEMBER_RATIO:
            raise UnsafeDocument(
                source,
                f"archive member {member.filename!r} expands {ratio:,.0f}:1 to "
                f"{_size(member.file_size)} (ZIP bomb?)",
            )
    if expanded > MAX_ARCHIVE_EXPANDED:
        raise UnsafeDocument(
            source,
            f"archive expands to {_size(expanded)}, over the limit of "
            f"{_size(MAX_ARCHIVE_EXPANDED)} (ZIP bomb?)",
        )


def _escapes(name: str) -> bool:
    # Checked both ways: a member name may use either separator, whatever the spec says.
    for path in (PurePosixPath(name), PureWindowsPath(name)):
        if path.is_absolute() or path.anchor or ".." in path.parts:
            return True
    return False


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
