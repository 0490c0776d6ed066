"""The Ollama stand-in backed by a real tiny model (SmolLM2-135M through llama.cpp), over HTTP.

SmolLM2's answers are fluent but often wrong: these tests assert mechanics (counts, streaming,
truncation, cancellation, encoding), never wording.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import pytest

from app.errors import ContextTruncated
from app.llm import OllamaLLM, Sampling
from tests.support.llm_backend import MODEL_NAME, SmolLM2Backend
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import make_settings

pytestmark = pytest.mark.llm

QUESTION = [
    {"role": "system", "content": "You are a helpful assistant. Answer in one sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]
GREEDY = {"num_predict": 16, "temperature": 0, "seed": 7}
# About 1,200 SmolLM2 tokens of English: more than a 512 or 1024 context.
LONG_TEXT = " ".join(
    f"Paragraph {i}: the warehouse in district {i} stores pallets of paper, ink and toner."
    for i in range(70)
)


@pytest.fixture(scope="module")
def backend() -> Iterator[SmolLM2Backend]:
    """One model for the module, loaded on first use, on one thread."""
    model = SmolLM2Backend(n_ctx=2048, threads=1)
    yield model
    model.close()


@pytest.fixture
def real(backend: SmolLM2Backend) -> Iterator[OllamaStandin]:
    """A fresh stand-in (fresh state) serving the shared model as ``smollm2:135m``."""
    with OllamaStandin(StandinState(models=[MODEL_NAME]), backend=backend) as server:
        yield server


def prompt_tokens(backend: SmolLM2Backend, messages: list[dict[str, str]]) -> int:
    """Real token count of the templated prompt, from the model's own tokenizer."""
    with backend.session() as llm:
        return len(llm.tokenize(llm.render(messages)))


def test_chat_reports_real_token_counts(real: OllamaStandin, backend: SmolLM2Backend) -> None:
    response = ollama.Client(host=real.url).chat(
        model=MODEL_NAME, messages=QUESTION, stream=False, options=GREEDY
    )
    assert response.message.content
    assert response.message.thinking is None
    assert 0 < (response.eval_count or 0) <= GREEDY["num_predict"]
    assert response.prompt_eval_count == prompt_tokens(backend, QUESTION)
    assert response.done_reason in {"stop", "length"}
    assert (response.total_duration or 0) >= (response.eval_duration or 0) > 0


def test_stream_sends_pieces_then_stats(real: OllamaStandin) -> None:
    client = ollama.Client(host=real.url)
    chunks = list(client.chat(model=MODEL_NAME, messages=QUESTION, stream=True, options=GREEDY))
    pieces, final = chunks[:-1], chunks[-1]
    assert len(pieces) >= 3
    assert not any(c.done for c in pieces)
    assert final.done
    assert final.done_reason in {"stop", "length"}
    assert len(pieces) <= (final.eval_count or 0) <= GREEDY["num_predict"]
    streamed = "".join(c.message.content or "" for c in pieces)
    # Greedy decoding: the same request unstreamed gives the same text.
    whole = client.chat(model=MODEL_NAME, messages=QUESTION, stream=False, options=GREEDY)
    assert streamed == whole.message.content
    assert final.prompt_eval_count == whole.prompt_eval_count


