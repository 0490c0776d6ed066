"""The uploads layout: one module knows where originals and staged uploads live."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from ingest.uploads import (
    find_original,
    keep_original,
    original_path,
    remove_collection,
    remove_version,
    staging_file,
    uploads_dir,
)

pytestmark = pytest.mark.unit

NAME = "就業規則（改定版）.txt"
DATA = "第一条　この規則は従業員に適用する。".encode()
VERSION = hashlib.sha256(DATA).hexdigest()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_upload_goes_from_staging_to_its_version_folder(tmp_path: Path) -> None:
    staged = staging_file(tmp_path)
    assert staged.parent == tmp_path / "uploads" / ".staging"
    staged.write_bytes(DATA)
    final = keep_original(staged, tmp_path, "規程", VERSION, NAME)
    assert final == tmp_path / "uploads" / "規程" / VERSION / NAME
    assert final == original_path(tmp_path, "規程", VERSION, NAME)
    assert final.read_bytes() == DATA
    assert not staged.exists()
    for folder in (uploads_dir(tmp_path), staged.parent, final.parent, final.parent.parent):
        assert _mode(folder) == 0o700


def test_an_original_is_found_by_version_in_any_collection(tmp_path: Path) -> None:
    assert find_original(tmp_path, VERSION) is None  # no uploads folder at all
    staged = staging_file(tmp_path)
    staged.write_bytes(DATA)
    final = keep_original(staged, tmp_path, "contracts", VERSION, NAME)
    assert find_original(tmp_path, VERSION) == final
    assert find_original(tmp_path, "0" * 64) is None


def test_removing_a_version_or_a_collection(tmp_path: Path) -> None:
    for collection, version in (("a", VERSION), ("a", "f" * 64), ("b", VERSION)):
        staged = staging_file(tmp_path)
        staged.write_bytes(DATA)
        keep_original(staged, tmp_path, collection, version, NAME)
    remove_version(tmp_path, "a", VERSION)
    assert not (tmp_path / "uploads" / "a" / VERSION).exists()
    assert (tmp_path / "uploads" / "a" / ("f" * 64) / NAME).is_file()
    remove_collection(tmp_path, "a")
    assert not (tmp_path / "uploads" / "a").exists()
    assert find_original(tmp_path, VERSION) == tmp_path / "uploads" / "b" / VERSION / NAME
    remove_collection(tmp_path, "never-existed")  # nothing to remove is fine
