"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.errors import install_error_handlers
from app.llm import OllamaLLM
from app.retrieve import Retriever
from app.routes import health, query, search
from app.settings import AppSettings
from ingest.components import build_components


def create_app(settings: AppSettings | None = None) -> FastAPI:
    """Build the app; its lifespan opens Qdrant and loads the embedder once."""
    settings = settings or AppSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        components = build_components(settings)
        app.state.settings = settings
        app.state.components = components
        app.state.llm = OllamaLLM(settings)
        app.state.retriever = Retriever(components, settings)
        try:
            yield
        finally:
            components.close()

    app = FastAPI(
        title="kura",
        summary="Private document RAG: answers from your documents by gpt-oss on your machine.",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in (health, search, query):
        app.include_router(module.router)
    return app
