"""Removing documents: every chunk of every version of one, and the folder-sync half of
``kura ingest --sync`` (documents whose files are gone)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ingest.pipeline.catalogue import Catalogue
from ingest.pipeline.nodes import _filters


def delete_by_id(catalogue: Catalogue, doc_id: str) -> int:
    """Remove every chunk of every version of a document; returns points removed."""
    components, collection = catalogue.components, catalogue.collection
    if not components.collection_exists(collection):
        return 0
    store = components.vector_store(collection)
    doc_filter = _filters(document_id=doc_id)
    removed = store.count(doc_filter)
    store.delete_nodes(filters=doc_filter)
    return removed


def remove_missing(catalogue: Catalogue, folders: Iterable[Path]) -> list[str]:
    """Delete the documents ingested from under ``folders`` whose files are gone; returns
    their sources. Failures recorded for files gone from there are cleared too."""
    registry, collection = catalogue.components.registry, catalogue.collection
    roots = [str(folder.resolve()) for folder in folders if folder.is_dir()]
    gone = []
    for doc_id, versions in catalogue.documents().items():
        sources = {v.source for v in versions}
        under = [s for s in sources if any(s.startswith(root + "/") for root in roots)]
        if under and all(not Path(s).exists() for s in sources):
            delete_by_id(catalogue, doc_id)
            gone.extend(sorted(under))
    for failure in registry.failures(collection):
        path = failure.source
        if any(path.startswith(root + "/") for root in roots) and not Path(path).exists():
            registry.clear_failure(collection, path)
    return gone
