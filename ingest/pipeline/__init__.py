"""Ingestion: read -> detect -> parse -> chunk -> embed -> store, with content-hash versions.

Each step is a plain function that can run and be tested alone; ``Indexer`` strings them
together for one collection. Qdrant itself is the record of what is indexed: every point
carries its document's id, version (content sha256) and chunk count, so a re-run can tell an
unchanged document (all its chunks present) from a changed or half-written one.

Modules: ``indexer`` (the per-file path), ``files`` (what a run reads), ``nodes`` (chunks to
payloads), ``catalogue`` (reading what is stored; never creates), ``publish`` (making a version
current, healing), ``sync`` (deletes), ``results`` (what a run reports).
"""

from ingest.pipeline.catalogue import FLAG_FIELDS, Catalogue
from ingest.pipeline.files import iter_files
from ingest.pipeline.indexer import Indexer
from ingest.pipeline.nodes import source_prefixes, to_nodes
from ingest.pipeline.publish import heal, heal_collection
from ingest.pipeline.results import FileResult, IngestReport, Status, VersionSpec
from ingest.prepare import Prepared, PrepareOptions, content_version, prepare_document

__all__ = [
    "FLAG_FIELDS",
    "Catalogue",
    "FileResult",
    "Indexer",
    "IngestReport",
    "PrepareOptions",
    "Prepared",
    "Status",
    "VersionSpec",
    "content_version",
    "heal",
    "heal_collection",
    "iter_files",
    "prepare_document",
    "source_prefixes",
    "to_nodes",
]
