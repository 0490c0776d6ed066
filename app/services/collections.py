"""Collections: listed with the counts a caller may read, created, changed, deleted (admins)."""

from __future__ import annotations

from fastapi import HTTPException
from pydantic import BaseModel, Field

from app.keys import User
from app.policy import collection_for, reader_groups
from app.settings import AppSettings
from ingest.components import COLLECTION_NAME, Components
from ingest.errors import CollectionNotFound
from ingest.filters import all_of, catalogue, with_access
from ingest.registry import EVERYONE, CollectionConfig
from ingest.uploads import remove_collection


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


def collection_info(
    components: Components, config: CollectionConfig, groups: list[str] | None
) -> CollectionInfo:
    """The collection with the documents and chunks a member of ``groups`` may read."""
    documents = chunks = 0
    if components.collection_exists(config.name):
        store = components.vector_store(config.name)
        everything = with_access(all_of(), groups)
        chunks = store.count(everything if everything.filters else None)
        documents = store.count(with_access(all_of(catalogue()), groups))
    return CollectionInfo(
        name=config.name,
        description=config.description,
        read_groups=list(config.read_groups),
        write_groups=list(config.write_groups),
        documents=documents,
        chunks=chunks,
    )


def list_collections(
    user: User, settings: AppSettings, components: Components
) -> list[CollectionInfo]:
    """The collections the caller may read (registered, or only in the store), by name."""
    registered = {c.name: c for c in components.registry.collections()}
    names = sorted(set(registered) | set(components.collections()))
    found = []
    for name in names:
        try:
            config = collection_for(name, user, components, settings)
        except CollectionNotFound:
            continue
        found.append(collection_info(components, config, reader_groups(user, settings)))
    return found


def save_collection(
    body: CollectionRequest, user: User, settings: AppSettings, components: Components
) -> CollectionInfo:
    """Create the collection ``body`` names or change its settings (its creation time kept)."""
    existing = components.registry.collection(body.name)
    config = CollectionConfig(
        name=body.name,
        read_groups=tuple(body.read_groups) or (EVERYONE,),
        write_groups=tuple(body.write_groups),
        description=body.description,
        **({"created_at": existing.created_at} if existing else {}),
    )
    components.registry.save_collection(config)
    components.vector_store(body.name, create=True)
    return collection_info(components, config, reader_groups(user, settings))


def create_collection(
    body: CollectionRequest, user: User, settings: AppSettings, components: Components
) -> CollectionInfo:
    """A new collection; 409 if one of that name exists (registered or only in the store)."""
    if components.registry.collection(body.name) or components.collection_exists(body.name):
        raise HTTPException(409, detail=f"collection {body.name} already exists")
    return save_collection(body, user, settings, components)


def delete_collection(name: str, settings: AppSettings, components: Components) -> None:
    """Delete a collection: every point, its uploaded originals and its settings."""
    dropped = components.drop_collection(name)
    remove_collection(settings.data_dir, name)
    known = components.registry.collection(name) is not None
    components.registry.delete_collection(name)
    if not dropped and not known:
        raise CollectionNotFound(name)
