"""Hybrid retrieval, filters, neighbouring context, reranking and `kura eval` on the corpus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from llama_index.core.vector_stores.types import MetadataFilters, VectorStoreQuery

from app.answer import Ask, answer_question
from app.llm import OllamaLLM
from app.retrieve import Retriever, SearchFilters
from app.settings import RetrievalMode
from ingest import filters
from ingest.components import Components, build_components
from ingest.pipeline import IngestReport
from ingest.registry import EVERYONE
from tests.support.data_copy import copy_data
from tests.support.ollama_standin import OllamaStandin
from tests.support.server import COLLECTION, make_settings

pytestmark = pytest.mark.integration
QUESTIONS = Path(__file__).parents[1] / "data" / "corpus-questions.jsonl"


@pytest.fixture(scope="module")
def data_dir(indexed: tuple[Path, IngestReport], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_data(indexed[0], tmp_path_factory.mktemp("retrieval") / "data")


@pytest.fixture(scope="module")
def components(data_dir: Path) -> Iterator[Components]:
    built = build_components(make_settings(data_dir))
    yield built
    built.close()


@pytest.fixture(scope="module")
def retriever(components: Components) -> Retriever:
    return Retriever(components, make_settings(components.settings.data_dir))


def names(passages) -> list[str]:
    return [Path(p.source).name for p in passages]


def test_exact_codes_are_found_by_keywords(retriever: Retriever) -> None:
    sparse = retriever.search(COLLECTION, "E-212", 3, mode="sparse")
    assert "E-212" in sparse[0].text  # the manual and the changelog both name it
    assert any("E-212 means the door interlock" in p.text for p in sparse)
    hybrid = retriever.search(COLLECTION, "E-212", 3, mode="hybrid")
    assert any("E-212 means the door interlock" in p.text for p in hybrid)
    part = retriever.search(COLLECTION, "HX-8810", 3, mode="hybrid")
    assert "HX-8810" in part[0].text


def test_japanese_keywords(retriever: Retriever) -> None:
    hits = retriever.search(COLLECTION, "非常停止ボタン", 3, mode="sparse")
    assert "非常停止ボタン" in hits[0].text
    clause = retriever.search(COLLECTION, "四時間以内に到着", 3, mode="hybrid")
    assert "四時間以内" in clause[0].text
    assert names(clause)[0] == "保守契約.txt"


def test_modes_rank_differently_and_scores_say_which(retriever: Retriever) -> None:
    query = "What does error E-417 mean?"
    dense = retriever.search(COLLECTION, query, 5, mode="dense")
    sparse = retriever.search(COLLECTION, query, 5, mode="sparse")
    hybrid = retriever.search(COLLECTION, query, 5, mode="hybrid")
    assert all(-1 <= p.score <= 1 for p in dense)  # cosine
    assert sparse[0].score > 1  # BM25
    assert [p.n for p in hybrid] == [1, 2, 3, 4, 5]
    assert "Error E-417 means" in hybrid[0].text
    assert [p.chunk_id for p in dense] != [p.chunk_id for p in sparse]


def test_rrf_fusion_can_be_chosen(data_dir: Path, tmp_path: Path) -> None:
    copy = copy_data(data_dir, tmp_path / "data")  # one process per store folder
    settings = make_settings(copy, hybrid_fusion="rrf")
    rrf = build_components(settings)
    try:
        hits = Retriever(rrf, settings).search(
            COLLECTION, "What does error E-417 mean?", 5, mode="hybrid"
        )
        # reciprocal ranks, k = 60, summed over four rankings: dense, multilingual, keywords,
        # and the keywords in Japanese (among the Japanese documents), and the two terms of the
        # sentence-level stage, ranked the same way (app/sentences.py)
        assert all(0 < p.score <= 6 / 60 + 1e-6 for p in hits)
        assert hits[0].score > 2 / 60  # first in more than two of them
    finally:
        rrf.close()


def test_japanese_question_uses_keywords_when_no_model_reads_it(
    retriever: Retriever, components: Components
) -> None:
    question = "緊急の故障が発生した場合の到着時間"
    # the multilingual model reads it: searched by meaning too
    assert retriever.effective_mode(question, "hybrid", COLLECTION) == "hybrid"
    assert retriever.plan(question, "hybrid", COLLECTION) == ("hybrid", False, True)
    # without it, the English model alone would not: keywords only
    off = build_components(make_settings(components.settings.data_dir, multilingual_model="none"))
    try:
        english_only = Retriever(off, make_settings(off.settings.data_dir))
        assert english_only.effective_mode(question, "hybrid") == "sparse"
        assert english_only.effective_mode("What does E-417 mean?", "hybrid") == "hybrid"
        assert english_only.effective_mode(question, "dense") == "dense"  # asked for explicitly
        multilingual = Retriever(off, make_settings(off.settings.data_dir, embed_languages="*"))
        assert multilingual.effective_mode(question, "hybrid") == "hybrid"
    finally:
        off.close()


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        (
            SearchFilters(languages=["ja"]),
            lambda ps: all(
                p.source.endswith(("ja-package-management.pdf", "保守契約.txt", "guide.html"))
                for p in ps
            ),
        ),
        (SearchFilters(doc_types=["pdf"]), lambda ps: all(p.source.endswith(".pdf") for p in ps)),
        (
            SearchFilters(page_from=3, page_to=3, doc_types=["pdf"]),
            lambda ps: all(p.page_start <= 3 <= p.page_end for p in ps),
        ),
        (SearchFilters(source_prefix="/nonexistent/folder"), lambda ps: ps == []),
    ],
)
def test_filters_apply_inside_the_query(retriever: Retriever, filters, check) -> None:
    passages = retriever.search(
        COLLECTION, "package management パッケージ", 10, mode="hybrid", filters=filters
    )
    assert check(passages), [(p.source, p.page_start) for p in passages]


def test_filter_by_document_and_source_prefix(retriever: Retriever) -> None:
    anything = retriever.search(COLLECTION, "HX-400", 10, mode="hybrid")
    folder = str(Path(anything[0].source).parent)
    assert len(
        retriever.search(
            COLLECTION,
            "HX-400",
            10,
            mode="hybrid",
            filters=SearchFilters(source_prefix=folder + "/"),
        )
    ) == len(anything)
    one = anything[0].document_id
    only = retriever.search(
        COLLECTION, "HX-400", 10, mode="hybrid", filters=SearchFilters(document_ids=[one])
    )
    assert only
    assert {p.document_id for p in only} == {one}


def test_neighbouring_chunks_widen_the_context(components: Components) -> None:
    settings = make_settings(components.settings.data_dir, context_neighbors=1)
    retriever = Retriever(components, settings)
    hits = retriever.search(
        COLLECTION, "定期点検を毎月第一営業日に実施", 1, mode="sparse", widen_context=True
    )
    hit = hits[0]
    assert hit.context is not None
    assert hit.text in hit.context or hit.text[:40] in hit.context
    assert len(hit.context) > len(hit.text)  # a neighbour of the same clause was added
    assert "第2条" not in hit.context  # never across sections


def build_cross_encoder(folder: Path) -> Path:
    """A tiny BERT cross-encoder with fixed random weights: a real model, made here."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ingest.embedding.local import embed_model_path
    from ingest.settings import PACKAGED_EMBED_MODEL

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(embed_model_path(PACKAGED_EMBED_MODEL))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_reranker_reorders_by_cross_encoder_scores(components: Components, tmp_path: Path) -> None:
    from sentence_transformers import CrossEncoder

    model = build_cross_encoder(tmp_path / "ce")
    settings = make_settings(
        components.settings.data_dir, rerank_model=str(model), rerank_candidates=8
    )
    query = "coolant pump"
    reranked = Retriever(components, settings).search(COLLECTION, query, 3, mode="hybrid")
    candidates = Retriever(components, make_settings(components.settings.data_dir)).search(
        COLLECTION, query, 8, mode="hybrid"
    )
    scores = CrossEncoder(str(model), device="cpu").predict([(query, p.text) for p in candidates])
    expected = [candidates[i].chunk_id for i in sorted(range(8), key=lambda i: -scores[i])[:3]]
    assert [p.chunk_id for p in reranked] == expected
    assert [p.n for p in reranked] == [1, 2, 3]


