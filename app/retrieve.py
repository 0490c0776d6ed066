"""Retrieval: hybrid (dense + BM25, RRF-fused inside Qdrant), dense-only or sparse-only, with
metadata filters applied inside the query, optional neighbouring context and reranking."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from pydantic import BaseModel, Field

from app.settings import AppSettings, RetrievalMode
from ingest.chunk import detect_language
from ingest.components import Components
from ingest.errors import CollectionNotFound
from ingest.versions import day_number

_MODES = {
    "hybrid": VectorStoreQueryMode.HYBRID,
    "dense": VectorStoreQueryMode.DEFAULT,
    "sparse": VectorStoreQueryMode.SPARSE,
}


class SearchFilters(BaseModel):
    """Restrict retrieval to part of a collection. Every field is optional; they combine (AND)."""

    document_ids: list[str] | None = Field(None, description="Only these documents.")
    source_prefix: str | None = Field(
        None, description="Only documents whose source path starts with this folder."
    )
    doc_types: list[str] | None = Field(None, description="e.g. ['pdf', 'docx'].")
    languages: list[str] | None = Field(None, description="e.g. ['ja'].")
    page_from: int | None = Field(None, ge=1, description="Chunks reaching this page or later.")
    page_to: int | None = Field(None, ge=1, description="Chunks starting at this page or earlier.")
    as_of: date | None = Field(
        None,
        description="Use the version of each document in force on this day (default: today).",
    )
    version: str | None = Field(
        None, description="Only this version label (an older version, asked for explicitly)."
    )
    all_versions: bool = Field(False, description="Search every version, in force or not.")

    def to_metadata_filters(self) -> MetadataFilters:
        """The same restriction as llama-index metadata filters (both stores take them)."""
        conditions: list[MetadataFilter] = []
        if self.version is not None:
            conditions.append(_f("version_label", self.version, FilterOperator.EQ))
        elif not self.all_versions:
            day = day_number(self.as_of or date.today())
            conditions.append(_f("valid_from", day, FilterOperator.LTE))
            conditions.append(_f("valid_to", day, FilterOperator.GT))
        if self.document_ids:
            conditions.append(_f("document_id", self.document_ids, FilterOperator.IN))
        if self.source_prefix:
            prefix = self.source_prefix.rstrip("/") or "/"
            conditions.append(_f("source_prefixes", prefix, FilterOperator.EQ))
        if self.doc_types:
            conditions.append(_f("doc_type", self.doc_types, FilterOperator.IN))
        if self.languages:
            conditions.append(_f("language", self.languages, FilterOperator.IN))
        if self.page_from is not None:
            conditions.append(_f("page_end", self.page_from, FilterOperator.GTE))
        if self.page_to is not None:
            conditions.append(_f("page_start", self.page_to, FilterOperator.LTE))
        return MetadataFilters(filters=conditions)


def _f(key: str, value: object, op: FilterOperator) -> MetadataFilter:
    return MetadataFilter(key=key, value=value, operator=op)


class Passage(BaseModel):
    """One retrieved chunk, numbered in rank order from 1."""

    n: int = Field(description="Passage number, as cited in answers ([n]).")
    chunk_id: str
    document_id: str
    document_version: str = ""
    chunk_index: int = 0
    source: str = Field(description="File path or upload name.")
    title: str
    section: str = Field(description="Heading path, outermost first, joined by ' > '.")
    page_start: int | None = None
    page_end: int | None = None
    text: str
    score: float = Field(
        description="Rank score: cosine similarity (dense), BM25 (sparse), or reciprocal rank "
        "fusion of both (hybrid), or the reranker's score when reranking is on."
    )
    context: str | None = Field(
        None,
        description="The passage widened with its neighbouring chunks of the same section "
        "(when context_neighbors > 0); given to the model when the prompt budget allows.",
    )

    @property
    def pages(self) -> str:
        """'3' or '3-4', or '' when the format has no pages."""
        if self.page_start is None:
            return ""
        if self.page_end in (None, self.page_start):
            return str(self.page_start)
        return f"{self.page_start}-{self.page_end}"


def retrieve(
    components: Components,
    collection: str,
    query: str,
    top_k: int,
    *,
    mode: RetrievalMode = "hybrid",
    filters: SearchFilters | None = None,
) -> list[Passage]:
    """The ``top_k`` chunks of ``collection`` that best match ``query``."""
    if not components.collection_exists(collection):
        raise CollectionNotFound(collection)
    store = components.vector_store(collection)
    request = VectorStoreQuery(
        query_embedding=components.embedder.get_query_embedding(query)
        if mode != "sparse"
        else None,
        query_str=query,
        similarity_top_k=top_k,
        sparse_top_k=top_k,
        hybrid_top_k=top_k,
        mode=_MODES[mode],
        filters=(filters or SearchFilters()).to_metadata_filters(),
    )
    result = store.query(request)
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
                document_version=meta.get("document_version", ""),
                chunk_index=meta.get("chunk_index", 0),
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


def _strip_overlap(before: str, after: str) -> str:
    """``after`` without the sentences it repeats from the end of ``before`` (chunk overlap)."""
    from ingest.chunk import split_sentences

    head, tail = split_sentences(after), split_sentences(before)
    for count in range(min(len(head), len(tail)), 0, -1):
        if head[:count] == tail[-count:]:
            end = 0
            for sentence in head[:count]:
                end = after.index(sentence, end) + len(sentence)
            return after[end:].strip()
    return after


def widen(components: Components, collection: str, passage: Passage, neighbors: int) -> str:
    """The passage's text with up to ``neighbors`` chunks before and after it, same section."""
    store = components.vector_store(collection)
    indexes = [passage.chunk_index + d for d in range(-neighbors, neighbors + 1) if d]
    nearby = store.get_nodes(
        filters=MetadataFilters(
            filters=[
                _f("document_id", passage.document_id, FilterOperator.EQ),
                _f("document_version", passage.document_version, FilterOperator.EQ),
                _f("chunk_index", [i for i in indexes if i >= 0], FilterOperator.IN),
            ]
        )
    )
    same_section = {
        n.metadata["chunk_index"]: n.get_content()
        for n in nearby
        if n.metadata.get("section", "") == passage.section
    }
    same_section[passage.chunk_index] = passage.text
    text = ""
    for index in sorted(same_section):
        piece = same_section[index]
        text = f"{text} {_strip_overlap(text, piece)}".strip() if text else piece
    return text


