"""A PDF manual's own table of contents and running chapter titles are not content: they
would be passages that match every question about a heading and say nothing, and they would
give the text after them wrong heading paths. A list with dot leaders that is not a table of
contents (a parts list) stays."""

from __future__ import annotations

import io

import pytest

from ingest.chunk import chunk_blocks
from ingest.detect import DocType
from ingest.parse import parse_document

pytestmark = pytest.mark.integration

# (heading, body) of each page after the contents page; the running title names the chapter.
CHAPTERS = [
    (
        "1 設置",
        "第1章 設置",
        [
            ("1.1 開梱", "梱包を開け、付属品がすべてそろっていることを確認してください。"),
            ("1.2 据え付け", "本機は水平な床に設置し、周囲に 50 cm 以上の空間を確保してください。"),
            ("1.3 電源の接続", "電源は 200 V 三相を使用します。接地を必ず行ってください。"),
        ],
    ),
    (
        "2 Fault codes",
        "Chapter 2: Fault codes",
        [
            ("2.1 Overheating", "E-417 means the spindle overheated. Let it cool for 30 minutes."),
            (
                "2.2 Coolant",
                "E-502 means the coolant level is low. Refill the tank to the MAX mark.",
            ),
            ("2.3 Door interlock", "E-610 means the door opened while the spindle turned."),
        ],
    ),
]
PARTS = [
    ("Filter cartridge HX-7731", "12"),
    ("Spindle belt HX-2210", "48"),
    ("Coolant pump HX-5100", "310"),
]


def manual() -> bytes:
    """Page 1: contents (entries with dot leaders and page numbers); pages 2-7: one section
    each, under a running title with the page number; page 8: a parts list with leaders."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiKakuGo-W5"))
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    _, height = A4

    def line(y: float, text: str, size: int = 11) -> None:
        page.setFont("HeiseiKakuGo-W5", size)
        page.drawString(60, y, text)

    line(height - 80, "目次 Contents", 16)
    y, number = height - 120, 2
    for chapter, _, sections in CHAPTERS:
        line(y, f"{chapter} " + ". " * 30 + str(number))
        y -= 20
        for heading, _ in sections:
            line(y, f"{heading} " + ". " * 28 + str(number))
            y, number = y - 20, number + 1
    page.showPage()
    number = 2
    for chapter, running, sections in CHAPTERS:
        for n, (heading, body) in enumerate(sections):
            line(height - 40, f"{running} {number}", 9)
            y = height - 100
            if n == 0:
                line(y, chapter, 16)
                y -= 30
            line(y, heading, 13)
            line(y - 25, body)
            page.showPage()
            number += 1
    line(height - 80, "3 Spare parts", 16)
    for n, (part, price) in enumerate(PARTS):
        line(height - 120 - 20 * n, f"{part} " + ". " * 20 + f"{price} EUR")
    page.showPage()
    page.save()
    return out.getvalue()


@pytest.fixture(scope="module")
def parsed():
    return parse_document(manual(), DocType.PDF, "hx400.pdf")


def test_the_contents_page_is_not_content(parsed) -> None:
    assert not [b for b in parsed.blocks if b.page == 1 and ". . . ." in b.text]
    headings = [b.text for b in parsed.blocks if b.category == "Title"]
    assert all(". . ." not in h for h in headings)
    assert headings.count("2.1 Overheating") == 1
    assert headings.count("1.2 据え付け") == 1


def test_running_chapter_titles_are_not_headings(parsed) -> None:
    text = "\n".join(b.text for b in parsed.blocks)
    assert "第1章 設置" not in text
    assert "Chapter 2: Fault codes" not in text
    overheating = next(b for b in parsed.blocks if "E-417" in b.text)
    assert overheating.section == ("2 Fault codes", "2.1 Overheating")
    power = next(b for b in parsed.blocks if "200 V" in b.text)
    assert power.section == ("1 設置", "1.3 電源の接続")


def test_a_parts_list_with_dot_leaders_stays(parsed) -> None:
    chunks = chunk_blocks(
        parsed.blocks, chunk_size=256, overlap=0, count_tokens=len, max_tokens=512
    )
    parts = "\n".join(c.text for c in chunks if c.section == ("3 Spare parts",))
    for part, price in PARTS:
        assert part in parts
        assert f"{price} EUR" in parts
