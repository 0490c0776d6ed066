"""Chunking: sections kept apart, sentences whole, budgets respected (Japanese and English)."""

from __future__ import annotations

import itertools

import pytest

from ingest.chunk import chunk_blocks
from ingest.headings import heading_depth
from ingest.parse import Block, clean_text
from ingest.text import detect_language, split_sentences

pytestmark = pytest.mark.unit


def count_chars(text: str) -> int:
    return len(text)


def test_japanese_sentences_split_at_sentence_ends() -> None:
    text = "本契約は有効である。乙は報告する！本当か？「はい。」と答えた。"
    assert split_sentences(text) == [
        "本契約は有効である。",
        "乙は報告する！",
        "本当か？",
        "「はい。」",
        "と答えた。",
    ]


def test_english_sentences_and_lines() -> None:
    assert split_sentences("First one. Second one?\nThird line") == [
        "First one.",
        "Second one?",
        "Third line",
    ]


def test_long_japanese_paragraph_chunks_end_at_sentence_ends() -> None:
    sentence = "乙は定期点検を毎月実施し、その結果を書面により甲に報告するものとする。"
    blocks = [
        Block("第1条(目的)", "Title", None, ("第1条(目的)",)),
        Block(sentence * 12, "NarrativeText", None, ("第1条(目的)",)),
    ]
    chunks = chunk_blocks(
        blocks, chunk_size=100, overlap=0, count_tokens=count_chars, max_tokens=256
    )
    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk.text.endswith("。"), chunk.text
        assert count_chars(chunk.text) <= 100
        assert "。 " not in chunk.text  # Japanese sentences are joined without spaces
        assert chunk.section == ("第1条(目的)",)
        assert chunk.language == "ja"


def test_chunks_never_cross_sections_and_keep_pages() -> None:
    blocks = [
        Block("1 Intro", "Title", 1, ("1 Intro",)),
        Block("Alpha text here.", "NarrativeText", 1, ("1 Intro",)),
        Block("More alpha.", "NarrativeText", 2, ("1 Intro",)),
        Block("2 Setup", "Title", 3, ("2 Setup",)),
        Block("Beta text.", "NarrativeText", 3, ("2 Setup",)),
    ]
    chunks = chunk_blocks(
        blocks, chunk_size=200, overlap=20, count_tokens=count_chars, max_tokens=256
    )
    assert [c.section for c in chunks] == [("1 Intro",), ("2 Setup",)]
    assert (chunks[0].page_start, chunks[0].page_end) == (1, 2)
    assert (chunks[1].page_start, chunks[1].page_end) == (3, 3)
    assert "Beta" not in chunks[0].text


def test_model_limit_caps_chunk_size_and_oversize_sentences_are_split() -> None:
    words = " ".join(f"word{i}" for i in range(400))  # one "sentence" far over the limit
    chunks = chunk_blocks(
        [Block(words, "NarrativeText")],
        chunk_size=1000,
        overlap=0,
        count_tokens=count_chars,
        max_tokens=300,
    )
    assert len(chunks) > 1
    assert all(count_chars(c.text) <= 300 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == words.split()  # nothing lost


def test_overlap_repeats_whole_sentences() -> None:
    sentences = [f"Sentence number {i} is here." for i in range(20)]
    chunks = chunk_blocks(
        [Block(" ".join(sentences), "NarrativeText")],
        chunk_size=120,
        overlap=40,
        count_tokens=count_chars,
        max_tokens=256,
    )
    assert len(chunks) > 2
    for before, after in itertools.pairwise(chunks):
        first = split_sentences(after.text)[0]
        assert first in split_sentences(before.text)  # the overlap is a whole earlier sentence


def test_detect_language() -> None:
    assert detect_language("本契約は、保守業務に関する基本的事項を定める。") == "ja"
    assert detect_language("The coolant pump restarts automatically.") == "en"
    assert detect_language("12345 --") == "und"


def test_heading_depth_numbered_headings() -> None:
    assert heading_depth("1.6.3 Replacement expressions") == 2
    assert heading_depth("第3条(定義)") == 0
    assert heading_depth("1. Definitions.") == 0
    assert (
        heading_depth("1. The Licensor grants to You a perpetual license, as set out below.")
        is None
    )
    assert heading_depth("本契約は有効である。") is None


def test_clean_text_joins_japanese_line_wraps_and_normalises_width() -> None:
    assert clean_text("主要なス タイル\nがあります") == "主要なスタイルがあります"
    assert clean_text("ＨＸ－４００  error") == "HX-400 error"


def test_clean_text_drops_hyphen_marks_inside_words() -> None:
    assert clean_text("R for Win\ufffedows") == "R for Windows"  # PDFium's line-end hyphen
    assert clean_text("Kühl\u00admittel\u00adpumpe") == "Kühlmittelpumpe"  # soft hyphens (&shy;)
    assert clean_text("HX-400 の冷却\u00adポンプ") == "HX-400 の冷却ポンプ"


def test_a_heading_followed_by_a_subsection_is_not_a_chunk_of_its_own() -> None:
    blocks = [
        Block("Manual", "Title", 1, ("Manual",)),
        Block("Fault codes", "Title", 1, ("Manual", "Fault codes")),
        Block("E-417 means overheating.", "NarrativeText", 1, ("Manual", "Fault codes")),
        Block("Appendix", "Title", 2, ("Appendix",)),
    ]
    chunks = chunk_blocks(
        blocks, chunk_size=200, overlap=0, count_tokens=count_chars, max_tokens=256
    )
    assert [c.section for c in chunks] == [("Manual", "Fault codes"), ("Appendix",)]
    assert chunks[0].text == "Fault codes\nE-417 means overheating."


def test_a_heading_right_before_a_table_is_not_a_chunk_of_its_own() -> None:
    section = ("保守マニュアル", "エラーコード一覧")
    blocks = [
        Block("エラーコード一覧", "Title", 3, section),
        Block(
            "コード 意味\nE-417 過熱",
            "Table",
            3,
            section,
            rows=(("コード", "意味"), ("E-417", "過熱")),
        ),
    ]
    chunks = chunk_blocks(
        blocks, chunk_size=200, overlap=0, count_tokens=count_chars, max_tokens=256
    )
    assert [c.text for c in chunks] == ["コード | 意味\nコード: E-417 | 意味: 過熱"]
    assert chunks[0].section == section
