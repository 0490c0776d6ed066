"""One chunk's payload, typed: the field names kura writes on every point, in one place.

The writer (``ingest.pipeline.to_nodes``) builds a ``ChunkPayload`` and stores
``to_metadata()`` as the llama-index node's metadata; readers (retrieval, versions, contracts,
uploads) read ``ChunkPayload.from_metadata(meta)``. Points written by older kura versions lack
newer fields: every field has the default readers have always assumed for a missing one.

The chunk's text is not a metadata field: it is the node's content (llama-index keeps the whole
node, text and metadata as written, in the ``_node_content`` payload key, and copies the
metadata to top-level payload keys that filters and indexes use). ``set_payload`` changes the
top-level keys only: ``node.metadata`` still holds the values as written (``allowed_groups``,
``valid_from`` and ``valid_to`` may since have changed on the top level).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import PurePosixPath
from typing import Any

from ingest.visibility import RECORD_FIELD

# valid_to of a version still in force (dates are compared as YYYYMMDD integers).
IN_FORCE = 99991231


@dataclass(frozen=True)
class ChunkPayload:
    """The payload of one chunk's point (see the map in docs/architecture.md)."""

    document_id: str = ""  # stable: collection + source, or random for an upload
    document_version: str = ""  # content sha256
    source: str = ""  # path or upload name
    source_prefixes: tuple[str, ...] = ()  # every folder above source: filter by prefix
    title: str = ""
    doc_type: str = ""
    section: str = ""  # heading path, outermost first, joined by " > "
    page_start: int | None = None
    page_end: int | None = None
    chunk_index: int = 0
    chunk_count: int = 0  # chunks in this version: tells a whole version from a broken one
    element_types: tuple[str, ...] = ()
    language: str = ""
    document_language: str = ""  # the whole document's (a chunk may quote another language)
    allowed_groups: tuple[str, ...] = ()  # who may read (access control)
    ingested_at: str = ""  # ISO timestamp, UTC
    version_label: str = ""
    effective_date: str = ""  # ISO date, or ""
    valid_from: int = 0  # YYYYMMDD: in force from this day ...
    valid_to: int = IN_FORCE  # ... until the day before this one
    clause: str = ""  # the clause the chunk belongs to
    clauses: tuple[str, ...] = ()  # every clause the chunk holds
    references: tuple[str, ...] = ()  # clauses it refers to
    defines: tuple[str, ...] = ()  # terms it defines
    terms: tuple[str, ...] = ()  # the document's defined terms
    flags: tuple[str, ...] = ()  # text that reads like instructions to a model, for review

    def to_metadata(self) -> dict[str, Any]:
        """The payload as node metadata (lists, not tuples: as it is stored)."""
        return {
            f.name: list(value) if isinstance(value := getattr(self, f.name), tuple) else value
            for f in fields(self)
        }

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> ChunkPayload:
        """Read a payload; missing fields (and nulls) take their defaults, unknown keys
        (llama-index's own, kura's records) are ignored."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = meta.get(f.name)
            if value is None:
                continue
            if isinstance(f.default, tuple):
                value = tuple(value)
            elif isinstance(f.default, int) and f.name not in ("page_start", "page_end"):
                value = int(value)
            values[f.name] = value
        return cls(**values)


METADATA_FIELDS = tuple(f.name for f in fields(ChunkPayload))
# Every point's payload: the metadata fields and the text (the node's content). llama-index
# adds its own `_node_content`, `_node_type`, `doc_id` and `ref_doc_id`; our id is `document_id`.
PAYLOAD_FIELDS = (*METADATA_FIELDS, "text")
KEYWORD_INDEXES = (
    "document_id",
    "document_version",
    "allowed_groups",
    "source",
    "source_prefixes",
    "language",
    "document_language",
    "doc_type",
    "version_label",
    "clauses",
    "defines",
    "flags",
    RECORD_FIELD,  # finds the records that say which versions readers may see
)
INTEGER_INDEXES = ("page_start", "page_end", "chunk_index", "valid_from", "valid_to")
# Keyword indexes added after collections existed (the state records', document_language): a
# store opening an older collection makes them.
ADDED_INDEXES = (RECORD_FIELD, "document_language")
# The fields read to describe a version (from its catalogue point, chunk_index 0).
CATALOG_FIELDS = (
    "document_id",
    "document_version",
    "version_label",
    "effective_date",
    "valid_from",
    "valid_to",
    "source",
    "title",
    "doc_type",
    "chunk_count",
    "ingested_at",
    "allowed_groups",
    "flags",
)


def source_prefixes(source: str) -> list[str]:
    """Every folder above ``source`` ("/a", "/a/b"): lets a keyword index filter by prefix."""
    parts = PurePosixPath(source.replace("\\", "/")).parts
    prefixes = [str(PurePosixPath(*parts[: i + 1])) for i in range(len(parts) - 1)]
    return [p for p in prefixes if p not in ("", ".")]
