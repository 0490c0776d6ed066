"""Retrieval: hybrid (dense + BM25, RRF-fused inside Qdrant), dense-only or sparse-only, with
metadata filters applied inside the query, optional neighbouring context and reranking."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

from llama_index.core.schema import BaseNode
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
from ingest.sparse import terms
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
            conditions.append(condition("version_label", self.version, FilterOperator.EQ))
        elif not self.all_versions:
            day = day_number(self.as_of or date.today())
            conditions.append(condition("valid_from", day, FilterOperator.LTE))
            conditions.append(condition("valid_to", day, FilterOperator.GT))
        if self.document_ids:
            conditions.append(condition("document_id", self.document_ids, FilterOperator.IN))
        if self.source_prefix:
            prefix = self.source_prefix.rstrip("/") or "/"
            conditions.append(condition("source_prefixes", prefix, FilterOperator.EQ))
        if self.doc_types:
            conditions.append(condition("doc_type", self.doc_types, FilterOperator.IN))
        if self.languages:
            conditions.append(condition("language", self.languages, FilterOperator.IN))
        if self.page_from is not None:
            conditions.append(condition("page_end", self.page_from, FilterOperator.GTE))
        if self.page_to is not None:
            conditions.append(condition("page_start", self.page_to, FilterOperator.LTE))
        return MetadataFilters(filters=conditions)


def condition(key: str, value: object, op: FilterOperator = FilterOperator.EQ) -> MetadataFilter:
    """One metadata condition (equality by default)."""
    return MetadataFilter(key=key, value=value, operator=op)


def with_access(filters: MetadataFilters, groups: list[str] | None) -> MetadataFilters:
    """``filters`` plus: only documents a member of ``groups`` may read. The condition sits
    inside the Qdrant query, so nothing unreadable is ranked, counted or returned."""
    if groups is None:
        return filters
    access = condition("allowed_groups", list(groups), FilterOperator.IN)
    return MetadataFilters(filters=[*filters.filters, access], condition=filters.condition)


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
        description="Rank score: cosine similarity (dense); 1/rank for keyword (sparse) and "
        "hybrid searches under access control (BM25 and fused scores carry statistics of "
        "documents the caller may not read; without authentication, they are given); the "
        "reranker's score when reranking is on."
    )
    context: str | None = Field(
        None,
        description="The passage widened with its neighbouring chunks of the same section "
        "(when context_neighbors > 0); given to the model when the prompt budget allows.",
    )
    clause: str = Field("", description='The clause it belongs to: "Section 4(b)", "第12条第3項".')
    references: list[str] = Field(
        default_factory=list, description="Clauses the passage refers to."
    )
    role: Literal["retrieved", "reference", "definition"] = Field(
        "retrieved",
        description="retrieved; or added because passage `via` refers to its clause "
        "(reference) or uses a term it defines (definition).",
    )
    via: int | None = Field(None, description="The passage that led to this one.")
    version_label: str = ""
    effective_date: str = ""
    verified: bool | None = Field(
        None,
        description="For a citation: whether its text was found again in the source file at "
        "the page given (None: the source could not be checked).",
    )
    verification: str = Field("", description="Why it was or was not verified.")
    # read by the contract helpers, not part of the API
    clauses: list[str] = Field(default_factory=list, exclude=True)
    defines: list[str] = Field(default_factory=list, exclude=True)
    terms: list[str] = Field(default_factory=list, exclude=True)
    valid_from: int = Field(0, exclude=True)

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
    groups: list[str] | None = None,
) -> list[Passage]:
    """The ``top_k`` chunks of ``collection`` that best match ``query`` and that a member of
    ``groups`` may read (None: no access filter, for a single-user setup)."""
    if not components.collection_exists(collection):
        raise CollectionNotFound(collection)
    store = components.vector_store(collection)
    request = VectorStoreQuery(
        query_embedding=components.query_embedding(query) if mode != "sparse" else None,
        query_str=query,
        similarity_top_k=top_k,
        sparse_top_k=top_k,
        hybrid_top_k=top_k,
        mode=_MODES[mode],
        filters=with_access((filters or SearchFilters()).to_metadata_filters(), groups),
    )
    result = store.query(request)
    return [
        passage_from_node(node, n, float(score))
        for n, (node, score) in enumerate(
            zip(result.nodes or [], result.similarities or [], strict=True), start=1
        )
    ]


def keyword_coverage(query: str, text: str) -> float:
    """The share of the query's keywords (as the sparse index reads them) found in ``text``."""
    wanted = set(terms(query))
    return len(wanted & set(terms(text))) / len(wanted) if wanted else 0.0


