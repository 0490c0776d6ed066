"""The `kura` command, run as a user would: a real process, a real data dir, the stand-in."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.corpus import SAMPLES
from tests.support.ollama_standin import OllamaStandin

pytestmark = pytest.mark.integration

KURA = [sys.executable, "-m", "app"]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KURA, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("cli-data")
    return {**os.environ, "KURA_DATA_DIR": str(data_dir), "COLUMNS": "200"}


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli-docs")
    shutil.copy(SAMPLES / "apache-license-2.0.txt", folder)
    shutil.copy(SAMPLES / "debian-reference-en-package-management.pdf", folder)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    return folder


def test_ingest_then_reingest(env: dict[str, str], docs: Path) -> None:
    first = run(["ingest", str(docs), "--collection", "cli"], env)
    assert first.returncode == 3, first.stderr  # one bad file: done in part
    assert "2 indexed" in first.stderr
    assert "1 failed" in first.stderr
    assert "broken.pdf" in first.stderr
    second = run(["ingest", str(docs / "apache-license-2.0.txt"), "-c", "cli"], env)
    assert second.returncode == 0, second.stderr
    assert "0 indexed" in second.stderr
    assert "1 unchanged" in second.stderr


def test_search_prints_passages(env: dict[str, str]) -> None:
    result = run(["search", "What does Licensor mean?", "-c", "cli", "--json"], env)
    assert result.returncode == 0, result.stderr
    passages = json.loads(result.stdout)
    assert passages[0]["source"].endswith("apache-license-2.0.txt")
    assert '"Licensor" shall mean' in passages[0]["text"]


def test_ask_prints_answer_and_numbered_sources(env: dict[str, str]) -> None:
    with OllamaStandin() as standin:
        result = run(
            ["ask", "Which command is most suitable for a major system upgrade?", "-c", "cli"],
            {**env, "KURA_OLLAMA_HOST": standin.url},
        )
    assert result.returncode == 0, result.stderr
    assert re.search(r"\[\d+\]", result.stdout)
    assert "Sources" in result.stdout
    assert re.search(r"\[\d+\] debian-reference-en-package-management\.pdf, p\. \d", result.stdout)


def test_ask_without_ollama_prints_passages_and_the_fix(env: dict[str, str]) -> None:
    result = run(
        ["ask", "What does Licensor mean?", "-c", "cli"],
        {**env, "KURA_OLLAMA_HOST": "http://127.0.0.1:9"},
    )
    assert result.returncode == 3
    assert "ollama pull gpt-oss:20b" in " ".join(result.stderr.split())
    assert "Passages found" in result.stdout
    assert "apache-license-2.0.txt" in result.stdout
