"""gpt-oss through Ollama's native /api/chat: num_ctx always sent, silent truncation caught."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
import ollama

from app.errors import ContextTruncated, LLMUnavailable, ModelNotFound
from app.settings import AppSettings, ReasoningEffort

logger = logging.getLogger(__name__)

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


class OllamaLLM:
    """The answering model behind Ollama."""

    def __init__(self, settings: AppSettings) -> None:
        self.settings = settings
        self.model = settings.ollama_model
        self.client = ollama.Client(host=settings.ollama_host, timeout=settings.request_timeout)
        # Readiness checks must answer quickly even when Ollama hangs.
        self.probe = ollama.Client(host=settings.ollama_host, timeout=5)

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

    def chat(self, messages: list[dict[str, str]], *, think: ReasoningEffort) -> Generation:
        """One non-streamed chat turn. Raises LLMUnavailable or ContextTruncated."""
        started = time.perf_counter()
        try:
            response = self.client.chat(
                model=self.model,
                messages=messages,
                think=think,
                stream=False,
                options={
                    "num_ctx": self.settings.num_ctx,
                    "num_predict": self.settings.answer_max_tokens,
                    "temperature": self.settings.temperature,
                },
            )
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise self._unavailable(exc) from exc
            raise LLMUnavailable(f"Ollama refused the request: {exc.error}") from exc
        except (ConnectionError, httpx.TransportError) as exc:
            raise self._unavailable(exc) from exc
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
        return generation

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
