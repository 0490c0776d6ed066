"""A host marked down for hanging still answers the checks that load nothing (Ollama's
/api/tags, vLLM's /v1/models): it stays down until it writes again, so the next question is
not held for the hang timeout once more. Both backends over HTTP, English and Japanese; the
background check and /readyz's both."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.llm import build_llm
from app.llm.model import AnsweringModel
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.openai_standin import MODEL, OpenAIStandin, answer_to
from tests.support.server import make_settings
from tests.support.sse import wait_for

pytestmark = pytest.mark.integration

HANG = 1.0  # KURA_LLM_HANG_TIMEOUT
CHECKS = 0.2  # KURA_LLM_RETRY_AFTER: the first check of a host marked down, after this
QUESTIONS = [
    "What does error E-417 mean on the HX-400?",
    "HX-400 のエラー E-417 はどういう意味ですか？",
]


class Ollama:
    """An Ollama host whose generations can hang while /api/tags and /api/ps answer."""

    backend = "ollama"

    def __init__(self) -> None:
        self.server = OllamaStandin(StandinState(loaded=True))
        self.held: threading.Event | None = None

    def hang(self, on: bool) -> None:
        if on:
            self.held = self.server.state.hold = threading.Event()
        elif self.held is not None:
            self.server.state.hold = None
            self.held.set()  # the generations it held go on

    def generations(self) -> int:
        return sum(r["path"] == "/api/chat" for r in self.server.state.requests)

    def settings(self) -> dict[str, Any]:
        return {}


class OpenAI:
    """A vLLM whose generations can hang while /v1/models answers."""

    backend = "openai"

    def __init__(self) -> None:
        self.server = OpenAIStandin()

    def hang(self, on: bool) -> None:
        self.server.hang = on

    def generations(self) -> int:
        return len(self.server.requests)

    def settings(self) -> dict[str, Any]:
        return {"llm_backend": "openai", "ollama_model": MODEL}


@contextlib.contextmanager
def two_hosts(kind: type[Ollama | OpenAI], tmp_path: Path) -> Iterator[tuple[Any, AnsweringModel]]:
    first, second = kind(), kind()
    with first.server, second.server:
        urls = ",".join(h.server.url for h in (first, second))
        hosts = {"openai_base_url" if kind is OpenAI else "ollama_hosts": urls}
        settings = make_settings(
            tmp_path,
            llm_hang_timeout=HANG,
            llm_retry_after=CHECKS,
            request_timeout=20.0,
            **hosts,
            **first.settings(),
        )
        llm = build_llm(settings)
        try:
            yield (first, second), llm
        finally:
            first.hang(False)
            llm.close()


def up(llm: AnsweringModel) -> list[bool]:
    return [h["up"] for h in llm.hosts_status()["hosts"]]


@pytest.mark.parametrize("kind", [Ollama, OpenAI], ids=["ollama", "openai"])
@pytest.mark.parametrize("question", QUESTIONS, ids=["en", "ja"])
def test_a_hung_host_is_up_again_only_once_it_writes(
    kind: type[Ollama | OpenAI], question: str, tmp_path: Path
) -> None:
    with two_hosts(kind, tmp_path) as ((hung, _), llm):
        messages = [{"role": "user", "content": question}]
        hung.hang(True)
        answer = llm.chat(messages, think="low")  # the first host takes it, then hands it over
        assert answer.content
        if kind is OpenAI:
            assert answer.content == answer_to(question)
        assert up(llm) == [False, True]
        asked = hung.generations()
        # The background check asks it to write one token: it hangs, so it stays down (on
        # main its model list answered and it was up again at the first check).
        wait_for(lambda: hung.generations() > asked, 10)
        assert up(llm) == [False, True]
        status = llm.status()  # /readyz: it does not bring it back either
        assert status["detail"] == "ready on 1 of 2 hosts"
        assert up(llm) == [False, True]
        hung.hang(False)
        wait_for(lambda: up(llm) == [True, True], 10)  # it writes: up again
        assert llm.chat(messages, think="low").content
