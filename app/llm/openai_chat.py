"""The answering model behind an OpenAI-compatible server (vLLM, SGLang, LM Studio, llama.cpp):
streaming /v1/chat/completions through the `openai` client, reasoning kept apart from the
answer whichever way the server sends it, its failures told apart as Ollama's are.

A server that sends nothing for KURA_LLM_HANG_TIMEOUT while another host is up is hung, as an
Ollama host is. None sends keep-alives: vLLM sends the stream's headers at once, then nothing
while the request waits in its scheduler and its prompt is read, then a chunk per step
(serving_chat.py, chat_completion_stream_generator); llama.cpp sends nothing, headers included,
before the first token (server.cpp, handle_completions_impl: rd.next before the stream). Both
send a whole answer only once it is finished, so it is streamed while a host may be given up on.
LM Studio's just-in-time load of a model looks like a hang (see the README).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncGenerator, Callable
from typing import Any

import httpx2  # the `openai` client's HTTP library (httpx's successor)
import openai

from app.errors import Busy, ContextTruncated, LLMFailed, LLMTimeout, LLMUnavailable, ModelNotFound
from app.llm.checks import hung
from app.llm.generation import Generation, ModelFacts, Piece, Sampling
from app.llm.hosts import Host
from app.llm.model import AnsweringModel, HostDown, cut_short
from app.settings import AppSettings, ReasoningEffort
from ingest.errors import KuraError

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # seconds: a server that does not accept a connection is down
PROBE_TIMEOUT = 5.0  # seconds for the model list (checks, /readyz): it loads nothing
# How servers word a prompt longer than the model's context: vLLM ("maximum context length"),
# llama.cpp ("exceeds the available context size", type exceed_context_size_error), LM Studio.
_TOO_LONG = re.compile(r"context (length|size|window)|maximum context|exceed_context_size", re.I)
# Where servers put the reasoning: vLLM and llama.cpp `reasoning_content`, LM Studio and newer
# vLLM `reasoning`.
_REASONING_FIELDS = ("reasoning_content", "reasoning")
_OPEN, _CLOSE = "<think>", "</think>"


class ThinkSplitter:
    """Splits text that inlines its reasoning as ``<think>...</think>`` into answer and
    reasoning, piece by piece: a tag cut between two pieces is held back until it is whole."""

    def __init__(self) -> None:
        self.thinking = False
        self._held = ""

    def feed(self, text: str) -> Piece:
        """The answer and reasoning in ``text`` (and what was held back before it)."""
        text, self._held = self._held + text, ""
        piece = Piece()
        while text:
            tag = _CLOSE if self.thinking else _OPEN
            at = text.find(tag)
            if at < 0:
                keep = _partial_tag(text, tag)
                text, self._held = text[: len(text) - keep], text[len(text) - keep :]
                at, tag = len(text), ""
            if self.thinking:
                piece.thinking += text[:at]
            else:
                piece.content += text[:at]
            text = text[at + len(tag) :]
            if tag:
                self.thinking = not self.thinking
        return piece

    def flush(self) -> Piece:
        """What was held back at the end of the stream."""
        held, self._held = self._held, ""
        return Piece(thinking=held) if self.thinking else Piece(content=held)


def _partial_tag(text: str, tag: str) -> int:
    """How many characters at the end of ``text`` may begin ``tag``."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0


def _reasoning(part: Any) -> str:
    """The reasoning a message or delta carries in a field of its own."""
    extra = getattr(part, "model_extra", None) or {}
    return "".join(str(getattr(part, f, None) or extra.get(f) or "") for f in _REASONING_FIELDS)


class _Answer:
    """An answer read chunk by chunk from a streamed chat completion, into ``stats``."""

    def __init__(self, stats: Generation, model: str) -> None:
        self.stats, self.model = stats, model
        self.split = ThinkSplitter()
        self.content: list[str] = []
        self.thinking: list[str] = []
        self.finished: str | None = None

    def add(self, chunk: Any) -> Piece:
        """Take one chunk; what it adds to the answer."""
        if chunk.usage is not None:
            self.stats.prompt_tokens = chunk.usage.prompt_tokens
            self.stats.completion_tokens = chunk.usage.completion_tokens
        self.stats.model = chunk.model or self.model
        piece = Piece()
        for choice in chunk.choices[:1]:
            piece = self.split.feed(choice.delta.content or "")
            piece.thinking = _reasoning(choice.delta) + piece.thinking
            self.finished = choice.finish_reason or self.finished
        return self._keep(piece)

    def _keep(self, piece: Piece) -> Piece:
        self.content.append(piece.content)
        self.thinking.append(piece.thinking)
        return piece

    def finish(self, host: Host) -> Piece:
        """What was held back to the end; HostDown when the stream ended before the server
        gave a finish_reason."""
        if self.finished is None:
            raise cut_short(host)
        rest = self._keep(self.split.flush())
        self.stats.content, self.stats.thinking = "".join(self.content), "".join(self.thinking)
        self.stats.done_reason = _done_reason(self.finished)
        return rest


