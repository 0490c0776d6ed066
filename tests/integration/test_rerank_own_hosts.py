"""Where no answering model shares its Ollama hosts (`kura search`, the `openai` backend), the
Ollama reranker still asks every configured Ollama host (KURA_OLLAMA_HOSTS) with the same
failover: the first one down, the passages are scored on the second. English and Japanese."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.generate_standin import yes_probability as standin_yes
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.rerank_cases import CANDIDATES, DOCS, QUESTIONS, RERANKER, rerank_settings
from tests.support.server import COLLECTION, LiveServer, free_port, index_texts

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return index_texts(tmp_path_factory.mktemp("own-hosts"), DOCS)


def reranked_on(up: OllamaStandin, question: str, passages: list[dict[str, str]]) -> None:
    """The passages carry the reranker's scores, all its requests went to ``up``."""
    assert Path(passages[0]["source"]).name == QUESTIONS[question]
    for passage in passages:
        # on main: the fused scores, kept because the reranker asked KURA_OLLAMA_HOST alone
        assert passage["score"] == pytest.approx(standin_yes(question, passage["text"]))
    asked = [r["prompt"] for r in up.state.requests if r.get("model") == RERANKER]
    assert sum(question in prompt for prompt in asked) == CANDIDATES


@pytest.mark.parametrize("question", list(QUESTIONS))
def test_kura_search_reranks_on_the_ollama_host_that_is_up(data_dir: Path, question: str) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # first in the list, and KURA_OLLAMA_HOST
    with OllamaStandin(StandinState(models=[RERANKER])) as up:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KURA_")}
        env.update(
            KURA_DATA_DIR=str(data_dir),
            KURA_COLLECTION=COLLECTION,
            KURA_OLLAMA_HOST=down,
            KURA_OLLAMA_HOSTS=f"{down},{up.url}",
            KURA_RERANK_BACKEND="ollama",
            KURA_RERANK_MODEL=RERANKER,
            KURA_RERANK_CANDIDATES=str(CANDIDATES),
            KURA_RERANK_TIMEOUT="5",
        )
        done = subprocess.run(
            [sys.executable, "-m", "app", "search", question, "-k", "3", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        reranked_on(up, question, json.loads(done.stdout))


def test_the_openai_backend_reranks_on_the_ollama_host_that_is_up(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    with (
        OllamaStandin(StandinState(models=[RERANKER])) as up,
        # an in-process `kura` command earlier in this worker may have quietened app.llm
        caplog.at_level(logging.WARNING, logger="app.llm"),
    ):
        settings = rerank_settings(
            data_dir,
            down,
            up.url,
            llm_backend="openai",
            openai_base_url=f"http://127.0.0.1:{free_port()}/v1",  # answers: not needed here
        )
        with LiveServer(settings) as client:
            for question in QUESTIONS:
                found = client.post("/v1/search", json={"query": question, "top_k": 3})
                assert found.status_code == 200, found.text
                reranked_on(up, question, found.json()["passages"])
    # the log names the down host for what it does here: no answering model uses it
    logged = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"reranking host {down} is down") for m in logged), logged
    assert not any("LLM host" in m for m in logged), logged
