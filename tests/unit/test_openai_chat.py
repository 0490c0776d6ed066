"""The OpenAI-compatible backend's parts that need no server: reasoning kept out of the answer
however the server sends it, and the server's refusals mapped to kura's errors."""

from __future__ import annotations

from pathlib import Path

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from app.errors import Busy, ContextTruncated, LLMFailed, LLMTimeout, LLMUnavailable, ModelNotFound
from app.llm.hosts import Host
from app.llm.model import HostDown
from app.llm.openai_chat import OpenAIChatLLM, ThinkSplitter, _reasoning
from tests.support.server import make_settings

pytestmark = pytest.mark.unit

INLINE = [
    ("<think>The user asks about E-417.</think>E-417 means coolant low [1].", "en"),
    ("<think>質問はエラーE-417について。</think>E-417 は冷却液不足を示します [1]。", "ja"),
]


@pytest.mark.parametrize(("text", "language"), INLINE)
def test_inline_think_is_split_out_wherever_the_pieces_break(text: str, language: str) -> None:
    reasoning, answer = text.removeprefix("<think>").split("</think>")
    for size in range(1, len(text) + 1):
        split = ThinkSplitter()
        pieces = [split.feed(text[i : i + size]) for i in range(0, len(text), size)]
        pieces.append(split.flush())
        assert "".join(p.content for p in pieces) == answer, (language, size)
        assert "".join(p.thinking for p in pieces) == reasoning, (language, size)


def test_text_that_only_looks_like_a_tag_is_kept() -> None:
    split = ThinkSplitter()
    pieces = [split.feed("a < b and <thin"), split.feed("gs> stay"), split.flush()]
    assert "".join(p.content for p in pieces) == "a < b and <things> stay"
    assert not any(p.thinking for p in pieces)
    cut = ThinkSplitter()
    first = cut.feed("answer <thi")  # the stream ends here: what was held back is answer
    assert first.content == "answer "
    assert cut.flush().content == "<thi"


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_fields_of_vllm_and_lm_studio_are_read(field: str) -> None:
    # a chunk as vLLM (reasoning_content; `reasoning` since 0.10) and LM Studio send it
    chunk = ChatCompletionChunk.model_validate(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "openai/gpt-oss-20b",
            "choices": [{"index": 0, "delta": {field: "ユーザーは質問している", "content": None}}],
        }
    )
    assert _reasoning(chunk.choices[0].delta) == "ユーザーは質問している"
    assert chunk.choices[0].delta.content is None


def status_error(status: int, body: dict) -> openai.APIStatusError:
    request = httpx2.Request("POST", "http://vllm:8000/v1/chat/completions")
    response = httpx2.Response(status, json=body, request=request)
    client = openai.OpenAI(base_url="http://vllm:8000/v1", api_key="k", max_retries=0)
    return client._make_status_error_from_response(response)


@pytest.fixture
def llm(tmp_path: Path) -> OpenAIChatLLM:
    settings = make_settings(tmp_path, llm_backend="openai", openai_base_url="http://vllm:8000/v1")
    return OpenAIChatLLM(settings)


HOST = Host("http://vllm:8000/v1", 1)


@pytest.mark.parametrize(
    ("status", "body", "kind", "down"),
    [
        # vLLM's bodies (vllm/entrypoints/openai/serving_engine.py)
        (
            404,
            {"error": {"message": "The model `gpt-oss:20b` does not exist."}},
            ModelNotFound,
            True,
        ),
        (
            400,
            {
                "error": {
                    "message": "This model's maximum context length is 8192 tokens. However, "
                    "you requested 9000 tokens (5000 in the messages, 4000 in the completion)."
                }
            },
            ContextTruncated,
            False,
        ),
        # llama.cpp's (tools/server/server.cpp, exceed_context_size_error)
        (
            400,
            {
                "error": {
                    "code": 400,
                    "message": "request (3031 tokens) exceeds the available context size "
                    "(2048 tokens), try increasing it",
                    "type": "exceed_context_size_error",
                }
            },
            ContextTruncated,
            False,
        ),
        (401, {"error": {"message": "Invalid API Key"}}, LLMUnavailable, True),
        (429, {"error": {"message": "too many requests"}}, Busy, False),
        (500, {"error": {"message": "engine dead"}}, LLMUnavailable, True),
    ],
)
def test_server_refusals_become_kuras_errors(
    llm: OpenAIChatLLM, status: int, body: dict, kind: type, down: bool
) -> None:
    error = llm._error(HOST, status_error(status, body))
    assert isinstance(error, HostDown) is down
    found = error.error if isinstance(error, HostDown) else error
    assert type(found) is kind
    assert HOST.url in str(found)


def test_connection_and_mid_stream_errors(llm: OpenAIChatLLM) -> None:
    request = httpx2.Request("POST", "http://vllm:8000/v1/chat/completions")
    refused = openai.APIConnectionError(request=request)
    refused.__cause__ = httpx2.ConnectError("refused")
    down = llm._error(HOST, refused)
    assert isinstance(down, HostDown)
    assert down.retry_same
    assert "cannot reach the OpenAI-compatible server" in str(down.error)
    broken = llm._error(HOST, openai.APIError("engine died", request, body=None))
    assert isinstance(broken, LLMFailed)


def test_a_timeout_is_a_hang_only_when_another_host_could_take_the_question(
    llm: OpenAIChatLLM,
) -> None:
    request = httpx2.Request("POST", "http://vllm:8000/v1/chat/completions")
    silent = openai.APITimeoutError(request=request)
    silent.__cause__ = httpx2.ReadTimeout("nothing read")
    hung = llm._error(HOST, silent, eager=True)
    assert isinstance(hung, HostDown)
    assert isinstance(hung.error, LLMTimeout)
    assert "KURA_LLM_HANG_TIMEOUT" in str(hung.error)
    assert "the OpenAI-compatible server" in str(hung.error)
    alone = llm._error(HOST, silent)  # the only host up: waited KURA_REQUEST_TIMEOUT
    assert isinstance(alone, LLMTimeout)
    assert "KURA_REQUEST_TIMEOUT" in str(alone)


def test_a_connection_not_made_in_time_is_a_host_not_reachable(llm: OpenAIChatLLM) -> None:
    # a firewall dropping packets: the connection times out (on main: LLMTimeout, no failover)
    request = httpx2.Request("POST", "http://vllm:8000/v1/chat/completions")
    unreachable = openai.APITimeoutError(request=request)
    unreachable.__cause__ = httpx2.ConnectTimeout("no connection")
    down = llm._error(HOST, unreachable)
    assert isinstance(down, HostDown)
    assert down.retry_same
    assert "cannot reach the OpenAI-compatible server" in str(down.error)
