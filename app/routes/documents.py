"""Documents over HTTP: upload (indexed in the background), list with status, get, delete."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import unicodedata
import uuid
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
from pydantic import BaseModel, Field

from app.auth import User
from app.deps import ComponentsDep, CurrentUser, SettingsDep, collection_for, reader_groups
from app.jobs import Job, JobRunner, Upload
from app.settings import AppSettings
from app.verify import upload_path
from app.write_access import visible_document
from ingest.components import Components
from ingest.pipeline import Indexer, VersionSpec
from ingest.private import private_dir, private_file
from ingest.registry import CollectionConfig
from ingest.versions import DocumentVersion

logger = logging.getLogger(__name__)

router = APIRouter(tags=["documents"])

_READ_CHUNK = 1 << 20
# File systems allow 255 bytes per name (not characters: 84 Japanese characters are 252 bytes);
# kept well below, so the name fits with room to spare wherever the data folder lives.
MAX_NAME_BYTES = 200
_MAX_SUFFIX_BYTES = 16
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


class Rejected(BaseModel):
    """A file refused before indexing."""

    file: str
    reason: str


class UploadAccepted(BaseModel):
    """An upload queued for indexing."""

    job_id: str
    accepted: list[str]
    rejected: list[Rejected]


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
    title: str = ""
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


class Deleted(BaseModel):
    """What a delete removed."""

    document_id: str
    removed: int = Field(description="Points deleted from Qdrant.")
    remaining: int = Field(description="Points of the document left afterwards (always 0).")


def safe_name(name: str | None) -> str | None:
    """The upload's file name without any path, control or reserved characters, shortened to
    MAX_NAME_BYTES of UTF-8 (its extension kept); None if nothing usable is left."""
    if not name:
        return None
    base = PurePosixPath(unicodedata.normalize("NFC", name).replace("\\", "/")).name
    base = _UNSAFE.sub("_", base).strip(" .")
    if len(base.encode()) > MAX_NAME_BYTES:
        suffix = PurePosixPath(base).suffix
        if len(suffix.encode()) > _MAX_SUFFIX_BYTES:
            suffix = ""
        stem = base[: len(base) - len(suffix)] if suffix else base
        budget = MAX_NAME_BYTES - len(suffix.encode())
        # Cut by bytes, then drop a character cut in half: the name stays valid UTF-8.
        stem = stem.encode()[:budget].decode("utf-8", "ignore").rstrip(" .")
        base = stem + suffix if stem else ""
    return base or None


def _visible(versions: list[DocumentVersion], groups: list[str] | None) -> bool:
    return groups is None or bool(set(versions[-1].allowed_groups) & set(groups))


def _info(doc_id: str, versions: list[DocumentVersion]) -> DocumentInfo:
    today = date.today()
    current = next((v for v in reversed(versions) if v.in_force_on(today)), versions[-1])
    return DocumentInfo(
        document_id=doc_id,
        source=current.source,
        title=current.title,
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


def _writer(user: User, config: CollectionConfig, settings: AppSettings) -> bool:
    return settings.auth == "off" or user.admin or config.writable_by(list(user.groups))


async def _save(
    upload: UploadFile, name: str, collection: str, settings: AppSettings
) -> tuple[Path, str] | str:
    """Stream the upload to disk under its content hash; returns (path, version) or why not.

    The staging file never outlives the call: it becomes the stored original or is removed.
    Originals and their folders are owner-only (0600 / 0700).
    """
    limit = int(settings.max_file_mb * 1024 * 1024)
    uploads = private_dir(settings.data_dir / "uploads")
    temp = private_dir(uploads / ".staging") / f"{uuid.uuid4().hex}.part"
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(private_file(temp), "wb") as out:
            while chunk := await upload.read(_READ_CHUNK):
                size += len(chunk)
                if size > limit:
                    return f"over the {settings.max_file_mb} MiB limit (KURA_MAX_FILE_MB)"
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            return "the file is empty (0 bytes)"
        version = digest.hexdigest()
        final = upload_path(settings, collection, version, name)
        private_dir(private_dir(final.parent.parent) / version)
        temp.replace(final)
        return final, version
    except OSError as exc:
        logger.error("cannot store the upload %s: %s", name, exc.strerror)
        return f"could not be stored ({exc.strerror})"
    finally:
        temp.unlink(missing_ok=True)


@router.post(
    "/v1/collections/{name}/documents",
    status_code=202,
    responses={
        403: {"description": "The caller may not add documents to this collection"},
        404: {"description": "No such collection"},
    },
)
async def upload_documents(
    request: Request,
    name: str,
    files: Annotated[list[UploadFile], File(description="One or more documents.")],
    user: CurrentUser,
    settings: SettingsDep,
    components: ComponentsDep,
    groups: Annotated[
        str | None, Form(description="Comma-separated groups that may read these documents.")
    ] = None,
    version_label: Annotated[
        str | None, Form(description="Keep the file as a labelled version (one file only).")
    ] = None,
    effective_date: Annotated[
        date | None, Form(description="Day the version takes effect.")
    ] = None,
    version_of: Annotated[
        str | None, Form(description="document_id of the document this is a version of.")
    ] = None,
) -> UploadAccepted:
    """Queue documents for indexing; poll ``/v1/jobs/{job_id}``. A file with the name of an
    existing document you may read replaces it once the new version is indexed; a document you
    may not read is never touched (yours becomes a document of its own)."""
    config = collection_for(name, user, components, settings, write=True)
    if not _writer(user, config, settings):
        raise HTTPException(403, detail=f"you may not add documents to collection {name}")
    uploader = reader_groups(user, settings)
    spec = None
    if version_label or effective_date or version_of:
        if not version_label or len(files) != 1:
            raise HTTPException(422, detail="a version needs version_label and exactly one file")
        if version_of and visible_document(components, name, version_of, uploader) is None:
            raise HTTPException(404, detail="no such document")
        spec = VersionSpec(version_label, effective_date, version_of)
    reader = tuple(g.strip() for g in (groups or "").split(",") if g.strip()) or None
    uploads: list[Upload] = []
    rejected: list[Rejected] = []
    for upload in files:
        clean = safe_name(upload.filename)
        if clean is None:
            rejected.append(Rejected(file=upload.filename or "", reason="no usable file name"))
            continue
        saved = await _save(upload, clean, name, settings)
        if isinstance(saved, str):
            rejected.append(Rejected(file=clean, reason=saved))
            continue
        uploads.append(Upload(clean, saved[0], reader, spec, uploader))
    runner: JobRunner = request.app.state.jobs
    job = runner.submit(name, user.name, uploads)
    return UploadAccepted(job_id=job.id, accepted=[u.name for u in uploads], rejected=rejected)


@router.get("/v1/jobs/{job_id}", responses={404: {"description": "No such job"}})
def get_job(request: Request, job_id: str, user: CurrentUser, settings: SettingsDep) -> Job:
    """An upload job's status, file by file (the submitter's own jobs; admins see all)."""
    runner: JobRunner = request.app.state.jobs
    job = runner.get(job_id)
    if job is None or (settings.auth != "off" and not user.admin and job.user != user.name):
        raise HTTPException(404, detail="no such job")
    return job


def _documents(
    components: Components, name: str, groups: list[str] | None
) -> dict[str, list[DocumentVersion]]:
    if not components.collection_exists(name):
        return {}
    found = Indexer(components, name).documents()
    return {d: v for d, v in found.items() if _visible(v, groups)}


@router.get(
    "/v1/collections/{name}/documents", responses={404: {"description": "No such collection"}}
)
def list_documents(
    name: str, user: CurrentUser, settings: SettingsDep, components: ComponentsDep
) -> DocumentList:
    """Documents the caller may read, with status, chunks, versions and flags; documents
    that failed to index are listed (with the reason) for those who may add documents."""
    config = collection_for(name, user, components, settings)
    groups = reader_groups(user, settings)
    listed = [_info(d, v) for d, v in _documents(components, name, groups).items()]
    if _writer(user, config, settings):
        listed += [
            DocumentInfo(
                document_id=f.document_id,
                source=f.source,
                status="failed",
                reason=f.reason,
                ingested_at=f.failed_at,
            )
            for f in components.registry.failures(name)
            if f.readable_by(groups)
        ]
    return DocumentList(documents=sorted(listed, key=lambda d: d.source))


@router.get(
    "/v1/collections/{name}/documents/{document_id}",
    responses={404: {"description": "No such document"}},
)
def get_document(
    name: str, document_id: str, user: CurrentUser, settings: SettingsDep, components: ComponentsDep
) -> DocumentInfo:
    """One document with its versions."""
    collection_for(name, user, components, settings)
    found = _documents(components, name, reader_groups(user, settings))
    if document_id not in found:
        raise HTTPException(404, detail="no such document")
    return _info(document_id, found[document_id])


@router.delete(
    "/v1/collections/{name}/documents/{document_id}",
    responses={403: {"description": "Not allowed"}, 404: {"description": "No such document"}},
)
def delete_document(
    name: str, document_id: str, user: CurrentUser, settings: SettingsDep, components: ComponentsDep
) -> Deleted:
    """Delete every version of a document: all its points leave Qdrant, and its uploaded
    files are removed."""
    config = collection_for(name, user, components, settings)
    found = _documents(components, name, reader_groups(user, settings))
    if document_id not in found:
        raise HTTPException(404, detail="no such document")
    if not _writer(user, config, settings):
        raise HTTPException(403, detail=f"you may not delete documents of collection {name}")
    indexer = Indexer(components, name)
    removed = indexer.delete_by_id(document_id)
    store = components.vector_store(name)
    for version in found[document_id]:
        components.registry.clear_failure(name, version.source, version.allowed_groups)
        # Another document (maybe one the caller may not read) can hold the same bytes.
        same_bytes = MetadataFilters(
            filters=[MetadataFilter(key="document_version", value=version.version)]
        )
        if store.count(same_bytes) == 0:
            originals = settings.data_dir / "uploads" / name / version.version
            shutil.rmtree(originals, ignore_errors=True)
    remaining = components.vector_store(name).count(
        MetadataFilters(filters=[MetadataFilter(key="document_id", value=document_id)])
    )
    return Deleted(document_id=document_id, removed=removed, remaining=remaining)
