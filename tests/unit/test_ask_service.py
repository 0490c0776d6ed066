"""The answer service's one place for request defaults: the query API's body, the OpenAI API's
chat request and the command line's options make the same `Ask` for the same question, and
what a request leaves out is the setting's value."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.answer import Ask
from app.openai_request import ChatRequest
from app.routes.query import QueryRequest
from app.services.ask import new_ask
from app.services.search import Scope
from app.settings import AppSettings
from tests.support.server import COLLECTION, make_settings

pytestmark = pytest.mark.unit

QUESTION = "非常停止ボタンを押すとどうなりますか"


def three_asks(settings: AppSettings, question: str = QUESTION) -> list[Ask]:
    """The same question through each entry point, nothing else chosen."""
    query = QueryRequest.model_validate({"question": question}).ask(settings, ["staff"])
    chat = ChatRequest.model_validate(
        {"model": f"kura:{COLLECTION}", "messages": [{"role": "user", "content": question}]}
    ).ask(settings, COLLECTION, ["staff"])
    # `kura ask` hands its options to new_ask as typer gives them: None when not given
    cli = new_ask(
        settings,
        question,
        collection=None,
        top_k=None,
        effort=None,
        mode=None,
        groups=["staff"],
        include_reasoning=False,
    )
    return [query, chat, cli]


def test_the_three_entry_points_make_the_same_ask(tmp_path: Path) -> None:
    query, chat, cli = three_asks(make_settings(tmp_path))
    assert query == chat == cli
    assert query.question == QUESTION
    assert (query.collection, query.top_k, query.effort, query.mode) == (
        COLLECTION,
        6,
        "low",
        "hybrid",
    )


def test_an_omitted_field_takes_the_settings_value_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KURA_TOP_K", "3")
    monkeypatch.setenv("KURA_REASONING_EFFORT", "medium")
    monkeypatch.setenv("KURA_RETRIEVAL_MODE", "sparse")
    asks = three_asks(make_settings(tmp_path))
    assert {(a.top_k, a.effort, a.mode) for a in asks} == {(3, "medium", "sparse")}


def test_a_chosen_field_wins_over_the_setting(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    body = {"question": QUESTION, "top_k": 2, "reasoning_effort": "high", "mode": "dense"}
    ask = QueryRequest.model_validate(body).ask(settings, None)
    assert (ask.top_k, ask.effort, ask.mode, ask.groups) == (2, "high", "dense", None)
    chat = ChatRequest.model_validate(
        {
            "model": "kura:manuals",
            "reasoning_effort": "high",
            "messages": [{"role": "user", "content": f"  {QUESTION}  "}],
        }
    ).ask(settings, "manuals", None)
    # the OpenAI API has no top_k or mode: those are always the settings'
    assert (chat.collection, chat.top_k, chat.effort, chat.mode) == ("manuals", 6, "high", "hybrid")
    assert chat.question == QUESTION


def test_an_empty_name_or_zero_passages_means_the_setting(tmp_path: Path) -> None:
    # the command line has always read `-c ""` and `--top-k 0` as "not given"
    scope = Scope.of(make_settings(tmp_path), collection="", top_k=0)
    assert scope == Scope(COLLECTION, 6, "hybrid")
