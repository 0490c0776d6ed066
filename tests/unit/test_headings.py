"""Numbered headings in text without heading markup: what is a section, what is not."""

from __future__ import annotations

import pytest

from ingest.headings import heading_depth, list_numbers


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("2 Fault codes", 0),
        ("1 はじめに", 0),
        ("1.2 据え付け", 1),
        ("2.2.1 apt vs. apt-get / apt-cache vs. aptitude", 2),
        ("第3条（定義）", 0),
        # a number and a noun: headings, not quantities
        ("3 日常点検", 0),
        ("3 個人情報の取り扱い", 0),
        ("4 分解と組立", 0),
        ("3 年次報告の提出", 0),
    ],
)
def test_numbered_titles_are_headings(text: str, depth: int) -> None:
    assert heading_depth(text) == depth


@pytest.mark.parametrize(
    "text",
    [
        # a number that counts (a particle or a verb follows the counter)
        "2 つのディレクトリーパネルがありそれぞれファイルリストを含む",
        "6 年経った時点で、青木はオリジナルが時代遅れとなっている事に気づき",
        "1 行のシェルスクリプトは find(1) や xargs(1) を使って",
        "3 回以上失敗した場合は",
        # a program's output: a lowercase word after a bare number
        "255 heads, 63 sectors/track, 652 cylinders",
        "1 packets transmitted, 1 received, 0% packet loss, time 0ms",
        # a sentence ends inside the line and the next goes on
        "2 ポンプを止めます。次にバルブを閉じ",
    ],
)
def test_quantities_output_and_sentences_are_not_headings(text: str) -> None:
    assert heading_depth(text) is None


def test_a_one_level_number_inside_a_chapters_sections_is_a_list_item() -> None:
    numbers = ["1", "1.1", "1.2", "2", "2.1", "1", "2", "3", "4", "2.2", "3", "3.1"]
    # the 1-4 between 2.1 and 2.2 are the steps of a list; chapters 1, 2 and 3 stay
    assert list_numbers(numbers) == {5, 6, 7, 8}


def test_chapters_without_sections_of_their_own_stay() -> None:
    # a contract: clause 3 has no subclauses, between 2.1 and 4.1
    assert list_numbers(["1", "1.1", "2", "2.1", "3", None, "4", "4.1"]) == set()


def test_without_multi_level_sections_every_numbered_line_stays() -> None:
    assert list_numbers(["1", None, "2", "1", "2", "3"]) == set()
