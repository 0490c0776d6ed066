"""`kura ingest`: index files and folders into a collection."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ingest.components import build_components
from ingest.errors import KuraError
from ingest.pipeline import FileResult, Indexer, Status, iter_files
from ingest.settings import IndexSettings

console = Console(stderr=True)


def ingest_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to index.", exists=True)],
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Collection to index into.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=1, help="Parsing processes (default: settings)."),
    ] = None,
) -> None:
    """Index documents; unchanged files are skipped, changed ones replace their old chunks."""
    settings = IndexSettings()
    name = collection or settings.collection
    files = list(iter_files(paths))
    try:
        components = build_components(settings)
    except KuraError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    try:
        indexer = Indexer(components, name)
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

            report = indexer.ingest_paths(files, on_file=advance, workers=workers)
    finally:
        components.close()

    console.print(
        f"[bold]{name}[/bold]: {report.count(Status.INDEXED)} indexed "
        f"({report.chunks} chunks), {report.count(Status.UNCHANGED)} unchanged, "
        f"{report.count(Status.FAILED)} failed, in {report.seconds:.1f}s"
    )
    for failed in report.failed:
        console.print(f"  [red]failed[/red] {failed.source}: {failed.reason}")
    if report.failed:
        raise typer.Exit(2)
