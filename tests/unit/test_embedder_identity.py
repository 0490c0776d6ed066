"""The embedder identity rules, and how copies built by `kura reindex` are named and hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.embedding import onnx_export
from ingest.embedding.identity import (
    INT8,
    INT8_RECIPES,
    EmbedderIdentity,
    compatible,
    configured,
    default_runtime,
    family_of,
    legacy,
    runtime_for,
)
from ingest.settings import PACKAGED_EMBED_MODEL, IndexSettings
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


def settings(**given: object) -> IndexSettings:
    return IndexSettings(_env_file=None, **given)  # type: ignore[call-arg]


def local(runtime: str | None, model: str = PACKAGED_EMBED_MODEL) -> EmbedderIdentity:
    return EmbedderIdentity("local", model, 384, runtime=runtime)


def test_the_runtime_is_recorded_and_read_back() -> None:
    ours = configured(settings(), 384, "onnx-int8")
    assert ours.record() == {
        "backend": "local",
        "model": PACKAGED_EMBED_MODEL,
        "dimension": 384,
        "runtime": "onnx-int8",
    }
    assert EmbedderIdentity.from_record(ours.record()) == ours
    assert ours.describe() == "local packaged:all-MiniLM-L6-v2 (384 dimensions, onnx-int8)"
    # Ollama runs its own model: no local runtime is recorded, whatever the setting says
    remote = configured(settings(embed_backend="ollama", embed_model="bge-m3"), 1024, "onnx")
    assert remote.runtime is None
    assert "runtime" not in remote.record()


def test_torch_and_onnx_are_one_family_int8_another() -> None:
    assert compatible(local("torch"), local("onnx"))
    assert compatible(local("onnx"), local("torch"))
    assert not compatible(local("torch"), local("onnx-int8"))
    assert not compatible(local("onnx-int8"), local("onnx"))
    # recorded before runtimes were (torch was the only default then): fp32
    assert compatible(MINILM, local("onnx"))
    assert not compatible(MINILM, local("onnx-int8"))
    assert not compatible(legacy(384), local("onnx-int8"))
    assert compatible(legacy(384), local("onnx"))


def test_each_int8_recipe_is_a_family_of_its_own() -> None:
    # the first recipe kept attention and the FFN's down projection fp32: other vectors
    assert compatible(local("onnx-int8.2"), local("onnx-int8.2"))
    assert not compatible(local("onnx-int8"), local("onnx-int8.2"))
    assert not compatible(local("onnx-int8.2"), local("onnx-int8"))
    assert not compatible(local("onnx-int8.2"), local("onnx"))
    # a recipe of a later kura is not taken for one this kura knows, nor for fp32
    for ours in ("onnx-int8", "onnx-int8.2", "onnx", "torch"):
        assert not compatible(local("onnx-int8.9"), local(ours))


def test_auto_gives_new_collections_int8_and_keeps_each_collection_in_its_family() -> None:
    auto = settings()
    assert auto.embed_runtime == "auto"
    assert default_runtime(auto) == INT8 == "onnx-int8.2"
    assert runtime_for(auto, None) == INT8  # a new collection: the current int8 recipe
    assert runtime_for(auto, local(INT8)) == INT8
    # a collection made by the first int8 recipe keeps being embedded by it
    assert runtime_for(auto, local("onnx-int8")) == "onnx-int8"
    # a recipe this kura does not know: the default, which the check then refuses
    assert runtime_for(auto, local("onnx-int8.9")) == INT8
    # fp32 collections are served by ONNX Runtime's fp32 copy: torch's vectors, faster
    assert runtime_for(auto, local("torch")) == "onnx"
    assert runtime_for(auto, MINILM) == "onnx"
    assert runtime_for(auto, legacy(384)) == "onnx"
    # another backend: nothing to choose, the check refuses it
    assert runtime_for(auto, BGE) == INT8


def test_a_model_of_ones_own_defaults_to_torch_and_keeps_an_int8_collection_int8() -> None:
    own = settings(embed_model="/models/e5-small")
    assert default_runtime(own) == "torch"
    assert runtime_for(own, None) == "torch"
    assert runtime_for(own, local("onnx", "/models/e5-small")) == "torch"
    assert runtime_for(own, local("onnx-int8", "/models/e5-small")) == "onnx-int8"
    assert runtime_for(own, local(INT8, "/models/e5-small")) == INT8


def test_an_explicit_runtime_is_used_as_it_is() -> None:
    for runtime in ("torch", "onnx"):
        chosen = settings(embed_runtime=runtime)
        assert default_runtime(chosen) == runtime
        assert runtime_for(chosen, local("onnx-int8")) == runtime
        assert runtime_for(chosen, local(INT8)) == runtime
        assert runtime_for(chosen, local("torch")) == runtime
    # onnx-int8: the current recipe, and an int8 collection by the recipe it was made with
    int8 = settings(embed_runtime="onnx-int8")
    assert default_runtime(int8) == runtime_for(int8, None) == INT8
    assert runtime_for(int8, local("onnx-int8")) == "onnx-int8"
    assert runtime_for(int8, local(INT8)) == INT8
    assert runtime_for(int8, local("torch")) == INT8
    assert runtime_for(int8, local("onnx-int8.9")) == INT8
    # so that the check sees the mismatch (the 409 naming `kura reindex`)
    ours = configured(settings(embed_runtime="torch"), 384, "torch")
    assert not compatible(local("onnx-int8"), ours)


def test_ollama_has_no_runtime() -> None:
    remote = settings(embed_backend="ollama", embed_model="bge-m3")
    assert default_runtime(remote) is None
    assert runtime_for(remote, BGE) is None
    assert runtime_for(remote, local("onnx-int8")) is None
    assert compatible(BGE, configured(remote, 1024, runtime_for(remote, BGE)))


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


def test_every_int8_recipe_a_collection_can_record_can_be_made(tmp_path: Path) -> None:
    assert tuple(onnx_export.RECIPES) == INT8_RECIPES  # the names, in their order, oldest first
    assert INT8_RECIPES[-1] == INT8
    files = {onnx_export.installed_path(tmp_path, str(tmp_path), r) for r in INT8_RECIPES}
    families = {family_of(r) for r in INT8_RECIPES}
    assert len(files) == len(families) == len(INT8_RECIPES)  # each its own model file, family
    assert "fp32" not in families
