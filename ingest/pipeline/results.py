"""What an ingestion run reports, file by file, and how a file is asked to be versioned."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Status(StrEnum):
    """What happened to one file."""

    INDEXED = "indexed"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass
class FileResult:
    """The outcome for one file."""

    source: str
    status: Status
    chunks: int = 0
    reason: str | None = None
    document_id: str | None = None
    seconds: float = 0.0


@dataclass
class IngestReport:
    """The outcome of one ingestion run."""

    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: Status) -> int:
        """Files that ended with ``status``."""
        return sum(1 for r in self.results if r.status is status)

    @property
    def chunks(self) -> int:
        """Chunks written in this run."""
        return sum(r.chunks for r in self.results if r.status is Status.INDEXED)

    @property
    def failed(self) -> list[FileResult]:
        """Files that could not be indexed, with their reasons."""
        return [r for r in self.results if r.status is Status.FAILED]


@dataclass(frozen=True)
class VersionSpec:
    """Ingest a document as a labelled version, kept beside the document's other versions.

    Without one, a changed file replaces the unlabelled version of its own document. An empty
    ``label`` with a ``document_id`` replaces the unlabelled version of that document (an
    upload whose document was chosen by who may read what).
    """

    label: str
    effective: date | None = None  # default: the day it is ingested
    document_id: str | None = None  # the document this is a version of; default: the source's
