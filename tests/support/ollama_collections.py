"""What the tests of Ollama embeddings and of `kura reindex` share: a stand-in that embeds with
two models, a folder of English and Japanese documents, settings for either store, a second
process's view of one Qdrant server, and the `kura` command run against them.

A test module takes the fixtures by name (``ollama = ollama_collections.ollama``); they are
function-scoped, so each test gets its own stand-in and request log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.keys import KeyStore
from app.settings import AppSettings
from ingest.components import Components
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import make_settings

# Two embedding models of different dimensions, as bge-m3 and nomic-embed-text are.
EMBEDDING_MODELS = {"bge-m3": 1024, "nomic-embed-text": 768}

DOCS = {
    "hoshu.txt": "空調設備の保守点検は毎月第一月曜日に行う。点検記録は五年間保存する。",
    "pump.txt": "The pump controller reports fault E-417 when the coolant pressure drops.",
    "leave.txt": "Employees request annual leave through the HR portal two weeks ahead.",
    "keiyaku.txt": "第3条 受託者は作業の結果を書面で委託者に報告しなければならない。",
}


def standin(port: int, **state: Any) -> OllamaStandin:
    """An Ollama stand-in embedding with ``EMBEDDING_MODELS`` on ``port`` (0: any free one)."""
    return OllamaStandin(StandinState(embedding_models=dict(EMBEDDING_MODELS), **state), port)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """``check()``'s first truthy value, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def ollama() -> Iterator[OllamaStandin]:
    """An Ollama stand-in serving ``EMBEDDING_MODELS`` on /api/embed."""
    with OllamaStandin(StandinState(embedding_models=dict(EMBEDDING_MODELS))) as server:
        yield server


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A folder holding ``DOCS``, one text file each."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, dict[str, str]]:
    """Headers of an admin key and of a writer's key that is not an admin."""
    with KeyStore(tmp_path / "data" / "kura.db") as store:
        admin, _ = store.create("root", ["it"], admin=True)
        writer, _ = store.create("hanako", ["staff"])
    return {
        "admin": {"Authorization": f"Bearer {admin}"},
        "writer": {"Authorization": f"Bearer {writer}"},
    }


@pytest.fixture(params=["edge", "server"])
def store(request: pytest.FixtureRequest) -> str:
    """Qdrant Edge (embedded), or a server (qdrant-client's local mode stands for one)."""
    return str(request.param)


def ollama_settings(
    tmp_path: Path, store: str, host: str, model: str = "bge-m3", **extra: object
) -> AppSettings:
    """Settings that embed through the Ollama at ``host`` with ``model``, on ``store``."""
    return make_settings(
        tmp_path / "data",
        qdrant_url=None if store == "edge" else ":memory:",
        embed_backend="ollama",
        embed_model=model,
        embed_ollama_host=host,
        **extra,
    )


def timed_settings(tmp_path: Path, host: str, query: float, batch: float) -> AppSettings:
    """Settings for the timeouts of a search's question (``query``) and of a batch or a load
    (``batch``) through bge-m3 at ``host``, under API keys, asking the host at every search."""
    return ollama_settings(
        tmp_path,
        "edge",
        host,
        auth="keys",
        embed_languages="*",  # bge-m3 reads Japanese
        worker_poll=0.1,
        embed_timeout=batch,
        embed_query_timeout=query,
        embed_retry_backoff=0.1,  # each search asks the host again
    )


def share(components: Components, server: Components) -> Components:
    """``components`` on the in-process "server" of ``server``, as a second process would be."""
    components.backend.close()
    components.backend = server.backend
    return components


def kura_env(tmp_path: Path, host: str, model: str) -> dict[str, str]:
    """The environment of a `kura` process on ``tmp_path``'s data, embedding with ``model``."""
    return {
        **os.environ,
        "COLUMNS": "200",
        "KURA_DATA_DIR": str(tmp_path / "data"),
        "KURA_EMBED_BACKEND": "ollama",
        "KURA_EMBED_MODEL": model,
        "KURA_EMBED_OLLAMA_HOST": host,
    }


def kura(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real `kura` command in a process of its own."""
    command = [sys.executable, "-m", "app", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
