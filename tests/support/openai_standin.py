"""An OpenAI-compatible server that streams /v1/chat/completions as vLLM does
(vllm/entrypoints/openai/serving_chat.py, chat_completion_stream_generator): the headers at
once, then a role delta, reasoning deltas, content deltas, a finish_reason delta, a usage chunk,
then `data: [DONE]`; a whole answer (stream=false) only once it is finished.

Switches a test sets while it runs: ``style`` (where the reasoning goes: vLLM's
`reasoning_content`, LM Studio's `reasoning`, or inline as <think>...</think>), ``interval``
(seconds before each frame: a slow but live server), ``hang`` (reads the request and never
answers: a stuck GPU, a firewall dropping packets) and ``stall_after`` (sends the headers and
that many frames, then nothing: an engine that deadlocks mid-answer).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

MODEL = "openai/gpt-oss-20b"
REASONING = "ユーザーはE-417について尋ねている。The passage [1] says coolant."
ANSWERS = {
    "ja": "E-417 は冷却水の過熱を示します [1]。",
    "en": "E-417 means the coolant is overheating [1].",
}
COMPLETION_TOKENS = 30


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """The prompt tokens the stand-in reports: one per character (at least as many as a real
    tokenizer counts), plus its chat template's, so kura never takes the prompt for cut."""
    return sum(len(str(m.get("content", ""))) for m in messages) + 20


def usage(messages: list[dict[str, Any]]) -> dict[str, int]:
    prompt = prompt_tokens(messages)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": prompt + COMPLETION_TOKENS,
    }


def answer_to(question: str) -> str:
    """The stand-in's answer to ``question`` (or to kura's prompt, which ends with it after
    "Question:"), in its language."""
    question = question.rsplit("Question:", 1)[-1]
    japanese = any("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in question)
    return ANSWERS["ja" if japanese else "en"]


def deltas(style: str, answer: str) -> list[dict[str, Any]]:
    """The deltas of one answer, as a server of ``style`` streams them."""
    if style == "inline":  # cut mid-tag on purpose, as tokens fall
        text = f"<think>{REASONING}</think>{answer}"
        return [{"content": text[i : i + 3]} for i in range(0, len(text), 3)]
    return [{style: REASONING[i : i + 5]} for i in range(0, len(REASONING), 5)] + [
        {"content": answer[i : i + 4]} for i in range(0, len(answer), 4)
    ]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    used: dict[str, int]  # the usage of the request being answered
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        standin = self.server.standin
        standin.requests.append(body)
        if standin.hang:
            standin.closed.wait()
            return
        question = str(body["messages"][-1]["content"])
        base = {"id": "chatcmpl-1", "created": 1, "model": body["model"]}
        self.used = usage(body["messages"])
        parts = deltas(standin.style, answer_to(question))
        if body.get("stream"):
            self._stream(base, parts)
        else:  # as long as the streamed answer's frames take
            time.sleep(standin.interval * (len(parts) + 3))
            self._whole(base, answer_to(question))

    def _whole(self, base: dict[str, Any], answer: str) -> None:
        style = self.server.standin.style
        message: dict[str, Any] = {"role": "assistant"}
        if style == "inline":
            message["content"] = f"<think>{REASONING}</think>{answer}"
        else:
            message.update({style: REASONING, "content": answer})
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        self._json({**base, "object": "chat.completion", "choices": [choice], "usage": self.used})

    def _stream(self, base: dict[str, Any], parts: list[dict[str, Any]]) -> None:
        standin = self.server.standin
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        chunk = {**base, "object": "chat.completion.chunk"}
        frames = [
            {**chunk, "choices": [{"index": 0, "delta": d, "finish_reason": None}]}
            for d in [{"role": "assistant", "content": ""}, *parts]
        ]
        frames.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        frames.append({**chunk, "choices": [], "usage": self.used})
        for n, frame in enumerate(frames):
            if n == standin.stall_after:
                standin.closed.wait()
                return
            time.sleep(standin.interval)
            self._write(f"data: {json.dumps(frame, ensure_ascii=False)}\n\n".encode())
        self._write(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self) -> None:
        model = {"id": self.server.standin.model, "object": "model", "max_model_len": 8192}
        self._json({"object": "list", "data": [model]})

    def _json(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _write(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, standin: OpenAIStandin) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.standin = standin


class OpenAIStandin:
    """The server, serving ``model``, on a loopback port while in a ``with`` block;
    ``requests`` are the chat requests it read, in order."""

    def __init__(self, style: str = "reasoning_content", model: str = MODEL) -> None:
        self.style, self.model = style, model
        self.interval = 0.0
        self.hang = False
        self.stall_after: int | None = None
        self.requests: list[dict[str, Any]] = []
        self.closed = threading.Event()  # ends the handlers that hang
        self._server = _Server(self)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed.set()
        self._server.shutdown()
        self._server.server_close()
