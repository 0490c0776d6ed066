"""Options several `kura` commands share."""

from __future__ import annotations

from typing import Annotated

import typer

from app.settings import RetrievalMode

CollectionOpt = Annotated[
    str | None,
    typer.Option(
        "--collection",
        "-c",
        help="Collection to use.  [default: KURA_COLLECTION, else documents]",
        show_default=False,
    ),
]
TopKOpt = Annotated[
    int | None,
    typer.Option(
        "--top-k",
        "-k",
        help="Passages to retrieve.  [default: KURA_TOP_K, else 6]",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ModeOpt = Annotated[
    RetrievalMode | None,
    typer.Option(
        "--mode",
        help="hybrid, dense or sparse.  [default: KURA_RETRIEVAL_MODE, else hybrid]",
        show_default=False,
    ),
]
