"""The access policy table: reader, writer, admin, proxy key, auth off; and the dependencies
that resolve the collection in the path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from app.errors import install_error_handlers
from app.keys import LOCAL_USER, KeyStore, User
from app.policy import (
    ReadableCollection,
    WritableCollection,
    collection_for,
    may_administer,
    may_read,
    may_see_job,
    may_write,
    reader_groups,
    reads_every_version,
    sees_document,
)
from ingest.errors import CollectionNotFound
from ingest.registry import CollectionConfig, Registry
from ingest.versions import DocumentVersion

pytestmark = pytest.mark.unit

# legal may read; editors may write too; accounting may write but not read.
CONTRACTS = CollectionConfig(
    "contracts", read_groups=("legal", "editors"), write_groups=("editors", "accounting")
)
OPEN = CollectionConfig("manuals")  # readable by every key holder, writable by admins only


@dataclass
class Users:
    reader: User
    writer: User
    write_only: User
    admin: User
    proxy: User
    acting: User


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[KeyStore]:
    with KeyStore(tmp_path / "kura.db") as store:
        yield store


def _user(store: KeyStore, key: str) -> User:
    found = store.authenticate(key)
    assert found is not None
    return found


@pytest.fixture
def users(keys: KeyStore) -> Users:
    proxy_key, record = keys.create("openwebui", proxy=True)
    proxy = _user(keys, proxy_key)
    keys.map_proxy_user(record.id, "花子@example.jp", "hanako", ["legal"])
    acting = keys.act_for(proxy, "花子@example.jp")
    assert acting is not None
    return Users(
        reader=_user(keys, keys.create("taro", ["legal"])[0]),
        writer=_user(keys, keys.create("jiro", ["legal", "editors"])[0]),
        write_only=_user(keys, keys.create("saburo", ["accounting"])[0]),
        admin=_user(keys, keys.create("root", admin=True)[0]),
        proxy=proxy,
        acting=acting,
    )


def test_the_policy_table(users: Users) -> None:
    table = {
        # who: (reads CONTRACTS, writes CONTRACTS, reads OPEN, writes OPEN, administers)
        "reader": (True, False, True, False, False),
        "writer": (True, True, True, False, False),
        "write_only": (False, True, True, False, False),
        "admin": (True, True, True, True, True),
        "proxy": (False, False, True, False, False),
        "acting": (True, False, True, False, False),
    }
    for who, expected in table.items():
        user = getattr(users, who)
        got = (
            may_read(user, CONTRACTS),
            may_write(user, CONTRACTS),
            may_read(user, OPEN),
            may_write(user, OPEN),
            may_administer(user),
        )
        assert got == expected, who
    assert users.acting.name == "hanako"
    assert users.acting.via == "openwebui"


def test_auth_off_is_an_admin_without_a_filter() -> None:
    off = SimpleNamespace(auth="off")
    assert may_read(LOCAL_USER, CONTRACTS)
    assert may_write(LOCAL_USER, CONTRACTS)
    assert may_administer(LOCAL_USER)
    assert may_see_job(LOCAL_USER, "someone else")
    assert reader_groups(LOCAL_USER, off) is None  # type: ignore[arg-type]


def test_reader_groups_filter_admins_too(users: Users) -> None:
    keys_on = SimpleNamespace(auth="keys")
    assert reader_groups(users.admin, keys_on) == ["*"]  # type: ignore[arg-type]
    assert reader_groups(users.writer, keys_on) == ["*", "editors", "legal"]  # type: ignore[arg-type]
    assert reader_groups(users.acting, keys_on) == ["*", "legal"]  # type: ignore[arg-type]


def test_jobs_are_seen_by_their_submitter_and_admins(users: Users) -> None:
    assert may_see_job(users.reader, "taro")
    assert not may_see_job(users.reader, "jiro")
    assert may_see_job(users.admin, "jiro")


def _version(groups: tuple[str, ...], label: str) -> DocumentVersion:
    return DocumentVersion(
        document_id="d1",
        version=label * 64,
        label=label,
        effective_date="",
        source="就業規則.pdf",
        title="就業規則",
        doc_type="pdf",
        chunks=3,
        ingested_at="2026-11-29T00:00:00+00:00",
        allowed_groups=groups,
    )


def test_the_two_document_rules() -> None:
    agreed = [_version(("legal",), "a"), _version(("legal",), "b")]
    for rule in (sees_document, reads_every_version):
        assert rule(agreed, ["*", "legal"])
        assert not rule(agreed, ["*", "accounting"])
        assert rule(agreed, None)
    # Versions that disagree (a write not yet committed to every version): listing follows
    # the latest version, joining a document needs every version.
    mixed = [_version(("accounting",), "a"), _version(("legal",), "b")]
    assert sees_document(mixed, ["*", "legal"])
    assert not reads_every_version(mixed, ["*", "legal"])
    assert not reads_every_version([], None)


@dataclass
class Collections:
    """The two things the policy asks of the components: the registry, and the store's list."""

    registry: Registry
    stored: set[str] = field(default_factory=set)

    def collection_exists(self, name: str) -> bool:
        return name in self.stored


@pytest.fixture
def components(tmp_path: Path) -> Iterator[Collections]:
    registry = Registry(tmp_path / "registry.db")
    registry.save_collection(CONTRACTS)
    yield Collections(registry, {"contracts", "ingested"})
    registry.close()


def test_collection_for(users: Users, components: Collections) -> None:
    keys_on = SimpleNamespace(auth="keys")

    def get(name: str, user: User, *, write: bool = False) -> CollectionConfig:
        return collection_for(name, user, components, keys_on, write=write)  # type: ignore[arg-type]

    assert get("contracts", users.reader) == CONTRACTS
    assert get("contracts", users.writer, write=True) == CONTRACTS
    with pytest.raises(HTTPException) as refused:
        get("contracts", users.reader, write=True)
    assert refused.value.status_code == 403
    for who in (users.write_only, users.proxy):  # may not read: as if it did not exist
        with pytest.raises(CollectionNotFound):
            get("contracts", who, write=True)
    with pytest.raises(CollectionNotFound):
        get("absent", users.admin)
    # made by `kura ingest` without settings: the defaults (everyone reads, admins write)
    defaults = get("ingested", users.reader)
    assert (defaults.read_groups, defaults.write_groups) == (("*",), ())
    with pytest.raises(HTTPException):
        get("ingested", users.writer, write=True)


def test_the_path_dependencies(keys: KeyStore, users: Users, components: Collections) -> None:
    app = FastAPI()
    app.state.settings = SimpleNamespace(auth="keys")
    app.state.keys = keys
    app.state.components = components
    install_error_handlers(app)

    @app.get("/read/{name}")
    def read(config: ReadableCollection) -> dict[str, str]:
        return {"name": config.name}

    @app.post("/write/{name}")
    def write(config: WritableCollection) -> dict[str, str]:
        return {"name": config.name}

    reader_key, _ = keys.create("shiro", ["legal"])
    writer_key, _ = keys.create("goro", ["editors"])
    with TestClient(app) as client:
        as_reader = {"X-API-Key": reader_key}
        as_writer = {"X-API-Key": writer_key}
        assert client.get("/read/contracts", headers=as_reader).json() == {"name": "contracts"}
        assert client.get("/read/contracts").status_code == 401
        assert client.post("/write/contracts", headers=as_reader).status_code == 403
        assert client.post("/write/contracts", headers=as_writer).json() == {"name": "contracts"}
        missing = client.get("/read/absent", headers=as_reader)
        assert missing.status_code == 404
