"""Reading contracts as a lawyer does: follow a clause's references, look up the defined terms
it uses, and notice when an older version of the document said something else.

Everything here starts from retrieved passages and asks Qdrant for more points of the same
document version, with the reader's access filter inside every query.
"""

from __future__ import annotations

from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters
from pydantic import BaseModel, Field

from app.passages import Hit, Passage, passage_from_node, strip_overlap
from ingest.clauses import definition_of
from ingest.components import Components
from ingest.filters import all_of, condition, document, same_version, with_access
from ingest.legal import terms_used
from ingest.payload import ChunkPayload
from ingest.text import split_sentences

MAX_REFERENCES = 4  # referenced clauses added per question
MAX_DEFINITIONS = 6  # definitions added per question


class VersionNote(BaseModel):
    """A cited clause that read differently in an older version of its document."""

    n: int = Field(description="The cited passage.")
    clause: str
    version_label: str = Field(description="The older version's label.")
    effective_date: str
    text: str = Field(description="The clause's text in that version (its first chunk).")


def _same_version(passage: Passage, *more: MetadataFilter) -> MetadataFilters:
    return all_of(same_version(passage.document_id, passage.document_version), *more)


def _payload(node: BaseNode) -> ChunkPayload:
    return ChunkPayload.from_metadata(node.metadata)


def _nodes(
    components: Components,
    collection: str,
    filters: MetadataFilters,
    groups: list[str] | None,
    limit: int | None = None,
) -> list[BaseNode]:
    store = components.vector_store(collection)
    # All of them, then the first ``limit`` in document order: the store returns points in
    # id order, and a term defined twice must resolve to its first definition every time.
    found = store.get_nodes(filters=with_access(filters, groups))
    nodes = sorted(found, key=lambda n: _payload(n).chunk_index)
    return nodes[:limit]


def expand(
    components: Components,
    collection: str,
    hits: list[Hit],
    groups: list[str] | None = None,
) -> list[Passage]:
    """Passages to add after ``hits``: the clauses they refer to ("subject to Section 9")
    and the definitions of the terms they use, numbered on from the last passage."""
    passages = [hit.passage for hit in hits]
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
            c
            for hit in hits
            if hit.passage.document_version == passage.document_version
            for c in hit.payload.clauses
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
    for passage, payload in ((hit.passage, hit.payload) for hit in hits):
        own = set(payload.defines)
        for term in terms_used(passage.text, payload.terms):
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
        # The clause as this version has it, first: its validity bounds the older ones.
        current_nodes = _nodes(
            components,
            collection,
            _same_version(passage, condition("clause", passage.clause)),
            groups,
        )
        valid_from = _payload(current_nodes[0]).valid_from if current_nodes else 0
        conditions: list[MetadataFilter] = [
            document(passage.document_id),
            condition("document_version", passage.document_version, FilterOperator.NE),
            condition("clauses", [passage.clause], FilterOperator.IN),
        ]
        if valid_from:
            conditions.append(condition("valid_from", valid_from, FilterOperator.LT))
        older: dict[str, list[BaseNode]] = {}
        for node in _nodes(components, collection, all_of(*conditions), groups):
            older.setdefault(_payload(node).document_version, []).append(node)
        current = " ".join(n.get_content() for n in current_nodes) or passage.text
        for nodes in older.values():
            text = _joined([n for n in nodes if _payload(n).clause == passage.clause])
            text = text or nodes[0].get_content()
            if _sentences(text) != _sentences(current):
                older_version = _payload(nodes[0])
                notes.append(
                    VersionNote(
                        n=passage.n,
                        clause=passage.clause,
                        version_label=older_version.version_label,
                        effective_date=older_version.effective_date,
                        text=text[:1500],
                    )
                )
    return notes


def _joined(nodes: list[BaseNode]) -> str:
    text = ""
    for node in nodes:  # chunks in order, without the sentences the overlap repeats
        piece = node.get_content()
        text = f"{text}\n{strip_overlap(text, piece)}".strip() if text else piece
    return text


def _sentences(text: str) -> frozenset[str]:
    # A set: chunk overlap repeats sentences, and chunk boundaries may fall elsewhere.
    return frozenset(" ".join(s.split()) for s in split_sentences(text))
