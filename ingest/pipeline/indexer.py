"""``Indexer``: files into one kura collection, along one per-file path.

load (``files``) -> unchanged? (``catalogue``) -> prepare: detect, parse, chunk (in a worker
process, ``ingest.worker``) -> nodes (``nodes``) -> embed -> write hidden -> make current
(``publish``). A serial run and a parallel one take the same path; in a parallel run the
prepare step of several files runs in worker processes while this one embeds and writes.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import BaseNode, MetadataMode, TextNode

from ingest.access import AccessMap
from ingest.components import Components
from ingest.errors import DocumentError
from ingest.faults import checkpoint
from ingest.pipeline import publish, sync
from ingest.pipeline.catalogue import Catalogue
from ingest.pipeline.files import iter_files, load
from ingest.pipeline.nodes import to_nodes
from ingest.pipeline.results import FileResult, IngestReport, Status, VersionSpec
from ingest.prepare import Prepared, PrepareOptions, content_version
from ingest.registry import EVERYONE, CollectionConfig
from ingest.schema import document_id
from ingest.versions import DocumentVersion
from ingest.worker import ParsePool

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Pending:
    """A file read and found changed, waiting for its prepared chunks."""

    source: str
    doc_id: str
    version: str
    spec: VersionSpec | None
    started: float


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
        may read what this indexer writes. Nothing is created until something is written."""
        self.components = components
        self.collection = collection
        self.access = access
        self.groups = groups
        self.registry = components.registry
        self.catalogue = Catalogue(components, collection)
        self.config = self.registry.collection(collection) or CollectionConfig(collection)
        self.settings = components.settings
        self.options = PrepareOptions.from_settings(
            self.settings,
            max_tokens=components.max_tokens,
            model_dir=components.count_tokens.model_dir,
        )

    def _register(self) -> None:
        # A write creates the collection in kura.db (with default readers) before anything of
        # it is stored or recorded; reading never does (a typo must not become a collection).
        if self.registry.collection(self.collection) is None:
            self.registry.save_collection(self.config)

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
        self._register()
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
        pending: deque[tuple[_Pending, Future[Prepared]]] = deque()
        with ParsePool(self.components.parsers.limits, workers) as pool:
            for path in iter_files(paths):
                loaded = load(path, self.settings.max_file_mb)
                if isinstance(loaded, FileResult):
                    done(loaded)
                    continue
                data, source = loaded
                job = self._begin(data, source, None)
                if isinstance(job, FileResult):
                    done(job)
                    continue
                pending.append((job, pool.submit(data, source, self.options, job.version)))
                while len(pending) >= 2 * workers:
                    done(self._finish(*pending.popleft()))
            while pending:
                done(self._finish(*pending.popleft()))

    def ingest_file(self, path: Path, spec: VersionSpec | None = None) -> FileResult:
        """Index one file from disk; the source recorded is its absolute path."""
        self._register()
        return self._record(self._ingest_file(path, spec))

    def ingest_bytes(self, data: bytes, source: str, spec: VersionSpec | None = None) -> FileResult:
        """Index one document's bytes under the name ``source`` (as a version, with ``spec``)."""
        self._register()
        return self._record(self._ingest_bytes(data, source, spec))

    def _ingest_file(self, path: Path, spec: VersionSpec | None = None) -> FileResult:
        loaded = load(path, self.settings.max_file_mb)
        if isinstance(loaded, FileResult):
            return loaded
        return self._ingest_bytes(*loaded, spec=spec)

    def _ingest_bytes(self, data: bytes, source: str, spec: VersionSpec | None) -> FileResult:
        job = self._begin(data, source, spec)
        if isinstance(job, FileResult):
            return job
        # In a worker process, under the parse time and memory limits.
        return self._finish(
            job, lambda: self.components.parsers.prepare(data, source, self.options, job.version)
        )

    def _begin(self, data: bytes, source: str, spec: VersionSpec | None) -> _Pending | FileResult:
        """The file's document and version; the result at once when that version is whole."""
        started = time.perf_counter()
        version = content_version(data)
        doc_id = self._document_id(source, spec)
        if self.catalogue.is_indexed(doc_id, version):
            return self._unchanged(source, version, doc_id)
        return _Pending(source, doc_id, version, spec, started)

    def _finish(
        self, job: _Pending, prepared: Future[Prepared] | Callable[[], Prepared]
    ) -> FileResult:
        """Index what the prepare step made of the file, or report why it made nothing."""
        try:
            result = prepared.result() if isinstance(prepared, Future) else prepared()
        except DocumentError as exc:
            logger.info("not indexed: %s", exc)
            return FileResult(job.source, Status.FAILED, reason=exc.reason, document_id=job.doc_id)
        except Exception:
            logger.exception("unexpected error preparing %s", job.source)
            return FileResult(job.source, Status.FAILED, reason="internal error while parsing")
        return self._index_prepared(result, job.started, job.spec)

    def groups_for(self, source: str) -> tuple[str, ...]:
        """Who may read the document at ``source``."""
        if self.groups:
            return self.groups
        if self.access is not None:
            mapped = self.access.groups_for(Path(source))
            if mapped:
                return mapped
        return self.config.read_groups or (EVERYONE,)

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
                multi = self.embed(batch)
                checkpoint("embed")
                self.write(batch, multi)
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

    def embed(
        self, nodes: list[TextNode], embedder: BaseEmbedding | None = None
    ) -> list[list[float]] | None:
        """Attach dense embeddings to ``nodes`` (text plus title and section) by ``embedder``
        (None: the collection's own); returns their multilingual vectors (None: no
        multilingual model), which ``write`` stores beside."""
        texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]
        embedder = embedder or self.components.embedder_for(self.collection)
        vectors = embedder.get_text_embedding_batch(texts)
        for node, vector in zip(nodes, vectors, strict=True):
            node.embedding = vector
        multilingual = self.components.embedders.multilingual
        return None if multilingual is None else multilingual.get_text_embedding_batch(texts)

    def write(self, nodes: list[TextNode], multi: list[list[float]] | None = None) -> None:
        """Upsert embedded nodes (and their multilingual vectors) into the collection (created
        on first use)."""
        self._register()
        store = self.components.vector_store(self.collection, create=True)
        store.add(list[BaseNode](nodes), multi_embeddings=multi)

    def replace_version(
        self, doc_id: str, label: str, version: str, groups: tuple[str, ...]
    ) -> None:
        """Make ``version`` the document's only version under ``label`` (see ``publish``)."""
        publish.replace_version(self.catalogue, doc_id, label, version, groups)

    def redate(self, doc_id: str) -> None:
        """Give the document's versions the validity their dates say (see ``publish``)."""
        publish.redate(self.catalogue, doc_id)

    def versions(self, doc_id: str) -> list[DocumentVersion]:
        """The document's versions, oldest first, with the validity stored on them."""
        return self.catalogue.versions(doc_id)

    def documents(self, doc_id: str | None = None) -> dict[str, list[DocumentVersion]]:
        """Every document in the collection (or just ``doc_id``) with its versions."""
        return self.catalogue.documents(doc_id)

    def is_indexed(self, doc_id: str, version: str) -> bool:
        """Whether this exact version is fully indexed (every chunk present)."""
        return self.catalogue.is_indexed(doc_id, version)

    def delete_document(self, source: str) -> int:
        """Remove every chunk of the document stored under ``source``; returns points removed."""
        self.registry.clear_failure(self.collection, source)
        return self.delete_by_id(document_id(self.collection, source))

    def delete_by_id(self, doc_id: str) -> int:
        """Remove every chunk of every version of a document; returns points removed."""
        return sync.delete_by_id(self.catalogue, doc_id)

    def remove_missing(self, folders: Iterable[Path]) -> list[str]:
        """Delete the documents ingested from under ``folders`` whose files are gone (the
        folder-sync half of ``kura ingest --sync``); returns their sources."""
        return sync.remove_missing(self.catalogue, folders)
