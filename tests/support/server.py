"""kura served for tests and benchmarks: settings on a temporary data dir, a free loopback
port, the app in a uvicorn thread (what tests and benchmarks import; fixtures stay in conftest)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from app.main import create_app
from app.settings import AppSettings

COLLECTION = "corpus"


def make_settings(
    data_dir: Path, ollama_host: str = "http://127.0.0.1:9", **extra: object
) -> AppSettings:
    """Test settings: everything under ``data_dir``, nothing read from the environment's .env;
    authentication off unless ``auth="keys"`` is given."""
    return AppSettings(
        _env_file=None,
        data_dir=data_dir,
        ollama_host=ollama_host,
        collection=COLLECTION,
        **{"auth": "off", "request_timeout": 30, **extra},  # type: ignore[arg-type]
    )


def index_texts(root: Path, texts: dict[str, str], collection: str = COLLECTION) -> Path:
    """Write ``texts`` (file name: text) into ``root``/docs and index them into ``collection``
    of a new data dir ``root``/data, store closed again; returns the data dir."""
    from ingest.components import build_components
    from ingest.pipeline import Indexer

    docs, data_dir = root / "docs", root / "data"
    docs.mkdir(parents=True)
    for name, text in texts.items():
        (docs / name).write_text(text, encoding="utf-8")
    components = build_components(make_settings(data_dir))
    try:
        Indexer(components, collection).ingest_paths([docs])
    finally:
        components.close()
    return data_dir


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """kura's app served by uvicorn on loopback, in a thread."""

    def __init__(self, settings: AppSettings) -> None:
        self.port = free_port()
        # its real port, which the server writes in the writer lock for `kura reindex` beside it
        settings = settings.model_copy(update={"api_port": self.port})
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("kura did not start")
            time.sleep(0.05)
        self.client = httpx.Client(base_url=self.url, timeout=60)
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)
