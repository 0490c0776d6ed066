"""A book's outline read from its PDF text layer: chapters whose title is set on the line after
"Chapter N", numbered lists, quantities and program output inside sections, and front matter
(roman-numbered running headers, lists of tables). Every chunk carries its heading path into
the embedding and the citation: one wrong top level there mislabels a whole chapter."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest

from ingest.detect import DocType
from ingest.parse import Block, ParsedDocument, parse_document

pytestmark = pytest.mark.integration

REFERENCE = Path("/usr/share/debian-reference/debian-reference.{}.pdf")


def book() -> bytes:
    """Pages i-iii: contents (leaders) under a running header with a roman folio; pages 1-3
    (the header with the page number): chapter 1 ("第1章" on one line, its title on the next),
    its sections, a numbered list of steps between 1.1 and 1.2, a sentence opening with a
    quantity, and ping's output; chapter 2 ("Chapter 2", then "Fault codes")."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiKakuGo-W5"))
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    _, height = A4

    def lines(header: str, *texts: tuple[str, int]) -> None:
        page.setFont("HeiseiKakuGo-W5", 9)
        page.drawString(60, height - 40, header)
        y = height - 90
        for text, size in texts:
            page.setFont("HeiseiKakuGo-W5", size)
            page.drawString(60, y, text)
            y -= size + 10
        page.showPage()

    entries = ["第1章設置と準備", "1.1 開梱", "1.2 電源の接続", "1.3 通信の確認"]
    entries += ["Chapter 2 Fault codes", "2.1 Overheating"]
    for folio in ("i", "ii", "iii"):
        lines(f"取扱説明書 {folio}", *((f"{e} " + ". " * 25 + "1", 11) for e in entries[:2]))
        entries = entries[2:]
    lines(
        "取扱説明書 1",
        ("第1章", 18),
        ("設置と準備", 16),
        ("1.1 開梱", 13),
        ("梱包を開け、付属品を確認してください。", 11),
        ("1. 梱包を開ける", 11),
        ("2. 付属品を取り出す", 11),
        ("3. 保護材を外す", 11),
        ("2 つのボルトで本体を床に固定します。", 11),
        ("1.2 電源の接続", 13),
        ("電源は 200 V 三相を使用します。", 11),
    )
    lines(
        "取扱説明書 2",
        ("1.3 通信の確認", 13),
        ("ping で応答を確かめます。", 11),
        ("1 packets transmitted, 1 received, 0% packet loss", 11),
        ("接続が確認できたら次章へ進みます。", 11),
    )
    lines(
        "取扱説明書 3",
        ("Chapter 2", 18),
        ("Fault codes", 16),
        ("2.1 Overheating", 13),
        ("E-417 means the spindle overheated. Let it cool for 30 minutes.", 11),
    )
    page.save()
    return out.getvalue()


@pytest.fixture(scope="module")
def parsed() -> ParsedDocument:
    return parse_document(book(), DocType.PDF, "manual.pdf")


def block(parsed: ParsedDocument, needle: str) -> Block:
    return next(b for b in parsed.blocks if needle in b.text)


def test_a_chapter_title_on_the_line_after_its_number_is_part_of_the_heading(parsed) -> None:
    assert block(parsed, "付属品を確認").section == ("第1章設置と準備", "1.1 開梱")
    assert block(parsed, "E-417").section == ("Chapter 2 Fault codes", "2.1 Overheating")


def test_steps_quantities_and_output_inside_a_section_are_not_headings(parsed) -> None:
    headings = [b.text for b in parsed.blocks if b.category == "Title"]
    assert "1. 梱包を開ける" not in headings
    assert not [h for h in headings if h.startswith(("2 つ", "1 packets"))]
    assert block(parsed, "保護材を外す").section == ("第1章設置と準備", "1.1 開梱")
    assert block(parsed, "200 V").section == ("第1章設置と準備", "1.2 電源の接続")
    assert block(parsed, "次章へ進みます").section == ("第1章設置と準備", "1.3 通信の確認")


def test_front_matter_is_not_content(parsed) -> None:
    text = "\n".join(b.text for b in parsed.blocks)
    assert "取扱説明書" not in text  # running headers, roman and arabic
    assert ". . . ." not in text  # the contents pages


@pytest.fixture(scope="module", params=["en", "ja"])
def reference(request: pytest.FixtureRequest) -> ParsedDocument:
    path = Path(str(REFERENCE).format(request.param))
    if not path.exists():
        pytest.skip(f"{path} is installed by scripts/install.sh --dev")
    return parse_document(path.read_bytes(), DocType.PDF, path.name)


def test_every_passage_of_a_real_manual_sits_under_its_chapter(reference) -> None:
    """Debian Reference as shipped, English and Japanese: after the front matter every block's
    heading path opens with its chapter, named in full."""
    body = [b for b in reference.blocks if b.page and b.page > 30]
    tops = Counter(b.section[0] for b in body if b.section)
    assert len(tops) >= 12
    assert all(top.startswith(("Chapter ", "Appendix ")) for top in tops), tops.most_common(5)
    assert all(len(top.split()) > 2 for top in tops), tops  # "Chapter 2 Debian …"


def test_a_real_manuals_front_matter_is_not_content(reference) -> None:
    text = "\n".join(b.text for b in reference.blocks)
    assert ". . . . ." not in text  # contents and list of tables
    assert not [b for b in reference.blocks if b.text.startswith("Debian リファレンス x")]
