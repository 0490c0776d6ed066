"""kura's data is private to the user who runs it: folders 0700, files 0600.

The data folder holds the uploaded originals, the vector store (every chunk's text) and
kura.db (key hashes, the questions people asked). The folders are made owner-only explicitly,
which alone keeps other users out of everything below them; the ``kura`` command also sets a
umask of 077, so files the store writes are owner-only too.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) if needed and make it owner-only."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    try:
        path.chmod(DIR_MODE)
    except OSError as exc:  # not our folder: say so, do not fail
        logger.warning("cannot make %s private (mode 0700): %s", path, exc.strerror)
    return path


def private_file(path: Path) -> int:
    """Create ``path`` owner-only and open it for writing (it must not exist)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
