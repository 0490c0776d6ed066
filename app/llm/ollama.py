"""gpt-oss through Ollama's native /api/chat: num_ctx always sent, in turn with other requests,
retried once when the connection fails."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

import httpx
import ollama

from app.llm.checks import check_answered, check_truncation, error_for, unavailable
from app.llm.gate import Gate
from app.llm.generation import DEFAULT_SAMPLING, Generation, ModelFacts, Piece, Sampling
from app.settings import AppSettings, ReasoningEffort

logger = logging.getLogger(__name__)

_RETRY_DELAY = 0.5  # seconds before the one retry of a failed connection
_CALL_ERRORS = (ollama.ResponseError, ConnectionError, httpx.TransportError)

_UNKNOWN = ModelFacts(None, True, True)


class OllamaLLM:
    """The answering model behind Ollama."""

    def __init__(self, settings: AppSettings, gate: Gate | None = None) -> None:
        self.settings = settings
        self.model = settings.ollama_model
        self.client = ollama.Client(host=settings.ollama_host, timeout=settings.request_timeout)
        self.async_client = ollama.AsyncClient(
            host=settings.ollama_host, timeout=settings.request_timeout
        )
        # Readiness checks must answer quickly even when Ollama hangs.
        self.probe = ollama.Client(host=settings.ollama_host, timeout=5)
        self.gate = gate or Gate(
            settings.ollama_concurrency, settings.ollama_queue, settings.ollama_queue_timeout
        )
        self._facts: ModelFacts | None = None

    def facts(self) -> ModelFacts:
        """The model's context length and capabilities, asked once; unknown (and asked again
        next time) while Ollama cannot say."""
        if self._facts is not None:
            return self._facts
        try:
            shown = self.probe.show(self.model)
            answer = httpx.get(f"{self.settings.ollama_host.rstrip('/')}/api/version", timeout=5)
            version = str(answer.json().get("version", ""))
        except (ConnectionError, httpx.HTTPError, ollama.ResponseError, ValueError) as exc:
            logger.info("Ollama cannot describe %s yet: %s", self.model, exc)
            return _UNKNOWN
        info = dict(shown.modelinfo or {})
        arch = info.get("general.architecture")
        length = info.get(f"{arch}.context_length") or next(
            (v for k, v in info.items() if k.endswith(".context_length")), None
        )
        capabilities = shown.capabilities
        self._facts = ModelFacts(
            context_length=int(length) if length else None,
            thinks=capabilities is None or "thinking" in capabilities,
            # v0.30.0 reported llama-server's prompt_n (new tokens only); v0.30.1 added the
            # cache back (ollama commit 35fa277, llm/llama_server.go).
            counts_cache=not (version == "0.30.0" or version.startswith("0.30.0-")),
        )
        logger.info(
            "Ollama %s: %s has context %s, thinking %s",
            version,
            self.model,
            self._facts.context_length,
            self._facts.thinks,
        )
        return self._facts

    @property
    def num_ctx(self) -> int:
        """The context window to ask for: the setting, never above the model's own."""
        length = self.facts().context_length
        return min(self.settings.num_ctx, length) if length else self.settings.num_ctx

    def num_predict(self, requested: int | None = None) -> int:
        """Tokens for reasoning plus answer: at most half the window, the rest is the prompt's."""
        return min(requested or self.settings.answer_max_tokens, self.num_ctx // 2)

    def prompt_budget(self, num_predict: int | None = None) -> int:
        """Tokens the prompt may take: the window less what the answer needs."""
        return self.num_ctx - self.num_predict(num_predict)

    @property
    def keep_alive(self) -> float | str:
        """keep_alive as Ollama reads it: a number is seconds, a string a Go duration."""
        value = self.settings.ollama_keep_alive
        try:
            seconds = float(value)
        except ValueError:
            return value
        return int(seconds) if seconds.is_integer() else seconds

    def _think(self, think: ReasoningEffort) -> ReasoningEffort | None:
        return think if self.facts().thinks else None

    def _options(self, sampling: Sampling) -> dict[str, Any]:
        options: dict[str, Any] = {
            "num_ctx": self.num_ctx,
            "num_predict": self.num_predict(sampling.num_predict),
            "temperature": self.settings.temperature
            if sampling.temperature is None
            else sampling.temperature,
        }
        if sampling.stop:
            options["stop"] = sampling.stop
        return options

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        think: ReasoningEffort,
        sampling: Sampling = DEFAULT_SAMPLING,
    ) -> Generation:
        """One non-streamed chat turn, in turn with other requests (the gate), retried once
        when the connection fails. Raises Busy, LLMUnavailable or ContextTruncated."""
        with self.gate.slot():
            started = time.perf_counter()
            loaded = self._loaded()
            for attempt in (1, 2):
                try:
                    response = self.client.chat(
                        model=self.model,
                        messages=messages,
                        think=self._think(think),
                        keep_alive=self.keep_alive,
                        stream=False,
                        options=self._options(sampling),
                    )
                    break
                except _CALL_ERRORS as exc:
                    if (failure := error_for(self, exc, attempt, loaded)) is not None:
                        raise failure from exc
                    time.sleep(_RETRY_DELAY)
        generation = Generation(
            content=response.message.content or "",
            thinking=response.message.thinking or "",
            model=response.model or self.model,
            prompt_tokens=response.prompt_eval_count or 0,
            completion_tokens=response.eval_count or 0,
            done_reason=response.done_reason or "",
            seconds=time.perf_counter() - started,
        )
        check_truncation(self, messages, generation)
        check_answered(self, generation, think, sampling)
        return generation

    async def stream(
        self,
        messages: list[dict[str, str]],
        *,
        think: ReasoningEffort,
        stats: Generation,
        sampling: Sampling = DEFAULT_SAMPLING,
    ) -> AsyncGenerator[Piece, None]:
        """A chat turn streamed piece by piece; ``stats`` is filled in at the end. Closing
        the iterator (a client that went away) closes the request to Ollama."""
        await self.gate.acquire_async()
        try:
            started = time.perf_counter()
            loaded = await asyncio.to_thread(self._loaded)
            # The request is sent at the first read: a failed connection is retried there.
            for attempt in (1, 2):
                response = await self.async_client.chat(
                    model=self.model,
                    messages=messages,
                    think=self._think(think),
                    keep_alive=self.keep_alive,
                    stream=True,
                    options=self._options(sampling),
                )
                try:
                    first: Any = await anext(response)
                    break
                except StopAsyncIteration:
                    first = None
                    break
                except _CALL_ERRORS as exc:
                    if (failure := error_for(self, exc, attempt, loaded)) is not None:
                        raise failure from exc
                    await asyncio.sleep(_RETRY_DELAY)
            content: list[str] = []
            thinking: list[str] = []
            try:
                part = first
                while part is not None:
                    piece = Piece(part.message.content or "", part.message.thinking or "")
                    content.append(piece.content)
                    thinking.append(piece.thinking)
                    if piece.content or piece.thinking:
                        yield piece
                    if part.done:
                        stats.model = part.model or self.model
                        stats.prompt_tokens = part.prompt_eval_count or 0
                        stats.completion_tokens = part.eval_count or 0
                        stats.done_reason = part.done_reason or ""
                    part = await anext(response, None)
            except _CALL_ERRORS as exc:
                raise error_for(self, exc, 2, loaded) or unavailable(self, exc) from exc
            finally:
                await response.aclose()  # type: ignore[attr-defined]
            stats.content, stats.thinking = "".join(content), "".join(thinking)
            stats.seconds = time.perf_counter() - started
            check_truncation(self, messages, stats)
            check_answered(self, stats, think, sampling)
        finally:
            self.gate.release()

    def _loaded(self) -> bool | None:
        """Whether Ollama has the model in memory now (None: cannot tell). Asked before each
        request, so a timeout can be told apart: a model that was not loaded was loading."""
        try:
            running = self.probe.ps().models
        except (ConnectionError, httpx.HTTPError, ollama.ResponseError):
            return None
        return any(m.model in (self.model, f"{self.model}:latest") for m in running)

    def status(self) -> dict[str, Any]:
        """Whether Ollama answers and has the model, for /readyz."""
        try:
            listed = self.probe.list()
        except (ConnectionError, httpx.TransportError, ollama.ResponseError) as exc:
            return {
                "ok": False,
                "reachable": False,
                "model_present": False,
                "detail": str(unavailable(self, exc)),
            }
        names = {m.model for m in listed.models}
        present = self.model in names or f"{self.model}:latest" in names
        detail = "ready" if present else f"model missing: run `ollama pull {self.model}`"
        return {"ok": present, "reachable": True, "model_present": present, "detail": detail}
