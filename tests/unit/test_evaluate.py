"""Evaluation metrics and labelled-question matching."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest

from app.evaluate import LabelledQuestion, ModeScores, load_questions, normalise
from app.passages import Passage
from app.retrieve import SearchFilters

pytestmark = pytest.mark.unit


def passage(source: str, text: str) -> Passage:
    return Passage(
        n=1,
        chunk_id="c",
        document_id="d",
        source=source,
        title="t",
        section="",
        text=text,
        score=0.1,
    )


def test_hit_needs_source_suffix_and_snippet() -> None:
    q = LabelledQuestion(
        "q", "?", expected_source="faq/programming.html", expected_snippet="Use  the shutil module"
    )
    assert q.is_hit(
        passage("/usr/share/doc/faq/programming.html", "You can use the shutil module.")
    )
    assert not q.is_hit(passage("/x/notprogramming.html", "use the shutil module"))
    assert not q.is_hit(passage("/x/faq/programming.html", "use os"))


def test_japanese_snippet_matches_across_line_wrap_spaces() -> None:
    q = LabelledQuestion("q", "?", expected_snippet="パッケージを削除します")
    assert q.is_hit(passage("a.html", "不要な パッケージを 削除します。"))
    assert normalise("ＡＢＣ  Def") == "abc def"


def test_metrics() -> None:
    scores = ModeScores("hybrid", {"a": 1, "b": 3, "c": None, "d": 12})
    m = scores.metrics
    assert m["hit@1"] == 0.25
    assert m["hit@3"] == 0.5
    assert m["hit@10"] == 0.5
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 12) / 4, abs=1e-4)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(4)) / 4, abs=1e-4)


def test_load_questions_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "ok?", "expected_source": "a.pdf"}\n{"oops": 1}\n', "utf-8")
    with pytest.raises(ValueError, match=r"q.jsonl:2"):
        load_questions(path)
    path.write_text('{"question": "no label"}\n', "utf-8")
    with pytest.raises(ValueError, match="expected_source or expected_snippet"):
        load_questions(path)


def test_search_filters_translate_to_metadata_filters() -> None:
    filters = SearchFilters(
        document_ids=["d1"],
        source_prefix="/srv/docs/",
        doc_types=["pdf"],
        languages=["ja"],
        page_from=3,
        page_to=5,
    ).to_metadata_filters()
    assert filters is not None
    rendered = {(f.key, str(f.operator.value), str(f.value)) for f in filters.filters}  # type: ignore[union-attr]
    assert ("source_prefixes", "==", "/srv/docs") in rendered
    assert ("page_end", ">=", "3") in rendered
    assert ("page_start", "<=", "5") in rendered

    def keys(f: SearchFilters) -> set[tuple[str, str, str]]:
        return {
            (c.key, str(c.operator.value), str(c.value)) for c in f.to_metadata_filters().filters
        }  # type: ignore[union-attr]

    # By default only the version in force today; a date, a label or all versions on request.
    today = date.today().strftime("%Y%m%d")
    assert keys(SearchFilters()) == {("valid_from", "<=", today), ("valid_to", ">", today)}
    assert keys(SearchFilters(as_of=date(2024, 3, 1))) == {
        ("valid_from", "<=", "20240301"),
        ("valid_to", ">", "20240301"),
    }
    assert keys(SearchFilters(version="2023")) == {("version_label", "==", "2023")}
    assert keys(SearchFilters(all_versions=True)) == set()
