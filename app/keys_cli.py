"""`kura keys`: create, list and revoke API keys in ``<data_dir>/kura.db``."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.settings import AppSettings

if TYPE_CHECKING:
    from app.keys import KeyRecord, KeyStore

keys = typer.Typer(
    help="Manage API keys. Only a hash of each key is stored; the key is shown once.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain help, as `kura`'s own (no `<bool>`, no wrapped panels)
)
err = Console(stderr=True)
_DURATION = re.compile(r"(?P<count>[1-9][0-9]{0,5})(?P<unit>[mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def _store() -> KeyStore:
    from app.keys import KeyStore  # SQLAlchemy: not on the help path

    return KeyStore(AppSettings().state_database)


def _duration(text: str) -> timedelta:
    """``90d``, ``12h`` or ``30m``."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise typer.BadParameter(f"{text!r}: use minutes, hours or days, e.g. 30m, 12h, 90d")
    return timedelta(**{_UNITS[match["unit"]]: int(match["count"])})


@keys.command("create")
def create(
    user: Annotated[str, typer.Option("--user", help="Who the key is for.")],
    groups: Annotated[
        str, typer.Option("--groups", help="Comma-separated groups whose documents it may read.")
    ] = "",
    admin: Annotated[bool, typer.Option("--admin", help="May use admin endpoints.")] = False,
    proxy: Annotated[
        bool,
        typer.Option(
            "--proxy",
            help="A front end's key (Open WebUI) that may act for the users mapped to it "
            "with `kura keys map`.",
        ),
    ] = False,
    expires_in: Annotated[
        timedelta | None,
        typer.Option(
            "--expires-in",
            parser=_duration,
            metavar="DURATION",
            help="Refuse the key after this long (30m, 12h, 90d); default: until revoked.",
        ),
    ] = None,
) -> None:
    """Create a key for USER and print it (to stdout, alone, so scripts can capture it)."""
    try:
        with _store() as store:
            key, record = store.create(
                user, groups.split(","), admin=admin, proxy=proxy, expires_in=expires_in
            )
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    typer.echo(key)
    err.print(
        f"[yellow]Key {record.id} for {record.user} "
        f"(groups: {', '.join(record.groups) or '-'}{', admin' if record.admin else ''}"
        f"{', proxy' if record.proxy else ''}"
        f"{f', expires {record.expires_at:%Y-%m-%d %H:%M} UTC' if record.expires_at else ''}). "
        "Store it now: it will not be shown again.[/yellow]"
    )


@keys.command("list")
def list_keys(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List keys (never their secrets), revoked and expired ones included (times in UTC)."""
    with _store() as store:
        records = store.list()
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
        return
    table = Table()
    table.add_column("id", no_wrap=True)  # what `revoke` and `map` take: never cut
    for column in ("user", "groups", "kind", "created", "last used", "ends"):
        table.add_column(column)
    now = datetime.now(UTC)
    for r in records:
        table.add_row(
            r.id,
            r.user,
            ",".join(r.groups),
            "admin" if r.admin else "proxy" if r.proxy else "",
            f"{r.created_at:%Y-%m-%d %H:%M}",
            f"{r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "",
            _ends(r, now),
        )
    Console().print(table)


def _ends(record: KeyRecord, now: datetime) -> str:
    """When the key stops working: revoked, expired or expires at; empty for never."""
    if record.revoked_at:
        return f"revoked {record.revoked_at:%Y-%m-%d %H:%M}"
    if record.expires_at is None:
        return ""
    verb = "expired" if record.expires_at <= now else "expires"
    return f"{verb} {record.expires_at:%Y-%m-%d %H:%M}"


@keys.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id, as `list` shows it.")],
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    with _store() as store:
        found = store.revoke(key_id)
    if not found:
        err.print(f"[red]error:[/red] no key with id {key_id!r}")
        raise typer.Exit(1)
    err.print(f"revoked {key_id}")


@keys.command("map")
def map_user(
    proxy_key_id: Annotated[str, typer.Argument(help="The proxy key's id.")],
    external: Annotated[
        str, typer.Argument(help="The end user as the front end names them (Open WebUI: e-mail).")
    ],
    user: Annotated[str, typer.Option("--user", help="The kura user they are.")],
    groups: Annotated[
        str, typer.Option("--groups", help="Comma-separated groups whose documents they read.")
    ] = "",
) -> None:
    """Let a proxy key act for an end user, as USER with GROUPS (never as an admin)."""
    try:
        with _store() as store:
            mapped = store.map_proxy_user(proxy_key_id, external, user, groups.split(","))
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    err.print(
        f"proxy key {proxy_key_id} acts for {mapped.external} as {mapped.user} "
        f"(groups: {', '.join(mapped.groups) or '-'})"
    )


@keys.command("unmap")
def unmap_user(
    proxy_key_id: Annotated[str, typer.Argument(help="The proxy key's id.")],
    external: Annotated[str, typer.Argument(help="The end user as the front end names them.")],
) -> None:
    """Stop a proxy key acting for an end user (from the next request on)."""
    with _store() as store:
        found = store.unmap_proxy_user(proxy_key_id, external)
    if not found:
        err.print(f"[red]error:[/red] proxy key {proxy_key_id!r} does not act for {external!r}")
        raise typer.Exit(1)
    err.print(f"proxy key {proxy_key_id} no longer acts for {external}")


@keys.command("mapped")
def list_mapped(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the end users proxy keys may act for."""
    with _store() as store:
        mapped = store.proxy_users()
    if as_json:
        typer.echo(json.dumps([m.model_dump() for m in mapped], indent=2))
        return
    table = Table()
    for column in ("proxy key", "end user", "kura user", "groups"):
        table.add_column(column)
    for m in mapped:
        table.add_row(m.proxy_key_id, m.external, m.user, ",".join(m.groups))
    Console().print(table)
