"""Answering a question: make it self-contained, retrieve, decide whether the documents cover
it, prompt within budget, ask gpt-oss (whole or streamed), keep and check the citations.

``draft`` does everything before the model, ``finish`` everything after it, so the plain and
the streamed answer share every rule.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.contracts import VersionNote, expand, version_notes
from app.errors import PromptTooLong
from app.llm import DEFAULT_SAMPLING, AnsweringModel, Generation, Sampling
from app.observability import log_exchange
from app.passages import Passage
from app.prompt import build_messages, cited_numbers, condense_messages, no_answer_text
from app.relevance import covers
from app.retrieve import Retriever, SearchFilters
from app.settings import ReasoningEffort, RetrievalMode
from app.tokens import budget_tokens
from app.verify import verify_citations
from ingest.text import detect_language

logger = logging.getLogger(__name__)

_HISTORY_TURNS = 6  # turns of a conversation used to make a follow-up self-contained


class Turn(BaseModel):
    """One earlier turn of a conversation."""

    role: Literal["user", "assistant"]
    content: str = Field(max_length=20000)


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
        default_factory=list,
        description="Numbers cited in the answer that match no passage given to the model "
        "(removed from the answer text).",
    )
    passages_in_prompt: int = Field(description="Passages given to the model.")
    covered: bool = Field(
        True,
        description="False when retrieval found nothing relevant enough: the answer then says "
        "the documents do not cover the question, and the model was not asked.",
    )
    question: str = Field(description="The question as searched (made self-contained).")
    version_notes: list[VersionNote] = Field(
        default_factory=list,
        description="Cited clauses that read differently in an older version of the document.",
    )
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
    # every passage given to the model, for the audit record (not part of the response)
    given: list[Passage] = Field(default_factory=list, exclude=True)


@dataclass
class Ask:
    """One question as the service received it."""

    question: str
    collection: str
    top_k: int
    effort: ReasoningEffort
    mode: RetrievalMode = "hybrid"
    filters: SearchFilters | None = None
    history: list[Turn] = field(default_factory=list)
    groups: list[str] | None = None  # the reader's groups; None: no access filter
    include_reasoning: bool = False
    # The caller's own instructions on style and language (OpenAI system messages), kept
    # below kura's rules.
    instructions: str = ""
    sampling: Sampling = DEFAULT_SAMPLING


@dataclass
class Draft:
    """Everything decided before the model is asked."""

    ask: Ask
    standalone: str
    mode: RetrievalMode
    passages: list[Passage]  # given to the model, in prompt order
    messages: list[dict[str, str]]
    covered: bool
    started: float
    retrieval_seconds: float


def condense(
    llm: AnsweringModel, history: list[Turn], question: str, effort: ReasoningEffort
) -> str:
    """The follow-up ``question`` rewritten to stand alone ("what about the second one?" ->
    "What does Section 2 say about ..."), for retrieval. Falls back to the question with the
    last user turn when the model's rewrite is empty."""
    turns = history[-_HISTORY_TURNS:]
    sampling = Sampling(num_predict=1024, budget_name="the follow-up rewrite's fixed budget")
    generation = llm.chat(condense_messages(turns, question), think=effort, sampling=sampling)
    rewritten = " ".join(generation.content.split()).strip().strip('"「」')
    if rewritten:
        return rewritten[:2000]
    last_user = next((t.content for t in reversed(turns) if t.role == "user"), "")
    return f"{last_user} {question}".strip()


def draft(retriever: Retriever, llm: AnsweringModel, ask: Ask) -> Draft:
    """Retrieve and build the prompt; decide whether the documents cover the question."""
    started = time.perf_counter()
    budget = llm.prompt_budget(ask.sampling.num_predict)
    if budget_tokens(ask.question) > budget // 2:
        raise PromptTooLong("the question is too long for the model's context window")
    standalone = ask.question
    if ask.history:
        standalone = condense(llm, ask.history, ask.question, ask.effort)
    mode = retriever.effective_mode(standalone, ask.mode)
    found = retriever.find(
        ask.collection,
        standalone,
        ask.top_k,
        mode=mode,
        filters=ask.filters,
        widen_context=True,
        groups=ask.groups,
    )
    passages = found.passages
    covered = bool(passages) and covers(retriever, found)
    messages: list[dict[str, str]] = []
    included: list[Passage] = []
    if covered:
        extra = expand(retriever.components, ask.collection, found.hits, ask.groups)
        messages, included = build_messages(
            standalone, passages + extra, budget, instructions=ask.instructions
        )
    return Draft(
        ask=ask,
        standalone=standalone,
        mode=mode,
        passages=included,
        messages=messages,
        covered=covered,
        started=started,
        retrieval_seconds=time.perf_counter() - started,
    )


def finish(draft: Draft, generation: Generation, retriever: Retriever) -> Answer:
    """The answer with its citations checked: numbers that match no passage are removed from
    the text and listed; cited passages are checked against their source files; cited clauses
    that read differently in an older version are noted."""
    ask = draft.ask
    by_number = {p.n: p for p in draft.passages}
    cited = cited_numbers(generation.content)
    invalid = [n for n in cited if n not in by_number]
    text = strip_citations(generation.content, set(invalid)).strip()
    citations = verify_citations(
        [by_number[n] for n in cited if n in by_number], retriever.components.settings
    )
    notes: list[VersionNote] = []
    explicit = ask.filters is not None and (ask.filters.version or ask.filters.all_versions)
    if draft.covered and not explicit:
        notes = version_notes(retriever.components, ask.collection, citations, ask.groups)
    if notes:
        text += "\n\n" + version_note_text(notes, ask.question)
    log_exchange(ask.question, text, standalone=draft.standalone)
    return Answer(
        answer=text,
        citations=citations,
        given=draft.passages,
        invalid_citations=invalid,
        passages_in_prompt=len(draft.passages),
        covered=draft.covered,
        question=draft.standalone,
        version_notes=notes,
        model=generation.model,
        reasoning_effort=ask.effort,
        retrieval_mode=draft.mode,
        reasoning=generation.thinking if ask.include_reasoning else None,
        finish_reason=generation.done_reason or "stop",
        usage=Usage(
            prompt_tokens=generation.prompt_tokens, completion_tokens=generation.completion_tokens
        ),
        timings=Timings(
            retrieval_ms=round(draft.retrieval_seconds * 1000, 1),
            generation_ms=round(generation.seconds * 1000, 1),
            total_ms=round((time.perf_counter() - draft.started) * 1000, 1),
        ),
    )


