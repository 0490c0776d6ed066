"""`kura`: ingest, ask, search, serve."""

from __future__ import annotations

import json
import logging
from pathlib import PurePath
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from app.answer import answer_question
from app.errors import LLMUnavailable
from app.llm import OllamaLLM
from app.retrieve import Passage, retrieve
from app.settings import AppSettings, ReasoningEffort
from ingest.cli import ingest_command
from ingest.components import Components, build_components
from ingest.errors import KuraError

cli = typer.Typer(
    name="kura",
    help="kura (蔵): private document RAG. Settings come from KURA_* environment variables.",
    no_args_is_help=True,
    add_completion=False,
)
cli.command("ingest")(ingest_command)
out = Console()
err = Console(stderr=True)

CollectionOpt = Annotated[str | None, typer.Option("--collection", "-c", help="Collection to use.")]
TopKOpt = Annotated[int | None, typer.Option("--top-k", "-k", help="Passages to retrieve.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@cli.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


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
    as_json: JsonOpt = False,
) -> None:
    """Print the passages closest to QUERY (no model needed)."""
    settings = AppSettings()
    components = _open(settings)
    try:
        passages = retrieve(
            components, collection or settings.collection, query, top_k or settings.top_k
        )
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
    as_json: JsonOpt = False,
) -> None:
    """Answer QUESTION from the documents, with numbered citations."""
    settings = AppSettings()
    components = _open(settings)
    name = collection or settings.collection
    k = top_k or settings.top_k
    try:
        result = answer_question(
            components,
            OllamaLLM(settings),
            settings,
            question,
            collection=name,
            top_k=k,
            effort=effort or settings.reasoning_effort,
        )
    except LLMUnavailable as exc:
        # Retrieval still works: show what the model would have read.
        err.print(f"[yellow]no answer:[/yellow] {exc}")
        out.print("Passages found:")
        _print_passages(retrieve(components, name, question, k), full=True)
        raise typer.Exit(3) from exc
    except KuraError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        components.close()
    if as_json:
        out.print_json(result.model_dump_json())
        return
    out.print(result.answer, highlight=False, markup=False)
    if result.citations:
        out.print("\n[bold]Sources[/bold]")
        _print_passages(result.citations, full=False)
    if result.finish_reason == "length":
        err.print("[yellow]note:[/yellow] the answer was cut off at answer_max_tokens")


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    from app.main import create_app

    settings = AppSettings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_level="info",
    )


def main() -> None:
    """Console entry point."""
    cli()
