"""Passages: retrieved chunks as the API shows them, and the chunk payload kept beside them.

``Passage`` is the API's model (its JSON is the contract); ``Hit`` pairs it with the chunk's
``ChunkPayload`` for the modules that need more than the API shows (contracts read a chunk's
clauses, defined terms and validity). ``widen`` adds a passage's neighbouring chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import FilterOperator
from pydantic import BaseModel, Field

from ingest.components import Components
from ingest.filters import all_of, condition, same_version
from ingest.payload import ChunkPayload


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

    @property
    def pages(self) -> str:
        """'3' or '3-4', or '' when the format has no pages."""
        if self.page_start is None:
            return ""
        if self.page_end in (None, self.page_start):
            return str(self.page_start)
        return f"{self.page_start}-{self.page_end}"


@dataclass(frozen=True)
class Hit:
    """A retrieved passage and its chunk's payload (what the API does not show)."""

    passage: Passage
    payload: ChunkPayload


def hit_from_node(node: BaseNode, n: int, score: float) -> Hit:
    """A stored chunk as passage number ``n``, with its payload."""
    payload = ChunkPayload.from_metadata(node.metadata)
    passage = Passage(
        n=n,
        chunk_id=node.node_id,
        document_id=payload.document_id,
        document_version=payload.document_version,
        chunk_index=payload.chunk_index,
        source=payload.source,
        title=payload.title,
        section=payload.section,
        page_start=payload.page_start,
        page_end=payload.page_end,
        text=node.get_content(),
        score=score,
        clause=payload.clause,
        references=list(payload.references),
        version_label=payload.version_label,
        effective_date=payload.effective_date,
    )
    return Hit(passage, payload)


def passage_from_node(node: BaseNode, n: int, score: float) -> Passage:
    """A stored chunk as passage number ``n``."""
    return hit_from_node(node, n, score).passage


def strip_overlap(before: str, after: str) -> str:
    """``after`` without the sentences it repeats from the end of ``before`` (chunk overlap)."""
    from ingest.text import split_sentences

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
        filters=all_of(
            same_version(passage.document_id, passage.document_version),
            condition("chunk_index", [i for i in indexes if i >= 0], FilterOperator.IN),
        )
    )
    payloads = [(ChunkPayload.from_metadata(n.metadata), n) for n in nearby]
    same_section = {
        payload.chunk_index: node.get_content()
        for payload, node in payloads
        if payload.section == passage.section
    }
    same_section[passage.chunk_index] = passage.text
    text = ""
    for index in sorted(same_section):
        piece = same_section[index]
        text = f"{text} {strip_overlap(text, piece)}".strip() if text else piece
    return text
