"""kura's OpenAI-compatible API against the OpenAI contract, through the real `openai` SDK and
raw HTTP: the error shape, the parameters that must take effect or be refused, usage in the
stream, and the headers."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from ingest.pipeline import IngestReport
from tests.conftest import LiveServer, make_settings
from tests.ollama_standin import OllamaStandin, StandinState

pytestmark = pytest.mark.integration

QUESTION = "What does error E-417 mean on the HX-400?"
QUESTION_JA = "HX-400 のエラー E-417 はどういう意味ですか？"
MODEL = "kura:corpus"


@pytest.fixture(scope="module")
def ollama() -> Iterator[OllamaStandin]:
    with OllamaStandin(StandinState()) as server:
        yield server


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory,
    indexed: tuple[Path, IngestReport],
    ollama: OllamaStandin,
) -> Iterator[httpx.Client]:
    data_dir = tmp_path_factory.mktemp("openai") / "data"
    shutil.copytree(indexed[0], data_dir)
    with LiveServer(make_settings(data_dir, ollama.url)) as client:
        yield client


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
