"""Shards, replicas and write consistency reach Qdrant when kura creates a collection on a server.

qdrant-client's local mode drops these parameters, so the requests go over real HTTP to
``tests/support/qdrant_recorder.py``, which keeps each body and answers from local mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from ingest.schema import DENSE_VECTOR, SPARSE_VECTOR, qdrant_collection
from ingest.settings import CollectionLayout, IndexSettings
from ingest.stores import ServerBackend, build_backend
from tests.support.qdrant_recorder import QdrantRecorder

pytestmark = pytest.mark.integration

LAYOUT_FIELDS = ("shard_number", "replication_factor", "write_consistency_factor")


@pytest.fixture
def recorder() -> Iterator[QdrantRecorder]:
    with QdrantRecorder() as server:
        yield server


def _settings(tmp_path: Path, url: str, **layout: int) -> IndexSettings:
    return IndexSettings(_env_file=None, data_dir=tmp_path, qdrant_url=url, **layout)  # type: ignore[call-arg]


def test_settings_read_the_layout_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KURA_QDRANT_SHARDS", "6")
    monkeypatch.setenv("KURA_QDRANT_REPLICATION", "2")
    monkeypatch.setenv("KURA_QDRANT_WRITE_CONSISTENCY", "2")
    settings = IndexSettings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.collection_layout == CollectionLayout(6, 2, 2)
    for name in ("SHARDS", "REPLICATION", "WRITE_CONSISTENCY"):
        monkeypatch.delenv(f"KURA_QDRANT_{name}")
    default = IndexSettings(_env_file=None)  # type: ignore[call-arg]
    assert default.collection_layout == CollectionLayout(None, None, None)


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({"qdrant_replication": 2, "qdrant_write_consistency": 3}, r"\(3\).*\(2\)"),
        ({"qdrant_write_consistency": 2}, r"\(2\).*\(1\)"),
        ({"qdrant_shards": 0}, "qdrant_shards"),
        ({"qdrant_replication": 0}, "qdrant_replication"),
    ],
)
def test_impossible_layouts_are_refused(layout: dict[str, int], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        IndexSettings(_env_file=None, **layout)  # type: ignore[call-arg]


def test_a_new_collection_is_created_with_the_layout(
    tmp_path: Path, recorder: QdrantRecorder
) -> None:
    settings = _settings(
        tmp_path, recorder.url, qdrant_shards=6, qdrant_replication=2, qdrant_write_consistency=2
    )
    backend = build_backend(settings)
    assert isinstance(backend, ServerBackend)
    name = qdrant_collection(settings.qdrant_collection_prefix, "manuals")
    try:
        backend.create(name, lambda: 384)
        assert backend.exists(name)
    finally:
        backend.close()
    [create] = recorder.state.creates()
    assert create.path == f"/collections/{name}"
    assert create.body is not None
    assert {k: create.body[k] for k in LAYOUT_FIELDS} == {
        "shard_number": 6,
        "replication_factor": 2,
        "write_consistency_factor": 2,
    }
    # the same request still carries kura's vectors
    assert create.body["vectors"][DENSE_VECTOR] == {"size": 384, "distance": "Cosine"}
    assert create.body["sparse_vectors"][SPARSE_VECTOR]["modifier"] == "idf"
    indexed = [r for r in recorder.state.requests if r.path.endswith("/index")]
    assert indexed, "payload indexes were not created"


def test_unset_layout_leaves_qdrant_its_defaults(tmp_path: Path, recorder: QdrantRecorder) -> None:
    backend = build_backend(_settings(tmp_path, recorder.url, qdrant_replication=3))
    try:
        backend.create("kura_contracts", lambda: 384)
    finally:
        backend.close()
    [create] = recorder.state.creates()
    assert create.body is not None
    assert create.body["replication_factor"] == 3
    # unset: not sent at all, so a cluster picks one shard per node and one write ack
    assert create.body.get("shard_number") is None
    assert create.body.get("write_consistency_factor") is None


def test_an_existing_collection_is_not_created_again(
    tmp_path: Path, recorder: QdrantRecorder
) -> None:
    first = build_backend(_settings(tmp_path, recorder.url, qdrant_shards=2))
    try:
        first.create("kura_manuals", lambda: 384)
    finally:
        first.close()
    # A later start with another layout opens the collection as it is: Qdrant fixes
    # shard_number at creation (docs/scale-out.md says how to change replicas afterwards).
    second = build_backend(_settings(tmp_path, recorder.url, qdrant_shards=8))
    try:
        second.create("kura_manuals", lambda: 384)
    finally:
        second.close()
    [create] = recorder.state.creates()
    assert create.body is not None
    assert create.body["shard_number"] == 2
