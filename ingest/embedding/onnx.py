"""The local model on ONNX Runtime, in length-sorted batches (``KURA_EMBED_RUNTIME=onnx``).

Same vectors as the sentence-transformers path (same tokenizer, mean or CLS pooling, unit
length), computed by the fused ONNX copy of the model (``onnx_export``; int8 weights for an
int8 recipe). Texts are embedded longest first so each batch pads to a similar length, in
batches of at most ``TOKENS_PER_RUN`` word pieces, and returned in the caller's order.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from ingest.embedding.onnx_export import OnnxModelError, export

if TYPE_CHECKING:
    from numpy.typing import NDArray

logger = logging.getLogger(__name__)

# llama-index hands the embedder at most this many texts per call: all of a store batch, so
# sorting by length sees the whole batch, not 32 texts at a time.
_WHOLE_CALL = 2048
# Word pieces per run of the model (rows x padded length): a run's activations then stay in
# the cores' caches. Measured on manual chunks (~170 word pieces each, 2 cores): 4 chunks a
# run embed 15% (fp32) to 25% (int8) more per second than 32; 512 to 4,096 differ by < 7%.
TOKENS_PER_RUN = 1024


def _pooling(model_dir: Path) -> str:
    """``mean`` or ``cls``: how the model's sentence-transformers config pools tokens."""
    config_file = model_dir / "1_Pooling" / "config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    if config.get("pooling_mode_cls_token"):
        return "cls"
    if config and not config.get("pooling_mode_mean_tokens"):
        raise OnnxModelError(config_file, "only mean or CLS pooling is supported")
    return "mean"


def _st_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "sentence_bert_config.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _tokenizer(model_dir: Path) -> tuple[Any, int]:
    """The model's fast tokenizer and the length it states. Read from tokenizer.json with the
    tokenizers library when there is one: transformers' AutoTokenizer imports torch (9 s and
    hundreds of MB), which an ONNX Runtime process otherwise never needs."""
    config_file = model_dir / "tokenizer_config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    if (model_dir / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        stated = int(config.get("model_max_length") or 512)
        return Tokenizer.from_file(str(model_dir / "tokenizer.json")), stated
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    return tokenizer.backend_tokenizer, int(tokenizer.model_max_length)


class OnnxEmbedding(BaseEmbedding):
    """A local sentence-transformers model run by ONNX Runtime on the CPU."""

    model_dir: str
    onnx_file: str
    max_length: int
    batch: int
    _session: Any = PrivateAttr()
    _tokenizer: Any = PrivateAttr()
    _pooling: str = PrivateAttr()
    _lower: bool = PrivateAttr()

    def __init__(
        self,
        model_dir: str,
        onnx_file: Path,
        *,
        batch: int,
        runtime: str,
        installed: Path | None = None,
    ) -> None:
        """``runtime``: onnx, or an int8 recipe; ``batch``: the most texts in one run;
        ``installed``: a copy exported at install, used when readable; else ``onnx_file``
        (exported first when missing)."""
        config = _st_config(Path(model_dir))
        backend, stated = _tokenizer(Path(model_dir))
        max_length = int(config.get("max_seq_length") or stated)
        super().__init__(
            model_name=f"{model_dir} ({runtime})",
            embed_batch_size=_WHOLE_CALL,
            model_dir=model_dir,
            onnx_file=str(onnx_file),
            max_length=max_length,
            batch=batch,
        )
        backend.no_padding()
        backend.enable_truncation(max_length)
        self._tokenizer = backend
        self._lower = bool(config.get("do_lower_case"))
        self._pooling = _pooling(Path(model_dir))
        self._session = open_if_readable(installed) if installed is not None else None
        if self._session is None:
            self._session = _open(model_dir, onnx_file, runtime)
        else:
            self.onnx_file = str(installed)

    @classmethod
    def class_name(cls) -> str:
        return "OnnxEmbedding"

    def embed(self, texts: list[str]) -> NDArray[np.float32]:
        """Unit-length vectors of ``texts``, in their order (computed longest first)."""
        # sentence-transformers strips (and lowercases when its config says so): same input
        cleaned = [t.strip().lower() if self._lower else t.strip() for t in texts]
        encodings = self._tokenizer.encode_batch(cleaned)
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        out = np.empty((len(texts), 0), np.float32)
        start = 0
        while start < len(order):
            longest = max(1, len(encodings[order[start]].ids))
            rows = order[start : start + max(1, min(self.batch, TOKENS_PER_RUN // longest))]
            start += len(rows)
            vectors = self._run([encodings[i] for i in rows])
            if out.shape[1] == 0:
                out = np.empty((len(texts), vectors.shape[1]), np.float32)
            out[rows] = vectors
        return out

    def _run(self, encodings: list[Any]) -> NDArray[np.float32]:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        hidden = self._session.run(None, feed)[0]
        if self._pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def _get_query_embedding(self, query: str) -> list[float]:
        return [float(x) for x in self.embed([query])[0]]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return [float(x) for x in self.embed([text])[0]]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts).tolist()


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One graph, one op at a time: the intra-op pool (one thread per physical core, ONNX
    # Runtime's default) does the work; a second pool would only compete for the same cores.
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def open_if_readable(path: Path) -> Any:
    """The session on the install-time copy; None when there is none or it is unreadable (it
    may be read-only: the data folder's own copy is used instead)."""
    if not path.is_file():
        return None
    try:
        return _session(path)
    except Exception as error:  # noqa: BLE001  (any load failure: the data folder's copy)
        logger.warning("ONNX embedding model %s is unreadable (%s): not used", path, error)
        return None


def _open(model_dir: str, path: Path, runtime: str) -> Any:
    """The session on ``path``: exported first when missing, rebuilt once when unreadable."""
    if path.is_file():
        try:
            return _session(path)
        except Exception as error:  # noqa: BLE001  (any load failure: rebuild the cache)
            logger.warning(
                "ONNX embedding model %s is unreadable (%s): exporting it again", path, error
            )
    try:
        export(model_dir, path, runtime)
        return _session(path)
    except OnnxModelError:
        raise
    except Exception as error:  # torch, the optimizer or ORT: one clear error
        raise OnnxModelError(path, f"cannot be built from {model_dir}: {error}") from error
