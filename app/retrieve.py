"""Retrieval: hybrid (the dense model, the multilingual model and BM25, each weighed by whether
it reads the question's and the passage's language: ingest/stores/fusion.py), dense-only or
sparse-only, with metadata filters applied inside the query, optional neighbouring
context and reranking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from pydantic import BaseModel, Field

from app.passages import Hit, Passage, hit_from_node, widen
from app.rerank import OllamaReranker
from app.sentences import SentenceMeaning
from app.settings import AppSettings, RetrievalMode
from ingest.components import Components
from ingest.filters import all_of, condition, document, in_force, source_prefix, with_access
from ingest.stores.fusion import LanguageWeights, reads
from ingest.text import detect_language

if TYPE_CHECKING:
    from app.llm.model import AnsweringModel

_MODES = {
    "hybrid": VectorStoreQueryMode.HYBRID,
    "dense": VectorStoreQueryMode.DEFAULT,
    "sparse": VectorStoreQueryMode.SPARSE,
}
# Passages a keywords-only question's relevance check reads (see app/relevance.py).
KEYWORD_CHECK = 3


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
        parts: list[MetadataFilter | MetadataFilters] = []
        if self.version is not None:
            parts.append(condition("version_label", self.version))
        elif not self.all_versions:
            parts.append(in_force(self.as_of or date.today()))
        if self.document_ids:
            parts.append(document(self.document_ids))
        if self.source_prefix:
            parts.append(source_prefix(self.source_prefix))
        if self.doc_types:
            parts.append(condition("doc_type", self.doc_types, FilterOperator.IN))
        if self.languages:
            parts.append(condition("language", self.languages, FilterOperator.IN))
        if self.page_from is not None:
            parts.append(condition("page_end", self.page_from, FilterOperator.GTE))
        if self.page_to is not None:
            parts.append(condition("page_start", self.page_to, FilterOperator.LTE))
        return all_of(*parts)


def retrieve_hits(
    components: Components,
    collection: str,
    query: str,
    top_k: int,
    *,
    mode: RetrievalMode = "hybrid",
    filters: SearchFilters | None = None,
    groups: list[str] | None = None,
    multi_embedding: list[float] | None = None,
    dense: bool = True,
    by_language: bool = True,
) -> list[Hit]:
    """The ``top_k`` chunks of ``collection`` that best match ``query`` and that a member of
    ``groups`` may read (None: no access filter, for a single-user setup), each with its
    payload. ``dense=False``: the dense model's vector is not searched. ``multi_embedding``:
    the query's multilingual vector, searched too (dense and hybrid modes) when the collection
    has that vector. ``by_language=False``: fusion counts every ranking alike for every passage
    (as before it weighed them by language; for comparisons)."""
    # embeds: never a query of one model in another's space (EmbedderMismatch). Checked only
    # when the dense model's vector is searched: the check measures that model (loads torch),
    # which a Japanese question searched by the multilingual vector and keywords never needs.
    meaning = mode != "sparse"
    # One look-up gives the store and the runtime that embeds the query for it: a reindex may
    # swap copies between two look-ups (ingest/serving.py).
    with components.serving(collection, embeds=meaning and dense) as copy:
        embedding = components.embedders.query_embedding(query, copy) if meaning and dense else None
        request = VectorStoreQuery(
            query_embedding=embedding,
            query_str=query,
            similarity_top_k=top_k,
            sparse_top_k=top_k,
            hybrid_top_k=top_k,
            mode=_MODES[mode],
            filters=with_access((filters or SearchFilters()).to_metadata_filters(), groups),
        )
        languages = components.settings.embed_languages
        weights = LanguageWeights.of(query, languages) if by_language else None
        result = copy.store.query(
            request, multi_embedding=multi_embedding if meaning else None, weights=weights
        )
    return [
        hit_from_node(node, n, float(score))
        for n, (node, score) in enumerate(
            zip(result.nodes or [], result.similarities or [], strict=True), start=1
        )
    ]


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
    """The ``top_k`` passages of ``collection`` that best match ``query`` and that a member of
    ``groups`` may read (None: no access filter, for a single-user setup)."""
    found = retrieve_hits(
        components, collection, query, top_k, mode=mode, filters=filters, groups=groups
    )
    return [hit.passage for hit in found]


@dataclass
class Retrieval:
    """One search for a question: the passages to use, each with its chunk's payload, and
    what deciding whether they cover the question needs, so nothing is searched twice."""

    collection: str
    query: str
    mode: RetrievalMode  # the mode actually used
    filters: SearchFilters | None
    groups: list[str] | None
    dense: bool  # whether the dense model's vector was searched (not keywords only)
    multi: bool  # whether the multilingual model's vector was searched
    hits: list[Hit]  # in rank order, reranked, scored and widened as the caller sees them
    ranked: list[Hit]  # as the store ranked them, with the store's scores
    rerank_error: str | None = None  # why the reranker failed (hits then keep the fused order)

    @property
    def passages(self) -> list[Passage]:
        """The passages, in rank order."""
        return [hit.passage for hit in self.hits]


class Retriever:
    """Retrieval as the service runs it: search, optional reranking, optional wider context."""

    def __init__(
        self, components: Components, settings: AppSettings, llm: AnsweringModel | None = None
    ) -> None:
        """``llm``: the answering model, whose Ollama hosts an Ollama reranker shares (None, or
        the OpenAI backend: the reranker keeps a pool of its own over the Ollama hosts)."""
        self.components = components
        self.settings = settings
        self.reranker: Any = None
        self.sentences = SentenceMeaning(method=settings.hybrid_fusion)
        if settings.rerank_model and settings.rerank_backend == "ollama":
            hosts = llm.hosts if llm is not None and llm.backend == "ollama" else None
            self.reranker = OllamaReranker(settings, hosts)
        elif settings.rerank_model:
            self.reranker = build_reranker(settings.rerank_model)

    def close(self) -> None:
        """Stop the checks of an Ollama reranker's own hosts (the answering model's are its)."""
        if isinstance(self.reranker, OllamaReranker):
            self.reranker.close()

    def reads(self, query: str) -> bool:
        """Whether the dense model reads the question's language (``embed_languages``).

        Measured on the shipped Japanese set: the packaged English model ranks Japanese text at
        random (nDCG@10 0.01), and fusing that noise in halves keyword search's quality.
        """
        return reads(self.settings.embed_languages, detect_language(query))

    def multilingual(self, collection: str | None = None) -> bool:
        """Whether a multilingual model is configured and ``collection`` (when named) has its
        vector: collections made before it have none until `kura reindex`."""
        if self.components.embedders.multilingual is None:
            return False
        if collection is None or not self.components.collection_exists(collection):
            return True
        return self.components.vector_store(collection).has_multi()

    def effective_mode(
        self, query: str, mode: RetrievalMode, collection: str | None = None
    ) -> RetrievalMode:
        """Hybrid becomes keywords-only for a question the dense model cannot read, unless the
        multilingual model reads it (in ``collection``, when named)."""
        return self.plan(query, mode, collection)[0]

    def plan(
        self, query: str, mode: RetrievalMode, collection: str | None = None
    ) -> tuple[RetrievalMode, bool, bool]:
        """The mode a search asked in ``mode`` runs in, and which dense vectors it uses: the
        dense model's, the multilingual model's. Hybrid: each that reads the question (none:
        keywords only); dense: the dense model's, or the multilingual one for a language the
        dense model cannot read."""
        if mode == "sparse":
            return mode, False, False
        reads, multi = self.reads(query), self.multilingual(collection)
        if mode == "hybrid":
            return ("hybrid" if reads or multi else "sparse"), reads, multi
        return mode, reads or not multi, multi and not reads

    def find(
        self,
        collection: str,
        query: str,
        top_k: int,
        *,
        mode: RetrievalMode,
        filters: SearchFilters | None = None,
        widen_context: bool = False,
        groups: list[str] | None = None,
    ) -> Retrieval:
        """The best ``top_k`` passages for ``query`` that a member of ``groups`` may read
        (reranked when a reranker is set), with their payloads. Under access control, keyword
        and hybrid passages carry their rank as score, not Qdrant's (see ``rank_scores``)."""
        candidates = max(top_k, self.settings.rerank_candidates) if self.reranker else top_k
        effective, use_dense, use_multi = self.plan(query, mode, collection)
        # A keywords-only relevance check reads the top three: fetched by the same query.
        keywords_judge = effective == "sparse" or not (use_dense or use_multi)
        limit = max(candidates, KEYWORD_CHECK) if keywords_judge else candidates
        rescored = self.settings.sentence_candidates if effective == "hybrid" else 0
        limit = max(limit, rescored)
        multi = self.components.embedders.multi_query_embedding(query) if use_multi else None
        ranked = retrieve_hits(
            self.components,
            collection,
            query,
            limit,
            mode=effective,
            filters=filters,
            groups=groups,
            multi_embedding=multi,
            dense=use_dense,
        )
        payloads = {hit.passage.chunk_id: hit.payload for hit in ranked}
        ordered = ranked
        if rescored:
            ordered = self.by_sentence(query, ranked[:rescored], use_dense, use_multi)
            ordered += ranked[rescored:]
        passages = [hit.passage for hit in ordered[:candidates]]
        rerank_error = None
        if isinstance(self.reranker, OllamaReranker):
            outcome = self.reranker.rerank(query, passages, top_k)
            passages, rerank_error = outcome.passages, outcome.error
        elif self.reranker is not None:
            passages = rerank(self.reranker, query, passages, top_k)
        if (self.reranker is None or rerank_error) and groups is not None and effective != "dense":
            passages = rank_scores(passages)
        if widen_context and self.settings.context_neighbors:
            for passage in passages:
                passage.context = widen(
                    self.components, collection, passage, self.settings.context_neighbors
                )
        return Retrieval(
            collection=collection,
            query=query,
            mode=effective,
            filters=filters,
            groups=groups,
            dense=use_dense,
            multi=use_multi,
            hits=[Hit(p, payloads[p.chunk_id]) for p in passages],
            ranked=[Hit(hit.passage.model_copy(), hit.payload) for hit in ranked],
            rerank_error=rerank_error,
        )

    def by_sentence(
        self, query: str, hits: list[Hit], use_dense: bool, use_multi: bool
    ) -> list[Hit]:
        """``hits`` reordered by sentence-level meaning (app/sentences.py), by the models the
        search used, each with the question's vector (remembered from the search)."""
        embedders = self.components.embedders
        models: dict[str, tuple[Any, list[float]]] = {}
        if use_dense:
            models["dense"] = (embedders.default, embedders.query_embedding(query))
        if use_multi and embedders.multilingual is not None:
            models["multi"] = (embedders.multilingual, embedders.multi_query_embedding(query))
        weights = LanguageWeights.of(query, self.settings.embed_languages)
        return self.sentences.reorder(hits, models, weights)

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
        """The passages of ``find`` (without their payloads)."""
        found = self.find(
            collection,
            query,
            top_k,
            mode=mode,
            filters=filters,
            widen_context=widen_context,
            groups=groups,
        )
        return found.passages


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
