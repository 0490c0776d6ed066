"""`kura models export`: write the ONNX copies of the embedding model once, at install or build.

Every data folder then reads them from the installation's models folder (``KURA_MODELS_DIR``)
instead of exporting its own on first use (15-45 s). torch and ONNX Runtime are imported by
the command, not here: `kura --help` stays instant.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape

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
    """Export the local embedding model (KURA_EMBED_MODEL) to ONNX, fp32 and int8, offline;
    does nothing for a copy already there. Run at install or image build (scripts/install.sh
    and the Dockerfile do)."""
    settings = IndexSettings()
    if settings.embed_backend != "local":
        console.print("nothing to export: KURA_EMBED_BACKEND=ollama embeds on the Ollama host")
        return
    try:
        for runtime, kind in (("onnx", "fp32"), (INT8, "int8")):
            done, path = export_model(settings, runtime, into=into)
            console.print(f"{kind} ONNX copy of {escape(settings.embed_model)}: {done} ({path})")
    except (KuraError, OSError, ValueError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_ERROR) from exc