class Retriever:
    """Retrieval as the service runs it: search, optional reranking, optional wider context."""

    def __init__(self, components: Components, settings: AppSettings) -> None:
        self.components = components
        self.settings = settings
        self.reranker = build_reranker(settings.rerank_model) if settings.rerank_model else None

    def effective_mode(self, query: str, mode: RetrievalMode) -> RetrievalMode:
        """Hybrid becomes keywords-only for a question the embedding model cannot read.

        Measured on the shipped Japanese set: the packaged English model ranks Japanese text at
        random (nDCG@10 0.01), and fusing that noise in halves keyword search's quality.
        """
        languages = {x.strip() for x in self.settings.embed_languages.split(",")}
        if mode != "hybrid" or "*" in languages:
            return mode
        language = detect_language(query)
        return "sparse" if language not in languages and language != "und" else mode

    def search(
        self,
        collection: str,
        query: str,
        top_k: int,
        *,
        mode: RetrievalMode,
        filters: SearchFilters | None = None,
        widen_context: bool = False,
    ) -> list[Passage]:
        """The best ``top_k`` passages for ``query`` (reranked when a reranker is set)."""
        candidates = max(top_k, self.settings.rerank_candidates) if self.reranker else top_k
        passages = retrieve(
            self.components,
            collection,
            query,
            candidates,
            mode=self.effective_mode(query, mode),
            filters=filters,
        )
        if self.reranker is not None:
            passages = rerank(self.reranker, query, passages, top_k)
        if widen_context and self.settings.context_neighbors:
            for passage in passages:
                passage.context = widen(
                    self.components, collection, passage, self.settings.context_neighbors
                )
        return passages


def build_reranker(model_dir: str) -> Any:
    """A cross-encoder loaded from a local directory (never from a hub, never remote code)."""
    from llama_index.core.postprocessor import SentenceTransformerRerank

    if not Path(model_dir).is_dir():
        raise ValueError(f"KURA_RERANK_MODEL={model_dir!r} is not a local model directory")
    return SentenceTransformerRerank(
        model=model_dir, top_n=50, device="cpu", trust_remote_code=False
    )


def rerank(reranker: Any, query: str, passages: list[Passage], top_k: int) -> list[Passage]:
    """Reorder ``passages`` by the cross-encoder's score and keep the best ``top_k``."""
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    nodes = [
        NodeWithScore(node=TextNode(id_=p.chunk_id, text=p.text), score=p.score) for p in passages
    ]
    scored = reranker.postprocess_nodes(nodes, query_bundle=QueryBundle(query))
    by_id = {p.chunk_id: p for p in passages}
    reranked = []
    for n, item in enumerate(scored[:top_k], start=1):
        passage = by_id[item.node.node_id].model_copy(update={"n": n, "score": float(item.score)})
        reranked.append(passage)
    return reranked
