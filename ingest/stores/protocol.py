"""What kura asks of a vector store: llama-index's methods as kura relies on them, and kura's own.

Both stores (``EdgeVectorStore`` for the embedded Qdrant Edge, ``ServerVectorStore`` for a
Qdrant server or qdrant-client's ``:memory:`` mode) are llama-index ``BasePydanticVectorStore``
subclasses and meet this protocol; ``tests/integration/test_store_contract.py`` runs one contract
over both, method by method. Every read shows whole document versions only: the chunks of a
version still being written, or replaced and not yet deleted, are never counted, listed or
searched, and the visibility records (ingest/visibility.py) never appear in a read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryResult,
)

from ingest.visibility import DocumentState, Hidden

T = TypeVar("T")


class KuraStore(Protocol):
    """One kura collection in a Qdrant engine."""

    # -- llama-index's methods, with what kura relies on -----------------------------------

    def add(self, nodes: list[BaseNode], **add_kwargs: Any) -> list[str]:
        """Upsert embedded nodes (one point each, id = node id, llama-index's payload layout:
        the metadata as top-level fields plus ``_node_content``); returns their ids.
        ``multi_embeddings=[...]`` (one per node): their multilingual vectors, stored when the
        collection has the ``multi`` vector, dropped when it has not."""
        ...

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Dense (DEFAULT), keyword (SPARSE) or fused (HYBRID) search inside Qdrant, filters
        applied inside every prefetch; best first. A keyword search without terms finds
        nothing. ``multi_embedding=[...]``: the question's multilingual vector, one more
        prefetch (or, with no ``query_embedding``, the dense search itself) when the
        collection has the ``multi`` vector; ignored when it has not. A fused search's
        rankings carry only fusion's payload fields; the fused best are then fetched whole by
        id, and one deleted in between is skipped (ingest/stores/shared.py ``in_rank_order``)."""
        ...

    def get_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        limit: int | None = None,
    ) -> list[BaseNode]:
        """Nodes by id and/or filter, every page of them (up to ``limit``), text included."""
        ...

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete points by id and/or filter (hidden ones too)."""
        ...

    # -- kura's own: reads -----------------------------------------------------------------

    def has_multi(self) -> bool:
        """Whether the collection has the multilingual ``multi`` vector (made before it: no)."""
        ...

    def count(self, filters: MetadataFilters | None = None) -> int:
        """Exact number of visible chunks matching ``filters`` (all visible chunks if None)."""
        ...

    def count_all(self) -> int:
        """Every chunk stored, visible or not, records aside: for checks and tests."""
        ...

    def payloads(
        self, filters: MetadataFilters | None = None, fields: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Top-level payload fields of every visible chunk matching ``filters``: only ``fields``
        when given, else all (llama-index's ``_node_content`` too); never vectors."""
        ...

    def visible_read(self, run: Callable[[Hidden], T]) -> T:
        """``run(hidden)`` with the (document, version) pairs readers must not see, run again
        while writers change visibility under it."""
        ...

    def states(self) -> list[DocumentState]:
        """Documents with a version in flight (or left in flight by a process that stopped)."""
        ...

    # -- kura's own: writes ----------------------------------------------------------------

    def set_payload(self, filters: MetadataFilters, payload: dict[str, Any]) -> None:
        """Set top-level payload fields on every point matching ``filters`` (hidden ones too);
        the copy inside ``_node_content`` is left as written."""
        ...

    def begin_version(self, document_id: str, version: str) -> None:
        """Hide ``version`` of the document from readers until it is switched to; call before
        writing its first chunk."""
        ...

    def keep_alive(self, document_id: str, version: str) -> None:
        """Refresh the writer's lease on the document's state record (after each batch)."""
        ...

    def switch_version(self, document_id: str, version: str, retire: list[str]) -> bool:
        """Make ``version`` visible and the ``retire`` versions invisible in one point write;
        returns whether ``finish_version`` has work to do."""
        ...

    def finish_version(self, document_id: str) -> None:
        """Delete the versions a switch retired, then the document's state record."""
        ...

    def commit_version(self, document_id: str, version: str, retire: list[str]) -> None:
        """``switch_version``, then ``finish_version``."""
        ...

    def abort_version(self, document_id: str) -> None:
        """Delete a version that will not be completed, and its state record."""
        ...

    def heal(self, before: Callable[[str], None] | None = None) -> list[str]:
        """Finish what stopped writers left (``before(document_id)`` first, for each); returns
        the documents healed. Records of live writers are left alone."""
        ...

    # -- kura's own: upkeep ----------------------------------------------------------------

    def optimize(self) -> bool:
        """Build the approximate (HNSW) index over what was added (blocks; Qdrant Edge says
        whether it did work); a server indexes on its own and returns False."""
        ...

    def close(self) -> None:
        """Flush and release what this store holds (the embedded shard and its lock); a
        server's client is shared and closed by its backend."""
        ...
