"""Ingestion: read -> detect -> parse -> chunk -> embed -> store, with content-hash versions.

Each step is a plain function that can run and be tested alone; ``Indexer`` strings them
together for one collection. Qdrant itself is the record of what is indexed: every point
carries its document's id, version (content sha256) and chunk count, so a re-run can tell an
unchanged document (all its chunks present) from a changed or half-written one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from llama_index.core.schema import (
    BaseNode,
    MetadataMode,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)
from qdrant_client import models

from ingest.chunk import Chunk, chunk_blocks
from ingest.components import Components
from ingest.detect import DocType, detect_type
from ingest.errors import DocumentError, DocumentTooLarge
from ingest.parse import ParsedDocument, parse_document
from ingest.schema import chunk_id, document_id, match

logger = logging.getLogger(__name__)

# Metadata the embedding sees besides the chunk text: where in the document it sits.
_EMBED_KEYS = ("title", "section")


class Status(StrEnum):
    """What happened to one file."""

    INDEXED = "indexed"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass
class FileResult:
    """The outcome for one file."""

    source: str
    status: Status
    chunks: int = 0
    reason: str | None = None
    document_id: str | None = None
    seconds: float = 0.0


@dataclass
class IngestReport:
    """The outcome of one ingestion run."""

    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: Status) -> int:
        """Files that ended with ``status``."""
        return sum(1 for r in self.results if r.status is status)

    @property
    def chunks(self) -> int:
        """Chunks written in this run."""
        return sum(r.chunks for r in self.results if r.status is Status.INDEXED)

    @property
    def failed(self) -> list[FileResult]:
        """Files that could not be indexed, with their reasons."""
        return [r for r in self.results if r.status is Status.FAILED]


def content_version(data: bytes) -> str:
    """A document version: the sha256 of its bytes."""
    return hashlib.sha256(data).hexdigest()


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named directly, and every file under named folders, skipping hidden ones."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if child.is_file() and not hidden:
                    yield child
        else:
            yield path


def to_nodes(
    chunks: list[Chunk],
    parsed: ParsedDocument,
    *,
    doc_id: str,
    version: str,
    source: str,
    doc_type: DocType,
) -> list[TextNode]:
    """One llama-index node per chunk, with kura's payload as metadata."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    nodes = []
    for index, chunk in enumerate(chunks):
        metadata = {
            "document_id": doc_id,
            "document_version": version,
            "source": source,
            "title": parsed.title,
            "doc_type": doc_type.value,
            "section": " > ".join(chunk.section),
            "page_start": chunk.page_start,
            "page_end": chunk.page_end,
            "chunk_index": index,
            "chunk_count": len(chunks),
            "element_types": list(chunk.element_types),
            "language": chunk.language,
            "allowed_groups": [],
            "ingested_at": now,
        }
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


