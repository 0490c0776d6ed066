"""llama-index's QdrantVectorStore for a Qdrant server, with the one call kura adds: count."""

from __future__ import annotations

from typing import Any

from llama_index.core.vector_stores.types import MetadataFilters
from llama_index.vector_stores.qdrant import QdrantVectorStore


class ServerVectorStore(QdrantVectorStore):
    """A kura collection on a Qdrant server (or qdrant-client's in-memory mode in tests)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def count(self, filters: MetadataFilters | None = None) -> int:
        """Exact number of points matching ``filters``."""
        count_filter: Any = self._build_subfilter(filters) if filters is not None else None
        result = self._client.count(self.collection_name, count_filter=count_filter, exact=True)
        return int(result.count)

    def optimize(self) -> bool:
        """A server indexes on its own; nothing to do."""
        return False

    def close(self) -> None:
        """The client is shared and closed by Components."""
