"""The suite's temporary folders go once their test file has passed (tests/support/temp_folders.py):
kept to the end, its data folders took 19 GB of /tmp and filled a CI machine's disk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

MAKES_A_STORE = """
import pytest

@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("{name}")
    (folder / "page_0.dat").write_bytes(bytes(1024))
    yield folder
    # closed here: the plugin removes it after this teardown
    assert folder.exists()

def test_uses_it(store):
    assert store.exists()
    {more}
"""

SHARED = """
import pytest
from tests.support.temp_folders import SHARED

@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    SHARED.add("shared")
    folder = tmp_path_factory.getbasetemp() / "shared"
    folder.mkdir()
    return folder

def test_makes_a_shared_folder(shared):
    assert shared.exists()
"""


def run_pytest(tests: Path, basetemp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.support.temp_folders", "-p",
         "no:cacheprovider", "-c", os.devnull, f"--basetemp={basetemp}", str(tests)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )  # fmt: skip


def test_a_passed_files_folders_go_a_failed_files_stay_shared_ones_stay(tmp_path: Path) -> None:
    tests, basetemp = tmp_path / "tests", tmp_path / "base"
    tests.mkdir()
    (tests / "test_a_passes.py").write_text(MAKES_A_STORE.format(name="passing", more="pass"))
    (tests / "test_b_fails.py").write_text(
        MAKES_A_STORE.format(name="failing", more="assert False, 'on purpose'")
    )
    (tests / "test_c_shares.py").write_text(SHARED)
    (tests / "test_d_passes.py").write_text(MAKES_A_STORE.format(name="later", more="pass"))

    result = run_pytest(tests, basetemp)

    assert "1 failed, 3 passed" in result.stdout, result.stdout + result.stderr
    left = sorted(p.name for p in basetemp.iterdir() if p.is_dir() and not p.is_symlink())
    assert left == ["failing0", "shared"]  # passing0 and later0 removed
    assert (basetemp / "failing0" / "page_0.dat").stat().st_size == 1024
