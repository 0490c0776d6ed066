"""The embedded store (Qdrant Edge) only: it survives a reopen, and a second process is told
clearly that the store is in use. The contract both stores share is test_store_contract.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core.vector_stores.types import VectorStoreQuery

from tests.support.stores import fake, node, vector

pytestmark = pytest.mark.integration


def test_embedded_store_survives_reopen(tmp_path: Path) -> None:
    first = fake(tmp_path)
    first.vector_store("persist", create=True).add(
        [node("d", "a", i, page=1, lang="en", seed=i) for i in range(10)]
    )
    first.close()
    second = fake(tmp_path)
    try:
        assert second.collection_exists("persist")
        store = second.vector_store("persist")
        assert store.count() == 10
        top = store.query(VectorStoreQuery(query_embedding=vector(7), similarity_top_k=1))
        assert top.nodes[0].metadata["chunk_index"] == 7
    finally:
        second.close()


def test_embedded_store_refuses_a_second_process_clearly(tmp_path: Path) -> None:
    import subprocess
    import sys

    holder = fake(tmp_path)
    holder.vector_store("locked", create=True).add([node("d", "a", 0, page=1, lang="en", seed=1)])
    try:
        code = (
            "from pathlib import Path\n"
            "from tests.support.stores import fake\n"
            f"fake(Path({str(tmp_path)!r})).vector_store('locked').count()"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=Path(__file__).parents[2],
        )
        assert result.returncode != 0
        assert "in use by another kura process" in result.stderr
    finally:
        holder.close()
