"""Backup and restore: a restored data dir gives the same passages and the same answers."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from app.answer import Ask, answer_question
from app.llm import OllamaLLM
from app.retrieve import Retriever
from ingest.backup import backup, restore
from ingest.components import build_components
from ingest.errors import KuraError
from ingest.pipeline import IngestReport
from tests.support.data_copy import copy_data, on_disk
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import COLLECTION, make_settings

pytestmark = pytest.mark.integration

QUESTIONS = ["What does error E-417 mean on the HX-400?", "保守契約の契約期間は？"]


def answers(data_dir: Path, ollama_url: str) -> list[tuple[str, list[str], list[str]]]:
    settings = make_settings(data_dir, ollama_url)
    components = build_components(settings)
    try:
        retriever = Retriever(components, settings)
        found = []
        for question in QUESTIONS:
            answer = answer_question(
                retriever, OllamaLLM(settings), Ask(question, COLLECTION, 4, "low")
            )
            passages = retriever.search(COLLECTION, question, 6, mode="hybrid")
            found.append(
                (
                    answer.answer,
                    [c.chunk_id for c in answer.citations],
                    [p.chunk_id for p in passages],
                )
            )
        return found
    finally:
        components.close()


def test_restore_into_a_fresh_data_dir_gives_the_same_answers(
    indexed: tuple[Path, IngestReport], tmp_path: Path
) -> None:
    original = tmp_path / "original"
    copy_data(indexed[0], original)
    (original / "uploads" / COLLECTION).mkdir(parents=True)
    (original / "uploads" / COLLECTION / "kept.txt").write_text("an uploaded original")
    archive = tmp_path / "backup" / "kura.tar.gz"
    names = backup(make_settings(original), archive)
    assert "kura.db" in names
    assert f"qdrant/kura_{COLLECTION}" in names

    restored = tmp_path / "restored"
    restore(make_settings(restored), archive)
    assert (restored / "uploads" / COLLECTION / "kept.txt").read_text() == "an uploaded original"
    # the store's preallocated pages stay holes: ~1 MB of disk, not ~320 MB
    assert on_disk(restored / "qdrant")[0] == on_disk(original / "qdrant")[0] > 100 * 2**20
    assert on_disk(restored / "qdrant")[1] <= 2 * on_disk(original / "qdrant")[1] + 2**20
    assert (restored / "kura.db").stat().st_size > 0
    with pytest.raises(KuraError, match="not empty"):
        restore(make_settings(restored), archive)

    with OllamaStandin(StandinState()) as ollama:
        before = answers(original, ollama.url)
        after = answers(restored, ollama.url)
    assert after == before
    assert all(citations for _, citations, _ in before)


def test_with_the_state_in_postgresql_backup_refuses_and_names_pg_dump(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", database_url="postgresql://kura@db/kura")
    archive = tmp_path / "kura.tar.gz"
    with pytest.raises(KuraError, match="pg_dump") as refused:
        backup(settings, archive)
    assert "KURA_DATABASE_URL" in str(refused.value)
    assert "uploads" in str(refused.value)
    assert not archive.exists()


def test_a_backup_naming_a_path_outside_the_data_dir_writes_nothing_there(tmp_path: Path) -> None:
    archive = tmp_path / "crafted.tar.gz"
    with tarfile.open(archive, "w:gz") as crafted:
        for name in ("kura.db", "qdrant/../../outside.bin"):
            body = b"\0" * 8192 + name.encode()
            member = tarfile.TarInfo(name)
            member.size = len(body)
            crafted.addfile(member, io.BytesIO(body))
    with pytest.raises(KuraError, match=r"crafted.tar.gz: refused, .*outside the destination"):
        restore(make_settings(tmp_path / "data"), archive)
    assert not (tmp_path / "outside.bin").exists()
    assert not (tmp_path / "data" / "kura.db").exists()  # every entry checked first
