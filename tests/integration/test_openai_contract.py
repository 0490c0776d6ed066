"""kura's OpenAI-compatible API against the OpenAI contract, through the real `openai` SDK and
raw HTTP: the error shape, the parameters that must take effect or be refused, usage in the
stream, and the headers."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.support.ollama_standin import OllamaStandin

pytestmark = pytest.mark.integration

QUESTION = "What does error E-417 mean on the HX-400?"
QUESTION_JA = "HX-400 のエラー E-417 はどういう意味ですか？"
MODEL = "kura:corpus"


@pytest.fixture
def sdk(api: httpx.Client) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api.base_url}/v1", api_key="unused", max_retries=0)


def chats(ollama: OllamaStandin) -> list[dict]:
    return [r for r in ollama.state.requests if r["path"] == "/api/chat"]


def stream_lines(response: httpx.Response) -> list[dict]:
    found = []
    for frame in response.text.strip().split("\n\n"):
        data = frame.removeprefix("data: ")
        if data != "[DONE]":
            found.append(json.loads(data))
    return found


def test_errors_come_in_openai_shape(
    api: httpx.Client, sdk: openai.OpenAI, ollama: OllamaStandin
) -> None:
    messages = [{"role": "user", "content": QUESTION}]
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.chat.completions.create(model="kura:nothing", messages=messages)  # type: ignore[arg-type]
    assert missing.value.message == "Error code: 404 - no such model: kura:nothing"
    body = missing.value.body
    assert isinstance(body, dict)
    assert set(body) == {"message", "type", "code"}  # the SDK hands over body["error"]

    invalid = api.post("/v1/chat/completions", json={"model": MODEL, "messages": []})
    assert invalid.status_code == 400
    error = invalid.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "messages" in error["message"]

    ollama.state.models = ["llama3.2:1b"]  # the model is not pulled: a kura error
    try:
        with pytest.raises(openai.InternalServerError) as down:
            sdk.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
    finally:
        ollama.state.models = ["gpt-oss:20b"]
    assert down.value.status_code == 503
    assert "ollama pull gpt-oss:20b" in down.value.message
    assert down.value.code == "llm_unavailable"

    # kura's own API keeps its shape
    own = api.post("/v1/query", json={"question": QUESTION, "collection": "nothing"})
    assert own.status_code == 404
    assert "detail" in own.json()


@pytest.mark.parametrize("question", [QUESTION, QUESTION_JA])
def test_max_tokens_temperature_and_stop_take_effect(
    sdk: openai.OpenAI, ollama: OllamaStandin, question: str
) -> None:
    before = len(chats(ollama))
    sdk.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": question}],
        max_tokens=300,
        temperature=0.9,
        stop=["\n\n"],
    )
    sdk.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": question}],
        max_completion_tokens=700,
        stop="END",
    )
    first, second = chats(ollama)[before:]
    assert first["options"]["num_predict"] == 300
    assert first["options"]["temperature"] == 0.9
    assert first["options"]["stop"] == ["\n\n"]
    assert second["options"]["num_predict"] == 700
    assert second["options"]["stop"] == ["END"]
    assert second["options"]["temperature"] == 0.2  # kura's setting when none is sent


@pytest.mark.parametrize(
    ("instructions", "question"),
    [
        ("Answer in one short sentence, in French.", QUESTION),
        ("敬語で、一文で答えてください。", QUESTION_JA),
    ],
)
def test_system_messages_are_the_users_instructions_below_kuras_rules(
    sdk: openai.OpenAI, ollama: OllamaStandin, instructions: str, question: str
) -> None:
    from app.prompt import SYSTEM_PROMPT

    sdk.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": instructions},
            {"role": "user", "content": question},
        ],
    )
    system = chats(ollama)[-1]["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith(SYSTEM_PROMPT)  # kura's grounding rules come first
    assert system["content"].index(instructions) > len(SYSTEM_PROMPT)
    assert "the rules above win" in system["content"]


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"n": 2}, "n > 1 is not supported"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
            "tools are not supported",
        ),
        ({"response_format": {"type": "json_object"}}, "response_format 'json_object'"),
    ],
)
def test_unsupported_parameters_are_refused_not_ignored(
    sdk: openai.OpenAI, ollama: OllamaStandin, extra: dict, reason: str
) -> None:
    before = len(chats(ollama))
    with pytest.raises(openai.BadRequestError, match=reason):
        sdk.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": QUESTION}],
            **extra,
        )
    assert len(chats(ollama)) == before  # refused before the model was asked


def test_stream_sends_usage_when_asked_and_no_proxy_buffering(
    api: httpx.Client, sdk: openai.OpenAI
) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": QUESTION}], "stream": True}
    plain = api.post("/v1/chat/completions", json=body)
    assert plain.headers["x-accel-buffering"] == "no"
    assert all("usage" not in c for c in stream_lines(plain))

    chunks = list(
        sdk.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": QUESTION_JA}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:-1]).startswith("資料")
