"""What the `kura` commands share: building the components, or saying why not and exiting
(`kura ingest`, `kura documents`, `kura reindex`, `kura search`, `kura ask`), and the one
error line, not a traceback, when a setting cannot be used by any command."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from ingest.errors import KuraError, StoreUnavailable
from ingest.private import private_dir
from ingest.settings import HTTP_URL, PACKAGED_EMBED_MODEL, IndexSettings

# The store and the embedding stack take 10+ s to import: only when a command opens them.
if TYPE_CHECKING:
    from ingest.components import Components

EXIT_ERROR = 1  # nothing done (the README's table of exit codes)
EXIT_USAGE = 2  # a setting with an invalid value, as click's own usage errors

_console = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """``message`` as the one error line on stderr, and exit ``code``."""
    _console.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def _named_folders(settings: IndexSettings) -> dict[str, Path]:
    """The folders the settings name, the most specific first."""
    named = {"KURA_QDRANT_PATH": settings.qdrant_path, "KURA_MODELS_DIR": settings.models_dir}
    return {**{k: v for k, v in named.items() if v}, "KURA_DATA_DIR": settings.data_dir}


def path_problem(exc: OSError, settings: IndexSettings) -> str | None:
    """What a failure on a path means for the setting that names it, and what to do; None
    when no setting names the path."""
    failed = Path(os.fsdecode(exc.filename)).absolute()
    for name, folder in _named_folders(settings).items():
        folder = folder.absolute()
        if failed == folder or folder in failed.parents or failed in folder.parents:
            # The first path that exists says why: a file where a folder must be.
            there = next((p for p in (failed, *failed.parents) if p.exists()), failed)
            why = (
                f"{there} is a file, not a folder"
                if there.exists() and not there.is_dir()
                else f"{failed}: {(exc.strerror or str(exc)).lower()}"
            )
            return (
                f"{name}={folder} cannot be used: {why}; set {name} to a folder kura can "
                "write (it is created if missing)"
            )
    return None


def check_folders(settings: IndexSettings) -> None:
    """Create the data folder and the embedded store's, or exit saying which setting names a
    path that cannot be one (a file, a folder not writable)."""
    folders = [settings.data_dir] + ([] if settings.qdrant_url else [settings.qdrant_location])
    try:
        for folder in folders:
            private_dir(folder)
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))
    except OSError as exc:
        fail(path_problem(exc, settings) or f"{exc.filename}: {exc.strerror}")


def check_store(settings: IndexSettings) -> None:
    """Exit with the reason and the fix when the store's settings cannot work (a malformed
    KURA_QDRANT_URL or a server that does not answer, a folder that cannot be one): checked
    before anything is opened."""
    check_qdrant_url(settings)
    if settings.qdrant_url and settings.qdrant_url != ":memory:":
        _answering(settings, settings.qdrant_url)
    check_folders(settings)


def check_qdrant_url(settings: IndexSettings) -> None:
    """Exit unless KURA_QDRANT_URL, when set, is an http(s):// URL (or ``:memory:``)."""
    url = settings.qdrant_url
    if url and url != ":memory:" and not HTTP_URL.match(url):
        fail(
            f"KURA_QDRANT_URL={url!r} is not an http:// or https:// URL; set it to the Qdrant "
            "server's (e.g. http://qdrant:6333), or unset it for the embedded store"
        )


def _answering(settings: IndexSettings, url: str) -> None:
    """Exit unless the Qdrant server at ``url`` answers."""
    from ingest.stores import build_backend

    backend = build_backend(settings)
    try:
        backend.ping()
    except StoreUnavailable as exc:
        fail(
            f"the Qdrant server at {url} (KURA_QDRANT_URL) does not answer: "
            f"{exc.__cause__ or exc}; start it, or fix KURA_QDRANT_URL"
        )
    finally:
        backend.close()


_MODEL_FIX = (
    "set KURA_EMBED_MODEL to a sentence-transformers model folder, or unset it for the "
    "packaged model"
)


def check_model(settings: IndexSettings) -> None:
    """Exit unless KURA_EMBED_MODEL names a model folder (when the model runs here): a look at
    the folder, nothing loaded, so a search by keywords alone stays fast."""
    from ingest.embedding.local import embed_model_path

    if settings.embed_backend == "local" and settings.embed_model != PACKAGED_EMBED_MODEL:
        try:
            embed_model_path(settings.embed_model)
        except ValueError as exc:
            fail(f"{exc}; {_MODEL_FIX}")


def open_components(settings: IndexSettings, *, lazy_embedder: bool = False) -> Components:
    """The components ``settings`` describe; when they cannot be built (a setting unusable, the
    store in use or not answering, a model missing or broken), the reason on stderr and exit 1."""
    from ingest.components import build_components

    check_store(settings)
    check_model(settings)
    try:
        components = build_components(settings, lazy_embedder=True)
    except KuraError as exc:
        fail(str(exc))
    if not lazy_embedder:
        try:
            _load_model(components, settings)
        except BaseException:
            components.close()
            raise
    return components


def _load_model(components: Components, settings: IndexSettings) -> None:
    """Load the embedding model now, so that a broken one is one error line, not a traceback
    from the middle of the command."""
    try:
        components.preload()
    except KuraError as exc:
        fail(str(exc))
    except (OSError, ValueError, RuntimeError) as exc:  # what loading a broken model raises
        fail(f"KURA_EMBED_MODEL={settings.embed_model!r} could not be loaded: {exc}; {_MODEL_FIX}")


class KuraGroup(TyperGroup):
    """The `kura` command group: a setting that cannot be used ends any command with one error
    line, not a traceback. An invalid value (a malformed URL, a number out of range) exits 2, as
    a usage error; a path that cannot be used (a file where a folder must be, no permission)
    exits 1. Other failures are each command's own to report."""

    def invoke(self, ctx: Any) -> Any:  # typer's own copy of click's Context
        try:
            return super().invoke(ctx)
        except ValidationError as exc:
            fail("; ".join(_setting_error(e) for e in exc.errors()), EXIT_USAGE)
        except OSError as exc:
            problem = _setting_path_problem(exc)
            if problem is None:
                raise
            fail(problem)


def _setting_path_problem(exc: OSError) -> str | None:
    if exc.filename is None:
        return None
    try:
        settings = IndexSettings()
    except ValidationError:
        return None
    return path_problem(exc, settings)


def _setting_error(error: Any) -> str:
    """One invalid setting, named as it is set (its environment variable)."""
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return message  # a check of several settings: its message names them
    return f"KURA_{str(error['loc'][0]).upper()}: {message}"  # never the value: it may be a secret
