"""Users and API keys: the key store in ``<data_dir>/kura.db`` and FastAPI dependencies.

Keys look like ``kura_<key_id>_<secret>``. The key id is public (it appears in listings and in the
audit record); the secret is shown once, at creation, and only its hash is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import Depends, HTTPException, Request, status
from pydantic import BaseModel

from app.db import StateStore
from ingest.errors import KuraError

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

AuthMode = Literal["keys", "off"]
EVERYONE = "*"
"""The group every key holder is in: documents readable by anyone with a key carry it."""

_PREFIX = "kura_"
_KEY = re.compile(r"^kura_(?P<key_id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$")
# Writing last_used_at on every request would turn each read into a write transaction.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


class InsecureBind(KuraError):
    """Authentication is off but the server would listen beyond this machine."""


@dataclass(frozen=True, slots=True)
class User:
    """Who is asking: from an API key, or the local user when auth is off."""

    name: str
    groups: tuple[str, ...]
    admin: bool
    key_id: str


LOCAL_USER = User(name="local", groups=(EVERYONE,), admin=True, key_id="")


class KeyRecord(BaseModel):
    """An API key as listed: everything but its secret and hash."""

    id: str
    user: str
    groups: list[str]
    admin: bool
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


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


_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id           TEXT PRIMARY KEY,
    user         TEXT NOT NULL,
    groups_json  TEXT NOT NULL,
    admin        INTEGER NOT NULL,
    key_hash     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
"""


class KeyStore(StateStore):
    """API keys in SQLite; safe to share between the threads of FastAPI's threadpool."""

    SCHEMA = _SCHEMA

    def create(
        self, user: str, groups: list[str] | tuple[str, ...] = (), admin: bool = False
    ) -> tuple[str, KeyRecord]:
        """Make a key for ``user``; the returned key string is the only copy of the secret."""
        _check_name("user name", user)
        clean = sorted({_check_name("group", g.strip()) for g in groups if g.strip()})
        key_id = secrets.token_hex(6)
        key = f"{_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        created = _now()
        with self._lock:
            self._conn.execute(
                "INSERT INTO api_keys (id, user, groups_json, admin, key_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, user, _dump_groups(clean), int(admin), _hash(key), created),
            )
        logger.info("created API key %s for %s", key_id, user)
        record = KeyRecord(
            id=key_id,
            user=user,
            groups=clean,
            admin=admin,
            created_at=datetime.fromisoformat(created),
        )
        return key, record

    def list(self) -> list[KeyRecord]:
        """Every key, revoked ones included, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, user, groups_json, admin, created_at, last_used_at, revoked_at "
                "FROM api_keys ORDER BY created_at, id"
            ).fetchall()
        return [
            KeyRecord(
                id=row["id"],
                user=row["user"],
                groups=_load_groups(row["groups_json"]),
                admin=bool(row["admin"]),
                created_at=row["created_at"],
                last_used_at=row["last_used_at"],
                revoked_at=row["revoked_at"],
            )
            for row in rows
        ]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key for good; False when no such key exists (revoking twice is fine)."""
        with self._lock:
            self._conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (_now(), key_id),
            )
            found = self._conn.execute("SELECT 1 FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        if found:
            logger.info("revoked API key %s", key_id)
        return found is not None

    def authenticate(self, key: str) -> User | None:
        """The key's user, or None for a malformed, unknown or revoked key."""
        match = _KEY.fullmatch(key)
        if match is None:
            return None
        key_id = match["key_id"]
        with self._lock:
            row = self._conn.execute(
                "SELECT user, groups_json, admin, key_hash, last_used_at, revoked_at "
                "FROM api_keys WHERE id = ?",
                (key_id,),
            ).fetchone()
            if row is None or row["revoked_at"] is not None:
                return None
            if not hmac.compare_digest(_hash(key), row["key_hash"]):
                return None
            now = datetime.now(UTC)
            last = row["last_used_at"]
            if last is None or now - datetime.fromisoformat(last) >= _LAST_USED_RESOLUTION:
                self._conn.execute(
                    "UPDATE api_keys SET last_used_at = ? WHERE id = ?",
                    (now.isoformat(timespec="microseconds"), key_id),
                )
        return User(
            name=row["user"],
            groups=tuple(_load_groups(row["groups_json"])),
            admin=bool(row["admin"]),
            key_id=key_id,
        )


def _dump_groups(groups: list[str]) -> str:
    return json.dumps(groups)


def _load_groups(text: str) -> list[str]:
    groups: list[str] = json.loads(text)
    return groups


def read_groups(user: User) -> list[str]:
    """Groups for the access filter on ``allowed_groups``: the user's own plus ``*`` (everyone)."""
    return sorted({*user.groups, EVERYONE})


def check_bind(host: str, auth: str) -> None:
    """Refuse to serve without authentication on anything but a loopback address."""
    if auth != "off":
        return
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address is not None and address.is_loopback:
        return
    raise InsecureBind(
        f"authentication is off (KURA_AUTH=off) but the server would listen on {host!r}: "
        "anyone who can reach it could read every document. Bind to 127.0.0.1, or turn "
        "authentication on (KURA_AUTH=keys) and create keys with `kura keys create`."
    )


# --- FastAPI dependencies ---------------------------------------------------------------------


def bearer_key(request: Request) -> str | None:
    """The API key from ``Authorization: Bearer <key>`` or ``X-API-Key``, if any."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = request.headers.get("x-api-key", "").strip()
    return key or None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def current_user(request: Request) -> User:
    """The caller, from their API key (401 without a valid one); the local user when auth is off.

    A plain ``def``: FastAPI runs it in its threadpool, so the SQLite lookup never blocks the
    event loop. The user is also left on ``request.state.user`` for the audit record.
    """
    # Fails closed: an app whose settings lack the flag requires keys.
    mode: AuthMode = getattr(request.app.state.settings, "auth", "keys")
    if mode == "off":
        user = LOCAL_USER
    else:
        key = bearer_key(request)
        if key is None:
            raise _unauthorized("an API key is required (Authorization: Bearer <key>)")
        store: KeyStore = request.app.state.keys
        found = store.authenticate(key)
        if found is None:
            logger.info("rejected an invalid or revoked API key on %s", request.url.path)
            raise _unauthorized("invalid or revoked API key")
        user = found
    request.state.user = user
    return user


def require_admin(user: Annotated[User, Depends(current_user)]) -> User:
    """The caller, who must be an admin (403 otherwise)."""
    if not user.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="admin key required")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
AdminUser = Annotated[User, Depends(require_admin)]