def test_kura_eval_reports_every_mode(data_dir: Path, tmp_path: Path) -> None:
    copy = copy_data(data_dir, tmp_path / "data")
    env = {**os.environ, "KURA_DATA_DIR": str(copy)}
    result = subprocess.run(
        [sys.executable, "-m", "app", "eval", str(QUESTIONS), "-c", COLLECTION, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["questions"] == 8
    assert set(report["metrics"]) == {"hybrid", "dense", "sparse"}
    for metrics in report["metrics"].values():
        assert 0 <= metrics["mrr"] <= metrics["hit@10"] <= 1
        assert metrics["hit@1"] <= metrics["hit@3"] <= metrics["hit@5"] <= metrics["hit@10"]
    # exact codes are what keywords are for
    assert report["ranks"]["code-e212"]["sparse"] <= 2  # the changelog names E-212 too
    assert report["metrics"]["hybrid"]["hit@5"] >= 0.75
    table = subprocess.run(
        [sys.executable, "-m", "app", "eval", str(QUESTIONS), "-c", COLLECTION],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "150"},
        timeout=300,
    )
    assert "ndcg@10" in table.stdout
    assert "hybrid" in table.stdout


def test_table_rows_are_found_with_their_column_names(retriever: Retriever) -> None:
    parts = retriever.search(COLLECTION, "How many spindle belts are in stock?", 3, mode="hybrid")
    row = "Part number: HX-8810 | Description: Spindle belt | Stock: 2"
    assert any(row in p.text for p in parts), [p.text for p in parts]
    table_chunk = next(p for p in parts if row in p.text)
    assert table_chunk.text.startswith("Part number | Description | Stock")

    faults = retriever.search(COLLECTION, "E-101", 3, mode="hybrid")
    assert "Code: E-101 | Meaning: Low lubricant pressure" in faults[0].text

    ja = retriever.search(COLLECTION, "E-501 の処置は", 3, mode="hybrid")
    assert "コード: E-501 | 内容: 油圧低下 | 処置: 作動油を補充する" in ja[0].text
    assert ja[0].text.startswith("故障コード表\nコード | 内容 | 処置")


def chunk_keys(payloads: list[dict]) -> set[tuple[str, str, int]]:
    return {(p["document_id"], p["document_version"], p["chunk_index"]) for p in payloads}


def test_each_filter_builder_selects_the_right_points(components: Components) -> None:
    store = components.vector_store(COLLECTION)
    every = store.payloads()
    assert every
    sample = next(p for p in every if p["source"].endswith("保守契約.txt"))
    folder = str(Path(sample["source"]).parent)
    doc = sample["document_id"]
    cases = [
        (filters.access([EVERYONE]), lambda p: EVERYONE in p["allowed_groups"]),
        (filters.access(["経理部"]), lambda p: "経理部" in p["allowed_groups"]),
        (
            filters.in_force(date(2026, 4, 1)),
            lambda p: p["valid_from"] <= 20260401 < p["valid_to"],
        ),
        (filters.in_force(0), lambda p: p["valid_from"] <= 0 < p["valid_to"]),
        (
            filters.same_version(sample["document_id"], sample["document_version"]),
            lambda p: (
                (p["document_id"], p["document_version"])
                == (sample["document_id"], sample["document_version"])
            ),
        ),
        (filters.document(doc), lambda p: p["document_id"] == doc),
        (filters.document([doc, "none"]), lambda p: p["document_id"] == doc),
        (filters.source_prefix(folder + "/"), lambda p: p["source"].startswith(folder + "/")),
        (filters.catalogue(), lambda p: p["chunk_index"] == 0),
        (
            filters.all_of(filters.catalogue(), filters.condition("language", "ja")),
            lambda p: p["chunk_index"] == 0 and p["language"] == "ja",
        ),
    ]
    for built, wanted in cases:
        expected = chunk_keys([p for p in every if wanted(p)])
        selected = built if isinstance(built, MetadataFilters) else filters.all_of(built)
        assert chunk_keys(store.payloads(selected)) == expected, selected
        assert store.count(selected) == len(expected)


class CountingQueries:
    """Counts the searches a store runs: its class's own ``query``, wrapped (no mock)."""

    def __init__(self, store: object, monkeypatch: pytest.MonkeyPatch) -> None:
        self.modes: list[str] = []
        cls = type(store)
        original = cls.query

        def query(inner: object, request: VectorStoreQuery, **kwargs: object) -> object:
            self.modes.append(str(request.mode.value))
            return original(inner, request, **kwargs)

        monkeypatch.setattr(cls, "query", query)


@pytest.mark.parametrize(
    ("question", "mode", "searches"),
    [
        ("What does error E-417 mean on the HX-400?", "dense", 1),
        # A hybrid search's fused scores are not cosines: the relevance check asks the store
        # for the best match of the model that judges the question (with the embedding the
        # search computed): the multilingual one for Japanese, the dense one for English.
        ("緊急の故障が発生した場合の到着時間は？", "hybrid", 2),
        ("What does error E-417 mean on the HX-400?", "hybrid", 2),
        ("緊急の故障が発生した場合の到着時間は？", "dense", 1),
    ],
)
def test_an_answered_question_searches_the_store_once(
    components: Components,
    standin: OllamaStandin,
    monkeypatch: pytest.MonkeyPatch,
    question: str,
    mode: RetrievalMode,
    searches: int,
) -> None:
    settings = make_settings(components.settings.data_dir, standin.url)
    retriever = Retriever(components, settings)
    counted = CountingQueries(components.vector_store(COLLECTION), monkeypatch)
    ask = Ask(question=question, collection=COLLECTION, top_k=5, effort="low", mode=mode)
    answer = answer_question(retriever, OllamaLLM(settings), ask)
    assert answer.covered
    assert len(counted.modes) == searches, counted.modes
