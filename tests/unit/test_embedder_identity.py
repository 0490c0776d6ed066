"""The embedder identity rules, and how copies built by `kura reindex` are named and hidden."""

from __future__ import annotations

import pytest

from ingest.embedding.identity import EmbedderIdentity, compatible, legacy
from ingest.stores.backends import generation, visible_names

pytestmark = pytest.mark.unit

MINILM = EmbedderIdentity("local", "packaged:all-MiniLM-L6-v2", 384)
BGE = EmbedderIdentity("ollama", "bge-m3", 1024)


def test_only_the_same_backend_model_and_dimension_are_compatible() -> None:
    assert compatible(BGE, EmbedderIdentity("ollama", "bge-m3", 1024))
    assert not compatible(BGE, EmbedderIdentity("ollama", "bge-m3", 512))  # dimensions
    assert not compatible(BGE, EmbedderIdentity("ollama", "bge-large", 1024))
    assert not compatible(MINILM, EmbedderIdentity("ollama", "all-minilm", 384))


def test_a_collection_without_a_record_was_made_by_a_local_model_of_its_length() -> None:
    old = legacy(384)
    assert compatible(old, MINILM)
    assert compatible(old, EmbedderIdentity("local", "/models/e5-small", 384))
    assert not compatible(old, EmbedderIdentity("local", "/models/e5-base", 768))
    assert not compatible(old, EmbedderIdentity("ollama", "all-minilm", 384))


def test_a_record_reads_back_and_leaves_room_for_the_multilingual_model() -> None:
    assert EmbedderIdentity.from_record(BGE.record()) == BGE
    assert "multilingual" not in BGE.record()
    both = EmbedderIdentity("local", "packaged:all-MiniLM-L6-v2", 384, multilingual="e5-small")
    assert EmbedderIdentity.from_record(both.record()) == both
    assert both.describe() == (
        "local packaged:all-MiniLM-L6-v2 (384 dimensions) + multilingual e5-small"
    )


def test_copies_are_numbered_from_what_serves_now() -> None:
    assert generation("kura_manuals", "kura_manuals") == "kura_manuals__1"
    assert generation("kura_manuals", "kura_manuals__1") == "kura_manuals__2"
    assert generation("kura_manuals", "kura_other__7") == "kura_manuals__1"


def test_copies_serve_under_their_collections_name_only() -> None:
    physical = ["kura_a__2", "kura_a__3", "kura_b", "kura_b__1", "kura_c__4", "kura_x_y"]
    shown = visible_names(physical, {"kura_a": "kura_a__2"})
    # kura_a__3: a stopped reindex's copy; kura_b__1: the next copy of kura_b, being built;
    # kura_c__4: no collection kura_c, so a collection of that name of its own
    assert shown == ["kura_a", "kura_b", "kura_c__4", "kura_x_y"]
