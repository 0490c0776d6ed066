"""A stand-in for Ollama that speaks its real HTTP protocol, for tests and the offline demo.

It serves /api/version, /api/tags, /api/show, /api/ps and /api/chat (NDJSON streaming and not)
like Ollama does, so kura's production client code talks to it unchanged. Its "model" is
deterministic: it reads the numbered passages in the prompt, picks the one that shares the most
words with the question, and answers with that passage's first sentence and its citation [n].
With ``think`` set it also fills ``message.thinking``.

Like real Ollama it truncates silently: when the prompt has more tokens than the context
(options.num_ctx, capped by the model's own context length) it keeps only the last half of the
window, dropping the system prompt, and reports the smaller prompt_eval_count. A model that is
not listed gets 404, as from Ollama when a model is not pulled.

Run it alone: ``python -m tests.ollama_standin --port 11434``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PASSAGE = re.compile(r'<passage n="(\d+)"[^\n]*\n(.*?)\n</passage>', re.DOTALL)
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]|[A-Za-z0-9]+|[^\sA-Za-z0-9]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_SENTENCE = re.compile(r"(?<=[。！？])|(?<=[.!?])\s+")
DEFAULT_NUM_CTX = 4096  # what Ollama uses when a request sends no num_ctx


def tokens(text: str) -> list[str]:
    """The stand-in's tokenizer: words, single CJK characters and punctuation."""
    return _TOKEN.findall(text)


def _terms(text: str) -> set[str]:
    # Words for Latin text, character bigrams for Japanese (no spaces between words).
    words = {w.lower() for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9-]+", text)}
    cjk = re.findall(r"[\u3040-\u30ff\u3400-\u9fff]+", text)
    bigrams = {run[i : i + 2] for run in cjk for i in range(len(run) - 1)}
    return words | bigrams


_STOP = {
    "what",
    "does",
    "the",
    "is",
    "are",
    "how",
    "which",
    "who",
    "when",
    "where",
    "why",
    "a",
    "an",
    "of",
    "to",
    "in",
    "on",
    "for",
    "and",
    "or",
    "do",
    "it",
    "this",
    "that",
}


def compose_answer(prompt: str) -> tuple[str, str]:
    """Answer and reasoning from the passages and question in ``prompt``."""
    passages = [(int(n), text) for n, text in _PASSAGE.findall(prompt)]
    question = prompt.rsplit("Question:", 1)[-1].strip()
    japanese = bool(_KANA.search(question))
    wanted = _terms(question) - _STOP
    best, best_score = None, 0
    for n, text in passages:
        score = len(wanted & _terms(text))
        if score > best_score:
            best, best_score = (n, text), score
    if best is None:
        reasoning = "No passage shares terms with the question."
        if japanese:
            return "資料には記載がありません。", reasoning
        return "The documents do not cover this question.", reasoning
    n, text = best
    sentence = next((s.strip() for s in _SENTENCE.split(text) if s.strip()), text)
    reasoning = f"Passage {n} shares {best_score} terms with the question."
    if japanese:
        return f"資料によると、{sentence} [{n}]", reasoning
    return f"According to the documents: {sentence} [{n}]", reasoning


@dataclass
class StandinState:
    """What the stand-in serves, and what it was asked (for assertions)."""

    models: list[str] = field(default_factory=lambda: ["gpt-oss:20b"])
    context_length: int = 131072
    delay_per_token: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        body: dict[str, Any] = json.loads(raw or b"{}")
        return body

    def _missing(self, model: str) -> bool:
        if model in self.server.state.models:
            return False
        self._send_json(404, {"error": f"model '{model}' not found"})
        return True

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == "/api/version":
            self._send_json(200, {"version": "0.12.6"})
        elif self.path == "/api/tags":
            models = [
                {
                    "name": m,
                    "model": m,
                    "modified_at": _now(),
                    "size": 13_780_000_000,
                    "digest": "0" * 64,
                    "details": {
                        "family": "gptoss",
                        "parameter_size": "20.9B",
                        "quantization_level": "MXFP4",
                        "format": "gguf",
                    },
                }
                for m in state.models
            ]
            self._send_json(200, {"models": models})
        elif self.path == "/api/ps":
            self._send_json(200, {"models": []})
        elif self.path == "/":
            body = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._send_json(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = self._body()
        self.server.state.requests.append({"path": self.path, **body})
        if self.path == "/api/show":
            if not self._missing(body.get("model", "")):
                self._send_json(
                    200,
                    {
                        "modelfile": "",
                        "parameters": "",
                        "template": "{{ .Prompt }}",
                        "details": {"family": "gptoss"},
                        "model_info": {"gptoss.context_length": self.server.state.context_length},
                        "capabilities": ["completion", "tools", "thinking"],
                    },
                )
        elif self.path == "/api/chat":
            self._chat(body)
        else:
            self._send_json(404, {"error": "not found"})

    def _chat(self, body: dict[str, Any]) -> None:
        state = self.server.state
        model = body.get("model", "")
        if self._missing(model):
            return
        options = body.get("options") or {}
        num_ctx = min(int(options.get("num_ctx") or DEFAULT_NUM_CTX), state.context_length)
        messages = body.get("messages") or []
        prompt_tokens = [t for m in messages for t in tokens(m.get("content", ""))]
        prompt = "\n".join(m.get("content", "") for m in messages)
        if len(prompt_tokens) > num_ctx:
            # Ollama keeps the end of an oversize prompt, about half the window.
            keep = num_ctx // 2 + 2
            kept = prompt_tokens[-keep:]
            prompt = " ".join(kept)
            evaluated = len(kept)
        else:
            evaluated = len(prompt_tokens)
        answer, reasoning = compose_answer(prompt)
        think = body.get("think")
        thinking = reasoning if think not in (None, False) else ""
        pieces = re.findall(r"\S+\s*|\s+", answer)
        stats = {
            "done": True,
            "done_reason": "stop",
            "total_duration": 1_000_000,
            "load_duration": 1000,
            "prompt_eval_count": evaluated,
            "prompt_eval_duration": 1000,
            "eval_count": len(tokens(answer)) + len(tokens(thinking)),
            "eval_duration": 1000,
        }
        if body.get("stream", True) is False:
            message = {"role": "assistant", "content": answer}
            if thinking:
                message["thinking"] = thinking
            self._send_json(
                200, {"model": model, "created_at": _now(), "message": message, **stats}
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        frames: list[dict[str, Any]] = []
        if thinking:
            frames.append({"role": "assistant", "content": "", "thinking": thinking})
        frames.extend({"role": "assistant", "content": p} for p in pieces)
        try:
            for message in frames:
                self._chunk(
                    {"model": model, "created_at": _now(), "message": message, "done": False}
                )
                if state.delay_per_token:
                    time.sleep(state.delay_per_token)
            final = {"role": "assistant", "content": ""}
            self._chunk({"model": model, "created_at": _now(), "message": final, **stats})
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return

    def _chunk(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode() + b"\n"
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: StandinState) -> None:
        super().__init__(address, _Handler)
        self.state = state


class OllamaStandin:
    """Runs the stand-in on a loopback port in a background thread."""

    def __init__(self, state: StandinState | None = None, port: int = 0) -> None:
        self.state = state or StandinState()
        self._server = _Server(("127.0.0.1", port), self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> OllamaStandin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--model", action="append", help="model to list (repeatable)")
    args = parser.parse_args()
    state = StandinState(models=args.model or ["gpt-oss:20b"])
    server = _Server(("127.0.0.1", args.port), state)
    print(f"Ollama stand-in on http://127.0.0.1:{args.port} (models: {', '.join(state.models)})")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
