"""`kura`: ingest, ask, search, serve."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import PurePath
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from app.cli_options import CollectionOpt, JsonOpt, ModeOpt, TopKOpt
from app.eval_cli import eval_command
from app.keys_cli import keys
from app.observability import configure_cli_logging
from app.reindex_cli import reindex_command
from app.settings import AppSettings, ReasoningEffort
from ingest import database_cli, models_cli
from ingest.cli import backup_command, documents_command, ingest_command, restore_command
from ingest.cli_support import (
    KuraGroup,
    check_folders,
    check_model,
    check_qdrant_url,
    open_components,
)
from ingest.errors import CollectionNotFound, KuraError
from ingest.private import PRIVATE_UMASK

# Only light modules above: `kura --help` and a mistyped flag must answer at once, and the
# embedding stack (torch, sentence-transformers, llama-index, qdrant) takes 10+ s to import.
# The commands import what they use; tests/unit/test_cli_imports.py keeps it so.
if TYPE_CHECKING:
    from app.answer import Answer, Ask
    from app.passages import Passage
    from app.services.ask import Answering
    from ingest.components import Components

cli = typer.Typer(
    name="kura",
    cls=KuraGroup,  # a setting that cannot be used: one error line, not a traceback
    help="kura (蔵): private document RAG. Settings come from KURA_* environment variables.",
    no_args_is_help=True,
    add_completion=False,
    # Plain click help: rich's panels showed every flag as `<bool>` and wrapped at 80 columns.
    rich_markup_mode=None,
)
cli.command("ingest")(ingest_command)
cli.command("documents")(documents_command)
cli.command("backup")(backup_command)
cli.command("restore")(restore_command)
cli.command("reindex")(reindex_command)
cli.command("eval")(eval_command)
for name, group in (("keys", keys), ("db", database_cli.db), ("models", models_cli.models)):
    cli.add_typer(group, name=name)
out = Console()
# soft_wrap: a message is one line however narrow the terminal or pipe; rich's default wrapped
# at 80 columns, mid-command (`ollama pull gpt-oss:20b` split over two lines).
err = Console(stderr=True, soft_wrap=True)

# Exit codes (the README's table): usage errors are click's 2, as POSIX tools do.
EXIT_ERROR = 1  # nothing done: store unavailable, collection missing, ...
EXIT_PARTIAL = 3  # part done: some files failed, or passages without an answer


@cli.callback()
def _main(
    ctx: typer.Context,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also log progress (INFO) to stderr.")
    ] = False,
) -> None:
    configure_cli_logging(verbose)
    ctx.obj = _queue_to_server  # `kura ingest` beside a running `kura serve`
    if not verbose:
        # "Ollama connection failed; retrying once" is the model client's own business: the
        # command says what came of it in one message, without a raw log line before it.
        logging.getLogger("app.llm").setLevel(logging.ERROR)


def _queue_to_server(*args: Any) -> int:
    from app.submit import queue_to_server

    return queue_to_server(*args)


def _collections(components: Components) -> list[str]:
    """Every collection in the store or the registry: on the command line, all are readable."""
    registered = {c.name for c in components.registry.collections()}
    return sorted(registered | set(components.collections()))


def _error_body(exc: KuraError) -> dict[str, Any]:
    """An error as ``--json`` prints it (the HTTP API's code names)."""
    from app.errors import error_code

    return {"error": {"message": str(exc), "code": error_code(exc)}}


def _fail(exc: KuraError, components: Components, *, as_json: bool) -> NoReturn:
    """Say what went wrong (as JSON with --json) and exit; a missing collection lists the real."""
    body = _error_body(exc)
    message = str(exc)
    if isinstance(exc, CollectionNotFound):
        names = _collections(components)
        body["collections"] = names
        message += f"; collections: {', '.join(names) or '(none)'}"
    if as_json:
        typer.echo(json.dumps(body, ensure_ascii=False))
    else:
        err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(EXIT_ERROR) from exc


def _where(p: Passage) -> str:
    parts = [PurePath(p.source).name]
    if p.pages:
        parts.append(f"p. {p.pages}")
    if p.section:
        parts.append(p.section)
    return ", ".join(parts)


def _print_passages(passages: list[Passage], *, full: bool) -> None:
    for p in passages:
        out.print(f"[bold][{p.n}][/bold] {_where(p)}  [dim](score {p.score:.3f})[/dim]")
        if full:
            out.print(f"    {p.text}", highlight=False, markup=False)


@cli.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    collection: CollectionOpt = None,
    top_k: TopKOpt = None,
    mode: ModeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the passages that best match QUERY (no model needed)."""
    from app.retrieve import Retriever
    from app.services.search import Scope, search_passages

    settings = AppSettings()
    scope = Scope.of(settings, collection=collection, top_k=top_k, mode=mode)
    # The model loads only if the search embeds: a keywords-only one (--mode sparse, or a
    # question in a language the model cannot read) skips sentence-transformers and torch.
    components = open_components(settings, lazy_embedder=True)
    retriever = Retriever(components, settings)
    try:
        passages = search_passages(retriever, scope, query).passages
    except KuraError as exc:
        _fail(exc, components, as_json=as_json)
    finally:
        retriever.close()
        components.close()
    if as_json:
        out.print_json(json.dumps([p.model_dump() for p in passages], ensure_ascii=False))
    else:
        _print_passages(passages, full=True)


@cli.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    collection: CollectionOpt = None,
    top_k: TopKOpt = None,
    effort: Annotated[
        ReasoningEffort | None,
        typer.Option(
            "--effort",
            help="gpt-oss reasoning effort.  [default: KURA_REASONING_EFFORT, else low]",
            show_default=False,
        ),
    ] = None,
    mode: ModeOpt = None,
    show_reasoning: Annotated[
        bool, typer.Option("--show-reasoning", help="Also print gpt-oss's reasoning.")
    ] = False,
    as_json: JsonOpt = False,
    stream: Annotated[
        bool, typer.Option("--stream/--no-stream", help="Print the answer as it is written.")
    ] = True,
) -> None:
    """Answer QUESTION from the documents, with numbered citations."""
    from app.errors import LLMUnavailable
    from app.llm import build_llm
    from app.retrieve import Retriever
    from app.services.ask import Answering, new_ask
    from app.services.search import Scope, search_passages

    settings = AppSettings()
    request = new_ask(
        settings,
        question,
        collection=collection,
        top_k=top_k,
        effort=effort,
        mode=mode,
        include_reasoning=show_reasoning,
    )
    components = open_components(settings)
    llm = build_llm(settings)
    retriever = Retriever(components, settings, llm)  # an Ollama reranker shares its hosts
    answering = Answering(retriever, llm)
    streamed = stream and not as_json
    try:
        if streamed:
            result = asyncio.run(_stream_to_terminal(answering, request))
        else:
            result = asyncio.run(answering.answer(request))
    except LLMUnavailable as exc:
        # Retrieval still works: show what the model would have read.
        scope = Scope(request.collection, request.top_k, request.mode)
        try:
            passages = search_passages(retriever, scope, question).passages
        except KuraError as missing:  # a misspelled collection, found after the model check
            _fail(missing, components, as_json=as_json)
        if as_json:
            body = {**_error_body(exc), "passages": [p.model_dump() for p in passages]}
            typer.echo(json.dumps(body, ensure_ascii=False))
        else:
            err.print(f"[yellow]no answer:[/yellow] {exc}", highlight=False)
            out.print("Passages found:")
            _print_passages(passages, full=True)
        raise typer.Exit(EXIT_PARTIAL) from exc
    except KuraError as exc:
        _fail(exc, components, as_json=as_json)
    finally:
        retriever.close()
        llm.close()
        components.close()
    if as_json:
        out.print_json(result.model_dump_json())
        return
    if not streamed:
        if result.reasoning:
            err.print("[dim]reasoning:[/dim]")
            err.print(result.reasoning, highlight=False, markup=False, style="dim")
        out.print(result.answer, highlight=False, markup=False)
    elif result.version_notes:
        from app.answer import version_note_text

        out.print("\n" + version_note_text(result.version_notes, question), highlight=False)
    if not result.covered:
        err.print("[yellow]note:[/yellow] nothing relevant found; the model was not asked")
    if result.citations:
        out.print("\n[bold]Sources[/bold]")
        _print_passages(result.citations, full=False)
    if result.finish_reason == "length":
        err.print("[yellow]note:[/yellow] the answer was cut off at answer_max_tokens")


async def _stream_to_terminal(answering: Answering, request: Ask) -> Answer:
    from app.answer import Answer

    drafted = await answering.draft(request)
    answer: Answer | None = None
    async for event, data in answering.stream(drafted):
        if event == "reasoning":
            err.print(data["text"], end="", highlight=False, markup=False, style="dim")
        elif event == "token":
            out.print(data["text"], end="", highlight=False, markup=False)
        elif event == "done":
            answer = Answer.model_validate(data)
    out.print()
    assert answer is not None  # stream_answer always ends with done
    return answer


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from app.main import create_app
    from app.observability import configure_logging

    try:
        # --host is the address the settings state, so the auth-off/loopback rule (an
        # AppSettings validator) checks the address actually bound.
        given = {"api_host": host, "api_port": port}  # the writer lock names the real port
        settings = AppSettings(**{k: v for k, v in given.items() if v})  # type: ignore[arg-type]
    except ValidationError as exc:
        for error in exc.errors():
            err.print(f"[red]error:[/red] {error['msg'].removeprefix('Value error, ')}")
        raise typer.Exit(2) from exc
    # What would fail the start with a traceback in the log; a store or an embedding host
    # that is down does not: the server starts and answers 503 until they are back.
    check_qdrant_url(settings)
    check_folders(settings)
    check_model(settings)
    bind = settings.api_host
    configure_logging(settings.log_level, json=settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=bind,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        log_level=settings.log_level.lower(),
    )


@cli.command()
def worker() -> None:
    """Index queued uploads and submitted files until stopped (SIGTERM: after the current file)."""
    from app.worker import worker_main

    raise typer.Exit(worker_main())


def main() -> None:
    """Console entry point."""
    # Everything kura writes (store, uploads, backups) is private to its user.
    os.umask(PRIVATE_UMASK)
    cli()
