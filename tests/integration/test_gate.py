"""The turn toward Ollama (the gate) is never lost: a client that goes away while queued,
while connecting or while streaming hands its turn back, so the next question is answered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.llm import Gate, Generation, OllamaLLM
from ingest.pipeline import IngestReport
from tests.support.data_copy import copy_data
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, make_settings
from tests.support.sse import wait_for

pytestmark = pytest.mark.integration

QUESTION = "What does error E-417 mean on the HX-400?"
MESSAGES = [{"role": "user", "content": QUESTION}]


@pytest.fixture
def slow() -> Iterator[OllamaStandin]:
    with OllamaStandin(StandinState(delay_per_token=0.2)) as server:
        yield server


def test_a_stream_cancelled_while_queued_gives_its_turn_back(
    slow: OllamaStandin, tmp_path: Path
) -> None:
    llm = OllamaLLM(make_settings(tmp_path, slow.url, ollama_queue_timeout=30))
    gate = llm.gate

    async def scenario() -> None:
        gate.acquire()  # someone else holds the one turn
        stats = Generation("", "", "", 0, 0, "", 0.0)

        async def consume() -> None:
            async for _ in llm.stream(MESSAGES, think="low", stats=stats):
                pass

        task = asyncio.create_task(consume())
        while gate.waiting == 0:
            await asyncio.sleep(0.01)
        task.cancel()  # Stop pressed while the question still waits for its turn
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.release()
        await asyncio.sleep(0.2)  # a leaked waiter would take the turn now, for good

    asyncio.run(scenario())
    assert (gate.waiting, gate.in_flight) == (0, 0)
    started = time.monotonic()
    gate.acquire()  # the turn is free at once, not after the queue timeout
    gate.release()
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("moment", ["connecting", "streaming"])
def test_a_stream_cancelled_in_flight_gives_its_turn_back(
    slow: OllamaStandin, tmp_path: Path, moment: str
) -> None:
    llm = OllamaLLM(make_settings(tmp_path, slow.url))
    if moment == "connecting":
        slow.state.load_seconds = 5.0  # the request hangs while the model loads

    async def scenario() -> None:
        stats = Generation("", "", "", 0, 0, "", 0.0)
        pieces = 0

        async def consume() -> None:
            nonlocal pieces
            async for _ in llm.stream(MESSAGES, think="low", stats=stats):
                pieces += 1

        task = asyncio.create_task(consume())
        while llm.gate.in_flight == 0 or (moment == "streaming" and pieces == 0):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert (llm.gate.waiting, llm.gate.in_flight) == (0, 0)


def test_gate_refuses_past_the_queue_and_frees_every_turn() -> None:
    gate = Gate(limit=1, queue=1, wait=0.3)
    gate.acquire()
    with pytest.raises(Exception, match="waited too long"):
        gate.acquire()
    assert gate.waiting == 0
    gate.release()
    assert gate.in_flight == 0


def test_a_web_client_that_leaves_while_queued_does_not_block_the_next(
    indexed: tuple[Path, IngestReport], tmp_path: Path, slow: OllamaStandin
) -> None:
    data_dir = tmp_path / "data"
    copy_data(indexed[0], data_dir)
    settings = make_settings(data_dir, slow.url, ollama_concurrency=1, ollama_queue_timeout=8)
    server = LiveServer(settings)
    with server as client:
        gate = server.server.config.app.state.llm.gate  # type: ignore[attr-defined]
        body = {"question": QUESTION, "stream": True}
        with httpx.Client(base_url=server.url, timeout=60) as first_client:
            first = first_client.stream("POST", "/v1/query", json=body)
            first_response = first.__enter__()
            lines = first_response.iter_lines()
            while "event: token" not in next(lines):
                pass  # the first question streams: it holds the one turn
            with (
                httpx.Client(base_url=server.url, timeout=60) as second_client,
                second_client.stream("POST", "/v1/query", json=body) as second,
            ):
                second_lines = second.iter_lines()
                while "event: passages" not in next(second_lines):
                    pass
                wait_for(lambda: gate.waiting == 1, 10)
                # the second client left while its question was queued
            for _ in lines:
                pass  # the first answer completes
            first.__exit__(None, None, None)
        wait_for(lambda: gate.waiting == 0 and gate.in_flight == 0, 10)
        started = time.monotonic()
        third = client.post("/v1/query", json={"question": QUESTION})
        waited = time.monotonic() - started
    assert third.status_code == 200, third.text
    assert waited < 6, f"the next question waited {waited:.1f}s for a turn"
    assert (gate.waiting, gate.in_flight) == (0, 0)


def test_queued_questions_hold_no_thread_and_are_served_in_order() -> None:
    # More waiters than the event loop's default executor has threads: waiting in threads
    # would leave none for the turn holder's own blocking calls, stalling everyone until the
    # waiters timed out (seen as 60 s stalls in benchmarks/gate_load.py).
    gate = Gate(limit=1, queue=32, wait=5)
    served: list[int] = []

    async def waiter(i: int) -> None:
        await gate.acquire_async()
        served.append(i)

    async def scenario() -> float:
        await gate.acquire_async()
        tasks = []
        for i in range(16):
            tasks.append(asyncio.create_task(waiter(i)))
            while gate.waiting < i + 1:
                await asyncio.sleep(0.001)
        started = time.monotonic()
        await asyncio.wait_for(asyncio.to_thread(time.sleep, 0), 10)
        took = time.monotonic() - started
        for task in tasks:
            gate.release()
            await task
        gate.release()
        return took

    took = asyncio.run(scenario())
    assert took < 1
    assert served == list(range(16))
    assert (gate.waiting, gate.in_flight) == (0, 0)