@pytest.mark.parametrize(("version", "kept"), [("0.12.6", 512), ("0.32.15", 512 - (512 - 4) // 2)])
def test_oversize_prompt_is_truncated_silently(
    backend: SmolLM2Backend, version: str, kept: int
) -> None:
    messages = [{"role": "user", "content": LONG_TEXT + "\nWhich district stores toner?"}]
    sent = prompt_tokens(backend, messages)
    assert sent > 512
    state = StandinState.like(version, models=[MODEL_NAME])
    with OllamaStandin(state, backend=backend) as server:
        response = ollama.Client(host=server.url).chat(
            model=MODEL_NAME, messages=messages, options={**GREEDY, "num_ctx": 512}
        )
    # v0.12-v0.30: num_keep tokens and the tail, exactly num_ctx; v0.31+: about half of it
    assert response.prompt_eval_count == kept
    # llama.cpp here does not shift a full window (real Ollama does and goes on): a prompt cut
    # to the whole window leaves no room to generate
    assert response.eval_count or response.done_reason == "length"
    assert state.generations[-1]["num_ctx"] == 512
    assert state.generations[-1]["prompt_tokens"] == sent


def test_oversize_prompt_is_refused_without_context_shift(backend: SmolLM2Backend) -> None:
    messages = [{"role": "user", "content": LONG_TEXT}]
    state = StandinState(models=[MODEL_NAME], truncation="refuse")
    with (
        OllamaStandin(state, backend=backend) as server,
        pytest.raises(ollama.ResponseError) as refused,
    ):
        ollama.Client(host=server.url).chat(
            model=MODEL_NAME, messages=messages, options={**GREEDY, "num_ctx": 512}
        )
    assert refused.value.status_code == 400
    assert "longer than the context length" in refused.value.error


def test_japanese_streams_whole_characters(real: OllamaStandin) -> None:
    messages = [{"role": "user", "content": "次の文を繰り返してください：東京は日本の首都です。"}]
    chunks = list(
        ollama.Client(host=real.url).chat(
            model=MODEL_NAME, messages=messages, stream=True, options={**GREEDY, "num_predict": 24}
        )
    )
    text = "".join(c.message.content or "" for c in chunks)
    assert text.strip()
    # A token that ends inside a UTF-8 sequence must not reach the client as U+FFFD.
    assert all("\ufffd" not in (c.message.content or "") for c in chunks)


def test_client_leaving_stops_generation(real: OllamaStandin) -> None:
    # Unbounded: left running, the model would fill its 2048-token context (~20 s here).
    body = {
        "model": MODEL_NAME,
        "messages": [{"role": "user", "content": "Tell me a long story about a dragon."}],
        "stream": True,
        "options": {"num_predict": -1, "temperature": 0},
    }
    with (
        httpx.Client(base_url=real.url, timeout=30) as http,
        http.stream("POST", "/api/chat", json=body) as response,
    ):
        first = next(response.iter_lines())
        assert '"done": false' in first
    deadline = time.monotonic() + 30
    while not real.state.generations and time.monotonic() < deadline:
        time.sleep(0.05)
    assert real.state.generations, "generation went on after the client left"
    (generation,) = real.state.generations
    assert generation["cancelled"]
    assert generation["eval_count"] < 100
    # llama.cpp itself stopped: the next request is served at once, not after the story.
    started = time.monotonic()
    ollama.Client(host=real.url).chat(model=MODEL_NAME, messages=QUESTION, options=GREEDY)
    assert time.monotonic() - started < 10


def test_show_reports_the_models_context(real: OllamaStandin) -> None:
    shown = ollama.Client(host=real.url).show(MODEL_NAME)
    assert shown.modelinfo is not None
    assert shown.modelinfo["llama.context_length"] == 8192
    assert shown.capabilities == ["completion"]


@pytest.mark.parametrize("version", ["0.12.6", "0.30.1", "0.32.15", "refuse"])
def test_kura_detects_truncation_by_a_smaller_model_context(
    backend: SmolLM2Backend, tmp_path: Path, version: str
) -> None:
    # The model is served with 1024 tokens of context (Ollama fit it to memory) although
    # /api/show says 8192 and kura asks for 4096: Ollama cuts the prompt as its version does
    # (or refuses it), and kura must notice from prompt_eval_count alone.
    if version == "refuse":
        state = StandinState(models=[MODEL_NAME], truncation="refuse", served_context=1024)
    else:
        state = StandinState.like(version, models=[MODEL_NAME], served_context=1024)
    with OllamaStandin(state, backend=backend) as server:
        settings = make_settings(
            tmp_path,
            ollama_host=server.url,
            ollama_model=MODEL_NAME,
            num_ctx=4096,
            answer_max_tokens=128,
            temperature=0,
        )
        llm = OllamaLLM(settings)
        short = llm.chat(QUESTION, think="low")
        assert short.content
        assert short.completion_tokens <= 128
        long = [QUESTION[0], {"role": "user", "content": LONG_TEXT + "\nWhich district?"}]
        with pytest.raises(ContextTruncated):
            llm.chat(long, think="low")
    if version != "refuse":
        generation = state.generations[-1]
        assert generation["prompt_eval_count"] < generation["prompt_tokens"]
    chats = [r for r in state.requests if r["path"] == "/api/chat"]
    assert {r["options"]["num_ctx"] for r in chats} == {4096}
    assert all(r.get("think") is None for r in chats)  # SmolLM2 cannot think


def test_kura_reports_an_answer_cut_by_num_predict(backend: SmolLM2Backend, tmp_path: Path) -> None:
    state = StandinState(models=[MODEL_NAME])
    with OllamaStandin(state, backend=backend) as server:
        settings = make_settings(
            tmp_path, ollama_host=server.url, ollama_model=MODEL_NAME, temperature=0
        )
        story = [{"role": "user", "content": "Tell me a long story about a dragon."}]
        cut = OllamaLLM(settings).chat(story, think="low", sampling=Sampling(num_predict=12))
    # The real model stops mid-sentence: an answer cut short, not an error and not empty.
    assert cut.done_reason == "length"
    assert cut.completion_tokens == 12
    assert cut.content.strip()
    assert state.generations[-1]["eval_count"] == 12
