"""Reranking with a yes/no reranker model served by Ollama (e.g. Qwen3-Reranker as a GGUF).

Such a model is a causal LM asked whether a document meets a query; its answer is one token,
"yes" or "no". The score is P(yes) / (P(yes) + P(no)) from the first generated token's
``top_logprobs``, which Ollama's /api/generate returns since v0.12.11 (api/types.go
``GenerateRequest.Logprobs``/``TopLogprobs``). One passage is one request with
``num_predict: 1``; requests run in parallel up to ``rerank_parallel``. A reranker that fails
(host down, model missing, an Ollama too old to return logprobs, a timeout) never fails the
search: the fused order is kept and the failure is reported with it.

In `kura serve` and `kura ask` the requests go to the answering model's Ollama hosts
(app/llm/hosts.py): the least busy that is up, another when a connection fails (that host is
then marked down for answers too) or the model is not pulled there. They are counted in the
host's requests in flight, which steers answers to the less busy host, but take no turn from
the answers' gate: Ollama runs the reranker as a second model with its own OLLAMA_NUM_PARALLEL
slots, and a search must not wait for answers being written.

Where there is no such pool (`kura search`, `kura eval`, the `openai` backend) the reranker
keeps one of its own over the same Ollama hosts (KURA_OLLAMA_HOSTS, else KURA_OLLAMA_HOST),
with the same failover: a host whose connection fails is passed over until a check finds it
back. Its pool has no answers to steer, so every host counts as one slot.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import ollama

from app.llm.gate import Gate
from app.llm.hosts import Host, HostPool
from app.passages import Passage
from app.settings import AppSettings

logger = logging.getLogger(__name__)

# Qwen3-Reranker's documented prompt (its model card), sent raw: the model's own template
# would wrap it a second time.
_PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query "
    'and the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
    "<|im_start|>user\n"
)
_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
TOP_LOGPROBS = 20  # Ollama's maximum: "yes" and "no" are nearly always among them
_ERRORS = (ollama.ResponseError, ConnectionError, httpx.HTTPError, ValueError, TypeError)


def rerank_prompt(query: str, document: str, instruction: str = INSTRUCTION) -> str:
    """The raw prompt that asks the reranker whether ``document`` answers ``query``."""
    return f"{_PREFIX}<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}{_SUFFIX}"


def yes_probability(logprobs: Sequence[Any] | None) -> float:
    """P(yes) / (P(yes) + P(no)) from the first generated token's top logprobs.

    A word missing from the top list is given the smallest listed logprob (an upper bound);
    neither listed means the model did not answer yes/no: 0."""
    if not logprobs:
        raise ValueError("Ollama returned no logprobs (they need Ollama 0.12.11 or later)")
    first = logprobs[0]
    top = list(first.get("top_logprobs") or []) or [first]
    found: dict[str, float] = {}
    for item in top:
        word = str(item.get("token", "")).strip().lower()
        if word in ("yes", "no"):
            found[word] = max(found.get(word, -math.inf), float(item["logprob"]))
    if not found:
        return 0.0
    floor = min(float(item["logprob"]) for item in top)
    yes, no = found.get("yes", floor), found.get("no", floor)
    return 1.0 / (1.0 + math.exp(no - yes))


@dataclass
class Reranked:
    """The passages in their new order, or in the fused order with why reranking failed."""

    passages: list[Passage]
    error: str | None = None


class RerankFailed(Exception):
    """No host could score a passage; the message names the last host and why."""


def _elsewhere(exc: Exception) -> bool:
    """Whether another host may score what this one could not: the connection failed (as for
    answers, app.llm.checks.error_for: a timeout is a slow host, not an absent one) or the
    model is not pulled there."""
    if isinstance(exc, ollama.ResponseError):
        return exc.status_code == 404
    slow = isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout)
    return isinstance(exc, ConnectionError | httpx.TransportError) and not slow


class OllamaReranker:
    """Scores passages with a yes/no reranker model on the Ollama hosts of ``hosts`` (the
    answering model's; None: a pool of its own over ``settings.ollama_urls``). Close it
    after use."""

    def __init__(self, settings: AppSettings, hosts: HostPool | None = None) -> None:
        if not settings.rerank_model:
            raise ValueError("KURA_RERANK_BACKEND=ollama needs KURA_RERANK_MODEL (a model name)")
        self.model = settings.rerank_model
        self.parallel = settings.rerank_parallel
        self._own = hosts is None
        urls = [h.url for h in hosts.hosts] if hosts else settings.ollama_urls
        self.clients = {u: ollama.Client(host=u, timeout=settings.rerank_timeout) for u in urls}
        self.hosts = hosts or HostPool(
            dict.fromkeys(urls, 1),
            Gate(len(urls), 0, 0),
            self._check,
            settings.llm_retry_after,
            role="reranking host",
        )

    def _check(self, host: Host) -> str | None:
        """None when ``host`` answers (its pool's check of a host marked down), else why not."""
        try:
            self.clients[host.url].ps()
        except _ERRORS as exc:
            return f"the reranker could not connect: {exc}"
        return None

    def close(self) -> None:
        """Stop checking hosts that are down, if the pool is the reranker's own."""
        if self._own:
            self.hosts.close()

    def _ask(self, host: Host, query: str, text: str) -> float:
        reply = self.clients[host.url].generate(
            model=self.model,
            prompt=rerank_prompt(query, text),
            raw=True,
            stream=False,
            logprobs=True,
            top_logprobs=TOP_LOGPROBS,
            options={"num_predict": 1, "temperature": 0},
        )
        return yes_probability(reply.get("logprobs"))

    def score(self, query: str, text: str) -> float:
        """The probability that ``text`` answers ``query``, from the first host that can say;
        raises RerankFailed."""
        tried: list[Host] = []
        failure = "no Ollama host"
        while (host := self.hosts.pick(exclude=tried)) is not None:
            tried.append(host)
            try:
                score = self._ask(host, query, text)
            except _ERRORS as exc:
                self.hosts.done(host, answered=False)
                failure = f"at {host.url}: {exc}"
                if not _elsewhere(exc):
                    raise RerankFailed(failure) from exc
                if not isinstance(exc, ollama.ResponseError):
                    self.hosts.mark_down(host, f"the reranker could not connect: {exc}")
                continue
            except BaseException:
                self.hosts.done(host, answered=None)
                raise
            self.hosts.done(host, answered=True)
            return score
        raise RerankFailed(failure)

    def rerank(self, query: str, passages: list[Passage], top_k: int) -> Reranked:
        """The best ``top_k`` passages by the model's score; on failure the first ``top_k`` in
        the order given, with the reason."""
        if not passages:
            return Reranked([])
        pool = ThreadPoolExecutor(min(self.parallel, len(passages)))
        try:
            scores = list(pool.map(lambda p: self.score(query, p.text), passages))
        except RerankFailed as exc:
            reason = f"reranker {self.model!r} failed {exc}"
            logger.warning("%s; keeping the fused order", reason)
            return Reranked(passages[:top_k], reason)
        finally:
            # One failure decides: the passages not yet sent are not sent.
            pool.shutdown(wait=False, cancel_futures=True)
        order = sorted(range(len(passages)), key=lambda i: -scores[i])[:top_k]
        return Reranked(
            [
                passages[i].model_copy(update={"n": n, "score": scores[i]})
                for n, i in enumerate(order, start=1)
            ]
        )
