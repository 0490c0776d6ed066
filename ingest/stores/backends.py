"""Where kura's collections live, chosen once from settings: Qdrant Edge shards in a folder
(the default), or a Qdrant server (``KURA_QDRANT_URL``; ``:memory:`` for qdrant-client's
in-process mode in tests). A backend knows collections by their Qdrant names; which kura
collection a name belongs to is ``Components``' business."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from qdrant_client import QdrantClient

from ingest.errors import StoreUnavailable
from ingest.payload import INTEGER_INDEXES, KEYWORD_INDEXES
from ingest.schema import DENSE_VECTOR, SPARSE_VECTOR, ensure_collection
from ingest.settings import CollectionLayout, IndexSettings
from ingest.sparse import encode_documents, encode_queries
from ingest.stores.edge import EdgeVectorStore, shard_exists
from ingest.stores.protocol import KuraStore
from ingest.stores.server import ServerVectorStore


class Backend(Protocol):
    """The collections of one Qdrant engine."""

    def exists(self, name: str) -> bool:
        """Whether the collection exists."""
        ...

    def open(self, name: str) -> KuraStore:
        """A store over the collection; nothing is created (reads of a missing one fail)."""
        ...

    def create(self, name: str, dimension: Callable[[], int]) -> KuraStore:
        """A store over the collection, created first (vectors of ``dimension()``, kura's
        payload indexes) when it does not exist."""
        ...

    def drop(self, name: str) -> bool:
        """Delete the collection and every point in it; False when there was none. Close its
        store first."""
        ...

    def names(self) -> list[str]:
        """Every collection of the engine, kura's or not."""
        ...

    def ping(self) -> str:
        """A short description of the engine; raises StoreUnavailable when it is unusable."""
        ...

    def folder(self, name: str) -> Path | None:
        """The folder holding the collection on this machine (None on a server)."""
        ...

    def close(self) -> None:
        """Release the connection (a store's own resources go with ``store.close()``)."""
        ...


@dataclass
class EmbeddedBackend:
    """Qdrant Edge shards, one folder each, under ``location``."""

    location: Path
    fusion: str = "dbsf"

    def folder(self, name: str) -> Path:
        """The shard's folder."""
        return self.location / name

    def exists(self, name: str) -> bool:
        """Whether the shard has been created."""
        return shard_exists(self.folder(name))

    def open(self, name: str) -> KuraStore:
        """The shard's store (opened on first use)."""
        return EdgeVectorStore(
            self.folder(name),
            sparse_doc_fn=encode_documents,
            sparse_query_fn=encode_queries,
            fusion=self.fusion,
        )

    def create(self, name: str, dimension: Callable[[], int]) -> KuraStore:
        """The shard's store, the shard created first when missing."""
        if self.exists(name):
            return self.open(name)
        return EdgeVectorStore.create(
            self.folder(name),
            dimension(),
            KEYWORD_INDEXES,
            INTEGER_INDEXES,
            sparse_doc_fn=encode_documents,
            sparse_query_fn=encode_queries,
            fusion=self.fusion,
        )

    def drop(self, name: str) -> bool:
        """Delete the shard's folder."""
        if not self.exists(name):
            return False
        shutil.rmtree(self.folder(name))
        return True

    def names(self) -> list[str]:
        """The shards in ``location``."""
        if not self.location.is_dir():
            return []
        return [p.name for p in self.location.iterdir() if shard_exists(p)]

    def ping(self) -> str:
        """Whether the folder is usable, and how many shards it holds."""
        try:
            self.location.mkdir(parents=True, exist_ok=True)
            shards = [p for p in self.location.iterdir() if shard_exists(p)]
        except OSError as exc:
            raise StoreUnavailable(f"embedded store folder unusable: {exc.strerror}") from exc
        return f"embedded Qdrant Edge: {len(shards)} collections"

    def close(self) -> None:
        """Nothing shared to release: each shard is closed by its store."""


@dataclass
class ServerBackend:
    """Collections on a Qdrant server (or in qdrant-client's in-process mode)."""

    client: QdrantClient
    fusion: str = "dbsf"
    layout: CollectionLayout = field(default_factory=CollectionLayout)

    def exists(self, name: str) -> bool:
        """Whether the server has the collection."""
        return bool(self.client.collection_exists(name))

    def open(self, name: str) -> KuraStore:
        """llama-index's Qdrant store over the collection, with kura's reads."""
        return ServerVectorStore(
            collection_name=name,
            client=self.client,
            dense_vector_name=DENSE_VECTOR,
            sparse_vector_name=SPARSE_VECTOR,
            enable_hybrid=True,
            sparse_doc_fn=encode_documents,
            sparse_query_fn=encode_queries,
            fusion=self.fusion,
            batch_size=256,
        )

    def create(self, name: str, dimension: Callable[[], int]) -> KuraStore:
        """The collection's store, the collection created first when missing."""
        ensure_collection(self.client, name, dimension(), self.layout)
        return self.open(name)

    def drop(self, name: str) -> bool:
        """Delete the collection on the server."""
        return bool(self.client.delete_collection(name))

    def names(self) -> list[str]:
        """The server's collections."""
        return [c.name for c in self.client.get_collections().collections]

    def ping(self) -> str:
        """Whether the server answers, and how many collections it holds."""
        try:
            collections = self.client.get_collections().collections
        except Exception as exc:
            raise StoreUnavailable(f"Qdrant unusable: {type(exc).__name__}") from exc
        return f"Qdrant server: {len(collections)} collections"

    def folder(self, name: str) -> Path | None:
        """None: the server keeps its own files (back them up with Qdrant's snapshots)."""
        return None

    def close(self) -> None:
        """Close the client every store of this server shares."""
        self.client.close()


def build_backend(settings: IndexSettings) -> Backend:
    """Qdrant Edge under ``qdrant_location``, or the Qdrant server at ``qdrant_url``."""
    if not settings.qdrant_url:
        return EmbeddedBackend(settings.qdrant_location, settings.hybrid_fusion)
    if settings.qdrant_url == ":memory:":
        return ServerBackend(QdrantClient(location=":memory:"), settings.hybrid_fusion)
    api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    # No version probe at construction: it runs in a background thread and only warns.
    client = QdrantClient(
        url=settings.qdrant_url, api_key=api_key, timeout=30, check_compatibility=False
    )
    return ServerBackend(client, settings.hybrid_fusion, settings.collection_layout)
