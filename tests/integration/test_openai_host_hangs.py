"""An OpenAI-compatible server that hangs (takes the request, sends nothing) beside one that
answers, over HTTP: the question goes to the one that answers within the hang timeout, whole or
streamed, in English and Japanese (through kura's own /v1/query too), and the hung one is marked
down and named in the log. A server that hangs mid-answer loses the question when none of the
answer was shown, and ends a shown one with an error. Guards: the only host up is waited for
KURA_REQUEST_TIMEOUT, and a slow server that keeps sending is never given up on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.errors import LLMFailed, LLMTimeout
from app.llm import Generation, build_llm
from app.llm.model import AnsweringModel
from ingest.pipeline import IngestReport
from tests.support.data_copy import copy_data
from tests.support.openai_standin import (
    COMPLETION_TOKENS,
    MODEL,
    REASONING,
    OpenAIStandin,
    answer_to,
    prompt_tokens,
)
from tests.support.server import LiveServer, make_settings
from tests.support.sse import events

pytestmark = pytest.mark.integration

QUESTION = "What does error E-417 mean on the HX-400?"
QUESTION_JA = "HX-400 のエラー E-417 はどういう意味ですか？"
HANG = 1.0  # KURA_LLM_HANG_TIMEOUT in these tests
PATIENCE = 20.0  # KURA_REQUEST_TIMEOUT: what a question would wait without the hang rule
BOUND = 10.0  # a generous upper bound for an answer that waited one hang timeout (busy CI)


def settings_for(data_dir: Path, *hosts: OpenAIStandin, **extra: Any) -> Any:
    return make_settings(
        data_dir,
        llm_backend="openai",
        openai_base_url=",".join(h.url for h in hosts),
        ollama_model=MODEL,
        llm_hang_timeout=HANG,
        # no background check during a test: a hung vLLM still lists its models
        **{"request_timeout": PATIENCE, "llm_retry_after": 60, **extra},
    )


@contextlib.contextmanager
def answering(tmp_path: Path, *hosts: OpenAIStandin, **extra: Any) -> Iterator[AnsweringModel]:
    """kura's answering model on ``hosts``, closed at the end."""
    llm = build_llm(settings_for(tmp_path, *hosts, **extra))
    try:
        yield llm
    finally:
        llm.close()


def ask(llm: AnsweringModel, question: str, stream: bool) -> tuple[Generation, float]:
    """The answer to ``question`` (streamed or whole) and the seconds it took."""
    messages = [{"role": "user", "content": question}]
    started = time.monotonic()
    if not stream:
        return llm.chat(messages, think="low"), time.monotonic() - started
    stats = Generation("", "", "", 0, 0, "", 0.0)

    async def read() -> None:
        async for _ in llm.stream(messages, think="low", stats=stats):
            pass

    asyncio.run(read())
    return stats, time.monotonic() - started


def states(llm: AnsweringModel) -> dict[str, dict[str, Any]]:
    return {h["url"]: h for h in llm.hosts_status()["hosts"]}


ASKED = [(QUESTION, False), (QUESTION_JA, True), (QUESTION, True), (QUESTION_JA, False)]
IDS = ["en-whole", "ja-streamed", "en-streamed", "ja-whole"]


@pytest.mark.parametrize(("question", "stream"), ASKED, ids=IDS)
def test_a_hung_server_hands_its_question_to_the_one_that_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, question: str, stream: bool
) -> None:
    with (
        OpenAIStandin() as hung,
        OpenAIStandin() as other,
        answering(tmp_path, hung, other) as llm,
        caplog.at_level(logging.WARNING),
    ):
        hung.hang = True
        # Both hosts are idle: the first in the list takes the question.
        answer, seconds = ask(llm, question, stream)
        assert (answer.content, answer.thinking) == (answer_to(question), REASONING)
        usage = (answer.prompt_tokens, answer.completion_tokens, answer.done_reason)
        sent = prompt_tokens([{"role": "user", "content": question}])
        assert usage == (sent, COMPLETION_TOKENS, "stop")  # from the stream's last chunks
        assert HANG <= seconds < BOUND  # on main: PATIENCE seconds, then LLMTimeout
        assert (len(hung.requests), len(other.requests)) == (1, 1)
        hosts = states(llm)
        assert hosts[hung.url]["up"] is False
        assert "KURA_LLM_HANG_TIMEOUT" in hosts[hung.url]["detail"]
        assert "the host hangs" in hosts[hung.url]["detail"]
        assert "OpenAI-compatible server" in hosts[hung.url]["detail"]
        assert "Ollama" not in hosts[hung.url]["detail"]
        assert (hosts[other.url]["up"], hosts[other.url]["answered"]) == (True, 1)
        logged = caplog.text
        assert f"LLM host {hung.url} is down" in logged
        assert f"asking {other.url}" in logged
        # The next question, the other way, goes straight to the host up.
        later, seconds = ask(llm, question, not stream)
        assert later.content == answer_to(question)
        assert seconds < HANG
        assert (len(hung.requests), len(other.requests)) == (1, 2)


# Frames: 0 the role delta (no text), 1-10 the reasoning, 11 on the answer.
STALLS = [
    (QUESTION, False, 20),  # a whole answer: nothing of it was shown
    (QUESTION_JA, True, 1),  # the role delta only: nothing shown
    (QUESTION_JA, False, 3),
]


