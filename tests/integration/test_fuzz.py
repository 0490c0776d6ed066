"""Fuzzing ingestion: ~100 malformed and hostile files, none may crash it or harm the index.

Every case goes through ``Indexer.ingest_bytes`` into the real embedded store. From valid seeds
of each type (the corpus builders), it makes truncated, bit-flipped, zeroed and random-bodied
copies, plus hand-made hostile files: ZIP bombs dressed as office files, path-traversal member
names, a password-protected PDF, invalid UTF-8, deep HTML nesting. Each must end INDEXED, or
FAILED with a reason that names the problem; a document indexed first must survive it all.
"""

from __future__ import annotations

import io
import logging
import random
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
from pypdf import PdfReader, PdfWriter

from ingest.components import Components
from ingest.pipeline import FileResult, Indexer, Status, content_version, prepare_document
from ingest.schema import document_id
from tests.support.corpus import SAMPLES, build_corpus

pytestmark = pytest.mark.integration

COLLECTION = "fuzz"
MIB = 1 << 20
# Reasons that say nothing about the file: an unexpected exception was caught.
VAGUE = ("internal error",)


@dataclass(frozen=True)
class Case:
    """One fuzz input; ``expect``: a phrase its failure reason must hold; ``index``: must index."""

    name: str
    data: bytes
    expect: str | None = None
    index: bool = False


def one_page_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_page(PdfReader(SAMPLES / "debian-reference-en-package-management.pdf").pages[0])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted(pdf: bytes) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def seeds(folder: Path) -> dict[str, bytes]:
    corpus = build_corpus(folder)
    chosen = {
        "docx": "hx400-manual.docx",
        "xlsx": "spare-parts.xlsx",
        "pptx": "safety-briefing.pptx",
        "html": "guide.html",
        "md": "changelog.md",
        "txt": "保守契約.txt",
        "eml": "firmware-notice.eml",
    }
    found = {kind: (corpus / name).read_bytes() for kind, name in chosen.items()}
    found["pdf"] = one_page_pdf()
    return found


