"""kura against the behaviours of real Ollama (as the stand-in reproduces them from Ollama's
source): reasoning that spends the whole budget, truncation as each version does it, the
model's own context, loading, timeouts, a full queue, keep_alive."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingest.pipeline import IngestReport
from tests.support.data_copy import copy_data
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, make_settings
from tests.support.sse import events as sse_events

pytestmark = pytest.mark.integration

QUESTION = "What does error E-417 mean on the HX-400?"
QUESTION_JA = "HX-400 のエラー E-417 はどういう意味ですか？"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, indexed: tuple[Path, IngestReport]) -> Path:
    return copy_data(indexed[0], tmp_path_factory.mktemp("behaviours") / "data")


@pytest.fixture(scope="module")
def api(data_dir: Path, ollama: OllamaStandin) -> Iterator[httpx.Client]:
    settings = make_settings(data_dir, ollama.url, answer_max_tokens=512)
    with LiveServer(settings) as client:
        yield client


@pytest.fixture
def reasoning_forever(ollama: OllamaStandin) -> Iterator[None]:
    ollama.state.reasoning_tokens = 100_000
    yield
    ollama.state.reasoning_tokens = 0


@pytest.mark.parametrize("question", [QUESTION, QUESTION_JA])
@pytest.mark.usefixtures("reasoning_forever")
def test_reasoning_that_spends_the_budget_is_an_error_naming_the_setting(
    api: httpx.Client, question: str
) -> None:
    response = api.post("/v1/query", json={"question": question, "reasoning_effort": "high"})
    assert response.status_code == 502, response.text
    detail = response.json()["detail"]
    assert "reasoning" in detail
    assert "KURA_ANSWER_MAX_TOKENS" in detail
    assert "512" in detail
    assert "KURA_REASONING_EFFORT" in detail

    streamed = api.post("/v1/query", json={"question": question, "stream": True})
    events = sse_events(streamed.text)
    assert events[-1][0] == "error"
    assert "KURA_ANSWER_MAX_TOKENS" in events[-1][1]["detail"]
    assert events[-1][1]["status"] == 502


SENTENCE = "The coolant pump restarts automatically after a power loss. "  # 11 stand-in tokens
SENTENCE_JA = "本契約は、保守業務に関する基本的事項を定める。"  # 23 stand-in tokens
SYSTEM = {"role": "system", "content": "Answer from the passages only."}


def long_prompt(sentence: str, tokens_each: int, times_window: float, num_ctx: int) -> list:
    count = int(num_ctx * times_window / tokens_each)
    return [SYSTEM, {"role": "user", "content": sentence * count}]


@pytest.mark.parametrize(
    ("version", "sentence", "tokens_each", "times_window"),
    [
        # v0.12-v0.30 cut to exactly num_ctx: a prompt 1.3x (English) or 1.5x (Japanese)
        # the window went unnoticed by a characters-per-token floor
        ("0.12.6", SENTENCE, 11, 1.3),
        ("0.12.6", SENTENCE_JA, 23, 1.5),
        ("0.30.1", SENTENCE_JA, 23, 1.5),
        # v0.31+ keep about half the window: Japanese at 1.5x went unnoticed
        ("0.32.15", SENTENCE_JA, 23, 1.5),
        ("0.32.15", SENTENCE, 11, 1.3),
    ],
)
def test_truncation_is_caught_as_each_version_truncates(
    tmp_path: Path, version: str, sentence: str, tokens_each: int, times_window: float
) -> None:
    from app.errors import ContextTruncated
    from app.llm import OllamaLLM

    with OllamaStandin(StandinState.like(version)) as server:
        llm = OllamaLLM(make_settings(tmp_path, server.url, num_ctx=2048))
        messages = long_prompt(sentence, tokens_each, times_window, 2048)
        with pytest.raises(ContextTruncated, match="truncated"):
            llm.chat(messages, think="low")
        generation = server.state.generations[-1]
    assert generation["prompt_eval_count"] < generation["prompt_tokens"]


@pytest.mark.parametrize("question", [QUESTION, QUESTION_JA])
def test_a_cached_repeat_on_ollama_0_30_0_is_no_false_alarm(tmp_path: Path, question: str) -> None:
    from app.llm import OllamaLLM

    passages = "Passages:\n\n" + SENTENCE * 40 + "\n\nQuestion: " + question
    messages = [SYSTEM, {"role": "user", "content": passages}]
    with OllamaStandin(StandinState.like("0.30.0")) as server:
        llm = OllamaLLM(make_settings(tmp_path, server.url))
        first = llm.chat(messages, think="low")
        again = llm.chat(messages, think="low")  # the prompt cache holds all of it
    assert first.prompt_tokens > 400
    assert again.prompt_tokens == 1
    assert again.content == first.content


def test_num_ctx_never_exceeds_the_models_context_and_the_prompt_fits(
    data_dir: Path, tmp_path: Path
) -> None:
    data = copy_data(data_dir, tmp_path / "data")
    state = StandinState.like("0.32.15", context_length=2048)
    with OllamaStandin(state) as small:
        settings = make_settings(data, small.url, num_ctx=16384, top_k=20)
        with LiveServer(settings) as client:
            for question in (QUESTION, QUESTION_JA):
                response = client.post("/v1/query", json={"question": question})
                assert response.status_code == 200, response.text
                assert response.json()["citations"]
    chats = [r for r in state.requests if r["path"] == "/api/chat"]
    assert chats
    assert {r["options"]["num_ctx"] for r in chats} == {2048}
    for generation in state.generations:  # nothing was cut: the prompt fit the model's window
        assert generation["prompt_eval_count"] == generation["prompt_tokens"]


def test_think_is_not_sent_to_a_model_that_cannot_think(tmp_path: Path) -> None:
    from app.llm import OllamaLLM

    state = StandinState(capabilities=["completion"])
    with OllamaStandin(state) as server:
        llm = OllamaLLM(make_settings(tmp_path, server.url))
        answer = llm.chat([SYSTEM, {"role": "user", "content": QUESTION}], think="low")
    assert answer.done_reason == "stop"
    assert state.requests[-1].get("think") is None


def stream_once(llm: object, messages: list) -> None:
    import asyncio

    from app.llm import Generation

    async def run() -> None:
        stats = Generation("", "", "", 0, 0, "", 0.0)
        async for _ in llm.stream(messages, think="low", stats=stats):  # type: ignore[attr-defined]
            pass

    asyncio.run(run())


HELLO = [{"role": "user", "content": QUESTION}]


def test_a_model_still_loading_is_not_reported_as_unreachable(tmp_path: Path) -> None:
    from app.errors import LLMLoading
    from app.llm import OllamaLLM

    with OllamaStandin(StandinState(load_seconds=3)) as server:
        llm = OllamaLLM(make_settings(tmp_path, server.url, request_timeout=1))
        with pytest.raises(LLMLoading) as loading:
            llm.chat(HELLO, think="low")
    message = str(loading.value)
    assert "loading gpt-oss:20b" in message
    assert "KURA_REQUEST_TIMEOUT" in message
    assert "cannot reach" not in message
    assert loading.value.retry_after > 0


def test_a_loaded_model_too_slow_is_its_own_message(tmp_path: Path) -> None:
    from app.errors import LLMTimeout
    from app.llm import OllamaLLM

    with OllamaStandin(StandinState(delay_per_token=3)) as server:
        OllamaLLM(make_settings(tmp_path, server.url)).chat(HELLO, think="low")  # loads it
        llm = OllamaLLM(make_settings(tmp_path, server.url, request_timeout=1))
        with pytest.raises(LLMTimeout) as slow:
            stream_once(llm, HELLO)
    message = str(slow.value)
    assert "did not answer within 1 s" in message
    assert "KURA_REQUEST_TIMEOUT" in message
    assert "loading" not in message
    assert "cannot reach" not in message


def test_ollama_busy_past_its_queue_is_busy_with_retry_after(tmp_path: Path) -> None:
    import threading

    from app.errors import Busy
    from app.llm import OllamaLLM

    state = StandinState(delay_per_token=0.3, max_queue=0)
    with OllamaStandin(state) as server:
        other = OllamaLLM(make_settings(tmp_path, server.url))  # another client of Ollama
        holder = threading.Thread(target=stream_once, args=(other, HELLO))
        holder.start()
        while not state.generations:
            time.sleep(0.01)
        llm = OllamaLLM(make_settings(tmp_path, server.url))
        with pytest.raises(Busy) as busy:
            llm.chat(HELLO, think="low")
        holder.join()
    assert "OLLAMA_MAX_QUEUE" in str(busy.value)
    assert busy.value.retry_after > 0
    assert state.refused_busy == 1


def test_unreachable_missing_and_mid_stream_errors_say_what_happened(tmp_path: Path) -> None:
    from app.errors import LLMFailed, LLMUnavailable, ModelNotFound
    from app.llm import OllamaLLM
    from tests.support.server import free_port

    # Each failure marks its host down; closing the model ends the checks of it.
    unreachable = make_settings(tmp_path, f"http://127.0.0.1:{free_port()}")
    with OllamaLLM(unreachable) as dead, pytest.raises(LLMUnavailable, match="cannot reach"):
        dead.chat(HELLO, think="low")
    with (
        OllamaStandin(StandinState(models=["llama3.2:1b"])) as other,
        OllamaLLM(make_settings(tmp_path, other.url)) as missing,
        pytest.raises(ModelNotFound, match="ollama pull gpt-oss:20b"),
    ):
        missing.chat(HELLO, think="low")
    with (
        OllamaStandin(StandinState(error_after=2)) as failing,
        OllamaLLM(make_settings(tmp_path, failing.url)) as llm,
    ):
        with pytest.raises(LLMFailed, match="stopped in the middle of the answer"):
            stream_once(llm, HELLO)
        assert llm.gate.in_flight == 0


@pytest.mark.parametrize(("setting", "sent"), [(None, -1), ("30m", "30m"), ("0", 0)])
def test_keep_alive_is_sent_on_every_request(
    tmp_path: Path, setting: str | None, sent: object
) -> None:
    from app.llm import OllamaLLM

    extra = {} if setting is None else {"ollama_keep_alive": setting}
    with OllamaStandin(StandinState()) as server:
        llm = OllamaLLM(make_settings(tmp_path, server.url, **extra))
        llm.chat(HELLO, think="low")
        stream_once(llm, [{"role": "user", "content": "東京の天気は？"}])
        chats = [r for r in server.state.requests if r["path"] == "/api/chat"]
        loaded = server.state.loaded
    assert len(chats) == 2
    assert [r.get("keep_alive") for r in chats] == [sent, sent]
    assert loaded is (sent != 0)  # by default the model stays in memory


def test_a_keep_alive_ollama_cannot_parse_is_refused_at_startup(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="ollama_keep_alive"):
        make_settings(tmp_path, ollama_keep_alive="forever")
