"""Where kura's collections live, chosen once from settings: Qdrant Edge shards in a folder
(the default), or a Qdrant server (``KURA_QDRANT_URL``; ``:memory:`` for qdrant-client's
in-process mode in tests). A backend knows collections by their Qdrant names; which kura
collection a name belongs to is ``Components``' business.

A name may serve from another collection, so that ``kura reindex`` can build a copy and swap it
in one step: on a server through a Qdrant alias (``kura_x`` -> ``kura_x__2``), on Edge through
a pointer file kura keeps beside the shards (``kura_x.current`` holding ``kura_x__2``),
replaced atomically. Each collection also carries the record of its embedder
(ingest/embedding/identity.py): a server's collection metadata, an Edge shard's file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from qdrant_client import QdrantClient, models

from ingest.embedding.identity import RECORD_FILE, RECORD_KEY
from ingest.errors import StoreUnavailable
from ingest.lexicon import lexicon
from ingest.payload import INTEGER_INDEXES, KEYWORD_INDEXES
from ingest.schema import DENSE_VECTOR, SPARSE_VECTOR, ensure_collection
from ingest.settings import CollectionLayout, IndexSettings
from ingest.sparse import QueryEncoder, Translator, encode_documents
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

    def create(
        self,
        name: str,
        dimension: Callable[[], int],
        multi_dimension: Callable[[], int | None] = lambda: None,
    ) -> KuraStore:
        """A store over the collection, created first (vectors of ``dimension()``, the
        multilingual vector of ``multi_dimension()`` unless None, kura's payload indexes) when
        it does not exist."""
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

    def physical(self, name: str) -> str:
        """The collection that serves ``name`` now: ``name`` itself, or the one it points to."""
        ...

    def point(self, name: str, physical: str) -> None:
        """Make ``name`` serve from collection ``physical``, in one step for readers."""
        ...

    def identity(self, name: str) -> dict[str, Any] | None:
        """The embedder record of the collection serving ``name`` (None: none recorded)."""
        ...

    def record_identity(self, name: str, record: dict[str, Any]) -> None:
        """Store the embedder record with the collection serving ``name``."""
        ...

    def dimension(self, name: str) -> int:
        """The length of the dense vectors of the collection serving ``name``."""
        ...

    def discard(self, physical: str) -> None:
        """Delete collection ``physical`` itself, whatever name points to it (no alias or
        pointer is followed): the copy a swap replaced."""
        ...


# A copy built by `kura reindex`: the name it serves, and its generation.
_GENERATION = re.compile(r"^(.+)__(\d+)$")


def generation(name: str, serving: str) -> str:
    """The collection the next rebuild of ``name`` goes to, ``serving`` serving it now."""
    found = _GENERATION.match(serving)
    number = int(found[2]) + 1 if found and found[1] == name else 1
    return f"{name}__{number}"


def visible_names(physical: list[str], pointed: dict[str, str]) -> list[str]:
    """The names readers know: ``pointed`` names (alias or pointer -> collection) and the
    collections not built as a copy of one of them (a copy serves under its base name, and a
    copy left by a stopped reindex is no collection of its own)."""
    known = set(physical) | set(pointed)
    shown = set(pointed)
    for name in physical:
        generation = _GENERATION.match(name)
        if generation is None or generation[1] not in known:
            shown.add(name)
    return sorted(shown)


@dataclass
class EmbeddedBackend:
    """Qdrant Edge shards, one folder each, under ``location``."""

    location: Path
    fusion: str = "dbsf"
    translator: Translator | None = None  # keywords between English and Japanese

    def _pointer(self, name: str) -> Path:
        return self.location / f"{name}.current"

    def physical(self, name: str) -> str:
        """The shard that serves ``name``: named in its pointer file, else ``name``'s own."""
        try:
            return self._pointer(name).read_text(encoding="utf-8").strip() or name
        except FileNotFoundError:
            return name

    def point(self, name: str, physical: str) -> None:
        """Write the pointer beside, then rename it over the old one (atomic on POSIX)."""
        pointer, temporary = self._pointer(name), self.location / f".{name}.current.tmp"
        with temporary.open("w", encoding="utf-8") as out:
            out.write(physical)
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(pointer)
        _sync_folder(self.location)

    def folder(self, name: str) -> Path:
        """The folder of the shard that serves ``name``."""
        return self.location / self.physical(name)

    def identity(self, name: str) -> dict[str, Any] | None:
        """The record in the shard's folder."""
        try:
            found: dict[str, Any] = json.loads((self.folder(name) / RECORD_FILE).read_text())
        except FileNotFoundError:
            return None
        return found

    def record_identity(self, name: str, record: dict[str, Any]) -> None:
        """Write the record into the shard's folder (replaced atomically)."""
        folder = self.folder(name)
        temporary = folder / f".{RECORD_FILE}.tmp"
        temporary.write_text(json.dumps(record), encoding="utf-8")
        temporary.replace(folder / RECORD_FILE)

    def dimension(self, name: str) -> int:
        """The dense vectors' size in the shard's configuration."""
        config = json.loads((self.folder(name) / "edge_config.json").read_text())
        return int(config["vectors"][DENSE_VECTOR]["size"])

    def exists(self, name: str) -> bool:
        """Whether the shard has been created."""
        return shard_exists(self.folder(name))

    def open(self, name: str) -> KuraStore:
        """The shard's store (opened on first use)."""
        return EdgeVectorStore(
            self.folder(name),
            sparse_doc_fn=encode_documents,
            sparse_query_fn=QueryEncoder(self.translator),
            fusion=self.fusion,
        )

    def create(
        self,
        name: str,
        dimension: Callable[[], int],
        multi_dimension: Callable[[], int | None] = lambda: None,
    ) -> KuraStore:
        """The shard's store, the shard created first when missing."""
        if self.exists(name):
            return self.open(name)
        return EdgeVectorStore.create(
            self.folder(name),
            dimension(),
            KEYWORD_INDEXES,
            INTEGER_INDEXES,
            multi_dimension=multi_dimension(),
            sparse_doc_fn=encode_documents,
            sparse_query_fn=QueryEncoder(self.translator),
            fusion=self.fusion,
        )

    def drop(self, name: str) -> bool:
        """Delete the shard serving ``name`` (and its pointer, and a copy it replaced)."""
        if not self.exists(name):
            return False
        physical = self.physical(name)
        shutil.rmtree(self.location / physical)
        self._pointer(name).unlink(missing_ok=True)
        if physical != name:
            shutil.rmtree(self.location / name, ignore_errors=True)
        return True

    def discard(self, physical: str) -> None:
        """Delete the shard folder ``physical``."""
        shutil.rmtree(self.location / physical, ignore_errors=True)

    def names(self) -> list[str]:
        """The names the shards in ``location`` serve under."""
        if not self.location.is_dir():
            return []
        shards = [p.name for p in self.location.iterdir() if shard_exists(p)]
        pointed = {
            p.name.removesuffix(".current"): self.physical(p.name.removesuffix(".current"))
            for p in self.location.glob("*.current")
        }
        pointed = {n: target for n, target in pointed.items() if target in shards}
        return visible_names(shards, pointed)

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
    translator: Translator | None = None  # keywords between English and Japanese

    def exists(self, name: str) -> bool:
        """Whether the server has the collection (or an alias of that name)."""
        if self.client.collection_exists(name):
            return True
        return name in self._aliases()

    def _aliases(self) -> dict[str, str]:
        return {a.alias_name: a.collection_name for a in self.client.get_aliases().aliases}

    def physical(self, name: str) -> str:
        """The collection the alias ``name`` stands for, else ``name``."""
        return self._aliases().get(name, name)

    def point(self, name: str, physical: str) -> None:
        """Switch the alias in one request. A name that is still a collection of its own (made
        before reindexing existed) is deleted first: the one moment it serves nothing."""
        switch: list[Any] = [
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=physical, alias_name=name)
            )
        ]
        if name in self._aliases():
            delete = models.DeleteAlias(alias_name=name)
            switch.insert(0, models.DeleteAliasOperation(delete_alias=delete))
        elif self.client.collection_exists(name):
            self.client.delete_collection(name)
        self.client.update_collection_aliases(change_aliases_operations=switch)

    def identity(self, name: str) -> dict[str, Any] | None:
        """The record in the collection's metadata."""
        metadata = self.client.get_collection(self.physical(name)).config.metadata or {}
        record = metadata.get(RECORD_KEY)
        return dict(record) if isinstance(record, dict) else None

    def record_identity(self, name: str, record: dict[str, Any]) -> None:
        """Store the record in the collection's metadata."""
        self.client.update_collection(self.physical(name), metadata={RECORD_KEY: record})

    def dimension(self, name: str) -> int:
        """The dense vectors' size in the collection's configuration."""
        vectors: Any = self.client.get_collection(self.physical(name)).config.params.vectors
        return int(vectors[DENSE_VECTOR].size)

    def open(self, name: str) -> KuraStore:
        """llama-index's Qdrant store over the collection, with kura's reads."""
        return ServerVectorStore(
            collection_name=name,
            client=self.client,
            dense_vector_name=DENSE_VECTOR,
            sparse_vector_name=SPARSE_VECTOR,
            enable_hybrid=True,
            sparse_doc_fn=encode_documents,
            sparse_query_fn=QueryEncoder(self.translator),
            fusion=self.fusion,
            batch_size=256,
        )

    def create(
        self,
        name: str,
        dimension: Callable[[], int],
        multi_dimension: Callable[[], int | None] = lambda: None,
    ) -> KuraStore:
        """The collection's store, the collection created first when missing."""
        ensure_collection(self.client, name, dimension(), self.layout, multi_dimension())
        return self.open(name)

    def drop(self, name: str) -> bool:
        """Delete the collection serving ``name`` on the server (and the alias)."""
        physical = self.physical(name)
        if physical != name:
            delete = models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=name))
            self.client.update_collection_aliases(change_aliases_operations=[delete])
        return bool(self.client.delete_collection(physical))

    def discard(self, physical: str) -> None:
        """Delete collection ``physical`` on the server (never through an alias)."""
        if physical not in self._aliases():
            self.client.delete_collection(physical)

    def names(self) -> list[str]:
        """The names the server's collections serve under (aliases included)."""
        collections = [c.name for c in self.client.get_collections().collections]
        return visible_names(collections, self._aliases())

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


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` survive a power loss."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def build_backend(settings: IndexSettings) -> Backend:
    """Qdrant Edge under ``qdrant_location``, or the Qdrant server at ``qdrant_url``."""
    translator = lexicon(settings.lexicon_folders) if settings.keyword_translation else None
    if not settings.qdrant_url:
        return EmbeddedBackend(settings.qdrant_location, settings.hybrid_fusion, translator)
    if settings.qdrant_url == ":memory:":
        client = QdrantClient(location=":memory:")
        return ServerBackend(client, settings.hybrid_fusion, translator=translator)
    api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    # No version probe at construction: it runs in a background thread and only warns.
    client = QdrantClient(
        url=settings.qdrant_url, api_key=api_key, timeout=30, check_compatibility=False
    )
    layout = settings.collection_layout
    return ServerBackend(client, settings.hybrid_fusion, layout, translator)
