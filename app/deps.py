"""FastAPI dependencies: the components built at startup, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.llm import OllamaLLM
from app.retrieve import Retriever
from app.settings import AppSettings
from ingest.components import Components


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


SettingsDep = Annotated[AppSettings, Depends(_settings)]
ComponentsDep = Annotated[Components, Depends(_components)]
LLMDep = Annotated[OllamaLLM, Depends(_llm)]
RetrieverDep = Annotated[Retriever, Depends(_retriever)]