def rewrite_zip(seed: bytes, extra: Callable[[zipfile.ZipFile], None]) -> bytes:
    """The seed archive's members, then whatever ``extra`` writes."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(seed)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        extra(dst)
    return out.getvalue()


def zeros_member(name: str, mib: int) -> Callable[[zipfile.ZipFile], None]:
    """A member of ``mib`` MiB of zeros, streamed: ~1,000:1, so 256 MiB costs ~260 KiB."""

    def write(archive: zipfile.ZipFile) -> None:
        block = bytes(MIB)
        with archive.open(name, "w", force_zip64=True) as member:
            for _ in range(mib):
                member.write(block)

    return write


def lying_sizes(archive: zipfile.ZipFile) -> None:
    """Two small stored members whose central directory claims 900 MiB each (no inflation)."""
    for name in ("xl/media/a.bin", "xl/media/b.bin"):
        archive.writestr(zipfile.ZipInfo(name), b"x" * 1024)
        archive.filelist[-1].file_size = archive.filelist[-1].compress_size = 900 * MIB


def many_members(archive: zipfile.ZipFile) -> None:
    for i in range(10_001):
        archive.writestr(f"word/media/m{i}.xml", b"")


def member(name: str) -> Callable[[zipfile.ZipFile], None]:
    return lambda archive: archive.writestr(name, b"owned")


def mutations(kind: str, seed: bytes, rng: random.Random) -> list[Case]:
    """Truncations, byte flips, zeroes and random bodies behind the seed's own header."""
    cases = [
        Case(f"{kind}-cut-{fraction}", seed[: int(len(seed) * fraction)])
        for fraction in (0.1, 0.5, 0.9, 0.99)
    ]
    for flips in (1, 10, 100):
        flipped = bytearray(seed)
        for _ in range(flips):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        cases.append(Case(f"{kind}-flip-{flips}", bytes(flipped)))
    cases.append(Case(f"{kind}-zeros", bytes(len(seed))))
    body = bytes(rng.randrange(256) for _ in range(max(len(seed), 4096)))
    cases.append(Case(f"{kind}-random-body", seed[:16] + body))
    # The first half, repeated: valid-looking structure in the wrong places.
    cases.append(Case(f"{kind}-doubled-head", seed[: len(seed) // 2] * 2))
    return cases


def hostile(seed: dict[str, bytes], rng: random.Random) -> list[Case]:
    docx, xlsx, pptx, pdf = seed["docx"], seed["xlsx"], seed["pptx"], seed["pdf"]
    text = seed["md"].decode()
    return [
        Case("empty.txt", b"", expect="empty"),
        Case("whitespace.txt", b" \n\t\r\n" * 100, expect="empty"),
        Case("one-nul.bin", b"\x00"),
        Case("zeros-1mib.docx", bytes(MIB), expect="not a ZIP archive"),
        Case("random.pdf", rng.randbytes(50_000)),
        Case("pdf-header-random.pdf", b"%PDF-1.7\n" + rng.randbytes(20_000)),
        Case("zip-header-random.docx", b"PK\x03\x04" + rng.randbytes(20_000), expect="ZIP"),
        Case("bomb.docx", rewrite_zip(docx, zeros_member("word/media/image1.png", 256)), "bomb"),
        Case("bomb.xlsx", rewrite_zip(xlsx, zeros_member("xl/worksheets/sheet9.xml", 64)), "bomb"),
        Case("declared-1.8gib.xlsx", rewrite_zip(xlsx, lying_sizes), expect="expands to 1.8 GiB"),
        Case(
            "10001-members.docx", rewrite_zip(docx, many_members), expect="over the limit of 10,000"
        ),
        Case("traversal.docx", rewrite_zip(docx, member("../../etc/cron.d/x")), "traversal"),
        Case("absolute.pptx", rewrite_zip(pptx, member("/etc/passwd")), "traversal"),
        Case("windows.xlsx", rewrite_zip(xlsx, member("C:\\Windows\\evil.dll")), "traversal"),
        Case("backslash.docx", rewrite_zip(docx, member("word\\..\\..\\evil")), "traversal"),
        Case("rezipped.docx", rewrite_zip(docx, lambda _: None), index=True),
        Case("bad-xml.docx", _replace_member(docx, "word/document.xml", b"<w:document><w:b")),
        Case("no-document.docx", _drop_member(docx, "word/document.xml")),
        Case("locked.pdf", encrypted(pdf), expect="password protected"),
        Case("invalid-utf8.txt", text.encode() + b"\xff\xfe\xc3\x28\xa0\xa1" + text.encode()),
        Case("utf8-then-garbage.txt", text.encode() + rng.randbytes(4000)),
        Case("utf16.txt", text.encode("utf-16"), index=True),
        Case("lone-surrogates.txt", text.encode() + "\ud800".encode("utf-8", "surrogatepass")),
        Case("control-heavy.txt", bytes(range(1, 32)) * 300, expect="binary"),
        Case("one-long-word.txt", b"x" * 200_000),
        Case("deep.html", b"<html><body>" + b"<div>" * 5000 + b"deep" + b"</div>" * 5000),
        Case("unclosed.html", b"<html><body><table><tr><td>" * 500),
        Case("script-only.html", b"<html><script>" + b"var a=1;" * 1000 + b"</script></html>"),
        Case("eml-bad-boundary.eml", _broken_multipart()),
        Case("eml-bad-base64.eml", _bad_base64_mail()),
        Case("null-in-text.md", text.encode() + b"\x00" + text.encode(), expect="binary"),
    ]


def _replace_member(seed: bytes, name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(seed)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, content if info.filename == name else src.read(info))
    return out.getvalue()


def _drop_member(seed: bytes, name: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(seed)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename != name:
                dst.writestr(info, src.read(info))
    return out.getvalue()


def _broken_multipart() -> bytes:
    return (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: parts\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="XYZ"\r\n\r\n'
        b"--XYZ\r\nContent-Type: text/plain\r\n\r\nThe pump needs service.\r\n--XY"
    )


def _bad_base64_mail() -> bytes:
    return (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: attachment\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64 at all@@@\r\n"
    )


def all_cases(folder: Path) -> list[Case]:
    rng = random.Random(1234)
    seed = seeds(folder)
    cases = [Case(f"{kind}-seed", data, index=True) for kind, data in seed.items()]
    for kind, data in seed.items():
        cases += mutations(kind, data, rng)
    return cases + hostile(seed, rng)


def test_malformed_inputs_never_crash_or_damage_the_index(
    tmp_path: Path, components: Components, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL)  # the parsers log loudly about every broken file
    cases = all_cases(tmp_path / "seeds")
    assert len(cases) >= 100
    indexer = Indexer(components, COLLECTION)
    good = indexer.ingest_bytes(cases[0].data, "good.docx")
    assert good.status is Status.INDEXED

    results: dict[str, FileResult] = {}
    crashes: dict[str, str] = {}
    for case in cases:
        try:
            results[case.name] = indexer.ingest_bytes(case.data, f"fuzz/{case.name}")
        except Exception as exc:  # noqa: BLE001  (counting escapes is the point)
            crashes[case.name] = repr(exc)

    for case in cases:  # shown when an assertion below fails
        result = results.get(case.name)
        print(case.name, result and (result.status.value, result.chunks, result.reason))
    assert crashes == {}
    unclear = {
        name: result.reason
        for name, result in results.items()
        if result.status is not Status.INDEXED
        and (
            result.status is not Status.FAILED
            or not result.reason
            or any(v in result.reason for v in VAGUE)
        )
    }
    assert unclear == {}
    unexpected = {
        case.name: (results[case.name].status, results[case.name].reason)
        for case in cases
        if case.expect
        and (
            results[case.name].status is not Status.FAILED
            or case.expect not in (results[case.name].reason or "")
        )
    }
    assert unexpected == {}
    not_indexed = [
        c.name for c in cases if c.index and results[c.name].status is not Status.INDEXED
    ]
    assert not_indexed == []

    # The first document is whole, and nothing half-written was left by the failures.
    store = components.vector_store(COLLECTION)
    good_id = document_id(COLLECTION, "good.docx")
    same_doc = MetadataFilters(filters=[MetadataFilter(key="document_id", value=good_id)])
    assert store.count(same_doc) == good.chunks
    assert indexer.is_indexed(good_id, content_version(cases[0].data))
    written = sum(r.chunks for r in results.values() if r.status is Status.INDEXED)
    assert store.count() == good.chunks + written


def test_hundred_thousand_pages_of_text_are_chunked_whole(components: Components) -> None:
    """Form feeds and a line each: every page is chunked, none lost (the time such a file takes is
    measured with other hostile files by benchmarks/hostile_ingest.py, not asserted here)."""
    data = "\f".join(f"Page {i}: check the coolant level." for i in range(100_000)).encode()
    indexer = Indexer(components, COLLECTION)
    prepared = prepare_document(data, "pages.txt", indexer.options)
    # Thousands of chunks: ~10 minutes of embedding on 2 cores. Ingestion needs a cap on
    # chunks per document before such a file can go through ingest_bytes here.
    assert len(prepared.chunks) > 1000
    text = "".join(chunk.text for chunk in prepared.chunks)
    assert "Page 0:" in text
    assert "Page 99999:" in text
