"""Ingestion of every supported type into embedded Qdrant with the packaged model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.components import Components
from ingest.payload import PAYLOAD_FIELDS
from ingest.pipeline import Indexer, IngestReport, Status
from tests.support.corpus import JA_CONTRACT_SENTENCES
from tests.support.server import COLLECTION, make_settings

pytestmark = pytest.mark.integration


class Point:
    """A stored chunk as the tests look at it: id and payload (text included)."""

    def __init__(self, node) -> None:
        self.id = node.node_id
        self.payload = {**node.metadata, "text": node.get_content()}


def all_points(components: Components, collection: str) -> list[Point]:
    if not components.collection_exists(collection):
        return []
    return [Point(n) for n in components.vector_store(collection).get_nodes()]


@pytest.fixture(scope="module")
def index(indexed: tuple[Path, IngestReport]):
    from ingest.components import build_components

    data_dir, report = indexed
    components = build_components(make_settings(data_dir))
    yield components, report
    components.close()


def by_file(points: list[Point], name: str) -> list[dict]:
    found = [p.payload for p in points if p.payload and Path(p.payload["source"]).name == name]
    assert found, f"no chunks for {name}"
    return sorted(found, key=lambda p: p["chunk_index"])


def test_every_type_is_indexed(index) -> None:
    _, report = index
    assert report.failed == []
    names = {Path(r.source).name for r in report.results if r.status is Status.INDEXED}
    assert names >= {
        "debian-reference-en-package-management.pdf",
        "debian-reference-ja-package-management.pdf",
        "apache-license-2.0.txt",
        "hx400-manual.docx",
        "safety-briefing.pptx",
        "spare-parts.xlsx",
        "guide.html",
        "changelog.md",
        "firmware-notice.eml",
        "保守契約.txt",
    }


def test_payload_schema(index) -> None:
    components, _ = index
    for point in all_points(components, COLLECTION):
        assert point.payload is not None
        missing = [f for f in PAYLOAD_FIELDS if f not in point.payload]
        assert not missing, missing


def test_structure_pages_and_sections_are_kept(index) -> None:
    components, _ = index
    points = all_points(components, COLLECTION)

    docx_chunks = by_file(points, "hx400-manual.docx")
    fault = next(c for c in docx_chunks if "E-417" in _text(c))
    assert fault["section"] == "HX-400 Maintenance Manual > Fault codes"
    assert fault["title"] == "HX-400 Maintenance Manual"
    torque = next(c for c in docx_chunks if "48 Nm" in _text(c))
    assert torque["section"].endswith("Torque values")
    assert torque["page_start"] == 2  # after the page break

    slides = by_file(points, "safety-briefing.pptx")
    daily = next(c for c in slides if "hydraulic oil" in _text(c))
    assert daily["page_start"] == 2

    pdf = by_file(points, "debian-reference-en-package-management.pdf")
    assert {c["page_start"] for c in pdf} >= {1, 2, 3, 4, 5, 6}
    assert any(c["section"].startswith("2.2") for c in pdf)

    mail = by_file(points, "firmware-notice.eml")
    assert mail[0]["title"] == "Firmware update for HX-400"

    sheet = by_file(points, "spare-parts.xlsx")
    assert any("HX-7731" in _text(c) for c in sheet)


def test_japanese_documents(index) -> None:
    components, _ = index
    points = all_points(components, COLLECTION)

    contract = by_file(points, "保守契約.txt")  # Shift_JIS on disk
    assert all(c["language"] == "ja" for c in contract)
    clause1 = [c for c in contract if c["section"] == "第1条(目的)"]
    assert len(clause1) >= 2, "clause 1 is longer than the model reads and must be split"
    for chunk in clause1:
        assert _text(chunk).endswith("。")
    body = "".join(_text(c) for c in clause1)
    for sentence in JA_CONTRACT_SENTENCES:
        assert sentence in body  # no sentence was cut or lost

    ja_pdf = by_file(points, "debian-reference-ja-package-management.pdf")
    assert any("パッケージ" in _text(c) for c in ja_pdf)
    assert all(c["page_start"] is not None for c in ja_pdf)


def test_chunks_fit_the_embedding_model(index) -> None:
    from llama_index.core.schema import MetadataMode

    components, _ = index
    from ingest.pipeline import to_nodes  # noqa: F401  (the embedded text is title + section + text)

    for point in all_points(components, COLLECTION):
        payload = point.payload or {}
        embedded = f"{payload['title']}\n{payload['section']}\n{_text(payload)}"
        assert components.count_tokens(embedded) <= components.max_tokens - 2, embedded[:80]
    assert MetadataMode.EMBED  # the mode the pipeline embeds with


def test_reingest_writes_nothing_and_changes_replace(
    tmp_path: Path, components: Components
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    doc = folder / "notes.md"
    doc.write_text("# Notes\n\nThe pump runs at 1200 rpm.\n", encoding="utf-8")
    shutil.copy(Path(__file__).parents[2] / "data/samples/apache-license-2.0.txt", folder)
    indexer = Indexer(components, "sync")

    first = indexer.ingest_paths([folder])
    assert first.count(Status.INDEXED) == 2
    before = {p.id for p in all_points(components, "sync")}

    second = indexer.ingest_paths([folder])
    assert second.count(Status.UNCHANGED) == 2
    assert second.chunks == 0
    assert {p.id for p in all_points(components, "sync")} == before

    doc.write_text("# Notes\n\nThe pump now runs at 1500 rpm.\n", encoding="utf-8")
    third = indexer.ingest_paths([folder])
    assert third.count(Status.INDEXED) == 1
    assert third.count(Status.UNCHANGED) == 1
    points = all_points(components, "sync")
    notes = [p.payload for p in points if p.payload and p.payload["source"].endswith("notes.md")]
    texts = " ".join(_text(p) for p in notes)
    assert "1500 rpm" in texts
    assert "1200 rpm" not in texts
    assert len({p["document_version"] for p in notes}) == 1
    keys = [(p.payload["document_id"], p.payload["chunk_index"]) for p in points if p.payload]
    assert len(keys) == len(set(keys)), "duplicate chunks"


def test_half_written_version_is_redone(tmp_path: Path, components: Components) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text("First sentence here. " * 200, encoding="utf-8")
    indexer = Indexer(components, "partial")
    assert indexer.ingest_file(doc).status is Status.INDEXED
    points = all_points(components, "partial")
    # 200 four-token sentences: a handful of ~200-token chunks, not one chunk per sentence
    assert 3 <= len(points) <= 8
    # Simulate a crash mid-upsert: one chunk of the version is missing.
    components.vector_store("partial").delete_nodes(node_ids=[points[0].id])
    redo = indexer.ingest_file(doc)
    assert redo.status is Status.INDEXED
    assert len(all_points(components, "partial")) == len(points)


def test_delete_document_removes_every_point(tmp_path: Path, components: Components) -> None:
    doc = tmp_path / "gone.txt"
    doc.write_text("Temporary document about spindle oil. " * 100, encoding="utf-8")
    indexer = Indexer(components, "del")
    result = indexer.ingest_file(doc)
    removed = indexer.delete_document(str(doc.resolve()))
    assert removed == result.chunks > 0
    assert all_points(components, "del") == []


def _text(payload: dict) -> str:
    return str(payload["text"])


def test_parallel_ingestion_gives_the_same_index(tmp_path: Path, corpus: Path) -> None:
    from ingest.components import build_components

    results = {}
    for workers in (1, 2):
        components = build_components(make_settings(tmp_path / f"w{workers}"))
        try:
            report = Indexer(components, "par").ingest_paths([corpus], workers=workers)
            assert report.failed == []
            points = all_points(components, "par")
            results[workers] = sorted((p.id, p.payload["text"]) for p in points)
        finally:
            components.close()
    assert results[1] == results[2]
    assert len(results[2]) > 50


def test_unchanged_run_removes_versions_left_by_an_interrupted_run(
    tmp_path: Path, components: Components
) -> None:
    from ingest.pipeline import prepare_document, to_nodes
    from ingest.schema import document_id

    doc = tmp_path / "notes.md"
    doc.write_text("# Notes\n\nOld text about the pump.\n", encoding="utf-8")
    indexer = Indexer(components, "interrupted")
    indexer.ingest_file(doc)
    # A run that wrote the new version and stopped before deleting the old one:
    doc.write_text("# Notes\n\nNew text about the pump.\n", encoding="utf-8")
    source = str(doc.resolve())
    prepared = prepare_document(doc.read_bytes(), source, indexer.options)
    nodes = to_nodes(
        prepared.chunks,
        prepared.parsed,
        doc_id=document_id("interrupted", source),
        version=prepared.version,
        source=source,
        doc_type=prepared.doc_type,
    )
    indexer.embed(nodes)
    indexer.write(nodes)
    assert {p.payload["document_version"] for p in all_points(components, "interrupted")} != {
        prepared.version
    }
    assert indexer.ingest_file(doc).status is Status.UNCHANGED
    texts = [p.payload["text"] for p in all_points(components, "interrupted")]
    assert texts
    assert all("New text" in t for t in texts)


def test_reading_a_collection_never_creates_it(tmp_path: Path) -> None:
    """A typo in a collection name, read through the library, leaves no phantom collection
    behind: not in the store, not in kura.db, not in /v1/collections or /v1/models."""
    from ingest.components import build_components
    from tests.support.server import LiveServer

    settings = make_settings(tmp_path)
    doc = tmp_path / "規程.txt"
    doc.write_text("第1条 この規程は、ポンプの点検について定める。\n", encoding="utf-8")
    components = build_components(settings)
    try:
        assert Indexer(components, "real").ingest_file(doc).status is Status.INDEXED
        typo = Indexer(components, "typo")
        assert typo.documents() == {}
        assert typo.versions("nothing") == []
        assert not typo.is_indexed("nothing", "0" * 64)
        assert typo.delete_by_id("nothing") == 0
        assert components.collections() == ["real"]
        assert components.registry.collection("typo") is None
    finally:
        components.close()
    with LiveServer(settings) as client:
        listed = client.get("/v1/collections")
        assert listed.status_code == 200
        assert [c["name"] for c in listed.json()] == ["real"]
        models = client.get("/v1/models").json()["data"]
        assert [m["id"] for m in models] == ["kura:real"]
