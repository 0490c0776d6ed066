"""Contracts as a lawyer reads them, on real licence texts: answers cite clauses, a referenced
clause and the definitions of the terms used reach the prompt, and a clause that read
differently in an older version is noted."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from app.contracts import expand
from app.retrieve import retrieve_hits
from ingest.components import build_components
from ingest.pipeline import Indexer, VersionSpec
from ingest.schema import document_id
from tests.support.data_copy import copy_data
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, make_settings

pytestmark = pytest.mark.integration

LICENSES = Path("/usr/share/common-licenses")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("contracts")
    docs = root / "docs"
    docs.mkdir()
    shutil.copy("data/samples/apache-license-2.0.txt", docs / "apache.txt")
    shutil.copy(LICENSES / "GPL-2", docs / "gpl.txt")
    shutil.copy(LICENSES / "GPL-3", docs / "gpl-3.txt")
    components = build_components(make_settings(root / "data"))
    try:
        indexer = Indexer(components, "corpus")
        indexer.ingest_file(docs / "apache.txt")
        gpl = document_id("corpus", str((docs / "gpl.txt").resolve()))
        indexer.ingest_file(docs / "gpl.txt", VersionSpec("GPLv2", date(1991, 6, 1)))
        indexer.ingest_file(docs / "gpl-3.txt", VersionSpec("GPLv3", date(2007, 6, 29), gpl))
    finally:
        components.close()
    return root / "data"


@pytest.fixture(scope="module")
def api(data_dir: Path) -> Iterator[httpx.Client]:
    with (
        OllamaStandin(StandinState()) as ollama,
        LiveServer(make_settings(data_dir, ollama.url)) as client,
    ):
        yield client


def test_answers_cite_the_clause(api: httpx.Client) -> None:
    answer = api.post(
        "/v1/query",
        json={"question": "Must modified files carry notices stating that You changed them?"},
    ).json()
    cited = answer["citations"][0]
    assert Path(cited["source"]).name == "apache.txt"
    assert cited["clause"].startswith("Section 4")  # the chunk opens Section 4, (a)-(d) inside
    assert cited["verified"] is True


def test_references_and_definitions_are_added_to_the_prompt(data_dir: Path, tmp_path: Path) -> None:
    copy_data(data_dir, tmp_path / "data")  # the API fixture holds the store itself
    components = build_components(make_settings(tmp_path / "data"))
    try:
        hits = retrieve_hits(
            components,
            "corpus",
            "grant of patent license to make, use, sell and import the Work",
            2,
            filters=None,
        )
        apache = [h for h in hits if Path(h.passage.source).name == "apache.txt"]
        assert apache
        assert apache[0].passage.clause == "Section 3"
        extra = expand(components, "corpus", apache)
    finally:
        components.close()
    definitions = [p.text for p in extra if p.role == "definition"]
    # Section 3 uses "Contributor", "Work", "You"...: their definitions come from Section 1.
    assert len(definitions) >= 3
    assert all(" mean" in d for d in definitions), definitions  # "shall mean", "means"
    assert all(p.clause == "Section 1" for p in extra if p.role == "definition")
    assert all(p.via == apache[0].passage.n for p in extra)
    first = max(h.passage.n for h in apache) + 1  # numbered on after the passages given
    assert [p.n for p in extra] == list(range(first, first + len(extra)))


def test_a_cited_clause_that_changed_since_an_older_version_is_noted(api: httpx.Client) -> None:
    question = "Protecting Users' Legal Rights From Anti-Circumvention Law"
    answer = api.post("/v1/query", json={"question": question}).json()
    cited = answer["citations"][0]
    assert cited["version_label"] == "GPLv3"
    assert cited["clause"].startswith("Section 3")
    notes = answer["version_notes"]
    assert notes
    assert notes[0]["version_label"] == "GPLv2"
    assert notes[0]["effective_date"] == "1991-06-01"
    assert "GPLv2" in answer["answer"]
    # Asked about 2000, the older version answers and there is nothing older to note.
    old = api.post(
        "/v1/query", json={"question": question, "filters": {"as_of": "2000-01-01"}}
    ).json()
    assert {c["version_label"] for c in old["citations"]} <= {"GPLv2"}
    assert old["version_notes"] == []


def test_japanese_contract_clauses_are_labelled(tmp_path: Path) -> None:
    contract = (
        "業務委託契約書\n\n"
        "第1条（目的）\n本契約は、甲が乙に委託する保守業務の条件を定める。\n\n"
        "第2条（定義）\n本契約において「保守業務」とは、甲の設備の点検及び修理をいう。\n\n"
        "第3条（支払）\n甲は、第2条に定める保守業務の対価を翌月末日までに支払う。\n"
        "2 前項の支払が遅れた場合、甲は年3%の遅延損害金を支払う。\n"
    )
    doc = tmp_path / "保守契約.txt"
    doc.write_text(contract, encoding="utf-8")
    components = build_components(make_settings(tmp_path / "data"))
    try:
        Indexer(components, "ja").ingest_file(doc)
        hits = retrieve_hits(components, "ja", "遅延損害金 支払", 3, mode="sparse")
        late = next(h for h in hits if "遅延損害金" in h.passage.text)
        assert late.passage.clause.startswith("第3条")
        assert "第2条" in late.passage.references
        extra = expand(components, "ja", [late])
    finally:
        components.close()
    # 第2条 is both referred to and the definition of 保守業務: it comes once, as a reference.
    assert [(p.role, p.clause) for p in extra] == [("reference", "第2条")]
    assert "「保守業務」とは" in extra[0].text
