"""The stand-in's /api/embed: deterministic vectors, and Ollama's answers, read from its source.

Vectors are a hashed bag of features (Latin words, single CJK characters and CJK character
bigrams, so Japanese texts that share words are near), seeded by the model's name (two models
never share a space, as two real ones do not), L2-normalised as Ollama normalises every vector.

Ollama's behaviours (server/routes.go EmbedHandler; handleScheduleError):
- a model not pulled: 404 ``model "x" not found, try pulling it first``;
- ``input`` neither a string nor a list of strings: 400 ``invalid input type``; empty: 200, [];
- a model that does not embed is refused after loading: v0.12.6's runner answers 501 and the
  handler 500 ``this model does not support embeddings`` (runner/ollamarunner/runner.go:938,
  server/routes.go:606-746); from v0.30 llama-server answers 501 ``This server does not support
  embeddings. Start it with `--embeddings``` and Ollama passes it on (llm/llama_server.go
  Embedding, normalizeEmbeddingError);
- a text longer than the context (min(num_ctx, the model's), less BOS and EOS) is cut to it
  unless ``truncate`` is false: then 400, ``input exceeds maximum context length`` (v0.12.6)
  or ``the input length exceeds the context length`` (v0.30+);
- ``dimensions`` below the vector's length cuts it and normalises it again.

``Runners`` keeps the embedding models in memory as Ollama's scheduler does (server/sched.go,
api/types.go Duration): loads, keep_alive, unloads, and what /api/ps lists.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_WORDS = re.compile(r"[0-9a-z]+")
# The stand-in's tokens (as ollama_standin.tokens): words, single CJK characters, punctuation.
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]|[A-Za-z0-9]+|[^\sA-Za-z0-9]")
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]+")
DEFAULT_NUM_CTX = 4096  # api.DefaultOptions NumCtx: a request without options.num_ctx
_SPECIAL_TOKENS = 2  # BOS and EOS the runner adds (adjustTokenLimit)
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Refusal:
    """An error answer: status and Ollama's message."""

    status: int
    message: str


def _llama_server_era(version: str) -> bool:
    major, minor = (int(x) for x in version.split(".")[:2])
    return (major, minor) >= (0, 30)


def keep_alive_seconds(value: float | str) -> float:
    """A request's keep_alive as api.Duration reads it: a number is seconds, a string a Go
    duration (already checked), below zero for good (inf)."""
    if isinstance(value, str):
        sign = -1 if value.startswith("-") else 1
        value = sign * sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))
    return math.inf if value < 0 else float(value)


def features(text: str) -> list[str]:
    """What the stand-in's embedding counts: words, CJK characters and CJK bigrams."""
    lowered = text.lower()
    found = _WORDS.findall(lowered)
    for run in _CJK_RUN.findall(lowered):
        found.extend(run)
        found.extend(run[i : i + 2] for i in range(len(run) - 1))
    return found or [""]


def normalise(values: list[float]) -> list[float]:
    """``values`` scaled to length 1 (Ollama's normalize)."""
    norm = math.sqrt(sum(v * v for v in values))
    return [v / max(norm, 1e-12) for v in values]


