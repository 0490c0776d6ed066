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

import logging
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

from ingest.errors import StoreUnavailable
from ingest.visibility import (
    RECORD_FIELD,
    RECORD_KINDS,
    STATE,
    TOKEN_ID,
    Hidden,
    VersionGate,
    state_id,
)

logger = logging.getLogger(__name__)

# (indices, values) per text, as llama-index's Qdrant store takes sparse encoders.
SparseEncoder = Callable[[list[str]], tuple[list[list[int]], list[list[float]]]]

_CONFIG_FILE = "edge_config.json"
_OPEN_LOCK = threading.Lock()
_BATCH = 256  # points per WAL record: one huge record makes reopening slow


def shard_exists(path: Path) -> bool:
    """Whether an Edge shard has been created at ``path``."""
    return (path / _CONFIG_FILE).is_file()


def _condition(f: MetadataFilter) -> tuple[str, Any]:
    """One llama-index filter as ("must" | "must_not", Edge condition)."""
    key, value, op = f.key, f.value, f.operator
    if op in (FilterOperator.EQ, FilterOperator.NE):
        if not isinstance(value, str | int | bool):
            raise ValueError(f"filter on {key}: equality needs a string, integer or boolean")
        side = "must" if op == FilterOperator.EQ else "must_not"
        return side, qe.FieldCondition(key=key, match=qe.MatchValue(value))
    if op == FilterOperator.IN:
        return "must", qe.FieldCondition(key=key, match=qe.MatchAny(list(value)))  # type: ignore[arg-type]
    if op == FilterOperator.NIN:
        return "must_not", qe.FieldCondition(key=key, match=qe.MatchAny(list(value)))  # type: ignore[arg-type]
    ranges = {
        FilterOperator.GT: "gt",
        FilterOperator.GTE: "gte",
        FilterOperator.LT: "lt",
        FilterOperator.LTE: "lte",
    }
    if op in ranges:
        bound = float(value)  # type: ignore[arg-type]
        return "must", qe.FieldCondition(key=key, range=qe.RangeFloat(**{ranges[op]: bound}))
    if op == FilterOperator.IS_EMPTY:
        return "must", qe.IsNullCondition(key)
    raise ValueError(f"filter operator {op} is not supported by the embedded store")


def _match(key: str, value: str) -> qe.FieldCondition:
    return qe.FieldCondition(key=key, match=qe.MatchValue(value))


def _records() -> qe.FieldCondition:
    return qe.FieldCondition(key=RECORD_FIELD, match=qe.MatchAny(list(RECORD_KINDS)))


def visible_filter(base: qe.Filter | None, hidden: Hidden) -> qe.Filter:
    """``base`` without the records and the chunks of the ``hidden`` versions."""
    excluded: list[Any] = [_records()]
    excluded += [
        qe.Filter(must=[_match("document_id", doc), _match("document_version", version)])
        for doc, version in hidden
    ]
    return qe.Filter(must=[base] if base is not None else None, must_not=excluded)


def to_edge_filter(filters: MetadataFilters | None) -> qe.Filter | None:
    """Translate llama-index metadata filters (nested, AND/OR/NOT) into an Edge filter."""
    if filters is None or not filters.filters:
        return None
    positive: list[Any] = []
    negative: list[Any] = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            nested = to_edge_filter(item)
            if nested is not None:
                positive.append(nested)
            continue
        side, condition = _condition(item)
        (positive if side == "must" else negative).append(condition)
    if filters.condition == FilterCondition.OR:
        alternatives = positive + [qe.Filter(must_not=[c]) for c in negative]
        return qe.Filter(should=alternatives)
    if filters.condition == FilterCondition.NOT:
        return qe.Filter(must_not=positive + [qe.Filter(must_not=[c]) for c in negative])
    return qe.Filter(must=positive or None, must_not=negative or None)


