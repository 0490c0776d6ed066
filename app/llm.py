"""gpt-oss through Ollama's native /api/chat: num_ctx always sent, silent truncation caught."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import ollama

from app.errors import Busy, ContextTruncated, LLMUnavailable, ModelNotFound, ReasoningExhausted
from app.settings import AppSettings, ReasoningEffort

logger = logging.getLogger(__name__)

_RETRY_DELAY = 0.5  # seconds before the one retry of a failed connection
_CALL_ERRORS = (ollama.ResponseError, ConnectionError, httpx.TransportError)

# gpt-oss's chat template wraps the messages in its own preamble (model identity, dates,
# reasoning level, channels): tokens the prompt budget must leave room for.
TEMPLATE_OVERHEAD_TOKENS = 200
_PER_MESSAGE_TOKENS = 8


def estimate_tokens_max(text: str) -> int:
    """An upper bound on tokens for ``text`` in gpt-oss's tokenizer (o200k), without loading it.

    English runs about 4 characters a token; Japanese about one character a token. Counting an
    ASCII character as a third of a token and any other character as one and a half keeps the
    estimate above the real count for both, so a prompt under budget really fits.
    """
    ascii_chars = sum(1 for ch in text if ch.isascii())
    return int(ascii_chars / 3 + (len(text) - ascii_chars) * 1.5) + 1


def estimate_tokens_min(text: str) -> int:
    """A lower bound on tokens for ``text``: no tokenizer packs more than this in."""
    ascii_chars = sum(1 for ch in text if ch.isascii())
    return int(ascii_chars / 8 + (len(text) - ascii_chars) / 4)


def messages_tokens_max(messages: list[dict[str, str]]) -> int:
    """Upper bound for a whole chat prompt, template included."""
    body = sum(estimate_tokens_max(m["content"]) + _PER_MESSAGE_TOKENS for m in messages)
    return TEMPLATE_OVERHEAD_TOKENS + body


@dataclass
class Generation:
    """What the model said, and what it cost."""

    content: str
    thinking: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    done_reason: str
    seconds: float


@dataclass
class Piece:
    """Part of a streamed answer: text of the answer or of the reasoning."""

    content: str = ""
    thinking: str = ""


class _Withdrawn(Exception):
    """A waiter that left the queue before its turn came."""


class Gate:
    """At most ``limit`` requests in Ollama at once, at most ``queue`` more waiting.

    Ollama answers one request per model at a time by default; more would only queue inside
    it, invisible and unbounded. Past the queue a request is refused at once (503 with
    Retry-After), and a request that waits longer than ``wait`` seconds gives up the same way.
    A waiter can be withdrawn (its client went away): it leaves the queue at once and never
    takes a turn, so no cancellation can lose one.
    """

    def __init__(
        self,
        limit: int,
        queue: int,
        wait: float,
        on_change: Callable[[int, int], None] | None = None,
    ) -> None:
        self.limit, self.queue, self.wait = limit, queue, wait
        self._cond = threading.Condition()
        self.waiting = 0
        self.in_flight = 0
        self._on_change = on_change

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.waiting, self.in_flight)

    def acquire(self, withdrawn: threading.Event | None = None) -> None:
        """Take a turn, waiting in the queue; raises Busy when the queue is full or slow.

        With ``withdrawn``: setting it (then ``wake``) makes the wait end without a turn."""
        deadline = time.monotonic() + self.wait
        with self._cond:
            if self.in_flight < self.limit and self.waiting == 0:
                self.in_flight += 1
                self._changed()
                return
            if self.waiting >= self.queue:
                raise Busy("the answering model is busy: too many questions waiting", 10)
            self.waiting += 1
            self._changed()
            try:
                while self.in_flight >= self.limit:
                    remaining = deadline - time.monotonic()
                    if withdrawn is not None and withdrawn.is_set():
                        raise _Withdrawn
                    if remaining <= 0:
                        raise Busy("the answering model is busy: waited too long for a turn", 30)
                    self._cond.wait(remaining)
                self.in_flight += 1
            finally:
                self.waiting -= 1
                self._changed()
                # A turn this waiter did not take may be another's to take.
                self._cond.notify()

    def wake(self) -> None:
        """Wake every waiter, so withdrawn ones leave the queue."""
        with self._cond:
            self._cond.notify_all()

    def release(self) -> None:
        """Give the turn back."""
        with self._cond:
            self.in_flight -= 1
            self._changed()
            self._cond.notify()

    async def acquire_async(self) -> None:
        """``acquire`` from a coroutine. Cancelling the coroutine (the client went away while
        its question was queued) withdraws the waiter; a turn taken in the same instant is
        handed straight back."""
        withdrawn = threading.Event()
        waiter = asyncio.ensure_future(asyncio.to_thread(self.acquire, withdrawn))
        try:
            await asyncio.shield(waiter)
        except asyncio.CancelledError:
            withdrawn.set()
            self.wake()

            def settle(done: asyncio.Future[None]) -> None:
                if not done.cancelled() and done.exception() is None:
                    self.release()

            waiter.add_done_callback(settle)
            raise

    @contextmanager
    def slot(self) -> Iterator[None]:
        """A turn for the duration of the block."""
        self.acquire()
        try:
            yield
        finally:
            self.release()


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

    def _options(self, num_predict: int | None = None) -> dict[str, Any]:
        return {
            "num_ctx": self.settings.num_ctx,
            "num_predict": num_predict or self.settings.answer_max_tokens,
            "temperature": self.settings.temperature,
        }

    def _unavailable(self, exc: Exception) -> LLMUnavailable:
        if isinstance(exc, ollama.ResponseError) and exc.status_code == 404:
            return ModelNotFound(
                f"Ollama at {self.settings.ollama_host} does not have the model {self.model}: "
                f"run `ollama pull {self.model}`"
            )
        return LLMUnavailable(
            f"cannot reach Ollama at {self.settings.ollama_host}: start it (`ollama serve`, or "
            f"`docker compose up`) and pull the model (`ollama pull {self.model}`)"
        )

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        think: ReasoningEffort,
        num_predict: int | None = None,
    ) -> Generation:
        """One non-streamed chat turn, in turn with other requests (the gate), retried once
        when the connection fails. Raises Busy, LLMUnavailable or ContextTruncated."""
        with self.gate.slot():
            started = time.perf_counter()
            for attempt in (1, 2):
                try:
                    response = self.client.chat(
                        model=self.model,
                        messages=messages,
                        think=think,
                        stream=False,
                        options=self._options(num_predict),
                    )
                    break
                except _CALL_ERRORS as exc:
                    if (failure := self._failure(exc, attempt)) is not None:
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
        self._check_truncation(messages, generation)
        self._check_answered(generation, think, num_predict or self.settings.answer_max_tokens)
        return generation

    async def stream(
        self, messages: list[dict[str, str]], *, think: ReasoningEffort, stats: Generation
    ) -> AsyncIterator[Piece]:
        """A chat turn streamed piece by piece; ``stats`` is filled in at the end. Closing
        the iterator (a client that went away) closes the request to Ollama."""
        await self.gate.acquire_async()
        try:
            started = time.perf_counter()
            # The request is sent at the first read: a failed connection is retried there.
            for attempt in (1, 2):
                response = await self.async_client.chat(
                    model=self.model,
                    messages=messages,
                    think=think,
                    stream=True,
                    options=self._options(),
                )
                try:
                    first: Any = await anext(response)
                    break
                except StopAsyncIteration:
                    first = None
                    break
                except _CALL_ERRORS as exc:
                    if (failure := self._failure(exc, attempt)) is not None:
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
            except ollama.ResponseError as exc:
                raise self._refused(exc) from exc
            except (ConnectionError, httpx.TransportError) as exc:
                raise self._unavailable(exc) from exc
            finally:
                await response.aclose()  # type: ignore[attr-defined]
            stats.content, stats.thinking = "".join(content), "".join(thinking)
            stats.seconds = time.perf_counter() - started
            self._check_truncation(messages, stats)
            self._check_answered(stats, think, self.settings.answer_max_tokens)
        finally:
            self.gate.release()

    def _failure(self, exc: Exception, attempt: int) -> LLMUnavailable | None:
        """The error to raise for a failed call to Ollama, or None to retry it: a connection
        that could not be made is retried once; a refusal, a timeout or a dropped answer is
        not."""
        if isinstance(exc, ollama.ResponseError):
            return self._refused(exc)
        if isinstance(exc, ConnectionError | httpx.ConnectError) and attempt == 1:
            logger.warning("Ollama connection failed; retrying once")
            return None
        return self._unavailable(exc)

    def _refused(self, exc: ollama.ResponseError) -> LLMUnavailable:
        if exc.status_code == 404:
            return self._unavailable(exc)
        return LLMUnavailable(f"Ollama refused the request: {exc.error}")

    def _check_truncation(self, messages: list[dict[str, str]], gen: Generation) -> None:
        # Ollama never says it truncated: when a prompt exceeds the context it silently keeps
        # the end (dropping the system prompt) and evaluates fewer tokens than were sent.
        floor = sum(estimate_tokens_min(m["content"]) for m in messages)
        if gen.prompt_tokens and gen.prompt_tokens < floor:
            raise ContextTruncated(
                f"Ollama evaluated {gen.prompt_tokens} prompt tokens of at least {floor} sent: "
                f"the prompt was truncated (num_ctx={self.settings.num_ctx}; the model's own "
                "context may be smaller)"
            )
        if gen.done_reason == "length" and gen.completion_tokens == 0:
            raise ContextTruncated("Ollama's context filled before the model could answer")

    def _check_answered(self, gen: Generation, think: ReasoningEffort, num_predict: int) -> None:
        # gpt-oss reasons before it answers, and eval_count counts both: when num_predict runs
        # out in the reasoning, Ollama ends with done_reason "length" and no content at all.
        if gen.done_reason != "length" or gen.content.strip() or not gen.completion_tokens:
            return
        lower = (
            f" or lower KURA_REASONING_EFFORT (now {think})"
            if think != "low"
            else " (KURA_REASONING_EFFORT is already low)"
        )
        raise ReasoningExhausted(
            f"{self.model} spent all {num_predict} tokens of its budget on reasoning and wrote no "
            f"answer: raise KURA_ANSWER_MAX_TOKENS (now {num_predict}){lower}"
        )

    def status(self) -> dict[str, Any]:
        """Whether Ollama answers and has the model, for /readyz."""
        try:
            listed = self.probe.list()
        except (ConnectionError, httpx.TransportError, ollama.ResponseError) as exc:
            return {
                "ok": False,
                "reachable": False,
                "model_present": False,
                "detail": str(self._unavailable(exc)),
            }
        names = {m.model for m in listed.models}
        present = self.model in names or f"{self.model}:latest" in names
        detail = "ready" if present else f"model missing: run `ollama pull {self.model}`"
        return {"ok": present, "reachable": True, "model_present": present, "detail": detail}
