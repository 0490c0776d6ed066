"""What one collection holds, read only: documents, their versions, whether a version is whole.

Reading never creates anything: a collection that does not exist (a typo in its name) reads as
empty and stays nonexistent, in the store and in kura.db, so it never shows in
``/v1/collections`` or ``/v1/models``. Only a write creates a collection (``Indexer``).
"""

from __future__ import annotations

from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters

from ingest.components import Components
from ingest.hostile import FLAGS
from ingest.pipeline.nodes import _filters
from ingest.versions import CATALOG_FIELDS, DocumentVersion, group_documents

FLAG_FIELDS = ("document_version", "flags")


class Catalogue:
    """The documents of one kura collection, as stored on their points."""

    def __init__(self, components: Components, collection: str) -> None:
        self.components = components
        self.collection = collection

    def documents(self, doc_id: str | None = None) -> dict[str, list[DocumentVersion]]:
        """Every document in the collection (or just ``doc_id``) with its versions."""
        if not self.components.collection_exists(self.collection):
            return {}
        conditions = [MetadataFilter(key="chunk_index", value=0)]
        if doc_id is not None:
            conditions.append(MetadataFilter(key="document_id", value=doc_id))
        store = self.components.vector_store(self.collection)
        payloads = store.payloads(MetadataFilters(filters=conditions), CATALOG_FIELDS)
        # Flags raised anywhere in a version, not just on its first chunk.
        conditions[0] = MetadataFilter(key="flags", value=list(FLAGS), operator=FilterOperator.IN)
        flagged: dict[str, set[str]] = {}
        for hit in store.payloads(MetadataFilters(filters=conditions), FLAG_FIELDS):
            flagged.setdefault(hit["document_version"], set()).update(hit.get("flags") or ())
        for payload in payloads:
            payload["flags"] = sorted(flagged.get(payload["document_version"], ()))
        return group_documents(payloads)

    def versions(self, doc_id: str) -> list[DocumentVersion]:
        """The document's versions, oldest first, with the validity stored on them."""
        return self.documents(doc_id).get(doc_id, [])

    def is_indexed(self, doc_id: str, version: str) -> bool:
        """Whether this exact version is fully indexed (every chunk present)."""
        if not self.components.collection_exists(self.collection):
            return False
        store = self.components.vector_store(self.collection)
        version_filter = _filters(document_id=doc_id, document_version=version)
        found = store.get_nodes(filters=version_filter, limit=1)
        if not found:
            return False
        expected = found[0].metadata.get("chunk_count")
        return bool(store.count(version_filter) == expected)
