"""API keys, the FastAPI auth dependencies, the bind check and `kura keys`."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.auth import AdminUser, CurrentUser
from app.keys import LOCAL_USER, KeyStore, User
from app.keys_cli import keys
from app.policy import read_groups
from app.settings import InsecureBind, check_bind

pytestmark = pytest.mark.unit


def secret_of(key: str) -> str:
    return key[len("kura_") + 13 :]  # kura_<12-char id>_<secret>; the secret may hold "_"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[KeyStore]:
    with KeyStore(tmp_path / "kura.db") as s:
        yield s


def test_create_authenticate_revoke(store: KeyStore) -> None:
    key, record = store.create("alice", ["legal", "hr", "legal"], admin=False)
    assert key.startswith(f"kura_{record.id}_")
    assert record.groups == ["hr", "legal"]
    assert store.authenticate(key) == User(
        name="alice", groups=("hr", "legal"), admin=False, key_id=record.id
    )
    listed = store.list()
    assert [r.id for r in listed] == [record.id]
    assert listed[0].last_used_at is not None
    assert listed[0].revoked_at is None

    assert store.revoke(record.id) is True
    assert store.authenticate(key) is None
    assert store.list()[0].revoked_at is not None
    assert store.revoke(record.id) is True  # idempotent
    assert store.revoke("000000000000") is False


def test_keys_are_independent(store: KeyStore) -> None:
    key_a, a = store.create("alice", ["x"])
    key_b, _ = store.create("bob", [], admin=True)
    store.revoke(a.id)
    assert store.authenticate(key_a) is None
    user_b = store.authenticate(key_b)
    assert user_b is not None
    assert user_b.admin
    assert user_b.groups == ()


def test_only_a_hash_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "kura.db"
    with KeyStore(path) as s:
        key, record = s.create("alice", ["legal"])
    secret = secret_of(key)
    assert len(secret) == 43
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # db, -wal, -shm
    assert record.id.encode() in raw
    assert secret.encode() not in raw
    assert key.encode() not in raw
    assert "key_hash" not in record.model_dump()


def test_store_reopens(tmp_path: Path) -> None:
    with KeyStore(tmp_path / "kura.db") as s:
        key, _ = s.create("alice")
    with KeyStore(tmp_path / "kura.db") as s:
        assert s.authenticate(key) is not None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: "",
        lambda k: "kura_",
        lambda k: k[:-1],
        lambda k: k + "A",
        lambda k: k.replace("kura_", "KURA_"),
        lambda k: k[:-1] + ("B" if k[-1] != "B" else "C"),  # right id, wrong secret
        lambda k: "kura_" + "0" * 12 + k[17:],  # unknown id, right secret
        lambda k: k + "\n",
        lambda k: " " + k,
        lambda k: "kura_zz_" + "a" * 43,
        lambda k: "kura_" + "é" * 12 + "_" + "a" * 43,
    ],
)
def test_malformed_or_wrong_keys_are_refused(store: KeyStore, mangle: Callable[[str], str]) -> None:
    key, _ = store.create("alice")
    assert store.authenticate(mangle(key)) is None
    assert store.authenticate(key) is not None


@pytest.mark.parametrize("name", ["", "a,b", "*", "-x", "a b", "x" * 65, "ü"])
def test_bad_names_are_rejected(store: KeyStore, name: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        store.create(name)
    with pytest.raises(ValueError, match="invalid"):
        store.create("alice", [name] if name else ["ok", "*"])


def test_concurrent_authentication_while_creating(store: KeyStore) -> None:
    keys_made = [store.create(f"user{i}")[0] for i in range(3)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                for key in keys_made:
                    assert store.authenticate(key) is not None
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            errors.append(exc)

    def writer() -> None:
        try:
            for i in range(50):
                store.create(f"new{i}", ["g"])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for t in readers:
        t.start()
    w = threading.Thread(target=writer)
    w.start()
    w.join(timeout=60)
    stop.set()
    for t in readers:
        t.join(timeout=60)
    assert not errors
    assert len(store.list()) == 53


def test_a_second_connection_sees_new_and_revoked_keys(tmp_path: Path) -> None:
    # The CLI writes with its own connection while the server keeps one open.
    with KeyStore(tmp_path / "kura.db") as server, KeyStore(tmp_path / "kura.db") as cli:
        key, record = cli.create("alice")
        assert server.authenticate(key) is not None
        cli.revoke(record.id)
        assert server.authenticate(key) is None


def test_read_groups() -> None:
    user = User(name="a", groups=("legal", "hr"), admin=False, key_id="k")
    assert read_groups(user) == ["*", "hr", "legal"]
    assert read_groups(User(name="b", groups=(), admin=False, key_id="k")) == ["*"]
    assert read_groups(LOCAL_USER) == ["*"]


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST", "::ffff:127.0.0.1"],
)
def test_check_bind_allows_loopback_without_auth(host: str) -> None:
    check_bind(host, "off")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "example.com", "10.0.0.1", ""])
def test_check_bind_refuses_open_hosts_without_auth(host: str) -> None:
    with pytest.raises(InsecureBind, match="KURA_AUTH"):
        check_bind(host, "off")
    check_bind(host, "keys")


# --- the FastAPI dependencies ----------------------------------------------------------------


def make_app(store: KeyStore | None, auth: str) -> FastAPI:
    app = FastAPI()
    app.state.settings = SimpleNamespace(auth=auth)
    app.state.keys = store

    @app.get("/me")
    def me(user: CurrentUser) -> dict[str, object]:
        return {"name": user.name, "groups": list(user.groups), "admin": user.admin}

    @app.get("/admin")
    def admin(user: AdminUser) -> dict[str, str]:
        return {"name": user.name}

    return app


def test_routes_require_a_valid_key(store: KeyStore) -> None:
    key, record = store.create("alice", ["legal"])
    admin_key, _ = store.create("root", admin=True)
    with TestClient(make_app(store, "keys")) as client:
        missing = client.get("/me")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        bad = client.get("/me", headers={"Authorization": "Bearer kura_nope"})
        assert bad.status_code == 401
        assert bad.headers["www-authenticate"] == "Bearer"
        assert client.get("/me", headers={"Authorization": f"Basic {key}"}).status_code == 401

        ok = client.get("/me", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200
        assert ok.json() == {"name": "alice", "groups": ["legal"], "admin": False}
        assert client.get("/me", headers={"authorization": f"bearer {key}"}).status_code == 200
        assert client.get("/me", headers={"X-API-Key": key}).status_code == 200

        assert client.get("/admin", headers={"X-API-Key": key}).status_code == 403
        assert client.get("/admin", headers={"X-API-Key": admin_key}).status_code == 200
        assert client.get("/admin").status_code == 401

        store.revoke(record.id)
        assert client.get("/me", headers={"X-API-Key": key}).status_code == 401


def test_auth_off_is_the_local_admin() -> None:
    with TestClient(make_app(None, "off")) as client:
        me = client.get("/me")
        assert me.status_code == 200
        assert me.json() == {"name": "local", "groups": ["*"], "admin": True}
        assert client.get("/admin").status_code == 200


def test_settings_without_the_flag_fail_closed(store: KeyStore) -> None:
    app = make_app(store, "keys")
    app.state.settings = SimpleNamespace()
    with TestClient(app) as client:
        assert client.get("/me").status_code == 401


# --- kura keys -----------------------------------------------------------------------------------


def test_keys_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KURA_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()

    made = runner.invoke(keys, ["create", "--user", "alice", "--groups", "legal, hr", "--admin"])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("kura_")
    assert "will not be shown again" in " ".join(made.stderr.split())

    listed = runner.invoke(keys, ["list", "--json"])
    assert listed.exit_code == 0, listed.output
    records = json.loads(listed.stdout)
    assert len(records) == 1
    assert records[0]["user"] == "alice"
    assert records[0]["groups"] == ["hr", "legal"]
    assert records[0]["admin"] is True
    assert secret_of(key) not in listed.stdout
    key_id = records[0]["id"]

    table = runner.invoke(keys, ["list"])
    assert table.exit_code == 0
    assert key_id in table.stdout

    with KeyStore(tmp_path / "data" / "kura.db") as s:
        assert s.authenticate(key) is not None

    assert runner.invoke(keys, ["revoke", key_id]).exit_code == 0
    assert runner.invoke(keys, ["revoke", "000000000000"]).exit_code == 1
    with KeyStore(tmp_path / "data" / "kura.db") as s:
        assert s.authenticate(key) is None

    bad = runner.invoke(keys, ["create", "--user", "bad name"])
    assert bad.exit_code == 1
    assert "invalid user name" in " ".join(bad.stderr.split())


# --- proxy keys, old databases, failed-key limits ------------------------------------------


def test_proxy_keys_act_only_for_mapped_users(store: KeyStore) -> None:
    proxy_key, proxy = store.create("openwebui", [], proxy=True)
    plain_key, plain = store.create("bob", ["staff"])
    with pytest.raises(ValueError, match="cannot be an admin"):
        store.create("front", admin=True, proxy=True)
    with pytest.raises(ValueError, match="not a proxy key"):
        store.map_proxy_user(plain.id, "ann@example.com", "ann", ["legal"])
    store.map_proxy_user(proxy.id, "Ann@Example.com", "ann", ["legal"])
    front = store.authenticate(proxy_key)
    assert front is not None
    assert front.proxy
    ann = store.act_for(front, "ann@example.com ")
    assert ann == User(name="ann", groups=("legal",), admin=False, key_id=proxy.id, via="openwebui")
    assert store.act_for(front, "eve@example.com") is None
    bob = store.authenticate(plain_key)
    assert bob is not None
    assert store.act_for(bob, "ann@example.com") is None  # ordinary keys never act for anyone
    assert [m.user for m in store.proxy_users()] == ["ann"]
    store.revoke(proxy.id)  # revoking the proxy ends every mapping at once
    assert store.authenticate(proxy_key) is None
    assert store.proxy_users() == []


def test_a_kura_db_from_before_proxies_and_failure_groups_opens(tmp_path: Path) -> None:
    import sqlite3

    from app.audit import AuditLog
    from ingest.registry import Registry

    path = tmp_path / "kura.db"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE api_keys (id TEXT PRIMARY KEY, user TEXT NOT NULL, groups_json TEXT NOT NULL,
            admin INTEGER NOT NULL, key_hash TEXT NOT NULL, created_at TEXT NOT NULL,
            last_used_at TEXT, revoked_at TEXT);
        INSERT INTO api_keys VALUES ('0123456789ab', 'ann', '["legal"]', 0, 'x',
            '2026-01-01T00:00:00+00:00', NULL, NULL);
        CREATE TABLE failures (collection TEXT NOT NULL, source TEXT NOT NULL,
            document_id TEXT NOT NULL, reason TEXT NOT NULL, failed_at TEXT NOT NULL,
            PRIMARY KEY (collection, source));
        INSERT INTO failures VALUES ('c', '極秘.docx', 'd', 'broken', '2026-01-01T00:00:00');
        CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL,
            user TEXT NOT NULL, key_id TEXT NOT NULL, endpoint TEXT NOT NULL, collection TEXT,
            question TEXT NOT NULL, answer TEXT, passages TEXT NOT NULL, access TEXT NOT NULL,
            model TEXT, settings TEXT NOT NULL, citations TEXT NOT NULL, status INTEGER NOT NULL);
        """
    )
    old.commit()
    old.close()
    with KeyStore(path) as keys:
        assert [(r.user, r.proxy) for r in keys.list()] == [("ann", False)]
    registry = Registry(path)
    try:
        (failure,) = registry.failures("c")
        # Who may read an old failure is unknown: it is listed to nobody until it clears.
        assert failure.allowed_groups == ()
        assert not failure.readable_by(["legal", "*"])
        registry.record_failure("c", "x.docx", "d2", "broken", ("legal",))
        assert {f.source for f in registry.failures("c") if f.readable_by(["legal"])} == {"x.docx"}
        registry.clear_failure("c", "x.docx", ("staff",))  # another reader's name: kept
        assert len(registry.failures("c")) == 2
        registry.clear_failure("c", "x.docx", ("legal",))
        assert [f.source for f in registry.failures("c")] == ["極秘.docx"]
    finally:
        registry.close()
    from app.audit import AccessDecision, AuditEntry, ProxyInfo

    with AuditLog(path) as audit:
        entry = AuditEntry(
            user="ann",
            endpoint="/v1/query",
            access=AccessDecision(groups=["legal"], decision="allowed"),
            proxy=ProxyInfo(user="openwebui", key_id="0123456789ab"),
        )
        audit.record(entry)
        assert audit.query(user="ann")[0].proxy == entry.proxy


