"""The answering model behind one or more hosts: a turn from the gate, the least busy host,
another host when one fails before the answer starts; how a backend talks is its subclass's."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any, Self

from app.errors import LLMFailed
from app.llm.checks import check_answered, check_truncation
from app.llm.gate import Gate
from app.llm.generation import DEFAULT_SAMPLING, Generation, ModelFacts, Piece, Sampling
from app.llm.hosts import Host, HostPool
from app.settings import AppSettings, ReasoningEffort
from ingest.errors import KuraError

logger = logging.getLogger(__name__)

RETRY_DELAY = 0.5  # seconds before the one retry of a failed connection to the only host
_UNKNOWN = ModelFacts(None, True, True)


_ONE_TOKEN = Sampling(num_predict=1)  # what a check of a host that hung asks it to write
_HUNG = {"ok": False, "reachable": True, "model_present": True}


class HostDown(Exception):
    """A host could not take the request: ``error`` is what to say if no other host can."""

    def __init__(self, error: KuraError, retry_same: bool = False, hung: bool = False) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_same = retry_same  # a connection that could not be made: worth one retry
        self.hung = hung  # it sent nothing for the hang timeout


class AnsweringModel:
    """The model that writes answers, on the hosts of ``settings.llm_hosts``.

    Subclasses speak one protocol: ``_send`` (a whole answer), ``_open`` (an answer piece by
    piece), ``_describe`` (the model's facts), ``check_host`` (reachable, model present), and
    raise ``HostDown`` for a failure another host may not have.
    """

    backend = ""  # the setting's name for it: ollama, openai
    server = ""  # what messages call the server: Ollama, the OpenAI-compatible server

    def __init__(
        self, settings: AppSettings, on_change: Callable[[int, int], None] | None = None
    ) -> None:
        self.settings = settings
        self.model = settings.ollama_model
        self.gate = Gate(1, settings.ollama_queue, settings.ollama_queue_timeout, on_change)
        self.hosts = HostPool(settings.llm_hosts, self.gate, self._check, settings.llm_retry_after)
        self._facts: ModelFacts | None = None

    # What a backend provides.
    def _send(
        self,
        host: Host,
        messages: list[dict[str, str]],
        think: ReasoningEffort,
        sampling: Sampling,
        eager: bool | None = None,
    ) -> Generation:
        """``eager``: whether each read waits at most the hang timeout (None: ``_eager``)."""
        raise NotImplementedError

    def _open(
        self,
        host: Host,
        messages: list[dict[str, str]],
        think: ReasoningEffort,
        sampling: Sampling,
        stats: Generation,
    ) -> AsyncGenerator[Piece, None]:
        raise NotImplementedError

    def _describe(self, host: Host) -> ModelFacts | None:
        raise NotImplementedError

    def check_host(self, host: Host) -> dict[str, Any]:
        """``{"ok", "reachable", "model_present", "detail"}`` for one host."""
        raise NotImplementedError

    def _broken(self, host: Host, error: KuraError) -> KuraError:
        """The error for ``host`` failing after the answer had started (``error``: what
        the failure would have been before it)."""
        return LLMFailed(
            f"the LLM host {host.url} failed in the middle of the answer, which is incomplete: "
            f"{error}"
        )

    def _all_failed(self, down: HostDown, tried: list[Host]) -> KuraError:
        """The error when no host could take the request: the last one's, naming them all
        when there were several."""
        urls = list(dict.fromkeys(h.url for h in tried))
        if len(urls) > 1:
            down.error.args = (f"none of the {len(urls)} LLM hosts could answer; {down.error}",)
        return down.error

    def _loading(self, host: Host) -> bool:
        """Whether ``host`` is loading the model now (a load is waited for, never a hang)."""
        return False

    def _check(self, host: Host) -> str | None:
        state = self.check_host(host)
        if not state["ok"]:
            return str(state["detail"])
        return self._still_hangs(host) if host.hung else None

    def _still_hangs(self, host: Host) -> str | None:
        """Why a host marked down for hanging is still down: a host that hangs may answer the
        checks that load nothing (/api/tags, /v1/models) and would be up again at each check,
        to hold the next question for the hang timeout. It is up once it writes one token
        within the hang timeout, or while it loads the model (that is waited for)."""
        if self._loading(host):
            return None
        try:
            self._send(host, [{"role": "user", "content": "ping"}], "low", _ONE_TOKEN, eager=True)
        except HostDown as down:
            return str(down.error)
        except KuraError as exc:
            return str(exc)
        return None

    def _eager(self, host: Host, loaded: bool | None = None) -> bool:
        """Whether ``host`` is given up on when silent for KURA_LLM_HANG_TIMEOUT: the model is
        in memory (``loaded``; None: the server cannot say, or always has it) and another host
        is up to take the question. The only host up is waited for KURA_REQUEST_TIMEOUT."""
        return loaded is not False and any(h.up for h in self.hosts.hosts if h is not host)

    # What every backend shares.
    def facts(self) -> ModelFacts:
        """The model's context length and capabilities, asked once of a host that is up;
        unknown (and asked again next time) while none can say."""
        if self._facts is not None:
            return self._facts
        for host in sorted(self.hosts.hosts, key=lambda h: not h.up):
            facts = self._describe(host)
            if facts is not None:
                self._facts = facts
                return facts
        return _UNKNOWN

    @property
    def num_ctx(self) -> int:
        """The context window to ask for: the setting, never above the model's own."""
        length = self.facts().context_length
        return min(self.settings.num_ctx, length) if length else self.settings.num_ctx

    def num_predict(self, requested: int | None = None) -> int:
        """Tokens for reasoning plus answer: at most half the window, the rest is the prompt's."""
        return min(requested or self.settings.answer_max_tokens, self.num_ctx // 2)

    def prompt_budget(self, num_predict: int | None = None) -> int:
        """Tokens the prompt may take: the window less what the answer needs."""
        return self.num_ctx - self.num_predict(num_predict)

    def _first(self) -> Host:
        host = self.hosts.pick()
        if host is None:  # settings always name one
            raise AssertionError("no LLM host configured")
        return host

    def _next(self, host: Host, down: HostDown, tried: list[Host], retried: bool) -> Host | None:
        """After ``host`` failed: the host to try next (itself once, for a connection that
        could not be made when no other host is left), or None."""
        self.hosts.done(host, answered=False)
        self.hosts.mark_down(host, str(down.error), down.hung)
        tried.append(host)
        following = self.hosts.pick(exclude=tried)
        if following is None and down.retry_same and not retried:
            logger.warning("LLM host %s: connection failed; retrying once", host.url)
            return self.hosts.pick(exclude=tried[:-1])
        if following is not None:
            logger.warning("LLM host %s failed (%s); asking %s", host.url, down, following.url)
        return following

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        think: ReasoningEffort,
        sampling: Sampling = DEFAULT_SAMPLING,
    ) -> Generation:
        """One whole chat turn, in turn with other requests (the gate), on the least busy
        host, on another when that one fails. Raises Busy, LLMUnavailable, ContextTruncated..."""
        with self.gate.slot():
            started = time.perf_counter()
            tried: list[Host] = []
            host = self._first()
            while True:
                try:
                    generation = self._send(host, messages, think, sampling)
                except HostDown as down:
                    following = self._next(host, down, tried, host in tried)
                    if following is None:
                        raise self._all_failed(down, tried) from down
                    if following is host:
                        time.sleep(RETRY_DELAY)
                    host = following
                    continue
                except KuraError:
                    self.hosts.done(host, answered=False)
                    raise
                except BaseException:
                    self.hosts.done(host, answered=None)
                    raise
                self.hosts.done(host, answered=True)
                break
        generation.seconds = time.perf_counter() - started
        check_truncation(self, messages, generation)
        check_answered(self, generation, think, sampling)
        return generation

    async def stream(
        self,
        messages: list[dict[str, str]],
        *,
        think: ReasoningEffort,
        stats: Generation,
        sampling: Sampling = DEFAULT_SAMPLING,
    ) -> AsyncGenerator[Piece, None]:
        """A chat turn streamed piece by piece; ``stats`` is filled in at the end. While the
        question waits for a turn, ``queued`` pieces tell its place in line as it changes.
        Until the first answer piece a failed host hands the question to another; after it,
        the answer ends with an error, never cut short in silence. Closing the iterator (a
        client that went away) leaves the queue, or closes the request to the host."""
        async with aclosing(self.gate.take_turn()) as places:
            async for place in places:
                yield Piece(queued=place)
        try:
            started = time.perf_counter()
            tried: list[Host] = []
            host = self._first()
            while True:
                parts = self._open(host, messages, think, sampling, stats)
                try:
                    first: Piece | None = await anext(parts)
                except StopAsyncIteration:
                    first = None
                except HostDown as down:
                    await parts.aclose()
                    following = self._next(host, down, tried, host in tried)
                    if following is None:
                        raise self._all_failed(down, tried) from down
                    if following is host:
                        try:
                            await asyncio.sleep(RETRY_DELAY)
                        except BaseException:  # the client left while kura waited to retry
                            self.hosts.done(host, answered=None)
                            raise
                    host = following
                    continue
                except BaseException as exc:
                    await parts.aclose()
                    self.hosts.done(host, False if isinstance(exc, KuraError) else None)
                    raise
                break
            # answered: True, failed: False, the client left: None (no mark against the host)
            outcome: bool | None = None
            try:
                async with aclosing(parts):
                    if first is not None:
                        yield first
                        try:
                            async for piece in parts:
                                yield piece
                        except HostDown as down:
                            outcome = False
                            self.hosts.mark_down(host, str(down.error), down.hung)
                            raise self._broken(host, down.error) from down
                        except KuraError:
                            outcome = False
                            raise
                outcome = True
            finally:
                self.hosts.done(host, outcome)
            stats.seconds = time.perf_counter() - started
            check_truncation(self, messages, stats)
            check_answered(self, stats, think, sampling)
        finally:
            self.gate.release()

    def status(self) -> dict[str, Any]:
        """Whether any host answers with the model, for /readyz; each host is checked (and
        marked up or down by what it says)."""
        states = []
        for host in self.hosts.hosts:
            if host.hung and not host.up:  # the background check asks it to write (_check)
                states.append(_HUNG | {"detail": host.reason})
                continue
            state = self.check_host(host)
            if state["ok"]:
                self.hosts.mark_up(host)
            else:
                self.hosts.mark_down(host, str(state["detail"]))
            states.append(state)
        ready = [s for s in states if s["ok"]]
        overall = dict(ready[0] if ready else states[0])
        overall["reachable"] = any(s["reachable"] for s in states)
        overall["model_present"] = any(s["model_present"] for s in states)
        if ready and len(ready) < len(states):
            overall["detail"] = f"ready on {len(ready)} of {len(states)} hosts"
        return overall

    def hosts_status(self) -> dict[str, Any]:
        """The backend and each host: up or down (why), requests in flight, slots, counts."""
        return {"backend": self.backend, "hosts": self.hosts.status()}

    def close(self) -> None:
        """Stop checking hosts that are down."""
        self.hosts.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cut_short(host: Host) -> HostDown:
    """An answer whose stream ended before the model said it was done."""
    return HostDown(LLMFailed(f"the stream from {host.url} ended before the answer was done"))
