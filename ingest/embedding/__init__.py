"""The embedders kura can use, one module each, chosen once from the settings here.

``local``: the packaged sentence-transformers model (or a local model directory) on the CPU;
``ollama``: a model served by Ollama's /api/embed (``KURA_EMBED_BACKEND=ollama``).
Every embedder is a llama-index ``BaseEmbedding``; nothing here fetches from a hub.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding

    from ingest.embedding.breaker import HostBreaker
    from ingest.settings import IndexSettings


def build_embedder(
    settings: IndexSettings, runtime: str | None = None, breaker: HostBreaker | None = None
) -> BaseEmbedding:
    """The embedder the settings name (imported only now: the model stacks are heavy); a local
    model run by ``runtime`` (None: what a new collection gets). ``breaker``: what the process
    knows of Ollama's embedding host (None: the embedder keeps its own)."""
    if settings.embed_backend == "ollama":
        from ingest.embedding.ollama import build_ollama_embedder

        return build_ollama_embedder(settings, breaker)
    from ingest.embedding.local import build_local_embedder

    return build_local_embedder(settings, runtime)
