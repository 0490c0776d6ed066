"""Many LLM hosts without a network: the settings that name them, least-busy routing, hosts
marked down and checked again, the gate's turns following the hosts that are up."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.errors import Busy
from app.llm.gate import Gate
from app.llm.hosts import Host, HostPool
from tests.support.server import make_settings

pytestmark = pytest.mark.unit

A, B, C = "http://a:11434", "http://b:11434", "http://c:11434"


def test_one_host_by_the_old_setting_and_several_by_the_new(tmp_path: Path) -> None:
    assert make_settings(tmp_path, "http://gpu:11434/").llm_hosts == {"http://gpu:11434": 1}
    several = make_settings(tmp_path, ollama_hosts=f"{A}, {B}/,{C}", ollama_parallel="2")
    assert several.llm_hosts == {A: 2, B: 2, C: 2}
    mixed = make_settings(tmp_path, ollama_hosts=f"{A},{B},{C}", ollama_parallel=f"4,{B}=1")
    assert mixed.llm_hosts == {A: 4, B: 1, C: 4}
    # unset KURA_OLLAMA_PARALLEL: the older KURA_OLLAMA_CONCURRENCY is each host's slots
    assert make_settings(tmp_path, ollama_concurrency=3).llm_hosts == {"http://127.0.0.1:9": 3}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"ollama_hosts": f"{A},{B}", "ollama_parallel": "http://typo:11434=2"}, "not one of"),
        ({"ollama_hosts": A, "ollama_parallel": "zwei"}, "not a whole number"),
        ({"ollama_hosts": A, "ollama_parallel": "0"}, "must be 1 to"),
        ({"ollama_hosts": "gpu-box:11434"}, "not an http"),
        ({"llm_backend": "openai"}, "KURA_OPENAI_BASE_URL"),
    ],
)
def test_bad_host_settings_are_refused_naming_the_setting(
    tmp_path: Path, extra: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        make_settings(tmp_path, **extra)


def test_the_openai_backend_takes_its_hosts_from_its_base_url(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        llm_backend="openai",
        openai_base_url="http://vllm-1:8000/v1,http://vllm-2:8000/v1/",
        ollama_parallel="32",
    )
    assert settings.llm_hosts == {"http://vllm-1:8000/v1": 32, "http://vllm-2:8000/v1": 32}


class Checks:
    """What a host check answers, set by the test: the host's URL -> problem (None: fine)."""

    def __init__(self) -> None:
        self.problems: dict[str, str | None] = {}
        self.asked: list[str] = []

    def __call__(self, host: Host) -> str | None:
        self.asked.append(host.url)
        return self.problems.get(host.url)


def pool(slots: dict[str, int], retry_after: float = 0.2) -> tuple[HostPool, Gate, Checks]:
    gate = Gate(1, queue=16, wait=5)
    checks = Checks()
    return HostPool(slots, gate, checks, retry_after), gate, checks


def test_questions_go_to_the_least_busy_host_by_its_slots() -> None:
    hosts, gate, _ = pool({A: 1, B: 3})
    assert gate.limit == 4
    picked = [hosts.pick() for _ in range(4)]
    assert [h.url for h in picked if h].count(B) == 3
    by_url = {h.url: h for h in hosts.hosts}
    assert (by_url[A].in_flight, by_url[B].in_flight) == (1, 3)
    for host in picked:
        assert host is not None
        hosts.done(host, answered=True)
    assert [h["in_flight"] for h in hosts.status()] == [0, 0]
    # equally busy: the one picked longest ago
    first, second = hosts.pick(), hosts.pick()
    assert first is not None
    assert second is not None
    assert first is not second


def test_a_host_down_leaves_the_gate_and_comes_back_after_its_check() -> None:
    hosts, gate, checks = pool({A: 2, B: 1}, retry_after=0.2)
    a = hosts.hosts[0]
    checks.problems[A] = "cannot reach it"
    hosts.mark_down(a, "connection refused")
    assert gate.limit == 1
    assert all(h is hosts.hosts[1] for h in (hosts.pick(), hosts.pick()))  # only B is up
    time.sleep(0.5)
    assert A in checks.asked  # checked after its back-off, still down
    assert hosts.status()[0]["up"] is False
    assert hosts.status()[0]["detail"] == "cannot reach it"
    backoff = a.backoff
    assert backoff > 0.2  # doubled after the failed check
    checks.problems[A] = None
    deadline = time.monotonic() + 5
    while not a.up:
        assert time.monotonic() < deadline, "the host was not checked again"
        time.sleep(0.02)
    assert gate.limit == 3
    hosts.close()


def test_with_every_host_down_each_is_still_tried() -> None:
    hosts, gate, checks = pool({A: 1, B: 1}, retry_after=60)
    checks.problems.update({A: "down", B: "down"})
    for host in list(hosts.hosts):
        hosts.mark_down(host, "down")
    assert gate.limit == 2  # nothing is up: questions try the hosts and say why they fail
    first = hosts.pick()
    assert first is not None
    second = hosts.pick(exclude=[first])
    assert second is not None
    assert second is not first
    assert hosts.pick(exclude=[first, second]) is None
    hosts.done(second, answered=True)  # a host that answers is up
    assert second.up
    assert gate.limit == 1
    hosts.close()


def test_more_turns_go_to_waiters_at_once_and_fewer_end_as_given_back() -> None:
    gate = Gate(limit=1, queue=4, wait=5)
    gate.acquire()
    served = threading.Event()

    def waiter() -> None:
        gate.acquire()
        served.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    while gate.waiting == 0:
        time.sleep(0.01)
    gate.resize(2)  # a host came back: the waiter is served without anyone leaving
    assert served.wait(5)
    thread.join()
    assert (gate.in_flight, gate.waiting) == (2, 0)
    gate.resize(1)  # a host went down while both turns were taken
    gate.release()  # above the new limit: the turn ends, it is not passed on
    assert gate.in_flight == 1
    gate.wait = 0.2
    with pytest.raises(Busy, match="waited too long"):
        gate.acquire()  # the one turn left is taken
    gate.release()
    assert (gate.in_flight, gate.waiting) == (0, 0)
