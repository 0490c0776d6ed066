"""The account of every answer given behind the API: its metrics and its audit record (who
asked what, what the model was given, what it answered), written whether it came or failed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool

from app.answer import Answer, Ask
from app.audit import AccessDecision, AuditEntry, AuditLog, AuditPassage, ProxyInfo
from app.keys import User
from app.observability import Metrics
from app.passages import Passage
from app.settings import AppSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """Who asked, and through which endpoint: what the audit record names."""

    user: User
    endpoint: str


def audit_entry(
    settings: AppSettings,
    caller: Caller,
    ask: Ask,
    answer: Answer | None,
    passages: list[Passage],
    status: int,
) -> AuditEntry:
    """One evidence record: who asked what, what the model was given, what it answered."""
    user = caller.user
    return AuditEntry(
        user=user.name,
        key_id=user.key_id,
        proxy=ProxyInfo(user=user.via, key_id=user.key_id) if user.via else None,
        endpoint=caller.endpoint,
        collection=ask.collection,
        question=ask.question,
        answer=answer.answer if answer else None,
        passages=[
            AuditPassage(
                n=p.n,
                chunk_id=p.chunk_id,
                document_id=p.document_id,
                document_version=p.document_version,
                source=p.source,
                page=p.pages or None,
            )
            for p in passages
        ],
        access=AccessDecision(
            groups=ask.groups if ask.groups is not None else ["(auth off: no filter)"],
            decision="allowed",
        ),
        model=answer.model if answer else settings.ollama_model,
        settings={
            "reasoning_effort": ask.effort,
            "top_k": ask.top_k,
            "mode": ask.mode,
            "num_ctx": settings.num_ctx,
            "temperature": settings.temperature,
            "answer_max_tokens": settings.answer_max_tokens,
            "filters": ask.filters.model_dump(mode="json") if ask.filters else None,
            "standalone_question": answer.question if answer else None,
            "covered": answer.covered if answer else None,
        },
        citations=[c.n for c in answer.citations] if answer else [],
        status=status,
    )


def observe(metrics: Metrics, answer: Answer) -> None:
    """Retrieval and generation time, tokens and the outcome, for /metrics."""
    metrics.observe_retrieval(answer.retrieval_mode, answer.timings.retrieval_ms / 1000)
    if answer.covered:
        metrics.observe_generation(
            answer.model,
            answer.timings.generation_ms / 1000,
            answer.usage.prompt_tokens,
            answer.usage.completion_tokens,
        )
    metrics.count_answer("answered" if answer.covered else "no_answer")


@dataclass(frozen=True)
class Recorder:
    """Where answers are accounted for: the metrics and the audit log."""

    settings: AppSettings
    audit: AuditLog
    metrics: Metrics

    def write(self, entry: AuditEntry) -> None:
        """Append ``entry`` to the audit log; a failure is logged, then raised."""
        try:
            self.audit.record(entry)
        except Exception:
            logger.exception("could not write the audit record")
            raise

    async def settle(
        self,
        caller: Caller,
        ask: Ask,
        answer: Answer | None,
        passages: list[Passage],
        status: int,
    ) -> None:
        """After an answer, or its failure: the metrics and the audit record. Status 499 is a
        client that went away, not an error."""
        if answer is not None:
            observe(self.metrics, answer)
        elif status != 499:
            self.metrics.count_answer("error")
        entry = audit_entry(self.settings, caller, ask, answer, passages, status)
        await run_in_threadpool(self.write, entry)
