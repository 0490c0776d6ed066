"""Who may do what: the one place kura decides access, as plain functions over (user, collection).

The table (``admin``: an admin key; auth off: the local user, who is an admin):

| who                          | read a collection            | write (add/delete docs) | admin |
|------------------------------|------------------------------|-------------------------|-------|
| admin key, or auth off       | every collection             | every collection        | yes   |
| key in a ``read_groups``     | it (``*``: every key holder) | if in ``write_groups``  | no    |
| key in ``write_groups`` only | no (as if it did not exist)  | no (cannot see it)      | no    |
| proxy key acting for a user  | as the mapped user's groups  | as the mapped user's    | never |

Inside a collection a user sees the documents whose ``allowed_groups`` meet their groups
(``read_groups``: their own plus ``*``); admins too are filtered by their groups, only auth off
lifts the filter. A collection or document the user may not read is reported exactly like
one that does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request

from app.auth import CurrentUser
from app.keys import EVERYONE, User
from ingest.errors import CollectionNotFound
from ingest.registry import CollectionConfig

if TYPE_CHECKING:
    from app.settings import AppSettings
    from ingest.components import Components
    from ingest.versions import DocumentVersion


def read_groups(user: User) -> list[str]:
    """Groups for the access filter on ``allowed_groups``: the user's own plus ``*`` (everyone)."""
    return sorted({*user.groups, EVERYONE})


def reader_groups(user: User, settings: AppSettings) -> list[str] | None:
    """The groups in the access filter of the user's searches; None (no filter) only when
    authentication is off, in a single-user local setup."""
    return None if settings.auth == "off" else read_groups(user)


def may_read(user: User, config: CollectionConfig) -> bool:
    """Whether ``user`` may search the collection and list its documents."""
    return user.admin or config.readable_by(read_groups(user))


def may_write(user: User, config: CollectionConfig) -> bool:
    """Whether ``user`` may add documents to the collection and delete them."""
    # Auth off needs no case of its own: its only user, LOCAL_USER, is an admin.
    return user.admin or config.writable_by(list(user.groups))


def may_administer(user: User) -> bool:
    """Whether ``user`` may create, change and delete collections and read the audit record."""
    return user.admin


def may_see_job(user: User, submitter: str) -> bool:
    """Whether ``user`` may see an upload job: their own; admins see all."""
    return user.admin or submitter == user.name


def sees_document(versions: list[DocumentVersion], groups: list[str] | None) -> bool:
    """Whether a member of ``groups`` sees the document in listings (None: no access control).

    Judged on the latest version's readers. Once a write is committed every version carries
    the same readers (an upload that changes them changes them for all), so this agrees with
    ``reads_every_version`` on committed data; the write rule is the stricter of the two."""
    return groups is None or bool(set(versions[-1].allowed_groups) & set(groups))


def reads_every_version(versions: list[DocumentVersion], groups: list[str] | None) -> bool:
    """Whether a member of ``groups`` may read every version (None: no access control): the
    condition for an upload to replace or version the document."""
    if not versions:
        return False
    if groups is None:
        return True
    wanted = set(groups)
    return all(set(v.allowed_groups) & wanted for v in versions)


def collection_for(
    name: str, user: User, components: Components, settings: AppSettings, *, write: bool = False
) -> CollectionConfig:
    """The collection's settings if the user may read it (or write to it, with ``write``).

    A collection the user may not read is reported exactly like one that does not exist
    (404); one they may read but not write answers 403 to a write.
    """
    config = components.registry.collection(name)
    if config is None:
        if not components.collection_exists(name):
            raise CollectionNotFound(name)
        config = CollectionConfig(name)  # made by `kura ingest` without settings: defaults
    if not may_read(user, config):
        raise CollectionNotFound(name)
    if write and not may_write(user, config):
        raise HTTPException(403, detail=f"you may not change documents of collection {name}")
    return config


# --- FastAPI dependencies: the collection named in the path ------------------------------------
# They read app.state directly rather than app.deps' aliases: app.deps re-exports this module.


def _readable(name: str, request: Request, user: CurrentUser) -> CollectionConfig:
    state = request.app.state
    return collection_for(name, user, state.components, state.settings)


def _writable(name: str, request: Request, user: CurrentUser) -> CollectionConfig:
    state = request.app.state
    return collection_for(name, user, state.components, state.settings, write=True)


ReadableCollection = Annotated[CollectionConfig, Depends(_readable)]
"""The collection ``{name}`` in the path, which the caller may read (404 otherwise)."""
WritableCollection = Annotated[CollectionConfig, Depends(_writable)]
"""The collection ``{name}`` in the path, which the caller may write to (404 / 403 otherwise)."""
