"""What both stores do alike, written once: the visibility filters, the search plan, paging.

Qdrant Edge (``qdrant_edge``) mirrors the Qdrant server's types (``qdrant_client.models``):
``FieldCondition``, ``MatchValue``, ``MatchAny`` and ``Filter`` have the same names and take
the same keywords in both. So a filter is built here once, given the module of its engine,
and each store passes its own. The search plan says what a llama-index query asks for
(dense, keywords, or both fused, how many of each); each store turns it into its own request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

from llama_index.core.vector_stores.types import (
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)

from ingest.sparse import QueryEncoder
from ingest.stores.fusion import FIELDS, LanguageWeights, Scored, fuse
from ingest.visibility import RECORD_FIELD, RECORD_KINDS, STATE, Hidden

# (indices, values) per text, as llama-index's Qdrant store takes sparse encoders.
SparseEncoder = Callable[[list[str]], tuple[list[list[int]], list[list[float]]]]
Sparse = tuple[list[int], list[float]]  # one text's keyword vector: term ids, weights
KEYWORDS = ("sparse", "translated")  # the sides searched on the keywords' (sparse) vector

# qdrant_client.models or qdrant_edge: the filter types of one engine.
Types = ModuleType

PAGE = 256  # points per scroll request
R = TypeVar("R")


# -- filters ---------------------------------------------------------------------------------


def match(types: Types, key: str, value: str) -> Any:
    """``key`` equals ``value``."""
    return types.FieldCondition(key=key, match=types.MatchValue(value=value))


def match_any(types: Types, key: str, values: Iterable[str]) -> Any:
    """``key`` equals one of ``values`` (for a list field: holds one of them)."""
    return types.FieldCondition(key=key, match=types.MatchAny(any=list(values)))


def records(types: Types) -> Any:
    """Every visibility record (state records and the token), never a chunk."""
    return match_any(types, RECORD_FIELD, RECORD_KINDS)


def state_records(types: Types) -> Any:
    """The state records of the documents with a version in flight."""
    return types.Filter(must=[match(types, RECORD_FIELD, STATE)])


def visible_filter(types: Types, base: Any | None, hidden: Hidden) -> Any:
    """``base`` without the records and the chunks of the ``hidden`` versions."""
    excluded: list[Any] = [records(types)]
    excluded += [
        types.Filter(
            must=[match(types, "document_id", doc), match(types, "document_version", version)]
        )
        for doc, version in hidden
    ]
    return types.Filter(must=[base] if base is not None else None, must_not=excluded)


def versions_filter(types: Types, document_id: str, versions: Iterable[str]) -> Any:
    """Every chunk of these versions of the document (the records aside)."""
    return types.Filter(
        must=[
            match(types, "document_id", document_id),
            match_any(types, "document_version", versions),
        ],
        must_not=[records(types)],
    )


# -- searching -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchPlan:
    """One search as a store runs it: nearest by each vector given (``dense``, the
    multilingual ``multi``, the keywords' ``sparse``, and ``translated``: the question's
    keywords in the other language, on the keywords' vector among documents in
    ``translated_language`` only, ``filter_for``); several of them (or ``fused``) as one
    batch of ``candidates`` points each, fused in kura (ingest/stores/fusion.py) with
    ``weights`` (None: every ranking counts the same for every passage). ``whole``: the
    rankings return whole payloads and nothing is fetched after fusion, the path before
    ``payload``; kept as the baseline benchmarks/search_payloads.py measures against."""

    limit: int
    dense: list[float] | None = None
    sparse: Sparse | None = None
    fused: bool = False
    candidates: int = 0
    multi: list[float] | None = None
    weights: LanguageWeights | None = None
    whole: bool = False
    translated: Sparse | None = None
    translated_language: str = ""

    def fuse(self, method: str, rankings: list[list[Scored]]) -> list[tuple[Scored, float]]:
        """The best ``limit`` of the sides' rankings (in ``sides()``'s order), fused."""
        kinds = [kind for kind, _ in self.sides()]
        return fuse(zip(kinds, rankings, strict=True), self.limit, method, self.weights)

    def payload(self) -> list[str] | bool:
        """What each ranking returns of its points' payloads: when fused, only the fields
        fusion reads (the fused best are fetched whole afterwards: ``in_rank_order``), as a
        top-5 question would otherwise move ~120 whole payloads (text, node JSON) to keep 5."""
        return True if self.whole or not self.fused else list(FIELDS)

    def fetches(self) -> bool:
        """Whether the fused best are fetched by id after fusion (see ``payload``)."""
        return self.fused and not self.whole

    def sides(self) -> list[tuple[str, Any]]:
        """(vector kind, query vector) of each side searched: "dense", "multi", "sparse",
        "translated" (a keyword vector too)."""
        given = (
            ("dense", self.dense),
            ("multi", self.multi),
            ("sparse", self.sparse),
            ("translated", self.translated),
        )
        return [(kind, vector) for kind, vector in given if vector is not None]

    def filter_for(self, types: Types, kind: str, base: Any) -> Any:
        """The filter of side ``kind``: ``base`` (the query's filters and visibility), and for
        translated keywords also documents in their language only (``document_language``):
        a Japanese manual's English passages are commands and listings, which a Japanese
        question's words in English would match by accident (README, "Retrieval")."""
        if kind != "translated":
            return base
        language = match(types, "document_language", self.translated_language)
        return types.Filter(must=[language] if base is None else [base, language])


def plan_search(
    query: VectorStoreQuery,
    sparse_query_fn: SparseEncoder | None,
    multi: list[float] | None = None,
    weights: LanguageWeights | None = None,
    whole: bool = False,
) -> SearchPlan | None:
    """The plan of a dense, sparse or hybrid query; None when there is nothing to search (a
    keyword search whose text has no terms). ``multi``: the question's multilingual vector,
    searched beside ``query_embedding`` (dense and hybrid modes) when given; the caller passes
    it only to a collection that has that vector. ``weights``: how fusion weighs each
    ranking for each passage's language; ``whole``: see ``SearchPlan``."""
    limit = query.similarity_top_k
    dense = list(query.query_embedding) if query.query_embedding is not None else None
    if query.mode == VectorStoreQueryMode.DEFAULT:
        if dense is None and multi is None:
            raise ValueError("a dense search needs a query embedding")
        both = dense is not None and multi is not None
        candidates = max(limit, 20) * 2 if both else 0
        return SearchPlan(
            limit,
            dense=dense,
            multi=multi,
            fused=both,
            candidates=candidates,
            weights=weights,
            whole=whole,
        )
    if query.mode not in (VectorStoreQueryMode.SPARSE, VectorStoreQueryMode.HYBRID):
        raise ValueError(f"query mode {query.mode} is not supported")
    if sparse_query_fn is None:
        raise ValueError("this store has no sparse encoder: sparse and hybrid search need one")
    text = query.query_str or ""
    translation = None
    if query.mode == VectorStoreQueryMode.HYBRID and isinstance(sparse_query_fn, QueryEncoder):
        # the question's own words and its words in the other language, two rankings
        own = sparse_query_fn.own(text)
        translation = sparse_query_fn.translated(text)
    else:
        indices, values = sparse_query_fn([text])
        own = (indices[0], values[0]) if indices else ([], [])
    sparse = own if own[0] else None
    if query.mode == VectorStoreQueryMode.SPARSE:
        return None if sparse is None else SearchPlan(query.sparse_top_k or limit, sparse=sparse)
    if dense is None and multi is None and sparse is None and translation is None:
        return None
    # A question without keyword terms (stop words only) still goes through fusion, with
    # the dense prefetches alone.
    candidates = max(limit, query.sparse_top_k or 0, 20) * 2
    return SearchPlan(
        query.hybrid_top_k or limit,
        dense=dense,
        sparse=sparse,
        fused=True,
        candidates=candidates,
        multi=multi,
        weights=weights,
        whole=whole,
        translated=translation.vector if translation else None,
        translated_language=translation.language if translation else "",
    )


def in_rank_order(
    fused: list[tuple[Scored, float]], records: Iterable[Any]
) -> list[tuple[Any, float]]:
    """The ``records`` fetched by id for the ``fused`` points (whole payloads), best first as
    fused, each with its fused score. A point deleted between the search and the fetch (a
    writer erasing a retired version, a document deleted) is not among them: it is skipped,
    and the search returns one result fewer rather than failing."""
    by_id = {str(record.id): record for record in records}
    return [(by_id[str(point.id)], score) for point, score in fused if str(point.id) in by_id]


def no_result() -> VectorStoreQueryResult:
    """The result of a search with nothing to search for."""
    return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])


# -- paging ----------------------------------------------------------------------------------


def scroll_all(
    page: Callable[[Any, int], tuple[list[R], Any]], limit: int | None = None
) -> list[R]:
    """Every record of a scroll (``page(offset, size)`` returns one page and the next offset,
    None at the end), ``PAGE`` at a time, up to ``limit``."""
    found: list[R] = []
    offset = None
    while limit is None or len(found) < limit:
        size = PAGE if limit is None else min(PAGE, limit - len(found))
        records, offset = page(offset, size)
        found.extend(records)
        if offset is None:
            break
    return found
