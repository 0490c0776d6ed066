"""The first step of the per-file path: which files a run reads, and reading one within the
size limit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ingest.errors import DocumentError, DocumentTooLarge
from ingest.pipeline.results import FileResult, Status
from ingest.walk import walk


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named directly, and every file under named folders, skipping hidden ones and
    symbolic links (see ``ingest.walk``)."""
    yield from walk(paths).files


def load(path: Path, max_file_mb: float) -> tuple[bytes, str] | FileResult:
    """The file's bytes and its source (absolute path), or the failure to report."""
    source = str(path.resolve())
    try:
        size = path.stat().st_size
        limit = int(max_file_mb * 1024 * 1024)
        if size > limit:
            raise DocumentTooLarge(
                source,
                f"{size / 2**20:.1f} MiB is over the {max_file_mb} MiB limit",
            )
        return path.read_bytes(), source
    except DocumentError as exc:
        return FileResult(source, Status.FAILED, reason=exc.reason)
    except OSError as exc:
        return FileResult(source, Status.FAILED, reason=f"cannot read the file: {exc.strerror}")
