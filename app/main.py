"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.audit import AuditLog
from app.auth import metrics_reader
from app.errors import install_error_handlers
from app.guard import RequestGuard
from app.job_store import JobStore
from app.jobs import JobRunner
from app.keys import KeyStore
from app.limiter import FailureLimiter
from app.llm import build_llm
from app.observability import install_observability
from app.reindexing import Reindexer
from app.retrieve import Retriever
from app.routes import (
    admin,
    collections,
    docs,
    documents,
    health,
    openai_compat,
    query,
    search,
    web,
)
from app.settings import AppSettings, check_bind
from app.write_gate import WriteGate
from ingest.components import build_components


def create_app(settings: AppSettings | None = None) -> FastAPI:
    """Build the app; its lifespan opens Qdrant, loads the embedder and opens kura's state."""
    settings = settings or AppSettings()
    # AppSettings refuses this already; settings built with model_copy/model_construct skip
    # validators, and an app without authentication must never face the network.
    check_bind(settings.api_host, settings.auth)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # It loads and warms up (one embedding: the tokenizer sets its truncation on its first
        # call, which a first query racing the first upload could see mid-encode, "Already
        # borrowed"; docs/architecture.md) the runtimes the collections use, and only those.
        # An embedding host that is down is waited for: /readyz names it, keyword search
        # answers, uploads queue, and the embedder is built once the host answers.
        components = build_components(settings, wait_for_host=True)
        metrics = app.state.metrics

        def queue_changed(waiting: int, in_flight: int) -> None:
            metrics.llm_queue_depth.set(waiting)
            metrics.llm_in_flight.set(in_flight)

        app.state.settings = settings
        app.state.components = components
        app.state.llm = build_llm(settings, on_change=queue_changed)
        app.state.retriever = Retriever(components, settings, app.state.llm)
        app.state.keys = KeyStore(settings.state_database)
        app.state.audit = AuditLog(settings.state_database)
        gate = WriteGate()  # the reindexer closes collections to the worker and the API
        app.state.jobs = JobRunner(
            components,
            JobStore(settings.state_database),
            metrics,
            url=settings.local_url,
            gate=gate,
        )
        app.state.reindexer = Reindexer(components, gate)
        # heals what a stopped writer left in the store, then resumes the jobs it accepted
        app.state.jobs.resume()
        try:
            yield
        finally:
            app.state.reindexer.close()  # before the store closes: the old copies serve on
            app.state.jobs.close()
            app.state.keys.close()
            app.state.llm.close()
            app.state.retriever.close()
            app.state.audit.close()
            components.close()

    app = FastAPI(
        title="kura",
        summary="Private document RAG: answers from your documents by gpt-oss on your machine.",
        version="0.1.0",
        lifespan=lifespan,
        # Served by app.routes.docs from local files, not FastAPI's CDN pages.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.settings = settings
    app.state.auth_limiter = FailureLimiter(
        settings.auth_failure_limit, settings.auth_failure_window
    )
    install_error_handlers(app)
    app.add_middleware(RequestGuard, settings=settings)
    install_observability(app, log_text=settings.log_text, guard=metrics_reader)
    for module in (
        health,
        search,
        query,
        collections,
        documents,
        admin,
        openai_compat,
        web,
        docs,
    ):
        app.include_router(module.router)
    return app
