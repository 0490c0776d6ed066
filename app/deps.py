"""FastAPI dependencies: the components built at startup, the caller, and what they may read
(decided in ``app.policy``, re-exported here)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.audit import AuditLog
from app.auth import AdminUser, CurrentUser
from app.jobs import JobRunner
from app.llm import AnsweringModel
from app.observability import Metrics
from app.policy import ReadableCollection, WritableCollection, collection_for, reader_groups
from app.reindexing import Reindexer
from app.retrieve import Retriever
from app.settings import AppSettings
from app.write_gate import WriteGate
from ingest.components import Components

__all__ = [
    "AdminUser",
    "CurrentUser",
    "ReadableCollection",
    "WritableCollection",
    "collection_for",
    "reader_groups",
]


def _settings(request: Request) -> AppSettings:
    settings: AppSettings = request.app.state.settings
    return settings


def _components(request: Request) -> Components:
    components: Components = request.app.state.components
    return components


def _llm(request: Request) -> AnsweringModel:
    llm: AnsweringModel = request.app.state.llm
    return llm


def _retriever(request: Request) -> Retriever:
    retriever: Retriever = request.app.state.retriever
    return retriever


def _audit(request: Request) -> AuditLog:
    audit: AuditLog = request.app.state.audit
    return audit


def _jobs(request: Request) -> JobRunner:
    jobs: JobRunner = request.app.state.jobs
    return jobs


def _reindexer(request: Request) -> Reindexer:
    reindexer: Reindexer = request.app.state.reindexer
    return reindexer


def _gate(request: Request) -> WriteGate:
    reindexer: Reindexer = request.app.state.reindexer
    return reindexer.gate


def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[AppSettings, Depends(_settings)]
ComponentsDep = Annotated[Components, Depends(_components)]
LLMDep = Annotated[AnsweringModel, Depends(_llm)]
RetrieverDep = Annotated[Retriever, Depends(_retriever)]
AuditDep = Annotated[AuditLog, Depends(_audit)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
JobsDep = Annotated[JobRunner, Depends(_jobs)]
ReindexerDep = Annotated[Reindexer, Depends(_reindexer)]
WriteGateDep = Annotated[WriteGate, Depends(_gate)]
