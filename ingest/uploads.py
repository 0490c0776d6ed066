"""Where uploaded originals live: ``<data_dir>/uploads/<collection>/<version>/<name>``.

The original bytes are kept (so nothing uploaded is lost before it is indexed, and citations
can be checked against them), filed under the collection and their content sha256: one folder
per version, so a version's files go together when the last document holding those bytes goes.
An upload streams into ``uploads/.staging`` first and is moved into place only once whole.
Everything here is owner-only (0700 folders, 0600 files). This module is the one place that
knows the layout: the API, the citation check and the backup all ask it.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from ingest.private import private_dir

UPLOADS = "uploads"
"""The uploads folder's name inside the data dir (and inside a backup archive)."""
_STAGING = ".staging"


def uploads_dir(data_dir: Path) -> Path:
    """The folder of every collection's originals (not created here)."""
    return data_dir / UPLOADS


def collection_dir(data_dir: Path, collection: str) -> Path:
    """The folder of one collection's originals (not created here)."""
    return uploads_dir(data_dir) / collection


def version_dir(data_dir: Path, collection: str, version: str) -> Path:
    """The folder of the originals with content hash ``version`` (not created here)."""
    return collection_dir(data_dir, collection) / version


def original_path(data_dir: Path, collection: str, version: str, name: str) -> Path:
    """Where an uploaded document's original bytes are kept."""
    return version_dir(data_dir, collection, version) / name


def staging_file(data_dir: Path) -> Path:
    """A fresh path in the (private) staging folder for an upload being received."""
    staging = private_dir(private_dir(uploads_dir(data_dir)) / _STAGING)
    return staging / f"{uuid.uuid4().hex}.part"


def keep_original(staged: Path, data_dir: Path, collection: str, version: str, name: str) -> Path:
    """Move a whole staged upload to its place (folders made owner-only); returns that place."""
    final = original_path(data_dir, collection, version, name)
    private_dir(private_dir(collection_dir(data_dir, collection)) / version)
    staged.replace(final)
    return final


def find_original(data_dir: Path, version: str) -> Path | None:
    """An uploaded original with content hash ``version``, in any collection, or None."""
    for candidate in uploads_dir(data_dir).glob(f"*/{version}/*"):
        if candidate.is_file():
            return candidate
    return None


def remove_version(data_dir: Path, collection: str, version: str) -> None:
    """Remove the originals of one version (when no document holds those bytes any more)."""
    shutil.rmtree(version_dir(data_dir, collection, version), ignore_errors=True)


def remove_collection(data_dir: Path, collection: str) -> None:
    """Remove every original of a collection."""
    shutil.rmtree(collection_dir(data_dir, collection), ignore_errors=True)
