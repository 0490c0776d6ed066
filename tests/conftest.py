"""Shared fixtures: the Ollama stand-in, settings on a temporary data dir, an indexed corpus."""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock

import ingest  # noqa: F401  (offline switches first)
from ingest.components import Components, build_components
from ingest.pipeline import Indexer, IngestReport
from tests.support.corpus import build_corpus
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.postgres import PostgresServer, require
from tests.support.server import COLLECTION, make_settings
from tests.support.temp_folders import (  # noqa: F401  (a hook and an autouse fixture)
    SHARED,
    module_folders_removed,
    pytest_runtest_makereport,
)


@pytest.fixture(scope="module", autouse=True)
def no_host_checks_left_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test file that marks an LLM host down closes its model (a server fixture may keep it
    for the file): otherwise the host check goes on calling a port that is gone, and later
    tests that watch sockets see it."""
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.name == "kura-llm-hosts"]
    for thread in left:
        thread.join(timeout=5)  # a closed model's check ends after its current call
    running = [t for t in left if t.is_alive()]
    assert not running, f"{request.module.__name__} left an answering model unclosed"


@pytest.fixture(autouse=True)
def llm_warnings_heard() -> Iterator[None]:
    """A `kura` command run in-process (click's CliRunner) quietens the model client's own
    warnings for the rest of the process (app/cli.py sets app.llm to ERROR); a later test in
    the same worker must still see a host marked down, so each test starts at the level the
    worker started with."""
    quietened = logging.getLogger("app.llm")
    level = quietened.level
    yield
    quietened.setLevel(level)


@pytest.fixture
def standin() -> Iterator[OllamaStandin]:
    """A fresh Ollama stand-in on a loopback port."""
    with OllamaStandin(StandinState()) as server:
        yield server


def shared_once(factory: pytest.TempPathFactory, name: str) -> tuple[Path, FileLock]:
    """A folder made once for the whole run, however many xdist workers share it, and the lock
    to hold while making or reading it (each worker's temp dir sits under one run dir)."""
    SHARED.add(name)
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    return root / name, FileLock(str(root / f"{name}.lock"))


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a document of every supported type."""
    folder, lock = shared_once(tmp_path_factory, "corpus")
    done = folder.with_name("corpus.done")  # beside it: tests ingest the whole folder
    with lock:
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # left half-made by a failed worker
            build_corpus(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def indexed(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> tuple[Path, IngestReport]:
    """A data dir with the corpus indexed in collection ``corpus`` (store closed again), made
    once per run; tests copy it before opening it (an embedded store admits one process)."""
    folder, lock = shared_once(tmp_path_factory, "indexed")
    data_dir, saved = folder / "data", folder / "report.pickle"
    with lock:
        if not saved.exists():
            shutil.rmtree(data_dir, ignore_errors=True)
            components = build_components(make_settings(data_dir))
            try:
                report = Indexer(components, COLLECTION).ingest_paths([corpus])
            finally:
                components.close()
            saved.write_bytes(pickle.dumps(report))
    return data_dir, pickle.loads(saved.read_bytes())


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
