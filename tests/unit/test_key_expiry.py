"""Keys that expire: refused from their expiry on, renewed as a lease, listed with it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.keys import KeyStore
from app.keys_cli import keys
from app.reindex_cli import KEY_LEASE, renewer

pytestmark = pytest.mark.unit

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[KeyStore]:
    with KeyStore(tmp_path / "kura.db", clock=clock) as s:
        yield s


def test_a_key_is_refused_from_its_expiry_on(store: KeyStore, clock: Clock) -> None:
    key, record = store.create("tanaka", ["legal"], expires_in=timedelta(minutes=10))
    forever, _ = store.create("suzuki")
    assert record.expires_at == START + timedelta(minutes=10)
    listed = {k.id: k for k in store.list()}
    assert listed[record.id].expires_at == record.expires_at
    clock.now = START + timedelta(minutes=9, seconds=59)
    assert store.authenticate(key) is not None
    clock.now = START + timedelta(minutes=10)
    assert store.authenticate(key) is None
    assert store.authenticate(forever) is not None  # a key without expiry never expires
    clock.now = START + timedelta(days=3650)
    assert store.authenticate(forever) is not None
    assert all(k.revoked_at is None for k in store.list())  # expired is not revoked


def test_renewing_moves_the_expiry_until_revoked(store: KeyStore, clock: Clock) -> None:
    key, record = store.create("kura-reindex", admin=True, expires_in=timedelta(minutes=2))
    clock.now = START + timedelta(minutes=1, seconds=30)
    assert store.renew(record.id, timedelta(minutes=2))
    clock.now = START + timedelta(minutes=3)
    user = store.authenticate(key)
    assert user is not None
    assert user.admin
    assert store.list()[0].expires_at == START + timedelta(minutes=3, seconds=30)
    clock.now = START + timedelta(minutes=3, seconds=30)
    assert store.authenticate(key) is None
    assert not store.renew(record.id, timedelta(minutes=2))  # a lapsed lease stays lapsed
    assert store.authenticate(key) is None
    _, kept = store.create("suzuki")
    assert store.renew(kept.id, timedelta(minutes=2))  # a key may be given an expiry later
    store.revoke(record.id)
    assert not store.renew(record.id, timedelta(minutes=2))  # a revoked key stays revoked
    assert not store.renew("000000000000", timedelta(minutes=2))


def test_kura_reindex_keeps_its_key_only_while_it_runs(store: KeyStore, clock: Clock) -> None:
    key, record = store.create("kura-reindex", admin=True, expires_in=KEY_LEASE)
    elapsed = 0.0
    renew = renewer(store, record.id, clock=lambda: elapsed)
    for second in range(10 * 60):  # a ten-minute rebuild, followed every second
        elapsed, clock.now = float(second), START + timedelta(seconds=second)
        renew()
        assert store.authenticate(key) is not None, second
    clock.now += KEY_LEASE  # killed: nothing renews it any more
    assert store.authenticate(key) is None


@pytest.mark.parametrize("lifetime", [timedelta(0), timedelta(seconds=-1)])
def test_a_key_cannot_be_born_expired(store: KeyStore, lifetime: timedelta) -> None:
    with pytest.raises(ValueError, match="lifetime must be positive"):
        store.create("tanaka", expires_in=lifetime)
    assert store.list() == []


def test_keys_cli_expires_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KURA_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    before = datetime.now(UTC)
    made = runner.invoke(keys, ["create", "--user", "audit", "--expires-in", "12h"])
    assert made.exit_code == 0, made.output
    assert "expires" in made.stderr
    assert runner.invoke(keys, ["create", "--user", "forever"]).exit_code == 0
    [lapsing, forever] = json.loads(runner.invoke(keys, ["list", "--json"]).stdout)
    expires = datetime.fromisoformat(lapsing["expires_at"])
    assert timedelta(hours=12) <= expires - before < timedelta(hours=12, minutes=1)
    assert forever["expires_at"] is None
    table = runner.invoke(keys, ["list"], env={"COLUMNS": "200"})
    assert f"expires {expires:%Y-%m-%d %H:%M}" in table.stdout
    with KeyStore(tmp_path / "data" / "kura.db") as s:
        assert s.authenticate(made.stdout.strip()) is not None
    for bad in ("12", "0d", "1y", "-5m", "三日"):
        refused = runner.invoke(keys, ["create", "--user", "x", "--expires-in", bad])
        assert refused.exit_code == 2, bad
        assert "use minutes, hours or days" in " ".join(refused.output.split())
    assert len(json.loads(runner.invoke(keys, ["list", "--json"]).stdout)) == 2


def test_keys_list_marks_an_expired_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KURA_DATA_DIR", str(tmp_path / "data"))
    data = tmp_path / "data"
    data.mkdir()
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    with KeyStore(data / "kura.db", clock=lambda: an_hour_ago) as s:
        key, _ = s.create("temp", expires_in=timedelta(minutes=30))
        _, gone = s.create("gone", expires_in=timedelta(minutes=30))
        s.revoke(gone.id)
    with KeyStore(data / "kura.db") as s:
        assert s.authenticate(key) is None
    table = CliRunner().invoke(keys, ["list"], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    lapsed = f"{an_hour_ago + timedelta(minutes=30):%Y-%m-%d %H:%M}"
    assert f"expired {lapsed}" in table.stdout
    assert f"revoked {an_hour_ago:%Y-%m-%d %H:%M}" in table.stdout  # revoked says so, first
