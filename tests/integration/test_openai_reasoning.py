"""Reasoning kept out of answers on the OpenAI-compatible backend, over HTTP: a server that
sends it in a field of its own (vLLM's `reasoning_content`, LM Studio's `reasoning`) and one
that inlines it as <think>...</think> in the text (a reasoning model served without a reasoning
parser). The server replays chat.completion.chunk frames as vLLM streams them
(tests/support/openai_standin.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.llm import Generation, build_llm
from app.llm.model import AnsweringModel
from tests.support.openai_standin import (
    ANSWERS,
    COMPLETION_TOKENS,
    MODEL,
    REASONING,
    OpenAIStandin,
    prompt_tokens,
)
from tests.support.server import make_settings

pytestmark = pytest.mark.integration

ANSWER = ANSWERS["ja"]


@pytest.fixture(params=["reasoning_content", "reasoning", "inline"])
def server(request: pytest.FixtureRequest) -> Iterator[OpenAIStandin]:
    with OpenAIStandin(request.param) as served:
        yield served


def llm_for(server: OpenAIStandin, tmp_path: Path) -> AnsweringModel:
    settings = make_settings(
        tmp_path,
        llm_backend="openai",
        openai_base_url=server.url,
        ollama_model=MODEL,
        reasoning_effort="medium",
    )
    return build_llm(settings)


def test_reasoning_never_reaches_the_answer(server: OpenAIStandin, tmp_path: Path) -> None:
    llm = llm_for(server, tmp_path)
    messages = [{"role": "user", "content": "E-417 とは？"}]
    whole = llm.chat(messages, think="medium")
    stats = Generation("", "", "", 0, 0, "", 0.0)
    pieces = []

    async def stream() -> None:
        async for piece in llm.stream(messages, think="medium", stats=stats):
            pieces.append(piece)

    asyncio.run(stream())
    for generation in (whole, stats):
        assert generation.content == ANSWER
        assert generation.thinking == REASONING
        assert generation.prompt_tokens == prompt_tokens(messages)
        assert generation.completion_tokens == COMPLETION_TOKENS
        assert generation.done_reason == "stop"
    assert "".join(p.content for p in pieces) == ANSWER
    assert not any("think>" in p.content for p in pieces)
    assert server.requests[-1]["reasoning_effort"] == "medium"
    assert server.requests[-1]["max_tokens"] == llm.num_predict()
    assert llm.num_ctx == 8192  # vLLM's max_model_len, below KURA_NUM_CTX
    llm.close()
