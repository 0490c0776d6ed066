"""The index schema: one Qdrant collection per kura collection, one point per chunk."""

from __future__ import annotations

import uuid
import warnings
from typing import TYPE_CHECKING

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from ingest.payload import INTEGER_INDEXES, KEYWORD_INDEXES

if TYPE_CHECKING:
    from ingest.settings import CollectionLayout

DENSE_VECTOR = "dense"
SPARSE_VECTOR = "sparse"
# The multilingual model's vector (ingest/embedding/multilingual.py), beside ``dense``;
# collections made before it have none and are searched with what they have.
MULTI_VECTOR = "multi"

_NAMESPACE = uuid.UUID("6f1c9a52-8a5e-4c1e-9d43-6b6b6f7a6b75")


def qdrant_collection(prefix: str, collection: str) -> str:
    """The Qdrant collection that holds kura collection ``collection``."""
    return f"{prefix}{collection}"


def document_id(collection: str, source: str) -> str:
    """Stable id of a document: the same collection and source always give the same id."""
    return str(uuid.uuid5(_NAMESPACE, f"{collection}\x00{source}"))


def chunk_id(document_id: str, version: str, index: int) -> str:
    """Point id of one chunk of one version of a document (a UUID, as Qdrant wants)."""
    return str(uuid.uuid5(_NAMESPACE, f"{document_id}\x00{version}\x00{index}"))


def ensure_collection(
    client: QdrantClient,
    name: str,
    dimension: int,
    layout: CollectionLayout | None = None,
    multi_dimension: int | None = None,
) -> None:
    """Create the collection with kura's vectors (``multi`` too when ``multi_dimension`` is
    given) and payload indexes if it does not exist."""
    if client.collection_exists(name):
        return
    vectors = {DENSE_VECTOR: models.VectorParams(size=dimension, distance=models.Distance.COSINE)}
    if multi_dimension:
        vectors[MULTI_VECTOR] = models.VectorParams(
            size=multi_dimension, distance=models.Distance.COSINE
        )
    try:
        client.create_collection(
            collection_name=name,
            shard_number=layout.shards if layout else None,
            replication_factor=layout.replication if layout else None,
            write_consistency_factor=layout.write_consistency if layout else None,
            vectors_config=vectors,
            sparse_vectors_config={
                SPARSE_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)
            },
        )
    except (UnexpectedResponse, ValueError):
        # Another writer (a second kura worker) created it in between: a server answers 409.
        if not client.collection_exists(name):
            raise
    with warnings.catch_warnings():
        # Embedded (local) Qdrant warns that payload indexes do nothing there; servers use them.
        warnings.simplefilter("ignore", UserWarning)
        for field in KEYWORD_INDEXES:
            client.create_payload_index(name, field, models.PayloadSchemaType.KEYWORD)
        for field in INTEGER_INDEXES:
            client.create_payload_index(name, field, models.PayloadSchemaType.INTEGER)
