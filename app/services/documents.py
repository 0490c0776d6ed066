"""Documents of a collection: listed with their status and versions, one by one, deleted.

What a caller sees is decided in ``app.policy``: the documents whose readers meet their groups,
and, for those who may add documents, the files that failed to index.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import HTTPException
from pydantic import BaseModel, Field

from app.keys import User
from app.policy import may_write, reader_groups, sees_document
from app.settings import AppSettings
from ingest.components import Components
from ingest.filters import all_of, condition, document
from ingest.headings import heading_depth
from ingest.pipeline import Indexer
from ingest.registry import CollectionConfig
from ingest.uploads import remove_version
from ingest.versions import DocumentVersion


class VersionInfo(BaseModel):
    """One version of a document."""

    version: str = Field(description="Content sha256.")
    version_label: str
    effective_date: str
    in_force: bool
    source: str
    chunks: int
    ingested_at: str
    flags: list[str]


class DocumentInfo(BaseModel):
    """A document's status."""

    document_id: str
    source: str
    title: str = Field(
        "", description='The document\'s own title; "" when it has none but a numbered heading.'
    )
    status: Literal["indexed", "failed"]
    reason: str | None = None
    chunks: int = 0
    version: str = ""
    version_label: str = ""
    effective_date: str = ""
    ingested_at: str = ""
    flags: list[str] = Field(
        default_factory=list,
        description='Warnings raised at ingestion: "instructions" marks text that reads like '
        "instructions to a model (possible prompt injection).",
    )
    versions: list[VersionInfo] = Field(default_factory=list)


class DocumentList(BaseModel):
    """The documents of a collection the caller may read."""

    documents: list[DocumentInfo]
    writable: bool = Field(
        False, description="Whether the caller may add and delete documents here."
    )


class Deleted(BaseModel):
    """What a delete removed."""

    document_id: str
    removed: int = Field(description="Points deleted from Qdrant.")
    remaining: int = Field(description="Points of the document left afterwards (always 0).")


def shown_title(title: str, source: str) -> str:
    """The document's title as a person would name it, or "" when there is none: the indexed
    title falls back to the first numbered heading ("1. Definitions.") or the file name,
    which say nothing the file name does not."""
    name = source.replace("\\", "/").rsplit("/", 1)[-1]
    title = title.strip()
    if not title or title in (name, name.rsplit(".", 1)[0]) or heading_depth(title) is not None:
        return ""
    return title


def _info(doc_id: str, versions: list[DocumentVersion]) -> DocumentInfo:
    today = date.today()
    current = next((v for v in reversed(versions) if v.in_force_on(today)), versions[-1])
    return DocumentInfo(
        document_id=doc_id,
        source=current.source,
        title=shown_title(current.title, current.source),
        status="indexed",
        chunks=current.chunks,
        version=current.version,
        version_label=current.label,
        effective_date=current.effective_date,
        ingested_at=current.ingested_at,
        flags=sorted({f for v in versions for f in v.flags}),
        versions=[
            VersionInfo(
                version=v.version,
                version_label=v.label,
                effective_date=v.effective_date,
                in_force=v.in_force_on(today),
                source=v.source,
                chunks=v.chunks,
                ingested_at=v.ingested_at,
                flags=list(v.flags),
            )
            for v in versions
        ],
    )


def visible_documents(
    components: Components, name: str, groups: list[str] | None
) -> dict[str, list[DocumentVersion]]:
    """The documents of collection ``name`` a member of ``groups`` sees, with their versions."""
    if not components.collection_exists(name):
        return {}
    found = Indexer(components, name).documents()
    return {d: v for d, v in found.items() if sees_document(v, groups)}


def list_documents(
    config: CollectionConfig, user: User, settings: AppSettings, components: Components
) -> DocumentList:
    """The documents the caller sees, and the failures if they may add documents."""
    groups = reader_groups(user, settings)
    listed = [_info(d, v) for d, v in visible_documents(components, config.name, groups).items()]
    writable = may_write(user, config)
    if writable:
        listed += [
            DocumentInfo(
                document_id=f.document_id,
                source=f.source,
                status="failed",
                reason=f.reason,
                ingested_at=f.failed_at,
            )
            for f in components.registry.failures(config.name)
            if f.readable_by(groups)
        ]
    return DocumentList(documents=sorted(listed, key=lambda d: d.source), writable=writable)


def get_document(
    config: CollectionConfig,
    document_id: str,
    user: User,
    settings: AppSettings,
    components: Components,
) -> DocumentInfo:
    """One document the caller sees (404 otherwise, as for one that does not exist)."""
    found = visible_documents(components, config.name, reader_groups(user, settings))
    if document_id not in found:
        raise HTTPException(404, detail="no such document")
    return _info(document_id, found[document_id])


def delete_document(
    config: CollectionConfig,
    document_id: str,
    user: User,
    settings: AppSettings,
    components: Components,
) -> Deleted:
    """Delete every version of a document the caller sees and may write: its points, its
    recorded failures and the originals no other document holds. A document that failed to
    index (listed with its reason) is forgotten the same way."""
    name = config.name
    groups = reader_groups(user, settings)
    found = visible_documents(components, name, groups)
    if document_id not in found:
        return _delete_failure(config, document_id, user, groups, components)
    if not may_write(user, config):
        raise HTTPException(403, detail=f"you may not delete documents of collection {name}")
    indexer = Indexer(components, name)
    removed = indexer.delete_by_id(document_id)
    store = components.vector_store(name)
    for version in found[document_id]:
        components.registry.clear_failure(name, version.source, version.allowed_groups)
        # Another document (maybe one the caller may not read) can hold the same bytes.
        same_bytes = all_of(condition("document_version", version.version))
        if store.count(same_bytes) == 0:
            remove_version(settings.data_dir, name, version.version)
    remaining = components.vector_store(name).count(all_of(document(document_id)))
    return Deleted(document_id=document_id, removed=removed, remaining=remaining)


def _delete_failure(
    config: CollectionConfig,
    document_id: str,
    user: User,
    groups: list[str] | None,
    components: Components,
) -> Deleted:
    """Forget a failed entry the caller may see (those who may write see failures)."""
    failed = [
        f
        for f in components.registry.failures(config.name)
        if f.document_id == document_id and f.readable_by(groups)
    ]
    if not failed or not may_write(user, config):
        raise HTTPException(404, detail="no such document")
    for failure in failed:
        components.registry.clear_failure(config.name, failure.source, failure.allowed_groups)
    return Deleted(document_id=document_id, removed=0, remaining=0)