def test_failure_limiter_blocks_an_address_for_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app import limiter as limiting

    now = [1000.0]
    monkeypatch.setattr(limiting.time, "monotonic", lambda: now[0])
    limiter = limiting.FailureLimiter(limit=3, window=60, max_addresses=2)
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1") is None
        limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 60
    assert limiter.retry_after("10.0.0.2") is None
    now[0] += 30
    assert limiter.retry_after("10.0.0.1") == 30
    now[0] += 30
    assert limiter.retry_after("10.0.0.1") is None  # the oldest failure left the window
    limiter.failed("a")
    limiter.failed("b")
    limiter.failed("c")  # over max_addresses: the least recent is forgotten
    assert set(limiter._failures) == {"b", "c"}
    assert limiting.FailureLimiter(limit=0, window=60).retry_after("x") is None


def test_keys_cli_proxy_and_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KURA_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    made = runner.invoke(keys, ["create", "--user", "openwebui", "--proxy"])
    assert made.exit_code == 0, made.output
    key_id = made.stdout.strip().split("_")[1]
    assert "proxy" in made.stderr
    mapped = runner.invoke(
        keys, ["map", key_id, "ann@example.com", "--user", "ann", "--groups", "legal"]
    )
    assert mapped.exit_code == 0, mapped.output
    listed = json.loads(runner.invoke(keys, ["mapped", "--json"]).stdout)
    assert listed == [
        {"proxy_key_id": key_id, "external": "ann@example.com", "user": "ann", "groups": ["legal"]}
    ]
    assert runner.invoke(keys, ["create", "--user", "x", "--proxy", "--admin"]).exit_code == 1
    assert runner.invoke(keys, ["unmap", key_id, "ann@example.com"]).exit_code == 0
    assert runner.invoke(keys, ["unmap", key_id, "ann@example.com"]).exit_code == 1
