"""The embedding models of one process: the configured model per runtime that embeds for a
collection (built on first use and kept), the multilingual model, the embeddings of search
queries they remember, and what this process knows of Ollama's embedding host.

``Components`` (ingest/components.py) holds one and says which runtime a collection needs;
this module only builds, keeps and asks the models."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from llama_index.core.base.embeddings.base import BaseEmbedding

from ingest.embedding import build_embedder
from ingest.embedding.breaker import HostBreaker
from ingest.embedding.identity import default_runtime
from ingest.embedding.multilingual import build_multilingual_embedder
from ingest.errors import EmbedderUnreachable
from ingest.serving import Serving
from ingest.settings import IndexSettings

logger = logging.getLogger(__name__)


@dataclass
class Embedders:
    """The embedding models, one per runtime, shared by every thread of the process."""

    settings: IndexSettings
    given: BaseEmbedding | None  # None: the configured model, built on first use
    _built: dict[str | None, BaseEmbedding] = field(default_factory=dict)
    _query_caches: dict[str | None, Callable[[str], list[float]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # What this process knows of Ollama's embedding host: down for KURA_EMBED_RETRY_BACKOFF
    # seconds after a failure, then checked by one request at a time.
    host: HostBreaker = field(init=False)

    def __post_init__(self) -> None:
        self.host = HostBreaker(self.settings.embed_retry_backoff)

    @cached_property
    def default(self) -> BaseEmbedding:
        """The embedder build_components was given, else the configured model run by the
        runtime a new collection gets (what `kura reindex` moves a collection to)."""
        return self.of(default_runtime(self.settings))

    def of(self, runtime: str | None) -> BaseEmbedding:
        """The configured model run by ``runtime`` (None: Ollama's), built on first use and
        kept: a runtime no collection uses is never loaded."""
        if self.given is not None:
            return self.given
        with self._lock:
            built = self._built.get(runtime)
            if built is None and self.settings.embed_backend == "local":
                built = self._built[runtime] = self._warmed(runtime)  # loaded once
        if built is None:
            # Ollama's is built outside the lock: asking a host that hangs must hold up no
            # other search (they are refused at once by ``host`` while it is checked).
            built = self._warmed(runtime)
            with self._lock:
                built = self._built.setdefault(runtime, built)
        return built

    def _warmed(self, runtime: str | None) -> BaseEmbedding:
        built = build_embedder(self.settings, runtime, self.host)
        # One embedding before it is shared: a tokenizer sets its truncation on its first
        # call, which must not race a concurrent first call (architecture.md). Through Ollama
        # it loads the model, waited for as a load (KURA_EMBED_TIMEOUT), not as a question.
        built.get_query_embedding("warm-up")
        return built

    def load(self, runtime: str | None, *, wait_for_host: bool) -> None:
        """Build the model of ``runtime`` now, so that a missing or broken one fails at start.
        ``wait_for_host``: an embedding host that is down does not fail it."""
        # Ollama not up yet (compose starts kura first) or restarting is not a setting to fix:
        # a service starts, and the embedder is built on its first use once the host answers,
        # as a queued file waits for it. A wrong setting (EmbedderUnavailable) still fails.
        try:
            self.of(runtime)
        except EmbedderUnreachable as exc:
            if not wait_for_host:
                raise
            logger.warning("starting without the embedder, built once its host answers: %s", exc)

    def ping(self) -> str | None:
        """Check the embedding host answers with the model (``ollama``: it may be down at start,
        or go down later; while ``host`` knows it is down, not asked); a short description,
        raises EmbedderUnavailable. None: there is no host (the model runs in this process,
        loaded at start)."""
        if self.given is not None or self.settings.embed_backend != "ollama":
            return None
        from ingest.embedding.ollama import show_model

        show_model(self.settings, self.host)
        return f"{self.settings.embed_model} on Ollama at {self.settings.embed_ollama_host}"

    def loaded_runtimes(self) -> list[str]:
        """The runtimes whose model this process holds (``ollama``: Ollama's client)."""
        with self._lock:
            return sorted(runtime or "ollama" for runtime in self._built)

    def query_embedding(self, query: str, copy: Serving | None = None) -> list[float]:
        """The embedding of a search query in ``copy`` (by that copy's runtime, from
        ``Components.serving(..., embeds=True)``; None: the default runtime's), remembered for
        the last few hundred queries: an answer searches its question more than once
        (passages, then relevance)."""
        if copy is not None and not copy.checked:
            raise ValueError(f"{copy.physical} was taken without embeds=True: no runtime known")
        runtime = default_runtime(self.settings) if copy is None else copy.runtime
        with self._lock:
            cached = self._query_caches.get(runtime)
        if cached is None:
            embedder = self.of(runtime)
            with self._lock:
                cached = self._query_caches.setdefault(
                    runtime, functools.lru_cache(maxsize=256)(embedder.get_query_embedding)
                )
        return cached(query)

    @cached_property
    def multilingual(self) -> BaseEmbedding | None:
        """The model of the ``multi`` vector, built on first use; None when turned off."""
        return build_multilingual_embedder(self.settings)

    @cached_property
    def multi_query_embedding(self) -> Callable[[str], list[float]]:
        """The multilingual embedding of a search query (remembered as ``query_embedding``);
        only when ``multilingual`` is not None."""
        embedder = self.multilingual
        if embedder is None:
            raise ValueError("no multilingual model is configured (KURA_MULTILINGUAL_MODEL)")
        return functools.lru_cache(maxsize=256)(embedder.get_query_embedding)

    @cached_property
    def multi_dimension(self) -> int | None:
        """Length of the multilingual vectors (None: no multilingual model)."""
        embedder = self.multilingual
        return None if embedder is None else len(embedder.get_text_embedding("dimension probe"))
