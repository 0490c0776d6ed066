"""The stand-in's /api/embed: deterministic vectors, and Ollama's answers, read from its source.

Vectors are a hashed bag of features (Latin words, single CJK characters and CJK character
bigrams, so Japanese texts that share words are near), seeded by the model's name (two models
never share a space, as two real ones do not), L2-normalised as Ollama normalises every vector.

Ollama's behaviours (server/routes.go EmbedHandler; handleScheduleError):
- a model not pulled: 404 ``model "x" not found, try pulling it first``;
- ``input`` neither a string nor a list of strings: 400 ``invalid input type``; empty: 200, [];
- a model that does not embed is refused after loading: v0.12.6's runner answers 501 and the
  handler 500 ``this model does not support embeddings`` (runner/ollamarunner/runner.go:938,
  server/routes.go:606-746); from v0.30 llama-server answers 501 ``This server does not support
  embeddings. Start it with `--embeddings``` and Ollama passes it on (llm/llama_server.go
  Embedding, normalizeEmbeddingError);
- a text longer than the context (min(num_ctx, the model's), less BOS and EOS) is cut to it
  unless ``truncate`` is false: then 400, ``input exceeds maximum context length`` (v0.12.6)
  or ``the input length exceeds the context length`` (v0.30+);
- ``dimensions`` below the vector's length cuts it and normalises it again.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

_WORDS = re.compile(r"[0-9a-z]+")
# The stand-in's tokens (as ollama_standin.tokens): words, single CJK characters, punctuation.
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]|[A-Za-z0-9]+|[^\sA-Za-z0-9]")
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]+")
DEFAULT_NUM_CTX = 4096  # api.DefaultOptions NumCtx: a request without options.num_ctx
_SPECIAL_TOKENS = 2  # BOS and EOS the runner adds (adjustTokenLimit)


@dataclass(frozen=True)
class Refusal:
    """An error answer: status and Ollama's message."""

    status: int
    message: str


def _llama_server_era(version: str) -> bool:
    major, minor = (int(x) for x in version.split(".")[:2])
    return (major, minor) >= (0, 30)


def features(text: str) -> list[str]:
    """What the stand-in's embedding counts: words, CJK characters and CJK bigrams."""
    lowered = text.lower()
    found = _WORDS.findall(lowered)
    for run in _CJK_RUN.findall(lowered):
        found.extend(run)
        found.extend(run[i : i + 2] for i in range(len(run) - 1))
    return found or [""]


def normalise(values: list[float]) -> list[float]:
    """``values`` scaled to length 1 (Ollama's normalize)."""
    norm = math.sqrt(sum(v * v for v in values))
    return [v / max(norm, 1e-12) for v in values]


def vector(model: str, text: str, dimension: int) -> list[float]:
    """The embedding of ``text`` by ``model``: the same in every process and run."""
    values = [0.0] * dimension
    # Each feature lands once in every nested prefix (32, 64, ... dimensions), as models trained
    # for ``dimensions`` (Matryoshka) keep meaning in a vector's head.
    prefixes = [n for n in (32, 64, 128, 256, 512, 1024, 2048) if n < dimension] + [dimension]
    for feature in features(text):
        for size in prefixes:
            key = f"{model}\x00{size}\x00{feature}".encode()
            digest = hashlib.blake2b(key, digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % size
            values[index] += 1.0 if digest[4] & 1 else -1.0
    return normalise(values)


def _inputs(raw: Any) -> list[str] | Refusal:
    if isinstance(raw, str):
        return [raw] if raw else []
    if isinstance(raw, list):
        if not all(isinstance(x, str) for x in raw):
            return Refusal(400, "invalid input type")
        return list(raw)
    if raw is not None:
        return Refusal(400, "invalid input type")
    return []


def embed(
    body: dict[str, Any],
    *,
    dimensions: dict[str, int],
    chat_models: list[str],
    context_length: int,
    version: str,
) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of Ollama's answer to /api/embed ``body``. ``dimensions``: the
    embedding models pulled and their vector sizes; ``chat_models``: the others pulled."""
    model = str(body.get("model", ""))
    texts = _inputs(body.get("input"))
    if isinstance(texts, Refusal):
        return texts.status, {"error": texts.message}
    if model not in dimensions and model not in chat_models:
        return 404, {"error": f'model "{model}" not found, try pulling it first'}
    if not texts:
        return 200, {"model": model, "embeddings": []}
    if model not in dimensions:
        if _llama_server_era(version):
            message = "This server does not support embeddings. Start it with `--embeddings`"
            return 501, {"error": message}
        return 500, {"error": "this model does not support embeddings"}
    num_ctx = int((body.get("options") or {}).get("num_ctx") or DEFAULT_NUM_CTX)
    limit = min(num_ctx, context_length) - _SPECIAL_TOKENS
    truncate = body.get("truncate", True) is not False
    vectors, counted = [], 0
    for text in texts:
        spans = list(_TOKEN.finditer(text))
        if len(spans) > limit:
            if not truncate:
                if _llama_server_era(version):
                    return 400, {"error": "the input length exceeds the context length"}
                return 400, {"error": "input exceeds maximum context length"}
            text = text[: spans[limit - 1].end()]  # the detokenized head: what the model reads
            spans = spans[:limit]
        counted += len(spans)
        embedded = vector(model, text, dimensions[model])
        wanted = int(body.get("dimensions") or 0)
        if 0 < wanted < len(embedded):
            embedded = normalise(embedded[:wanted])
        vectors.append(embedded)
    answer = {
        "model": model,
        "embeddings": vectors,
        "total_duration": 1_000_000,
        "load_duration": 1000,
        "prompt_eval_count": counted,
    }
    return 200, answer


def show(model: str, dimension: int, context_length: int) -> dict[str, Any]:
    """/api/show of an embedding model, as Ollama answers for bge-m3 (a BERT encoder)."""
    return {
        "modelfile": "",
        "parameters": "",
        "template": "",
        "details": {"family": "bert", "parameter_size": "566.70M", "quantization_level": "F16"},
        "model_info": {
            "general.architecture": "bert",
            "bert.context_length": context_length,
            "bert.embedding_length": dimension,
            "bert.pooling_type": 2,
        },
        "capabilities": ["embedding"],
    }
