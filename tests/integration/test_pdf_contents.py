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

LONG_HEADING = "4.1 What to do when the spindle stops and the display shows no fault code at all"

# (heading, running title, sections) of each chapter, a page per section after the contents
# pages (numbered i, ii); the running title names the chapter and ends in the page number.
# Chapters 3 and 4 have one page each: their titles are on fewer than three pages.
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
    ("3 保守", "第3章 保守", [("3.1 清掃", "毎週、切りくずを取り除いてください。")]),
    (
        "4 Troubleshooting",
        "Chapter 4: Troubleshooting",
        [(LONG_HEADING, "Check the main breaker first, then the 24 V supply fuse F2.")],
    ),
]
PARTS = [
    ("Filter cartridge HX-7731", "12"),
    ("Spindle belt HX-2210", "48"),
    ("Coolant pump HX-5100", "310"),
]
# The parts list's page is numbered 9 and so is its heading: a heading, not a running title.
PARTS_HEADING = "9 Spare parts"


def _wrapped(text: str, words: int) -> list[str]:
    """``text`` on two lines, the first of ``words`` words."""
    split = text.split()
    return [" ".join(split[:words]), " ".join(split[words:])]


def manual() -> bytes:
    """Pages i-ii: contents (entries with dot leaders and page numbers; the long entry wrapped
    later than its heading is); pages 1-8: one section each, under a running title with the
    page number; page 9: a parts list with leaders."""
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

    number = 1
    for folio, chapters in (("i", CHAPTERS[:2]), ("ii", CHAPTERS[2:])):
        line(height - 80, "目次 Contents", 16)
        y = height - 120
        for chapter, _, sections in chapters:
            line(y, f"{chapter} " + ". " * 30 + str(number))
            y -= 20
            for heading, _ in sections:
                first, rest = _wrapped(heading, 11) if heading == LONG_HEADING else ("", heading)
                if first:
                    line(y, first)
                    y -= 20
                line(y, f"{rest} " + ". " * 28 + str(number))
                y, number = y - 20, number + 1
        line(40, folio, 9)
        page.showPage()
    number = 1
    for chapter, running, sections in CHAPTERS:
        for n, (heading, body) in enumerate(sections):
            line(height - 40, f"{running} {number}", 9)
            y = height - 100
            if n == 0:
                line(y, chapter, 16)
                y -= 30
            for part in _wrapped(heading, 8) if heading == LONG_HEADING else [heading]:
                line(y, part, 13)
                y -= 18
            line(y - 7, body)
            page.showPage()
            number += 1
    line(height - 40, PARTS_HEADING, 16)
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


def test_a_chapter_of_one_page_loses_its_running_title_too(parsed) -> None:
    """Its title is on one page only: the longer chapters' titles ending in their page's
    number show how pages are numbered, and so find it."""
    text = "\n".join(b.text for b in parsed.blocks)
    assert "第3章 保守" not in text
    assert "Chapter 4: Troubleshooting" not in text
    cleaning = next(b for b in parsed.blocks if "切りくず" in b.text)
    assert cleaning.section == ("3 保守", "3.1 清掃")
    breaker = next(b for b in parsed.blocks if "breaker" in b.text)
    assert breaker.section[0] == "4 Troubleshooting"
    assert breaker.section[1].startswith("4.1 What to do when the spindle stops")


def test_front_matter_page_numbers_are_not_content(parsed) -> None:
    assert not [b for b in parsed.blocks if b.text.strip() in ("i", "ii")]


def test_an_entry_wrapped_later_than_its_heading_is_contents_too(parsed) -> None:
    on_contents = [b.text for b in parsed.blocks if b.page in (1, 2)]
    assert not [t for t in on_contents if "spindle stops" in t]
    headings = [b.text for b in parsed.blocks if b.category == "Title"]
    assert sum("4.1 What to do" in h for h in headings) == 1


def test_a_heading_that_opens_with_its_page_number_stays(parsed) -> None:
    assert PARTS_HEADING in [b.text for b in parsed.blocks if b.category == "Title"]


def test_a_parts_list_with_dot_leaders_stays(parsed) -> None:
    chunks = chunk_blocks(
        parsed.blocks, chunk_size=256, overlap=0, count_tokens=len, max_tokens=512
    )
    parts = "\n".join(c.text for c in chunks if c.section == (PARTS_HEADING,))
    for part, price in PARTS:
        assert part in parts
        assert f"{price} EUR" in parts
