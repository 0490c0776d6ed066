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

A local model's vectors also depend on what runs it (``KURA_EMBED_RUNTIME``): torch and ONNX
Runtime in fp32 compute the same vectors (cosine > 0.9999), int8 weights others (~0.98), and
each int8 recipe its own. So the runtime is recorded too and compared by family (``fp32``, or
the int8 recipe: ``int8``, ``int8.2``); a collection recorded before runtimes were (torch was
the only default then) is fp32. With ``auto`` every collection is served by a runtime of its
own family (``runtime_for``), a new one by the default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ingest.embedding.onnx_export import RECIPES
from ingest.settings import PACKAGED_EMBED_MODEL, IndexSettings

RECORD_KEY = "kura_embedder"  # the key of the record in a collection's metadata
RECORD_FILE = "kura-embedder.json"  # the record's file in an Edge shard's folder
UNRECORDED = "a local model (made before kura recorded embedders)"
FP32_RUNTIMES = ("torch", "onnx")  # the same vectors: one family, fp32
# The int8 recipes, oldest first: those onnx_export makes. A collection keeps the one it was
# made with. onnx-int8 (2026-11-29): attention and the FFN's down projection kept fp32, 1.56x
# torch's speed; onnx-int8.2: every projection int8, 2x and more (README, "Embedding speed").
INT8_RECIPES = tuple(RECIPES)
INT8 = INT8_RECIPES[-1]  # what KURA_EMBED_RUNTIME=onnx-int8 (and auto) gives a new collection


@dataclass(frozen=True)
class EmbedderIdentity:
    """What embeds (or embedded) a collection's dense vectors."""

    backend: str  # "local" | "ollama"
    model: str  # KURA_EMBED_MODEL: the packaged model, a model folder, an Ollama model name
    dimension: int
    multilingual: str | None = None  # a second dense vector's model (i16-multi), if any
    runtime: str | None = None  # local: torch | onnx | an int8 recipe (None: recorded before)

    @property
    def family(self) -> str | None:
        """``fp32`` or the int8 recipe for a local model (unrecorded runtime: fp32); None
        otherwise."""
        return family_of(self.runtime) if self.backend == "local" else None

    def describe(self) -> str:
        """For messages: ``ollama bge-m3 (1024 dimensions)``, ``local m (384 dimensions, onnx)``."""
        runtime = f", {self.runtime}" if self.runtime else ""
        text = f"{self.backend} {self.model} ({self.dimension} dimensions{runtime})"
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
            runtime=record.get("runtime"),
        )


def family_of(runtime: str | None) -> str:
    """The family of a local model's ``runtime``: ``fp32`` (torch, onnx, and a runtime
    recorded before runtimes were), else its own (``int8``, ``int8.2``; a recipe this kura does
    not know is a family of its own, so it is never mistaken for one it knows)."""
    if runtime is None or runtime in FP32_RUNTIMES:
        return "fp32"
    return runtime.removeprefix("onnx-")


def default_runtime(settings: IndexSettings) -> str | None:
    """What runs the local model for a new collection (None: Ollama embeds). ``auto``: int8 for
    the packaged model, whose int8 quality was measured (README, "Embedding speed"); torch for a
    model directory of one's own, which may not export to ONNX or keep its quality in int8."""
    if settings.embed_backend != "local":
        return None
    if settings.embed_runtime == "onnx-int8":
        return INT8
    if settings.embed_runtime != "auto":
        return settings.embed_runtime
    return INT8 if settings.embed_model == PACKAGED_EMBED_MODEL else "torch"


def runtime_for(settings: IndexSettings, recorded: EmbedderIdentity | None) -> str | None:
    """What runs the local model for a collection ``recorded`` made (None: a new collection).
    With ``auto``, a runtime of the recorded family, so that a collection keeps its vectors'
    family without the user doing anything; an explicit runtime is used as it is (and checked),
    except that ``onnx-int8`` serves an int8 collection by the recipe it was made with."""
    runtime = default_runtime(settings)
    if runtime is None or recorded is None or recorded.family in (None, family_of(runtime)):
        return runtime
    known_int8 = recorded.runtime in INT8_RECIPES
    if known_int8 and (runtime in INT8_RECIPES or settings.embed_runtime == "auto"):
        return recorded.runtime
    if settings.embed_runtime != "auto" or recorded.family != "fp32":
        return runtime  # another family, or a recipe this kura does not know: refused
    # fp32: ONNX Runtime computes torch's vectors faster, and needs no torch in the process
    return "onnx" if settings.embed_model == PACKAGED_EMBED_MODEL else "torch"


def configured(
    settings: IndexSettings, dimension: int, runtime: str | None = None
) -> EmbedderIdentity:
    """The identity of the embedder the settings name, whose vectors are ``dimension`` long,
    run by ``runtime`` (a local model's; None: Ollama's)."""
    return EmbedderIdentity(
        backend=settings.embed_backend,
        model=settings.embed_model,
        dimension=dimension,
        runtime=runtime if settings.embed_backend == "local" else None,
    )


def legacy(dimension: int) -> EmbedderIdentity:
    """What made a collection that carries no record: a local model, of its dimension."""
    return EmbedderIdentity(backend="local", model=UNRECORDED, dimension=dimension)


def compatible(recorded: EmbedderIdentity, ours: EmbedderIdentity) -> bool:
    """Whether ``ours`` may search and write a collection ``recorded`` made."""
    if recorded.model == UNRECORDED:
        # No name to compare: a local model of the same length is taken as the same one.
        same = ours.backend == "local" and ours.dimension == recorded.dimension
    else:
        same = (recorded.backend, recorded.model, recorded.dimension) == (
            ours.backend,
            ours.model,
            ours.dimension,
        )
    # int8 vectors rank fp32 ones ~1% worse (and the reverse): one family per collection
    return same and recorded.family == ours.family
