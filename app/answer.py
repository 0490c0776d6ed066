"""Answering a question: retrieve, prompt within budget, ask gpt-oss, keep the cited passages."""

from __future__ import annotations

import logging
import time

from pydantic import BaseModel, Field

from app.errors import PromptTooLong
from app.llm import OllamaLLM, estimate_tokens_max
from app.prompt import build_messages, cited_numbers
from app.retrieve import Passage, Retriever, SearchFilters
from app.settings import AppSettings, ReasoningEffort, RetrievalMode

logger = logging.getLogger(__name__)


class Usage(BaseModel):
    """Tokens counted by Ollama."""

    prompt_tokens: int
    completion_tokens: int


class Timings(BaseModel):
    """Where the time went, in milliseconds."""

    retrieval_ms: float
    generation_ms: float
    total_ms: float


class Answer(BaseModel):
    """An answer with the passages it cites."""

    answer: str
    citations: list[Passage] = Field(description="The passages the answer cites, by [n].")
    invalid_citations: list[int] = Field(
        default_factory=list, description="Numbers cited in the answer that match no passage."
    )
    passages_in_prompt: int = Field(description="Passages given to the model.")
    model: str
    reasoning_effort: ReasoningEffort
    retrieval_mode: RetrievalMode = Field(description="The retrieval mode actually used.")
    finish_reason: str = Field(description="'stop', or 'length' when the answer was cut off.")
    reasoning: str | None = Field(
        None,
        description="gpt-oss's reasoning, only when the request asks for it; never part of "
        "the answer.",
    )
    usage: Usage
    timings: Timings


def answer_question(
    retriever: Retriever,
    llm: OllamaLLM,
    settings: AppSettings,
    question: str,
    *,
    collection: str,
    top_k: int,
    effort: ReasoningEffort,
    mode: RetrievalMode = "hybrid",
    filters: SearchFilters | None = None,
    include_reasoning: bool = False,
) -> Answer:
    """Answer ``question`` from ``collection``; raises LLMUnavailable when Ollama cannot."""
    started = time.perf_counter()
    mode = retriever.effective_mode(question, mode)
    passages = retriever.search(
        collection, question, top_k, mode=mode, filters=filters, widen_context=True
    )
    retrieved = time.perf_counter()
    budget = settings.num_ctx - settings.answer_max_tokens
    if estimate_tokens_max(question) > budget // 2:
        raise PromptTooLong("the question is too long for the model's context window")
    messages, included = build_messages(question, passages, budget)
    generation = llm.chat(messages, think=effort)
    by_number = {p.n: p for p in included}
    cited = cited_numbers(generation.content)
    done = time.perf_counter()
    return Answer(
        answer=generation.content.strip(),
        citations=[by_number[n] for n in cited if n in by_number],
        invalid_citations=[n for n in cited if n not in by_number],
        passages_in_prompt=len(included),
        model=generation.model,
        reasoning_effort=effort,
        retrieval_mode=mode,
        reasoning=generation.thinking if include_reasoning else None,
        finish_reason=generation.done_reason or "stop",
        usage=Usage(
            prompt_tokens=generation.prompt_tokens, completion_tokens=generation.completion_tokens
        ),
        timings=Timings(
            retrieval_ms=round((retrieved - started) * 1000, 1),
            generation_ms=round(generation.seconds * 1000, 1),
            total_ms=round((done - started) * 1000, 1),
        ),
    )
