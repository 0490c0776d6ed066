"""The Ollama reranker in `kura serve` asks the answering model's Ollama hosts (KURA_OLLAMA_HOSTS)
as answers do: a host that is down is passed over, and its requests count on the host that
scored them. Over HTTP, English and Japanese questions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.generate_standin import yes_probability as standin_yes
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, free_port, index_texts, make_settings

pytestmark = pytest.mark.integration
RERANKER = "dengcao/Qwen3-Reranker-0.6B:Q8_0"
CANDIDATES = 6

DOCS = {
    "invoices.txt": "Invoices are payable within thirty days of receipt.",
    "holidays.txt": "The office is closed on public holidays.",
    "termination.txt": "Termination of this agreement needs ninety days written notice.",
    "yachin.txt": "賃料は毎月末日までに支払うものとする。",
    "kaiyaku.txt": "本契約の解約は、九十日前までに書面で通知するものとする。",
    "kyugyo.txt": "事務所は祝日に休業する。",
}
QUESTIONS = {
    "How many days notice does termination need?": "termination.txt",
    "解約の通知期間は何日ですか": "kaiyaku.txt",
}


def test_reranking_goes_to_the_ollama_host_that_is_up(tmp_path: Path) -> None:
    data_dir = index_texts(tmp_path, DOCS)
    down = f"http://127.0.0.1:{free_port()}"  # first in the list, and KURA_OLLAMA_HOST
    with OllamaStandin(StandinState(models=["gpt-oss:20b", RERANKER])) as up:
        settings = make_settings(
            data_dir,
            ollama_host=down,
            ollama_hosts=f"{down},{up.url}",
            rerank_backend="ollama",
            rerank_model=RERANKER,
            rerank_candidates=CANDIDATES,
            rerank_timeout=5,
        )
        with LiveServer(settings) as client:
            for question, relevant in QUESTIONS.items():
                found = client.post("/v1/search", json={"query": question, "top_k": 3})
                assert found.status_code == 200, found.text
                passages = found.json()["passages"]
                assert Path(passages[0]["source"]).name == relevant
                # the reranker's scores, not the fused ones (on main: the fused order, kept
                # because the reranker asked KURA_OLLAMA_HOST, which is down)
                for passage in passages:
                    assert passage["score"] == pytest.approx(standin_yes(question, passage["text"]))
                asked = [r["prompt"] for r in up.state.requests if r.get("model") == RERANKER]
                assert sum(question in prompt for prompt in asked) == CANDIDATES
            first, second = client.get("/readyz").json()["llm"]["hosts"]
            assert (first["url"], first["up"]) == (down, False)
            assert second["answered"] >= 2 * CANDIDATES  # its rerank requests, counted
