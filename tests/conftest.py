"""Shared fixtures: the Ollama stand-in, settings on a temporary data dir, an indexed corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import ingest  # noqa: F401  (offline switches first)
from ingest.components import Components, build_components
from ingest.pipeline import Indexer, IngestReport
from tests.support.corpus import build_corpus
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.postgres import PostgresServer, require
from tests.support.server import COLLECTION, make_settings


@pytest.fixture
def standin() -> Iterator[OllamaStandin]:
    """A fresh Ollama stand-in on a loopback port."""
    with OllamaStandin(StandinState()) as server:
        yield server


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a document of every supported type."""
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def indexed(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> tuple[Path, IngestReport]:
    """A data dir with the corpus indexed in collection ``corpus`` (store closed again)."""
    data_dir = tmp_path_factory.mktemp("data")
    components = build_components(make_settings(data_dir))
    try:
        report = Indexer(components, COLLECTION).ingest_paths([corpus])
    finally:
        components.close()
    return data_dir, report


@pytest.fixture
def components(tmp_path: Path) -> Iterator[Components]:
    """Components on an empty data dir."""
    built = build_components(make_settings(tmp_path))
    yield built
    built.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (skips without one; fails so under CI)."""
    server = PostgresServer(require())
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """kura's state database on each engine: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "kura.db"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.database()
