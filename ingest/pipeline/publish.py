"""Making a written version current: readers switch to it in one step, the versions it replaces
go, every version is re-dated and given the same readers; and healing what a stopped writer
left half-done (see ingest/visibility.py)."""

from __future__ import annotations

from functools import partial

from ingest.components import Components
from ingest.pipeline.catalogue import Catalogue
from ingest.pipeline.nodes import _filters
from ingest.versions import with_validity


def replace_version(
    catalogue: Catalogue, doc_id: str, label: str, version: str, groups: tuple[str, ...]
) -> None:
    """Make ``version`` the document's only version under ``label`` (readers switch to it
    in one step and the others go), then re-date them all and give every version the
    same readers (``groups``). The versions under other labels stay.

    The document's state record stays until the re-dating is done: a crash before that
    is healed (re-dated) at the next start."""
    store = catalogue.components.vector_store(catalogue.collection)
    replaced = [v.version for v in catalogue.versions(doc_id) if v.label == label]
    switched = store.switch_version(doc_id, version, replaced)
    _regroup(catalogue, doc_id, groups)
    redate(catalogue, doc_id)
    if switched:
        store.finish_version(doc_id)


def _regroup(catalogue: Catalogue, doc_id: str, groups: tuple[str, ...]) -> None:
    if any(v.allowed_groups != groups for v in catalogue.versions(doc_id)):
        store = catalogue.components.vector_store(catalogue.collection)
        store.set_payload(_filters(document_id=doc_id), {"allowed_groups": list(groups)})


def redate(catalogue: Catalogue, doc_id: str) -> None:
    """Give the document's versions the validity their dates say (each in force until the
    next one takes effect)."""
    store = catalogue.components.vector_store(catalogue.collection)
    stored = {v.version: v for v in catalogue.versions(doc_id)}
    if not stored:
        return  # a new document that never became whole
    for new in with_validity(list(stored.values())):
        old = stored[new.version]
        if (old.valid_from, old.valid_to) != (new.valid_from, new.valid_to):
            store.set_payload(
                _filters(document_id=doc_id, document_version=new.version),
                {"valid_from": new.valid_from, "valid_to": new.valid_to},
            )


def heal(components: Components) -> dict[str, list[str]]:
    """Finish what a stopped writer left in every collection (a version half-written, or one
    replaced but not yet deleted or re-dated; see ingest/visibility.py); returns the documents
    healed per collection. Run at every start of ``kura ingest`` and ``kura serve``."""
    healed = {}
    for name in components.collections():
        documents = heal_collection(components, name)
        if documents:
            healed[name] = documents
    return healed


def heal_collection(components: Components, collection: str) -> list[str]:
    """``heal`` for one collection; the documents healed."""
    store = components.vector_store(collection)
    if not store.states():
        return []
    return store.heal(before=partial(redate, Catalogue(components, collection)))
