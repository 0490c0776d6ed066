"""The ONNX copy of a local sentence-transformers model: exported once, offline, into data/.

The copy is derived from the model directory on this machine (torch exports it, ONNX Runtime's
transformer optimizer fuses attention, GELU and layer norms), so it is a cache, keyed by the
model's files. ``kura models export`` writes it once at install or image build into the
installation's models folder (``KURA_MODELS_DIR``), which every data folder reads; without
one, it is written under ``<data_dir>/models/`` on first use, and rebuilt there when missing or
unreadable. Nothing is fetched from a hub.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tempfile
import warnings
from pathlib import Path

from ingest.errors import KuraError

logger = logging.getLogger(__name__)

# The int8 recipes, oldest first: a collection records the one it was made with, and these
# names are identity.INT8_RECIPES, so a recipe cannot be recorded without a way to make it.
# Each is what ONNX Runtime's dynamic quantizer makes int8: the ops it quantizes and the
# MatMuls it leaves fp32. The first (onnx-int8, 2026-11-29) kept the FFN's down projection
# fp32 (its GELU inputs span a wide range: most of int8's cosine error), and the fused
# Attention op's projections were not quantized at all, so 58% of the multiply-adds stayed
# fp32. Quantizing them too (QAttention) doubles torch's speed with nDCG@10 still
# within 1% (benchmarks/embedding_speed.py; README, "Embedding speed").
RECIPES: dict[str, tuple[list[str], re.Pattern[str] | None]] = {
    "onnx-int8": (["MatMul"], re.compile(r"/layer\.\d+/output/dense/MatMul$")),
    "onnx-int8.2": (["MatMul", "Attention"], None),
}


class OnnxModelError(KuraError):
    """The ONNX copy of the embedding model cannot be built or loaded."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"ONNX embedding model {path}: {reason} (set KURA_EMBED_RUNTIME=torch to embed "
            "with the model directory directly)"
        )
        self.path = path


def model_key(model_dir: str) -> str:
    """A short name for the model directory's current files (changes when they change)."""
    digest = hashlib.sha256(str(Path(model_dir).resolve()).encode())
    for path in sorted(Path(model_dir).rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return f"{Path(model_dir).name}-{digest.hexdigest()[:16]}"


def installed_path(models_dir: Path, model_dir: str, runtime: str) -> Path:
    """Where the ONNX copy of ``model_dir`` for ``runtime`` (onnx, or an int8 recipe) lives
    in a models folder: ``model.onnx``, ``model-int8.onnx``, ``model-int8.2.onnx``."""
    name = "model.onnx" if runtime == "onnx" else f"model-{runtime.removeprefix('onnx-')}.onnx"
    return models_dir / model_key(model_dir) / name


def onnx_path(data_dir: Path, model_dir: str, runtime: str) -> Path:
    """Where the ONNX copy of ``model_dir`` lives under ``data_dir`` (made on first use)."""
    return installed_path(data_dir / "models", model_dir, runtime)


def export(model_dir: str, target: Path, runtime: str) -> Path:
    """Write the ONNX copy of ``model_dir`` for ``runtime`` (onnx, or an int8 recipe) to
    ``target`` (atomically: a crash leaves none)."""
    if runtime != "onnx" and runtime not in RECIPES:
        raise OnnxModelError(target, f"no such ONNX runtime: {runtime}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        raw = Path(tmp) / "raw.onnx"
        fused = Path(tmp) / "fused.onnx"
        _export_torch(model_dir, raw)
        _fuse(model_dir, raw, fused)
        final = fused
        if runtime in RECIPES:
            final = Path(tmp) / "int8.onnx"
            _quantize(fused, final, runtime)
        final.replace(target)
    logger.info("exported the ONNX embedding model to %s", target)
    return target


def _export_torch(model_dir: str, out: Path) -> None:
    import torch
    from transformers import AutoModel

    # Eager attention exports as plain MatMul/Softmax, which the optimizer fuses into one op.
    bert = AutoModel.from_pretrained(
        model_dir, attn_implementation="eager", local_files_only=True
    ).eval()

    class _Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.b = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.b(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones(2, 8, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter (the dynamo one needs onnxscript) warns that it is legacy
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Hidden().eval(),
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(out),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def _fuse(model_dir: str, raw: Path, out: Path) -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((Path(model_dir) / "config.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(config["num_attention_heads"]),
            hidden_size=int(config["hidden_size"]),
            opt_level=1,
        )
    model.save_model_to_file(str(out))


def _quantize(fused: Path, out: Path, recipe: str) -> None:
    import onnx

    ops, fp32 = RECIPES[recipe]
    graph = onnx.load(str(fused), load_external_data=False).graph
    keep = [n.name for n in graph.node if fp32 and n.op_type == "MatMul" and fp32.search(n.name)]
    # ONNX Runtime's quantizer logs advice through the root logger, which would configure
    # logging for the whole process (logging.basicConfig) if nothing had: a handler stops that.
    # Its advice ("consider pre-processing") is logged to the root logger itself: dropped.
    root = logging.getLogger()
    quiet = logging.NullHandler()
    root.addHandler(quiet)
    root.addFilter(_drop)
    try:
        _quantize_dynamic(fused, out, ops, keep)
    finally:
        root.removeFilter(_drop)
        root.removeHandler(quiet)


def _drop(record: logging.LogRecord) -> bool:
    return False


def _quantize_dynamic(fused: Path, out: Path, ops: list[str], keep: list[str]) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fused),
        str(out),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=ops,
        per_channel=True,
        # 7-bit weights: AVX2 without VNNI multiplies u8 x s8 pairs into int16, which can overflow
        reduce_range=True,
        nodes_to_exclude=keep,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
