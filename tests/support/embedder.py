"""A deterministic embedder that needs no model: hashed word (and CJK character) features.

Texts that share words get close vectors, so search ranks the way a test expects without
loading all-MiniLM-L6-v2; the same text always gets the same vector, in every process.
"""

from __future__ import annotations

import hashlib
import math
import re

from llama_index.core.base.embeddings.base import BaseEmbedding

DIMENSION = 384  # as all-MiniLM-L6-v2, so collections made with either look the same
# Latin words, or single kana / ideographs (Japanese has no spaces between words).
_FEATURES = re.compile(r"[0-9a-z]+|[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


class HashEmbedding(BaseEmbedding):
    """Unit vectors of hashed features, ``embed_dim`` long; reads ``max_length`` tokens as the
    packaged model does (what ``Components.max_tokens`` reports)."""

    embed_dim: int = DIMENSION
    max_length: int = 256

    @classmethod
    def class_name(cls) -> str:
        return "HashEmbedding"

    def vector(self, text: str) -> list[float]:
        """The embedding of ``text``."""
        values = [0.0] * self.embed_dim
        for feature in _FEATURES.findall(text.lower()) or [""]:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.embed_dim
            values[index] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        return [v / norm for v in values]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.vector(text)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.vector(query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self.vector(text)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self.vector(query)
