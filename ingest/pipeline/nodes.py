"""Chunks to llama-index nodes: kura's payload as each node's metadata, and the equality filters
the pipeline writes with."""

from __future__ import annotations

from datetime import UTC, date, datetime

from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import MetadataFilters

from ingest.chunk import Chunk
from ingest.clauses import annotate
from ingest.detect import DocType
from ingest.filters import all_of, condition
from ingest.hostile import instruction_flags
from ingest.parse import ParsedDocument
from ingest.payload import IN_FORCE, ChunkPayload
from ingest.payload import source_prefixes as source_prefixes
from ingest.registry import EVERYONE
from ingest.schema import chunk_id
from ingest.text import document_language
from ingest.versions import day_number

# Metadata the embedding sees besides the chunk text: where in the document it sits.
_EMBED_KEYS = ("title", "section")


def to_nodes(
    chunks: list[Chunk],
    parsed: ParsedDocument,
    *,
    doc_id: str,
    version: str,
    source: str,
    doc_type: DocType,
    label: str = "",
    effective: date | None = None,
    groups: tuple[str, ...] = (EVERYONE,),
) -> list[TextNode]:
    """One llama-index node per chunk, with kura's payload as metadata."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    valid_from = day_number(effective) if effective else 0
    clause_infos, terms = annotate(chunks)
    language = document_language(chunk.text for chunk in chunks)
    nodes = []
    for index, (chunk, legal) in enumerate(zip(chunks, clause_infos, strict=True)):
        metadata = ChunkPayload(
            document_id=doc_id,
            document_version=version,
            source=source,
            source_prefixes=tuple(source_prefixes(source)),
            title=parsed.title,
            doc_type=doc_type.value,
            section=" > ".join(chunk.section),
            page_start=chunk.page_start,
            page_end=chunk.page_end,
            chunk_index=index,
            chunk_count=len(chunks),
            element_types=chunk.element_types,
            language=chunk.language,
            document_language=language,
            allowed_groups=groups,
            ingested_at=now,
            version_label=label,
            effective_date=effective.isoformat() if effective else "",
            valid_from=valid_from,
            valid_to=IN_FORCE,
            clause=legal.clause,
            clauses=tuple(legal.clauses),
            references=tuple(legal.references),
            defines=tuple(legal.defines),
            terms=tuple(terms),
            # text that reads like instructions to a model (prompt injection), for review
            flags=tuple(instruction_flags(chunk.text)),
        ).to_metadata()
        node = TextNode(
            id_=chunk_id(doc_id, version, index),
            text=chunk.text,
            metadata=metadata,
            excluded_embed_metadata_keys=[k for k in metadata if k not in _EMBED_KEYS],
            excluded_llm_metadata_keys=list(metadata),
            metadata_template="{value}",
            text_template="{metadata_str}\n{content}",
        )
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc_id)
        nodes.append(node)
    return nodes


def _filters(**equal: str) -> MetadataFilters:
    return all_of(*(condition(key, value) for key, value in equal.items()))
