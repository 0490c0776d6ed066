"""PDFs through PDFium: pages, headings, running headers, passwords, scans read by OCR."""

from __future__ import annotations

import io
import shutil

import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader, PdfWriter

from ingest.detect import DocType
from ingest.errors import CorruptDocument, EmptyDocument, PasswordProtected
from ingest.parse import ParseOptions, clean_text, parse_document
from ingest.pdf import PdfOptions, partition_pdf_fast
from ingest.sparse import terms
from tests.support.corpus import SAMPLES

pytestmark = pytest.mark.integration

EN = SAMPLES / "debian-reference-en-package-management.pdf"
JA = SAMPLES / "debian-reference-ja-package-management.pdf"
needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="tesseract is installed by scripts/install.sh"
)


def test_pages_headings_and_running_headers_english() -> None:
    parsed = parse_document(EN.read_bytes(), DocType.PDF, "en.pdf")
    pages = {b.page for b in parsed.blocks}
    assert pages == {1, 2, 3, 4, 5, 6}
    headings = [b.text for b in parsed.blocks if b.category == "Title"]
    assert "2.2 Basic package management operations" in headings
    assert "2.2.1 apt vs. apt-get / apt-cache vs. aptitude" in headings
    nested = next(b for b in parsed.blocks if "most suitable for the major system" in b.text)
    assert nested.section == (
        "2.2 Basic package management operations",
        "2.2.1 apt vs. apt-get / apt-cache vs. aptitude",
    )
    assert nested.page == 2
    # "Debian Reference 47 / 233" tops every page: a running header, not content
    assert not any(b.text.startswith("Debian Reference") for b in parsed.blocks)


def test_japanese_pdf_lines_are_joined_without_spaces() -> None:
    parsed = parse_document(JA.read_bytes(), DocType.PDF, "ja.pdf")
    text = "\n".join(b.text for b in parsed.blocks)
    # the PDF wraps this sentence after "バージョンのず"; the wrap must not leave a gap
    assert "パッケージ間のバージョンのずれにより発生するようです。" in text
    assert "2.2 基本的パッケージ管理操作" in [
        b.text for b in parsed.blocks if b.category == "Title"
    ]


def test_pdfium_reads_what_pdfminer_reads() -> None:
    fast = parse_document(EN.read_bytes(), DocType.PDF, "en.pdf")
    slow = parse_document(EN.read_bytes(), DocType.PDF, "en.pdf", ParseOptions("unstructured"))
    words = lambda parsed: {w for b in parsed.blocks for w in b.text.split()}  # noqa: E731
    fast_words, slow_words = words(fast), words(slow)
    assert len(fast_words & slow_words) / len(slow_words) > 0.9


def test_password_and_corrupt_pdfs_are_named_errors() -> None:
    writer = PdfWriter(clone_from=PdfReader(EN))
    writer.encrypt(user_password="secret", owner_password="owner")
    locked = io.BytesIO()
    writer.write(locked)
    with pytest.raises(PasswordProtected, match="password protected"):
        partition_pdf_fast(locked.getvalue(), "locked.pdf", PdfOptions())
    with pytest.raises(CorruptDocument, match="not a readable PDF"):
        partition_pdf_fast(EN.read_bytes()[:3000], "cut.pdf", PdfOptions())


def scanned(path, pages: list[int]) -> bytes:
    """An image-only PDF: the pages rendered to pictures, as a scanner would make them."""
    document = pdfium.PdfDocument(path)
    images = [document[i].render(scale=200 / 72).to_pil().convert("RGB") for i in pages]
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=200)
    return out.getvalue()


@needs_tesseract
def test_scanned_english_page_is_read_by_ocr() -> None:
    elements = partition_pdf_fast(scanned(EN, [1]), "scan-en.pdf", PdfOptions())
    text = " ".join(e.text for e in elements)
    assert "apt-get" in text
    assert "most suitable" in text
    assert {e.metadata.page_number for e in elements} == {1}


@needs_tesseract
def test_scanned_japanese_page_is_read_by_ocr() -> None:
    parsed = parse_document(scanned(JA, [1]), DocType.PDF, "scan-ja.pdf")
    text = "".join(b.text for b in parsed.blocks)
    # unstructured's own OCR path drops Japanese; tesseract with jpn reads it
    for phrase in ("パッケージ", "コマンド", "インストール"):
        assert phrase in text, phrase


def test_scan_without_ocr_is_reported_empty() -> None:
    with pytest.raises(EmptyDocument, match="no text"):
        parse_document(scanned(EN, [0]), DocType.PDF, "scan.pdf", ParseOptions(ocr=False))


def test_blank_page_without_ocr_available_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.pdf

    writer = PdfWriter(clone_from=PdfReader(EN))
    writer.add_blank_page()
    out = io.BytesIO()
    writer.write(out)
    monkeypatch.setattr(ingest.pdf.shutil, "which", lambda name: None)
    elements = partition_pdf_fast(out.getvalue(), "with-blank.pdf", PdfOptions())
    assert {e.metadata.page_number for e in elements} == {1, 2, 3, 4, 5, 6}
    with pytest.raises(EmptyDocument, match="OCR is unavailable"):
        partition_pdf_fast(scanned(EN, [0]), "scan.pdf", PdfOptions())


