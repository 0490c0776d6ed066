"""The three ways to ask kura (the query API, the OpenAI API, the `kura ask` command) put the
same question to the model for the same input, with what the request leaves out taken from the
settings (here KURA_TOP_K, changed in the environment)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.audit import MAX_LIMIT
from ingest.pipeline import IngestReport
from tests.support.data_copy import copy_data
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import COLLECTION, LiveServer, make_settings

pytestmark = pytest.mark.integration

QUESTION = "非常停止ボタンを押すとどうなりますか"


def chats(ollama: OllamaStandin) -> list[dict[str, Any]]:
    """What each chat request asked of the model: the prompt, reasoning and options."""
    keys = ("model", "messages", "think", "options")
    return [{k: r.get(k) for k in keys} for r in ollama.state.requests if "messages" in r]


def retrieved(chat: dict[str, Any]) -> int:
    """Passages in the prompt that retrieval found (not added as references or definitions)."""
    prompt = chat["messages"][-1]["content"]
    return sum(1 for part in prompt.split("<passage ")[1:] if "added=" not in part.split(">")[0])


def test_every_entry_point_asks_the_model_the_same(
    tmp_path: Path, indexed: tuple[Path, IngestReport], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KURA_TOP_K", "1")
    with OllamaStandin(StandinState()) as ollama:
        # each on its own copy: an embedded store is opened by one process at a time
        cli_dir, api_dir = tmp_path / "cli", tmp_path / "api"
        copy_data(indexed[0], cli_dir)
        copy_data(indexed[0], api_dir)
        env = {
            **os.environ,
            "KURA_DATA_DIR": str(cli_dir),
            "KURA_OLLAMA_HOST": ollama.url,
            "KURA_COLLECTION": COLLECTION,
        }
        cli = subprocess.run(
            [sys.executable, "-m", "app", "ask", QUESTION, "--no-stream"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert cli.returncode == 0, cli.stderr
        server = LiveServer(make_settings(api_dir, ollama.url))
        with server as client:
            query = client.post("/v1/query", json={"question": QUESTION})
            messages = [{"role": "user", "content": QUESTION}]
            chat = client.post(
                "/v1/chat/completions", json={"model": f"kura:{COLLECTION}", "messages": messages}
            )
            audit = server.server.config.app.state.audit  # type: ignore[attr-defined]
            rows = audit.query(limit=MAX_LIMIT)
            # the control: the same question with six passages asked for explicitly
            wider = client.post("/v1/query", json={"question": QUESTION, "top_k": 6})
    assert query.status_code == 200, query.text
    assert chat.status_code == 200, chat.text
    assert query.json()["covered"] is True
    assert wider.status_code == 200, wider.text
    asked = chats(ollama)
    assert len(asked) == 4  # the command line, /v1/query, /v1/chat/completions, the control
    assert asked[0] == asked[1] == asked[2]
    assert asked[0]["think"] == "low"
    # KURA_TOP_K=1 reached all three: one retrieved passage, where six were there to find
    assert retrieved(asked[0]) == 1
    assert retrieved(asked[3]) > 1
    assert sorted(row.endpoint for row in rows) == ["/v1/chat/completions", "/v1/query"]
    assert {row.settings["top_k"] for row in rows} == {1}
    assert {row.question for row in rows} == {QUESTION}
