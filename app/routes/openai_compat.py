"""OpenAI-compatible endpoints, so Open WebUI, the `openai` SDK and other OpenAI clients can use
kura as a model: one model per collection (``kura:manuals``), answers grounded in it. The
request is read in `app.openai_request`, the answer shaped in `app.openai_response`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from app.answer import is_background_task
from app.deps import ComponentsDep, CurrentUser, SettingsDep, collection_for, reader_groups
from app.openai_request import PREFIX, ChatRequest, readable_collection
from app.openai_response import completion, completion_stream, plain
from app.services.ask import AnsweringDep
from app.services.record import Caller
from ingest.errors import CollectionNotFound

logger = logging.getLogger(__name__)
router = APIRouter(tags=["openai"])

ENDPOINT = "/v1/chat/completions"


@router.get("/v1/models")
def list_models(
    user: CurrentUser, settings: SettingsDep, components: ComponentsDep
) -> dict[str, Any]:
    """One model per collection the caller may read."""
    names = sorted(
        {c.name for c in components.registry.collections()} | set(components.collections())
    )
    data = []
    for name in names:
        try:
            collection_for(name, user, components, settings)
        except CollectionNotFound:
            continue
        data.append({"id": f"{PREFIX}{name}", "object": "model", "created": 0, "owned_by": "kura"})
    return {"object": "list", "data": data}


@router.post(ENDPOINT)
async def chat_completions(
    body: ChatRequest,
    user: CurrentUser,
    settings: SettingsDep,
    components: ComponentsDep,
    answering: AnsweringDep,
) -> Any:
    """An OpenAI chat completion answered from the collection named by the model."""
    collection = await run_in_threadpool(readable_collection, body, user, settings, components)
    messages = body.plain_messages()
    if is_background_task(messages):
        logger.info("background task from the client answered without retrieval")
        generation = await answering.background(messages, body.sampling())
        return plain(generation, body.model, body.stream)
    ask = body.ask(settings, collection, reader_groups(user, settings))
    caller = Caller(user, ENDPOINT)
    if body.stream:
        drafted = await answering.draft(ask)
        events = answering.stream(drafted, caller)
        return completion_stream(events, drafted, body.model, body.wants_usage, admin=user.admin)
    return completion(await answering.answer(ask, caller), body.model)
