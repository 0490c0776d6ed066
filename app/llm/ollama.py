"""gpt-oss through Ollama's native /api/chat: num_ctx and keep_alive always sent, the model's
facts read from /api/show and /api/version.

A host with the model in memory that sends nothing for KURA_LLM_HANG_TIMEOUT, while another
host is up, is hung: kura drops the request and the question goes to another host. Ollama sends
nothing, not even the headers, until the first piece of an answer (server/routes.go ChatHandler
loads the model, then streamResponse writes at the first piece) and, with stream=false, nothing
until the answer is finished; so while a host may be given up on, a whole answer is streamed
too, the only way to tell a host that hangs from one writing a long answer. A host loading the
model is left to load (a cold gpt-oss:20b takes tens of seconds, and Ollama aborts a load whose
request went away: server/sched.go, WaitUntilRunning(req.ctx)), and so is the only host up:
both wait KURA_REQUEST_TIMEOUT, as they always did.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

import httpx
import ollama

from app.llm.checks import error_for, hung, unavailable
from app.llm.generation import Generation, ModelFacts, Piece, Sampling
from app.llm.hosts import Host
from app.llm.model import AnsweringModel, HostDown, cut_short
from app.settings import AppSettings, ReasoningEffort
from ingest.errors import KuraError
from ingest.ollama_memory import in_memory, keep_alive

logger = logging.getLogger(__name__)

_CALL_ERRORS = (ollama.ResponseError, ConnectionError, httpx.TransportError)
CONNECT_TIMEOUT = 10.0  # seconds: a host that does not accept a connection is down
PROBE_TIMEOUT = 5.0  # seconds for the checks (/api/tags, /api/ps, /api/show): nothing loads


def _limits(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(CONNECT_TIMEOUT, seconds))


class _Clients:
    """The clients toward one Ollama host: patient ones, and eager ones that give up on a host
    silent for the hang timeout (each read waits at most that long)."""

    def __init__(self, url: str, settings: AppSettings) -> None:
        hang = min(settings.llm_hang_timeout, settings.request_timeout)
        self.client = ollama.Client(host=url, timeout=_limits(settings.request_timeout))
        self.async_client = ollama.AsyncClient(host=url, timeout=_limits(settings.request_timeout))
        self.eager = ollama.Client(host=url, timeout=_limits(hang))
        self.async_eager = ollama.AsyncClient(host=url, timeout=_limits(hang))
        # Checks must answer quickly even when Ollama hangs, and cost a question no more than
        # the hang it looks for.
        self.probe_timeout = min(PROBE_TIMEOUT, hang)
        self.probe = ollama.Client(host=url, timeout=self.probe_timeout)


class _Collected:
    """An answer read piece by piece from Ollama's stream, into ``stats``."""

    def __init__(self, stats: Generation, model: str) -> None:
        self.stats, self.model = stats, model
        self.content: list[str] = []
        self.thinking: list[str] = []
        self.done = False

    def add(self, part: Any) -> Piece:
        """Take one streamed part; what it adds to the answer."""
        piece = Piece(part.message.content or "", part.message.thinking or "")
        self.content.append(piece.content)
        self.thinking.append(piece.thinking)
        if part.done:
            self.done = True
            self.stats.model = part.model or self.model
            self.stats.prompt_tokens = part.prompt_eval_count or 0
            self.stats.completion_tokens = part.eval_count or 0
            self.stats.done_reason = part.done_reason or ""
        return piece

    def finish(self, host: Host) -> Generation:
        """The whole answer; HostDown when the stream ended before Ollama said it was done."""
        if not self.done:
            raise cut_short(host)
        self.stats.content, self.stats.thinking = "".join(self.content), "".join(self.thinking)
        return self.stats


class OllamaLLM(AnsweringModel):
    """The answering model behind one or more Ollama hosts."""

    backend = "ollama"
    server = "Ollama"

    def __init__(
        self, settings: AppSettings, on_change: Callable[[int, int], None] | None = None
    ) -> None:
        self._clients = {url: _Clients(url, settings) for url in settings.llm_hosts}
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
        return keep_alive(self.settings.ollama_keep_alive)

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

    def _down(
        self, host: Host, exc: Exception, loaded: bool | None, eager: bool
    ) -> KuraError | HostDown:
        silent = isinstance(exc, httpx.TimeoutException)
        if eager and silent and not isinstance(exc, httpx.ConnectTimeout):
            return HostDown(hung(self, host.url), hung=True)
        error, down = error_for(self, exc, host.url, loaded)
        connect = isinstance(exc, ConnectionError | httpx.ConnectError)
        return HostDown(error, retry_same=connect) if down else error

    def _send(
        self,
        host: Host,
        messages: list[dict[str, str]],
        think: ReasoningEffort,
        sampling: Sampling,
        eager: bool | None = None,
    ) -> Generation:
        loaded = self._loaded(host)
        eager = self._eager(host, loaded) if eager is None else eager
        clients = self._clients[host.url]
        answer = _Collected(Generation("", "", self.model, 0, 0, "", 0.0), self.model)
        request = self._request(messages, think, sampling)
        try:
            if eager:
                for part in clients.eager.chat(**request, stream=True):
                    answer.add(part)
            else:  # waiting KURA_REQUEST_TIMEOUT in any case: the answer whole, as one part
                answer.add(clients.client.chat(**request, stream=False))
        except _CALL_ERRORS as exc:
            raise self._down(host, exc, loaded, eager) from exc
        return answer.finish(host)

    async def _open(
        self,
        host: Host,
        messages: list[dict[str, str]],
        think: ReasoningEffort,
        sampling: Sampling,
        stats: Generation,
    ) -> AsyncGenerator[Piece, None]:
        loaded = await asyncio.to_thread(self._loaded, host)
        eager = self._eager(host, loaded)
        request = await asyncio.to_thread(self._request, messages, think, sampling)
        clients = self._clients[host.url]
        # The request is sent at the first read.
        client = clients.async_eager if eager else clients.async_client
        response: Any = await client.chat(**request, stream=True)
        answer = _Collected(stats, self.model)
        try:
            async for part in response:
                piece = answer.add(part)
                if piece.content or piece.thinking:
                    yield piece
        except _CALL_ERRORS as exc:
            raise self._down(host, exc, loaded, eager) from exc
        finally:
            await response.aclose()
        answer.finish(host)

    def _loading(self, host: Host) -> bool:
        return self._loaded(host) is False

    def _loaded(self, host: Host) -> bool | None:
        """Whether Ollama has the model in memory now, False while it loads (None: cannot
        tell, the host does not answer). Asked before each request, so a timeout can be told
        apart and a load is not taken for a hang: a model that was not loaded was loading."""
        clients = self._clients[host.url]
        return in_memory(clients.probe, host.url, self.model, clients.probe_timeout)

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