def passage_from_node(node: BaseNode, n: int, score: float) -> Passage:
    """A stored chunk as passage number ``n``."""
    meta = node.metadata
    return Passage(
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
        score=score,
        clause=meta.get("clause", ""),
        references=meta.get("references", []),
        version_label=meta.get("version_label", ""),
        effective_date=meta.get("effective_date", ""),
        clauses=meta.get("clauses", []),
        defines=meta.get("defines", []),
        terms=meta.get("terms", []),
        valid_from=meta.get("valid_from", 0),
    )


def strip_overlap(before: str, after: str) -> str:
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
                condition("document_id", passage.document_id, FilterOperator.EQ),
                condition("document_version", passage.document_version, FilterOperator.EQ),
                condition("chunk_index", [i for i in indexes if i >= 0], FilterOperator.IN),
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
        text = f"{text} {strip_overlap(text, piece)}".strip() if text else piece
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

    def relevant(
        self,
        collection: str,
        query: str,
        mode: RetrievalMode,
        filters: SearchFilters | None,
        groups: list[str] | None,
    ) -> bool:
        """Whether the collection holds anything relevant enough to answer from: the best
        dense match reaches ``min_relevance``; in a keywords-only search (a question in a
        language the embedding model cannot read), one of the top passages holds at least
        ``min_keyword_coverage`` of the question's keywords."""
        if mode == "sparse":
            found = retrieve(
                self.components, collection, query, 3, mode="sparse", filters=filters, groups=groups
            )
            return any(
                keyword_coverage(query, p.text) >= self.settings.min_keyword_coverage for p in found
            )
        best = retrieve(
            self.components, collection, query, 1, mode="dense", filters=filters, groups=groups
        )
        return bool(best) and best[0].score >= self.settings.min_relevance

    def search(
        self,
        collection: str,
        query: str,
        top_k: int,
        *,
        mode: RetrievalMode,
        filters: SearchFilters | None = None,
        widen_context: bool = False,
        groups: list[str] | None = None,
    ) -> list[Passage]:
        """The best ``top_k`` passages for ``query`` that a member of ``groups`` may read
        (reranked when a reranker is set). Under access control, keyword and hybrid passages
        carry their rank as score, not Qdrant's (see ``rank_scores``)."""
        candidates = max(top_k, self.settings.rerank_candidates) if self.reranker else top_k
        effective = self.effective_mode(query, mode)
        passages = retrieve(
            self.components,
            collection,
            query,
            candidates,
            mode=effective,
            filters=filters,
            groups=groups,
        )
        if self.reranker is not None:
            passages = rerank(self.reranker, query, passages, top_k)
        elif groups is not None and effective != "dense":
            passages = rank_scores(passages)
        if widen_context and self.settings.context_neighbors:
            for passage in passages:
                passage.context = widen(
                    self.components, collection, passage, self.settings.context_neighbors
                )
        return passages


def rank_scores(passages: list[Passage]) -> list[Passage]:
    """The passages with score 1/rank instead of the BM25 or fused score.

    BM25 weighs a word by its rarity in the whole collection (IDF), documents the caller may
    not read included: a raw score that changes when a hidden document is added would tell a
    reader that a word appears in it. A rank among the passages they may read says less (see
    the README's security section for what it still says). Dense scores (cosine of question
    and passage) depend on nothing else and stay.
    """
    return [p.model_copy(update={"score": 1 / p.n}) for p in passages]


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
