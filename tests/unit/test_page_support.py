"""The small server-side pieces the web page relies on: the gate's place in line, the error
text non-admins get, and which titles are real."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import aclosing

import pytest

from app.errors import (
    NO_ANSWER_LEFT,
    TOO_LONG,
    UNAVAILABLE,
    Busy,
    ContextTruncated,
    LLMTimeout,
    LLMUnavailable,
    ModelNotFound,
    ReasoningExhausted,
    public_detail,
)
from app.llm.gate import Gate
from app.services.documents import shown_title
from ingest.errors import CollectionNotFound, KuraError

pytestmark = pytest.mark.unit


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.001)


async def _wait_in_line(gate: Gate, told: list[int]) -> None:
    """Wait for a turn at ``gate``, noting each place in line it tells."""
    async with aclosing(gate.take_turn()) as places:
        async for place in places:
            told.append(place)


def test_each_waiter_is_told_its_place_as_the_line_moves() -> None:
    gate = Gate(limit=1, queue=4, wait=5)
    told: dict[str, list[int]] = {"a": [], "b": [], "c": []}

    async def scenario() -> None:
        await gate.acquire_async()  # a free turn: taken at once, no place in line
        tasks = {}
        for name in told:
            tasks[name] = asyncio.create_task(_wait_in_line(gate, told[name]))
            await _until(lambda: gate.waiting == len(tasks))  # joined the line in order
        assert told == {"a": [1], "b": [2], "c": [3]}
        gate.release()  # the first gets its turn: the others move up
        await tasks["a"]
        await _until(lambda: len(told["c"]) == 2)
        assert told == {"a": [1], "b": [2, 1], "c": [3, 2]}
        tasks["b"].cancel()  # the next leaves the line: the last is next now
        await _until(lambda: len(told["c"]) == 3)
        assert told["c"] == [3, 2, 1]
        assert gate.waiting == 1
        gate.release()
        await tasks["c"]
        gate.release()

    asyncio.run(scenario())
    assert (gate.waiting, gate.in_flight) == (0, 0)


def test_a_waiter_that_waits_too_long_leaves_the_line_and_the_next_moves_up() -> None:
    gate = Gate(limit=1, queue=4, wait=1.0)
    told: list[int] = []

    async def scenario() -> None:
        await gate.acquire_async()
        first = asyncio.create_task(gate.acquire_async())
        await _until(lambda: gate.waiting == 1)
        await asyncio.sleep(0.5)  # the second joins later: its wait ends later
        second = asyncio.create_task(_wait_in_line(gate, told))
        with pytest.raises(Busy, match="waited too long"):
            await first
        await _until(lambda: told == [2, 1])  # the first gave up: the second is next
        gate.release()
        await second
        gate.release()

    asyncio.run(scenario())
    assert (gate.waiting, gate.in_flight) == (0, 0)


def test_a_thread_waiting_in_line_counts_for_the_places_behind_it() -> None:
    gate = Gate(limit=1, queue=4, wait=5)
    told: list[int] = []

    async def scenario() -> None:
        await gate.acquire_async()
        waiting = asyncio.create_task(asyncio.to_thread(gate.acquire))  # a whole answer's turn
        await _until(lambda: gate.waiting == 1)
        behind = asyncio.create_task(_wait_in_line(gate, told))
        await _until(lambda: told == [2])
        gate.release()  # the thread gets the turn
        await waiting
        await _until(lambda: told == [2, 1])
        gate.release()
        await behind
        gate.release()

    asyncio.run(scenario())
    assert (gate.waiting, gate.in_flight) == (0, 0)


@pytest.mark.parametrize(
    "error",
    [
        LLMUnavailable("cannot reach Ollama at http://10.0.0.5:11434: start it (`ollama serve`)"),
        ModelNotFound("Ollama at http://10.0.0.5:11434 does not have the model: run `ollama pull`"),
        LLMTimeout("Ollama did not answer within 30 s (KURA_REQUEST_TIMEOUT)"),
    ],
)
def test_operator_detail_is_for_admins_only(error: Exception) -> None:
    assert public_detail(error, admin=True) == str(error)  # type: ignore[arg-type]
    assert public_detail(error, admin=False) == UNAVAILABLE  # type: ignore[arg-type]
    assert "10.0.0.5" not in UNAVAILABLE
    assert "ollama" not in UNAVAILABLE.lower()


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (
            Busy("Ollama is busy: its own queue is full (OLLAMA_MAX_QUEUE): 503", 10),
            "The answering model is busy; please try again in 10 seconds.",
        ),
        (
            ContextTruncated("http://10.0.0.5:8000/v1 refused the prompt (num_ctx=16384)"),
            TOO_LONG,
        ),
        (
            ReasoningExhausted("spent all 512 tokens: raise KURA_ANSWER_MAX_TOKENS (now 512)"),
            NO_ANSWER_LEFT,
        ),
    ],
)
def test_the_models_limits_read_plainly_for_non_admins(
    error: KuraError, shown: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert public_detail(error, admin=True) == str(error)
    with caplog.at_level(logging.INFO, logger="app.errors"):
        assert public_detail(error, admin=False) == shown
    assert str(error) in caplog.text  # the operator still reads it in the log
    for operator_word in ("KURA_", "OLLAMA_", "num_ctx", "10.0.0.5"):
        assert operator_word not in shown


def test_other_errors_read_the_same_for_everyone() -> None:
    error = CollectionNotFound("collection 'manuals' does not exist")
    assert public_detail(error, admin=False) == str(error)


@pytest.mark.parametrize(
    ("title", "source", "shown"),
    [
        ("1. Definitions.", "licenses/apache-license-2.0.txt", ""),
        ("2.3 Scope", "spec.pdf", ""),
        ("apache-license-2.0.txt", "apache-license-2.0.txt", ""),
        ("spare-parts", "data/spare-parts.xlsx", ""),
        ("HX-400 Maintenance Manual", "hx400-manual.docx", "HX-400 Maintenance Manual"),
        ("保守契約書", "保守契約.txt", "保守契約書"),
        ("", "a.txt", ""),
    ],
)
def test_a_shown_title_is_a_real_title(title: str, source: str, shown: str) -> None:
    assert shown_title(title, source) == shown