def not_covered(draft: Draft, model: str) -> Generation:
    """The answer when the documents do not cover the question: no model call."""
    text = no_answer_text(draft.ask.question)
    return Generation(text, "", model, 0, 0, "stop", 0.0)


def answer_question(retriever: Retriever, llm: AnsweringModel, ask: Ask) -> Answer:
    """Answer ``ask`` whole; raises LLMUnavailable when Ollama cannot, Busy when it is full."""
    drafted = draft(retriever, llm, ask)
    if not drafted.covered:
        return finish(drafted, not_covered(drafted, llm.model), retriever)
    generation = llm.chat(drafted.messages, think=ask.effort, sampling=ask.sampling)
    return finish(drafted, generation, retriever)


async def stream_answer(
    drafted: Draft, llm: AnsweringModel, retriever: Retriever
) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
    """Events of a streamed answer: ``passages`` first (sources can show at once), then
    ``queued`` with the position in line while the model is busy with other questions (again
    each time the line moves), ``writing`` once the model has begun (its first piece),
    ``reasoning`` (only on request) and ``token`` pieces, then ``done`` with the checked
    citations, usage and timings. A client that goes away closes this iterator, which takes
    its question out of the line or closes the request to Ollama."""
    yield (
        "passages",
        {
            "passages": [p.model_dump() for p in drafted.passages],
            "question": drafted.standalone,
            "covered": drafted.covered,
        },
    )
    if not drafted.covered:
        generation = not_covered(drafted, llm.model)
        yield "token", {"text": generation.content}
    else:
        generation = Generation("", "", llm.model, 0, 0, "", 0.0)
        writing = False
        # aclosing: a client that goes away closes the request to Ollama (and gives its turn
        # back) now, not whenever the abandoned generator is collected.
        pieces = llm.stream(
            drafted.messages,
            think=drafted.ask.effort,
            stats=generation,
            sampling=drafted.ask.sampling,
        )
        async with aclosing(pieces):
            async for piece in pieces:
                if piece.queued:
                    yield "queued", {"position": piece.queued}
                    continue
                if not writing:
                    writing = True
                    yield "writing", {}
                if piece.thinking and drafted.ask.include_reasoning:
                    yield "reasoning", {"text": piece.thinking}
                if piece.content:
                    yield "token", {"text": piece.content}
    answer = finish(drafted, generation, retriever)
    yield "done", answer.model_dump()


# Open WebUI's background tasks (title, tags, follow-ups, search queries, autocomplete): every
# default template opens with "### Task:" and quotes the chat in <chat_history> (Open WebUI's
# backend/open_webui/config.py, DEFAULT_*_PROMPT_TEMPLATE), sent as the one user message.
_TASK = re.compile(r"\A\s*### Task:.*<chat_history>.*</chat_history>", re.DOTALL)
TASK_MAX_TOKENS = 1024  # a title or a few tags, with low reasoning before them


def is_background_task(messages: list[dict[str, str]]) -> bool:
    """Whether the chat is a client's background task about a conversation (Open WebUI asks
    the chat model for titles, tags and follow-ups), not a question about the documents."""
    users = [m for m in messages if m["role"] == "user"]
    return (
        len(users) == 1
        and messages[-1]["role"] == "user"
        and not any(m["role"] == "assistant" for m in messages)
        and bool(_TASK.match(users[0]["content"]))
    )


def background_task(
    llm: AnsweringModel, messages: list[dict[str, str]], sampling: Sampling
) -> Generation:
    """A background task answered by the model alone: no retrieval, no passages, no citations,
    low reasoning, one model call."""
    budget = Sampling(
        num_predict=sampling.num_predict or TASK_MAX_TOKENS,
        temperature=sampling.temperature,
        stop=sampling.stop,
        budget_name=sampling.budget_name if sampling.num_predict else "max_tokens",
    )
    return llm.chat(messages, think="low", sampling=budget)


def strip_citations(text: str, numbers: set[int]) -> str:
    """``text`` without the citation marks [n] of ``numbers``."""
    if not numbers:
        return text

    def keep(match: re.Match[str]) -> str:
        kept = [n for n in re.split(r"\s*[,、]\s*", match[1]) if int(n) not in numbers]
        return f"[{', '.join(kept)}]" if kept else ""

    return re.sub(r"\[(\d+(?:\s*[,、]\s*\d+)*)\]", keep, text)


def version_note_text(notes: list[VersionNote], question: str) -> str:
    """One line per note, in the question's language."""
    japanese = detect_language(question) == "ja"
    lines = []
    for note in notes:
        when = note.effective_date
        if japanese:
            label = note.version_label or "旧版"
            lines.append(
                f"注: {note.clause} [{note.n}] は旧版「{label}」({when} 施行)では異なる記載でした。"
            )
        else:
            label = note.version_label or "earlier"
            lines.append(
                f"Note: {note.clause} [{note.n}] read differently in the earlier version "
                f'"{label}" (effective {when}).'
            )
    return "\n".join(lines)
