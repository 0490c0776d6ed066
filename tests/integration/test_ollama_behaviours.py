"""kura against the behaviours of real Ollama (as the stand-in reproduces them from Ollama's
source): reasoning that spends the whole budget, truncation as each version does it, the
model's own context, loading, timeouts, a full queue, keep_alive."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingest.pipeline import IngestReport
from tests.conftest import LiveServer, make_settings
from tests.ollama_standin import OllamaStandin, StandinState

pytestmark = pytest.mark.integration

QUESTION = "What does error E-417 mean on the HX-400?"
QUESTION_JA = "HX-400 のエラー E-417 はどういう意味ですか？"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, indexed: tuple[Path, IngestReport]) -> Path:
    return Path(shutil.copytree(indexed[0], tmp_path_factory.mktemp("behaviours") / "data"))


@pytest.fixture(scope="module")
def ollama() -> Iterator[OllamaStandin]:
    with OllamaStandin(StandinState()) as server:
        yield server


@pytest.fixture(scope="module")
def api(data_dir: Path, ollama: OllamaStandin) -> Iterator[httpx.Client]:
    settings = make_settings(data_dir, ollama.url, answer_max_tokens=512)
    with LiveServer(settings) as client:
        yield client


@pytest.fixture
def reasoning_forever(ollama: OllamaStandin) -> Iterator[None]:
    ollama.state.reasoning_tokens = 100_000
    yield
    ollama.state.reasoning_tokens = 0


def sse_events(text: str) -> list[tuple[str, dict]]:
    found = []
    for frame in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        found.append((lines["event"], json.loads(lines["data"])))
    return found


@pytest.mark.parametrize("question", [QUESTION, QUESTION_JA])
@pytest.mark.usefixtures("reasoning_forever")
def test_reasoning_that_spends_the_budget_is_an_error_naming_the_setting(
    api: httpx.Client, question: str
) -> None:
    response = api.post("/v1/query", json={"question": question, "reasoning_effort": "high"})
    assert response.status_code == 502, response.text
    detail = response.json()["detail"]
    assert "reasoning" in detail
    assert "KURA_ANSWER_MAX_TOKENS" in detail
    assert "512" in detail
    assert "KURA_REASONING_EFFORT" in detail

    streamed = api.post("/v1/query", json={"question": question, "stream": True})
    events = sse_events(streamed.text)
    assert events[-1][0] == "error"
    assert "KURA_ANSWER_MAX_TOKENS" in events[-1][1]["detail"]
    assert events[-1][1]["status"] == 502
