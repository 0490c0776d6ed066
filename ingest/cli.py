"""`kura ingest`: index files and folders into a collection."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ingest.access import ACCESS_FILE, AccessMap
from ingest.cli_support import EXIT_ERROR, check_store, open_components
from ingest.errors import KuraError
from ingest.settings import IndexSettings
from ingest.walk import walk
from ingest.writer_lock import Holder, StoreInUse, hold

# The pipeline, the store and the schema pull in the embedding stack (10+ s): the commands
# import them, so that `kura --help` and a mistyped flag answer at once.
if TYPE_CHECKING:
    from ingest.pipeline import FileResult, VersionSpec

# soft_wrap: one message, one line (a failed file's reason is not cut at 80 columns).
console = Console(stderr=True, soft_wrap=True)

# Exit codes (the README's table; EXIT_ERROR, nothing done, is cli_support's); usage errors
# are click's 2.
EXIT_PARTIAL = 3  # some files failed


class ServerQueue(Protocol):
    """Hands files to the queue of the `kura serve` that holds the embedded store, waits and
    reports; returns the exit code. The queue lives in app/ (which ingest/ never imports):
    the `kura` command line passes this in as the click context's ``obj``."""

    def __call__(
        self,
        settings: IndexSettings,
        collection: str,
        files: list[tuple[Path, tuple[str, ...] | None]],
        spec: VersionSpec | None,
        holder: Holder | None,
        console: Console,
    ) -> int: ...


