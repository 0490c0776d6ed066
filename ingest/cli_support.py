"""What the `kura` commands that open the store share: building the components, or saying why
not and exiting (`kura ingest`, `kura documents`, `kura reindex`, `kura search`, `kura ask`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from ingest.errors import KuraError
from ingest.settings import IndexSettings

# The store and the embedding stack take 10+ s to import: only when a command opens them.
if TYPE_CHECKING:
    from ingest.components import Components

EXIT_ERROR = 1  # nothing done (the README's table of exit codes)

_console = Console(stderr=True, soft_wrap=True)


def open_components(settings: IndexSettings, *, lazy_embedder: bool = False) -> Components:
    """The components ``settings`` describe; when they cannot be built (the store in use, a
    model missing), the reason on stderr and exit 1."""
    from ingest.components import build_components

    try:
        return build_components(settings, lazy_embedder=lazy_embedder)
    except KuraError as exc:
        _console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_ERROR) from exc