class EdgeVectorStore(VersionGate, BasePydanticVectorStore):
    """A kura collection stored in an embedded Qdrant Edge shard. Every read shows whole
    versions only (see ingest/visibility.py)."""

    stores_text: bool = True
    flat_metadata: bool = False

    path: str
    dense_vector_name: str = "dense"
    sparse_vector_name: str = "sparse"
    hnsw_ef: int = 128
    fusion: str = "dbsf"  # or "rrf"

    _shard: Any = PrivateAttr(default=None)
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
        **kwargs: Any,
    ) -> EdgeVectorStore:
        """Create a new shard with dense (cosine) and sparse (IDF) vectors and payload indexes."""
        config = qe.EdgeConfig(
            vectors={"dense": qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine)},
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
            # Shards made before state records existed get their index (a no-op after).
            self._shard.update(
                qe.UpdateOperation.create_field_index(RECORD_FIELD, qe.PayloadSchemaType.Keyword)
            )
        return self._shard

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
        """Upsert embedded nodes; each becomes one point with llama-index's payload layout."""
        ids: list[str] = []
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

    # -- reads -----------------------------------------------------------------------------

    # -- the visibility protocol's primitives (ingest/visibility.py) -----------------------

    def _state_payloads(self) -> list[dict[str, Any]]:
        state = qe.Filter(must=[_match(RECORD_FIELD, STATE)])
        found: list[dict[str, Any]] = []
        offset = None
        while True:
            records, offset = self.client.scroll(
                qe.ScrollRequest(offset=offset, limit=256, filter=state, with_payload=True)
            )
            found.extend(dict(r.payload) for r in records)
            if offset is None:
                return found

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
        chunks = qe.Filter(
            must=[
                _match("document_id", document_id),
                qe.FieldCondition(key="document_version", match=qe.MatchAny(list(versions))),
            ],
            must_not=[_records()],
        )
        self.client.update(qe.UpdateOperation.delete_points_by_filter(chunks))

    # -- reads: whole versions only --------------------------------------------------------

    def count(self, filters: MetadataFilters | None = None) -> int:
        """Exact number of (visible) points matching ``filters``."""
        base = to_edge_filter(filters)
        return self.visible_read(
            lambda hidden: int(
                self.client.count(qe.CountRequest(exact=True, filter=visible_filter(base, hidden)))
            )
        )

    def count_all(self) -> int:
        """Every chunk stored, visible or not (records aside): for checks and tests."""
        return int(self.client.count(qe.CountRequest(exact=True, filter=visible_filter(None, []))))

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
        return self.visible_read(lambda hidden: self._scroll_nodes(base, hidden, limit))

    def _scroll_nodes(
        self, base: qe.Filter | None, hidden: Hidden, limit: int | None
    ) -> list[BaseNode]:
        nodes: list[BaseNode] = []
        offset = None
        edge_filter = visible_filter(base, hidden)
        while limit is None or len(nodes) < limit:
            page = 256 if limit is None else min(256, limit - len(nodes))
            records, offset = self.client.scroll(
                qe.ScrollRequest(offset=offset, limit=page, filter=edge_filter, with_payload=True)
            )
            nodes.extend(metadata_dict_to_node(r.payload) for r in records)
            if offset is None:
                break
        return nodes

    def payloads(
        self, filters: MetadataFilters | None = None, fields: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Raw payloads (top-level fields only) of every visible point matching ``filters``."""
        base = to_edge_filter(filters)
        return self.visible_read(lambda hidden: self._scroll_payloads(base, hidden, fields))

    def _scroll_payloads(
        self, base: qe.Filter | None, hidden: Hidden, fields: Sequence[str] | None
    ) -> list[dict[str, Any]]:
        wanted = set(fields) if fields else None
        found: list[dict[str, Any]] = []
        offset = None
        edge_filter = visible_filter(base, hidden)
        while True:
            records, offset = self.client.scroll(
                qe.ScrollRequest(offset=offset, limit=256, filter=edge_filter, with_payload=True)
            )
            for record in records:
                payload = dict(record.payload)
                found.append({k: v for k, v in payload.items() if wanted is None or k in wanted})
            if offset is None:
                return found

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Dense, sparse or hybrid (fused) search with payload filters inside the query; only
        whole versions are searched."""
        base = to_edge_filter(query.filters)
        return self.visible_read(lambda hidden: self._query(query, visible_filter(base, hidden)))

    def _query(self, query: VectorStoreQuery, edge_filter: qe.Filter) -> VectorStoreQueryResult:
        params = qe.SearchParams(hnsw_ef=self.hnsw_ef)
        limit = query.similarity_top_k
        if query.mode == VectorStoreQueryMode.DEFAULT:
            request = qe.QueryRequest(
                limit=limit,
                query=qe.Query.Nearest(
                    list(query.query_embedding or []), using=self.dense_vector_name
                ),
                filter=edge_filter,
                params=params,
                with_payload=True,
            )
        elif query.mode in (VectorStoreQueryMode.SPARSE, VectorStoreQueryMode.HYBRID):
            sparse = self._sparse_query(query.query_str or "")
            if query.mode == VectorStoreQueryMode.SPARSE:
                if sparse is None:
                    return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
                request = qe.QueryRequest(
                    limit=query.sparse_top_k or limit,
                    query=qe.Query.Nearest(sparse, using=self.sparse_vector_name),
                    filter=edge_filter,
                    with_payload=True,
                )
            else:
                candidates = max(limit, query.sparse_top_k or 0, 20) * 2
                prefetches = [
                    qe.Prefetch(
                        limit=candidates,
                        query=qe.Query.Nearest(
                            list(query.query_embedding or []), using=self.dense_vector_name
                        ),
                        filter=edge_filter,
                        params=params,
                    )
                ]
                if sparse is not None:
                    prefetches.append(
                        qe.Prefetch(
                            limit=candidates,
                            query=qe.Query.Nearest(sparse, using=self.sparse_vector_name),
                            filter=edge_filter,
                        )
                    )
                request = qe.QueryRequest(
                    limit=query.hybrid_top_k or limit,
                    prefetches=prefetches,
                    query=qe.Fusion.Rrf(k=60) if self.fusion == "rrf" else qe.Fusion.Dbsf(),  # type: ignore[arg-type]
                    with_payload=True,
                )
        else:
            raise ValueError(f"query mode {query.mode} is not supported by the embedded store")
        points = self.client.query(request)
        nodes = [metadata_dict_to_node(p.payload) for p in points]
        return VectorStoreQueryResult(
            nodes=nodes,
            similarities=[float(p.score) for p in points],
            ids=[str(p.id) for p in points],
        )

    def _sparse_query(self, text: str) -> qe.SparseVector | None:
        if self._sparse_query_fn is None:
            raise ValueError("this store has no sparse encoder: sparse and hybrid search need one")
        indices, values = self._sparse_query_fn([text])
        if not indices or not indices[0]:
            return None
        return qe.SparseVector(indices[0], values[0])
