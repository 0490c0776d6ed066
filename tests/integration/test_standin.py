"""The Ollama stand-in behaves as real Ollama does (each behaviour taken from Ollama's source,
see tests/support/ollama_standin.py), checked through the real `ollama` client over HTTP."""

from __future__ import annotations

import threading
import time

import ollama
import pytest

from tests.support.ollama_context import drop_messages
from tests.support.ollama_standin import (
    MAX_QUEUE_ERROR,
    REFUSE_ERROR,
    OllamaStandin,
    StandinState,
)

pytestmark = pytest.mark.integration

MODEL = "gpt-oss:20b"
LONG = " ".join(f"word{i}" for i in range(200))  # 200 stand-in tokens
SYSTEM = {"role": "system", "content": "rules " * 10}


def chat(server: OllamaStandin, content: str, **options: object) -> ollama.ChatResponse:
    messages = [SYSTEM, {"role": "user", "content": content}]
    return ollama.Client(host=server.url).chat(
        model=MODEL, messages=messages, stream=False, options=options
    )


def test_requests_queue_one_at_a_time_and_503_past_the_queue() -> None:
    state = StandinState(delay_per_token=0.1, max_queue=1)
    with OllamaStandin(state) as server:
        results: list[object] = []

        def ask() -> None:
            client = ollama.Client(host=server.url)
            try:
                stream = client.chat(
                    model=MODEL, messages=[{"role": "user", "content": "hello"}], stream=True
                )
                results.append(len(list(stream)))
            except ollama.ResponseError as exc:
                results.append(exc)

        workers = [threading.Thread(target=ask) for _ in range(3)]
        for worker in workers:
            worker.start()
            time.sleep(0.1)
        for worker in workers:
            worker.join()
    refused = [r for r in results if isinstance(r, ollama.ResponseError)]
    assert len(refused) == 1
    assert refused[0].status_code == 503
    assert refused[0].error == MAX_QUEUE_ERROR
    assert state.max_waiting == 1


def test_num_predict_spent_on_reasoning_ends_with_length_and_no_answer() -> None:
    with OllamaStandin(StandinState(reasoning_tokens=100)) as server:
        response = ollama.Client(host=server.url).chat(
            model=MODEL,
            messages=[{"role": "user", "content": "hello"}],
            think="high",
            stream=False,
            options={"num_predict": 40},
        )
    assert response.done_reason == "length"
    assert response.message.content == ""
    assert response.eval_count == 40
    assert response.message.thinking


@pytest.mark.parametrize(("version", "repeat_count"), [("0.30.0", "small"), ("0.30.1", "full")])
def test_prompt_eval_count_styles(version: str, repeat_count: str) -> None:
    with OllamaStandin(StandinState.like(version)) as server:
        first = chat(server, "What is the warranty period?")
        again = chat(server, "What is the warranty period?")
    assert first.prompt_eval_count
    assert first.prompt_eval_count > 10
    if repeat_count == "full":
        assert again.prompt_eval_count == first.prompt_eval_count
    else:  # v0.30.0 counts only what the prompt cache lacked
        assert again.prompt_eval_count == 1


