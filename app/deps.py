"""FastAPI dependencies: the components built at startup, the caller, and what they may read."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from app.audit import AuditLog
from app.auth import AdminUser, CurrentUser, User, read_groups
from app.llm import OllamaLLM
from app.observability import Metrics
from app.retrieve import Retriever
from app.settings import AppSettings
from ingest.components import Components
from ingest.errors import CollectionNotFound
from ingest.registry import CollectionConfig

__all__ = ["AdminUser", "CurrentUser"]


def _settings(request: Request) -> AppSettings:
    settings: AppSettings = request.app.state.settings
    return settings


def _components(request: Request) -> Components:
    components: Components = request.app.state.components
    return components


def _llm(request: Request) -> OllamaLLM:
    llm: OllamaLLM = request.app.state.llm
    return llm


def _retriever(request: Request) -> Retriever:
    retriever: Retriever = request.app.state.retriever
    return retriever


def _audit(request: Request) -> AuditLog:
    audit: AuditLog = request.app.state.audit
    return audit


def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[AppSettings, Depends(_settings)]
ComponentsDep = Annotated[Components, Depends(_components)]
LLMDep = Annotated[OllamaLLM, Depends(_llm)]
RetrieverDep = Annotated[Retriever, Depends(_retriever)]
AuditDep = Annotated[AuditLog, Depends(_audit)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]


def reader_groups(user: User, settings: AppSettings) -> list[str] | None:
    """The groups in the access filter of the user's searches; None (no filter) only when
    authentication is off, in a single-user local setup."""
    return None if settings.auth == "off" else read_groups(user)


def collection_for(
    name: str, user: User, components: Components, settings: AppSettings, *, write: bool = False
) -> CollectionConfig:
    """The collection's settings if the user may read it (or write to it, with ``write``).

    A collection the user may not read is reported exactly like one that does not exist.
    """
    config = components.registry.collection(name)
    if config is None:
        if not components.collection_exists(name):
            raise CollectionNotFound(name)
        config = CollectionConfig(name)
    if settings.auth == "off" or (user.admin and write):
        return config
    groups = read_groups(user)
    if not config.readable_by(groups) and not user.admin:
        raise CollectionNotFound(name)
    if write and not config.writable_by(list(user.groups)):
        raise HTTPException(403, detail=f"you may not change documents of collection {name}")
    return config
