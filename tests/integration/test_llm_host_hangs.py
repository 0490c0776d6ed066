"""An Ollama host that hangs (takes the connection, never answers) beside one that answers,
over HTTP: a question sent to the hung host is answered by the other within the hang timeout,
streamed or not, in English and Japanese; the hung host is shown down in /readyz and later
questions go straight to the other. A host loading the model is waited for, not taken for a
hung one, and a hung host with no other gives the timeout error it always gave."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.pipeline import IngestReport
from tests.support.data_copy import copy_data
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, make_settings
from tests.support.sse import events, wait_for

pytestmark = pytest.mark.integration

QUESTION = "What does error E-417 mean on the HX-400?"
QUESTION_JA = "HX-400 のエラー E-417 はどういう意味ですか？"
HANG = 1.0  # KURA_LLM_HANG_TIMEOUT in these tests
PATIENCE = 20.0  # KURA_REQUEST_TIMEOUT: what a question would wait without the hang rule
BOUND = 10.0  # a generous upper bound for an answer that waited one hang timeout


@pytest.fixture
def data_dir(tmp_path: Path, indexed: tuple[Path, IngestReport]) -> Path:
    return copy_data(indexed[0], tmp_path / "data")


@contextlib.contextmanager
def served(data_dir: Path, *hosts: OllamaStandin, **extra: Any) -> Iterator[httpx.Client]:
    """kura answering with ``hosts``, each having answered one question (so the first
    answer's one-time loads, tokenizers and models, count in no wait measured below)."""
    settings = make_settings(
        data_dir,
        ollama_hosts=",".join(h.url for h in hosts),
        llm_hang_timeout=HANG,
        # no background check during a test: /readyz checks
        **{"request_timeout": PATIENCE, "llm_retry_after": 60, **extra},
    )
    with LiveServer(settings) as client:
        for n, _ in enumerate(hosts):  # the least recently picked host takes each
            ask(client, QUESTION, stream=n % 2 == 1)
        yield client


def ask(client: httpx.Client, question: str, stream: bool) -> tuple[str, float]:
    """The answer to ``question`` (streamed as SSE or whole) and the seconds it took."""
    started = time.monotonic()
    response = client.post("/v1/query", json={"question": question, "stream": stream})
    seconds = time.monotonic() - started
    assert response.status_code == 200, response.text
    if not stream:
        return str(response.json()["answer"]), seconds
    kind, last = events(response.text)[-1]
    assert kind == "done", last
    return str(last["answer"]), seconds


def answers(answer: str, question: str) -> bool:
    """Whether ``answer`` is the stand-in's whole answer to ``question``, in its language: it
    quotes the first passage, the sentence or the table row that says E-417 is coolant
    overheating (a Japanese question's words in English find the table's "Meaning" too)."""
    opening = "資料によると、" if question == QUESTION_JA else "According to the documents: "
    whole = answer.startswith(opening) and answer.endswith(" [1]")
    return whole and "overheating" in answer


def chats(host: OllamaStandin) -> int:
    return sum(r["path"] == "/api/chat" for r in host.state.requests)


ASKED = [(QUESTION, False), (QUESTION_JA, True), (QUESTION, True), (QUESTION_JA, False)]


@pytest.mark.parametrize(
    ("question", "stream"), ASKED, ids=["en-whole", "ja-streamed", "en-streamed", "ja-whole"]
)
def test_a_hung_host_hands_its_question_to_the_host_that_answers(
    data_dir: Path, question: str, stream: bool
) -> None:
    other_question = QUESTION_JA if question == QUESTION else QUESTION
    with (
        OllamaStandin(StandinState()) as hung,
        OllamaStandin(StandinState()) as other,
        served(data_dir, hung, other) as client,
    ):
        hung.state.hang = True  # after it answered: the model in memory, then it hangs
        # The first host is the least recently picked: the question goes to it.
        answer, seconds = ask(client, question, stream)
        assert chats(hung) == 2
        assert answers(answer, question)
        assert seconds < BOUND  # on main: PATIENCE seconds, then 504
        ready = client.get("/readyz").json()
        hosts = {h["url"]: h for h in ready["llm"]["hosts"]}
        assert hosts[hung.url]["up"] is False
        assert "hangs" in hosts[hung.url]["detail"]
        assert (hosts[other.url]["up"], hosts[other.url]["answered"]) == (True, 2)
        assert ready["ollama"]["detail"] == "ready on 1 of 2 hosts"
        # Later questions, in the other language, streamed and not, never wait for it.
        for streamed in (stream, not stream):
            later, seconds = ask(client, other_question, streamed)
            assert answers(later, other_question)
            assert seconds < BOUND
        assert chats(hung) == 2
        assert len(other.state.generations) == 4


def test_a_host_loading_the_model_is_waited_for_not_taken_for_hung(data_dir: Path) -> None:
    load = 3 * HANG  # a cold load: nothing sent for longer than the hang timeout, then tokens
    with (
        OllamaStandin(StandinState(load_seconds=load)) as loading,
        OllamaStandin(StandinState()) as other,
        served(data_dir, loading, other) as client,
    ):
        # Ollama unloaded the model (keep_alive ran out): the next question loads it again.
        loading.state.loaded = False
        answer, seconds = ask(client, QUESTION_JA, True)
        hosts = client.get("/readyz").json()["llm"]["hosts"]
    assert answers(answer, QUESTION_JA)
    assert seconds >= load  # answered by the host that loaded, after its load
    assert [h["up"] for h in hosts] == [True, True]
    assert [h["answered"] for h in hosts] == [2, 1]
    assert len(other.state.generations) == 1


def test_a_load_another_client_started_is_not_taken_for_a_hang(data_dir: Path) -> None:
    # Ollama v0.32.4+ answer /api/ps only once a load in progress ends: kura cannot see the
    # model there while another client's request loads it.
    load = 3 * HANG
    with (
        OllamaStandin(StandinState.like("0.32.15", load_seconds=load)) as loading,
        OllamaStandin(StandinState.like("0.32.15")) as other,
        served(data_dir, loading, other) as client,
    ):
        loading.state.loaded = False
        body = {"model": "gpt-oss:20b", "messages": [{"role": "user", "content": "hi"}]}
        elsewhere = threading.Thread(
            target=lambda: httpx.post(f"{loading.url}/api/chat", json=body, timeout=60)
        )
        elsewhere.start()  # another application's question starts the load
        wait_for(lambda: loading.state.loading)
        answer, _ = ask(client, QUESTION, False)
        elsewhere.join()
        hosts = client.get("/readyz").json()["llm"]["hosts"]
    assert answers(answer, QUESTION)
    assert [h["up"] for h in hosts] == [True, True]
    assert [h["answered"] for h in hosts] == [2, 1]  # the warm-up's, and this one's


@pytest.mark.parametrize(
    ("question", "stream"), [(QUESTION, False), (QUESTION_JA, True)], ids=["en-whole", "ja-stream"]
)
def test_a_lone_host_loading_the_model_answers(data_dir: Path, question: str, stream: bool) -> None:
    with (
        OllamaStandin(StandinState(load_seconds=3 * HANG)) as loading,
        served(data_dir, loading) as client,
    ):
        loading.state.loaded = False  # unloaded since: this question loads it again
        answer, seconds = ask(client, question, stream)
    assert answers(answer, question)
    assert seconds >= 3 * HANG
    assert len(loading.state.generations) == 2


def test_a_hung_host_with_no_other_gives_the_timeout_error(data_dir: Path) -> None:
    with (
        OllamaStandin(StandinState()) as hung,
        served(data_dir, hung, request_timeout=2 * HANG) as client,
    ):
        hung.state.hang = True
        started = time.monotonic()
        failed = client.post("/v1/query", json={"question": QUESTION_JA})
        seconds = time.monotonic() - started
    assert failed.status_code == 504, failed.text
    assert failed.json()["error"] == "LLMTimeout"
    assert "KURA_REQUEST_TIMEOUT" in failed.json()["detail"]
    assert 2 * HANG <= seconds < BOUND  # it waited the request timeout, not the hang one
