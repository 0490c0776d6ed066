"""How a call to Ollama failed, told apart by cause, and the silent failures Ollama never
reports: a prompt cut to fit the context, a budget spent on reasoning with no answer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import httpx
import ollama

from app.errors import (
    Busy,
    ContextTruncated,
    LLMFailed,
    LLMLoading,
    LLMTimeout,
    LLMUnavailable,
    ModelNotFound,
    ReasoningExhausted,
)
from app.llm.generation import Generation, Sampling
from app.settings import ReasoningEffort
from app.tokens import messages_text_tokens
from ingest.errors import KuraError

if TYPE_CHECKING:
    from app.llm.model import AnsweringModel

logger = logging.getLogger(__name__)


# v0.12-v0.30 cut an oversize prompt to exactly num_ctx tokens: a count this close to num_ctx
# is a cut prompt (kura's own prompts leave num_predict tokens free).
_CUT_SLACK = 16
# A prompt whose evaluation counts fewer tokens than this share of its text's o200k count lost
# part of itself (v0.31+ keep num_keep tokens and about half the window).
_FLOOR = 0.7


def unavailable(llm: AnsweringModel, exc: Exception, url: str) -> LLMUnavailable:
    """Ollama at ``url`` cannot answer: the model is not pulled, the host hangs (it took the
    connection and sent nothing), or it is not reachable."""
    if isinstance(exc, ollama.ResponseError) and exc.status_code == 404:
        return ModelNotFound(
            f"Ollama at {url} does not have the model {llm.model}: run `ollama pull {llm.model}`"
        )
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return LLMUnavailable(
            f"Ollama at {url} took the connection and did not answer its check: the host "
            "hangs (a stuck machine, or a firewall dropping packets)"
        )
    return LLMUnavailable(
        f"cannot reach Ollama at {url}: start it (`ollama serve`, or "
        f"`docker compose up`) and pull the model (`ollama pull {llm.model}`)"
    )


def hung(llm: AnsweringModel, url: str) -> LLMTimeout:
    """The server at ``url`` (Ollama or OpenAI-compatible) sent nothing for the hang timeout
    while another host was up."""
    return LLMTimeout(
        f"{llm.server} at {url} sent nothing for {llm.settings.llm_hang_timeout:g} s "
        f"(KURA_LLM_HANG_TIMEOUT) answering with {llm.model}: the host hangs"
    )


def error_for(
    llm: AnsweringModel, exc: Exception, url: str, loaded: bool | None
) -> tuple[KuraError, bool]:
    """The error for a failed call to Ollama at ``url``, and whether the host is down (then
    another host may take the request). A refusal or a timeout is not the host's absence.
    Each cause has its own message: unreachable, loading, too slow, busy, refused."""
    if isinstance(exc, ollama.ResponseError):
        return refused(llm, exc, url), exc.status_code == 404
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        timeout = f"{llm.settings.request_timeout:g} s (KURA_REQUEST_TIMEOUT)"
        if loaded is False:
            return LLMLoading(
                f"Ollama is still loading {llm.model} into memory (it was not loaded; a "
                f"large model takes minutes on first use): kura stopped waiting after "
                f"{timeout}. Ask again in a minute, or raise KURA_REQUEST_TIMEOUT",
                30,
            ), False
        return LLMTimeout(
            f"Ollama did not answer within {timeout}: {llm.model} is loaded but too slow "
            "on this machine for this question; raise KURA_REQUEST_TIMEOUT, or lower "
            "KURA_ANSWER_MAX_TOKENS or KURA_REASONING_EFFORT"
        ), False
    return unavailable(llm, exc, url), True


def refused(llm: AnsweringModel, exc: ollama.ResponseError, url: str) -> KuraError:
    """The error for a request Ollama answered with an error status."""
    if exc.status_code == 404:
        return unavailable(llm, exc, url)
    if exc.status_code == 503:
        # Ollama's own queue is full (OLLAMA_MAX_QUEUE, server/sched.go ErrMaxQueue)
        return Busy(
            f"Ollama is busy: its own queue of waiting requests is full (OLLAMA_MAX_QUEUE; "
            f"another application shares it?): {exc.error}",
            10,
        )
    if exc.status_code == 400 and "context length" in exc.error:
        # v0.31+ with context shift off refuse an oversize prompt instead of cutting it
        # (llm/llama_server.go in Ollama)
        return ContextTruncated(
            f"Ollama refused the prompt as longer than the model's context "
            f"(num_ctx={llm.num_ctx}): {exc.error}"
        )
    if exc.status_code < 0:
        # an {"error": ...} line after the answer had started (the ollama client gives
        # such errors no status)
        return LLMFailed(f"Ollama stopped in the middle of the answer: {exc.error}")
    return LLMUnavailable(f"Ollama refused the request: {exc.error}")


def check_truncation(llm: AnsweringModel, messages: list[dict[str, str]], gen: Generation) -> None:
    """Ollama never says it truncated; only prompt_eval_count shows it, and each version
    shows it differently. v0.12-v0.30 cut the prompt to exactly num_ctx tokens; v0.31+
    keep num_keep tokens and the tail, about half the window (both after dropping old
    messages, and v0.12 the system prompt with them); v0.30.0 counted only the tokens its
    cache lacked, so a small count there is no sign of anything."""
    evaluated, num_ctx = gen.prompt_tokens, llm.num_ctx
    if evaluated and evaluated >= num_ctx - _CUT_SLACK:
        raise ContextTruncated(
            f"{llm.server} evaluated {evaluated} prompt tokens, its whole context "
            f"(num_ctx={num_ctx}): the prompt was truncated to fit"
        )
    if evaluated and llm.facts().counts_cache:
        sent = messages_text_tokens(messages)
        if evaluated < sent * _FLOOR:
            raise ContextTruncated(
                f"{llm.server} evaluated {evaluated} prompt tokens of about {sent} sent: the "
                f"prompt was truncated (num_ctx={num_ctx}; {llm.server} may have given the "
                "model less context than asked, e.g. to fit its memory)"
            )
    if gen.done_reason == "length" and gen.completion_tokens == 0:
        raise ContextTruncated(f"{llm.server}'s context filled before the model could answer")


def check_answered(
    llm: AnsweringModel, gen: Generation, think: ReasoningEffort, sampling: Sampling
) -> None:
    """Raise when the whole budget went to reasoning and no answer was written."""
    # gpt-oss reasons before it answers, and eval_count counts both: when num_predict runs
    # out in the reasoning, Ollama ends with done_reason "length" and no content at all.
    if gen.done_reason != "length" or gen.content.strip() or not gen.completion_tokens:
        return
    num_predict = llm.num_predict(sampling.num_predict)
    lower = (
        f" or lower KURA_REASONING_EFFORT (now {think})"
        if think != "low"
        else " (KURA_REASONING_EFFORT is already low)"
    )
    raise ReasoningExhausted(
        f"{llm.model} spent all {num_predict} tokens of its budget on reasoning and wrote no "
        f"answer: raise {sampling.budget_name} (now {num_predict}){lower}"
    )
