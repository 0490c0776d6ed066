"""A live kura with an indexed corpus and an API key, and a headless Chromium to drive it.

Chromium is Debian's (``apt-get install chromium fonts-noto-cjk``): Playwright's own browser
download cannot reach its host from here, so the launch names the system executable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from app.keys import KeyStore
from ingest.pipeline import IngestReport
from tests.support.data_copy import copy_data
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, free_port, make_settings

CHROMIUM = os.environ.get("KURA_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("KURA_ARTIFACTS", Path(__file__).resolve().parent / "artifacts"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: the web page in headless Chromium; slower")


@dataclass
class Kura:
    """A running kura as the page sees it."""

    url: str
    key: str
    standin: OllamaStandin | None
    reader_key: str = ""  # a key without admin rights (group staff), where there are keys


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (``KURA_ARTIFACTS``)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium. Module-scoped: Playwright's sync API runs an event loop on
    the main thread while it is open, which later tests' asyncio.run() would trip over."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def _data_copy(indexed: tuple[Path, IngestReport], tmp: Path) -> Path:
    # Embedded Qdrant allows one client per folder, and uploads change the index.
    return copy_data(indexed[0], tmp / "data")


@pytest.fixture(scope="module")
def kura(
    indexed: tuple[Path, IngestReport], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Kura]:
    """kura with API keys on, the corpus indexed, the Ollama stand-in answering."""
    data_dir = _data_copy(indexed, tmp_path_factory.mktemp("web"))
    with OllamaStandin(StandinState()) as standin:
        settings = make_settings(data_dir, standin.url, auth="keys")
        with KeyStore(settings.state_path) as keys:
            key, _ = keys.create("alice", ["staff"], admin=True)
            reader, _ = keys.create("bob", ["staff"])
        server = LiveServer(settings)
        with server:
            yield Kura(server.url, key, standin, reader)


@pytest.fixture(scope="module")
def kura_no_ollama(
    indexed: tuple[Path, IngestReport], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Kura]:
    """kura without authentication whose Ollama address has nothing listening."""
    data_dir = _data_copy(indexed, tmp_path_factory.mktemp("web-down"))
    dead = f"http://127.0.0.1:{free_port()}"
    server = LiveServer(make_settings(data_dir, dead, auth="off"))
    with server:
        yield Kura(server.url, "", None)


@pytest.fixture(scope="module")
def kura_down_keys(
    indexed: tuple[Path, IngestReport], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Kura]:
    """kura with API keys (an admin's and a reader's) whose Ollama has nothing listening."""
    data_dir = _data_copy(indexed, tmp_path_factory.mktemp("web-down-keys"))
    settings = make_settings(data_dir, f"http://127.0.0.1:{free_port()}", auth="keys")
    with KeyStore(settings.state_path) as keys:
        admin, _ = keys.create("root", ["staff"], admin=True)
        reader, _ = keys.create("carol", ["staff"])
    server = LiveServer(settings)
    with server:
        yield Kura(server.url, admin, None, reader)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context and page; an uncaught script error fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"script errors on the page: {errors}"