@pytest.mark.parametrize(
    ("question", "stream", "frames"), STALLS, ids=["en-whole", "ja-role", "ja-whole"]
)
def test_a_server_that_stalls_before_anything_was_shown_loses_the_question(
    tmp_path: Path, question: str, stream: bool, frames: int
) -> None:
    with (
        OpenAIStandin() as stalled,
        OpenAIStandin() as other,
        answering(tmp_path, stalled, other) as llm,
    ):
        stalled.stall_after = frames  # headers and some frames sent, then nothing
        answer, seconds = ask(llm, question, stream)
        assert answer.content == answer_to(question)
        assert HANG <= seconds < BOUND
        assert (len(stalled.requests), len(other.requests)) == (1, 1)
        assert "the host hangs" in states(llm)[stalled.url]["detail"]


@pytest.mark.parametrize("question", [QUESTION, QUESTION_JA], ids=["en", "ja"])
def test_a_streamed_answer_whose_server_stalls_ends_with_an_error(
    tmp_path: Path, question: str
) -> None:
    with (
        OpenAIStandin() as stalled,
        OpenAIStandin() as other,
        answering(tmp_path, stalled, other) as llm,
    ):
        stalled.stall_after = 3  # reasoning was shown: the answer cannot start again elsewhere
        started = time.monotonic()
        with pytest.raises(LLMFailed, match="in the middle of the answer") as failed:
            ask(llm, question, stream=True)
        assert time.monotonic() - started < BOUND
        assert "KURA_LLM_HANG_TIMEOUT" in str(failed.value)
        assert states(llm)[stalled.url]["up"] is False
        assert other.requests == []


@pytest.mark.parametrize(("question", "stream"), [(QUESTION, False), (QUESTION_JA, True)])
def test_the_only_host_hung_fails_at_the_request_timeout(
    tmp_path: Path, question: str, stream: bool
) -> None:
    with OpenAIStandin() as hung, answering(tmp_path, hung, request_timeout=2 * HANG) as llm:
        hung.hang = True
        started = time.monotonic()
        with pytest.raises(LLMTimeout, match="KURA_REQUEST_TIMEOUT"):
            ask(llm, question, stream)
        seconds = time.monotonic() - started
        assert len(hung.requests) == 1  # no second try
        assert llm.hosts_status()["hosts"][0]["up"] is True
    assert 2 * HANG <= seconds < 2 * HANG + BOUND  # the request timeout, not the hang one


@pytest.mark.parametrize(("question", "stream"), ASKED[:2], ids=IDS[:2])
def test_a_slow_server_that_keeps_sending_is_not_given_up_on(
    tmp_path: Path, question: str, stream: bool
) -> None:
    with (
        OpenAIStandin() as slow,
        OpenAIStandin() as other,
        answering(tmp_path, slow, other) as llm,
    ):
        slow.interval = 0.15 * HANG  # 19 frames or more: the answer outlasts the hang timeout
        answer, seconds = ask(llm, question, stream)
        assert answer.content == answer_to(question)
        assert seconds > 2 * HANG
        assert other.requests == []
        assert [h["up"] for h in llm.hosts_status()["hosts"]] == [True, True]


@pytest.mark.parametrize(
    ("question", "stream"), [(QUESTION, False), (QUESTION_JA, True)], ids=["en-whole", "ja-sse"]
)
def test_kuras_api_answers_from_the_host_up_when_one_hangs(
    indexed: tuple[Path, IngestReport],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    question: str,
    stream: bool,
) -> None:
    data = copy_data(indexed[0], tmp_path / "data")
    with (
        OpenAIStandin() as hung,
        OpenAIStandin() as other,
        LiveServer(settings_for(data, hung, other)) as client,
        caplog.at_level(logging.WARNING),
    ):
        for _ in range(2):  # each host answers once: one-time loads count in no wait below
            assert client.post("/v1/query", json={"question": question}).status_code == 200
        hung.hang = True
        started = time.monotonic()
        response = client.post("/v1/query", json={"question": question, "stream": stream})
        seconds = time.monotonic() - started
    assert response.status_code == 200, response.text
    if stream:
        kind, last = events(response.text)[-1]
        assert kind == "done", last
    else:
        last = response.json()
    assert last["answer"].startswith(answer_to(question)[:10])
    assert HANG <= seconds < BOUND  # on main: PATIENCE seconds, then 504
    assert (len(hung.requests), len(other.requests)) == (2, 2)
    assert f"LLM host {hung.url} is down" in caplog.text


def test_a_server_silent_to_its_model_list_is_checked_within_the_hang_timeout(
    tmp_path: Path,
) -> None:
    # A box that takes connections and never answers anything (the kernel completes the
    # handshake for a socket that listens and never accepts).
    with socket.socket() as silent, OpenAIStandin() as other:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        settings = make_settings(
            tmp_path,
            llm_backend="openai",
            openai_base_url=f"{url},{other.url}",
            ollama_model=MODEL,
            llm_hang_timeout=HANG,
            request_timeout=PATIENCE,
            llm_retry_after=60,
        )
        with build_llm(settings) as llm:
            started = time.monotonic()
            status = llm.status()  # /readyz
            seconds = time.monotonic() - started
            hosts = states(llm)
    assert status["ok"] is True
    assert status["detail"] == "ready on 1 of 2 hosts"
    assert seconds < BOUND  # on main: 5 s for this host's check
    detail = hosts[url]["detail"]
    assert detail == (
        f"the OpenAI-compatible server at {url} did not list its models within {HANG:g} s: "
        "it hangs or is overloaded"
    )
    assert "KURA_REQUEST_TIMEOUT" not in detail  # not the advice for a long answer
