"""`kura eval`: retrieval measured on labelled questions, per mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from app.cli_options import CollectionOpt, JsonOpt
from app.settings import AppSettings
from ingest.cli_support import EXIT_ERROR, open_components
from ingest.errors import KuraError

out = Console()
err = Console(stderr=True, soft_wrap=True)


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
    from app.retrieve import Retriever
    from app.services.search import Scope

    wanted = [m.strip() for m in modes.split(",") if m.strip()]
    unknown = [m for m in wanted if m not in ("hybrid", "dense", "sparse")]
    if unknown or not wanted:
        err.print(f"[red]error:[/red] unknown retrieval modes: {unknown or modes!r}")
        raise typer.Exit(2)  # a usage error, as click's own
    try:
        questions = load_questions(questions_file)
    except (OSError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_ERROR) from exc
    settings = AppSettings()
    components = open_components(settings)
    retriever = Retriever(components, settings)
    try:
        results = evaluate(
            retriever,
            Scope.of(settings, collection=collection).collection,
            questions,
            wanted,  # type: ignore[arg-type]
        )
    except KuraError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_ERROR) from exc
    finally:
        retriever.close()
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
