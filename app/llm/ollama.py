"""gpt-oss through Ollama's native /api/chat: num_ctx and keep_alive always sent, the model's
facts read from /api/show and /api/version."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

import httpx
import ollama

from app.llm.checks import error_for, unavailable
from app.llm.generation import Generation, ModelFacts, Piece, Sampling
from app.llm.hosts import Host
from app.llm.model import AnsweringModel, HostDown, cut_short
from app.settings import AppSettings, ReasoningEffort
from ingest.errors import KuraError

logger = logging.getLogger(__name__)

_CALL_ERRORS = (ollama.ResponseError, ConnectionError, httpx.TransportError)
CONNECT_TIMEOUT = 10.0  # seconds: a host that does not accept a connection is down


class _Clients:
    """The clients toward one Ollama host."""

    def __init__(self, url: str, timeout: float) -> None:
        limits = httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout))
        self.client = ollama.Client(host=url, timeout=limits)
        self.async_client = ollama.AsyncClient(host=url, timeout=limits)
        # Readiness checks must answer quickly even when Ollama hangs.
        self.probe = ollama.Client(host=url, timeout=5)


class OllamaLLM(AnsweringModel):
    """The answering model behind one or more Ollama hosts."""

    backend = "ollama"
    server = "Ollama"

    def __init__(
        self, settings: AppSettings, on_change: Callable[[int, int], None] | None = None
    ) -> None:
        self._clients = {url: _Clients(url, settings.request_timeout) for url in settings.llm_hosts}
        super().__init__(settings, on_change)

    def _describe(self, host: Host) -> ModelFacts | None:
        try:
            shown = self._clients[host.url].probe.show(self.model)
            answer = httpx.get(f"{host.url}/api/version", timeout=5)
            version = str(answer.json().get("version", ""))
        except (ConnectionError, httpx.HTTPError, ollama.ResponseError, ValueError) as exc:
            logger.info("Ollama at %s cannot describe %s yet: %s", host.url, self.model, exc)
            return None
        info = dict(shown.modelinfo or {})
        arch = info.get("general.architecture")
        length = info.get(f"{arch}.context_length") or next(
            (v for k, v in info.items() if k.endswith(".context_length")), None
        )
        capabilities = shown.capabilities
        facts = ModelFacts(
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
            facts.context_length,
            facts.thinks,
        )
        return facts

    @property
    def keep_alive(self) -> float | str:
        """keep_alive as Ollama reads it: a number is seconds, a string a Go duration."""
        value = self.settings.ollama_keep_alive
        try:
            seconds = float(value)
        except ValueError:
            return value
        return int(seconds) if seconds.is_integer() else seconds

    def _request(
        self, messages: list[dict[str, str]], think: ReasoningEffort, sampling: Sampling
    ) -> dict[str, Any]:
        options: dict[str, Any] = {
            "num_ctx": self.num_ctx,
            "num_predict": self.num_predict(sampling.num_predict),
            "temperature": self.settings.temperature
            if sampling.temperature is None
            else sampling.temperature,
        }
        if sampling.stop:
            options["stop"] = sampling.stop
        return {
            "model": self.model,
            "messages": messages,
            "think": think if self.facts().thinks else None,
            "keep_alive": self.keep_alive,
            "options": options,
        }

    def _down(self, host: Host, exc: Exception, loaded: bool | None) -> KuraError | HostDown:
        error, down = error_for(self, exc, host.url, loaded)
        connect = isinstance(exc, ConnectionError | httpx.ConnectError)
        return HostDown(error, retry_same=connect) if down else error

    def _send(
        self, host: Host, messages: list[dict[str, str]], think: ReasoningEffort, sampling: Sampling
    ) -> Generation:
        loaded = self._loaded(host)
        try:
            response = self._clients[host.url].client.chat(
                **self._request(messages, think, sampling), stream=False
            )
        except _CALL_ERRORS as exc:
            raise self._down(host, exc, loaded) from exc
        return Generation(
            content=response.message.content or "",
            thinking=response.message.thinking or "",
            model=response.model or self.model,
            prompt_tokens=response.prompt_eval_count or 0,
            completion_tokens=response.eval_count or 0,
            done_reason=response.done_reason or "",
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
        loaded = await asyncio.to_thread(self._loaded, host)
        request = await asyncio.to_thread(self._request, messages, think, sampling)
        # The request is sent at the first read.
        response: Any = await self._clients[host.url].async_client.chat(**request, stream=True)
        content: list[str] = []
        thinking: list[str] = []
        done = False
        try:
            async for part in response:
                piece = Piece(part.message.content or "", part.message.thinking or "")
                content.append(piece.content)
                thinking.append(piece.thinking)
                if part.done:
                    done = True
                    stats.model = part.model or self.model
                    stats.prompt_tokens = part.prompt_eval_count or 0
                    stats.completion_tokens = part.eval_count or 0
                    stats.done_reason = part.done_reason or ""
                if piece.content or piece.thinking:
                    yield piece
        except _CALL_ERRORS as exc:
            raise self._down(host, exc, loaded) from exc
        finally:
            await response.aclose()
        if not done:
            raise cut_short(host)
        stats.content, stats.thinking = "".join(content), "".join(thinking)

    def _loaded(self, host: Host) -> bool | None:
        """Whether Ollama has the model in memory now (None: cannot tell). Asked before each
        request, so a timeout can be told apart: a model that was not loaded was loading."""
        try:
            running = self._clients[host.url].probe.ps().models
        except (ConnectionError, httpx.HTTPError, ollama.ResponseError):
            return None
        return any(m.model in (self.model, f"{self.model}:latest") for m in running)

    def check_host(self, host: Host) -> dict[str, Any]:
        """Whether Ollama at ``host`` answers and has the model."""
        try:
            listed = self._clients[host.url].probe.list()
        except (ConnectionError, httpx.TransportError, ollama.ResponseError) as exc:
            return {
                "ok": False,
                "reachable": False,
                "model_present": False,
                "detail": str(unavailable(self, exc, host.url)),
            }
        names = {m.model for m in listed.models}
        present = self.model in names or f"{self.model}:latest" in names
        detail = "ready" if present else f"model missing: run `ollama pull {self.model}`"
        return {"ok": present, "reachable": True, "model_present": present, "detail": detail}
