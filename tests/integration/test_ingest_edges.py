"""Ingestion edges a hostile probe found: `kura ingest` on a folder with symbolic links and a
file name that is not UTF-8, what it leaves readable on disk, UTF-16 text without a byte
order mark, damaged office files, and PDFs whose text is the same lines on every page."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import docx
import pytest

from ingest.components import build_components
from ingest.pipeline import Indexer, IngestReport, Status
from tests.support.server import make_settings

pytestmark = pytest.mark.integration

KURA = [sys.executable, "-m", "app"]
JA = "保守契約書\n\n第1条（目的）\nこの契約は、甲が乙に対して工作機械の保守を委託する。\n"
EN = "Maintenance contract\n\nArticle 1. Error E-417 means the coolant is overheating.\n"
SECRET = "Payroll export: the salary of every employee, not for the document index."


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KURA, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("walk")
    outside = root / "outside"
    outside.mkdir()
    (outside / "payroll.txt").write_text(SECRET)
    docs = root / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "manual.txt").write_text(EN)
    (docs / "sub" / "契約.txt").write_text(JA)
    (docs / "passwd").symlink_to("/etc/passwd")
    (docs / "payroll-link.txt").symlink_to(outside / "payroll.txt")
    (docs / "contract-link.txt").symlink_to(docs / "sub" / "契約.txt")
    bad = os.fsencode(docs) + b"/bad\xff\xfe.txt"
    # os.open: pathlib cannot make a name that is not text
    descriptor = os.open(bad, os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(descriptor, b"A file whose name is not UTF-8.\n")
    os.close(descriptor)
    (docs / "zz-last.txt").write_text("Read after the badly named file: the run goes on.\n")
    return docs


def test_cli_reports_bad_names_and_follows_no_links(
    tree: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data_dir = tmp_path_factory.mktemp("walk-data")
    env = {**os.environ, "KURA_DATA_DIR": str(data_dir), "COLUMNS": "300"}
    first = run(["ingest", str(tree), "-c", "edges"], env)
    assert first.returncode == 3, first.stderr  # the badly named file failed
    assert "Traceback" not in first.stderr
    assert "3 indexed" in first.stderr, first.stderr  # manual, 契約, zz-last
    assert "1 failed" in first.stderr
    assert f"failed {tree}/bad\\xff\\xfe.txt: the file name is not valid UTF-8" in first.stderr
    for link in ("passwd", "payroll-link.txt", "contract-link.txt"):
        assert f"skipped {tree}/{link}: symbolic link, not followed" in first.stderr
    # Nothing kura wrote is readable by other users.
    for path in [data_dir, *data_dir.rglob("*")]:
        assert stat.S_IMODE(path.lstat().st_mode) & 0o077 == 0, path

    followed = run(["ingest", str(tree), "-c", "edges", "--follow-links"], env)
    # The link inside the folder is read, as the file it points to (its document: unchanged).
    assert "0 indexed" in followed.stderr, followed.stderr
    assert "4 unchanged" in followed.stderr
    assert "contract-link.txt" not in followed.stderr
    assert f"skipped {tree}/passwd: symbolic link to outside the folder" in followed.stderr
    assert f"skipped {tree}/payroll-link.txt: symbolic link to outside" in followed.stderr


def broken_docx() -> bytes:
    """A DOCX whose main part is cut in half: the archive is fine, the XML is not."""
    document = docx.Document()
    document.add_paragraph("保守契約 maintenance contract")
    whole = io.BytesIO()
    document.save(whole)
    source = zipfile.ZipFile(whole)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/document.xml":
                data = data[: len(data) // 2]
            target.writestr(item, data)
    return out.getvalue()


def stamped_pdf() -> bytes:
    """Four pages whose whole text layer is the same two lines (a stamped notice)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiKakuGo-W5"))
    out = io.BytesIO()
    page = canvas.Canvas(out)
    for _ in range(4):
        page.setFont("HeiseiKakuGo-W5", 14)
        page.drawString(72, 760, "社外秘 HX-400 保守手順書 第3版")
        page.setFont("Helvetica", 12)
        page.drawString(72, 740, "HX-400 maintenance procedure, revision 3, confidential")
        page.showPage()
    page.save()
    return out.getvalue()


@pytest.fixture(scope="module")
def edge_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("edge-files")
    for lang, text in (("ja", JA), ("en", EN)):
        for order in ("le", "be"):
            (folder / f"{lang}-utf16{order}.txt").write_bytes(text.encode(f"utf-16-{order}"))
    (folder / "ja-utf16le-no-extension").write_bytes(JA.encode("utf-16-le"))
    (folder / "broken.docx").write_bytes(broken_docx())
    (folder / "stamped.pdf").write_bytes(stamped_pdf())
    return folder


@pytest.fixture(scope="module")
def report(
    edge_files: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[IngestReport, dict[str, str]]:
    components = build_components(make_settings(tmp_path_factory.mktemp("edge-data")))
    try:
        result = Indexer(components, "edges").ingest_paths([edge_files])
        texts: dict[str, str] = {}
        stored = components.vector_store("edges").get_nodes() if result.chunks else []
        for node in stored:
            name = Path(node.metadata["source"]).name
            texts[name] = texts.get(name, "") + node.get_content()
    finally:
        components.close()
    return result, texts


def by_name(report: IngestReport) -> dict[str, tuple[Status, str | None]]:
    return {Path(r.source).name: (r.status, r.reason) for r in report.results}


def test_utf16_without_bom_is_indexed_as_text(report: tuple[IngestReport, dict[str, str]]) -> None:
    results, texts = report
    outcome = by_name(results)
    for name in (
        "ja-utf16le.txt",
        "ja-utf16be.txt",
        "en-utf16le.txt",
        "en-utf16be.txt",
        "ja-utf16le-no-extension",
    ):
        assert outcome[name][0] is Status.INDEXED, outcome[name]
    assert "工作機械の保守を委託する" in texts["ja-utf16be.txt"]
    assert "工作機械の保守を委託する" in texts["ja-utf16le-no-extension"]
    assert "E-417 means the coolant is overheating" in texts["en-utf16le.txt"]


def test_a_damaged_docx_names_the_cause(report: tuple[IngestReport, dict[str, str]]) -> None:
    status, reason = by_name(report[0])["broken.docx"]
    assert status is Status.FAILED
    assert reason is not None
    assert reason.startswith("cannot be read as DOCX: XMLSyntaxError: "), reason


def test_a_pdf_of_repeated_lines_is_not_called_scanned(
    report: tuple[IngestReport, dict[str, str]],
) -> None:
    results, texts = report
    assert by_name(results)["stamped.pdf"] == (Status.INDEXED, None)
    text = texts["stamped.pdf"]
    assert "社外秘" in text
    assert "maintenance procedure" in text
    assert text.count("社外秘") == 1  # kept once, not once per page
