"""gpt-oss through Ollama's native /api/chat: num_ctx always sent, silent truncation caught."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import ollama

from app.errors import (
    Busy,
    ContextTruncated,
    LLMFailed,
    LLMLoading,
    LLMTimeout,
    LLMUnavailable,
    ModelNotFound,
    ReasoningExhausted,
)
from app.settings import AppSettings, ReasoningEffort
from app.tokens import messages_text_tokens
from ingest.errors import KuraError

logger = logging.getLogger(__name__)

_RETRY_DELAY = 0.5  # seconds before the one retry of a failed connection
_CALL_ERRORS = (ollama.ResponseError, ConnectionError, httpx.TransportError)

# v0.12-v0.30 cut an oversize prompt to exactly num_ctx tokens: a count this close to num_ctx
# is a cut prompt (kura's own prompts leave num_predict tokens free).
_CUT_SLACK = 16
# A prompt whose evaluation counts fewer tokens than this share of its text's o200k count lost
# part of itself (v0.31+ keep num_keep tokens and about half the window).
_FLOOR = 0.7


@dataclass(frozen=True)
class ModelFacts:
    """What Ollama says about the model (/api/show) and itself (/api/version)."""

    context_length: int | None  # <architecture>.context_length; None: unknown
    thinks: bool  # "thinking" among its capabilities (Ollama refuses `think` otherwise)
    counts_cache: bool  # prompt_eval_count includes cached tokens (not in Ollama v0.30.0)


_UNKNOWN = ModelFacts(None, True, True)


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


@dataclass(frozen=True)
class Sampling:
    """How one request generates, where the caller chose (None: kura's settings)."""

    num_predict: int | None = None  # tokens for reasoning plus answer
    temperature: float | None = None
    stop: list[str] | None = None
    # What the caller would raise to give the model more room (named in the error).
    budget_name: str = "KURA_ANSWER_MAX_TOKENS"


DEFAULT_SAMPLING = Sampling()


class _Waiter:
    """One request waiting in the gate's queue; a turn is handed to it, never grabbed."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.granted = False
        self.event = threading.Event()
        self.loop = loop
        self.future: asyncio.Future[None] | None = loop.create_future() if loop else None

    def grant(self) -> None:
        self.granted = True
        if self.loop is not None and self.future is not None:
            self.loop.call_soon_threadsafe(_resolve, self.future)
        else:
            self.event.set()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Gate:
    """At most ``limit`` requests in Ollama at once, at most ``queue`` more waiting.

    Ollama answers one request per model at a time by default; more would only queue inside
    it, invisible and unbounded. Past the queue a request is refused at once (503 with
    Retry-After), and a request that waits longer than ``wait`` seconds gives up the same way.
    A released turn is handed to the first waiter (first come, first served). Waiting holds
    no thread: a coroutine waits on a future, so a client that goes away (its coroutine
    cancelled) just leaves the queue, and a turn handed to it in that instant is passed on.
    """

    def __init__(
        self,
        limit: int,
        queue: int,
        wait: float,
        on_change: Callable[[int, int], None] | None = None,
    ) -> None:
        self.limit, self.queue, self.wait = limit, queue, wait
        self._lock = threading.Lock()
        self._waiters: deque[_Waiter] = deque()
        self.in_flight = 0
        self._on_change = on_change

    @property
    def waiting(self) -> int:
        """Requests in the queue now."""
        return len(self._waiters)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.waiting, self.in_flight)

    def _enter(self, loop: asyncio.AbstractEventLoop | None) -> _Waiter | None:
        """Under the lock: take a free turn (None), or join the queue (the waiter)."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            self._changed()
            return None
        if len(self._waiters) >= self.queue:
            raise Busy("the answering model is busy: too many questions waiting", 10)
        waiter = _Waiter(loop)
        self._waiters.append(waiter)
        self._changed()
        return waiter

    def _leave(self, waiter: _Waiter) -> bool:
        """Under the lock: take ``waiter`` out of the queue; True if a turn was already
        handed to it (then it holds one)."""
        if waiter.granted:
            return True
        self._waiters.remove(waiter)
        self._changed()
        return False

    def _release_locked(self) -> None:
        if self._waiters:
            self._waiters.popleft().grant()  # the turn passes on: in_flight is unchanged
        else:
            self.in_flight -= 1
        self._changed()

    def acquire(self) -> None:
        """Take a turn, waiting in the queue; raises Busy when the queue is full or slow."""
        with self._lock:
            waiter = self._enter(None)
        if waiter is None or waiter.event.wait(self.wait):
            return
        with self._lock:
            if self._leave(waiter):
                return
        raise Busy("the answering model is busy: waited too long for a turn", 30)

    async def acquire_async(self) -> None:
        """``acquire`` from a coroutine, holding no thread while it waits. Cancelling the
        coroutine (the client went away while its question was queued) leaves the queue."""
        with self._lock:
            waiter = self._enter(asyncio.get_running_loop())
        if waiter is None:
            return
        assert waiter.future is not None
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), self.wait)
        except TimeoutError:
            with self._lock:
                if self._leave(waiter):
                    return
            raise Busy("the answering model is busy: waited too long for a turn", 30) from None
        except asyncio.CancelledError:
            with self._lock:
                if self._leave(waiter):
                    self._release_locked()  # handed over as the client left: pass it on
            raise

    def release(self) -> None:
        """Give the turn back (to the first waiter, if any)."""
        with self._lock:
            self._release_locked()

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
                    if (failure := self._failure(exc, attempt, loaded)) is not None:
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
        self._check_answered(generation, think, sampling)
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
                    if (failure := self._failure(exc, attempt, loaded)) is not None:
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
                raise self._failure(exc, 2, loaded) or self._unavailable(exc) from exc
            finally:
                await response.aclose()  # type: ignore[attr-defined]
            stats.content, stats.thinking = "".join(content), "".join(thinking)
            stats.seconds = time.perf_counter() - started
            self._check_truncation(messages, stats)
            self._check_answered(stats, think, sampling)
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

    def _failure(self, exc: Exception, attempt: int, loaded: bool | None) -> KuraError | None:
        """The error to raise for a failed call to Ollama, or None to retry it: a connection
        that could not be made is retried once; a refusal, a timeout or a dropped answer is
        not. Each cause has its own message: unreachable, loading, too slow, busy, refused."""
        if isinstance(exc, ollama.ResponseError):
            return self._refused(exc)
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            timeout = f"{self.settings.request_timeout:g} s (KURA_REQUEST_TIMEOUT)"
            if loaded is False:
                return LLMLoading(
                    f"Ollama is still loading {self.model} into memory (it was not loaded; a "
                    f"large model takes minutes on first use): kura stopped waiting after "
                    f"{timeout}. Ask again in a minute, or raise KURA_REQUEST_TIMEOUT",
                    30,
                )
            return LLMTimeout(
                f"Ollama did not answer within {timeout}: {self.model} is loaded but too slow "
                "on this machine for this question; raise KURA_REQUEST_TIMEOUT, or lower "
                "KURA_ANSWER_MAX_TOKENS or KURA_REASONING_EFFORT"
            )
        if isinstance(exc, ConnectionError | httpx.ConnectError) and attempt == 1:
            logger.warning("Ollama connection failed; retrying once")
            return None
        return self._unavailable(exc)

    def _refused(self, exc: ollama.ResponseError) -> KuraError:
        if exc.status_code == 404:
            return self._unavailable(exc)
        if exc.status_code == 503:
            # Ollama's own queue is full (OLLAMA_MAX_QUEUE, server/sched.go ErrMaxQueue)
            return Busy(
                f"Ollama is busy: its own queue of waiting requests is full (OLLAMA_MAX_QUEUE; "
                f"another application shares it?): {exc.error}",
                10,
            )
        if exc.status_code == 400 and "context length" in exc.error:
            # v0.31+ with context shift off refuse an oversize prompt instead of cutting it
            # (llm/llama_server.go in Ollama)
            return ContextTruncated(
                f"Ollama refused the prompt as longer than the model's context "
                f"(num_ctx={self.num_ctx}): {exc.error}"
            )
        if exc.status_code < 0:
            # an {"error": ...} line after the answer had started (the ollama client gives
            # such errors no status)
            return LLMFailed(f"Ollama stopped in the middle of the answer: {exc.error}")
        return LLMUnavailable(f"Ollama refused the request: {exc.error}")

    def _check_truncation(self, messages: list[dict[str, str]], gen: Generation) -> None:
        """Ollama never says it truncated; only prompt_eval_count shows it, and each version
        shows it differently. v0.12-v0.30 cut the prompt to exactly num_ctx tokens; v0.31+
        keep num_keep tokens and the tail, about half the window (both after dropping old
        messages, and v0.12 the system prompt with them); v0.30.0 counted only the tokens its
        cache lacked, so a small count there is no sign of anything."""
        evaluated, num_ctx = gen.prompt_tokens, self.num_ctx
        if evaluated and evaluated >= num_ctx - _CUT_SLACK:
            raise ContextTruncated(
                f"Ollama evaluated {evaluated} prompt tokens, its whole context "
                f"(num_ctx={num_ctx}): the prompt was truncated to fit"
            )
        if evaluated and self.facts().counts_cache:
            sent = messages_text_tokens(messages)
            if evaluated < sent * _FLOOR:
                raise ContextTruncated(
                    f"Ollama evaluated {evaluated} prompt tokens of about {sent} sent: the "
                    f"prompt was truncated (num_ctx={num_ctx}; Ollama may have given the model "
                    "less context than asked, e.g. to fit its memory)"
                )
        if gen.done_reason == "length" and gen.completion_tokens == 0:
            raise ContextTruncated("Ollama's context filled before the model could answer")

    def _check_answered(self, gen: Generation, think: ReasoningEffort, sampling: Sampling) -> None:
        # gpt-oss reasons before it answers, and eval_count counts both: when num_predict runs
        # out in the reasoning, Ollama ends with done_reason "length" and no content at all.
        if gen.done_reason != "length" or gen.content.strip() or not gen.completion_tokens:
            return
        num_predict = self.num_predict(sampling.num_predict)
        lower = (
            f" or lower KURA_REASONING_EFFORT (now {think})"
            if think != "low"
            else " (KURA_REASONING_EFFORT is already low)"
        )
        raise ReasoningExhausted(
            f"{self.model} spent all {num_predict} tokens of its budget on reasoning and wrote no "
            f"answer: raise {sampling.budget_name} (now {num_predict}){lower}"
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
