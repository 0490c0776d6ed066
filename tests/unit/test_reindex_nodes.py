"""What ``kura reindex`` rebuilds from a stored payload (ingest/reindex.py): chunks written
before ``document_language`` existed get their version's language, read from its whole text,
so the copy's translated keyword search reaches them; the field is never embedded."""

from __future__ import annotations

import pytest
from llama_index.core.schema import MetadataMode, TextNode

from ingest.reindex import with_document_language

pytestmark = pytest.mark.unit


def chunk(text: str, **metadata: object) -> TextNode:
    return TextNode(
        text=text,
        metadata={"title": "手順書", "language": "en", **metadata},
        excluded_embed_metadata_keys=["language"],
        excluded_llm_metadata_keys=["title", "language"],
    )


def test_chunks_without_it_get_the_language_of_their_versions_whole_text() -> None:
    # an English listing inside a Japanese manual: its chunk is English, its document not
    nodes = [
        chunk("設定ファイルを編集してから、サービスを再起動します。", language="ja"),
        chunk("Edit the configuration file, then restart the service."),
    ]
    with_document_language(nodes)
    assert [n.metadata["document_language"] for n in nodes] == ["ja", "ja"]
    for node in nodes:
        assert "document_language" not in node.get_content(MetadataMode.EMBED)
        assert "title: 手順書" in node.get_content(MetadataMode.EMBED)  # what was embedded is
        assert "document_language" in node.excluded_embed_metadata_keys
        assert "document_language" in node.excluded_llm_metadata_keys


def test_chunks_written_with_it_keep_theirs() -> None:
    nodes = [chunk("Edit the configuration file.", document_language="en")]
    with_document_language(nodes)
    assert nodes[0].metadata["document_language"] == "en"
    assert "document_language" not in nodes[0].excluded_embed_metadata_keys
    english = [chunk("Edit the configuration file."), chunk("Then restart the service.")]
    with_document_language(english)
    assert {n.metadata["document_language"] for n in english} == {"en"}
