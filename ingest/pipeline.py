"""Ingestion: read -> detect -> parse -> chunk -> embed -> store, with content-hash versions.

Each step is a plain function that can run and be tested alone; ``Indexer`` strings them
together for one collection. Qdrant itself is the record of what is indexed: every point
carries its document's id, version (content sha256) and chunk count, so a re-run can tell an
unchanged document (all its chunks present) from a changed or half-written one.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path, PurePosixPath

from llama_index.core.schema import (
    BaseNode,
    MetadataMode,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters

from ingest.chunk import Chunk, chunk_blocks
from ingest.components import Components
from ingest.detect import DocType, detect_type
from ingest.errors import DocumentError, DocumentTooLarge
from ingest.parse import ParsedDocument, ParseOptions, parse_document
from ingest.schema import chunk_id, document_id
from ingest.tokens import TokenCounter

logger = logging.getLogger(__name__)

# Metadata the embedding sees besides the chunk text: where in the document it sits.
_EMBED_KEYS = ("title", "section")
# Chunks embedded and written per step: bounds memory on a 2,000-page manual.
_STORE_BATCH = 256


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


def source_prefixes(source: str) -> list[str]:
    """Every folder above ``source`` ("/a", "/a/b"): lets a keyword index filter by prefix."""
    parts = PurePosixPath(source.replace("\\", "/")).parts
    prefixes = [str(PurePosixPath(*parts[: i + 1])) for i in range(len(parts) - 1)]
    return [p for p in prefixes if p not in ("", ".")]


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
            "source_prefixes": source_prefixes(source),
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


@dataclass(frozen=True)
class PrepareOptions:
    """What parsing and chunking need; picklable, so worker processes can use it."""

    parse: ParseOptions
    chunk_size: int
    chunk_overlap: int
    max_tokens: int  # word pieces the embedding model reads
    model_dir: str  # for its tokenizer


@dataclass
class Prepared:
    """A document parsed and chunked, ready to embed."""

    source: str
    version: str
    doc_type: DocType
    parsed: ParsedDocument
    chunks: list[Chunk]


def prepare_document(
    data: bytes, source: str, options: PrepareOptions, version: str | None = None
) -> Prepared:
    """Detect, parse and chunk one document (no model, no store: runs in any process).

    ``version`` is the content hash when the caller has already computed it.
    """
    count = TokenCounter(options.model_dir)
    doc_type = detect_type(data, source)
    parsed = parse_document(data, doc_type, source, options.parse)
    # The model reads [CLS] title \n section \n text [SEP]; the chunker takes the section
    # off the rest.
    limit = options.max_tokens - 2 - count(parsed.title) - 2
    chunks = chunk_blocks(
        parsed.blocks,
        chunk_size=options.chunk_size,
        overlap=options.chunk_overlap,
        count_tokens=count,
        max_tokens=limit,
    )
    return Prepared(source, version or content_version(data), doc_type, parsed, chunks)


def _prepare_in_worker(
    data: bytes, source: str, options: PrepareOptions, version: str
) -> Prepared | str:
    # DocumentError carries no state worth pickling: send its reason back instead.
    try:
        return prepare_document(data, source, options, version)
    except DocumentError as exc:
        return exc.reason
    except Exception:
        logger.exception("unexpected error preparing %s", source)
        return "internal error while parsing"


class Indexer:
    """Indexes files into one kura collection."""

    def __init__(self, components: Components, collection: str) -> None:
        self.components = components
        self.collection = collection
        self.settings = components.settings
        self.options = PrepareOptions(
            parse=self.settings.parse_options,
            chunk_size=self.settings.chunk_size,
            chunk_overlap=self.settings.chunk_overlap,
            max_tokens=components.max_tokens,
            model_dir=components.count_tokens.model_dir,
        )

    def ingest_paths(
        self,
        paths: Iterable[Path],
        on_file: Callable[[FileResult], None] | None = None,
        workers: int | None = None,
    ) -> IngestReport:
        """Index every file under ``paths``; a bad file is reported and the rest go on.

        With ``workers`` > 1, parsing and chunking run in that many processes while this one
        embeds and writes; at most two documents per worker wait in memory.
        """
        started = time.perf_counter()
        report = IngestReport()
        workers = workers or self.settings.ingest_workers

        def done(result: FileResult) -> None:
            report.results.append(result)
            if on_file:
                on_file(result)

        if workers <= 1:
            for path in iter_files(paths):
                done(self.ingest_file(path))
        else:
            self._ingest_parallel(paths, workers, done)
        if report.chunks:
            # Build the approximate index over what was written (Qdrant Edge only).
            self.components.vector_store(self.collection).optimize()
        report.seconds = time.perf_counter() - started
        return report

    def _ingest_parallel(
        self, paths: Iterable[Path], workers: int, done: Callable[[FileResult], None]
    ) -> None:
        # spawn, not fork: this process holds torch's thread pools, which do not survive fork.
        context = multiprocessing.get_context("spawn")
        pending: deque[tuple[Future[Prepared | str], str, float]] = deque()
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:

            def finish_oldest() -> None:
                future, source, t0 = pending.popleft()
                try:
                    outcome = future.result()
                except Exception:
                    logger.exception("parsing worker failed on %s", source)
                    outcome = "internal error while parsing (the worker process failed)"
                if isinstance(outcome, str):
                    done(FileResult(source, Status.FAILED, reason=outcome))
                else:
                    done(self._index_prepared(outcome, t0))

            for path in iter_files(paths):
                loaded = self._load(path)
                if isinstance(loaded, FileResult):
                    done(loaded)
                    continue
                data, source = loaded
                version = content_version(data)
                if self.is_indexed(document_id(self.collection, source), version):
                    done(self._unchanged(source, version))
                    continue
                future = pool.submit(_prepare_in_worker, data, source, self.options, version)
                pending.append((future, source, time.perf_counter()))
                while len(pending) >= 2 * workers:
                    finish_oldest()
            while pending:
                finish_oldest()

    def _load(self, path: Path) -> tuple[bytes, str] | FileResult:
        source = str(path.resolve())
        try:
            size = path.stat().st_size
            limit = int(self.settings.max_file_mb * 1024 * 1024)
            if size > limit:
                raise DocumentTooLarge(
                    source,
                    f"{size / 2**20:.1f} MiB is over the {self.settings.max_file_mb} MiB limit",
                )
            return path.read_bytes(), source
        except DocumentError as exc:
            return FileResult(source, Status.FAILED, reason=exc.reason)
        except OSError as exc:
            return FileResult(source, Status.FAILED, reason=f"cannot read the file: {exc.strerror}")

    def _unchanged(self, source: str, version: str) -> FileResult:
        # A run that stopped between writing a new version and deleting the old one leaves
        # both; finish the job (a no-op filter delete when there is nothing left over).
        doc_id = document_id(self.collection, source)
        self.delete_other_versions(doc_id, version)
        return FileResult(source, Status.UNCHANGED, document_id=doc_id)

    def ingest_file(self, path: Path) -> FileResult:
        """Index one file from disk; the source recorded is its absolute path."""
        loaded = self._load(path)
        if isinstance(loaded, FileResult):
            return loaded
        return self.ingest_bytes(*loaded)

    def ingest_bytes(self, data: bytes, source: str) -> FileResult:
        """Index one document's bytes under the name ``source``."""
        started = time.perf_counter()
        version = content_version(data)
        if self.is_indexed(document_id(self.collection, source), version):
            return self._unchanged(source, version)
        try:
            prepared = prepare_document(data, source, self.options, version)
        except DocumentError as exc:
            logger.info("not indexed: %s", exc)
            return FileResult(
                source,
                Status.FAILED,
                reason=exc.reason,
                document_id=document_id(self.collection, source),
            )
        except Exception:
            logger.exception("unexpected error preparing %s", source)
            return FileResult(source, Status.FAILED, reason="internal error while parsing")
        return self._index_prepared(prepared, started)

    def _index_prepared(self, prepared: Prepared, started: float) -> FileResult:
        doc_id = document_id(self.collection, prepared.source)
        nodes = to_nodes(
            prepared.chunks,
            prepared.parsed,
            doc_id=doc_id,
            version=prepared.version,
            source=prepared.source,
            doc_type=prepared.doc_type,
        )
        for start in range(0, len(nodes), _STORE_BATCH):
            batch = nodes[start : start + _STORE_BATCH]
            self.embed(batch)
            self.write(batch)
            for node in batch:
                node.embedding = None  # written: free the vector
        self.delete_other_versions(doc_id, prepared.version)
        seconds = time.perf_counter() - started
        logger.info("indexed %s: %d chunks in %.2fs", prepared.source, len(nodes), seconds)
        return FileResult(
            prepared.source, Status.INDEXED, len(nodes), document_id=doc_id, seconds=seconds
        )

    def embed(self, nodes: list[TextNode]) -> None:
        """Attach dense embeddings to ``nodes`` (text plus title and section)."""
        texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]
        vectors = self.components.embedder.get_text_embedding_batch(texts)
        for node, vector in zip(nodes, vectors, strict=True):
            node.embedding = vector

    def write(self, nodes: list[TextNode]) -> None:
        """Upsert embedded nodes into the collection (created on first use)."""
        store = self.components.vector_store(self.collection, create=True)
        store.add(list[BaseNode](nodes))

    def delete_other_versions(self, doc_id: str, version: str) -> None:
        """Delete every chunk of the document that is not of ``version``.

        Called after the new version is fully written, so a reader never finds the document
        missing.
        """
        store = self.components.vector_store(self.collection)
        store.delete_nodes(
            filters=MetadataFilters(
                filters=[
                    MetadataFilter(key="document_id", value=doc_id),
                    MetadataFilter(
                        key="document_version", value=version, operator=FilterOperator.NE
                    ),
                ]
            )
        )

    def is_indexed(self, doc_id: str, version: str) -> bool:
        """Whether this exact version is fully indexed (every chunk present)."""
        if not self.components.collection_exists(self.collection):
            return False
        store = self.components.vector_store(self.collection)
        version_filter = _filters(document_id=doc_id, document_version=version)
        found = store.get_nodes(filters=version_filter, limit=1)
        if not found:
            return False
        expected = found[0].metadata.get("chunk_count")
        return bool(store.count(version_filter) == expected)

    def delete_document(self, source: str) -> int:
        """Remove every chunk of the document stored under ``source``; returns points removed."""
        if not self.components.collection_exists(self.collection):
            return 0
        store = self.components.vector_store(self.collection)
        doc_filter = _filters(document_id=document_id(self.collection, source))
        removed = store.count(doc_filter)
        store.delete_nodes(filters=doc_filter)
        return removed


def _filters(**equal: str) -> MetadataFilters:
    return MetadataFilters(filters=[MetadataFilter(key=k, value=v) for k, v in equal.items()])
