"""`kura models export`: write the ONNX copies of the embedding model and the English-Japanese
lexicon once, at install or build.

Every data folder then reads them from the installation's models folder (``KURA_MODELS_DIR``)
instead of exporting its own on first use (15-45 s). torch and ONNX Runtime are imported by
the command, not here: `kura --help` stays instant.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape

from ingest import lexicon
from ingest.embedding.identity import INT8
from ingest.errors import KuraError
from ingest.settings import IndexSettings

models = typer.Typer(
    help="The local embedding model's ONNX copies (KURA_MODELS_DIR).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
console = Console(stderr=True, soft_wrap=True)
EXIT_ERROR = 1

Exported = Literal["exported", "present"]


def export_model(
    settings: IndexSettings, runtime: str, into: Path | None = None
) -> tuple[Exported, Path]:
    """Export the configured local model's ONNX copy for ``runtime`` (onnx, or an int8 recipe)
    into ``into`` (default: the installation's models folder) unless a readable one is there
    already."""
    from ingest.embedding.local import embed_model_path
    from ingest.embedding.onnx import open_if_readable
    from ingest.embedding.onnx_export import export, installed_path

    model_dir = embed_model_path(settings.embed_model)
    target = installed_path(into or settings.installed_models, model_dir, runtime)
    if open_if_readable(target) is not None:
        return "present", target
    # kura's umask keeps what it writes private; this copy of a model already on the machine
    # is read by the service's own user (the image builds it as root): readable by all.
    previous = os.umask(0o022)
    try:
        export(model_dir, target, runtime)
    finally:
        os.umask(previous)
    return "exported", target


def build_lexicon(folder: Path) -> tuple[Literal["built", "present"], Path]:
    """Build the English-Japanese lexicon (ingest/lexicon.py) into ``folder`` unless a
    readable one is there already."""
    target = folder / lexicon.LEXICON_FILE
    if lexicon.readable(target):
        return "present", target
    previous = os.umask(0o022)  # read by the service's own user, as the ONNX copies
    try:
        lexicon.build(target)
    finally:
        os.umask(previous)
    return "built", target


@models.command("export")
def export_command(
    into: Annotated[
        Path | None,
        typer.Option(
            "--into",
            help="Folder to export into.  [default: KURA_MODELS_DIR, else share/kura/models "
            "under the Python installation]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Export the local embedding model (KURA_EMBED_MODEL) to ONNX, fp32 and int8, and build
    the English-Japanese lexicon of keyword search, offline; does nothing for a copy already
    there. Run at install or image build (scripts/install.sh and the Dockerfile do)."""
    settings = IndexSettings()
    try:
        if settings.embed_backend != "local":
            console.print("no ONNX copy: KURA_EMBED_BACKEND=ollama embeds on the Ollama host")
        else:
            for runtime, kind in (("onnx", "fp32"), (INT8, "int8")):
                done, path = export_model(settings, runtime, into=into)
                console.print(
                    f"{kind} ONNX copy of {escape(settings.embed_model)}: {done} ({path})"
                )
        if settings.keyword_translation:
            built, path = build_lexicon(into or settings.installed_models)
            console.print(f"English-Japanese lexicon (JMdict): {built} ({path})")
    except (KuraError, OSError, ValueError, ImportError, sqlite3.Error) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_ERROR) from exc
