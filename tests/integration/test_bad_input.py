"""Bad files are reported with a reason naming them; good files next to them still index."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from ingest.components import Components
from ingest.pipeline import Indexer, Status
from tests.support.corpus import SAMPLES, build_corpus

pytestmark = pytest.mark.integration

PDF = SAMPLES / "debian-reference-en-package-management.pdf"


def encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(PDF))
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad")
    good = build_corpus(tmp_path_factory.mktemp("good"))
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "corrupt.pdf").write_bytes(PDF.read_bytes()[:5000])
    (folder / "locked.pdf").write_bytes(encrypted_pdf())
    (folder / "random.txt").write_bytes(os.urandom(20_000))
    (folder / "noise.txt").write_bytes(bytes(range(1, 32)) * 500)  # control bytes, no NULs
    shutil.copy(good / "hx400-manual.docx", folder / "actually-a-docx.pdf")
    shutil.copy(good / "guide.html", folder / "guide.html")
    shutil.copy(SAMPLES / "apache-license-2.0.txt", folder / "license.txt")
    return folder


def test_folder_with_bad_files_still_indexes_the_good_ones(
    bad_folder: Path, components: Components
) -> None:
    report = Indexer(components, "bad").ingest_paths([bad_folder])
    status = {Path(r.source).name: r for r in report.results}

    assert status["guide.html"].status is Status.INDEXED
    assert status["license.txt"].status is Status.INDEXED
    # A DOCX named .pdf is read by its content.
    assert status["actually-a-docx.pdf"].status is Status.INDEXED

    reasons = {name: (r.reason or "") for name, r in status.items() if r.status is Status.FAILED}
    assert set(reasons) == {"empty.pdf", "corrupt.pdf", "locked.pdf", "random.txt", "noise.txt"}
    assert "empty" in reasons["empty.pdf"]
    assert "password protected" in reasons["locked.pdf"]
    assert "binary" in reasons["random.txt"]
    assert "binary" in reasons["noise.txt"]
    assert reasons["corrupt.pdf"]  # truncated: unreadable or without text, but never silent
    for result in report.failed:
        assert result.source.endswith(Path(result.source).name)  # reported under its own path


def test_docx_named_pdf_is_searchable_as_docx(bad_folder: Path, components: Components) -> None:
    Indexer(components, "renamed").ingest_file(bad_folder / "actually-a-docx.pdf")
    nodes = components.vector_store("renamed").get_nodes()
    assert nodes
    assert all(n.metadata["doc_type"] == "docx" for n in nodes)


def test_oversize_file_is_refused_by_size(tmp_path: Path, components: Components) -> None:
    components.settings.max_file_mb = 0.001
    big = tmp_path / "big.txt"
    big.write_text("text " * 1000, encoding="utf-8")
    result = Indexer(components, "big").ingest_file(big)
    assert result.status is Status.FAILED
    assert "limit" in (result.reason or "")


def test_a_zip_from_an_unknown_zip_version_gets_a_clear_reason(
    tmp_path: Path, components: Components
) -> None:
    """A damaged header field ("version needed to extract") made zipfile raise
    NotImplementedError: the file failed with "internal error"."""
    data = bytearray((build_corpus(tmp_path / "good") / "spare-parts.xlsx").read_bytes())
    directory = data.index(b"PK\x01\x02")  # the first central directory entry
    data[directory + 6 : directory + 8] = (184).to_bytes(2, "little")  # "zip file version 18.4"
    result = Indexer(components, "bad").ingest_bytes(bytes(data), "flipped.xlsx")
    assert result.status is Status.FAILED
    assert "zip file version 18.4" in (result.reason or "")
    assert "internal error" not in (result.reason or "")
