"""Retrieval: embed the question, search the collection in Qdrant."""

from __future__ import annotations

from llama_index.core.vector_stores.types import VectorStoreQuery
from pydantic import BaseModel, Field

from ingest.components import Components
from ingest.errors import CollectionNotFound


class Passage(BaseModel):
    """One retrieved chunk, numbered in rank order from 1."""

    n: int = Field(description="Passage number, as cited in answers ([n]).")
    chunk_id: str
    document_id: str
    source: str = Field(description="File path or upload name.")
    title: str
    section: str = Field(description="Heading path, outermost first, joined by ' > '.")
    page_start: int | None = None
    page_end: int | None = None
    text: str
    score: float = Field(description="Similarity to the question (cosine).")

    @property
    def pages(self) -> str:
        """'3' or '3-4', or '' when the format has no pages."""
        if self.page_start is None:
            return ""
        if self.page_end in (None, self.page_start):
            return str(self.page_start)
        return f"{self.page_start}-{self.page_end}"


def retrieve(components: Components, collection: str, query: str, top_k: int) -> list[Passage]:
    """The ``top_k`` chunks of ``collection`` closest to ``query``."""
    if not components.collection_exists(collection):
        raise CollectionNotFound(collection)
    vector = components.embedder.get_query_embedding(query)
    store = components.vector_store(collection)
    result = store.query(VectorStoreQuery(query_embedding=vector, similarity_top_k=top_k))
    passages = []
    for n, (node, score) in enumerate(
        zip(result.nodes or [], result.similarities or [], strict=True), start=1
    ):
        meta = node.metadata
        passages.append(
            Passage(
                n=n,
                chunk_id=node.node_id,
                document_id=meta.get("document_id", ""),
                source=meta.get("source", ""),
                title=meta.get("title", ""),
                section=meta.get("section", ""),
                page_start=meta.get("page_start"),
                page_end=meta.get("page_end"),
                text=node.get_content(),
                score=float(score),
            )
        )
    return passages
