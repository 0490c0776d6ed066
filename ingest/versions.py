"""Document versions: which version of a document is in force on which day.

A document (one ``document_id``) may hold several versions side by side, each a labelled set of
chunks ("2024", "v2") with the date it took effect. Every chunk carries its version's validity
as two integers, ``valid_from`` <= day < ``valid_to`` (YYYYMMDD), so "the version in force on a
day" is a range filter inside the Qdrant query. The earliest version is in force from the start
(nothing earlier is known); the latest stays in force (``IN_FORCE``) until a newer one arrives.

The first chunk (``chunk_index`` 0) of every version is the catalogue: listing documents reads
only those points.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from ingest.payload import CATALOG_FIELDS as CATALOG_FIELDS
from ingest.payload import IN_FORCE, ChunkPayload


def day_number(day: date) -> int:
    """A date as the integer YYYYMMDD that validity filters compare."""
    return day.year * 10000 + day.month * 100 + day.day


@dataclass(frozen=True)
class DocumentVersion:
    """One version of a document as stored in the index."""

    document_id: str
    version: str  # content sha256
    label: str  # "" for a document ingested without a version label
    effective_date: str  # ISO date, or "" when none was given
    source: str
    title: str
    doc_type: str
    chunks: int
    ingested_at: str
    valid_from: int = 0
    valid_to: int = IN_FORCE
    allowed_groups: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> DocumentVersion:
        """Read a version from the payload of one of its points."""
        return cls.from_chunk(ChunkPayload.from_metadata(payload))

    @classmethod
    def from_chunk(cls, chunk: ChunkPayload) -> DocumentVersion:
        """The version a chunk belongs to, as its payload describes it."""
        return cls(
            document_id=chunk.document_id,
            version=chunk.document_version,
            label=chunk.version_label,
            effective_date=chunk.effective_date,
            source=chunk.source,
            title=chunk.title,
            doc_type=chunk.doc_type,
            chunks=chunk.chunk_count,
            ingested_at=chunk.ingested_at,
            valid_from=chunk.valid_from,
            valid_to=chunk.valid_to,
            allowed_groups=chunk.allowed_groups,
            flags=chunk.flags,
        )

    def in_force_on(self, day: date) -> bool:
        """Whether this version applies on ``day``."""
        return self.valid_from <= day_number(day) < self.valid_to


def with_validity(versions: list[DocumentVersion]) -> list[DocumentVersion]:
    """The versions oldest first, each with the validity range that follows from the dates."""
    ordered = sorted(versions, key=lambda v: (v.effective_date, v.ingested_at))
    starts = [0] + [_start(v) for v in ordered[1:]]
    ends = [*starts[1:], IN_FORCE]
    return [
        replace(v, valid_from=lo, valid_to=max(lo, hi))
        for v, lo, hi in zip(ordered, starts, ends, strict=True)
    ]


def _start(version: DocumentVersion) -> int:
    day = version.effective_date or version.ingested_at[:10]
    return day_number(date.fromisoformat(day)) if day else 0


def group_documents(payloads: list[dict[str, Any]]) -> dict[str, list[DocumentVersion]]:
    """Catalogue payloads grouped by document, each document's versions oldest first."""
    grouped: dict[str, list[DocumentVersion]] = defaultdict(list)
    for payload in payloads:
        version = DocumentVersion.from_payload(payload)
        grouped[version.document_id].append(version)
    return {
        doc_id: sorted(versions, key=lambda v: (v.valid_from, v.ingested_at))
        for doc_id, versions in grouped.items()
    }
