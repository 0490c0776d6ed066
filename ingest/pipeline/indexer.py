"""Ingestion: read -> detect -> parse -> chunk -> embed -> store, with content-hash versions.

Each step is a plain function that can run and be tested alone; ``Indexer`` strings them
together for one collection. Qdrant itself is the record of what is indexed: every point
carries its document's id, version (content sha256) and chunk count, so a re-run can tell an
unchanged document (all its chunks present) from a changed or half-written one.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path

from llama_index.core.schema import (
    BaseNode,
    MetadataMode,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters

from ingest.access import AccessMap
from ingest.chunk import Chunk
from ingest.clauses import annotate
from ingest.components import Components
from ingest.detect import DocType
from ingest.errors import DocumentError, DocumentTooLarge
from ingest.faults import checkpoint
from ingest.filters import all_of, condition
from ingest.hostile import FLAGS, instruction_flags
from ingest.parse import ParsedDocument
from ingest.payload import ChunkPayload
from ingest.payload import source_prefixes as source_prefixes
from ingest.prepare import Prepared as Prepared
from ingest.prepare import PrepareOptions as PrepareOptions
from ingest.prepare import content_version as content_version
from ingest.prepare import prepare_document as prepare_document
from ingest.registry import EVERYONE, CollectionConfig
from ingest.schema import IN_FORCE, chunk_id, document_id
from ingest.versions import (
    CATALOG_FIELDS,
    DocumentVersion,
    day_number,
    group_documents,
    with_validity,
)
from ingest.walk import walk
from ingest.worker import ParsePool

logger = logging.getLogger(__name__)

# Metadata the embedding sees besides the chunk text: where in the document it sits.
_EMBED_KEYS = ("title", "section")
FLAG_FIELDS = ("document_version", "flags")


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


@dataclass(frozen=True)
class VersionSpec:
    """Ingest a document as a labelled version, kept beside the document's other versions.

    Without one, a changed file replaces the unlabelled version of its own document. An empty
    ``label`` with a ``document_id`` replaces the unlabelled version of that document (an
    upload whose document was chosen by who may read what).
    """

    label: str
    effective: date | None = None  # default: the day it is ingested
    document_id: str | None = None  # the document this is a version of; default: the source's


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named directly, and every file under named folders, skipping hidden ones and
    symbolic links (see ``ingest.walk``)."""
    yield from walk(paths).files


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


