"""Qdrant Edge (the Rust Qdrant engine, in-process) behind llama-index's vector store interface.

qdrant-client's embedded mode is exact numpy search over SQLite (229 ms a query and 25 s to
reopen at 100k chunks, 57-105 upserts/s); Qdrant Edge has a WAL and HNSW, upserts tens of
thousands of points a second and reopens in milliseconds. Neither qdrant-client nor llama-index
knows it, hence this adapter. Payloads are written exactly as llama-index's QdrantVectorStore
writes them, so a collection reads the same through either store.

Edge builds its HNSW index only when ``optimize()`` is called (the indexer calls it after a run);
points added since are searched exactly until the next call. One process may open a shard at a
time (the WAL is locked).
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

from ingest.errors import StoreUnavailable
from ingest.payload import ADDED_INDEXES
from ingest.stores.edge_filters import to_edge_filter
from ingest.stores.shared import (
    KEYWORDS,
    SearchPlan,
    SparseEncoder,
    in_rank_order,
    no_result,
    plan_search,
    scroll_all,
    state_records,
    versions_filter,
    visible_filter,
)
from ingest.visibility import TOKEN_ID, Hidden, VersionGate, state_id

logger = logging.getLogger(__name__)

_CONFIG_FILE = "edge_config.json"
_OPEN_LOCK = threading.Lock()
_BATCH = 256  # points per WAL record: one huge record makes reopening slow


def shard_exists(path: Path) -> bool:
    """Whether an Edge shard has been created at ``path``."""
    return (path / _CONFIG_FILE).is_file()


class EdgeVectorStore(VersionGate, BasePydanticVectorStore):
    """A kura collection stored in an embedded Qdrant Edge shard. Every read shows whole
    versions only (see ingest/visibility.py)."""

    stores_text: bool = True
    flat_metadata: bool = False

    path: str
    dense_vector_name: str = "dense"
    sparse_vector_name: str = "sparse"
    multi_vector_name: str = "multi"
    hnsw_ef: int = 128
    fusion: str = "dbsf"  # or "rrf": how each ranking's scores are normalised before fusion

    _shard: Any = PrivateAttr(default=None)
    _has_multi: bool | None = PrivateAttr(default=None)
    _sparse_doc_fn: SparseEncoder | None = PrivateAttr(default=None)
    _sparse_query_fn: SparseEncoder | None = PrivateAttr(default=None)

    def __init__(
        self,
        path: Path,
        *,
        sparse_doc_fn: SparseEncoder | None = None,
        sparse_query_fn: SparseEncoder | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(path=str(path), **kwargs)
        self._sparse_doc_fn = sparse_doc_fn
        self._sparse_query_fn = sparse_query_fn

    @classmethod
    def class_name(cls) -> str:
        return "EdgeVectorStore"

    # -- lifecycle -------------------------------------------------------------------------

    @staticmethod
    def create(
        path: Path,
        dimension: int,
        keyword_fields: Sequence[str],
        integer_fields: Sequence[str] = (),
        multi_dimension: int | None = None,
        **kwargs: Any,
    ) -> EdgeVectorStore:
        """Create a new shard with dense (cosine) and sparse (IDF) vectors and payload indexes;
        with ``multi_dimension``, a second dense vector (``multi``) for the multilingual model."""
        vectors = {"dense": qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine)}
        if multi_dimension:
            vectors["multi"] = qe.EdgeVectorParams(
                size=multi_dimension, distance=qe.Distance.Cosine
            )
        config = qe.EdgeConfig(
            vectors=vectors,
            sparse_vectors={"sparse": qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            shard = qe.EdgeShard.create(str(path), config)
        except Exception as exc:
            shutil.rmtree(path, ignore_errors=True)
            raise StoreUnavailable(f"cannot create the embedded store at {path}: {exc}") from exc
        for field in keyword_fields:
            shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
        for field in integer_fields:
            shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Integer))
        store = EdgeVectorStore(path, **kwargs)
        store._shard = shard
        return store

    @property
    def client(self) -> Any:
        """The open EdgeShard (opened on first use)."""
        if self._shard is not None:
            return self._shard
        with _OPEN_LOCK:
            return self._open()

    def _open(self) -> Any:
        if self._shard is None:
            try:
                self._shard = qe.EdgeShard.load(self.path)
            except Exception as exc:
                if "WouldBlock" in str(exc):
                    raise StoreUnavailable(
                        f"the embedded store at {self.path} is in use by another kura process "
                        "(stop it, or run Qdrant as a server and set KURA_QDRANT_URL)"
                    ) from exc
                raise StoreUnavailable(
                    f"cannot open the embedded store at {self.path}: {exc}"
                ) from exc
            # Shards made before state records (or document_language) existed get their
            # index (a no-op after).
            for field in ADDED_INDEXES:
                self._shard.update(
                    qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword)
                )
        return self._shard

    def has_multi(self) -> bool:
        """Whether the shard has the multilingual vector (shards made before it have not)."""
        if self._has_multi is None:
            config = json.loads((Path(self.path) / _CONFIG_FILE).read_text(encoding="utf-8"))
            self._has_multi = self.multi_vector_name in (config.get("vectors") or {})
        return self._has_multi

    def close(self) -> None:
        """Flush and release the shard (and its lock)."""
        if self._shard is not None:
            self._shard.flush()
            self._shard.close()
            self._shard = None

    def optimize(self) -> bool:
        """Build the HNSW index over what was added (blocks; call after ingestion)."""
        return bool(self.client.optimize())

    # -- writes ----------------------------------------------------------------------------

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Upsert embedded nodes; each becomes one point with llama-index's payload layout.
        ``multi_embeddings`` (one per node): their multilingual vectors, kept when the shard
        has that vector."""
        ids: list[str] = []
        multi = add_kwargs.get("multi_embeddings") if self.has_multi() else None
        for start in range(0, len(nodes), _BATCH):
            batch = nodes[start : start + _BATCH]
            sparse: tuple[list[list[int]], list[list[float]]] | None = None
            if self._sparse_doc_fn is not None:
                sparse = self._sparse_doc_fn(
                    [n.get_content(metadata_mode=MetadataMode.EMBED) for n in batch]
                )
            points = []
            for i, node in enumerate(batch):
                vector: dict[str, Any] = {self.dense_vector_name: node.get_embedding()}
                if sparse is not None and sparse[0][i]:
                    vector[self.sparse_vector_name] = qe.SparseVector(sparse[0][i], sparse[1][i])
                if multi is not None:
                    vector[self.multi_vector_name] = list(multi[start + i])
                payload = node_to_metadata_dict(node, remove_text=False, flat_metadata=False)
                points.append(qe.Point(node.node_id, vector, payload))
                ids.append(node.node_id)
            self.client.update(qe.UpdateOperation.upsert_points(points))
        return ids

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every point of a document (llama-index's ``doc_id`` payload key)."""
        condition = qe.FieldCondition(key="doc_id", match=qe.MatchValue(ref_doc_id))
        self.client.update(qe.UpdateOperation.delete_points_by_filter(qe.Filter(must=[condition])))

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete points by id and/or filter."""
        if node_ids:
            self.client.update(qe.UpdateOperation.delete_points(list(node_ids)))
        edge_filter = to_edge_filter(filters)
        if edge_filter is not None:
            self.client.update(qe.UpdateOperation.delete_points_by_filter(edge_filter))

    def set_payload(self, filters: MetadataFilters, payload: dict[str, Any]) -> None:
        """Set payload fields on every point matching ``filters`` (filter fields only: the
        copy llama-index keeps inside ``_node_content`` is not changed)."""
        edge_filter = to_edge_filter(filters)
        if edge_filter is None:
            raise ValueError("set_payload needs a filter")
        self.client.update(qe.UpdateOperation.set_payload_by_filter(edge_filter, payload))

    def clear(self) -> None:
        """Delete every point."""
        self.client.update(qe.UpdateOperation.delete_points_by_filter(qe.Filter()))

    # -- the visibility protocol's primitives (ingest/visibility.py) -----------------------

    def _state_payloads(self) -> list[dict[str, Any]]:
        return self._scroll_payloads(state_records(qe), None)

    def _state_payload(self, document_id: str) -> dict[str, Any] | None:
        records = self.client.retrieve([state_id(document_id)], True, False)
        return dict(records[0].payload) if records else None

    def _token(self) -> str | None:
        records = self.client.retrieve([TOKEN_ID], True, False)
        return str(records[0].payload.get("token")) if records else None

    def _put_record(self, point_id: str, payload: dict[str, Any]) -> None:
        self.client.update(qe.UpdateOperation.upsert_points([qe.Point(point_id, {}, payload)]))

    def _drop_record(self, point_id: str) -> None:
        self.client.update(qe.UpdateOperation.delete_points([point_id]))

    def _erase_versions(self, document_id: str, versions: tuple[str, ...]) -> None:
        chunks = versions_filter(qe, document_id, versions)
        self.client.update(qe.UpdateOperation.delete_points_by_filter(chunks))

    # -- reads: whole versions only --------------------------------------------------------

    def count(self, filters: MetadataFilters | None = None) -> int:
        """Exact number of (visible) points matching ``filters``."""
        base = to_edge_filter(filters)
        return self.visible_read(lambda hidden: self._count(visible_filter(qe, base, hidden)))

    def count_all(self) -> int:
        """Every chunk stored, visible or not (records aside): for checks and tests."""
        return self._count(visible_filter(qe, None, []))

    def _count(self, edge_filter: qe.Filter) -> int:
        return int(self.client.count(qe.CountRequest(exact=True, filter=edge_filter)))

    def get_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        limit: int | None = None,
    ) -> list[BaseNode]:
        """(Visible) nodes by id and/or filter (scrolled in pages)."""
        base = to_edge_filter(filters)
        if node_ids is not None:
            ids = list(node_ids)
            base = qe.Filter(must=[qe.HasIdCondition(set(ids)), *([base] if base else [])])

        def run(hidden: Hidden) -> list[BaseNode]:
            found = self._scroll(visible_filter(qe, base, hidden), limit)
            return [metadata_dict_to_node(r.payload) for r in found]

        return self.visible_read(run)

    def payloads(
        self, filters: MetadataFilters | None = None, fields: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Raw payloads (top-level fields only) of every visible point matching ``filters``."""
        base = to_edge_filter(filters)
        return self.visible_read(
            lambda hidden: self._scroll_payloads(visible_filter(qe, base, hidden), fields)
        )

    def _scroll_payloads(
        self, edge_filter: qe.Filter, fields: Sequence[str] | None
    ) -> list[dict[str, Any]]:
        wanted = set(fields) if fields else None
        return [
            {k: v for k, v in dict(record.payload).items() if wanted is None or k in wanted}
            for record in self._scroll(edge_filter)
        ]

    def _scroll(self, edge_filter: qe.Filter, limit: int | None = None) -> list[Any]:
        def page(offset: Any, size: int) -> tuple[list[Any], Any]:
            request = qe.ScrollRequest(
                offset=offset, limit=size, filter=edge_filter, with_payload=True
            )
            records, following = self.client.scroll(request)
            return list(records), following

        return scroll_all(page, limit)

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Dense, sparse or hybrid (fused) search with payload filters inside the query; only
        whole versions are searched. ``multi_embedding``: the question's multilingual vector,
        searched too when the shard has that vector; ``weights``: fusion's LanguageWeights;
        ``whole_payloads``: the path before the fetch by id (``SearchPlan.whole``)."""
        multi = kwargs.get("multi_embedding") if self.has_multi() else None
        whole = bool(kwargs.get("whole_payloads"))
        plan = plan_search(query, self._sparse_query_fn, multi, kwargs.get("weights"), whole)
        if plan is None:
            return no_result()
        base = to_edge_filter(query.filters)
        return self.visible_read(
            lambda hidden: self._search(plan, visible_filter(qe, base, hidden))
        )

    def _search(self, plan: SearchPlan, edge_filter: qe.Filter) -> VectorStoreQueryResult:
        params = qe.SearchParams(hnsw_ef=self.hnsw_ef)
        names = {
            "dense": self.dense_vector_name,
            "multi": self.multi_vector_name,
            "sparse": self.sparse_vector_name,
            "translated": self.sparse_vector_name,
        }
        requests = [
            qe.QueryRequest(
                limit=plan.candidates if plan.fused else plan.limit,
                query=qe.Query.Nearest(
                    qe.SparseVector(*vector) if kind in KEYWORDS else vector, using=names[kind]
                ),
                filter=plan.filter_for(qe, kind, edge_filter),
                params=None if kind in KEYWORDS else params,  # HNSW is for the dense vectors
                with_payload=plan.payload(),
            )
            for kind, vector in plan.sides()
        ]
        if plan.fused:
            rankings = self.client.query_batch(qe.QueryBatchRequest(requests))
            scored = plan.fuse(self.fusion, [list(points) for points in rankings])
            if plan.fetches():
                ids = [point.id for point, _ in scored]
                scored = in_rank_order(scored, self.client.retrieve(ids, True, False))
        else:
            scored = [(p, float(p.score)) for p in self.client.query(requests[0])]
        points = [point for point, _ in scored]
        return VectorStoreQueryResult(
            nodes=[metadata_dict_to_node(p.payload) for p in points],
            similarities=[score for _, score in scored],
            ids=[str(p.id) for p in points],
        )
