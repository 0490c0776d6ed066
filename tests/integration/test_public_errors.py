"""What a caller without an admin key learns of the servers behind kura: /readyz gives the status
only (no host URLs, no errors), and a busy or truncating model is named in plain words, without
server settings; admins (and a loopback deployment without keys) get the operator's detail."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest

from app.errors import TOO_LONG
from app.keys import KeyStore
from app.settings import AppSettings
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, free_port, index_texts, make_settings
from tests.support.sse import events, wait_for

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
    data_dir = index_texts(tmp_path_factory.mktemp("public"), {"hx400.txt": MANUAL})
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


# -- errors of the answering model -------------------------------------------------------------


def test_a_truncated_prompt_is_named_plainly_to_readers(data: tuple[Path, Keys]) -> None:
    data_dir, keys = data
    # Ollama gives the model less context than kura asked for: the prompt is cut
    state = StandinState.like("0.32.15", served_context=256)
    with OllamaStandin(state) as ollama, LiveServer(served(data_dir, ollama.url)) as client:
        for question in QUESTIONS:
            body = {"question": question, "collection": "corpus"}
            reader = client.post("/v1/query", json=body, headers=auth(keys.reader))
            assert reader.status_code == 502, reader.text
            assert reader.json()["error"] == "ContextTruncated"
            assert "too long" in reader.json()["detail"]
            assert plain(reader.text), reader.text
            admin = client.post("/v1/query", json=body, headers=auth(keys.admin))
            assert admin.status_code == 502
            assert "num_ctx" in admin.json()["detail"]  # the operator's detail
            streamed = client.post(
                "/v1/query", json={**body, "stream": True}, headers=auth(keys.reader)
            )
            [(_, error)] = [e for e in events(streamed.text) if e[0] == "error"]
            assert error["error"] == "ContextTruncated"
            assert plain(error["detail"]), error
            # the OpenAI-compatible stream (Open WebUI): its error chunk is as plain
            chat = {"model": "kura:corpus", "messages": [{"role": "user", "content": question}]}
            openai = client.post(
                "/v1/chat/completions", json={**chat, "stream": True}, headers=auth(keys.reader)
            )
            [error_chunk] = [line for line in openai.text.splitlines() if '"error"' in line]
            assert json.loads(error_chunk.removeprefix("data: "))["error"]["message"] == TOO_LONG


def test_a_busy_model_is_named_plainly_to_readers(data: tuple[Path, Keys]) -> None:
    """Ollama's own queue full (OLLAMA_MAX_QUEUE) while another application holds its one
    slot: readers are told to try again, with Retry-After; admins read which limit."""
    data_dir, keys = data
    # the other application's request holds Ollama's one slot while the model loads
    state = StandinState(max_queue=0, load_seconds=20)
    stop = threading.Event()

    def another_application() -> None:
        body = {
            "model": "gpt-oss:20b",
            "messages": [{"role": "user", "content": "点検の手順を詳しく説明してください"}],
        }
        with httpx.stream("POST", f"{ollama.url}/api/chat", json=body, timeout=120) as answer:
            for _ in answer.iter_lines():
                if stop.is_set():
                    return  # leaving frees Ollama's slot

    with OllamaStandin(state) as ollama:
        settings = served(data_dir, ollama.url, ollama_concurrency=2)
        with LiveServer(settings) as client:
            other = threading.Thread(target=another_application)
            other.start()
            try:
                wait_for(lambda: state.loaded)  # it has the slot
                for question in QUESTIONS:
                    body = {"question": question, "collection": "corpus"}
                    reader = client.post("/v1/query", json=body, headers=auth(keys.reader))
                    assert reader.status_code == 503, reader.text
                    assert reader.json()["error"] == "Busy"
                    assert "busy" in reader.json()["detail"]
                    assert plain(reader.text), reader.text
                    assert int(reader.headers["Retry-After"]) > 0
                admin = client.post(
                    "/v1/query", json={"question": QUESTIONS[0]}, headers=auth(keys.admin)
                )
                assert admin.status_code == 503
                assert "OLLAMA_MAX_QUEUE" in admin.json()["detail"]
            finally:
                stop.set()
                other.join()
        assert state.refused_busy >= 3