def hyphenated_pdf() -> bytes:
    """Justified text as TeX and word processors set it: words broken across lines with a
    hyphen, in English, and a Japanese line that ends in a long-vowel mark and a dash."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiKakuGo-W5"))
    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.setFont("Helvetica", 11)
    page.drawString(72, 760, "The parts of R are described in the R for Win-")
    page.drawString(72, 746, "dows FAQ, which also covers the installation of pack-")
    page.drawString(72, 732, "ages from the repository.")
    page.setFont("HeiseiKakuGo-W5", 11)
    page.drawString(72, 700, "冷却水ポンプはサー")
    page.drawString(72, 686, "バーの背面にある。")
    page.save()
    return out.getvalue()


def test_words_hyphenated_at_a_line_end_are_read_whole() -> None:
    # PDFium joins a word broken by a line-end hyphen and leaves U+FFFE (a noncharacter) for
    # the hyphen: "Win\ufffedows", a word neither keyword search nor the embedder knows.
    parsed = parse_document(hyphenated_pdf(), DocType.PDF, "hyphenated.pdf")
    text = " ".join(b.text for b in parsed.blocks)
    assert "\ufffe" not in text
    assert "R for Windows FAQ" in text
    assert "installation of packages from the repository" in text
    assert "冷却水ポンプはサーバーの背面にある。" in text
    words = set(terms(text))
    assert {"windows", "packages", "サーバー"} <= words


def covered_pdf(title: list[str], font: str) -> bytes:
    """A cover page with a large title over smaller lines, then a numbered first section."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiKakuGo-W5"))
    out = io.BytesIO()
    page = canvas.Canvas(out)
    for n, line in enumerate(title):
        page.setFont(font, 24)
        page.drawString(72, 700 - 30 * n, line)
    page.setFont(font, 11)
    page.drawString(72, 600, "Revision 3, 2026-04-01")
    page.showPage()
    page.setFont(font, 14)
    page.drawString(72, 760, "1 Introduction" if font == "Helvetica" else "1 はじめに")
    page.setFont(font, 11)
    page.drawString(72, 740, "Close the coolant valve before you open the housing.")
    page.showPage()
    page.save()
    return out.getvalue()


@pytest.mark.parametrize(
    ("lines", "font", "title"),
    [
        (
            ["HX-400 Machining Centre", "Maintenance Manual"],
            "Helvetica",
            "HX-400 Machining Centre Maintenance Manual",
        ),
        (
            ["HX-400 マシニングセンタ", "保守マニュアル"],
            "HeiseiKakuGo-W5",
            "HX-400 マシニングセンタ保守マニュアル",
        ),
    ],
)
def test_a_pdf_is_titled_by_its_cover_not_its_first_heading(
    lines: list[str], font: str, title: str
) -> None:
    parsed = parse_document(covered_pdf(lines, font), DocType.PDF, "manual.pdf")
    assert parsed.title == title
    assert parsed.blocks[-1].section[0] in {"1 Introduction", "1 はじめに"}


def test_a_pdf_without_a_cover_is_titled_by_its_first_heading() -> None:
    # The sample starts mid-manual: its largest text is a heading at 1.2 times the body.
    parsed = parse_document(EN.read_bytes(), DocType.PDF, "en.pdf")
    assert parsed.title == "2.1.8 First response to package management troubles"


def wrapped_heading_pdf(font: str, heading: list[str], body: str, plain: list[str]) -> bytes:
    """A numbered heading set large and wrapped onto a second line, its body, then a heading
    set in the body's own size followed by a body line."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiKakuGo-W5"))
    out = io.BytesIO()
    page = canvas.Canvas(out)
    y = 760
    for line, size in [*((h, 14) for h in heading), (body, 11), *((p, 11) for p in plain)]:
        page.setFont(font, size)
        page.drawString(72, y, line)
        y -= size + 6
    page.save()
    return out.getvalue()


@pytest.mark.parametrize(
    ("font", "heading", "body", "plain"),
    [
        (
            "Helvetica",
            ["7.18 Why does the output from anova() depend on the", "order of factors?"],
            "In a model such as A+B, R reports the sums of squares in order.",
            ["7.19 Graphics", "output in batch mode needs a device."],
        ),
        (
            "HeiseiKakuGo-W5",
            ["9.6 他ディレクトリーをマウントすることで使用可能な", "ストレージ空間を拡張"],
            "overlay ファイルシステムを使うと容量を広げられます。",
            ["9.7 バックアップ", "定期的にデータを保存します。"],
        ),
    ],
)
def test_a_heading_wrapped_onto_a_second_line_is_one_heading(
    font: str, heading: list[str], body: str, plain: list[str]
) -> None:
    parsed = parse_document(wrapped_heading_pdf(font, heading, body, plain), DocType.PDF, "x.pdf")
    whole = clean_text(" ".join(heading))
    assert [b.text for b in parsed.blocks if b.category == "Title"] == [whole, plain[0]]
    text = next(b for b in parsed.blocks if b.text == body)
    assert text.section == (whole,)
    # set in the body's size, the line after "7.19 Graphics" is body text, not more heading
    assert parsed.blocks[-1].text == plain[1]
    assert parsed.blocks[-1].section == (plain[0],)
