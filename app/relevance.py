"""Whether the documents cover a question at all, so that kura says so instead of asking the
model to answer from passages that have nothing to do with it.

Each question-passage pair is judged by a model that reads both, as fusion weighs them
(ingest/stores/fusion.py): the dense model's cosine where it reads the question's and the
passage's language (``min_relevance``), the multilingual model's cosine elsewhere
(``min_multilingual_relevance``), keywords where no model reads the question
(``min_keyword_coverage``). The multilingual model's cosines are on a scale of their own, and
it does not judge a pair the dense model reads: on the Python FAQ with benchmarks/
no_answer.py's off-topic questions, its best cosine for an off-topic question (0.263)
overlapped its worst for a real one (0.243), where the dense model kept them apart.

Judging a Japanese question by its keywords alone declined a paraphrase that the
multilingual vector had found at rank 1 (no keyword in common) and, on the Debian Handbook,
accepted five of eight off-topic questions (no_answer.py: 3 of 8 declined; 8 of 8 now);
judging an English question over Japanese text by the English model's cosine declined an
answer found at rank 1.
"""

from __future__ import annotations

from app.passages import Hit
from app.retrieve import KEYWORD_CHECK, Retrieval, Retriever, retrieve_hits
from ingest.sparse import terms
from ingest.stores.fusion import UNDETERMINED, LanguageWeights

# The best matches each model's judgement reads: the best one it may judge is among them.
_JUDGED = 10


def keyword_coverage(query: str, text: str) -> float:
    """The share of the query's keywords (as the sparse index reads them) found in ``text``."""
    wanted = set(terms(query))
    return len(wanted & set(terms(text))) / len(wanted) if wanted else 0.0


def covers(retriever: Retriever, found: Retrieval) -> bool:
    """Whether ``found``'s collection holds a passage relevant enough to answer from: a pair
    of question and passage that a model reading both scores at its threshold or above, or,
    for a question searched by keywords alone, a top passage holding ``min_keyword_coverage``
    of its keywords. A dense search is judged by the cosines it ranked by; a hybrid one is
    searched again by each model alone, with ``found``'s filters and groups (fused scores are
    not cosines; the query embeddings are remembered from ``found``'s search)."""
    settings = retriever.settings
    if found.mode == "sparse" or not (found.dense or found.multi):
        wanted = settings.min_keyword_coverage
        top = found.ranked[:KEYWORD_CHECK]
        return any(keyword_coverage(found.query, h.passage.text) >= wanted for h in top)
    if found.mode == "dense":  # one model's cosines, as it ranked them: judged by that model
        threshold = settings.min_relevance if found.dense else settings.min_multilingual_relevance
        return bool(found.ranked) and found.ranked[0].passage.score >= threshold
    weights = LanguageWeights.of(found.query, settings.embed_languages)
    if found.dense:
        read = [h for h in _best(retriever, found, multi=False) if _dense_reads(weights, h)]
        if read and read[0].passage.score >= settings.min_relevance:
            return True
    if found.multi:
        others = [h for h in _best(retriever, found, multi=True) if not _dense_reads(weights, h)]
        return bool(others) and others[0].passage.score >= settings.min_multilingual_relevance
    return False


def _dense_reads(weights: LanguageWeights, hit: Hit) -> bool:
    return weights.weight("dense", hit.payload.language or UNDETERMINED) > 0


def _best(retriever: Retriever, found: Retrieval, *, multi: bool) -> list[Hit]:
    """The best ``_JUDGED`` passages by one model's cosine alone."""
    components = retriever.components
    embedding = components.embedders.multi_query_embedding(found.query) if multi else None
    return retrieve_hits(
        components,
        found.collection,
        found.query,
        _JUDGED,
        mode="dense",
        filters=found.filters,
        groups=found.groups,
        multi_embedding=embedding,
        dense=not multi,
    )