def ingest_command(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to index.", exists=True)],
    collection: Annotated[
        str | None,
        typer.Option(
            "--collection",
            "-c",
            help="Collection to index into.  [default: KURA_COLLECTION, else documents]",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            help="Parsing processes.  [default: KURA_INGEST_WORKERS, else 1]",
        ),
    ] = None,
    version_label: Annotated[
        str | None,
        typer.Option(
            "--version-label",
            help="Keep this file as a labelled version beside the document's other versions.",
        ),
    ] = None,
    effective: Annotated[
        datetime | None,
        typer.Option(
            "--effective", formats=["%Y-%m-%d"], help="Day the version takes effect (YYYY-MM-DD)."
        ),
    ] = None,
    sync: Annotated[
        bool,
        typer.Option(
            "--sync", help="Also delete the documents whose files are gone from the folders."
        ),
    ] = False,
    groups: Annotated[
        str | None,
        typer.Option("--groups", help="Comma-separated groups that may read these documents."),
    ] = None,
    access: Annotated[
        Path | None,
        typer.Option(
            "--access",
            help="kura-access.toml mapping file patterns to groups (default: one in a folder).",
        ),
    ] = None,
    version_of: Annotated[
        Path | None,
        typer.Option(
            "--version-of",
            help="The document (its file path as ingested) this file is a new version of.",
        ),
    ] = None,
    follow_links: Annotated[
        bool,
        typer.Option(
            "--follow-links",
            help="Follow symbolic links in folders whose target stays inside the folder "
            "(links out of it are never followed).",
        ),
    ] = False,
) -> None:
    """Index documents; unchanged files are skipped, changed ones replace their old chunks."""
    from ingest.pipeline import FileResult, Indexer, IngestReport, Status, VersionSpec, heal
    from ingest.schema import document_id

    settings = IndexSettings()
    name = collection or settings.collection
    walked = walk(paths, follow_links=follow_links)
    files = walked.files
    spec = None
    if version_label is not None or effective is not None or version_of is not None:
        if not version_label or len(files) != 1:
            console.print("[red]error:[/red] a version needs --version-label and exactly one file")
            raise typer.Exit(2)  # a usage error, as click's own
        spec = VersionSpec(
            label=version_label,
            effective=effective.date() if effective else None,
            document_id=document_id(name, str(version_of.resolve())) if version_of else None,
        )
    try:
        access_map = _access_map(access, paths)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_ERROR) from exc
    reader_groups = tuple(g.strip() for g in (groups or "").split(",") if g.strip()) or None
    try:
        lock = hold(settings, "ingest")
    except StoreInUse as exc:
        queue: ServerQueue | None = ctx.obj
        if exc.holder is None or exc.holder.role != "serve" or queue is None or sync:
            role = exc.holder.role if exc.holder else None
            fix = {
                "serve": "--sync deletes documents, which the server's queue does not: stop "
                "kura serve first, or delete them over the API",
                "worker": "it drains the upload queue until stopped: stop it first (SIGTERM)",
            }.get(role or "", "wait for it to finish")
            console.print(f"[red]error:[/red] {exc}; {fix}")
            raise typer.Exit(EXIT_ERROR) from exc
        files_groups = [
            (f, reader_groups or (access_map.groups_for(f) if access_map else None)) for f in files
        ]
        for bad in walked.bad_names:
            console.print(f"  [red]failed[/red] {escape(bad.source)}: {escape(bad.reason)}")
        code = queue(settings, name, files_groups, spec, exc.holder, console)
        raise typer.Exit(EXIT_PARTIAL if walked.bad_names and code == 0 else code) from exc
    try:
        components = open_components(settings)
    except typer.Exit:
        if lock is not None:
            lock.release()
        raise
    try:
        for healed_name, healed in heal(components).items():
            console.print(
                f"healed {len(healed)} document(s) of {healed_name} left half-done by a stopped run"
            )
        indexer = Indexer(components, name, access=access_map, groups=reader_groups)
        with Progress(
            TextColumn("[bold]indexing[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("", total=len(files))

            def advance(result: FileResult) -> None:
                progress.update(task, advance=1, description=Path(result.source).name)

            if spec is None:
                report = indexer.ingest_paths(files, on_file=advance, workers=workers)
            else:
                report = IngestReport([indexer.ingest_file(files[0], spec)])
            report.results += [
                FileResult(bad.source, Status.FAILED, reason=bad.reason) for bad in walked.bad_names
            ]
            removed = indexer.remove_missing(paths) if sync else []
    except KuraError as exc:  # the store or the embedder, not one file: nothing more can go in
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_ERROR) from exc
    finally:
        components.close()
        if lock is not None:
            lock.release()

    console.print(
        f"[bold]{name}[/bold]: {report.count(Status.INDEXED)} indexed "
        f"({report.chunks} chunks), {report.count(Status.UNCHANGED)} unchanged, "
        f"{report.count(Status.FAILED)} failed, in {report.seconds:.1f}s"
    )
    for source in removed:
        console.print(f"  [yellow]removed[/yellow] {escape(source)} (file gone)")
    for link in walked.links:
        console.print(f"  [yellow]skipped[/yellow] {escape(link.source)}: {link.reason}")
    for failed in report.failed:
        console.print(f"  [red]failed[/red] {escape(failed.source)}: {escape(failed.reason or '')}")
    if report.failed:
        raise typer.Exit(EXIT_PARTIAL)


def _access_map(given: Path | None, paths: list[Path]) -> AccessMap | None:
    if given is not None:
        return AccessMap.load(given)
    found = [p / ACCESS_FILE for p in paths if (p / ACCESS_FILE).is_file()]
    return AccessMap.load(found[0]) if found else None


def documents_command(
    collection: Annotated[
        str | None,
        typer.Option(
            "--collection",
            "-c",
            help="Collection to list.  [default: KURA_COLLECTION, else documents]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """List the documents of a collection with their versions (the one in force marked *)."""
    from ingest.pipeline import Indexer

    settings = IndexSettings()
    name = collection or settings.collection
    components = open_components(settings)
    try:
        documents = Indexer(components, name).documents()
    finally:
        components.close()
    today = date.today()
    for doc_id, versions in sorted(documents.items(), key=lambda item: item[1][-1].source):
        typer.echo(f"{versions[-1].source}  ({doc_id})")
        for v in versions:
            mark = "*" if v.in_force_on(today) else " "
            label = v.label or v.version[:12]
            since = f" effective {v.effective_date}" if v.effective_date else ""
            typer.echo(f"  {mark} {label}{since}: {v.chunks} chunks, ingested {v.ingested_at}")


def backup_command(
    destination: Annotated[Path, typer.Argument(help="The tar.gz to write.")],
) -> None:
    """Back up the embedded store, kura.db and uploads (stop `kura serve` first)."""
    from ingest.backup import backup

    settings = IndexSettings()
    check_store(settings)
    try:
        names = backup(settings, destination)
    except KuraError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_ERROR) from exc
    console.print(f"backed up {', '.join(names) or 'nothing'} to {destination}")


def restore_command(
    archive: Annotated[Path, typer.Argument(help="A tar.gz from `kura backup`.", exists=True)],
) -> None:
    """Restore a backup into an empty data dir (KURA_DATA_DIR)."""
    from ingest.backup import restore

    settings = IndexSettings()
    try:
        names = restore(settings, archive)
    except KuraError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_ERROR) from exc
    console.print(f"restored {', '.join(names)} into {settings.data_dir}")
