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


DOWN = "http://127.0.0.1:9"  # nothing listens on the discard port
QUESTION_JA = "ライセンサーとはどういう意味ですか"
# The sample documents are English: a question the model would be asked is asked in English.
COVERED = "What does Licensor mean?"


def test_ingest_usage_errors_exit_2_apart_from_failed_files(
    env: dict[str, str], tmp_path: Path
) -> None:
    missing = run(["ingest", str(tmp_path / "存在しない"), "-c", "cli"], env)
    assert missing.returncode == 2, missing.stderr
    bad_flag = run(["ingest", str(tmp_path), "--no-such-flag"], env)
    assert bad_flag.returncode == 2, bad_flag.stderr
    # exit 3 for "some files failed": test_ingest_then_reingest


@pytest.mark.parametrize("command", ["search", "ask"])
def test_misspelled_collection_lists_the_collections(env: dict[str, str], command: str) -> None:
    result = run([command, QUESTION_JA, "-c", "clii"], {**env, "KURA_OLLAMA_HOST": DOWN})
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "collection 'clii' does not exist" in line
    assert "collections: " in line
    assert "cli" in line.split("collections: ")[1].split(", ")


@pytest.mark.parametrize("command", ["search", "ask"])
def test_misspelled_collection_as_json(env: dict[str, str], command: str) -> None:
    result = run([command, QUESTION_JA, "-c", "clii", "--json"], {**env, "KURA_OLLAMA_HOST": DOWN})
    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    assert body["error"]["code"] == "collection_not_found"
    assert "'clii' does not exist" in body["error"]["message"]
    assert "cli" in body["collections"]


def test_ask_json_answered(env: dict[str, str]) -> None:
    with OllamaStandin() as standin:
        result = run(
            ["ask", "What does Licensor mean?", "-c", "cli", "--json"],
            {**env, "KURA_OLLAMA_HOST": standin.url},
        )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["covered"] is True
    assert body["citations"]
    assert re.search(r"\[\d+\]", body["answer"])


def test_ask_json_not_covered(env: dict[str, str]) -> None:
    with OllamaStandin() as standin:
        result = run(
            ["ask", "量子コンピュータの冷却には何度が必要ですか", "-c", "cli", "--json"],
            {**env, "KURA_OLLAMA_HOST": standin.url, "KURA_MIN_RELEVANCE": "1"},
        )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["covered"] is False
    assert body["citations"] == []


def test_ask_json_without_ollama(env: dict[str, str]) -> None:
    result = run(["ask", COVERED, "-c", "cli", "--json"], {**env, "KURA_OLLAMA_HOST": DOWN})
    assert result.returncode == 3, result.stderr
    body = json.loads(result.stdout)
    assert body["error"]["code"] == "llm_unavailable"
    assert "ollama pull gpt-oss:20b" in body["error"]["message"]
    assert body["passages"]
    assert body["passages"][0]["source"].endswith("apache-license-2.0.txt")


def test_ask_without_ollama_says_so_in_one_unwrapped_line(env: dict[str, str]) -> None:
    narrow = {k: v for k, v in env.items() if k != "COLUMNS"} | {"COLUMNS": "40"}
    result = run(["ask", COVERED, "-c", "cli"], {**narrow, "KURA_OLLAMA_HOST": DOWN})
    assert result.returncode == 3
    assert "WARNING" not in result.stderr
    assert "app.llm" not in result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("no answer: ")
    assert "ollama pull gpt-oss:20b" in first


# `kura search`, then which of the embedding stack's modules the process imported.
PROBE = """
import json, runpy, sys
sys.argv = ["kura", *sys.argv[1:]]
try:
    runpy.run_module("app", run_name="__main__")
except SystemExit as exit:
    assert not exit.code, exit.code
loaded = [m for m in ("torch", "sentence_transformers") if m in sys.modules]
print(json.dumps(loaded), file=sys.stderr)
"""


@pytest.mark.parametrize("mode", [[], ["--mode", "sparse"]])
def test_keywords_only_search_does_not_load_the_embedding_model(
    env: dict[str, str], mode: list[str]
) -> None:
    # A Japanese question is searched by keywords (KURA_EMBED_LANGUAGES is English): no model.
    # (The sample documents are English: it names an English term.)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            "search",
            "Licensor とはどういう意味ですか",
            "-c",
            "cli",
            "-k",
            "1",
            *mode,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []
    assert "apache-license-2.0.txt" in done.stdout
