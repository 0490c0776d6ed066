"""The Ollama reranker in `kura serve` asks the answering model's Ollama hosts (KURA_OLLAMA_HOSTS)
as answers do: a host that is down is passed over, and its requests count on the host that
scored them. Over HTTP, English and Japanese questions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.generate_standin import yes_probability as standin_yes
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.rerank_cases import CANDIDATES, DOCS, QUESTIONS, RERANKER, rerank_settings
from tests.support.server import LiveServer, free_port, index_texts

pytestmark = pytest.mark.integration


def test_reranking_goes_to_the_ollama_host_that_is_up(tmp_path: Path) -> None:
    data_dir = index_texts(tmp_path, DOCS)
    down = f"http://127.0.0.1:{free_port()}"  # first in the list, and KURA_OLLAMA_HOST
    with OllamaStandin(StandinState(models=["gpt-oss:20b", RERANKER])) as up:
        settings = rerank_settings(data_dir, down, up.url)
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
