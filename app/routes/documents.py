"""Documents over HTTP: upload (indexed in the background), list with status, get, delete."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from app.deps import (
    ComponentsDep,
    CurrentUser,
    JobsDep,
    ReadableCollection,
    SettingsDep,
    WritableCollection,
    WriteGateDep,
)
from app.job_store import Job
from app.services import documents, uploads
from app.services.documents import Deleted, DocumentInfo, DocumentList
from app.services.uploads import UploadAccepted

router = APIRouter(tags=["documents"])


@router.post(
    "/v1/collections/{name}/documents",
    status_code=202,
    responses={
        403: {"description": "The caller may not add documents to this collection"},
        404: {"description": "No such collection"},
    },
)
async def upload_documents(
    config: WritableCollection,
    files: Annotated[list[UploadFile], File(description="One or more documents.")],
    user: CurrentUser,
    settings: SettingsDep,
    components: ComponentsDep,
    jobs: JobsDep,
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
    return await uploads.accept(
        config.name,
        files,
        user=user,
        settings=settings,
        components=components,
        runner=jobs,
        groups=groups,
        version_label=version_label,
        effective_date=effective_date,
        version_of=version_of,
    )


@router.get("/v1/jobs/{job_id}", responses={404: {"description": "No such job"}})
def get_job(job_id: str, user: CurrentUser, jobs: JobsDep) -> Job:
    """An upload job's status, file by file (the submitter's own jobs; admins see all)."""
    return uploads.job_for(jobs, job_id, user)


@router.get(
    "/v1/collections/{name}/documents", responses={404: {"description": "No such collection"}}
)
def list_documents(
    config: ReadableCollection, user: CurrentUser, settings: SettingsDep, components: ComponentsDep
) -> DocumentList:
    """Documents the caller may read, with status, chunks, versions and flags; documents
    that failed to index are listed (with the reason) for those who may add documents."""
    return documents.list_documents(config, user, settings, components)


@router.get(
    "/v1/collections/{name}/documents/{document_id}",
    responses={404: {"description": "No such document"}},
)
def get_document(
    config: ReadableCollection,
    document_id: str,
    user: CurrentUser,
    settings: SettingsDep,
    components: ComponentsDep,
) -> DocumentInfo:
    """One document with its versions."""
    return documents.get_document(config, document_id, user, settings, components)


@router.delete(
    "/v1/collections/{name}/documents/{document_id}",
    responses={
        403: {"description": "Not allowed"},
        404: {"description": "No such document"},
        409: {"description": "The collection is being reindexed; try again after Retry-After"},
    },
)
def delete_document(
    config: ReadableCollection,
    document_id: str,
    user: CurrentUser,
    settings: SettingsDep,
    components: ComponentsDep,
    gate: WriteGateDep,
) -> Deleted:
    """Delete every version of a document: all its points leave Qdrant, and its uploaded
    files are removed (409 while the collection is being reindexed)."""
    with gate.writing(config.name):
        return documents.delete_document(config, document_id, user, settings, components)
