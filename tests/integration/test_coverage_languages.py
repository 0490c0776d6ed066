""" "Not covered" across languages, over real HTTP with the packaged models: a question is
judged by a model that reads both it and the passage (app/relevance.py), so a Japanese
paraphrase or an English question over Japanese text that retrieval found is answered, and an
off-topic Japanese question that shares one word with a passage is declined without a model
call."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.relevance import keyword_coverage
from ingest.components import build_components
from ingest.pipeline import Indexer
from tests.support.multilingual_docs import DOCUMENTS as SHARED
from tests.support.multilingual_docs import EN_TO_JA, JA_TO_EN, PARAPHRASE
from tests.support.ollama_standin import OllamaStandin
from tests.support.server import LiveServer, make_settings

pytestmark = pytest.mark.integration

# Off-topic OFF_TOPIC_SHARING_A_WORD shares one of its three keywords (日本) with it.
DOCUMENTS = SHARED | {"cable.txt": "延長ケーブルは日本国内では最大十メートルまで使えます。"}
ANSWERED = [
    (PARAPHRASE, "room.txt"),
    (EN_TO_JA, "backup.txt"),
    ("Where do new employees sign up for health insurance on their first day?", "onboarding.txt"),
    (JA_TO_EN, "remote.txt"),
]
OFF_TOPIC_SHARING_A_WORD = "日本の首相は誰ですか？"
DECLINED = [
    OFF_TOPIC_SHARING_A_WORD,
    "おいしいカレーの作り方を教えてください。",
    "How tall is Mount Everest?",
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, ollama: OllamaStandin) -> Iterator[httpx.Client]:
    folder = tmp_path_factory.mktemp("documents")
    for name, text in DOCUMENTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    data_dir = tmp_path_factory.mktemp("coverage") / "data"
    components = build_components(make_settings(data_dir))
    try:
        report = Indexer(components, "mixed").ingest_paths([folder])
    finally:
        components.close()
    assert report.failed == [], report.failed
    with LiveServer(make_settings(data_dir, ollama.url)) as client:
        yield client


def chat_requests(ollama: OllamaStandin) -> int:
    return sum(1 for r in ollama.state.requests if "messages" in r)


def ask(api: httpx.Client, question: str) -> dict:
    response = api.post("/v1/query", json={"question": question, "collection": "mixed"})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(("question", "source"), ANSWERED)
def test_a_question_found_by_meaning_in_another_wording_or_language_is_answered(
    api: httpx.Client, ollama: OllamaStandin, question: str, source: str
) -> None:
    search = api.post("/v1/search", json={"query": question, "collection": "mixed"}).json()
    assert source in [Path(p["source"]).name for p in search["passages"][:2]]
    before = chat_requests(ollama)
    answer = ask(api, question)
    assert answer["covered"] is True, answer["answer"]
    assert chat_requests(ollama) == before + 1


def test_the_paraphrase_shares_no_keyword_with_its_answer() -> None:
    # what keywords alone would judge it by: nothing, though the multilingual vector finds it
    assert keyword_coverage(PARAPHRASE, DOCUMENTS["room.txt"]) == 0


@pytest.mark.parametrize("question", DECLINED)
def test_an_off_topic_question_is_declined_without_the_model(
    api: httpx.Client, ollama: OllamaStandin, question: str
) -> None:
    before = chat_requests(ollama)
    answer = ask(api, question)
    assert answer["covered"] is False
    assert answer["citations"] == []
    assert chat_requests(ollama) == before


def test_the_off_topic_question_would_pass_a_keyword_check() -> None:
    # 日本 of 日本, 首相, 誰 is in cable.txt: enough for keywords alone
    assert keyword_coverage(OFF_TOPIC_SHARING_A_WORD, DOCUMENTS["cable.txt"]) >= 0.25


def test_a_dense_search_is_judged_by_the_model_that_ranked_it(
    api: httpx.Client, ollama: OllamaStandin
) -> None:
    # Japanese, dense mode: the multilingual vector ranks alone, and its cosine judges
    before = chat_requests(ollama)
    body = {"question": PARAPHRASE, "collection": "mixed", "mode": "dense"}
    answer = api.post("/v1/query", json=body).json()
    assert answer["covered"] is True, answer["answer"]
    assert chat_requests(ollama) == before + 1
    body["question"] = OFF_TOPIC_SHARING_A_WORD
    assert api.post("/v1/query", json=body).json()["covered"] is False
    assert chat_requests(ollama) == before + 1