class Indexer:
    """Indexes files into one kura collection."""

    def __init__(self, components: Components, collection: str) -> None:
        self.components = components
        self.collection = collection
        self.settings = components.settings

    def ingest_paths(
        self, paths: Iterable[Path], on_file: Callable[[FileResult], None] | None = None
    ) -> IngestReport:
        """Index every file under ``paths``; a bad file is reported and the rest go on."""
        started = time.perf_counter()
        report = IngestReport()
        for path in iter_files(paths):
            result = self.ingest_file(path)
            report.results.append(result)
            if on_file:
                on_file(result)
        report.seconds = time.perf_counter() - started
        return report

    def ingest_file(self, path: Path) -> FileResult:
        """Index one file from disk; the source recorded is its absolute path."""
        source = str(path.resolve())
        try:
            size = path.stat().st_size
            limit = int(self.settings.max_file_mb * 1024 * 1024)
            if size > limit:
                raise DocumentTooLarge(
                    source,
                    f"{size / 2**20:.1f} MiB is over the {self.settings.max_file_mb} MiB limit",
                )
            data = path.read_bytes()
        except DocumentError as exc:
            return FileResult(source, Status.FAILED, reason=exc.reason)
        except OSError as exc:
            return FileResult(source, Status.FAILED, reason=f"cannot read the file: {exc.strerror}")
        return self.ingest_bytes(data, source)

    def ingest_bytes(self, data: bytes, source: str) -> FileResult:
        """Index one document's bytes under the name ``source``."""
        started = time.perf_counter()
        doc_id = document_id(self.collection, source)
        version = content_version(data)
        try:
            if self.is_indexed(doc_id, version):
                return FileResult(source, Status.UNCHANGED, document_id=doc_id)
            doc_type = detect_type(data, source)
            parsed = parse_document(data, doc_type, source)
            chunks = chunk_blocks(
                parsed.blocks,
                chunk_size=self.settings.chunk_size,
                overlap=self.settings.chunk_overlap,
                count_tokens=self.components.count_tokens,
                max_tokens=self._chunk_token_limit(parsed.title),
            )
            nodes = to_nodes(
                chunks, parsed, doc_id=doc_id, version=version, source=source, doc_type=doc_type
            )
            self.embed(nodes)
            self.store(nodes, doc_id, version)
        except DocumentError as exc:
            logger.info("not indexed: %s", exc)
            return FileResult(source, Status.FAILED, reason=exc.reason, document_id=doc_id)
        seconds = time.perf_counter() - started
        logger.info("indexed %s: %d chunks in %.2fs", source, len(nodes), seconds)
        return FileResult(source, Status.INDEXED, len(nodes), document_id=doc_id, seconds=seconds)

    def _chunk_token_limit(self, title: str) -> int:
        # The model reads [CLS] + title + "\n" + section + "\n" + text + [SEP]; the chunker
        # takes the section off, this takes the rest.
        return self.components.max_tokens - 2 - self.components.count_tokens(title) - 2

    def embed(self, nodes: list[TextNode]) -> None:
        """Attach dense embeddings to ``nodes`` (text plus title and section)."""
        texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]
        vectors = self.components.embedder.get_text_embedding_batch(texts)
        for node, vector in zip(nodes, vectors, strict=True):
            node.embedding = vector

    def store(self, nodes: list[TextNode], doc_id: str, version: str) -> None:
        """Write the new version's chunks, then delete every other version of the document.

        New points go in before old ones go out, so a reader never finds the document missing.
        """
        store = self.components.vector_store(self.collection, create=True)
        store.add(list[BaseNode](nodes))
        self.components.qdrant.delete(
            collection_name=store.collection_name,
            points_selector=models.Filter(
                must=[match("document_id", doc_id)],
                must_not=[match("document_version", version)],
            ),
        )

    def is_indexed(self, doc_id: str, version: str) -> bool:
        """Whether this exact version is fully indexed (every chunk present)."""
        if not self.components.collection_exists(self.collection):
            return False
        name = self.components.qdrant_name(self.collection)
        version_filter = models.Filter(
            must=[match("document_id", doc_id), match("document_version", version)]
        )
        points, _ = self.components.qdrant.scroll(
            name, scroll_filter=version_filter, limit=1, with_payload=["chunk_count"]
        )
        if not points:
            return False
        expected = (points[0].payload or {}).get("chunk_count")
        found = self.components.qdrant.count(name, count_filter=version_filter, exact=True).count
        return bool(found == expected)

    def delete_document(self, source: str) -> int:
        """Remove every chunk of the document stored under ``source``; returns points removed."""
        if not self.components.collection_exists(self.collection):
            return 0
        name = self.components.qdrant_name(self.collection)
        doc_filter = models.Filter(
            must=[match("document_id", document_id(self.collection, source))]
        )
        removed = self.components.qdrant.count(name, count_filter=doc_filter, exact=True).count
        self.components.qdrant.delete(name, points_selector=doc_filter)
        return int(removed)
