"""BM25 terms: Japanese by Sudachi, codes and clause numbers kept whole."""

from __future__ import annotations

import pytest

from ingest.sparse import encode_documents, encode_queries, term_index, terms

pytestmark = pytest.mark.unit


def test_japanese_is_split_into_words_without_particles() -> None:
    found = terms("工作機械の冷却水ポンプを点検する。")
    assert {"工作", "機械", "冷却", "ポンプ", "点検"} <= set(found)
    assert "の" not in found
    assert "を" not in found
    assert "。" not in found


def test_japanese_spelling_variants_are_normalised() -> None:
    assert "付属" in terms("附属書を確認する")  # 附属 and 付属 are the same word


def test_codes_part_numbers_and_clause_numbers_stay_whole() -> None:
    found = terms("Error E-417 on the HX-400, see Section 12.3 and 第12条第3項.")
    for whole in ("e-417", "hx-400", "12.3", "第12条", "第3項"):
        assert whole in found, whole
    assert "417" in found  # and their parts, for partial matches
    assert "the" not in found
    assert "on" not in found


def test_full_width_text_matches_half_width() -> None:
    assert terms("ＨＸ－４００") == terms("HX-400")


def test_document_and_query_vectors() -> None:
    (indices,), (values,) = encode_documents(["pump pump pump valve"])
    weights = dict(zip(indices, values, strict=True))
    assert weights[term_index("pump")] > weights[term_index("valve")] > 0  # tf saturates, grows
    assert indices == sorted(indices)
    (q_indices,), (q_values,) = encode_queries(["pump pump valve"])
    assert sorted(q_indices) == sorted({term_index("pump"), term_index("valve")})
    assert q_values == [1.0, 1.0]


def test_text_without_terms_gives_an_empty_vector() -> None:
    assert encode_queries(["の、。"]) == ([[]], [[]])


def test_terms_can_be_used_from_many_threads() -> None:
    # The API serves searches from a thread pool; a shared Sudachi tokenizer raises
    # "Tokenizer is already in use" under concurrent calls.
    from concurrent.futures import ThreadPoolExecutor

    text = "本契約は、甲が乙に対して工作機械HX-400の保守業務を委託することを目的とする。" * 20
    expected = terms(text)

    def work(_: int) -> bool:
        return all(terms(text) == expected for _ in range(100))

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(8)))
