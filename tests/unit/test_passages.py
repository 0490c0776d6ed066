"""Passages from stored chunks: the API's fields only, the payload kept beside them."""

from __future__ import annotations

import pytest
from llama_index.core.schema import BaseNode, TextNode
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

from app.passages import Passage, hit_from_node
from ingest.payload import ChunkPayload

pytestmark = pytest.mark.unit

API_FIELDS = [
    "n",
    "chunk_id",
    "document_id",
    "document_version",
    "chunk_index",
    "source",
    "title",
    "section",
    "page_start",
    "page_end",
    "text",
    "score",
    "context",
    "clause",
    "references",
    "role",
    "via",
    "version_label",
    "effective_date",
    "verified",
    "verification",
]


def stored(payload: ChunkPayload, text: str) -> BaseNode:
    """A node as a store gives it back: written with llama-index's payload layout, read again."""
    node = TextNode(id_="c-1", text=text, metadata=payload.to_metadata())
    return metadata_dict_to_node(node_to_metadata_dict(node, remove_text=False))


def test_a_stored_chunk_becomes_a_passage_and_its_payload() -> None:
    payload = ChunkPayload(
        document_id="d-1",
        document_version="sha",
        source="/契約/保守契約.txt",
        title="業務委託契約書",
        section="第3条（支払）",
        chunk_index=2,
        clause="第3条第2項",
        clauses=("第3条", "第3条第2項"),
        references=("第2条",),
        defines=("遅延損害金",),
        terms=("保守業務",),
        version_label="2026年版",
        effective_date="2026-04-01",
        valid_from=20260401,
    )
    text = "前項の支払が遅れた場合、甲は年3%の遅延損害金を支払う。"
    hit = hit_from_node(stored(payload, text), 4, 0.5)
    assert hit.payload == payload
    passage = hit.passage
    assert (passage.n, passage.chunk_id, passage.text, passage.score) == (4, "c-1", text, 0.5)
    assert (passage.clause, passage.references) == ("第3条第2項", ["第2条"])
    assert (passage.version_label, passage.section) == ("2026年版", "第3条（支払）")


def test_the_api_shows_only_its_own_fields() -> None:
    passage = Passage(
        n=1, chunk_id="c", document_id="d", source="s", title="t", section="", text="x", score=0
    )
    assert list(passage.model_dump()) == API_FIELDS
    assert list(Passage.model_fields) == API_FIELDS  # nothing private rides along
