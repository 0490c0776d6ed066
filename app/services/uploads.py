"""Uploads over HTTP: names made safe, bytes streamed to disk, the job submitted; job status.

The bytes are kept before the API answers 202 (``ingest.uploads`` owns where), so an accepted
upload survives restarts; the job runner (``app.jobs``) indexes them in the background.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import unicodedata
from datetime import date
from pathlib import Path, PurePosixPath

from fastapi import HTTPException, UploadFile
from pydantic import BaseModel

from app.job_store import Job, Upload
from app.jobs import JobRunner
from app.keys import User
from app.policy import may_see_job, reader_groups
from app.settings import AppSettings
from app.write_access import visible_document
from ingest.components import Components
from ingest.errors import EmbedderUnavailable
from ingest.pipeline import VersionSpec
from ingest.private import private_file
from ingest.uploads import keep_original, staging_file

logger = logging.getLogger(__name__)

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


async def save(
    upload: UploadFile, name: str, collection: str, settings: AppSettings
) -> tuple[Path, str] | str:
    """Stream the upload to disk under its content hash; returns (path, version) or why not.

    The staging file never outlives the call: it becomes the stored original or is removed.
    Originals and their folders are owner-only (0600 / 0700).
    """
    limit = int(settings.max_file_mb * 1024 * 1024)
    temp = staging_file(settings.data_dir)
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
        return keep_original(temp, settings.data_dir, collection, version, name), version
    except OSError as exc:
        logger.error("cannot store the upload %s: %s", name, exc.strerror)
        return f"could not be stored ({exc.strerror})"
    finally:
        temp.unlink(missing_ok=True)


async def accept(
    collection: str,
    files: list[UploadFile],
    *,
    user: User,
    settings: AppSettings,
    components: Components,
    runner: JobRunner,
    groups: str | None = None,
    version_label: str | None = None,
    effective_date: date | None = None,
    version_of: str | None = None,
) -> UploadAccepted:
    """Save the files the caller (who may write to ``collection``) uploaded and queue them."""
    uploader = reader_groups(user, settings)
    spec = None
    if version_label or effective_date or version_of:
        if not version_label or len(files) != 1:
            raise HTTPException(422, detail="a version needs version_label and exactly one file")
        if version_of and visible_document(components, collection, version_of, uploader) is None:
            raise HTTPException(404, detail="no such document")
        spec = VersionSpec(version_label, effective_date, version_of)
    await asyncio.to_thread(_same_embedder, components, collection)
    reader = tuple(g.strip() for g in (groups or "").split(",") if g.strip()) or None
    uploads: list[Upload] = []
    rejected: list[Rejected] = []
    for upload in files:
        clean = safe_name(upload.filename)
        if clean is None:
            rejected.append(Rejected(file=upload.filename or "", reason="no usable file name"))
            continue
        saved = await save(upload, clean, collection, settings)
        if isinstance(saved, str):
            rejected.append(Rejected(file=clean, reason=saved))
            continue
        uploads.append(Upload(clean, saved[0], reader, spec, uploader))
    job = runner.submit(collection, user.name, uploads)
    return UploadAccepted(job_id=job.id, accepted=[u.name for u in uploads], rejected=rejected)


def _same_embedder(components: Components, collection: str) -> None:
    """Raise EmbedderMismatch (409, naming `kura reindex`) when ``collection`` was embedded by
    another embedder than the configured one: its files could never be indexed."""
    try:
        components.check_embedder(collection)
    except EmbedderUnavailable:
        # The embedder is down: the upload is kept and queued, and the worker meets the
        # embedder (and this check) again when it indexes.
        logger.warning("could not check the embedder of %s before an upload", collection)


def job_for(runner: JobRunner, job_id: str, user: User) -> Job:
    """The job, if the caller may see it (404 otherwise, as for a job that does not exist)."""
    job = runner.get(job_id)
    if job is None or not may_see_job(user, job.user):
        raise HTTPException(404, detail="no such job")
    if user.admin:
        # the reason naming the host (an embedding host that is down), as public_detail does
        for entry in job.files:
            entry.reason = entry.detail or entry.reason
    return job
