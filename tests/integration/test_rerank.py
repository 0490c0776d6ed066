"""The Ollama-served reranker over HTTP: reordering (English and Japanese), the request Ollama
gets, and a failing reranker that leaves the fused order in place with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from app.passages import Passage
from app.rerank import TOP_LOGPROBS, OllamaReranker, rerank_prompt, yes_probability
from app.retrieve import Retriever
from ingest.components import Components, build_components
from ingest.pipeline import IngestReport
from tests.support.data_copy import copy_data
from tests.support.generate_standin import yes_probability as standin_yes
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import COLLECTION, free_port, make_settings

pytestmark = pytest.mark.integration
RERANKER = "dengcao/Qwen3-Reranker-0.6B:Q8_0"


def passage(n: int, text: str) -> Passage:
    return Passage(
        n=n,
        chunk_id=f"c{n}",
        document_id=f"d{n}",
        source=f"doc{n}.txt",
        title=f"Doc {n}",
        section="",
        text=text,
        score=1 / n,
    )


ENGLISH = (
    "How many days notice does termination need?",
    [
        passage(1, "Invoices are payable within thirty days of receipt."),
        passage(2, "The office is closed on public holidays."),
        passage(3, "Termination of this agreement needs ninety days written notice."),
    ],
)
JAPANESE = (
    "解約の通知期間は何日ですか",
    [
        passage(1, "賃料は毎月末日までに支払うものとする。"),
        passage(2, "本契約の解約は、九十日前までに書面で通知するものとする。"),
        passage(3, "事務所は祝日に休業する。"),
    ],
)


@pytest.fixture
def reranker_host() -> Iterator[OllamaStandin]:
    with OllamaStandin(StandinState(models=["gpt-oss:20b", RERANKER], parallel=2)) as server:
        yield server


@contextmanager
def ollama_reranker(tmp_path: Path, host: str, model: str = RERANKER) -> Iterator[OllamaReranker]:
    """A reranker on ``host``, closed after: its own host pool goes on checking a host it
    marked down (one that failed or timed out) until closed."""
    settings = make_settings(
        tmp_path, ollama_host=host, rerank_backend="ollama", rerank_model=model, rerank_timeout=5
    )
    reranker = OllamaReranker(settings)
    try:
        yield reranker
    finally:
        reranker.close()


@pytest.mark.parametrize(("query", "passages"), [ENGLISH, JAPANESE], ids=["en", "ja"])
def test_reranking_puts_the_relevant_passage_first(
    reranker_host: OllamaStandin, tmp_path: Path, query: str, passages: list[Passage]
) -> None:
    relevant = next(p for p in passages if p.n != 1 and standin_yes(query, p.text) > 0.1)
    with ollama_reranker(tmp_path, reranker_host.url) as reranker:
        outcome = reranker.rerank(query, passages, 2)
    assert outcome.error is None
    assert next(p.chunk_id for p in outcome.passages) == relevant.chunk_id
    assert [p.n for p in outcome.passages] == [1, 2]
    assert outcome.passages[0].score == pytest.approx(standin_yes(query, relevant.text))
    assert outcome.passages[0].score > outcome.passages[1].score


def test_the_request_is_ollamas_generate_with_logprobs(
    reranker_host: OllamaStandin, tmp_path: Path
) -> None:
    query, passages = JAPANESE
    with ollama_reranker(tmp_path, reranker_host.url) as reranker:
        reranker.rerank(query, passages, 3)
    sent = [r for r in reranker_host.state.requests if r["path"] == "/api/generate"]
    assert sorted(r["prompt"] for r in sent) == sorted(
        rerank_prompt(query, p.text) for p in passages
    )
    for request in sent:
        assert request["model"] == RERANKER
        assert request["raw"] is True
        assert request["stream"] is False
        assert request["logprobs"] is True
        assert request["top_logprobs"] == TOP_LOGPROBS
        assert request["options"]["num_predict"] == 1
        assert request["options"]["temperature"] == 0
        assert "template" not in request
        assert "system" not in request
    prompt = rerank_prompt(query, passages[1].text)
    assert prompt.startswith("<|im_start|>system\nJudge whether the Document")
    assert f"<Query>: {query}\n<Document>: {passages[1].text}<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


def test_a_down_host_keeps_the_fused_order_and_says_why(tmp_path: Path) -> None:
    query, passages = ENGLISH
    host = f"http://127.0.0.1:{free_port()}"
    with ollama_reranker(tmp_path, host) as reranker:
        outcome = reranker.rerank(query, passages, 2)
    assert [p.chunk_id for p in outcome.passages] == ["c1", "c2"]
    assert [p.score for p in outcome.passages] == [1.0, 0.5]
    assert outcome.error is not None
    assert RERANKER in outcome.error
    assert host in outcome.error


def test_a_missing_model_keeps_the_fused_order(
    reranker_host: OllamaStandin, tmp_path: Path
) -> None:
    query, passages = JAPANESE
    with ollama_reranker(tmp_path, reranker_host.url, "qwen3-reranker:4b") as reranker:
        outcome = reranker.rerank(query, passages, 3)
    assert [p.chunk_id for p in outcome.passages] == ["c1", "c2", "c3"]
    assert outcome.error is not None
    assert "not found" in outcome.error


def test_yes_probability_reads_the_first_tokens_top_logprobs() -> None:
    import math

    both = [{"token": "no", "logprob": -0.1, "top_logprobs": []}]
    both[0]["top_logprobs"] = [
        {"token": "no", "logprob": math.log(0.75)},
        {"token": "yes", "logprob": math.log(0.2)},
        {"token": "\n", "logprob": math.log(0.05)},
    ]
    assert yes_probability(both) == pytest.approx(0.2 / 0.95)
    only_yes = [{"token": "Yes", "logprob": math.log(0.9)}]  # top_logprobs 0: the token alone
    assert yes_probability(only_yes) == pytest.approx(0.5)  # "no" bounded by the floor
    neither = [
        {"token": "The", "logprob": -0.1, "top_logprobs": [{"token": "The", "logprob": -0.1}]}
    ]
    assert yes_probability(neither) == 0.0
    with pytest.raises(ValueError, match=r"0\.12\.11"):
        yes_probability(None)  # an Ollama older than 0.12.11 ignores `logprobs`


@pytest.fixture(scope="module")
def components(
    indexed: tuple[Path, IngestReport], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Components]:
    data_dir = copy_data(indexed[0], tmp_path_factory.mktemp("rerank") / "data")
    built = build_components(make_settings(data_dir))
    yield built
    built.close()


def test_the_retriever_reranks_through_ollama(
    components: Components, reranker_host: OllamaStandin
) -> None:
    data_dir = components.settings.data_dir
    query = "door interlock error E-212"
    plain = Retriever(components, make_settings(data_dir)).find(COLLECTION, query, 8, mode="hybrid")
    settings = make_settings(
        data_dir,
        ollama_host=reranker_host.url,
        rerank_backend="ollama",
        rerank_model=RERANKER,
        rerank_candidates=8,
    )
    with closing(Retriever(components, settings)) as retriever:
        found = retriever.find(COLLECTION, query, 3, mode="hybrid")
    expected = sorted(plain.passages, key=lambda p: -standin_yes(query, p.text))[:3]
    assert [p.chunk_id for p in expected] != [p.chunk_id for p in plain.passages[:3]]
    assert found.rerank_error is None
    assert [p.chunk_id for p in found.passages] == [p.chunk_id for p in expected]
    assert [p.n for p in found.passages] == [1, 2, 3]
    assert [p.score for p in found.passages] == pytest.approx(
        [standin_yes(query, p.text) for p in expected]
    )
    assert all(hit.payload is not None for hit in found.hits)


def test_the_retriever_keeps_the_fused_order_when_the_reranker_is_down(
    components: Components,
) -> None:
    data_dir = components.settings.data_dir
    query = "解約の通知期間"
    # The reranker is given 8 candidates; fused scores (DBSF) are normalised over what a query
    # returns, so the order to keep is that of the 8 fused candidates, cut to 3.
    candidates = Retriever(components, make_settings(data_dir)).find(
        COLLECTION, query, 8, mode="hybrid"
    )
    plain = candidates.passages[:3]
    settings = make_settings(
        data_dir,
        ollama_host=f"http://127.0.0.1:{free_port()}",
        rerank_backend="ollama",
        rerank_model=RERANKER,
        rerank_candidates=8,
    )
    retriever = Retriever(components, settings)
    try:
        found = retriever.find(COLLECTION, query, 3, mode="hybrid")
    finally:
        retriever.close()
    assert found.rerank_error is not None
    assert RERANKER in found.rerank_error
    assert len(plain) > 1
    # the same passages in the same fused order; passages with equal fused scores (ties) may
    # come back in either order from one query to the next, so they are compared as a set
    assert [p.score for p in found.passages] == [p.score for p in plain]
    assert by_score(found.passages) == by_score(plain)


def by_score(passages: list[Passage]) -> list[tuple[float, set[str]]]:
    """The chunk ids of each run of equal scores, in rank order."""
    runs: list[tuple[float, set[str]]] = []
    for passage in passages:
        if runs and runs[-1][0] == passage.score:
            runs[-1][1].add(passage.chunk_id)
        else:
            runs.append((passage.score, {passage.chunk_id}))
    return runs
