"""Reasoning kept out of answers on the OpenAI-compatible backend, over HTTP: a server that
sends it in a field of its own (vLLM's `reasoning_content`, LM Studio's `reasoning`) and one
that inlines it as <think>...</think> in the text (a reasoning model served without a reasoning
parser). The server replays chat.completion.chunk frames as vLLM streams them
(vllm/entrypoints/openai/serving_chat.py: a role delta, reasoning deltas, content deltas, a
finish_reason delta, a usage chunk, then `data: [DONE]`)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from app.llm import Generation, build_llm
from app.llm.model import AnsweringModel
from tests.support.server import make_settings

pytestmark = pytest.mark.integration

REASONING = "ユーザーはE-417について尋ねている。The passage [1] says coolant."
ANSWER = "E-417 は冷却水の過熱を示します [1]。"


def deltas(style: str) -> list[dict[str, Any]]:
    """The deltas of one answer, as a server of ``style`` streams them."""
    if style == "inline":  # cut mid-tag on purpose, as tokens fall
        text = f"<think>{REASONING}</think>{ANSWER}"
        return [{"content": text[i : i + 3]} for i in range(0, len(text), 3)]
    return [{style: REASONING[i : i + 5]} for i in range(0, len(REASONING), 5)] + [
        {"content": ANSWER[i : i + 4]} for i in range(0, len(ANSWER), 4)
    ]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        base = {"id": "chatcmpl-1", "created": 1, "model": body["model"]}
        style = self.server.style
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant"}
            if style == "inline":
                message["content"] = f"<think>{REASONING}</think>{ANSWER}"
            else:
                message.update({style: REASONING, "content": ANSWER})
            usage = {"prompt_tokens": 40, "completion_tokens": 30, "total_tokens": 70}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            self._json({**base, "object": "chat.completion", "choices": [choice], "usage": usage})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = {**base, "object": "chat.completion.chunk"}
        frames = [{"role": "assistant", "content": ""}, *deltas(style)]
        for delta in frames:
            choice = {"index": 0, "delta": delta, "finish_reason": None}
            self._event({**chunk, "choices": [choice]})
        self._event({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        usage = {"prompt_tokens": 40, "completion_tokens": 30, "total_tokens": 70}
        self._event({**chunk, "choices": [], "usage": usage})
        self._write(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self) -> None:
        self._json(
            {
                "object": "list",
                "data": [{"id": "openai/gpt-oss-20b", "object": "model", "max_model_len": 8192}],
            }
        )

    def _json(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _event(self, body: dict[str, Any]) -> None:
        self._write(f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode())

    def _write(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, style: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.style = style
        self.requests: list[dict[str, Any]] = []


@pytest.fixture(params=["reasoning_content", "reasoning", "inline"])
def server(request: pytest.FixtureRequest) -> Iterator[_Server]:
    served = _Server(request.param)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()


def llm_for(server: _Server, tmp_path: Path) -> AnsweringModel:
    host, port = server.server_address[:2]
    settings = make_settings(
        tmp_path,
        llm_backend="openai",
        openai_base_url=f"http://{host!s}:{port}/v1",
        ollama_model="openai/gpt-oss-20b",
        reasoning_effort="medium",
    )
    return build_llm(settings)


def test_reasoning_never_reaches_the_answer(server: _Server, tmp_path: Path) -> None:
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
        assert (generation.prompt_tokens, generation.completion_tokens) == (40, 30)
        assert generation.done_reason == "stop"
    assert "".join(p.content for p in pieces) == ANSWER
    assert not any("think>" in p.content for p in pieces)
    assert server.requests[-1]["reasoning_effort"] == "medium"
    assert server.requests[-1]["max_tokens"] == llm.num_predict()
    assert llm.num_ctx == 8192  # vLLM's max_model_len, below KURA_NUM_CTX
    llm.close()
