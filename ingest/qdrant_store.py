"""llama-index's QdrantVectorStore for a Qdrant server, with what kura adds: count, and dense,
sparse or hybrid search in one Query API call (fusion of prefetches inside Qdrant, where
llama-index would run two searches and fuse them in Python)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.vector_stores.types import (
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import models


class ServerVectorStore(QdrantVectorStore):
    """A kura collection on a Qdrant server (or qdrant-client's in-memory mode in tests)."""

    def __init__(self, *, fusion: str = "dbsf", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fusion = models.Fusion.RRF if fusion == "rrf" else models.Fusion.DBSF

    def count(self, filters: MetadataFilters | None = None) -> int:
        """Exact number of points matching ``filters``."""
        count_filter: Any = self._build_subfilter(filters) if filters is not None else None
        result = self._client.count(self.collection_name, count_filter=count_filter, exact=True)
        return int(result.count)

    def set_payload(self, filters: MetadataFilters, payload: dict[str, Any]) -> None:
        """Set payload fields on every point matching ``filters`` (not ``_node_content``)."""
        points: Any = self._build_subfilter(filters)
        self._client.set_payload(self.collection_name, payload=payload, points=points)

    def payloads(
        self, filters: MetadataFilters | None = None, fields: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Raw payloads (top-level fields only) of every point matching ``filters``."""
        scroll_filter: Any = self._build_subfilter(filters) if filters is not None else None
        selector: Any = list(fields) if fields else True
        found: list[dict[str, Any]] = []
        offset = None
        while True:
            records, offset = self._client.scroll(
                self.collection_name,
                scroll_filter=scroll_filter,
                limit=256,
                offset=offset,
                with_payload=selector,
            )
            found.extend(dict(r.payload or {}) for r in records)
            if offset is None:
                return found

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Dense, sparse or hybrid search; filters are applied inside every prefetch."""
        query_filter = self._build_subfilter(query.filters) if query.filters else None
        limit = query.similarity_top_k
        dense = list(query.query_embedding or [])
        if query.mode == VectorStoreQueryMode.DEFAULT:
            response = self._client.query_points(
                self.collection_name,
                query=dense,
                using=self.dense_vector_name,
                limit=limit,
                query_filter=query_filter,
                with_payload=True,
            )
            return self.parse_to_query_result(response.points)
        if query.mode not in (VectorStoreQueryMode.SPARSE, VectorStoreQueryMode.HYBRID):
            raise ValueError(f"query mode {query.mode} is not supported")
        if self._sparse_query_fn is None:
            raise ValueError("this store has no sparse encoder: sparse and hybrid search need one")
        indices, values = self._sparse_query_fn([query.query_str or ""])
        sparse = models.SparseVector(indices=indices[0], values=values[0]) if indices[0] else None
        if query.mode == VectorStoreQueryMode.SPARSE:
            if sparse is None:
                return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
            response = self._client.query_points(
                self.collection_name,
                query=sparse,
                using=self.sparse_vector_name,
                limit=query.sparse_top_k or limit,
                query_filter=query_filter,
                with_payload=True,
            )
            return self.parse_to_query_result(response.points)
        candidates = max(limit, query.sparse_top_k or 0, 20) * 2
        prefetch = [
            models.Prefetch(
                query=dense, using=self.dense_vector_name, limit=candidates, filter=query_filter
            )
        ]
        if sparse is not None:
            prefetch.append(
                models.Prefetch(
                    query=sparse,
                    using=self.sparse_vector_name,
                    limit=candidates,
                    filter=query_filter,
                )
            )
        response = self._client.query_points(
            self.collection_name,
            prefetch=prefetch,
            query=models.FusionQuery(fusion=self._fusion),
            limit=query.hybrid_top_k or limit,
            with_payload=True,
        )
        return self.parse_to_query_result(response.points)

    def optimize(self) -> bool:
        """A server indexes on its own; nothing to do."""
        return False

    def close(self) -> None:
        """The client is shared and closed by Components."""
