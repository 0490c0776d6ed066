"""Stores for tests without the model: components with the fake embedder, synthetic chunks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

from ingest.components import Components, build_components
from ingest.schema import chunk_id
from ingest.settings import IndexSettings
from tests.support.embedder import DIMENSION, HashEmbedding


def fake(data_dir: Path, **settings: object) -> Components:
    """Components on ``data_dir`` with the fake embedder: no model to load."""
    return build_components(
        IndexSettings(_env_file=None, data_dir=data_dir, **settings),  # type: ignore[call-arg,arg-type]
        embedder=HashEmbedding(),
    )


def vector(seed: int) -> list[float]:
    """A random unit vector of the fake embedder's dimension, the same for the same seed."""
    v = np.random.default_rng(seed).standard_normal(DIMENSION)
    return (v / np.linalg.norm(v)).tolist()


def node(doc: str, version: str, index: int, *, page: int, lang: str, seed: int) -> TextNode:
    """Chunk ``index`` of a version of a document, embedded as ``vector(seed)``."""
    n = TextNode(
        id_=chunk_id(doc, version, index),
        text=f"{doc} v{version} chunk {index} 本文",
        metadata={
            "document_id": doc,
            "document_version": version,
            "chunk_index": index,
            "page_start": page,
            "language": lang,
            "allowed_groups": ["legal", "all"],
        },
        embedding=vector(seed),
    )
    n.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc)
    return n
