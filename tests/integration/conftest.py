"""Fixtures shared by the integration modules that answer questions over HTTP. Module-scoped
fixtures here are made once per test module: each module gets its own stand-in and server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingest.pipeline import IngestReport
from tests.support.data_copy import copy_data
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, make_settings


@pytest.fixture(scope="module")
def ollama() -> Iterator[OllamaStandin]:
    """This module's Ollama stand-in."""
    with OllamaStandin(StandinState()) as server:
        yield server


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory,
    indexed: tuple[Path, IngestReport],
    ollama: OllamaStandin,
) -> Iterator[httpx.Client]:
    """kura over a copy of the indexed corpus (an embedded store is opened by one server at a
    time), answering with this module's stand-in."""
    data_dir = tmp_path_factory.mktemp("api") / "data"
    copy_data(indexed[0], data_dir)
    with LiveServer(make_settings(data_dir, ollama.url)) as client:
        yield client
