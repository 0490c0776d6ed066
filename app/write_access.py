"""Which document an upload writes to, decided by what the uploader may read.

A document the uploader may not read does not exist for them, so nothing they upload may touch
it: not a replacement by name, not a new version by name or by ``version_of``. The rule:

- an upload may join (replace or version) a document only if the uploader may read **every**
  version of it (and may write to the collection, checked before);
- ``version_of`` a document they may not read is refused exactly like one that does not exist;
- an upload whose name matches only documents they may not read becomes a document of its own.

New documents uploaded over HTTP get a random id, not one computed from the collection and name
(``ingest.schema.document_id``): a computed id would tell the uploader, by differing, that a
hidden document already holds that name. Re-uploads find their document by name instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from llama_index.core.vector_stores.types import FilterOperator

from app.policy import reads_every_version
from ingest.components import Components
from ingest.filters import all_of, catalogue, condition
from ingest.payload import CATALOG_FIELDS
from ingest.versions import DocumentVersion, group_documents


@dataclass(frozen=True)
class Target:
    """The document an upload goes to, and the readers it has now (None: a new document)."""

    document_id: str
    readers: tuple[str, ...] | None = None


def readers_of(versions: list[DocumentVersion]) -> tuple[str, ...]:
    """The groups that may read the document (its latest version's, which all share)."""
    return tuple(sorted(versions[-1].allowed_groups))


def _catalogue(
    components: Components, collection: str, **match: object
) -> dict[str, list[DocumentVersion]]:
    if not components.collection_exists(collection):
        return {}
    conditions = [catalogue()]
    for key, value in match.items():
        op = FilterOperator.IN if isinstance(value, list) else FilterOperator.EQ
        conditions.append(condition(key, value, op))
    store = components.vector_store(collection)
    return group_documents(store.payloads(all_of(*conditions), CATALOG_FIELDS))


def visible_document(
    components: Components, collection: str, doc_id: str, groups: list[str] | None
) -> Target | None:
    """The document ``doc_id`` if a member of ``groups`` may read all of it, else None (as for
    a document that does not exist)."""
    versions = _catalogue(components, collection, document_id=doc_id).get(doc_id, [])
    if not reads_every_version(versions, groups):
        return None
    return Target(doc_id, readers_of(versions))


def target_for_name(
    components: Components, collection: str, source: str, groups: list[str] | None
) -> Target:
    """The document an upload named ``source`` replaces: the oldest one holding that name
    whose every version the uploader may read; else a new document (a fresh random id)."""
    named = _catalogue(components, collection, source=source)
    if named:
        # A document's versions may carry other names: judge each on all of its versions.
        whole = _catalogue(components, collection, document_id=list(named))
        candidates = sorted(
            (versions[0].ingested_at, doc_id)
            for doc_id, versions in whole.items()
            if reads_every_version(versions, groups)
        )
        if candidates:
            doc_id = candidates[0][1]
            return Target(doc_id, readers_of(whole[doc_id]))
    return Target(str(uuid.uuid4()))
