"""Answering one question, whichever way it came (the query API, the OpenAI API, the `kura ask`
command): made into an `Ask` with every default taken from settings here and nowhere else,
answered whole or streamed, and settled behind the API (metrics and the audit record)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from app.answer import (
    Answer,
    Ask,
    Draft,
    Turn,
    answer_question,
    background_task,
    draft,
    stream_answer,
)
from app.errors import error_status
from app.llm import DEFAULT_SAMPLING, AnsweringModel, Generation, Sampling
from app.passages import Passage
from app.retrieve import Retriever, SearchFilters
from app.services.record import Caller, Recorder
from app.services.search import Scope
from app.settings import AppSettings, ReasoningEffort, RetrievalMode
from ingest.errors import KuraError


def new_ask(
    settings: AppSettings,
    question: str,
    *,
    collection: str | None = None,
    top_k: int | None = None,
    effort: ReasoningEffort | None = None,
    mode: RetrievalMode | None = None,
    filters: SearchFilters | None = None,
    history: Sequence[Turn] = (),
    groups: list[str] | None = None,
    include_reasoning: bool = False,
    instructions: str = "",
    sampling: Sampling = DEFAULT_SAMPLING,
) -> Ask:
    """The question as the answering code takes it; what the caller left out (None) is the
    setting's value. ``groups`` is the reader's access filter (None: no filter)."""
    scope = Scope.of(settings, collection=collection, top_k=top_k, mode=mode)
    return Ask(
        question=question,
        collection=scope.collection,
        top_k=scope.top_k,
        effort=effort or settings.reasoning_effort,
        mode=scope.mode,
        filters=filters,
        history=list(history),
        groups=groups,
        include_reasoning=include_reasoning,
        instructions=instructions,
        sampling=sampling,
    )


@dataclass(frozen=True)
class Answering:
    """The answer service: retrieval, the model and, behind the API, the record of each
    answer (no recorder: nothing is recorded, as on the command line)."""

    retriever: Retriever
    llm: AnsweringModel
    recorder: Recorder | None = None

    async def _settle(
        self,
        caller: Caller | None,
        ask: Ask,
        answer: Answer | None,
        passages: list[Passage],
        status: int,
    ) -> None:
        if self.recorder is not None and caller is not None:
            await self.recorder.settle(caller, ask, answer, passages, status)

    async def answer(self, ask: Ask, caller: Caller | None = None) -> Answer:
        """A whole answer, settled whether it came or failed."""
        try:
            answer = await run_in_threadpool(answer_question, self.retriever, self.llm, ask)
        except KuraError as exc:
            await self._settle(caller, ask, None, [], error_status(exc))
            raise
        await self._settle(caller, ask, answer, answer.given, 200)
        return answer

    async def draft(self, ask: Ask) -> Draft:
        """Everything before the model (retrieval, the prompt), for a streamed answer: its
        errors come before the stream starts, as an ordinary error response."""
        return await run_in_threadpool(draft, self.retriever, self.llm, ask)

    async def stream(
        self, drafted: Draft, caller: Caller | None = None
    ) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
        """The events of a streamed answer (`app.answer.stream_answer`), settled at the end:
        an error is settled with its status and raised on, for the caller to frame; no answer
        and no error is a client that went away (499)."""
        answer: Answer | None = None
        status = 200
        events = stream_answer(drafted, self.llm, self.retriever)
        try:
            async with aclosing(events):
                async for event, data in events:
                    if event == "done":
                        answer = Answer.model_validate(data)
                    yield event, data
        except KuraError as exc:
            status = error_status(exc)
            raise
        finally:
            final = status if answer or status != 200 else 499
            # A client that left cancelled this task: the record is written all the same.
            with anyio.CancelScope(shield=True):
                await self._settle(caller, drafted.ask, answer, drafted.passages, final)

    async def background(self, messages: list[dict[str, str]], sampling: Sampling) -> Generation:
        """A client's background task (a chat title, tags): the model alone, nothing read."""
        return await run_in_threadpool(background_task, self.llm, messages, sampling)


def answering(request: Request) -> Answering:
    """The answer service over the app's components, recording every answer."""
    state = request.app.state
    recorder = Recorder(state.settings, state.audit, state.metrics)
    return Answering(state.retriever, state.llm, recorder)


AnsweringDep = Annotated[Answering, Depends(answering)]
