"""The text module: each CJK range holds what its name says, each purpose's composition keeps
what the modules that use it relied on, and the language and sentence rules (Japanese, mixed)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from ingest import chunk, text
from ingest.text import DOCUMENT_SAMPLE, detect_language, document_language, split_sentences

pytestmark = pytest.mark.unit


def _class(fragment: str) -> re.Pattern[str]:
    return re.compile(f"[{fragment}]")


@pytest.mark.parametrize(
    ("fragment", "inside", "outside"),
    [
        (text.KANA, "ひらがなカタカナー・ヴ", "漢字、ｶ々Ａ"),
        (text.IDEOGRAPHS, "漢字契約㐀", "かなカナ々〆ｶ、䷀"),
        (text.CJK_PUNCTUATION, "、。「」『』〜々〆〇\u3000", "かなカ漢，"),
        (text.ITERATION_MARKS, "々〆", "ゝヽ〇、"),
        (text.COMPATIBILITY_IDEOGRAPHS, "\uf900\ufa0e", "漢か"),
        (text.FULL_WIDTH_FORMS, "ＡＢＣ１２３（）！？ｶﾀｶﾅ", "ABC123()かな漢"),
        (text.HALF_WIDTH_KATAKANA, "ｦｱｶﾀﾅﾝﾞﾟ", "ＡＢＣ（カタカナ"),
        (text.YIJING_HEXAGRAMS, "䷀䷿", "漢㐀"),
    ],
)
def test_each_range_holds_what_it_names(fragment: str, inside: str, outside: str) -> None:
    pattern = _class(fragment)
    assert all(pattern.fullmatch(ch) for ch in inside), inside
    assert not any(pattern.fullmatch(ch) for ch in outside), outside


def test_compositions_keep_what_each_purpose_matched() -> None:
    def chars(fragment: str) -> set[int]:
        pattern = _class(fragment)
        return {c for c in range(0x3000, 0x10000) if pattern.fullmatch(chr(c))}

    # The sets each module wrote out by hand before they were named (issue 15).
    assert chars(text.JAPANESE_LETTERS) == chars("\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff")
    assert chars(text.NO_SPACE) == chars("\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef")
    assert chars(text.WRAPPED) == chars(
        "\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
    )
    assert chars(text.TOKENIZED) == chars(
        "\u3005\u3006\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
    )
    assert chars(text.IDEOGRAPH_SPAN) == chars("\u3400-\u9fff")


def test_tokenized_runs_split_japanese_from_latin_and_punctuation() -> None:
    runs = re.findall(f"[{text.TOKENIZED}]+", "佐々木〆切はHX-400の点検、ｶﾀｶﾅも。")
    assert runs == ["佐々木〆切は", "の点検", "ｶﾀｶﾅも"]


def test_no_space_marks_where_japanese_lines_join() -> None:
    joined = re.sub(
        f"(?<=[{text.NO_SPACE}]) (?=[{text.NO_SPACE}])", "", "本契約 は、 HX-400 の 点検"
    )
    assert joined == "本契約は、 HX-400 の点検"


@pytest.mark.parametrize(
    ("sample", "language"),
    [
        ("本契約は、保守業務に関する基本的事項を定める。", "ja"),
        ("HX-400 のポンプは 1200 rpm で回転する。", "ja"),  # mixed, kana present
        ("The coolant pump restarts automatically.", "en"),
        ("保守契約書第一条目的甲乙双方合意事項" * 3, "zh"),  # ideographs only, long: not ja
        ("第一条", "und"),  # short kanji-only text stays undecided
        ("12345 --", "und"),
        ("Ünïcödé façade naïve", "und"),  # over a tenth of the letters outside ASCII
    ],
)
def test_detect_language(sample: str, language: str) -> None:
    assert detect_language(sample) == language


def test_split_sentences_japanese_english_and_mixed() -> None:
    assert split_sentences("甲は報告する。乙は「承知した。」と答えた！本当か？") == [
        "甲は報告する。",
        "乙は「承知した。」",  # a closing bracket after 。 ends the sentence with it
        "と答えた！",
        "本当か？",
    ]
    assert split_sentences("HX-400 を点検する。Then restart it. 完了\n次の行") == [
        "HX-400 を点検する。",
        "Then restart it.",
        "完了",
        "次の行",
    ]
    assert split_sentences("  \n\n") == []


def test_chunk_re_exports_the_text_functions() -> None:
    assert chunk.detect_language is detect_language
    assert chunk.split_sentences is split_sentences


def test_a_documents_language_is_read_from_its_whole_text_up_to_a_sample() -> None:
    # a Japanese manual quoting English commands is Japanese; its listing alone is English
    manual = ["設定ファイルを編集してから、サービスを再起動します。", "systemctl restart ssh"]
    assert document_language(manual) == "ja"
    assert document_language(manual[1:]) == "en"
    assert document_language([]) == "und"

    def endless() -> Iterator[str]:
        yield "An English manual. " * (DOCUMENT_SAMPLE // 19 + 1)
        while True:  # never read: the sample is full
            yield "日本語の文章です。"

    assert document_language(endless()) == "en"
