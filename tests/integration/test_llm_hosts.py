"""Several Ollama hosts behind one kura, over HTTP: least-busy routing within each host's
slots, a host that dies before the first token replaced by another, one that dies mid-answer
ending that answer with an error, queued questions moving to the hosts still up, and a host
that comes back taken in again."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest

from app.errors import LLMUnavailable
from app.llm import Generation, OllamaLLM
from ingest.pipeline import IngestReport
from tests.support.data_copy import copy_data
from tests.support.llm_hosts import StandinProcess
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, free_port, make_settings
from tests.support.sse import events, wait_for

pytestmark = pytest.mark.integration

QUESTION = "What does error E-417 mean on the HX-400?"
QUESTION_JA = "HX-400 のエラー E-417 はどういう意味ですか？"
HELLO = [{"role": "user", "content": QUESTION}]


def stream_once(llm: OllamaLLM, messages: list[dict[str, str]]) -> Generation:
    async def run() -> Generation:
        stats = Generation("", "", "", 0, 0, "", 0.0)
        async for _ in llm.stream(messages, think="low", stats=stats):
            pass
        return stats

    return asyncio.run(run())


def test_questions_spread_by_slots_and_no_host_gets_more_than_it_can_run(
    tmp_path: Path,
) -> None:
    states = [StandinState(parallel=n, delay_per_token=0.05) for n in (1, 1, 2)]
    with (
        OllamaStandin(states[0]) as a,
        OllamaStandin(states[1]) as b,
        OllamaStandin(states[2]) as c,
    ):
        settings = make_settings(
            tmp_path,
            ollama_hosts=f"{a.url},{b.url},{c.url}",
            ollama_parallel=f"1,{c.url}=2",
        )
        llm = OllamaLLM(settings)
        assert llm.gate.limit == 4
        questions = [QUESTION, QUESTION_JA] * 6

        async def ask_all() -> None:  # one event loop, as in the server
            async def one(question: str) -> None:
                stats = Generation("", "", "", 0, 0, "", 0.0)
                async for _ in llm.stream(
                    [{"role": "user", "content": question}], think="low", stats=stats
                ):
                    pass
                assert stats.content

            await asyncio.gather(*(one(q) for q in questions))

        asyncio.run(ask_all())
    served = [len(s.generations) for s in states]
    assert sum(served) == 12
    assert all(n > 0 for n in served)
    assert served[2] >= max(served[:2])  # two slots: the busiest share
    # kura never sent a host more than its slots: nothing ever queued inside Ollama
    assert [s.max_waiting for s in states] == [0, 0, 0]
    assert [h["answered"] for h in llm.hosts_status()["hosts"]] == served
    assert (llm.gate.waiting, llm.gate.in_flight) == (0, 0)


def test_a_host_that_is_down_is_skipped_and_its_slots_leave_the_gate(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with OllamaStandin(StandinState()) as alive:
        settings = make_settings(tmp_path, ollama_hosts=f"{dead},{alive.url}", llm_retry_after=60)
        llm = OllamaLLM(settings)
        first = llm.chat(HELLO, think="low")  # went to the dead host first, then moved
        second = stream_once(llm, [{"role": "user", "content": QUESTION_JA}])
        hosts = llm.hosts_status()["hosts"]
    assert first.content
    assert second.content
    assert second.content == "資料には記載がありません。"  # Japanese, whole
    assert hosts[0]["up"] is False
    assert "cannot reach Ollama" in hosts[0]["detail"]
    assert (hosts[1]["up"], hosts[1]["answered"]) == (True, 2)
    assert llm.gate.limit == 1
    llm.close()


def test_when_every_host_is_down_the_error_names_them_all(tmp_path: Path) -> None:
    dead = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    llm = OllamaLLM(make_settings(tmp_path, ollama_hosts=",".join(dead)))
    with pytest.raises(LLMUnavailable, match="none of the 2 LLM hosts") as failed:
        llm.chat(HELLO, think="low")
    assert "cannot reach Ollama" in str(failed.value)
    assert (llm.gate.waiting, llm.gate.in_flight) == (0, 0)
    llm.close()


def test_a_host_dying_before_the_first_token_hands_the_question_over(tmp_path: Path) -> None:
    # The first host is still loading the model (nothing sent yet) when it dies.
    with (
        StandinProcess(load_seconds=60) as loading,
        StandinProcess() as other,
    ):
        settings = make_settings(tmp_path, ollama_hosts=f"{loading.url},{other.url}")
        llm = OllamaLLM(settings)
        result: dict[str, Generation] = {}
        thread = threading.Thread(
            target=lambda: result.setdefault("stats", stream_once(llm, HELLO))
        )
        thread.start()
        wait_for(lambda: llm.hosts.hosts[0].in_flight == 1)
        time.sleep(0.3)  # the request is in the loading host
        loading.kill()
        thread.join(timeout=30)
        hosts = llm.hosts_status()["hosts"]
    assert result["stats"].content == "The documents do not cover this question."
    assert result["stats"].done_reason == "stop"
    assert hosts[0]["up"] is False
    assert hosts[1]["answered"] == 1
    llm.close()


@pytest.fixture
def data_dir(tmp_path: Path, indexed: tuple[Path, IngestReport]) -> Path:
    return copy_data(indexed[0], tmp_path / "data")


def test_a_host_killed_mid_queue(data_dir: Path) -> None:
    hosts = [StandinProcess(delay_per_token=0.15) for _ in range(3)]
    try:
        for host in hosts:
            host.start()
        settings = make_settings(
            data_dir,
            ollama_hosts=",".join(h.url for h in hosts),
            ollama_queue=16,
            ollama_queue_timeout=60,
            llm_retry_after=0.5,
        )
        server = LiveServer(settings)
        with server as client:
            llm = server.server.config.app.state.llm  # type: ignore[attr-defined]
            answers: list[str] = []

            def ask(question: str) -> None:
                body = {"question": question, "stream": True}
                with httpx.Client(base_url=server.url, timeout=120) as own:
                    answers.append(own.post("/v1/query", json=body).text)

            askers = [threading.Thread(target=ask, args=(q,)) for q in [QUESTION, QUESTION_JA] * 4]
            for asker in askers:
                asker.start()
            # every host answering one question, the other five queued in kura
            wait_for(lambda: llm.gate.waiting == 5 and llm.gate.in_flight == 3, 60)
            time.sleep(0.5)  # the three answers are streaming
            victim = llm.hosts.hosts[1]
            hosts[1].kill()
            for asker in askers:
                asker.join(timeout=120)
            ready = client.get("/readyz").json()
            # the host comes back on the same port: checked again, it takes questions
            hosts[1].start()
            wait_for(lambda: victim.up, 30)
            again = client.post("/v1/query", json={"question": QUESTION})
            again_too = client.post("/v1/query", json={"question": QUESTION_JA})
    finally:
        for host in hosts:
            host.kill()
    outcomes = [events(text) for text in answers]
    assert len(outcomes) == 8
    broken = [e for e in outcomes if e[-1][0] == "error"]
    whole = [e for e in outcomes if e[-1][0] == "done"]
    # the answer streaming on the killed host ends with an error, never cut short as if done
    assert len(broken) == 1
    assert broken[0][-1][1]["status"] == 502
    assert "middle of the answer" in broken[0][-1][1]["detail"]
    assert any(kind == "token" for kind, _ in broken[0])
    assert not any(kind == "done" for kind, _ in broken[0])
    # the queued questions went to the two hosts left
    assert len(whole) == 7
    assert all(e[-1][1]["answer"] for e in whole)
    states = {h["url"]: h for h in ready["llm"]["hosts"]}
    assert states[victim.url]["up"] is False
    assert states[victim.url]["failed"] == 1
    assert sum(h["answered"] for h in states.values()) == 7
    assert ready["ollama"]["ok"] is True
    assert ready["ollama"]["detail"] == "ready on 2 of 3 hosts"
    assert again.status_code == 200
    assert again_too.status_code == 200
    assert victim.answered >= 1 or victim.in_flight == 0


def test_the_gate_keeps_its_limits_across_hosts(data_dir: Path) -> None:
    with (
        OllamaStandin(StandinState(delay_per_token=0.3)) as a,
        OllamaStandin(StandinState(delay_per_token=0.3)) as b,
    ):
        settings = make_settings(data_dir, ollama_hosts=f"{a.url},{b.url}", ollama_queue=0)
        with LiveServer(settings) as client:
            statuses: list[int] = []

            def ask() -> None:
                body = {"question": QUESTION, "stream": True}
                statuses.append(client.post("/v1/query", json=body).status_code)

            holders = [threading.Thread(target=ask) for _ in range(2)]
            for holder in holders:
                holder.start()
            wait_for(lambda: len(a.state.generations) + len(b.state.generations) == 2, 60)
            third = client.post("/v1/query", json={"question": QUESTION})
            for holder in holders:
                holder.join()
    assert statuses == [200, 200]  # each host held one question
    assert third.status_code == 503
    assert int(third.headers["retry-after"]) > 0


def test_a_client_that_leaves_frees_its_host_without_a_mark_against_it(tmp_path: Path) -> None:
    with (
        OllamaStandin(StandinState(delay_per_token=0.2)) as a,
        OllamaStandin(StandinState(delay_per_token=0.2)) as b,
    ):
        llm = OllamaLLM(make_settings(tmp_path, ollama_hosts=f"{a.url},{b.url}"))

        async def scenario() -> None:
            stats = Generation("", "", "", 0, 0, "", 0.0)
            pieces = 0

            async def consume() -> None:
                nonlocal pieces
                async for _ in llm.stream(HELLO, think="low", stats=stats):
                    pieces += 1

            task = asyncio.create_task(consume())
            while pieces == 0:
                await asyncio.sleep(0.01)
            task.cancel()  # Stop pressed mid-answer
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(scenario())
        hosts = llm.hosts_status()["hosts"]
    assert [h["in_flight"] for h in hosts] == [0, 0]
    assert [h["failed"] for h in hosts] == [0, 0]
    assert all(h["up"] for h in hosts)
    assert (llm.gate.waiting, llm.gate.in_flight) == (0, 0)
