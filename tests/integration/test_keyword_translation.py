"""An English question finds a Japanese manual's passage by keywords (ingest/lexicon.py), its
words carried into Japanese through JMdict, on the embedded store and on a Qdrant server's
(qdrant-client in process); not when KURA_KEYWORD_TRANSLATION is off. A Japanese question's
own keywords stay Japanese (they still find the Japanese passage first in a manual that
quotes English words); in hybrid search its words in English are a ranking of their own
among English documents, so it finds an English manual's passage by its words too."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.retrieve import retrieve_hits
from ingest.components import build_components
from ingest.pipeline import Indexer
from tests.support.embedder import HashEmbedding
from tests.support.server import make_settings

pytestmark = pytest.mark.integration

JAPANESE_MANUAL = {
    "shell.txt": "シェルのプロンプトを変更するには、環境変数 PS1 を設定します。",
    "network.txt": "ネットワークインターフェースの設定は /etc/network/interfaces に書きます。",
    "packages.txt": "パッケージの一覧を更新してから、必要なパッケージを導入します。",
    "backup.txt": "定期的にバックアップを取り、圧縮したアーカイブを別の場所に保管します。",
}
ENGLISH_QUESTIONS = [
    ("How do I change the shell prompt?", "shell.txt"),
    ("network interface configuration", "network.txt"),
    ("install a package", "packages.txt"),
    ("compressed backup archive", "backup.txt"),
]
# Japanese passages quoting the English words a translation of the question would bring
MIXED_MANUAL = {
    "settei.txt": "設定ファイルを編集してから、サービスを再起動します。",
    "quoted.txt": "configuration, setting, setup, establishment: the English UI labels.",
}


ENGLISH_MANUAL = {
    "prompt.txt": "To change the shell prompt, set the PS1 environment variable.",
    "network.txt": "Network interfaces are configured in /etc/network/interfaces.",
    "packages.txt": "Update the package lists, then install the packages you need.",
    "backup.txt": "Keep a backup of the data in storage at another site.",
}
JAPANESE_QUESTIONS = [
    ("シェルのプロンプトを変えるには？", "prompt.txt"),
    ("ネットワークインターフェースの設定", "network.txt"),
    ("パッケージを導入したい", "packages.txt"),
    ("圧縮したバックアップを保管する", "backup.txt"),
]


def written(folder: Path, manual: dict[str, str]) -> Path:
    """``folder`` with the manual's files (name: text) in it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in manual.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def first_sources(
    tmp_path: Path,
    manual: dict[str, str],
    questions: list[tuple[str, str]],
    mode: str = "sparse",
    **settings: object,
) -> list[str]:
    """The file each question's keyword (or ``mode``) search ranks first: "" when it finds
    nothing, or nothing sets its first apart (the first two scored alike)."""
    docs = written(tmp_path / "docs", manual)
    config = make_settings(tmp_path / "data", multilingual_model="none", **settings)
    components = build_components(config, embedder=HashEmbedding())
    try:
        Indexer(components, "manual").ingest_paths([docs])
        found = []
        for question, _ in questions:
            hits = retrieve_hits(components, "manual", question, 3, mode=mode)  # type: ignore[arg-type]
            tied = len(hits) > 1 and hits[0].passage.score == hits[1].passage.score
            found.append(Path(hits[0].passage.source).name if hits and not tied else "")
        return found
    finally:
        components.close()


@pytest.mark.parametrize("store", ["embedded", ":memory:"])
@pytest.mark.parametrize("mode", ["sparse", "hybrid"])
def test_an_english_question_finds_the_japanese_passage_by_its_words(
    tmp_path: Path, store: str, mode: str
) -> None:
    """Keyword search: the translations in the question's one query; hybrid: a ranking of
    their own among Japanese documents."""
    where = {} if store == "embedded" else {"qdrant_url": store}
    found = first_sources(tmp_path, JAPANESE_MANUAL, ENGLISH_QUESTIONS, mode, **where)
    assert found == [source for _, source in ENGLISH_QUESTIONS]


def test_a_japanese_question_is_searched_by_its_own_words(tmp_path: Path) -> None:
    assert first_sources(tmp_path, MIXED_MANUAL, [("設定の変更", "settei.txt")]) == ["settei.txt"]


def test_without_translation_the_words_find_nothing(tmp_path: Path) -> None:
    found = first_sources(tmp_path, JAPANESE_MANUAL, ENGLISH_QUESTIONS, keyword_translation=False)
    assert found.count("") >= 3, found  # only "network" is in the manual (its path)
    hybrid = first_sources(
        tmp_path / "hybrid", JAPANESE_MANUAL, ENGLISH_QUESTIONS, "hybrid", keyword_translation=False
    )
    assert hybrid.count("") >= 3, hybrid


@pytest.mark.parametrize("store", ["embedded", ":memory:"])
def test_a_japanese_question_finds_the_english_passage_by_its_words_in_hybrid_search(
    tmp_path: Path, store: str
) -> None:
    where = {} if store == "embedded" else {"qdrant_url": store}
    # the fake dense model reads no Japanese and there is no multilingual vector here: only
    # keywords can find these passages, and the question's own are Japanese
    found = first_sources(tmp_path, ENGLISH_MANUAL, JAPANESE_QUESTIONS, "hybrid", **where)
    assert found == [source for _, source in JAPANESE_QUESTIONS]
    # keyword search alone keeps the question's own words: they are not in the manual
    alone = first_sources(tmp_path / "sparse", ENGLISH_MANUAL, JAPANESE_QUESTIONS, **where)
    assert alone == [""] * len(JAPANESE_QUESTIONS)


def test_without_translation_a_japanese_question_misses_the_english_passages(
    tmp_path: Path,
) -> None:
    found = first_sources(
        tmp_path, ENGLISH_MANUAL, JAPANESE_QUESTIONS, "hybrid", keyword_translation=False
    )
    assert found == [""] * len(JAPANESE_QUESTIONS)  # nothing tells the passages apart


def test_each_chunk_carries_its_documents_language(tmp_path: Path) -> None:
    """A Japanese manual's English listing is an English chunk of a Japanese document: the
    translated keywords (searched among English documents) never reach it."""
    listing = "Edit the configuration file, then restart the service."
    docs = written(
        tmp_path / "docs",
        {
            "manual.md": "# 設定\n\n設定ファイルを編集してから、サービスを再起動します。"
            f"手順は次のとおりです。\n\n# Listing\n\n{listing}\n",
            "guide.md": f"# Setup\n\n{listing}\n",
        },
    )
    components = build_components(
        make_settings(tmp_path / "data", multilingual_model="none"), embedder=HashEmbedding()
    )
    try:
        Indexer(components, "manual").ingest_paths([docs])
        chunks = {
            (Path(n.metadata["source"]).name, n.metadata["language"]): n.metadata
            for n in components.vector_store("manual").get_nodes()
        }
    finally:
        components.close()
    assert chunks[("manual.md", "en")]["document_language"] == "ja"
    assert chunks[("manual.md", "ja")]["document_language"] == "ja"
    assert chunks[("guide.md", "en")]["document_language"] == "en"