def vector(model: str, text: str, dimension: int) -> list[float]:
    """The embedding of ``text`` by ``model``: the same in every process and run."""
    values = [0.0] * dimension
    # Each feature lands once in every nested prefix (32, 64, ... dimensions), as models trained
    # for ``dimensions`` (Matryoshka) keep meaning in a vector's head.
    prefixes = [n for n in (32, 64, 128, 256, 512, 1024, 2048) if n < dimension] + [dimension]
    for feature in features(text):
        for size in prefixes:
            key = f"{model}\x00{size}\x00{feature}".encode()
            digest = hashlib.blake2b(key, digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % size
            values[index] += 1.0 if digest[4] & 1 else -1.0
    return normalise(values)


def inputs(raw: Any) -> list[str] | Refusal:
    if isinstance(raw, str):
        return [raw] if raw else []
    if isinstance(raw, list):
        if not all(isinstance(x, str) for x in raw):
            return Refusal(400, "invalid input type")
        return list(raw)
    if raw is not None:
        return Refusal(400, "invalid input type")
    return []


def embed(
    body: dict[str, Any],
    *,
    dimensions: dict[str, int],
    chat_models: list[str],
    context_length: int,
    version: str,
) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of Ollama's answer to /api/embed ``body``. ``dimensions``: the
    embedding models pulled and their vector sizes; ``chat_models``: the others pulled."""
    model = str(body.get("model", ""))
    texts = inputs(body.get("input"))
    if isinstance(texts, Refusal):
        return texts.status, {"error": texts.message}
    if model not in dimensions and model not in chat_models:
        return 404, {"error": f'model "{model}" not found, try pulling it first'}
    if not texts:
        return 200, {"model": model, "embeddings": []}
    if model not in dimensions:
        if _llama_server_era(version):
            message = "This server does not support embeddings. Start it with `--embeddings`"
            return 501, {"error": message}
        return 500, {"error": "this model does not support embeddings"}
    num_ctx = int((body.get("options") or {}).get("num_ctx") or DEFAULT_NUM_CTX)
    limit = min(num_ctx, context_length) - _SPECIAL_TOKENS
    truncate = body.get("truncate", True) is not False
    vectors, counted = [], 0
    for text in texts:
        spans = list(_TOKEN.finditer(text))
        if len(spans) > limit:
            if not truncate:
                if _llama_server_era(version):
                    return 400, {"error": "the input length exceeds the context length"}
                return 400, {"error": "input exceeds maximum context length"}
            text = text[: spans[limit - 1].end()]  # the detokenized head: what the model reads
            spans = spans[:limit]
        counted += len(spans)
        embedded = vector(model, text, dimensions[model])
        wanted = int(body.get("dimensions") or 0)
        if 0 < wanted < len(embedded):
            embedded = normalise(embedded[:wanted])
        vectors.append(embedded)
    answer = {
        "model": model,
        "embeddings": vectors,
        "total_duration": 1_000_000,
        "load_duration": 1000,
        "prompt_eval_count": counted,
    }
    return 200, answer


def show(model: str, dimension: int, context_length: int) -> dict[str, Any]:
    """/api/show of an embedding model, as Ollama answers for bge-m3 (a BERT encoder)."""
    return {
        "modelfile": "",
        "parameters": "",
        "template": "",
        "details": {"family": "bert", "parameter_size": "566.70M", "quantization_level": "F16"},
        "model_info": {
            "general.architecture": "bert",
            "bert.context_length": context_length,
            "bert.embedding_length": dimension,
            "bert.pooling_type": 2,
        },
        "capabilities": ["embedding"],
    }


@dataclass
class _Runner:
    """An embedding model in memory: requests using it, and the keep_alive it has now."""

    session: float  # seconds it stays once idle (inf: for good)
    users: int = 0
    expires: float = math.inf  # time.monotonic() it unloads at; inf while in use


class Runners:
    """The embedding models in memory, as Ollama's scheduler keeps them (server/sched.go).

    A request loads its model unless it is in memory, in ``load_seconds`` (nothing is sent
    meanwhile; other requests for the model wait for that load; a load whose request went away
    is dropped, as WaitUntilRunning(req.ctx) drops it). Once no request uses it, the model stays
    for its keep_alive: the last request's (useLoadedRunner), else the one it was loaded with,
    the request's or the server's ``default_keep_alive`` (OLLAMA_KEEP_ALIVE, 5 minutes); every
    keep_alive is multiplied by ``scale`` so that tests take seconds. 0 unloads it at once,
    below zero keeps it for good (api.Duration).
    """

    def __init__(self, load_seconds: float, default_keep_alive: float, scale: float) -> None:
        self.load_seconds = load_seconds
        self.default_keep_alive = default_keep_alive
        self.scale = scale
        self.loads = 0  # loads completed
        self._runners: dict[str, _Runner] = {}
        self._loading: set[str] = set()
        self._changed = threading.Condition()

    def _session(self, keep_alive: Any, current: float | None) -> float:
        if keep_alive is None:
            return self.default_keep_alive * self.scale if current is None else current
        return keep_alive_seconds(keep_alive) * self.scale

    def _in_memory(self, model: str) -> _Runner | None:
        runner = self._runners.get(model)
        if runner is not None and runner.users == 0 and runner.expires <= time.monotonic():
            del self._runners[model]  # its keep_alive ran out
            return None
        return runner

    def loading(self) -> bool:
        """Whether a load is in progress."""
        with self._changed:
            return bool(self._loading)

    def acquire(self, model: str, keep_alive: Any, gone: Callable[[], bool]) -> int | None:
        """``model`` in memory for one request, loaded first if it is not: nanoseconds spent
        loading; None when the request went away while it waited for the load."""
        with self._changed:
            while model in self._loading:
                if gone():
                    return None
                self._changed.wait(0.05)
            runner = self._in_memory(model)
            if runner is not None:
                runner.users += 1
                runner.expires = math.inf
                runner.session = self._session(keep_alive, runner.session)
                return 0
            self._loading.add(model)
        started = time.perf_counter_ns()
        deadline = time.monotonic() + self.load_seconds
        while time.monotonic() < deadline and not gone():
            time.sleep(0.02)
        with self._changed:
            self._loading.discard(model)
            self._changed.notify_all()
            if time.monotonic() < deadline:
                return None  # the load was dropped with its request
            self._runners[model] = _Runner(self._session(keep_alive, None), users=1)
            self.loads += 1
        return time.perf_counter_ns() - started

    def release(self, model: str) -> None:
        """One request done with ``model``: once idle, it stays for its keep_alive."""
        with self._changed:
            runner = self._runners.get(model)
            if runner is None:
                return
            runner.users -= 1
            if runner.users == 0:
                runner.expires = time.monotonic() + runner.session
                self._in_memory(model)  # keep_alive 0: unloaded now

    def listed(self, details: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """/api/ps entries of the models in memory (and loading: listed from the start of the
        load), as PsHandler writes api.ProcessModelResponse; ``details``: each model's
        /api/show."""
        now, entries = time.monotonic(), []
        with self._changed:
            held = {m: r.expires for m in list(self._runners) if (r := self._in_memory(m))}
            held |= dict.fromkeys(self._loading, math.inf)
        # longest time left first, as PsHandler sorts them
        for model, expires in sorted(held.items(), key=lambda item: -item[1]):
            name = model if ":" in model else f"{model}:latest"
            left = min(expires - now, 292 * 365 * 86400.0)  # time.Duration(math.MaxInt64)
            shown = details[model]
            entries.append(
                {
                    "name": name,
                    "model": name,
                    "size": 1_250_000_000,
                    "digest": hashlib.sha256(model.encode()).hexdigest(),
                    "details": {"format": "gguf", **shown["details"]},
                    "expires_at": (datetime.now(UTC) + timedelta(seconds=left)).isoformat(),
                    "size_vram": 1_250_000_000,
                    "context_length": DEFAULT_NUM_CTX,
                }
            )
        return entries
