"""llama-index's QdrantVectorStore for a Qdrant server, with what kura adds: count, dense,
sparse or hybrid search (each ranking's candidates, with fusion's payload fields only, in one
batch request, fused in kura with per-passage language weights: ingest/stores/fusion.py; then
the fused best fetched whole by id in one more), and reads that show whole document versions
only (see ingest/visibility.py)."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryResult,
)
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import models

from ingest.payload import ADDED_INDEXES
from ingest.schema import MULTI_VECTOR
from ingest.stores.shared import (
    KEYWORDS,
    SearchPlan,
    in_rank_order,
    no_result,
    plan_search,
    scroll_all,
    state_records,
    versions_filter,
    visible_filter,
)
from ingest.visibility import TOKEN_ID, VersionGate, state_id


class ServerVectorStore(VersionGate, QdrantVectorStore):
    """A kura collection on a Qdrant server (or qdrant-client's in-memory mode in tests)."""

    def __init__(self, *, fusion: str = "dbsf", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fusion = fusion  # how each ranking's scores are normalised before fusion
        self._multi: list[list[float]] | None = None  # during an add: the nodes' multi vectors
        self._adding = threading.Lock()  # one add at a time uses ``_multi``
        if self._collection_initialized:
            # Collections made before state records (or document_language) existed get their
            # index (idempotent); embedded qdrant-client warns that it has no payload indexes.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                for field in ADDED_INDEXES:
                    self._client.create_payload_index(
                        self.collection_name, field, models.PayloadSchemaType.KEYWORD
                    )

    def has_multi(self) -> bool:
        """Whether the collection has the multilingual vector (collections made before it have
        not). Asked each time: behind an alias, the collection can change under this store."""
        if not self._collection_exists(self.collection_name):
            return False
        vectors = self._client.get_collection(self.collection_name).config.params.vectors
        return isinstance(vectors, dict) and MULTI_VECTOR in vectors

    # -- writes ----------------------------------------------------------------------------

    def add(
        self,
        nodes: Sequence[BaseNode],
        shard_identifier: Any | None = None,
        **add_kwargs: Any,
    ) -> list[str]:
        """llama-index's upsert; ``multi_embeddings`` (one per node): their multilingual
        vectors, kept when the collection has that vector."""
        multi = add_kwargs.pop("multi_embeddings", None)
        with self._adding:
            self._multi = list(multi) if multi is not None and self.has_multi() else None
            try:
                return list(super().add(list(nodes), shard_identifier, **add_kwargs))
            finally:
                self._multi = None

    def _build_points(self, nodes: list[BaseNode], sparse_vector_name: str) -> tuple[Any, Any]:
        points, ids = super()._build_points(nodes, sparse_vector_name)
        if self._multi is not None:
            # llama-index builds one point per node, in order.
            for point, vector in zip(points, self._multi, strict=True):
                point.vector[MULTI_VECTOR] = list(vector)
        return points, ids

    # -- the visibility protocol's primitives ------------------------------------------------

    def _state_payloads(self) -> list[dict[str, Any]]:
        return self._scroll(state_records(models), True)

    def _state_payload(self, document_id: str) -> dict[str, Any] | None:
        found = self._client.retrieve(self.collection_name, [state_id(document_id)])
        return dict(found[0].payload or {}) if found else None

    def _token(self) -> str | None:
        found = self._client.retrieve(self.collection_name, [TOKEN_ID])
        return str((found[0].payload or {}).get("token")) if found else None

    def _put_record(self, point_id: str, payload: dict[str, Any]) -> None:
        point = models.PointStruct(id=point_id, vector={}, payload=payload)
        self._client.upsert(self.collection_name, points=[point], wait=True)

    def _drop_record(self, point_id: str) -> None:
        selector = models.PointIdsList(points=[point_id])
        self._client.delete(self.collection_name, points_selector=selector, wait=True)

    def _erase_versions(self, document_id: str, versions: tuple[str, ...]) -> None:
        chunks = versions_filter(models, document_id, versions)
        selector = models.FilterSelector(filter=chunks)
        self._client.delete(self.collection_name, points_selector=selector, wait=True)

    def set_payload(self, filters: MetadataFilters, payload: dict[str, Any]) -> None:
        """Set payload fields on every point matching ``filters`` (not ``_node_content``)."""
        points: Any = self._build_subfilter(filters)
        self._client.set_payload(self.collection_name, payload=payload, points=points)

    def _scroll(
        self, scroll_filter: models.Filter, selector: Any, limit: int | None = None
    ) -> list[dict[str, Any]]:
        return [dict(r.payload or {}) for r in self._scroll_records(scroll_filter, selector, limit)]

    def _scroll_records(
        self, scroll_filter: models.Filter, selector: Any, limit: int | None = None
    ) -> list[Any]:
        def page(offset: Any, size: int) -> tuple[list[Any], Any]:
            records, following = self._client.scroll(
                self.collection_name,
                scroll_filter=scroll_filter,
                limit=size,
                offset=offset,
                with_payload=selector,
            )
            return list(records), following

        return scroll_all(page, limit)

    def _read(self, filters: MetadataFilters | None, run: Callable[[models.Filter], Any]) -> Any:
        base: Any = self._build_subfilter(filters) if filters is not None else None
        return self.visible_read(lambda hidden: run(visible_filter(models, base, hidden)))

    # -- reads: whole versions only ------------------------------------------------------------

    def count(self, filters: MetadataFilters | None = None) -> int:
        """Exact number of (visible) points matching ``filters``."""

        def run(count_filter: models.Filter) -> int:
            result = self._client.count(self.collection_name, count_filter=count_filter, exact=True)
            return int(result.count)

        return int(self._read(filters, run))

    def count_all(self) -> int:
        """Every chunk stored, visible or not (records aside): for checks and tests."""
        result = self._client.count(
            self.collection_name, count_filter=visible_filter(models, None, []), exact=True
        )
        return int(result.count)

    def get_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        limit: int | None = None,
        shard_identifier: Any | None = None,
    ) -> list[BaseNode]:
        """(Visible) nodes by id and/or filter, every page of them (not llama-index's 9,999)."""

        def run(scroll_filter: models.Filter) -> list[BaseNode]:
            if node_ids is not None:
                scroll_filter.must = [
                    models.HasIdCondition(has_id=list(node_ids)),
                    *(scroll_filter.must or []),
                ]
            records = self._scroll_records(scroll_filter, True, limit)
            return list(self.parse_to_query_result(records).nodes or [])

        return list(self._read(filters, run))

    def payloads(
        self, filters: MetadataFilters | None = None, fields: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Raw payloads (top-level fields only) of every visible point matching ``filters``."""
        selector: Any = list(fields) if fields else True
        return list(
            self._read(filters, lambda scroll_filter: self._scroll(scroll_filter, selector))
        )

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Dense, sparse or hybrid search; filters (and visibility) apply inside every
        prefetch. ``multi_embedding``: the question's multilingual vector, searched too when
        the collection has that vector; ``weights``: fusion's LanguageWeights;
        ``whole_payloads``: the path before the fetch by id (``SearchPlan.whole``)."""
        multi = kwargs.get("multi_embedding")
        multi = multi if self.has_multi() else None
        whole = bool(kwargs.get("whole_payloads"))
        plan = plan_search(query, self._sparse_query_fn, multi, kwargs.get("weights"), whole)
        if plan is None:
            return no_result()
        result: VectorStoreQueryResult = self._read(
            query.filters, lambda query_filter: self._search(plan, query_filter)
        )
        return result

    def _search(self, plan: SearchPlan, query_filter: models.Filter) -> VectorStoreQueryResult:
        names = {
            "dense": self.dense_vector_name,
            "multi": MULTI_VECTOR,
            "sparse": self.sparse_vector_name,
            "translated": self.sparse_vector_name,
        }
        sides = [
            (
                models.SparseVector(indices=vector[0], values=vector[1])
                if kind in KEYWORDS
                else vector,
                names[kind],
                plan.filter_for(models, kind, query_filter),
            )
            for kind, vector in plan.sides()
        ]
        if not plan.fused:
            (query, using, side_filter), *_ = sides
            response = self._client.query_points(
                self.collection_name,
                query=query,
                using=using,
                limit=plan.limit,
                query_filter=side_filter,
                with_payload=True,
            )
            return self.parse_to_query_result(response.points)
        requests = [
            models.QueryRequest(
                query=query,
                using=using,
                limit=plan.candidates,
                filter=side_filter,
                with_payload=plan.payload(),
            )
            for query, using, side_filter in sides
        ]
        responses = self._client.query_batch_points(self.collection_name, requests=requests)
        scored = plan.fuse(self._fusion, [list(response.points) for response in responses])
        if plan.fetches():
            ids = [point.id for point, _ in scored]
            scored = in_rank_order(scored, self._client.retrieve(self.collection_name, ids))
        result = self.parse_to_query_result([point for point, _ in scored])
        result.similarities = [score for _, score in scored]
        return result

    def optimize(self) -> bool:
        """A server indexes on its own; nothing to do."""
        return False

    def close(self) -> None:
        """The client is shared and closed by Components."""
