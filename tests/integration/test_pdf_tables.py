"""Ruled tables in text PDFs: found, read cell by cell, joined across pages, kept out of prose."""

from __future__ import annotations

import io
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from ingest.detect import DocType
from ingest.parse import ParseOptions, _table_rows, parse_document
from ingest.pdf import PdfOptions, partition_pdf_fast
from ingest.pdf_rules import has_rules

pytestmark = pytest.mark.integration

DEBIAN_REFERENCE = Path("/usr/share/debian-reference/debian-reference.en.pdf")
needs_debian_reference = pytest.mark.skipif(
    not DEBIAN_REFERENCE.exists(), reason="debian-reference-en is installed by scripts/install.sh"
)

FAULTS = [(f"E-{n}", f"Fault condition {n}", f"Procedure {n}") for n in range(401, 491)]
FAULTS[16] = ("E-417", "Coolant pressure low", "Check the coolant pump and refill to MAX")
JA_FAULTS = [
    ("J-101", "主軸の過熱", "冷却ファンを点検する"),
    ("J-102", "潤滑油の不足", "潤滑油を補充する"),
    ("J-103", "扉が開いている", "扉を閉めて再起動する"),
]


def fault_manual() -> bytes:
    """An HX-400 manual: a fault table over pages 1-3 (header repeated), a Japanese table on
    page 4, and a page of prose only."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table, TableStyle

    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiKakuGo-W5"))
    styles = getSampleStyleSheet()
    ja = ParagraphStyle("ja", parent=styles["Normal"], fontName="HeiseiKakuGo-W5")
    grid = TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)])
    fault_table = Table([("Code", "Meaning", "Action"), *FAULTS], repeatRows=1, style=grid)
    ja_table = Table(
        [("エラーコード", "内容", "対処"), *JA_FAULTS],
        style=TableStyle([*grid.getCommands(), ("FONTNAME", (0, 0), (-1, -1), "HeiseiKakuGo-W5")]),
    )
    story = [
        Paragraph("1 Fault codes", styles["Heading1"]),
        Paragraph(
            "The HX-400 reports faults on its panel. Each code is listed below.", styles["Normal"]
        ),
        Paragraph("Table 3: HX-400 fault codes", styles["Normal"]),
        fault_table,
        Paragraph("Call service if a fault repeats after the action.", styles["Normal"]),
        PageBreak(),
        Paragraph("2 エラーコード", ja),
        Paragraph("表4 エラーコード一覧", ja),
        ja_table,
        PageBreak(),
        Paragraph("3 Daily care", styles["Heading1"]),
        Paragraph(
            "Wipe the spindle housing every day. Keep the coolant tank above the MIN mark. "
            "Never open the door while the spindle turns.",
            styles["Normal"],
        ),
    ]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4).build(story)
    return out.getvalue()


@pytest.fixture(scope="module")
def manual() -> bytes:
    return fault_manual()


def tables_of(elements: list) -> list[tuple[int, tuple[tuple[str, ...], ...], str]]:
    tables = [e for e in elements if e.category == "Table"]
    return [(t.metadata.page_number, *_table_rows(t.metadata.text_as_html)) for t in tables]


def test_table_over_two_pages_is_one_table_with_one_header(manual: bytes) -> None:
    assert len(pdfium.PdfDocument(manual)) == 5  # the fault table runs over pages 1-3
    elements = partition_pdf_fast(manual, "hx400.pdf", PdfOptions(ocr=False))
    (page, rows, caption), (ja_page, ja_rows, ja_caption) = tables_of(elements)
    assert page == 1
    assert caption == "Table 3: HX-400 fault codes"
    assert rows[0] == ("Code", "Meaning", "Action")
    assert rows[1:] == tuple(FAULTS)  # every row once, none lost at the page break
    assert ("E-417", "Coolant pressure low", "Check the coolant pump and refill to MAX") in rows
    assert ja_page == 4
    assert ja_rows == (("エラーコード", "内容", "対処"), *JA_FAULTS)
    assert ja_caption == "表4 エラーコード一覧"


def test_table_text_is_not_repeated_in_prose_and_reading_order_holds(manual: bytes) -> None:
    elements = partition_pdf_fast(manual, "hx400.pdf", PdfOptions(ocr=False))
    prose = [e.text for e in elements if e.category != "Table"]
    assert not any("Coolant pressure low" in t or "E-480" in t for t in prose)
    assert {e.metadata.page_number for e in elements} == {1, 3, 4, 5}  # page 2: table only
    assert not any("Table 3" in t or "潤滑油" in t for t in prose)
    texts = [e.text for e in elements]
    table = next(i for i, e in enumerate(elements) if e.category == "Table")
    assert texts.index("Call service if a fault repeats after the action.") == table + 1
    assert "each code is listed below" in texts[table - 1].lower()


def test_prose_page_has_no_table(manual: bytes) -> None:
    document = pdfium.PdfDocument(manual)
    assert not has_rules(document[4])  # the pre-check alone rules the page out
    elements = partition_pdf_fast(manual, "hx400.pdf", PdfOptions(ocr=False))
    last_page = [e for e in elements if e.metadata.page_number == 5]
    assert [e.category for e in last_page] == ["Title", "NarrativeText"]


def test_tables_can_be_turned_off(manual: bytes) -> None:
    elements = partition_pdf_fast(manual, "hx400.pdf", PdfOptions(ocr=False, tables=False))
    assert not tables_of(elements)
    assert any("Coolant pressure low" in e.text for e in elements)


def test_parse_document_gives_table_blocks_with_rows(manual: bytes) -> None:
    parsed = parse_document(manual, DocType.PDF, "hx400.pdf", ParseOptions(ocr=False))
    tables = [b for b in parsed.blocks if b.category == "Table"]
    assert [(t.page, t.rows[0], len(t.rows)) for t in tables] == [
        (1, ("Code", "Meaning", "Action"), 91),
        (4, ("エラーコード", "内容", "対処"), 4),
    ]
    assert tables[0].caption == "Table 3: HX-400 fault codes"
    assert tables[0].section == ("1 Fault codes",)


@pytest.fixture(scope="module")
def debian_reference() -> list:
    return partition_pdf_fast(DEBIAN_REFERENCE.read_bytes(), "ref.pdf", PdfOptions(ocr=False))


@needs_debian_reference
def test_real_manual_table_with_open_sides(debian_reference: list) -> None:
    # DocBook rules its tables between columns only; the sides are closed from the row rules.
    tables = {caption: (page, rows) for page, rows, caption in tables_of(debian_reference)}
    page, rows = tables["Table 1.1: List of interesting text-mode program packages"]
    assert page == 32
    assert rows[0] == ("package", "popcon", "size", "description")
    assert rows[1] == ("mc", "V:54, I:226", "1482", "A text-mode full-screen file manager")
    assert rows[-1][0] == "gpm"
    assert len(rows) == 8
    prose = " ".join(
        e.text for e in debian_reference if e.metadata.page_number == 32 and e.category != "Table"
    )
    assert "full-screen file manager" not in prose
    assert "Table 1.1" not in prose  # the caption went with the table
    assert "If you already had these packages installed" in prose


@needs_debian_reference
def test_real_tables_on_consecutive_pages_with_the_same_header_stay_apart(
    debian_reference: list,
) -> None:
    # Table 3.6 ends page 111 and Table 3.7 opens page 112, both headed Operation | Command
    # snippets: their captions tell them apart.
    tables = {caption: (page, rows) for page, rows, caption in tables_of(debian_reference)}
    page_36, rows_36 = tables["Table 3.6: List of typical systemctl command snippets"]
    page_37, rows_37 = tables["Table 3.7: List of other monitoring command snippets under systemd"]
    assert (page_36, page_37) == (111, 112)
    assert rows_36[0] == rows_37[0] == ("Operation", "Command snippets")
    assert len(rows_36) == 37
    assert len(rows_37) == 9


TIGHT_ROWS = [
    ("コマンド", "説明"),
    ("pwd", "現在のディレクトリーの名前を表示"),
    ("whoami", "現在のユーザー名を表示"),
    ("id", "ユーザーの識別子と所属グループを表示"),
]


def tight_table() -> bytes:
    """A table ruled as tightly as DocBook sets Debian Reference's: rows 11 pt high for 10 pt
    Japanese text, whose glyph boxes reach into the row above."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import SimpleDocTemplate, Table, TableStyle

    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiKakuGo-W5"))
    style = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
            ("FONTNAME", (0, 0), (-1, -1), "HeiseiKakuGo-W5"),
            ("FONTSIZE", (0, 0), (-1, -1), 10),
            ("TOPPADDING", (0, 0), (-1, -1), 0),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
        ]
    )
    table = Table(TIGHT_ROWS, rowHeights=[11] * len(TIGHT_ROWS), style=style)
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4).build([table])
    return out.getvalue()


def test_a_cell_holds_only_the_characters_inside_it() -> None:
    """Each character belongs to the cell its centre lies in: the next row's 在ザ名表 and "hi"
    of "whoami" stayed out of the cells above."""
    blocks = parse_document(tight_table(), DocType.PDF, "commands.pdf").blocks
    assert [b.rows for b in blocks if b.category == "Table"] == [tuple(TIGHT_ROWS)]


DEBIAN_REFERENCE_JA = Path("/usr/share/debian-reference/debian-reference.ja.pdf")


@pytest.mark.skipif(
    not DEBIAN_REFERENCE_JA.exists(), reason="debian-reference-ja: scripts/install.sh --dev"
)
def test_a_real_japanese_table_reads_cell_by_cell() -> None:
    document = parse_document(DEBIAN_REFERENCE_JA.read_bytes(), DocType.PDF, "ref-ja.pdf")
    commands = next(b for b in document.blocks if b.rows and b.rows[1][0] == "pwd")
    assert commands.rows[:3] == (
        ("コマンド", "説明"),
        ("pwd", "カレント / ワーキングディレクトリーの名前を表示"),
        ("whoami", "現在のユーザー名を表示"),
    )
