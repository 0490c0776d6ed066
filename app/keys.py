"""API keys and who they belong to: the key store in kura's state database.

Keys look like ``kura_<key_id>_<secret>``. The key id is public (it appears in listings and in the
audit record); the secret is shown once, at creation, and only its hash is stored.

A *proxy* key belongs to a front end (Open WebUI) that serves many people with one key. It may
act for the end users an admin mapped to it (``kura keys map``), named in a header the front
end sends (Open WebUI's ``X-OpenWebUI-User-Email`` with ``ENABLE_FORWARD_USER_INFO_HEADERS``);
ordinary keys never may.

A key may expire (``expires_at``): a key made for one job, such as the one `kura reindex` makes
to hand a rebuild to the server, stops working on its own when whoever held it dies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import Engine, delete, insert, select, update

from ingest.database import upsert
from ingest.database.tables import api_keys as _keys
from ingest.database.tables import proxy_users as _proxies
from ingest.registry import EVERYONE  # the group every key holder is in
from ingest.state import StateStore

__all__ = ["EVERYONE", "LOCAL_USER", "KeyRecord", "KeyStore", "ProxyUser", "User"]

logger = logging.getLogger(__name__)

_PREFIX = "kura_"
_KEY = re.compile(r"^kura_(?P<key_id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$")
# Writing last_used_at on every request would turn each read into a write transaction.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class User:
    """Who is asking: from an API key, or the local user when auth is off."""

    name: str
    groups: tuple[str, ...]
    admin: bool
    key_id: str
    proxy: bool = False  # the key may act for the users mapped to it
    via: str | None = None  # acting through this proxy key's user (the key is ``key_id``)


LOCAL_USER = User(name="local", groups=(EVERYONE,), admin=True, key_id="")


class KeyRecord(BaseModel):
    """An API key as listed: everything but its secret and hash."""

    id: str
    user: str
    groups: list[str]
    admin: bool
    proxy: bool = False
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    expires_at: datetime | None = None  # none: valid until revoked


class ProxyUser(BaseModel):
    """An end user a proxy key may act for: the front end's name for them, and kura's."""

    proxy_key_id: str
    external: str
    user: str
    groups: list[str]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


def _hash(key: str) -> str:
    # A plain SHA-256 is enough here: the secret is 256 random bits, so there is no dictionary to
    # try and no brute force to slow down. A slow password hash (argon2, bcrypt) protects
    # low-entropy human passwords and would only add milliseconds to every request.
    return hashlib.sha256(key.encode()).hexdigest()


def _check_name(kind: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"invalid {kind} {value!r}: use 1-64 letters, digits and . _ @ : - "
            "(starting with a letter or digit)"
        )
    return value


class KeyStore(StateStore):
    """API keys in the state database; safe to share between the threads of FastAPI's
    threadpool.

    ``clock`` is what the store takes for now: when a key expires, and every time it records
    (tests move it instead of waiting)."""

    def __init__(
        self, database: Path | str | Engine, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        super().__init__(database)
        self.clock = clock

    def create(
        self,
        user: str,
        groups: list[str] | tuple[str, ...] = (),
        admin: bool = False,
        *,
        proxy: bool = False,
        expires_in: timedelta | None = None,
    ) -> tuple[str, KeyRecord]:
        """Make a key for ``user``; the returned key string is the only copy of the secret.

        A ``proxy`` key may act for the end users mapped to it; it cannot be an admin key, so
        no header a front end forwards can ever carry admin rights. A key with ``expires_in``
        is refused from then on (``renew`` moves that); without, it is valid until revoked."""
        _check_name("user name", user)
        if proxy and admin:
            raise ValueError("a proxy key cannot be an admin key")
        clean = _clean_groups(groups)
        key_id = secrets.token_hex(6)
        key = f"{_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        now = self.clock()
        expires = None if expires_in is None else now + _lifetime(expires_in)
        with self.transaction() as db:
            db.execute(
                insert(_keys).values(
                    id=key_id,
                    user=user,
                    groups_json=_dump_groups(clean),
                    admin=int(admin),
                    proxy=int(proxy),
                    key_hash=_hash(key),
                    created_at=_stamp(now),
                    expires_at=None if expires is None else _stamp(expires),
                )
            )
        logger.info("created API key %s for %s", key_id, user)
        record = KeyRecord(
            id=key_id,
            user=user,
            groups=clean,
            admin=admin,
            proxy=proxy,
            created_at=now,
            expires_at=expires,
        )
        return key, record

    def renew(self, key_id: str, expires_in: timedelta) -> bool:
        """Make a key expire ``expires_in`` from now instead (a lease its holder keeps
        renewing); False when there is no such key, or it was revoked or has expired: a key
        refused once stays refused."""
        lifetime, now = _lifetime(expires_in), self.clock()
        live = _keys.c.id == key_id, _keys.c.revoked_at.is_(None)
        with self.transaction() as db:
            row = db.execute(select(_keys.c.expires_at).where(*live)).first()
            if row is None or _expired(row.expires_at, now):
                return False
            db.execute(update(_keys).where(*live).values(expires_at=_stamp(now + lifetime)))
        return True

    def map_proxy_user(
        self, proxy_key_id: str, external: str, user: str, groups: list[str] | tuple[str, ...]
    ) -> ProxyUser:
        """Let proxy key ``proxy_key_id`` act for the end user the front end calls ``external``
        (an e-mail address or id), as kura user ``user`` with ``groups`` (replaces a mapping)."""
        _check_name("user name", user)
        external = external.strip()
        if not external or len(external) > 320:
            raise ValueError("the end user's name must be 1-320 characters")
        clean = _clean_groups(groups)
        with self.transaction() as db:
            proxy = db.execute(select(_keys.c.proxy).where(_keys.c.id == proxy_key_id)).scalar()
            if not proxy:
                raise ValueError(f"{proxy_key_id!r} is not a proxy key (kura keys create --proxy)")
            upsert(
                db,
                _proxies,
                {
                    "proxy_key_id": proxy_key_id,
                    "external": external.lower(),
                    "user": user,
                    "groups_json": _dump_groups(clean),
                    "created_at": _stamp(self.clock()),
                },
                update=("user", "groups_json", "created_at"),
            )
        logger.info("proxy key %s may act for %s", proxy_key_id, user)
        return ProxyUser(
            proxy_key_id=proxy_key_id, external=external.lower(), user=user, groups=clean
        )

    def unmap_proxy_user(self, proxy_key_id: str, external: str) -> bool:
        """Stop a proxy key acting for an end user (at once); False if it never could."""
        with self.transaction() as db:
            cursor = db.execute(
                delete(_proxies).where(
                    _proxies.c.proxy_key_id == proxy_key_id,
                    _proxies.c.external == external.strip().lower(),
                )
            )
        return cursor.rowcount > 0

    def proxy_users(self, proxy_key_id: str | None = None) -> list[ProxyUser]:
        """The end users proxy keys may act for."""
        query = select(_proxies).order_by(_proxies.c.proxy_key_id, _proxies.c.external)
        if proxy_key_id is not None:
            query = query.where(_proxies.c.proxy_key_id == proxy_key_id)
        with self.reading() as db:
            rows = db.execute(query).all()
        return [
            ProxyUser(
                proxy_key_id=row.proxy_key_id,
                external=row.external,
                user=row.user,
                groups=_load_groups(row.groups_json),
            )
            for row in rows
        ]

    def act_for(self, proxy: User, external: str) -> User | None:
        """The end user ``external`` as proxy key ``proxy`` acts for them, or None if unmapped."""
        if not proxy.proxy:
            return None
        with self.reading() as db:
            row = db.execute(
                select(_proxies.c.user, _proxies.c.groups_json).where(
                    _proxies.c.proxy_key_id == proxy.key_id,
                    _proxies.c.external == external.strip().lower(),
                )
            ).first()
        if row is None:
            return None
        return User(
            name=row.user,
            groups=tuple(_load_groups(row.groups_json)),
            admin=False,
            key_id=proxy.key_id,
            via=proxy.name,
        )

    def list(self) -> list[KeyRecord]:
        """Every key, revoked and expired ones included, oldest first."""
        with self.reading() as db:
            rows = db.execute(select(_keys).order_by(_keys.c.created_at, _keys.c.id)).all()
        return [
            KeyRecord(
                id=row.id,
                user=row.user,
                groups=_load_groups(row.groups_json),
                admin=bool(row.admin),
                proxy=bool(row.proxy),
                created_at=row.created_at,
                last_used_at=row.last_used_at,
                revoked_at=row.revoked_at,
                expires_at=row.expires_at,
            )
            for row in rows
        ]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key for good; False when no such key exists (revoking twice is fine)."""
        with self.transaction() as db:
            db.execute(
                update(_keys)
                .where(_keys.c.id == key_id, _keys.c.revoked_at.is_(None))
                .values(revoked_at=_stamp(self.clock()))
            )
            db.execute(delete(_proxies).where(_proxies.c.proxy_key_id == key_id))
            found = db.execute(select(_keys.c.id).where(_keys.c.id == key_id)).first()
        if found:
            logger.info("revoked API key %s", key_id)
        return found is not None

    def authenticate(self, key: str) -> User | None:
        """The key's user, or None for a malformed, unknown, revoked or expired key."""
        match = _KEY.fullmatch(key)
        if match is None:
            return None
        key_id = match["key_id"]
        with self.reading() as db:
            row = db.execute(select(_keys).where(_keys.c.id == key_id)).first()
        now = self.clock()
        if row is None or row.revoked_at is not None or _expired(row.expires_at, now):
            return None
        if not hmac.compare_digest(_hash(key), row.key_hash):
            return None
        last = row.last_used_at
        if last is None or now - datetime.fromisoformat(last) >= _LAST_USED_RESOLUTION:
            with self.transaction() as db:
                db.execute(
                    update(_keys).where(_keys.c.id == key_id).values(last_used_at=_stamp(now))
                )
        return User(
            name=row.user,
            groups=tuple(_load_groups(row.groups_json)),
            admin=bool(row.admin),
            key_id=key_id,
            proxy=bool(row.proxy),
        )


def _lifetime(expires_in: timedelta) -> timedelta:
    if expires_in <= timedelta(0):
        raise ValueError("a key's lifetime must be positive")
    return expires_in


def _expired(expires_at: str | None, now: datetime) -> bool:
    return expires_at is not None and datetime.fromisoformat(expires_at) <= now


def _clean_groups(groups: list[str] | tuple[str, ...]) -> list[str]:
    return sorted({_check_name("group", g.strip()) for g in groups if g.strip()})


def _dump_groups(groups: list[str]) -> str:
    return json.dumps(groups)


def _load_groups(text: str) -> list[str]:
    groups: list[str] = json.loads(text)
    return groups
