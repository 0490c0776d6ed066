"""What a caller without an admin key learns of the servers behind kura: /readyz gives the status
only (no host URLs, no errors), and a busy or truncating model is named in plain words, without
server settings; admins (and a loopback deployment without keys) get the operator's detail."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.keys import KeyStore
from app.settings import AppSettings
from ingest.components import build_components
from ingest.pipeline import Indexer
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, free_port, make_settings

pytestmark = pytest.mark.integration

MANUAL = """HX-400 service manual

Fault codes

Error E-417 means the coolant is overheating: stop the pump and let it cool for ten minutes.
エラー E-417 は冷却水の過熱を示します。ポンプを止めて十分間冷ましてください。
"""
QUESTIONS = ["What does error E-417 mean?", "エラー E-417 はどういう意味ですか？"]
# What only an operator should read: settings, Ollama's own limits, context sizes.
OPERATOR_WORDS = ("KURA_", "OLLAMA_", "num_ctx", "http://", "127.0.0.1")


class Keys:
    admin: str
    reader: str


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Keys]:
    """A data dir with the manual indexed, an admin key and a reader's key."""
    root = tmp_path_factory.mktemp("public")
    docs, data_dir = root / "docs", root / "data"
    docs.mkdir()
    (docs / "hx400.txt").write_text(MANUAL, encoding="utf-8")
    components = build_components(make_settings(data_dir))
    try:
        Indexer(components, "corpus").ingest_paths([docs])
    finally:
        components.close()
    keys = Keys()
    with KeyStore(make_settings(data_dir).state_path) as store:
        keys.admin, _ = store.create("root", ["it"], admin=True)
        keys.reader, _ = store.create("tanaka", ["sales"])
    return data_dir, keys


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def served(data_dir: Path, host: str, **extra: object) -> AppSettings:
    return make_settings(data_dir, host, auth="keys", **extra)


def plain(text: str) -> bool:
    return not any(word in text for word in OPERATOR_WORDS)


# -- /readyz -----------------------------------------------------------------------------------


def test_readyz_gives_the_status_only_without_an_admin_key(data: tuple[Path, Keys]) -> None:
    data_dir, keys = data
    with (
        OllamaStandin(StandinState()) as ollama,
        LiveServer(served(data_dir, ollama.url)) as client,
    ):
        up = client.get("/readyz")
        assert up.status_code == 200
        assert up.json() == {"status": "ready", "qdrant": {"ok": True}, "ollama": {"ok": True}}
        admin = client.get("/readyz", headers=auth(keys.admin)).json()
        assert admin["llm"]["hosts"][0]["url"] == ollama.url
        assert admin["ollama"]["model_present"] is True
        ollama.state.models = ["llama3.2:1b"]  # gpt-oss is gone from it
        for headers in ({}, auth(keys.reader)):
            down = client.get("/readyz", headers=headers)
            assert down.status_code == 503  # what compose healthchecks and probes read
            expected = {"status": "not ready", "qdrant": {"ok": True}, "ollama": {"ok": False}}
            assert down.json() == expected
            assert plain(down.text)
        detail = client.get("/readyz", headers=auth(keys.admin))
        assert detail.status_code == 503
        assert detail.json()["ollama"]["model_present"] is False
        assert ollama.url in detail.text  # which host is down, and why
        assert "ollama pull gpt-oss:20b" in detail.text
        assert detail.json()["llm"]["hosts"][0]["up"] is False
        # a wrong key is refused (and counted) as anywhere, not read as "no key"
        wrong = client.get("/readyz", headers=auth(keys.reader[:-1] + "x"))
        assert wrong.status_code == 401


def test_readyz_without_keys_on_loopback_gives_the_detail(data: tuple[Path, Keys]) -> None:
    data_dir, _ = data
    dead = f"http://127.0.0.1:{free_port()}"
    with LiveServer(make_settings(data_dir, dead)) as client:  # KURA_AUTH=off: loopback only
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["llm"]["hosts"][0]["url"] == dead
        assert "cannot reach Ollama" in ready.json()["ollama"]["detail"]
