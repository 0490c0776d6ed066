"""What embedded a collection, recorded with the collection itself, and the check against it.

A collection's dense vectors mean something only to the model that made them: a query embedded
by another model (even of the same length) ranks nonsense, one of another length fails inside
Qdrant. So every collection carries the identity of its embedder (backend, model, dimension,
and the multilingual model if one adds a vector), stored in the Qdrant collection (a server's
collection metadata; an Edge shard's ``kura-embedder.json``) so that it moves with the data
through an alias swap, a backup and a restore. ``Components`` compares it with the configured
embedder before writing or searching by meaning, and refuses with ``EmbedderMismatch``.

Collections made before identities were recorded carry none: only the local embedder existed
then, so such a collection is taken as made by a local model of its stored dimension.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ingest.settings import IndexSettings

RECORD_KEY = "kura_embedder"  # the key of the record in a collection's metadata
RECORD_FILE = "kura-embedder.json"  # the record's file in an Edge shard's folder
UNRECORDED = "a local model (made before kura recorded embedders)"


@dataclass(frozen=True)
class EmbedderIdentity:
    """What embeds (or embedded) a collection's dense vectors."""

    backend: str  # "local" | "ollama"
    model: str  # KURA_EMBED_MODEL: the packaged model, a model folder, an Ollama model name
    dimension: int
    multilingual: str | None = None  # a second dense vector's model (i16-multi), if any

    def describe(self) -> str:
        """For messages: ``ollama bge-m3 (1024 dimensions)``."""
        text = f"{self.backend} {self.model} ({self.dimension} dimensions)"
        return text + (f" + multilingual {self.multilingual}" if self.multilingual else "")

    def record(self) -> dict[str, Any]:
        """The identity as stored with the collection."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> EmbedderIdentity:
        """An identity read back (fields added later default)."""
        return cls(
            backend=str(record["backend"]),
            model=str(record["model"]),
            dimension=int(record["dimension"]),
            multilingual=record.get("multilingual"),
        )


def configured(settings: IndexSettings, dimension: int) -> EmbedderIdentity:
    """The identity of the embedder the settings name, whose vectors are ``dimension`` long."""
    return EmbedderIdentity(
        backend=settings.embed_backend, model=settings.embed_model, dimension=dimension
    )


def legacy(dimension: int) -> EmbedderIdentity:
    """What made a collection that carries no record: a local model, of its dimension."""
    return EmbedderIdentity(backend="local", model=UNRECORDED, dimension=dimension)


def compatible(recorded: EmbedderIdentity, ours: EmbedderIdentity) -> bool:
    """Whether ``ours`` may search and write a collection ``recorded`` made."""
    if recorded.model == UNRECORDED:
        # No name to compare: a local model of the same length is taken as the same one.
        return ours.backend == "local" and ours.dimension == recorded.dimension
    return (recorded.backend, recorded.model, recorded.dimension) == (
        ours.backend,
        ours.model,
        ours.dimension,
    )
