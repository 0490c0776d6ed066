"""A PDF page's lines and their sizes: wrapped headings joined, the cover's title found, and
nothing guessed when the sizes are unknown."""

from __future__ import annotations

import pytest

from ingest.pdf_lines import cover_title, text_lines, usual_size

pytestmark = pytest.mark.unit

BODY = "Close the coolant valve before you open the housing and drain the pump."


def test_the_usual_size_is_the_one_most_characters_are_set_in() -> None:
    assert usual_size([("1 Introduction", 14.0), (BODY, 10.0), (BODY, 10.0)]) == 10.0
    assert usual_size([("HX-400 保守マニュアル", 24.0), ("第3版", 11.0)]) == 24.0
    assert usual_size([]) == 0.0


def test_a_wrapped_heading_is_joined_only_where_sizes_say_so() -> None:
    page = [("7.18 Why does the output depend on the", 14.3), ("order of factors?", 14.3)]
    page += [(BODY, 10.9), (BODY, 10.9), (BODY, 10.9)]
    assert text_lines(page)[0] == "7.18 Why does the output depend on the order of factors?"
    # body-sized heading: the next line is its body
    plain = [("2.1 設定", 10.9), ("設定ファイルを開きます。", 10.9), (BODY, 10.9)]
    assert text_lines(plain) == [line for line, _ in plain]
    # sizes unknown (text with characters past U+FFFF): lines as they are
    unknown = [(line, 0.0) for line, _ in page]
    assert text_lines(unknown) == [line for line, _ in unknown]


def test_the_cover_title_is_the_first_page_with_texts_largest_lines() -> None:
    cover = [("R FAQ", 20.7), ("Frequently Asked Questions on R", 10.9), ("Kurt Hornik", 14.3)]
    body = [(BODY, 10.9)] * 20
    assert cover_title([[], cover, body]) == "R FAQ"  # a picture first: no lines
    # a heading at 1.2 times the text is no cover title
    assert cover_title([[("2.1.8 パッケージ管理", 12.0), *body]]) is None
    assert cover_title([[(line, 0.0) for line, _ in cover]]) is None  # sizes unknown
    assert cover_title([[], []]) is None
