"""Test copies of a data folder keep the embedded store's holes (tests/support/data_copy.py):
written out, each copy of the indexed corpus took ~320 MB of disk per store, and the suite's
copies filled a CI machine's disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.sparse import encode_documents, encode_queries
from ingest.stores.edge import EdgeVectorStore
from tests.support.data_copy import copy_data, on_disk

pytestmark = pytest.mark.integration


def test_a_copied_store_keeps_its_holes(tmp_path: Path) -> None:
    store = EdgeVectorStore.create(
        tmp_path / "data" / "qdrant" / "shard",
        dimension=384,
        keyword_fields=["document_id", "language"],
        multi_dimension=512,
        sparse_doc_fn=encode_documents,
        sparse_query_fn=encode_queries,
    )
    store.close()
    size, used = on_disk(tmp_path / "data")
    assert size > 100 * 2**20 > 10 * used  # preallocated pages, nearly all holes

    copied = copy_data(tmp_path / "data", tmp_path / "copy")
    assert on_disk(copied)[0] == size
    assert on_disk(copied)[1] <= 2 * used + 2**20

    written = Path(shutil.copytree(tmp_path / "data", tmp_path / "written"))
    assert on_disk(written)[1] > 10 * on_disk(copied)[1]  # why: copytree fills the holes
