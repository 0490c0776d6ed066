"""Reading contracts as a lawyer does: follow a clause's references, look up the defined terms
it uses, and notice when an older version of the document said something else.

Everything here starts from retrieved passages and asks Qdrant for more points of the same
document version, with the reader's access filter inside every query.
"""

from __future__ import annotations

from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters
from pydantic import BaseModel, Field

from app.retrieve import Passage, condition, passage_from_node, strip_overlap, with_access
from ingest.chunk import split_sentences
from ingest.clauses import definition_of
from ingest.components import Components
from ingest.legal import terms_used

MAX_REFERENCES = 4  # referenced clauses added per question
MAX_DEFINITIONS = 6  # definitions added per question


class VersionNote(BaseModel):
    """A cited clause that read differently in an older version of its document."""

    n: int = Field(description="The cited passage.")
    clause: str
    version_label: str = Field(description="The older version's label.")
    effective_date: str
    text: str = Field(description="The clause's text in that version (its first chunk).")


def _same_version(passage: Passage, *more: MetadataFilter) -> list[MetadataFilter]:
    return [
        condition("document_id", passage.document_id),
        condition("document_version", passage.document_version),
        *more,
    ]


def _nodes(
    components: Components,
    collection: str,
    conditions: list[MetadataFilter],
    groups: list[str] | None,
    limit: int | None = None,
) -> list[BaseNode]:
    store = components.vector_store(collection)
    filters = with_access(MetadataFilters(filters=conditions), groups)
    # All of them, then the first ``limit`` in document order: the store returns points in
    # id order, and a term defined twice must resolve to its first definition every time.
    nodes = sorted(store.get_nodes(filters=filters), key=lambda n: n.metadata.get("chunk_index", 0))
    return nodes[:limit]


def expand(
    components: Components,
    collection: str,
    passages: list[Passage],
    groups: list[str] | None = None,
) -> list[Passage]:
    """Passages to add after ``passages``: the clauses they refer to ("subject to Section 9")
    and the definitions of the terms they use, numbered on from the last passage."""
    extra: list[Passage] = []
    have = {p.chunk_id for p in passages}
    number = max((p.n for p in passages), default=0)

    def add(node: BaseNode, role: str, via: int, text: str | None = None) -> None:
        nonlocal number
        if node.node_id in have:
            return
        number += 1
        have.add(node.node_id)
        passage = passage_from_node(node, number, 0.0)
        extra.append(
            passage.model_copy(update={"role": role, "via": via, "text": text or passage.text})
        )

    references = 0
    for passage in passages:
        covered = {
            c for p in passages if p.document_version == passage.document_version for c in p.clauses
        }
        for ref in passage.references:
            if references >= MAX_REFERENCES or ref in covered:
                continue
            found = _nodes(
                components,
                collection,
                _same_version(passage, condition("clauses", [ref], FilterOperator.IN)),
                groups,
                2,
            )
            for node in found[:1]:
                add(node, "reference", passage.n)
                references += 1
    definitions = 0
    defined: set[tuple[str, str]] = set()
    for passage in passages:
        own = set(passage.defines)
        for term in terms_used(passage.text, passage.terms):
            key = (passage.document_version, term)
            if definitions >= MAX_DEFINITIONS or term in own or key in defined:
                continue
            defined.add(key)
            found = _nodes(
                components,
                collection,
                _same_version(passage, condition("defines", [term], FilterOperator.IN)),
                groups,
                1,
            )
            for node in found:
                sentence = definition_of(term, node.get_content())
                if sentence:
                    add(node, "definition", passage.n, sentence)
                    definitions += 1
    return extra


def version_notes(
    components: Components,
    collection: str,
    cited: list[Passage],
    groups: list[str] | None = None,
) -> list[VersionNote]:
    """Cited clauses whose text differs in an older version of the same document."""
    notes: list[VersionNote] = []
    for passage in cited:
        if not passage.clause or passage.role == "definition":
            continue
        conditions = [
            condition("document_id", passage.document_id),
            condition("document_version", passage.document_version, FilterOperator.NE),
            condition("clauses", [passage.clause], FilterOperator.IN),
        ]
        if passage.valid_from:
            conditions.append(condition("valid_from", passage.valid_from, FilterOperator.LT))
        older: dict[str, list[BaseNode]] = {}
        for node in _nodes(components, collection, conditions, groups):
            older.setdefault(node.metadata.get("document_version", ""), []).append(node)
        current = _clause_text(components, collection, passage, groups)
        for nodes in older.values():
            text = _joined([n for n in nodes if n.metadata.get("clause") == passage.clause])
            text = text or nodes[0].get_content()
            if _sentences(text) != _sentences(current):
                meta = nodes[0].metadata
                notes.append(
                    VersionNote(
                        n=passage.n,
                        clause=passage.clause,
                        version_label=meta.get("version_label", ""),
                        effective_date=meta.get("effective_date", ""),
                        text=text[:1500],
                    )
                )
    return notes


def _clause_text(
    components: Components, collection: str, passage: Passage, groups: list[str] | None
) -> str:
    nodes = _nodes(
        components, collection, _same_version(passage, condition("clause", passage.clause)), groups
    )
    return " ".join(n.get_content() for n in nodes) or passage.text


def _joined(nodes: list[BaseNode]) -> str:
    text = ""
    for node in nodes:  # chunks in order, without the sentences the overlap repeats
        piece = node.get_content()
        text = f"{text}\n{strip_overlap(text, piece)}".strip() if text else piece
    return text


def _sentences(text: str) -> frozenset[str]:
    # A set: chunk overlap repeats sentences, and chunk boundaries may fall elsewhere.
    return frozenset(" ".join(s.split()) for s in split_sentences(text))
