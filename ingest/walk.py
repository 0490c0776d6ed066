"""Which files a folder holds for ingestion: symbolic links and unusable names handled.

A folder walk does not follow symbolic links by default: a link to ``/etc/passwd`` (or to a
folder of someone else's documents) dropped into a shared folder would otherwise be indexed
and served to everyone who may read the collection. With ``follow_links``, links whose target
stays inside the folder are followed; links out of it never are. A file or folder named
directly on the command line is read even when it is a link: the user chose it.

File names that are not valid UTF-8 (possible on Linux, where a name is bytes) cannot be
stored or shown as text; such a file is reported by its name with the bad bytes escaped
(``bad\\xff.txt``), and the rest of the folder is still read.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.access import ACCESS_FILE

logger = logging.getLogger(__name__)

NOT_FOLLOWED = "symbolic link, not followed (--follow-links follows links inside the folder)"
OUTSIDE = "symbolic link to outside the folder, never followed"
BROKEN = "symbolic link to nothing"
BAD_NAME = "the file name is not valid UTF-8; rename the file to index it"


@dataclass(frozen=True)
class Skipped:
    """A file left out of the walk, with why."""

    source: str
    reason: str


@dataclass
class FolderWalk:
    """The files to ingest, the files left out, and the names that cannot be used."""

    files: list[Path] = field(default_factory=list)
    links: list[Skipped] = field(default_factory=list)
    bad_names: list[Skipped] = field(default_factory=list)


def shown(path: Path | str) -> str:
    """A path as printable text: bytes that are not UTF-8 escaped as ``\\xff``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def usable_name(path: Path) -> bool:
    """Whether the path is text (UTF-8), as every store and report needs it."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def walk(paths: Iterable[Path], *, follow_links: bool = False) -> FolderWalk:
    """Files named directly, and the files under named folders (hidden ones and
    ``kura-access.toml`` left out), in a stable order."""
    found = FolderWalk()
    for path in paths:
        if path.is_dir():
            root = path.resolve()
            _walk_folder(path, root, follow_links, {root}, found)
        else:
            _add(path, found)
    return found


def _add(path: Path, found: FolderWalk) -> None:
    if usable_name(path):
        found.files.append(path)
    else:
        logger.info("not indexed: %s: %s", shown(path), BAD_NAME)
        found.bad_names.append(Skipped(shown(path), BAD_NAME))


def _walk_folder(
    folder: Path, root: Path, follow: bool, seen: set[Path], found: FolderWalk
) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: os.fsencode(e.name))
    except OSError as exc:
        logger.warning("cannot list %s: %s", shown(folder), exc)
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if entry.is_symlink():
            target = _link_target(path, root, follow, found)
            if target is None:
                continue
            if target.is_dir():
                if target not in seen:  # a loop, or a folder already walked
                    _walk_folder(path, root, follow, seen | {target}, found)
            elif target.is_file() and entry.name != ACCESS_FILE:
                _add(path, found)
        elif entry.is_dir(follow_symlinks=False):
            _walk_folder(path, root, follow, seen | {path.resolve()}, found)
        elif entry.is_file(follow_symlinks=False) and entry.name != ACCESS_FILE:
            _add(path, found)


def _link_target(path: Path, root: Path, follow: bool, found: FolderWalk) -> Path | None:
    """The link's target when it may be followed; else None, with the link reported."""
    reason = NOT_FOLLOWED
    target = None
    if follow:
        target = path.resolve()
        if not target.exists():
            reason = BROKEN
        elif not target.is_relative_to(root):
            reason = OUTSIDE
        else:
            return target
    found.links.append(Skipped(shown(path), reason))
    return None