class OpenAIChatLLM(AnsweringModel):
    """The answering model behind one or more OpenAI-compatible servers."""

    backend = "openai"
    server = "the OpenAI-compatible server"

    def __init__(
        self, settings: AppSettings, on_change: Callable[[int, int], None] | None = None
    ) -> None:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        # The SDK insists on a key; servers that ask none (llama.cpp, LM Studio) ignore it.
        key = key or "none"
        self._patient = limits = _limits(settings.request_timeout)
        hang = min(settings.llm_hang_timeout, settings.request_timeout)
        self._hang = _limits(hang)
        # The model list loads nothing: it answers at once, or the server hangs. A check
        # costs a question (and /readyz) no more than the hang it looks for.
        self._probe = min(PROBE_TIMEOUT, hang)
        self._clients = {
            url: (
                openai.OpenAI(base_url=url, api_key=key, timeout=limits, max_retries=0),
                openai.AsyncOpenAI(base_url=url, api_key=key, timeout=limits, max_retries=0),
                openai.OpenAI(base_url=url, api_key=key, timeout=self._probe, max_retries=0),
            )
            for url in settings.llm_hosts
        }
        super().__init__(settings, on_change)

    def _models(self, host: Host) -> list[Any]:
        return list(self._clients[host.url][2].models.list().data)

    def _describe(self, host: Host) -> ModelFacts | None:
        try:
            models = self._models(host)
        except openai.OpenAIError as exc:
            logger.info("%s cannot describe %s yet: %s", host.url, self.model, exc)
            return None
        entry = next((m for m in models if m.id == self.model), models[0] if models else None)
        extra = (entry.model_extra or {}) if entry is not None else {}
        meta = extra.get("meta") or {}
        # vLLM: max_model_len; llama.cpp: meta.n_ctx (the context it was started with);
        # LM Studio and others: context_length.
        length = extra.get("max_model_len") or meta.get("n_ctx") or extra.get("context_length")
        logger.info("%s: %s has context %s", host.url, self.model, length)
        return ModelFacts(
            context_length=int(length) if length else None, thinks=True, counts_cache=True
        )

    def _request(
        self, messages: list[dict[str, str]], think: ReasoningEffort, sampling: Sampling
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": self.num_predict(sampling.num_predict),
            "temperature": self.settings.temperature
            if sampling.temperature is None
            else sampling.temperature,
            # gpt-oss on vLLM, SGLang and LM Studio reads it; other models ignore it
            "reasoning_effort": think,
        }
        if sampling.stop:
            request["stop"] = sampling.stop
        return request

    def _error(
        self, host: Host, exc: openai.OpenAIError, eager: bool = False
    ) -> KuraError | HostDown:
        """The error for a failed call, or HostDown when another server may take it (``eager``:
        the call gave up after the hang timeout)."""
        if _silent(exc):
            if eager:
                return HostDown(hung(self, host.url), hung=True)
            return LLMTimeout(
                f"the OpenAI-compatible server at {host.url} did not answer within "
                f"{self.settings.request_timeout:g} s (KURA_REQUEST_TIMEOUT): raise it, or lower "
                "KURA_ANSWER_MAX_TOKENS or KURA_REASONING_EFFORT"
            )
        if isinstance(exc, openai.APIConnectionError):
            connect = isinstance(exc.__cause__, httpx2.ConnectError | httpx2.ConnectTimeout)
            return HostDown(
                LLMUnavailable(
                    f"cannot reach the OpenAI-compatible server at {host.url}: start it, or "
                    "check KURA_OPENAI_BASE_URL"
                ),
                retry_same=connect,
            )
        if not isinstance(exc, openai.APIStatusError):  # an error event after the answer began
            return LLMFailed(f"{host.url} stopped in the middle of the answer: {exc}")
        status, message = exc.status_code, _message(exc)
        if status == 404:
            return HostDown(
                ModelNotFound(
                    f"the OpenAI-compatible server at {host.url} does not serve the model "
                    f"{self.model} (KURA_OLLAMA_MODEL): {message}"
                )
            )
        if status in (401, 403):
            return HostDown(
                LLMUnavailable(
                    f"the OpenAI-compatible server at {host.url} refused kura's API key "
                    f"(KURA_OPENAI_API_KEY): {message}"
                )
            )
        if status == 400 and _TOO_LONG.search(message):
            return ContextTruncated(
                f"{host.url} refused the prompt as longer than the model's context "
                f"({self.num_ctx} tokens): {message}"
            )
        if status in (429, 503):
            return Busy(f"the OpenAI-compatible server at {host.url} is busy: {message}", 10)
        failure = LLMUnavailable(f"{host.url} refused the request ({status}): {message}")
        return HostDown(failure) if status >= 500 else failure

    def _streamed(
        self,
        messages: list[dict[str, str]],
        think: ReasoningEffort,
        sampling: Sampling,
        eager: bool,
    ) -> dict[str, Any]:
        """The arguments of a streamed request; ``eager``: each read waits at most the hang
        timeout (another host is up to take the question), else KURA_REQUEST_TIMEOUT."""
        return {
            **self._request(messages, think, sampling),
            "stream": True,
            "stream_options": {"include_usage": True},
            "timeout": self._hang if eager else self._patient,
        }

    def _send(
        self,
        host: Host,
        messages: list[dict[str, str]],
        think: ReasoningEffort,
        sampling: Sampling,
        eager: bool | None = None,
    ) -> Generation:
        if not (self._eager(host) if eager is None else eager):
            return self._whole(host, messages, think, sampling)
        # vLLM and llama.cpp send a whole answer only once it is finished: while a host may be
        # given up on, the answer is streamed, the only way to tell a host that hangs from one
        # writing a long answer.
        answer = _Answer(Generation("", "", self.model, 0, 0, "", 0.0), self.model)
        request = self._streamed(messages, think, sampling, eager=True)
        try:
            with self._clients[host.url][0].chat.completions.create(**request) as stream:
                for chunk in stream:
                    answer.add(chunk)
        except openai.OpenAIError as exc:
            raise self._error(host, exc, eager=True) from exc
        answer.finish(host)
        return answer.stats

    def _whole(
        self, host: Host, messages: list[dict[str, str]], think: ReasoningEffort, sampling: Sampling
    ) -> Generation:
        """The answer asked whole, waiting KURA_REQUEST_TIMEOUT for it."""
        try:
            response = self._clients[host.url][0].chat.completions.create(
                **self._request(messages, think, sampling), stream=False
            )
        except openai.OpenAIError as exc:
            raise self._error(host, exc) from exc
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content or "") if choice else ""
        split = ThinkSplitter()
        piece, rest = split.feed(text), split.flush()
        usage = response.usage
        return Generation(
            content=piece.content + rest.content,
            thinking=(_reasoning(choice.message) if choice else "")
            + piece.thinking
            + rest.thinking,
            model=response.model or self.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            done_reason=_done_reason(choice.finish_reason if choice else None),
            seconds=0.0,
        )

    async def _open(
        self,
        host: Host,
        messages: list[dict[str, str]],
        think: ReasoningEffort,
        sampling: Sampling,
        stats: Generation,
    ) -> AsyncGenerator[Piece, None]:
        eager = self._eager(host)
        request = await asyncio.to_thread(self._streamed, messages, think, sampling, eager)
        client = self._clients[host.url][1]
        try:
            stream = await client.chat.completions.create(**request)
        except openai.OpenAIError as exc:
            raise self._error(host, exc, eager) from exc
        answer = _Answer(stats, self.model)
        try:
            async for chunk in stream:
                piece = answer.add(chunk)
                if piece.content or piece.thinking:
                    yield piece
        except openai.OpenAIError as exc:
            raise self._error(host, exc, eager) from exc
        finally:
            await stream.close()
        rest = answer.finish(host)
        if rest.content or rest.thinking:
            yield rest

    def check_host(self, host: Host) -> dict[str, Any]:
        """Whether the server at ``host`` answers and serves the model."""
        try:
            models = self._models(host)
        except openai.OpenAIError as exc:
            if _silent(exc):  # not KURA_REQUEST_TIMEOUT's advice: this was the model list
                detail = (
                    f"the OpenAI-compatible server at {host.url} did not list its models "
                    f"within {self._probe:g} s: it hangs or is overloaded"
                )
            else:
                error = self._error(host, exc)
                detail = str(error.error if isinstance(error, HostDown) else error)
            reachable = isinstance(exc, openai.APIStatusError)
            return {"ok": False, "reachable": reachable, "model_present": False, "detail": detail}
        names = {m.id for m in models}
        for m in models:
            names.update((m.model_extra or {}).get("aliases") or [])
        present = self.model in names
        detail = (
            "ready" if present else f"model missing: the server serves {', '.join(sorted(names))}"
        )
        return {"ok": present, "reachable": True, "model_present": present, "detail": detail}


def _silent(exc: openai.OpenAIError) -> bool:
    """Whether the server took the connection and then sent nothing in time (a connection not
    made in time, a firewall dropping packets, is a host not reachable)."""
    return isinstance(exc, openai.APITimeoutError) and not isinstance(
        exc.__cause__, httpx2.ConnectTimeout
    )


def _limits(seconds: float) -> httpx2.Timeout:
    return httpx2.Timeout(seconds, connect=min(CONNECT_TIMEOUT, seconds))


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return str(exc.message)


def _done_reason(finish_reason: str | None) -> str:
    """finish_reason as Ollama's done_reason: ``length`` when the token budget ran out."""
    return "length" if finish_reason == "length" else "stop"
