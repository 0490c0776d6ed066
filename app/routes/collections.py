"""Collections: list (with counts of what the caller may read), create, change, delete, and
rebuild with the configured embedder (``app.reindexing``)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from app.deps import (
    AdminUser,
    ComponentsDep,
    CurrentUser,
    ReadableCollection,
    ReindexerDep,
    SettingsDep,
    WriteGateDep,
    reader_groups,
)
from app.reindexing import ReindexRunning, ReindexStatus
from app.services import collections
from app.services.collections import CollectionInfo, CollectionRequest

router = APIRouter(tags=["collections"])


@router.get("/v1/collections")
def list_collections(
    user: CurrentUser, settings: SettingsDep, components: ComponentsDep
) -> list[CollectionInfo]:
    """The collections the caller may read; counts include only documents they may read
    (chunks of every version)."""
    return collections.list_collections(user, settings, components)


@router.get("/v1/collections/{name}", responses={404: {"description": "No such collection"}})
def get_collection(
    config: ReadableCollection, user: CurrentUser, settings: SettingsDep, components: ComponentsDep
) -> CollectionInfo:
    """One collection."""
    return collections.collection_info(components, config, reader_groups(user, settings))


@router.put(
    "/v1/collections/{name}",
    status_code=201,
    responses={403: {"description": "Admin key required"}},
)
def put_collection(
    name: str,
    body: CollectionRequest,
    user: AdminUser,
    settings: SettingsDep,
    components: ComponentsDep,
) -> CollectionInfo:
    """Create a collection or change its settings (admin). New read groups apply to
    documents added from now on."""
    if body.name != name:
        raise HTTPException(422, detail="the name in the path and the body differ")
    return collections.save_collection(body, user, settings, components)


@router.post(
    "/v1/collections", status_code=201, responses={403: {"description": "Admin key required"}}
)
def create_collection(
    body: CollectionRequest, user: AdminUser, settings: SettingsDep, components: ComponentsDep
) -> CollectionInfo:
    """Create a collection (admin); 409 if it exists."""
    return collections.create_collection(body, user, settings, components)


@router.delete(
    "/v1/collections/{name}",
    status_code=204,
    responses={
        403: {"description": "Admin key required"},
        404: {"description": "No such collection"},
        409: {"description": "The collection is being reindexed; try again after Retry-After"},
    },
)
def delete_collection(
    name: str,
    user: AdminUser,
    settings: SettingsDep,
    components: ComponentsDep,
    gate: WriteGateDep,
) -> Response:
    """Delete a collection, every point in it, its uploaded files and its settings (admin;
    409 while it is being reindexed)."""
    with gate.writing(name):
        collections.delete_collection(name, settings, components)
    return Response(status_code=204)


@router.post(
    "/v1/collections/{name}/reindex",
    status_code=202,
    responses={
        403: {"description": "Admin key required"},
        404: {"description": "No such collection"},
        409: {"description": "A reindex of this collection is running already"},
    },
)
def start_reindex(name: str, user: AdminUser, reindexer: ReindexerDep) -> ReindexStatus:
    """Re-embed a collection with the configured embedder into a new copy, swapped in when
    whole (admin); search answers from the old copy until then. Poll the GET for its state."""
    try:
        return reindexer.start(name)
    except ReindexRunning as exc:
        raise HTTPException(409, detail=str(exc)) from exc


@router.get(
    "/v1/collections/{name}/reindex",
    responses={
        403: {"description": "Admin key required"},
        404: {"description": "No reindex of this collection since the server started"},
    },
)
def reindex_status(name: str, user: AdminUser, reindexer: ReindexerDep) -> ReindexStatus:
    """The state of the collection's last reindex: running (versions done of total), done
    (what it did), or failed (why; the old copy serves on) (admin)."""
    state = reindexer.status(name)
    if state is None:
        raise HTTPException(404, detail=f"no reindex of {name} since the server started")
    return state