@pytest.mark.parametrize(("version", "expected"), [("0.12.6", 64), ("0.32.15", 64 - (64 - 4) // 2)])
def test_truncation_as_each_version_cuts(version: str, expected: int) -> None:
    with OllamaStandin(StandinState.like(version)) as server:
        response = chat(server, LONG, num_ctx=64)
    assert response.prompt_eval_count == expected


def test_truncation_refused_when_context_shift_is_off() -> None:
    with OllamaStandin(StandinState(truncation="refuse")) as server:
        with pytest.raises(ollama.ResponseError) as refused:
            chat(server, LONG, num_ctx=64)
        assert chat(server, "short", num_ctx=64).done_reason == "stop"
    assert refused.value.status_code == 400
    assert refused.value.error == REFUSE_ERROR


def test_old_messages_dropped_as_each_version_drops_them() -> None:
    question = {"role": "user", "content": LONG}
    history = [SYSTEM, {"role": "user", "content": "old"}, question]

    def fits(chosen: list[dict[str, object]]) -> bool:
        return sum(len(str(m["content"]).split()) for m in chosen) <= 100

    # v0.12, a system prompt and one question too long together: the system prompt is lost
    assert drop_messages([SYSTEM, question], fits, "cut") == [question]
    # newer versions keep it (the runner then cuts the tokens)
    assert drop_messages([SYSTEM, question], fits, "shift") == [SYSTEM, question]
    # with history, both drop the old turn and keep the system prompt
    assert drop_messages(history, fits, "cut") == [SYSTEM, question]
    assert drop_messages(history, fits, "shift") == [SYSTEM, question]
    short = [SYSTEM, {"role": "user", "content": "hi"}]
    assert drop_messages(short, fits, "cut") == short


def test_show_reports_the_context_and_think_is_refused_without_the_capability() -> None:
    state = StandinState(context_length=8192, capabilities=["completion"])
    with OllamaStandin(state) as server:
        client = ollama.Client(host=server.url)
        shown = client.show(MODEL)
        assert shown.modelinfo is not None
        assert shown.modelinfo["gptoss.context_length"] == 8192
        with pytest.raises(ollama.ResponseError) as refused:
            client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}], think="low")
        assert refused.value.status_code == 400
        assert "does not support thinking" in refused.value.error
        plain = client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        assert plain.done


def test_slow_load_blocks_then_reports_load_duration() -> None:
    with OllamaStandin(StandinState(load_seconds=0.5)) as server:
        client = ollama.Client(host=server.url)
        assert client.ps().models == []
        started = time.monotonic()
        first = chat(server, "hello")
        assert time.monotonic() - started >= 0.5
        assert first.load_duration is not None
        assert first.load_duration >= 500_000_000
        assert [m.model for m in client.ps().models] == [MODEL]
        second = chat(server, "hello")
        assert second.load_duration is not None
        assert second.load_duration < 100_000_000


def test_mid_stream_error_line_ends_the_stream() -> None:
    with OllamaStandin(StandinState(error_after=2)) as server:
        stream = ollama.Client(host=server.url).chat(
            model=MODEL,
            messages=[{"role": "user", "content": "hello there, how are you today"}],
            stream=True,
        )
        received = []
        with pytest.raises(ollama.ResponseError, match="stopped unexpectedly"):
            received.extend(stream)
    assert len(received) == 2


def test_keep_alive_is_parsed_as_ollama_parses_it() -> None:
    with OllamaStandin(StandinState()) as server:
        client = ollama.Client(host=server.url)
        hello = [{"role": "user", "content": "hi"}]
        assert client.chat(model=MODEL, messages=hello, keep_alive="24h").done
        assert client.chat(model=MODEL, messages=hello, keep_alive=-1).done
        with pytest.raises(ollama.ResponseError, match="invalid duration"):
            client.chat(model=MODEL, messages=hello, keep_alive="forever")
        client.chat(model=MODEL, messages=hello, keep_alive=0)
        assert client.ps().models == []  # keep_alive 0 unloads at once


def test_an_embedding_model_loads_and_unloads_by_keep_alive() -> None:
    # Ollama's default keep_alive, 5 minutes, scaled to 0.6 s
    state = StandinState(
        embedding_models={"bge-m3": 1024}, embed_load_seconds=0.5, keep_alive_scale=0.002
    )
    with OllamaStandin(state) as server:
        client = ollama.Client(host=server.url)
        answer = client.embed(model="bge-m3", input=["ログの保存場所は？"])
        assert answer.load_duration >= 500_000_000  # a cold load
        running = client.ps().models
        assert [(m.name, m.model) for m in running] == [("bge-m3:latest", "bge-m3:latest")]
        assert running[0].size_vram == running[0].size  # all on the GPU
        assert running[0].details is not None
        assert running[0].details.family == "bert"
        time.sleep(1.0)
        assert client.ps().models == []  # unloaded after the server's default
        client.embed(model="bge-m3", input="pump pressure", keep_alive="10m")  # 1.2 s
        time.sleep(0.6)
        assert [m.model for m in client.ps().models] == ["bge-m3:latest"]
        client.embed(model="bge-m3", input="pump pressure", keep_alive=-1)
        assert client.ps().models[0].expires_at.year > 2200  # for good
        client.embed(model="bge-m3", input=[], keep_alive=0)
        assert client.ps().models == []  # 0: unloaded once answered
        assert server.runners.loads == 2
