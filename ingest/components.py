"""The one place that builds the outside world from settings: the embedding models
(ingest/embedders.py), the store backend (ingest/stores/) and the copies it serves each
collection from, and on first use the registry, the parse pool and the token counter."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import InitVar, dataclass, field
from functools import cached_property

from llama_index.core.base.embeddings.base import BaseEmbedding

from ingest import faults
from ingest.embedders import Embedders
from ingest.embedding.identity import (
    EmbedderIdentity,
    compatible,
    configured,
    default_runtime,
    legacy,
    runtime_for,
)
from ingest.embedding.local import embed_model_path, model_dimension, model_max_length
from ingest.errors import CollectionNotFound, EmbedderMismatch, StoreUnavailable
from ingest.private import private_dir
from ingest.registry import Registry
from ingest.schema import qdrant_collection
from ingest.serving import Leases, Serving
from ingest.settings import PACKAGED_EMBED_MODEL, IndexSettings
from ingest.stores import Backend, KuraStore, build_backend
from ingest.tokens import TokenCounter
from ingest.worker import ParseLimits, ParsePool

logger = logging.getLogger(__name__)

COLLECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
# What an embedder that does not state its window is taken to read: the limit of the
# BERT-family encoders sentence-transformers models are made from.
DEFAULT_MAX_TOKENS = 512


@dataclass
class Components:
    """Long-lived clients shared by ingestion and the API. Build once, close on exit."""

    settings: IndexSettings
    backend: Backend  # Qdrant Edge in a folder, or a Qdrant server: chosen once
    given_embedder: InitVar[BaseEmbedding | None]  # None: the configured model, on first use
    _stores: dict[str, KuraStore] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Qdrant collections whose embedder was checked, and the runtime that embeds for each.
    _runtimes: dict[str, str | None] = field(default_factory=dict)
    _leases: Leases = field(default_factory=Leases)  # copies searches hold (ingest/serving.py)
    embedders: Embedders = field(init=False)  # the models, one per runtime (ingest/embedders.py)

    def __post_init__(self, given_embedder: BaseEmbedding | None) -> None:
        self.embedders = Embedders(self.settings, given_embedder)

    def preload(self, *, wait_for_host: bool = False) -> None:
        """Load the runtimes the existing collections are embedded by (the default one when
        there are none), so that a missing or broken model fails now, not mid-request, and a
        runtime no collection uses is not loaded. Reads the records only (opens no store).
        ``wait_for_host``: an embedding host that is down does not fail it (``Embedders.load``)."""
        runtimes = set()
        try:
            for collection in self.collections():
                physical = self.backend.physical(self.qdrant_name(collection))
                record = self.backend.identity(physical)
                recorded = EmbedderIdentity.from_record(record) if record else legacy(0)
                runtimes.add(runtime_for(self.settings, recorded))
        except Exception as error:  # noqa: BLE001  (a store down: 503 per request, not at start)
            logger.warning(
                "cannot read the collections' embedders (%s): loading the default", error
            )
        for runtime in runtimes or {default_runtime(self.settings)}:
            self.embedders.load(runtime, wait_for_host=wait_for_host)

    def embedder_for(self, collection: str) -> BaseEmbedding:
        """The embedder that writes and searches ``collection``: its recorded family's runtime
        (checked: EmbedderMismatch); the default one for a collection not made yet."""
        if self.embedders.given is not None:
            return self.embedders.given
        return self.embedders.of(self.runtime_for(collection))

    def runtime_for(self, collection: str) -> str | None:
        """The runtime that embeds for ``collection`` now (checked; None: Ollama embeds)."""
        if not self.collection_exists(collection):
            return default_runtime(self.settings)
        with self.serving(collection, embeds=True) as copy:
            return copy.runtime

    @contextmanager
    def serving(self, collection: str, *, embeds: bool = False) -> Iterator[Serving]:
        """The copy serving ``collection`` now, held until the block ends (ingest/serving.py).
        ``embeds`` (a search by meaning): its embedder checked (EmbedderMismatch) and its
        runtime given, from the same look-up as its store."""
        if embeds:
            # Measured before the lock, not under it: an Ollama model's dimension costs an
            # /api/embed, and a host slow to answer it must hold up no other search.
            _ = self.dimension
        with self._lock:  # a swap waits: the record checked is this copy's
            physical, store = self._open(collection, create=False, check=embeds)
            if store is None:
                raise CollectionNotFound(collection)
            runtime = self._runtimes.get(physical)
            self._leases.take(physical)
        try:
            yield Serving(collection, physical, store, runtime, embeds)
        finally:
            self._leases.give_back(physical)

    @cached_property
    def registry(self) -> Registry:
        """Collections' settings and indexing failures (kura's own SQLite database)."""
        return Registry(self.settings.state_database)

    @cached_property
    def parsers(self) -> ParsePool:
        """The parsing worker process (started on first use): every file is read there, under
        the parse time and memory limits."""
        limits = ParseLimits.from_settings(self.settings)
        return ParsePool(limits)

    @cached_property
    def count_tokens(self) -> TokenCounter:
        """Counts the embedding model's word pieces in a text (no special tokens); for a model
        served by Ollama, whose tokenizer is not on this machine, the packaged model's pieces
        measure chunks (Ollama's encoders read thousands of tokens: the chunk size binds)."""
        local = self.settings.embed_backend == "local"
        return TokenCounter(
            embed_model_path(self.settings.embed_model if local else PACKAGED_EMBED_MODEL)
        )

    @cached_property
    def max_tokens(self) -> int:
        """Word pieces the embedding model reads; text past this is ignored by the model."""
        if self.embedders.given is None and self.settings.embed_backend == "local":
            # what every runtime reads, from the model's own configuration: loads no runtime
            configured_length = model_max_length(embed_model_path(self.settings.embed_model))
            if configured_length:
                return configured_length
        # HuggingFaceEmbedding states its model's max_seq_length as max_length.
        stated = getattr(self.embedders.default, "max_length", None)
        return int(stated) if stated else DEFAULT_MAX_TOKENS

    @cached_property
    def dimension(self) -> int:
        """Length of the embedding vectors: a local model's from its configuration, an Ollama
        model's from KURA_EMBED_DIMENSIONS; measured only for a given embedder or an Ollama
        model of its full size (one /api/embed call). No torch is loaded for it."""
        settings = self.settings
        if self.embedders.given is None and settings.embed_backend == "local":
            return model_dimension(embed_model_path(settings.embed_model))
        if self.embedders.given is None and settings.embed_dimensions:
            return settings.embed_dimensions
        return len(self.embedders.default.get_text_embedding("dimension probe"))

    @cached_property
    def identity(self) -> EmbedderIdentity:
        """The identity a new collection gets (and `kura reindex` moves one to)."""
        return configured(self.settings, self.dimension, default_runtime(self.settings))

    def check_embedder(self, collection: str) -> None:
        """Raise EmbedderMismatch unless the collection was embedded by the configured
        embedder (``vector_store(..., embeds=True)`` checks the very copy it returns)."""
        self.vector_store(collection, embeds=True)

    def _check(self, collection: str, physical: str, store: KuraStore) -> None:
        # A collection made before identities were recorded is taken as made by a local model
        # of its dimension (and then recorded), or by the configured embedder when empty.
        if physical in self._runtimes:
            return
        record = self.backend.identity(physical)
        if record is not None:
            recorded: EmbedderIdentity | None = EmbedderIdentity.from_record(record)
        elif store.count_all() == 0:
            recorded = None
        else:
            recorded = legacy(self.backend.dimension(physical))
        runtime = runtime_for(self.settings, recorded)
        ours = configured(self.settings, self.dimension, runtime)
        if recorded is not None and not compatible(recorded, ours):
            raise EmbedderMismatch(collection, recorded.describe(), ours.describe())
        if record is None:
            # torch made the unrecorded ones: they are fp32 (runtime_for chose fp32 for them)
            self.backend.record_identity(physical, ours.record())
            logger.info("collection %s: recorded its embedder, %s", collection, ours.describe())
        self._runtimes[physical] = runtime

    def qdrant_name(self, collection: str) -> str:
        """Name of the Qdrant collection (or Edge shard folder) behind a kura collection."""
        if not COLLECTION_NAME.fullmatch(collection):
            # It becomes a folder name: never a path, never anything Qdrant would refuse.
            raise CollectionNotFound(collection)
        return qdrant_collection(self.settings.qdrant_collection_prefix, collection)

    def collection_exists(self, collection: str) -> bool:
        """Whether the kura collection exists."""
        return self.backend.exists(self.qdrant_name(collection))

    def vector_store(
        self, collection: str, *, create: bool = False, embeds: bool = False
    ) -> KuraStore:
        """The store of one collection (created first when ``create``). With ``create`` (a
        write) or ``embeds`` (a search by meaning), the embedder that made the copy it reads is
        checked first: EmbedderMismatch unless it is the configured one."""
        with self._lock:
            physical, store = self._open(collection, create=create, check=create or embeds)
        return self.backend.open(physical) if store is None else store  # None: not kept

    def _open(self, collection: str, *, create: bool, check: bool) -> tuple[str, KuraStore | None]:
        # Under self._lock (threads must not open one store twice): the copy serving now and
        # its store (None: none), kept by copy: after a swap the name resolves to the new one.
        physical = self.backend.physical(self.qdrant_name(collection))
        store = self._stores.get(physical)
        if store is None and self.backend.exists(physical):
            store = self._stores[physical] = self.backend.open(physical)
        elif store is None and create:
            store = self._stores[physical] = self.backend.create(
                physical, lambda: self.dimension, lambda: self.embedders.multi_dimension
            )
            self.backend.record_identity(physical, self.identity.record())
            self._runtimes[physical] = default_runtime(self.settings)
        if check and store is not None:
            # vectors of two models in one space: wrong results, or Qdrant refusing the length
            self._check(collection, physical, store)
        return physical, store

    def swap(self, collection: str, physical: str) -> tuple[str, KuraStore | None]:
        """Serve ``collection`` from Qdrant collection ``physical`` from now on, in one step
        for readers (``kura reindex``); returns the copy it served from, and its store here if
        one is open, for ``discard`` once the searches still running on it are done."""
        name = self.qdrant_name(collection)
        with self._lock:
            replaced = self.backend.physical(name)
            self.backend.point(name, physical)
            self._runtimes.pop(replaced, None)
            return replaced, self._stores.pop(replaced, None)

    def discard(self, replaced: str, store: KuraStore | None) -> None:
        """Close and delete a copy ``swap`` replaced, once the searches of this process still
        on it are done (``serving``)."""
        self._leases.wait_free(replaced)
        if store is not None:
            store.close()  # an Edge shard's lock goes with it
        self.backend.discard(replaced)

    def drop_collection(self, collection: str) -> bool:
        """Delete a collection and every point in it; False when there was none."""
        name = self.qdrant_name(collection)
        with self._lock:
            store = self._stores.pop(self.backend.physical(name), None)
            if store is not None:
                store.close()
            return self.backend.drop(name)

    def collections(self) -> list[str]:
        """Names of the kura collections that exist in the store."""
        prefix = self.settings.qdrant_collection_prefix
        names = self.backend.names()
        return sorted(n[len(prefix) :] for n in names if n.startswith(prefix))

    def ping(self) -> str:
        """Check the store is usable; returns a short description, raises StoreUnavailable."""
        return self.backend.ping()

    def close(self) -> None:
        """Release the stores (and with them the embedded store's locks); stop the parsers."""
        if "parsers" in self.__dict__:
            self.parsers.close()
        for store in self._stores.values():
            store.close()
        self._stores.clear()
        if "registry" in self.__dict__:
            self.registry.close()
        self.backend.close()


def build_components(
    settings: IndexSettings,
    *,
    embedder: BaseEmbedding | None = None,
    lazy_embedder: bool = False,
    wait_for_host: bool = False,
) -> Components:
    """Build the store backend and the embedder (``embedder``: any llama-index embedder, e.g. a
    fake in tests; the configured model when None) from settings. ``lazy_embedder``: load the
    model only when something is embedded (a one-shot keywords-only search never does); off for
    the server and ingestion, which should fail at start on a missing model, not mid-way.
    ``wait_for_host``: a service (`kura serve`, `kura worker`) starts even when the embedding
    host is down, and embeds once it is back; a one-shot command fails at once, saying so."""
    try:
        private_dir(settings.data_dir)
        if not settings.qdrant_url:
            private_dir(settings.qdrant_location)
    except OSError as exc:
        raise StoreUnavailable(f"data folder unusable: {exc.strerror}: {exc.filename}") from exc
    faults.arm(settings.test_pause_at, settings.data_dir)
    components = Components(
        settings=settings, backend=build_backend(settings), given_embedder=embedder
    )
    if embedder is None and not lazy_embedder:
        try:
            components.preload(wait_for_host=wait_for_host)
        except BaseException:
            components.close()
            raise
    return components
