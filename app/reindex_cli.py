"""`kura reindex`: rebuild a collection here, or by the `kura serve` that holds the embedded store.

The embedded store takes one writer. Alone, the command rebuilds the collection itself
(ingest/reindex.py). Beside a running `kura serve` on the same data folder, the server is the
writer and goes on serving searches: the command asks it to rebuild (POST
/v1/collections/{name}/reindex, at the address the server wrote in the writer lock) and follows
the GET until done, so search never goes dark. It authenticates with an admin key it makes for
the run and revokes after: whoever can run it on the data folder can make one anyway
(`kura keys create --admin`), and no key has to be handed to it. The key is a lease: it expires
``KEY_LEASE`` after the command last renewed it, which it does while it follows the rebuild, so a
command killed before it could revoke the key (kill -9, power loss) leaves no admin key that
works for longer than that. The rebuild itself needs no key: it goes on in the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ingest.cli_support import EXIT_ERROR, open_components
from ingest.errors import KuraError
from ingest.writer_lock import Holder, StoreInUse, hold

# httpx, the key store and the embedding stack are imported by the command: `kura --help`
# must answer at once.
if TYPE_CHECKING:
    import httpx

    from app.keys import KeyStore
    from app.settings import AppSettings

console = Console(stderr=True, soft_wrap=True)

_POLL_S = 0.5
KEY_LEASE = timedelta(minutes=2)
"""How long the command's key outlives its last renewal: well over a poll stuck until the HTTP
timeout (30 s), since the key is renewed every quarter lease."""


def reindex_command(
    collection: Annotated[str, typer.Argument(help="The collection to rebuild.")],
) -> None:
    """Re-embed a collection with the configured embedder (KURA_EMBED_BACKEND, KURA_EMBED_MODEL,
    and the runtime a new collection gets) into a new Qdrant collection and swap it in when
    whole; search answers from the old one until then. Run it after changing the embedder, or
    to move an older collection to int8; a stopped run is started again cleanly. Beside a
    running kura serve on the same data folder, the server does it."""
    from app.settings import AppSettings

    settings = AppSettings()
    try:
        lock = hold(settings, "reindex")
    except StoreInUse as exc:
        holder = exc.holder
        if holder is None or holder.role != "serve" or not holder.url:
            console.print(f"[red]error:[/red] {exc}; wait for it to finish")
            raise typer.Exit(EXIT_ERROR) from exc
        raise typer.Exit(reindex_on_server(settings, collection, holder)) from exc
    try:
        _reindex_here(settings, collection)
    finally:
        if lock is not None:
            lock.release()


def _reindex_here(settings: AppSettings, collection: str) -> None:
    from ingest.reindex import reindex

    components = open_components(settings)
    try:
        with _progress(collection) as advance:
            report = reindex(components, collection, on_version=advance)
        identity = components.identity.describe()
    except KuraError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_ERROR) from exc
    finally:
        components.close()
    _print_done(collection, report.chunks, report.documents, identity, report.seconds)
    console.print(f"  now served from {report.serving} (was {report.replaced}, dropped)")


@contextmanager
def _progress(collection: str) -> Iterator[Callable[[int, int | None], None]]:
    """A bar of document versions copied; yields the function that moves it."""
    with Progress(
        TextColumn(f"[bold]reindexing {escape(collection)}[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _print_done(collection: str, chunks: int, documents: int, identity: str, s: float) -> None:
    console.print(
        f"[bold]{escape(collection)}[/bold]: {chunks} chunks of {documents} document versions "
        f"embedded with {escape(identity)} in {s:.1f}s"
    )


def reindex_on_server(settings: AppSettings, collection: str, holder: Holder) -> int:
    """Have the server that holds the store rebuild ``collection``, follow it, report;
    returns the exit code."""
    import httpx

    from app.keys import KeyStore

    with KeyStore(settings.state_database) as keys:
        key, record = keys.create("kura-reindex", admin=True, expires_in=KEY_LEASE)
        try:
            with httpx.Client(
                base_url=str(holder.url), headers={"Authorization": f"Bearer {key}"}, timeout=30
            ) as client:
                return _follow(client, collection, holder, renewer(keys, record.id))
        except httpx.HTTPError as exc:
            console.print(
                f"[red]error:[/red] {holder.describe()} stopped answering ({exc}); the old copy "
                "serves until a reindex completes: run kura reindex again"
            )
            return EXIT_ERROR
        finally:
            keys.revoke(record.id)


def renewer(
    keys: KeyStore, key_id: str, clock: Callable[[], float] = time.monotonic
) -> Callable[[], None]:
    """What keeps the key's lease: renews it when a quarter of it has passed (a write to the
    state database every 30 s, not every poll)."""
    renewed = clock()

    def renew() -> None:
        nonlocal renewed
        if clock() - renewed >= KEY_LEASE.total_seconds() / 4:
            keys.renew(key_id, KEY_LEASE)
            renewed = clock()

    return renew


def _follow(
    client: httpx.Client, collection: str, holder: Holder, renew: Callable[[], None]
) -> int:
    path = f"/v1/collections/{collection}/reindex"
    started = client.post(path)
    if started.status_code == 409:
        console.print(f"{escape(_detail(started))}: following it")
    elif started.status_code != 202:
        console.print(f"[red]error:[/red] {escape(_detail(started))}")
        return EXIT_ERROR
    console.print(
        f"{holder.describe()} holds the embedded store: it rebuilds {escape(collection)} and "
        "searches it meanwhile (Ctrl-C stops waiting; the reindex goes on)"
    )
    try:
        with _progress(collection) as advance:
            while (state := _state(client, path))["status"] == "running":
                advance(state["done"], state["total"])
                renew()
                time.sleep(_POLL_S)
    except KeyboardInterrupt:
        console.print(f"not waiting; the reindex goes on (GET {path})")
        return 0
    if state["status"] == "failed":
        console.print(f"[red]error:[/red] {escape(state['reason'])}")
        return EXIT_ERROR
    figures = (state["chunks"], state["documents"], state["embedder"], state["seconds"])
    _print_done(collection, *figures)
    console.print(f"  now served from {state['serving']} by {holder.describe()}")
    return 0


def _state(client: httpx.Client, path: str) -> dict[str, Any]:
    """The reindex's state; a refusal (the server restarted: it knows of no reindex) as failed."""
    answer = client.get(path)
    if answer.status_code != 200:
        return {"status": "failed", "reason": _detail(answer)}
    state: dict[str, Any] = answer.json()
    return state


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"
