"""kura's whole answering path with a real model behind the Ollama stand-in: streaming over
HTTP, real token counts, and truncation caught against the real model's context size.
Mechanics are asserted, not wording (SmolLM2-135M answers fluently and often wrongly)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingest.pipeline import IngestReport
from tests.support.data_copy import copy_data
from tests.support.llm_backend import MODEL_NAME, REAL_MODEL_TIMEOUT, SmolLM2Backend
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, make_settings

pytestmark = pytest.mark.llm

QUESTION = "What does error E-417 mean on the HX-400?"


@pytest.fixture(scope="module")
def backend() -> Iterator[SmolLM2Backend]:
    model = SmolLM2Backend(n_ctx=2048, threads=1)
    yield model
    model.close()


def serve(data: Path, ollama: OllamaStandin, num_ctx: int) -> LiveServer:
    settings = make_settings(
        data,
        ollama.url,
        ollama_model=MODEL_NAME,
        num_ctx=num_ctx,
        answer_max_tokens=128,
        top_k=3,
        temperature=0,
        request_timeout=REAL_MODEL_TIMEOUT,
    )
    return LiveServer(settings)


def test_streamed_answer_from_a_real_model(
    backend: SmolLM2Backend, indexed: tuple[Path, IngestReport], tmp_path: Path
) -> None:
    copy_data(indexed[0], tmp_path / "data")
    with (
        OllamaStandin(StandinState(models=[MODEL_NAME]), backend=backend) as ollama,
        serve(tmp_path / "data", ollama, 4096) as client,
    ):
        response = client.post("/v1/query", json={"question": QUESTION, "stream": True})
        generations = list(ollama.state.generations)
    frames = [f for f in response.text.strip().split("\n\n") if f]
    kinds = [f.split("\n")[0].removeprefix("event: ") for f in frames]
    assert kinds[0] == "passages"
    assert kinds[-1] == "done", frames[-1]
    assert kinds.count("token") >= 2
    done = json.loads(frames[-1].split("data: ", 1)[1])
    assert done["answer"]
    real = generations[-1]
    assert done["usage"]["prompt_tokens"] == real["prompt_eval_count"] > 0
    assert 0 < done["usage"]["completion_tokens"] == real["eval_count"] <= 128


def test_truncation_by_the_real_context_is_an_error(
    backend: SmolLM2Backend, indexed: tuple[Path, IngestReport], tmp_path: Path
) -> None:
    copy_data(indexed[0], tmp_path / "data")
    # kura asks for 4096 tokens of context; this "Ollama" holds 256, and cuts the prompt.
    state = StandinState(models=[MODEL_NAME], context_length=256)
    with (
        OllamaStandin(state, backend=backend) as ollama,
        serve(tmp_path / "data", ollama, 4096) as client,
    ):
        response = client.post("/v1/query", json={"question": QUESTION})
    assert response.status_code == 502
    assert "truncated" in response.json()["detail"]
    assert isinstance(response, httpx.Response)
