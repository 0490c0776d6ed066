"""The first search by meaning measures an Ollama model's dimension (one /api/embed) to check the
collection was embedded by it; a host slow to answer that must not hold up the searches that do
not need it (keywords, in English and Japanese), which share the store's lock."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.retrieve import retrieve_hits
from ingest.components import build_components
from ingest.errors import KuraError
from ingest.pipeline import Indexer
from tests.support.ollama_collections import ollama_settings, standin, wait_for

pytestmark = pytest.mark.integration

MANUALS = {
    "pump-check.txt": "Check the pump pressure every Monday before the night shift.",
    "点検手順.txt": "新しい点検手順は来月から適用する。冷却水の圧力を毎週確認する。",
}
EMBED_TIMEOUT = 5.0  # how long the hung host holds the first search by meaning


@pytest.mark.parametrize(
    ("query", "name"), [("pump pressure", "pump-check.txt"), ("冷却水の圧力", "点検手順.txt")]
)
def test_keyword_searches_go_on_while_the_dimension_probe_waits(
    tmp_path: Path, query: str, name: str
) -> None:
    folder = tmp_path / "manuals"
    folder.mkdir()
    for file, text in MANUALS.items():
        (folder / file).write_text(text, encoding="utf-8")
    with standin(0) as ollama:
        settings = ollama_settings(
            tmp_path, "edge", ollama.url, embed_languages="*", embed_timeout=EMBED_TIMEOUT
        )
        indexing = build_components(settings)
        try:
            assert Indexer(indexing, "manuals").ingest_paths([folder]).failed == []
        finally:
            indexing.close()
        components = build_components(settings)  # a new process: nothing measured yet
        try:
            ollama.state.hang = True
            asked = len(ollama.state.requests)
            failed: list[Exception] = []

            def by_meaning() -> None:
                try:
                    retrieve_hits(components, "manuals", query, 3, mode="dense")
                except KuraError as exc:
                    failed.append(exc)

            probe = threading.Thread(target=by_meaning)
            probe.start()
            wait_for(lambda: len(ollama.state.requests) > asked, "the dimension probe")
            hits = retrieve_hits(components, "manuals", query, 3, mode="sparse")
            # answered while the probe still waits for the hung host (on main: after it)
            assert probe.is_alive()
            assert [Path(h.passage.source).name for h in hits][:1] == [name]
            probe.join(timeout=4 * EMBED_TIMEOUT)
            assert failed, "the search by meaning should fail: its host hangs"
        finally:
            components.close()