class Indexer:
    """Indexes files into one kura collection."""

    def __init__(
        self,
        components: Components,
        collection: str,
        *,
        access: AccessMap | None = None,
        groups: tuple[str, ...] | None = None,
    ) -> None:
        """``groups`` (or else the ``access`` rules, or else the collection's default) say who
        may read what this indexer writes."""
        self.components = components
        self.collection = collection
        self.access = access
        self.groups = groups
        self.registry = components.registry
        config = self.registry.collection(collection)
        if config is None:
            config = CollectionConfig(collection)
            self.registry.save_collection(config)
        self.config = config
        self.settings = components.settings
        self.options = PrepareOptions(
            parse=self.settings.parse_options,
            chunk_size=self.settings.chunk_size,
            chunk_overlap=self.settings.chunk_overlap,
            max_tokens=components.max_tokens,
            model_dir=components.count_tokens.model_dir,
            max_chunks=self.settings.max_document_chunks,
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
            self._record(result)
            report.results.append(result)
            if on_file:
                on_file(result)

        if workers <= 1:
            for path in iter_files(paths):
                done(self._ingest_file(path))
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
        pending: deque[tuple[Future[Prepared], str, float]] = deque()
        with ParsePool(self.components.parsers.limits, workers) as pool:

            def finish_oldest() -> None:
                future, source, t0 = pending.popleft()
                try:
                    prepared = future.result()
                except DocumentError as exc:
                    logger.info("not indexed: %s", exc)
                    done(FileResult(source, Status.FAILED, reason=exc.reason))
                except Exception:
                    logger.exception("parsing worker failed on %s", source)
                    done(FileResult(source, Status.FAILED, reason="internal error while parsing"))
                else:
                    done(self._index_prepared(prepared, t0))

            for path in iter_files(paths):
                loaded = self._load(path)
                if isinstance(loaded, FileResult):
                    done(loaded)
                    continue
                data, source = loaded
                version = content_version(data)
                doc_id = document_id(self.collection, source)
                if self.is_indexed(doc_id, version):
                    done(self._unchanged(source, version, doc_id))
                    continue
                future = pool.submit(data, source, self.options, version)
                pending.append((future, source, time.perf_counter()))
                while len(pending) >= 2 * workers:
                    finish_oldest()
            while pending:
                finish_oldest()

    def groups_for(self, source: str) -> tuple[str, ...]:
        """Who may read the document at ``source``."""
        if self.groups:
            return self.groups
        if self.access is not None:
            mapped = self.access.groups_for(Path(source))
            if mapped:
                return mapped
        return self.config.read_groups or (EVERYONE,)

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

    def _unchanged(self, source: str, version: str, doc_id: str) -> FileResult:
        # A run that stopped between writing a new version and deleting the old one leaves
        # both; finish the job (nothing to do when there is nothing left over). Changed
        # access rules apply to unchanged documents too.
        found = [v for v in self.versions(doc_id) if v.version == version]
        label = found[0].label if found else ""
        self.replace_version(doc_id, label, version, self.groups_for(source))
        return FileResult(source, Status.UNCHANGED, document_id=doc_id)

    def _record(self, result: FileResult) -> FileResult:
        # A failure is listed only to those who could have read the document (its name may be
        # the secret), so it carries the groups the document would have had.
        groups = self.groups_for(result.source)
        if result.status is Status.FAILED:
            doc_id = result.document_id or document_id(self.collection, result.source)
            reason = result.reason or "not indexed"
            self.registry.record_failure(self.collection, result.source, doc_id, reason, groups)
        else:
            self.registry.clear_failure(self.collection, result.source, groups)
        return result

    def ingest_file(self, path: Path, spec: VersionSpec | None = None) -> FileResult:
        """Index one file from disk; the source recorded is its absolute path."""
        return self._record(self._ingest_file(path, spec))

    def _ingest_file(self, path: Path, spec: VersionSpec | None = None) -> FileResult:
        loaded = self._load(path)
        if isinstance(loaded, FileResult):
            return loaded
        return self._ingest_bytes(*loaded, spec=spec)

    def ingest_bytes(self, data: bytes, source: str, spec: VersionSpec | None = None) -> FileResult:
        """Index one document's bytes under the name ``source`` (as a version, with ``spec``)."""
        return self._record(self._ingest_bytes(data, source, spec))

    def _ingest_bytes(self, data: bytes, source: str, spec: VersionSpec | None) -> FileResult:
        started = time.perf_counter()
        version = content_version(data)
        doc_id = self._document_id(source, spec)
        if self.is_indexed(doc_id, version):
            return self._unchanged(source, version, doc_id)
        try:
            # In a worker process, under the parse time and memory limits.
            prepared = self.components.parsers.prepare(data, source, self.options, version)
        except DocumentError as exc:
            logger.info("not indexed: %s", exc)
            return FileResult(
                source,
                Status.FAILED,
                reason=exc.reason,
                document_id=doc_id,
            )
        except Exception:
            logger.exception("unexpected error preparing %s", source)
            return FileResult(source, Status.FAILED, reason="internal error while parsing")
        return self._index_prepared(prepared, started, spec)

    def _document_id(self, source: str, spec: VersionSpec | None) -> str:
        if spec is not None and spec.document_id:
            return spec.document_id
        return document_id(self.collection, source)

    def _index_prepared(
        self, prepared: Prepared, started: float, spec: VersionSpec | None = None
    ) -> FileResult:
        doc_id = self._document_id(prepared.source, spec)
        label = spec.label if spec else ""
        effective = (spec.effective or date.today()) if spec and spec.label else None
        groups = self.groups_for(prepared.source)
        nodes = to_nodes(
            prepared.chunks,
            prepared.parsed,
            doc_id=doc_id,
            version=prepared.version,
            source=prepared.source,
            doc_type=prepared.doc_type,
            label=label,
            effective=effective,
            groups=groups,
        )
        # Written hidden from readers, then made current in one step (ingest/visibility.py):
        # a crash anywhere leaves readers on the old version, or on no version of a new one.
        store = self.components.vector_store(self.collection, create=True)
        step = self.settings.store_batch
        store.begin_version(doc_id, prepared.version)
        try:
            for start in range(0, len(nodes), step):
                batch = nodes[start : start + step]
                self.embed(batch)
                checkpoint("embed")
                self.write(batch)
                store.keep_alive(doc_id, prepared.version)
                for node in batch:
                    node.embedding = None  # written: free the vector
                if start + step < len(nodes):
                    checkpoint("write")
        except BaseException:
            store.abort_version(doc_id)
            raise
        self.replace_version(doc_id, label, prepared.version, groups)
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

    def replace_version(
        self, doc_id: str, label: str, version: str, groups: tuple[str, ...]
    ) -> None:
        """Make ``version`` the document's only version under ``label`` (readers switch to it
        in one step and the others go), then re-date them all and give every version the
        same readers (``groups``). The versions under other labels stay.

        The document's state record stays until the re-dating is done: a crash before that
        is healed (re-dated) at the next start."""
        store = self.components.vector_store(self.collection)
        replaced = [v.version for v in self.versions(doc_id) if v.label == label]
        switched = store.switch_version(doc_id, version, replaced)
        self._regroup(doc_id, groups)
        self.redate(doc_id)
        if switched:
            store.finish_version(doc_id)

    def _regroup(self, doc_id: str, groups: tuple[str, ...]) -> None:
        if any(v.allowed_groups != groups for v in self.versions(doc_id)):
            store = self.components.vector_store(self.collection)
            store.set_payload(_filters(document_id=doc_id), {"allowed_groups": list(groups)})

    def redate(self, doc_id: str) -> None:
        """Give the document's versions the validity their dates say (each in force until the
        next one takes effect)."""
        store = self.components.vector_store(self.collection)
        stored = {v.version: v for v in self.versions(doc_id)}
        if not stored:
            return  # a new document that never became whole
        for new in with_validity(list(stored.values())):
            old = stored[new.version]
            if (old.valid_from, old.valid_to) != (new.valid_from, new.valid_to):
                store.set_payload(
                    _filters(document_id=doc_id, document_version=new.version),
                    {"valid_from": new.valid_from, "valid_to": new.valid_to},
                )

    def versions(self, doc_id: str) -> list[DocumentVersion]:
        """The document's versions, oldest first, with the validity stored on them."""
        return self.documents(doc_id).get(doc_id, [])

    def documents(self, doc_id: str | None = None) -> dict[str, list[DocumentVersion]]:
        """Every document in the collection (or just ``doc_id``) with its versions."""
        if not self.components.collection_exists(self.collection):
            return {}
        conditions = [MetadataFilter(key="chunk_index", value=0)]
        if doc_id is not None:
            conditions.append(MetadataFilter(key="document_id", value=doc_id))
        store = self.components.vector_store(self.collection)
        payloads = store.payloads(MetadataFilters(filters=conditions), CATALOG_FIELDS)
        # Flags raised anywhere in a version, not just on its first chunk.
        conditions[0] = MetadataFilter(key="flags", value=list(FLAGS), operator=FilterOperator.IN)
        flagged: dict[str, set[str]] = {}
        for hit in store.payloads(MetadataFilters(filters=conditions), FLAG_FIELDS):
            flagged.setdefault(hit["document_version"], set()).update(hit.get("flags") or ())
        for payload in payloads:
            payload["flags"] = sorted(flagged.get(payload["document_version"], ()))
        return group_documents(payloads)

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
        self.registry.clear_failure(self.collection, source)
        return self.delete_by_id(document_id(self.collection, source))

    def delete_by_id(self, doc_id: str) -> int:
        """Remove every chunk of every version of a document; returns points removed."""
        if not self.components.collection_exists(self.collection):
            return 0
        store = self.components.vector_store(self.collection)
        doc_filter = _filters(document_id=doc_id)
        removed = store.count(doc_filter)
        store.delete_nodes(filters=doc_filter)
        return removed

    def remove_missing(self, folders: Iterable[Path]) -> list[str]:
        """Delete the documents ingested from under ``folders`` whose files are gone (the
        folder-sync half of ``kura ingest --sync``); returns their sources."""
        roots = [str(folder.resolve()) for folder in folders if folder.is_dir()]
        gone = []
        for doc_id, versions in self.documents().items():
            sources = {v.source for v in versions}
            under = [s for s in sources if any(s.startswith(root + "/") for root in roots)]
            if under and all(not Path(s).exists() for s in sources):
                self.delete_by_id(doc_id)
                gone.extend(sorted(under))
        for failure in self.registry.failures(self.collection):
            path = failure.source
            if any(path.startswith(root + "/") for root in roots) and not Path(path).exists():
                self.registry.clear_failure(self.collection, path)
        return gone


def heal(components: Components) -> dict[str, list[str]]:
    """Finish what a stopped writer left in every collection (a version half-written, or one
    replaced but not yet deleted or re-dated; see ingest/visibility.py); returns the documents
    healed per collection. Run at every start of ``kura ingest`` and ``kura serve``."""
    healed = {}
    for name in components.collections():
        store = components.vector_store(name)
        if not store.states():
            continue
        indexer = Indexer(components, name)
        documents = store.heal(before=indexer.redate)
        if documents:
            healed[name] = documents
    return healed


def _filters(**equal: str) -> MetadataFilters:
    return all_of(*(condition(key, value) for key, value in equal.items()))
