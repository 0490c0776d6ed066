"""Input edges without a server: upload names cut by bytes, folder walks (symbolic links,
names that are not UTF-8), UTF-16 without a byte order mark, parser causes, error echoes."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from app.errors import MAX_ECHOED_INPUT, validation_errors
from app.guard import allowed_hosts, host_name
from app.services.uploads import MAX_NAME_BYTES, safe_name
from app.settings import AppSettings
from ingest.detect import decode_text
from ingest.errors import UnsupportedDocument
from ingest.parse import parser_cause
from ingest.walk import BAD_NAME, NOT_FOLLOWED, OUTSIDE, walk

pytestmark = pytest.mark.unit

JA = "保守契約書\n第1条（目的）\nこの契約は、甲が乙に対して機器の保守を委託することを定める。\n"
EN = "Maintenance contract\nArticle 1. Error E-417 means coolant overheating.\n"


# --- upload names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "stem_char"),
    [("あ" * 84 + ".txt", "あ"), ("😀" * 70 + ".md", "😀"), ("é" * 150 + ".docx", "é")],
)
def test_long_upload_names_are_cut_by_bytes_between_characters(name: str, stem_char: str) -> None:
    assert len(name.encode()) > 255
    cut = safe_name(name)
    assert cut is not None
    assert len(cut.encode()) <= MAX_NAME_BYTES
    suffix = name[name.rindex(".") :]
    assert cut.endswith(suffix)
    stem = cut[: -len(suffix)]
    assert stem
    assert set(stem) == {stem_char}
    assert len((stem + stem_char + suffix).encode()) > MAX_NAME_BYTES  # cut as late as fits


def test_short_and_unusable_upload_names() -> None:
    assert safe_name("保守契約.docx") == "保守契約.docx"
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("..") is None
    long_suffix = "a" * 10 + "." + "b" * 300  # no real extension: cut like any name
    cut = safe_name(long_suffix)
    assert cut is not None
    assert len(cut.encode()) <= MAX_NAME_BYTES


# --- folder walks ----------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("someone else's file")
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "manual.txt").write_text(EN)
    (docs / "sub" / "契約.txt").write_text(JA)
    (docs / ".hidden.txt").write_text("hidden")
    (docs / "passwd").symlink_to("/etc/passwd")
    (docs / "secret-link.txt").symlink_to(outside / "secret.txt")
    (docs / "outside-dir").symlink_to(outside, target_is_directory=True)
    (docs / "inside-link.txt").symlink_to(docs / "sub" / "契約.txt")
    (docs / "sub-link").symlink_to(docs / "sub", target_is_directory=True)
    (docs / "loop").symlink_to(docs, target_is_directory=True)
    (docs / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    os.close(os.open(os.fsencode(docs) + b"/bad\xff\xfe.txt", os.O_CREAT | os.O_WRONLY, 0o600))
    return docs


def names(paths: list[Path], root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in paths)


def test_folder_walk_follows_no_link_by_default(folder: Path) -> None:
    found = walk([folder])
    assert names(found.files, folder) == ["manual.txt", "sub/契約.txt"]
    links = {Path(s.source).name: s.reason for s in found.links}
    assert set(links) == {
        "passwd",
        "secret-link.txt",
        "outside-dir",
        "inside-link.txt",
        "sub-link",
        "loop",
        "dangling.txt",
    }
    assert set(links.values()) == {NOT_FOLLOWED}
    (bad,) = found.bad_names
    assert bad.source == f"{folder}/bad\\xff\\xfe.txt"  # shown with its bytes escaped
    assert bad.reason == BAD_NAME


def test_follow_links_stays_inside_the_folder(folder: Path) -> None:
    found = walk([folder], follow_links=True)
    assert names(found.files, folder) == [
        "inside-link.txt",
        "manual.txt",
        "sub-link/契約.txt",
        "sub/契約.txt",
    ]
    links = {Path(s.source).name: s.reason for s in found.links}
    assert links["passwd"] == OUTSIDE
    assert links["secret-link.txt"] == OUTSIDE
    assert links["outside-dir"] == OUTSIDE
    assert "loop" not in links  # inside, but already being walked: not walked again
    assert all(p.resolve() != Path("/etc/passwd") for p in found.files)


def test_a_link_named_directly_is_read(folder: Path) -> None:
    assert walk([folder / "inside-link.txt"]).files == [folder / "inside-link.txt"]


# --- UTF-16 without a byte order mark ------------------------------------------------------


@pytest.mark.parametrize("text", [JA, EN])
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_text(text: str, encoding: str) -> None:
    assert decode_text(text.encode(encoding), "a.txt") == text


def test_binary_with_nul_bytes_is_still_binary() -> None:
    data = bytes(range(256)) * 64
    with pytest.raises(UnsupportedDocument, match="binary"):
        decode_text(data, "x.txt")
    with pytest.raises(UnsupportedDocument, match="binary"):
        decode_text(b"\x00\x00\x01\x00" * 4000, "x.txt")
    # NULs on one side only, as in UTF-16 text: a tiny executable, and random bytes.
    with pytest.raises(UnsupportedDocument, match="binary"):
        decode_text(b"MZ\x90\x00", "setup.txt")
    noise = random.Random(3)
    for _ in range(50):
        data = bytearray(noise.randbytes(noise.randint(16, 3000)))
        data[1::4] = bytes(len(data[1::4]))
        with pytest.raises(UnsupportedDocument, match="binary"):
            decode_text(bytes(data), "noise.txt")


# --- errors --------------------------------------------------------------------------------


def test_parser_cause_names_the_error() -> None:
    assert parser_cause(ValueError("bad xref table")) == "ValueError: bad xref table"
    assert parser_cause(KeyError("word/document.xml")) == (
        "KeyError: missing part 'word/document.xml'"
    )
    assert parser_cause(RuntimeError()) == "RuntimeError"
    long = parser_cause(ValueError("x\n" * 1000))
    assert len(long) <= 300
    assert "\n" not in long


class Question(BaseModel):
    query: str
    top_k: int = 6


def test_validation_errors_drop_large_input_only() -> None:
    with pytest.raises(ValidationError) as large:
        Question.model_validate({"query": ["保守" * 5000]})
    (error,) = validation_errors(large.value.errors())
    assert "input" not in error
    assert error["loc"] == ["query"]
    with pytest.raises(ValidationError) as small:
        Question.model_validate({"query": "E-417", "top_k": "many"})
    (error,) = validation_errors(small.value.errors())
    assert error["input"] == "many"
    assert len(str(error)) < MAX_ECHOED_INPUT * 3


# --- hosts ---------------------------------------------------------------------------------


def test_host_names_and_the_hosts_allowed() -> None:
    assert host_name("127.0.0.1:8000") == "127.0.0.1"
    assert host_name("[::1]:8000") == "::1"
    assert host_name("LocalHost") == "localhost"
    assert host_name("::1") == "::1"
    off = AppSettings(_env_file=None, auth="off")  # type: ignore[call-arg]
    assert allowed_hosts(off) == {"localhost", "127.0.0.1", "::1"}
    assert allowed_hosts(AppSettings(_env_file=None, auth="keys")) is None  # type: ignore[call-arg]
    given = AppSettings(_env_file=None, auth="keys", allowed_hosts="kura.example, [::1]")  # type: ignore[call-arg]
    assert allowed_hosts(given) == {"kura.example", "::1"}
    anything = AppSettings(_env_file=None, auth="off", allowed_hosts="*")  # type: ignore[call-arg]
    assert allowed_hosts(anything) is None
