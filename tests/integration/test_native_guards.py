"""Every native library kura touches from more than one thread, loaded from several threads at
once through kura's own code (tests/support/native_load.py, in a child process so that a
native crash fails the test instead of killing the run). The findings behind each guard are in
docs/architecture.md, "Native libraries and threads"."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from tests.support.corpus import SAMPLES

pytestmark = pytest.mark.integration

SECONDS = 8  # unguarded, PDFium failed or crashed within 1-3 s of this load


def run_check(name: str, seconds: float = SECONDS) -> dict:
    with tempfile.TemporaryDirectory() as folder:  # the child's stores go with it
        result = subprocess.run(
            [sys.executable, "-m", "tests.support.native_load", name, str(seconds)],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "TMPDIR": folder},
        )
    assert result.returncode == 0, (
        f"{name} under threads: exit {result.returncode}\n{result.stderr[-2000:]}"
    )
    return dict(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "name",
    [
        "pdfium",
        "sudachi",
        "embedder",
        "edge",
        "libmagic",
        pytest.param(
            "tesseract",
            marks=pytest.mark.skipif(not shutil.which("tesseract"), reason="no tesseract"),
        ),
    ],
)
def test_native_library_under_threads(name: str) -> None:
    outcome = run_check(name)
    assert outcome["calls"] > 0, outcome
    assert outcome["error_count"] == 0, outcome
    assert outcome["wrong"] == 0, outcome  # concurrent results equal the sequential ones


def test_citation_check_waits_for_pdfium_held_by_another_thread() -> None:
    """The guard itself: while one thread holds PDFium, reading a cited page waits for it."""
    from app.verify import _pdf_pages
    from ingest import native

    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with native.pdfium():
            held.set()
            release.wait(30)

    owner = threading.Thread(target=holder)
    owner.start()
    held.wait(10)
    result: list[str] = []
    reader = threading.Thread(
        target=lambda: result.append(
            _pdf_pages(SAMPLES / "debian-reference-en-package-management.pdf", 1, 1)
        )
    )
    reader.start()
    time.sleep(0.5)
    blocked = reader.is_alive() and not result
    release.set()
    reader.join(30)
    owner.join(30)
    assert blocked, "reading a PDF page did not wait for PDFium's lock"
    assert result, "the page was read once PDFium was free"
    assert result[0]


@pytest.mark.skipif(not shutil.which("tesseract"), reason="no tesseract")
def test_every_pdfium_call_holds_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every PDFium function kura reaches (reading, table search, rendering for OCR, citation
    checks, and the closes, finalizers included) runs with ``native.PDFIUM_LOCK`` held."""
    import gc

    import pypdfium2.raw as raw

    from app.verify import _pdf_pages
    from ingest import native
    from ingest.pdf import PdfOptions, partition_pdf_fast
    from tests.integration.test_pdf import scanned
    from tests.integration.test_pdf_tables import fault_manual

    en_pdf = SAMPLES / "debian-reference-en-package-management.pdf"
    scan = scanned(en_pdf, [1])  # made before the patch: the test's own PDFium use
    manual = fault_manual()
    calls: list[str] = []
    unguarded: list[str] = []
    for name in dir(raw):
        function = getattr(raw, name)
        if (
            name.startswith(("FPDF", "FORM_"))
            and callable(function)
            and not isinstance(function, type)
        ):

            def guarded(*args, _function=function, _name=name, **kwargs):  # type: ignore[no-untyped-def]
                calls.append(_name)
                if not native.PDFIUM_LOCK._is_owned():  # type: ignore[attr-defined]
                    unguarded.append(_name)
                return _function(*args, **kwargs)

            monkeypatch.setattr(raw, name, guarded)

    tables = partition_pdf_fast(manual, "hx400.pdf", PdfOptions(ocr=False))
    ocr = partition_pdf_fast(scan, "scan.pdf", PdfOptions(ocr_languages="eng", ocr_dpi=100))
    page_text = _pdf_pages(en_pdf, 1, 2)
    gc.collect()  # any PDFium object left to a finalizer would close now, without the lock

    assert any(e.category == "Table" for e in tables)
    assert ocr
    assert page_text
    assert {"FPDF_LoadPage", "FPDFText_LoadPage", "FPDF_ClosePage"} <= set(calls)
    assert "FPDFBitmap_Destroy" in calls or "FPDFBitmap_CreateEx" in calls  # a page was rendered
    assert not unguarded, sorted(set(unguarded))
