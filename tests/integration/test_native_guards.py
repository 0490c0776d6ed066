"""Every native library kura touches from more than one thread, loaded from several threads at
once through kura's own code (tests/native_load.py, in a child process so that a native crash
fails the test instead of killing the run). The findings behind each guard are in
docs/architecture.md, "Native libraries and threads"."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time

import pytest

from tests.corpus import SAMPLES

pytestmark = pytest.mark.integration

SECONDS = 8  # unguarded, PDFium failed or crashed within 1-3 s of this load


def run_check(name: str, seconds: float = SECONDS) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "tests.native_load", name, str(seconds)],
        capture_output=True,
        text=True,
        timeout=300,
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
