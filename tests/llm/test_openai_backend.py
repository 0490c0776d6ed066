"""KURA_LLM_BACKEND=openai against a real OpenAI-compatible server: llama.cpp's own server
(xllamacpp) serving SmolLM2-135M. Mechanics are asserted, not wording."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.errors import ContextTruncated, LLMUnavailable
from app.llm import Generation, build_llm
from app.llm.openai_chat import OpenAIChatLLM
from ingest.pipeline import IngestReport
from tests.support.data_copy import copy_data
from tests.support.llm_backend import REAL_MODEL_TIMEOUT
from tests.support.llm_hosts import LlamaCppServer
from tests.support.openai_standin import OpenAIStandin
from tests.support.server import LiveServer, free_port, make_settings
from tests.support.sse import events as frames

pytestmark = pytest.mark.llm

ALIAS = "smollm2:135m"
KEY = "kura-test-key-0123456789"
QUESTION = "What does error E-417 mean on the HX-400?"
QUESTION_JA = "HX-400 のエラー E-417 はどういう意味ですか？"


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaCppServer]:
    with LlamaCppServer(alias=ALIAS, n_ctx=4096, api_key=KEY) as server:
        yield server


def settings_for(data_dir: Path, base_url: str, **extra: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "llm_backend": "openai",
        "openai_base_url": base_url,
        "openai_api_key": KEY,
        "ollama_model": ALIAS,
        "answer_max_tokens": 128,  # the least kura allows
        "temperature": 0,
        "top_k": 2,
        "request_timeout": REAL_MODEL_TIMEOUT,
        **extra,
    }
    return make_settings(data_dir, **values)


def test_answers_stream_over_kuras_api_in_english_and_japanese(
    llama: LlamaCppServer, indexed: tuple[Path, IngestReport], tmp_path: Path
) -> None:
    data = copy_data(indexed[0], tmp_path / "data")
    with LiveServer(settings_for(data, llama.base_url)) as client:
        ready = client.get("/readyz").json()
        streamed = {
            q: client.post("/v1/query", json={"question": q, "stream": True})
            for q in (QUESTION, QUESTION_JA)
        }
        whole = client.post("/v1/query", json={"question": QUESTION})
    assert ready["ollama"]["ok"] is True
    assert ready["llm"]["backend"] == "openai"
    assert ready["llm"]["hosts"][0]["url"] == llama.base_url
    for question, response in streamed.items():
        events = frames(response.text)
        kinds = [kind for kind, _ in events]
        assert kinds[0] == "passages", question
        assert kinds[-1] == "done", (question, events[-1])
        assert kinds.count("token") >= 2, question
        done = events[-1][1]
        text = "".join(data["text"] for kind, data in events if kind == "token")
        assert done["answer"].strip(), question
        assert text.strip(), question
        assert 0 < done["usage"]["completion_tokens"] <= 128
        assert done["usage"]["prompt_tokens"] > 0
    assert whole.status_code == 200, whole.text
    assert whole.json()["answer"].strip()


def test_the_servers_context_is_read_and_an_oversize_prompt_is_refused(
    llama: LlamaCppServer, tmp_path: Path
) -> None:
    with build_llm(settings_for(tmp_path, llama.base_url)) as llm:
        assert isinstance(llm, OpenAIChatLLM)
        assert llm.num_ctx == 4096  # llama.cpp's n_ctx, below KURA_NUM_CTX (16384)
        assert llm.prompt_budget() == 4096 - 128
        long = [{"role": "user", "content": "倉庫の在庫を確認してください。" * 600}]
        with pytest.raises(ContextTruncated, match="longer than the model's context"):
            llm.chat(long, think="low")
        assert (llm.gate.waiting, llm.gate.in_flight) == (0, 0)
        stats = Generation("", "", "", 0, 0, "", 0.0)

        async def stream() -> None:
            async for _ in llm.stream(long, think="low", stats=stats):
                pass

        with pytest.raises(ContextTruncated):
            asyncio.run(stream())
        assert llm.hosts_status()["hosts"][0]["up"] is True  # a refusal is not a host down


def test_a_wrong_key_a_missing_model_and_a_server_down_say_which(
    llama: LlamaCppServer, indexed: tuple[Path, IngestReport], tmp_path: Path
) -> None:
    hello = [{"role": "user", "content": "Say hello."}]
    wrong_key = build_llm(settings_for(tmp_path, llama.base_url, openai_api_key="nope"))
    with pytest.raises(LLMUnavailable, match="KURA_OPENAI_API_KEY"):
        wrong_key.chat(hello, think="low")
    wrong_key.close()
    missing = build_llm(settings_for(tmp_path, llama.base_url, ollama_model="gpt-oss:20b"))
    state = missing.status()
    assert (state["ok"], state["reachable"], state["model_present"]) == (False, True, False)
    assert ALIAS in state["detail"]
    missing.close()
    data = copy_data(indexed[0], tmp_path / "data")
    down = f"http://127.0.0.1:{free_port()}/v1"
    with LiveServer(settings_for(data, down)) as client:
        response = client.post("/v1/query", json={"question": QUESTION})
        ready = client.get("/readyz")
        search = client.post("/v1/search", json={"query": "E-417"})
    assert response.status_code == 503
    assert "cannot reach the OpenAI-compatible server" in response.json()["detail"]
    assert ready.status_code == 503
    assert ready.json()["llm"]["hosts"][0]["up"] is False
    assert search.status_code == 200  # retrieval works without the model


def test_a_hung_server_hands_its_questions_to_llama_cpp(
    llama: LlamaCppServer, tmp_path: Path
) -> None:
    hang = 5.0  # SmolLM2 reads a short prompt on one busy core well within it
    with OpenAIStandin(model=ALIAS) as hung:
        hung.hang = True  # a stuck engine: /v1/models answers, a chat gets nothing
        urls = f"{hung.url},{llama.base_url}"
        settings = settings_for(tmp_path, urls, llm_hang_timeout=hang, num_ctx=4096)
        with build_llm(settings) as llm:
            started = time.monotonic()
            whole = llm.chat([{"role": "user", "content": QUESTION}], think="low")
            seconds = time.monotonic() - started
            stats = Generation("", "", "", 0, 0, "", 0.0)

            async def stream() -> None:
                ja = [{"role": "user", "content": QUESTION_JA}]
                async for _ in llm.stream(ja, think="low", stats=stats):
                    pass

            asyncio.run(stream())
            hosts = llm.hosts_status()["hosts"]
    assert whole.content.strip()
    assert stats.content.strip()
    assert hang <= seconds < REAL_MODEL_TIMEOUT  # on main: REAL_MODEL_TIMEOUT, then LLMTimeout
    # the streamed question went straight to llama.cpp; the hung server's background check
    # asks it for one token (it stays down until it writes), which is no question
    questions = [r for r in hung.requests if r.get("max_tokens") != 1]
    assert len(questions) == 1
    assert [h["up"] for h in hosts] == [False, True]
    assert "the host hangs" in hosts[0]["detail"]
    assert hosts[1]["answered"] == 2
