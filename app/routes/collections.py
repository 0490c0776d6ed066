"""Collections: list (with counts of what the caller may read), create, change, delete."""

from __future__ import annotations

import shutil

from fastapi import APIRouter, HTTPException, Response
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
from pydantic import BaseModel, Field

from app.deps import (
    AdminUser,
    ComponentsDep,
    CurrentUser,
    SettingsDep,
    collection_for,
    reader_groups,
)
from app.retrieve import with_access
from ingest.components import COLLECTION_NAME, Components
from ingest.errors import CollectionNotFound
from ingest.registry import EVERYONE, CollectionConfig

router = APIRouter(tags=["collections"])


class CollectionInfo(BaseModel):
    """A collection with the documents and chunks the caller may read."""

    name: str
    description: str = ""
    read_groups: list[str]
    write_groups: list[str]
    documents: int
    chunks: int


class CollectionRequest(BaseModel):
    """A new collection, or new settings for one."""

    name: str = Field(pattern=rf"^{COLLECTION_NAME.pattern}$")
    description: str = Field("", max_length=500)
    read_groups: list[str] = Field(
        default_factory=lambda: [EVERYONE],
        description='Who may search it, and the readers new documents get ("*": everyone).',
    )
    write_groups: list[str] = Field(
        default_factory=list, description="Who may add and delete documents (admins always)."
    )


def _info(
    components: Components, config: CollectionConfig, groups: list[str] | None
) -> CollectionInfo:
    documents = chunks = 0
    if components.collection_exists(config.name):
        store = components.vector_store(config.name)
        everything = with_access(MetadataFilters(filters=[]), groups)
        chunks = store.count(everything if everything.filters else None)
        first = MetadataFilter(key="chunk_index", value=0)
        documents = store.count(with_access(MetadataFilters(filters=[first]), groups))
    return CollectionInfo(
        name=config.name,
        description=config.description,
        read_groups=list(config.read_groups),
        write_groups=list(config.write_groups),
        documents=documents,
        chunks=chunks,
    )


@router.get("/v1/collections")
def list_collections(
    user: CurrentUser, settings: SettingsDep, components: ComponentsDep
) -> list[CollectionInfo]:
    """The collections the caller may read; counts include only documents they may read
    (chunks of every version)."""
    registered = {c.name: c for c in components.registry.collections()}
    names = sorted(set(registered) | set(components.collections()))
    found = []
    for name in names:
        try:
            config = collection_for(name, user, components, settings)
        except CollectionNotFound:
            continue
        found.append(_info(components, config, reader_groups(user, settings)))
    return found


@router.get("/v1/collections/{name}", responses={404: {"description": "No such collection"}})
def get_collection(
    name: str, user: CurrentUser, settings: SettingsDep, components: ComponentsDep
) -> CollectionInfo:
    """One collection."""
    config = collection_for(name, user, components, settings)
    return _info(components, config, reader_groups(user, settings))


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
    existing = components.registry.collection(name)
    config = CollectionConfig(
        name=name,
        read_groups=tuple(body.read_groups) or (EVERYONE,),
        write_groups=tuple(body.write_groups),
        description=body.description,
        **({"created_at": existing.created_at} if existing else {}),
    )
    components.registry.save_collection(config)
    components.vector_store(name, create=True)
    return _info(components, config, reader_groups(user, settings))


@router.post(
    "/v1/collections", status_code=201, responses={403: {"description": "Admin key required"}}
)
def create_collection(
    body: CollectionRequest, user: AdminUser, settings: SettingsDep, components: ComponentsDep
) -> CollectionInfo:
    """Create a collection (admin); 409 if it exists."""
    if components.registry.collection(body.name) or components.collection_exists(body.name):
        raise HTTPException(409, detail=f"collection {body.name} already exists")
    return put_collection(body.name, body, user, settings, components)


@router.delete(
    "/v1/collections/{name}",
    status_code=204,
    responses={
        403: {"description": "Admin key required"},
        404: {"description": "No such collection"},
    },
)
def delete_collection(
    name: str, user: AdminUser, settings: SettingsDep, components: ComponentsDep
) -> Response:
    """Delete a collection, every point in it, its uploaded files and its settings (admin)."""
    dropped = components.drop_collection(name)
    shutil.rmtree(settings.data_dir / "uploads" / name, ignore_errors=True)
    known = components.registry.collection(name) is not None
    components.registry.delete_collection(name)
    if not dropped and not known:
        raise CollectionNotFound(name)
    return Response(status_code=204)
