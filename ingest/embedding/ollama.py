"""Embeddings from Ollama's /api/embed (bge-m3, qwen3-embedding...), through the ``ollama`` client.

What Ollama does, read from its source (server/routes.go EmbedHandler, v0.12.6 and v0.32.15):
a list ``input`` is embedded in one request and every vector comes back L2-normalised;
``truncate`` (default true) cuts a text to the context (min(num_ctx, the model's), less the
BOS/EOS tokens), false answers 400 instead; ``dimensions`` cuts each vector and normalises it
again. A model that is not pulled answers 404 ``model "x" not found, try pulling it first``; a
model that does not embed (gpt-oss) is loaded first and then refused (v0.12: 500 "this model
does not support embeddings"; llama-server based versions: 501 "This server does not support
embeddings ..."), so the model's /api/show capabilities are checked once, up front.

Every request sends keep_alive (KURA_EMBED_KEEP_ALIVE): without it Ollama unloads the model
after 5 idle minutes (OLLAMA_KEEP_ALIVE) and a question every ten minutes pays a cold load each
time. A question waits KURA_EMBED_QUERY_TIMEOUT for a model in memory, KURA_EMBED_TIMEOUT for
one that loads (at start, after Ollama restarted or evicted it): /api/ps is asked only when the
model is not known to be in memory, or after a question timed out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import ollama
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from ingest import ollama_memory
from ingest.embedding.breaker import HostBreaker
from ingest.errors import EmbedderUnavailable, EmbedderUnreachable
from ingest.settings import PACKAGED_EMBED_MODEL, IndexSettings

logger = logging.getLogger(__name__)

# The context Ollama gives a request that sends no num_ctx (api.DefaultOptions): what an
# embedding model reads of one text, whatever longer context it was trained for.
OLLAMA_DEFAULT_NUM_CTX = 4096
_PROBE_TIMEOUT = 10.0  # seconds for /api/show: it reads a manifest, loads nothing
_PS_TIMEOUT = 5.0  # seconds for /api/ps and /api/version, asked before or after a question
_REMEMBERED = 10.0  # seconds a stand-alone embedder remembers its host is down (as by default)


def _unreachable(host: str) -> str:
    return (
        f"cannot reach Ollama at {host} to embed: start it (`ollama serve`) or point "
        "KURA_EMBED_OLLAMA_HOST (or KURA_OLLAMA_HOST) at it"
    )


def _not_pulled(model: str, host: str) -> str:
    return (
        f"the embedding model {model!r} is not pulled on Ollama at {host}: "
        f"run `ollama pull {model}`"
    )


def _not_embedding(model: str, host: str, detail: str) -> str:
    return (
        f"{model!r} on Ollama at {host} is not an embedding model ({detail}): set "
        "KURA_EMBED_MODEL to one, e.g. bge-m3 (`ollama pull bge-m3`)"
    )


def explain(
    exc: Exception,
    model: str,
    host: str,
    timeout: float,
    bound: str = "KURA_EMBED_TIMEOUT, which includes loading the model",
) -> EmbedderUnavailable:
    """An Ollama or transport failure as kura's error, naming the host, the model and the fix
    (``bound``: the setting that bounds the wait, and what the wait covered):
    EmbedderUnreachable when it may pass (down, too slow, 5xx), else EmbedderUnavailable."""
    if isinstance(exc, ollama.ResponseError):
        message = str(exc.error)
        if exc.status_code == 404:
            return EmbedderUnavailable(_not_pulled(model, host))
        if "support embeddings" in message:
            return EmbedderUnavailable(_not_embedding(model, host, message))
        refused = (
            f"Ollama at {host} refused to embed with {model!r} (HTTP {exc.status_code}): {message}"
        )
        if exc.status_code >= 500 or exc.status_code == 429:
            # busy (OLLAMA_MAX_QUEUE: 503), a runner that died, a proxy in front: may pass
            return EmbedderUnreachable(refused, host)
        return EmbedderUnavailable(refused)
    if isinstance(exc, httpx.TimeoutException):
        return EmbedderUnreachable(
            f"Ollama at {host} did not embed with {model!r} within {timeout:g} s ({bound})",
            host,
        )
    return EmbedderUnreachable(_unreachable(host), host)


_CALL_ERRORS = (ollama.ResponseError, ConnectionError, httpx.HTTPError)


class OllamaEmbedding(BaseEmbedding):
    """Dense vectors from an Ollama embedding model; ``max_length`` is what it reads of a text.
    Its requests go through ``breaker``: refused at once while the host is known to be down.
    A search's question waits ``query_timeout`` for a model in memory, a batch of chunks (and a
    question while the model loads) ``timeout``: a host that hangs must not hold a search for as
    long as a large batch or a cold load may take."""

    host: str
    query_prefix: str = ""
    document_prefix: str = ""
    dimensions: int | None = None
    timeout: float = 120.0
    query_timeout: float = 30.0
    max_length: int = OLLAMA_DEFAULT_NUM_CTX
    keep_alive: str = "-1"  # a KEEP_ALIVE_PATTERN value

    _client: Any = PrivateAttr(default=None)
    _async_client: Any = PrivateAttr(default=None)
    _query_client: Any = PrivateAttr(default=None)
    _async_query_client: Any = PrivateAttr(default=None)
    _probe: Any = PrivateAttr(default=None)
    _breaker: HostBreaker = PrivateAttr()
    # Until when (time.monotonic) the model is known to be in memory: the last answer plus
    # keep_alive; 0 after a failure.
    _loaded_until: float = PrivateAttr(default=0.0)

    def __init__(self, breaker: HostBreaker | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._breaker = breaker or HostBreaker(_REMEMBERED)
        self._client = ollama.Client(host=self.host, timeout=self.timeout)
        self._async_client = ollama.AsyncClient(host=self.host, timeout=self.timeout)
        self._query_client = ollama.Client(host=self.host, timeout=self.query_timeout)
        self._async_query_client = ollama.AsyncClient(host=self.host, timeout=self.query_timeout)
        self._probe = ollama.Client(host=self.host, timeout=self._probe_timeout)

    @classmethod
    def class_name(cls) -> str:
        return "OllamaEmbedding"

    def _request(self, texts: list[str]) -> dict[str, Any]:
        # truncate: a chunk over the context is cut, as the local model cuts it, not refused
        return {
            "model": self.model_name,
            "input": texts,
            "truncate": True,
            "dimensions": self.dimensions,
            "keep_alive": ollama_memory.keep_alive(self.keep_alive),
        }

    def _vectors(self, texts: list[str], answer: Any) -> list[list[float]]:
        vectors = [list(v) for v in answer.embeddings or []]
        if len(vectors) != len(texts) or any(not v for v in vectors):
            # gemma3 in Ollama 0.6 answered [null]: never store a missing vector as a point
            raise EmbedderUnavailable(
                f"Ollama at {self.host} returned {len(vectors)} embeddings for {len(texts)} "
                f"texts from {self.model_name!r}: is it an embedding model?"
            )
        return vectors

    def embed(self, texts: list[str], *, query: bool = False) -> list[list[float]]:
        """One /api/embed request for ``texts`` (as they are: prefixes already applied);
        ``query``: a search's question, which waits ``query_timeout`` unless the model loads."""
        if not texts:
            return []
        request = self._request(texts)
        with self._breaker.attempt():
            loaded = self._loaded() if query else False
            try:
                answer = self._call(request, eager=loaded is not False)
            except EmbedderUnreachable as exc:
                if not (loaded and self._was_loading(exc)):
                    raise
                answer = self._call(request, eager=False)
        return self._vectors(texts, answer)

    async def aembed(self, texts: list[str], *, query: bool = False) -> list[list[float]]:
        """``embed``, without blocking the event loop."""
        if not texts:
            return []
        request = self._request(texts)
        with self._breaker.attempt():
            loaded = await asyncio.to_thread(self._loaded) if query else False
            try:
                answer = await self._acall(request, eager=loaded is not False)
            except EmbedderUnreachable as exc:
                if not (loaded and await asyncio.to_thread(self._was_loading, exc)):
                    raise
                answer = await self._acall(request, eager=False)
        return self._vectors(texts, answer)

    def _call(self, request: dict[str, Any], eager: bool) -> Any:
        """``request`` sent, waiting ``query_timeout`` when ``eager``, else ``timeout``."""
        client = self._query_client if eager else self._client
        try:
            answer = client.embed(**request)
        except _CALL_ERRORS as exc:
            self._loaded_until = 0.0
            raise self._explain(exc, eager) from exc
        self._answered()
        return answer

    async def _acall(self, request: dict[str, Any], eager: bool) -> Any:
        client = self._async_query_client if eager else self._async_client
        try:
            answer = await client.embed(**request)
        except _CALL_ERRORS as exc:
            self._loaded_until = 0.0
            raise self._explain(exc, eager) from exc
        self._answered()
        return answer

    def _answered(self) -> None:
        # Ollama keeps the model keep_alive seconds from the end of this request.
        self._loaded_until = time.monotonic() + ollama_memory.keep_alive_seconds(self.keep_alive)

    @property
    def _probe_timeout(self) -> float:
        # A check costs a question no more than the hang it looks for.
        return min(_PS_TIMEOUT, self.query_timeout)

    def _in_memory(self) -> bool | None:
        return ollama_memory.in_memory(self._probe, self.host, self.model_name, self._probe_timeout)

    def _loaded(self) -> bool | None:
        """Whether the model is in memory, known or asked (/api/ps), before a question: it
        waits ``query_timeout`` unless False (loading, or not loaded). None: the host does not
        say; the question goes as it always did, and a timeout is not checked again (a host
        that hangs fails at the question timeout and one check)."""
        if time.monotonic() < self._loaded_until:
            return True
        return self._in_memory()

    def _was_loading(self, failure: EmbedderUnreachable) -> bool:
        """Whether a question that timed out found the model not in memory: evicted, or Ollama
        restarted, since the last answer. Ollama drops a load whose request went away
        (server/sched.go, WaitUntilRunning(req.ctx)), so it is asked again, patiently."""
        cause = failure.__cause__
        silent = isinstance(cause, httpx.TimeoutException)
        if not silent or isinstance(cause, httpx.ConnectTimeout) or self._in_memory() is not False:
            return False
        logger.info(
            "%s was not in memory on Ollama at %s: waiting for its load", self.model_name, self.host
        )
        return True

    def _explain(self, exc: Exception, eager: bool) -> EmbedderUnavailable:
        if eager:
            bound = "KURA_EMBED_QUERY_TIMEOUT; the model was in memory"
            return explain(exc, self.model_name, self.host, self.query_timeout, bound)
        return explain(exc, self.model_name, self.host, self.timeout)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.embed([self.query_prefix + query], query=True)[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return (await self.aembed([self.query_prefix + query], query=True))[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.embed([self.document_prefix + text])[0]

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return (await self.aembed([self.document_prefix + text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        # BaseEmbedding hands over embed_batch_size texts at a time: one request each.
        return self.embed([self.document_prefix + t for t in texts])

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await self.aembed([self.document_prefix + t for t in texts])


def context_length(shown: Any) -> int | None:
    """The model's trained context from /api/show (``<architecture>.context_length``)."""
    info = dict(shown.modelinfo or {})
    arch = info.get("general.architecture")
    length = info.get(f"{arch}.context_length") or next(
        (v for k, v in info.items() if k.endswith(".context_length")), None
    )
    return int(length) if length else None


def show_model(settings: IndexSettings, breaker: HostBreaker) -> Any:
    """The configured model's /api/show, checked: the host answers, the model is pulled and
    embeds (a chat model would be loaded, gigabytes, before Ollama refused it). Reads a
    manifest, loads nothing: cheap enough for every /readyz. Through ``breaker``: a host known
    to be down is not asked, unless it is this call's turn to check it."""
    model, host = settings.embed_model, settings.embed_ollama_host
    if model == PACKAGED_EMBED_MODEL:
        raise EmbedderUnavailable(
            "KURA_EMBED_BACKEND=ollama needs KURA_EMBED_MODEL set to an Ollama embedding "
            "model, e.g. bge-m3 (`ollama pull bge-m3`)"
        )
    timeout = min(settings.embed_timeout, _PROBE_TIMEOUT)
    with breaker.attempt():
        try:
            shown = ollama.Client(host=host, timeout=timeout).show(model)
        except _CALL_ERRORS as exc:
            bound = f"nor describe it, /api/show: KURA_EMBED_TIMEOUT, at most {_PROBE_TIMEOUT:g} s"
            raise explain(exc, model, host, timeout, bound) from exc
    capabilities = list(shown.capabilities or [])
    if capabilities and "embedding" not in capabilities:
        raise EmbedderUnavailable(
            _not_embedding(model, host, f"its capabilities are {', '.join(capabilities)}")
        )
    return shown


def build_ollama_embedder(
    settings: IndexSettings, breaker: HostBreaker | None = None
) -> OllamaEmbedding:
    """The Ollama embedder the settings name, its model checked once (``show_model``); its
    requests go through ``breaker`` (None: one of its own, KURA_EMBED_RETRY_BACKOFF long)."""
    model, host = settings.embed_model, settings.embed_ollama_host
    breaker = breaker or HostBreaker(settings.embed_retry_backoff)
    trained = context_length(show_model(settings, breaker))
    logger.info("embedding with %s on Ollama at %s (context %s)", model, host, trained)
    return OllamaEmbedding(
        model_name=model,
        host=host,
        query_prefix=settings.embed_query_prefix,
        document_prefix=settings.embed_document_prefix,
        dimensions=settings.embed_dimensions,
        timeout=settings.embed_timeout,
        query_timeout=settings.embed_query_timeout,
        embed_batch_size=settings.embed_batch_size,
        keep_alive=settings.embed_keep_alive,
        max_length=min(trained or OLLAMA_DEFAULT_NUM_CTX, OLLAMA_DEFAULT_NUM_CTX),
        breaker=breaker,
    )
