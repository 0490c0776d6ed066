"""`kura`: ingest, ask, search, serve."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path, PurePath
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console

from app.answer import Answer, Ask, version_note_text
from app.errors import LLMUnavailable
from app.keys_cli import keys
from app.llm import OllamaLLM
from app.observability import configure_cli_logging
from app.passages import Passage
from app.retrieve import Retriever
from app.services.ask import Answering, new_ask
from app.services.search import Scope, search_passages
from app.settings import AppSettings, ReasoningEffort, RetrievalMode
from ingest.cli import backup_command, documents_command, ingest_command, restore_command
from ingest.components import Components, build_components
from ingest.errors import KuraError
from ingest.private import PRIVATE_UMASK

cli = typer.Typer(
    name="kura",
    help="kura (蔵): private document RAG. Settings come from KURA_* environment variables.",
    no_args_is_help=True,
    add_completion=False,
)
cli.command("ingest")(ingest_command)
cli.command("documents")(documents_command)
cli.command("backup")(backup_command)
cli.command("restore")(restore_command)
cli.add_typer(keys, name="keys")
out = Console()
err = Console(stderr=True)

CollectionOpt = Annotated[str | None, typer.Option("--collection", "-c", help="Collection to use.")]
TopKOpt = Annotated[int | None, typer.Option("--top-k", "-k", help="Passages to retrieve.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ModeOpt = Annotated[
    RetrievalMode | None,
    typer.Option("--mode", help="hybrid, dense or sparse (default: settings)."),
]


@cli.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    configure_cli_logging(verbose)


def _open(settings: AppSettings) -> Components:
    try:
        return build_components(settings)
    except KuraError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


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
    settings = AppSettings()
    scope = Scope.of(settings, collection=collection, top_k=top_k, mode=mode)
    components = _open(settings)
    try:
        passages = search_passages(Retriever(components, settings), scope, query).passages
    except KuraError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
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
        ReasoningEffort | None, typer.Option("--effort", help="gpt-oss reasoning effort.")
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
    components = _open(settings)
    retriever = Retriever(components, settings)
    answering = Answering(settings, retriever, OllamaLLM(settings))
    streamed = stream and not as_json
    try:
        if streamed:
            result = asyncio.run(_stream_to_terminal(answering, request))
        else:
            result = asyncio.run(answering.answer(request))
    except LLMUnavailable as exc:
        # Retrieval still works: show what the model would have read.
        err.print(f"[yellow]no answer:[/yellow] {exc}")
        out.print("Passages found:")
        scope = Scope(request.collection, request.top_k, request.mode)
        _print_passages(search_passages(retriever, scope, question).passages, full=True)
        raise typer.Exit(3) from exc
    except KuraError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
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
        out.print("\n" + version_note_text(result.version_notes, question), highlight=False)
    if not result.covered:
        err.print("[yellow]note:[/yellow] nothing relevant found; the model was not asked")
    if result.citations:
        out.print("\n[bold]Sources[/bold]")
        _print_passages(result.citations, full=False)
    if result.finish_reason == "length":
        err.print("[yellow]note:[/yellow] the answer was cut off at answer_max_tokens")


async def _stream_to_terminal(answering: Answering, request: Ask) -> Answer:
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
    from app.main import create_app
    from app.observability import configure_logging

    try:
        # --host is the address the settings state, so the auth-off/loopback rule (an
        # AppSettings validator) checks the address actually bound.
        settings = AppSettings(api_host=host) if host else AppSettings()
    except ValidationError as exc:
        for error in exc.errors():
            err.print(f"[red]error:[/red] {error['msg'].removeprefix('Value error, ')}")
        raise typer.Exit(2) from exc
    bind = settings.api_host
    configure_logging(settings.log_level, json=settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=bind,
        port=port or settings.api_port,
        log_config=None,
        access_log=False,
        log_level=settings.log_level.lower(),
    )


def main() -> None:
    """Console entry point."""
    # Everything kura writes (store, uploads, backups) is private to its user.
    os.umask(PRIVATE_UMASK)
    cli()


@cli.command("eval")
def eval_command(
    questions_file: Annotated[
        Path, typer.Argument(help="JSONL: question, expected_source and/or expected_snippet.")
    ],
    collection: CollectionOpt = None,
    modes: Annotated[
        str, typer.Option("--modes", help="Comma-separated retrieval modes to compare.")
    ] = "hybrid,dense,sparse",
    as_json: JsonOpt = False,
) -> None:
    """Measure retrieval on labelled questions: hit@1/3/5/10, MRR, nDCG@10 per mode."""
    from rich.table import Table

    from app.evaluate import CUTOFFS, evaluate, load_questions, report

    wanted = [m.strip() for m in modes.split(",") if m.strip()]
    unknown = [m for m in wanted if m not in ("hybrid", "dense", "sparse")]
    if unknown or not wanted:
        err.print(f"[red]error:[/red] unknown retrieval modes: {unknown or modes!r}")
        raise typer.Exit(1)
    try:
        questions = load_questions(questions_file)
    except (OSError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    settings = AppSettings()
    components = _open(settings)
    try:
        results = evaluate(
            Retriever(components, settings),
            Scope.of(settings, collection=collection).collection,
            questions,
            wanted,  # type: ignore[arg-type]
        )
    except KuraError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        components.close()
    data = report(results, questions)
    if as_json:
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    columns = [f"hit@{k}" for k in CUTOFFS] + ["mrr", "ndcg@10"]
    table = Table(title=f"{questions_file.name}: {len(questions)} questions")
    table.add_column("mode")
    for column in columns:
        table.add_column(column, justify="right")
    for mode, metrics in data["metrics"].items():
        table.add_row(mode, *(f"{metrics[c]:.3f}" for c in columns))
    out.print(table)
