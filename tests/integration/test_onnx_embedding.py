"""The local model on ONNX Runtime: same vectors as torch, length-sorted batches, offline export
at install (`kura models export`) or on first use."""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.retrieve import Retriever
from ingest.components import build_components
from ingest.embedding.identity import INT8
from ingest.embedding.local import build_local_embedder, embed_model_path
from ingest.embedding.onnx import TOKENS_PER_RUN, OnnxEmbedding
from ingest.embedding.onnx_export import OnnxModelError, installed_path, onnx_path
from ingest.lexicon import LEXICON_FILE, Lexicon
from ingest.pipeline import Indexer
from ingest.settings import PACKAGED_EMBED_MODEL
from tests.support.server import make_settings
from tests.support.sockets import record_sockets

pytestmark = pytest.mark.integration

TEXTS = [
    "The coolant pump of the HX-400 stops with fault code E-417 when the filter is blocked.",
    "冷却ポンプが停止した場合は、フィルターの詰まりを確認してください。",
    "Section 12(3): the licensee shall not sublicense the software.",
    "第12条第3項 乙は、甲の書面による承諾なく本契約上の地位を第三者に譲渡してはならない。",
    "short",
    "  leading and trailing spaces  ",
    "word " * 400,  # past the model's 256 word pieces: truncated alike
    "",
]

_connections: list[Any] = []  # what building the ONNX embedder opened


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-data")


@pytest.fixture(scope="module")
def no_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with nothing exported: the data folder's copy is used (first use)."""
    return tmp_path_factory.mktemp("no-install")


@pytest.fixture(scope="module")
def torch_vectors(data_dir: Path) -> np.ndarray:
    embedder = build_local_embedder(make_settings(data_dir, embed_runtime="torch"))
    return np.array(embedder.get_text_embedding_batch(TEXTS))


@pytest.fixture(scope="module")
def onnx_embedder(data_dir: Path, no_install: Path) -> OnnxEmbedding:
    with record_sockets(own_threads_only=True) as sockets:
        settings = make_settings(data_dir, embed_runtime="onnx", models_dir=no_install)
        embedder = build_local_embedder(settings)
    _connections[:] = sockets.seen
    assert isinstance(embedder, OnnxEmbedding)
    return embedder


@dataclass
class ExportRun:
    exit_code: int
    output: str
    connections: list[Any]
    files: dict[str, tuple[int, int]]  # name: (mtime_ns, mode)


def export_run(folder: Path) -> ExportRun:
    """`kura models export` (in this process, so that every socket it opens is seen)."""
    with record_sockets(own_threads_only=True) as sockets:
        result = CliRunner().invoke(cli, ["models", "export"], env={"KURA_MODELS_DIR": str(folder)})
    files = {p.name: (p.stat().st_mtime_ns, p.stat().st_mode) for p in folder.rglob("*.onnx")}
    return ExportRun(result.exit_code, result.output, sockets.seen, files)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ExportRun]]:
    """A models folder filled by `kura models export`, run twice, under kura's private umask."""
    folder = tmp_path_factory.mktemp("installed")
    previous = os.umask(0o077)  # what `kura` sets for everything else it writes
    try:
        return folder, [export_run(folder), export_run(folder)]
    finally:
        os.umask(previous)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_models_export_writes_both_copies_once_offline_readable_by_all(
    installed: tuple[Path, list[ExportRun]],
) -> None:
    folder, (first, again) = installed
    model_dir = embed_model_path(PACKAGED_EMBED_MODEL)
    assert first.exit_code == 0, first.output
    assert first.connections == []  # no hub, no socket at all
    assert first.output.count(": exported") == 2
    for runtime in ("onnx", INT8):
        path = installed_path(folder, model_dir, runtime)
        assert path.is_file()
        assert path.stat().st_size > 1_000_000
        # the image exports as root and serves as another user: readable by all, not writable
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
    # and the English-Japanese lexicon of keyword search, from the jamdict-data package
    lexicon = folder / LEXICON_FILE
    assert f"English-Japanese lexicon (JMdict): built ({lexicon})" in first.output
    assert Lexicon([folder]).japanese("file system") == ["ファイルシステム"]
    assert stat.S_IMODE(lexicon.stat().st_mode) == 0o644
    # idempotent: a second run finds all three and writes nothing
    assert again.exit_code == 0, again.output
    assert again.connections == []
    assert again.output.count(": present") == 3
    assert "exported" not in again.output
    assert again.files == first.files


def test_every_data_folder_reads_the_installed_copies(
    installed: tuple[Path, list[ExportRun]], tmp_path: Path
) -> None:
    folder = installed[0]
    model_dir = embed_model_path(PACKAGED_EMBED_MODEL)
    for setting, runtime in (("onnx", "onnx"), ("onnx-int8", INT8)):
        settings = make_settings(tmp_path / "data", embed_runtime=setting, models_dir=folder)
        embedder = build_local_embedder(settings)
        assert isinstance(embedder, OnnxEmbedding)
        assert Path(embedder.onnx_file) == installed_path(folder, model_dir, runtime)
    assert not (tmp_path / "data" / "models").exists()  # nothing exported there


def test_an_unreadable_installed_copy_falls_back_to_the_data_folders(
    installed: tuple[Path, list[ExportRun]],
    data_dir: Path,
    onnx_embedder: OnnxEmbedding,
    tmp_path: Path,
) -> None:
    broken = Path(shutil.copytree(installed[0], tmp_path / "installed"))
    model_dir = embed_model_path(PACKAGED_EMBED_MODEL)
    installed_path(broken, model_dir, "onnx").write_bytes(b"not an onnx model")
    settings = make_settings(data_dir, embed_runtime="onnx", models_dir=broken)
    embedder = build_local_embedder(settings)
    assert Path(embedder.onnx_file) == onnx_path(data_dir, model_dir, "onnx")
    vector = embedder.get_text_embedding(TEXTS[1])
    assert float(np.dot(vector, onnx_embedder.get_text_embedding(TEXTS[1]))) > 0.9999


def test_export_is_offline_and_lands_in_the_data_dir(
    data_dir: Path, onnx_embedder: OnnxEmbedding
) -> None:
    assert _connections == []  # export and load: no hub, no socket at all
    model_dir = embed_model_path(PACKAGED_EMBED_MODEL)
    expected = onnx_path(data_dir, model_dir, "onnx")
    assert Path(onnx_embedder.onnx_file) == expected
    assert expected.is_file()
    assert expected.is_relative_to(data_dir / "models")
    assert onnx_embedder.max_length == 256


def test_onnx_vectors_match_torch_in_english_and_japanese(
    onnx_embedder: OnnxEmbedding, torch_vectors: np.ndarray
) -> None:
    vectors = np.array(onnx_embedder.get_text_embedding_batch(TEXTS))
    assert vectors.shape == torch_vectors.shape == (len(TEXTS), 384)
    assert cosines(vectors, torch_vectors).min() > 0.9999
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = onnx_embedder.get_query_embedding(TEXTS[1])
    assert float(np.dot(query, torch_vectors[1])) > 0.9999


def int8_vectors(data_dir: Path, models_dir: Path, runtime: str) -> np.ndarray:
    settings = make_settings(data_dir, embed_runtime="onnx-int8", models_dir=models_dir)
    embedder = build_local_embedder(settings, runtime)
    assert isinstance(embedder, OnnxEmbedding)
    assert Path(embedder.onnx_file).name == f"model-{runtime.removeprefix('onnx-')}.onnx"
    return np.array(embedder.get_text_embedding_batch(TEXTS))


def test_int8_vectors_stay_close_to_torch(
    data_dir: Path, torch_vectors: np.ndarray, installed: tuple[Path, list[ExportRun]]
) -> None:
    vectors = int8_vectors(data_dir, installed[0], INT8)
    english, japanese = (
        cosines(vectors, torch_vectors)[[0, 2]],
        cosines(vectors, torch_vectors)[[1, 3]],
    )
    assert english.min() > 0.97
    assert japanese.min() > 0.97
    assert cosines(vectors, torch_vectors).min() < 0.99999  # int8 really ran: not the fp32 file


def test_the_first_int8_recipe_is_still_built_for_the_collections_it_made(
    data_dir: Path, torch_vectors: np.ndarray, installed: tuple[Path, list[ExportRun]]
) -> None:
    # `kura models export` writes the current recipe only: the first is exported on first use
    first = int8_vectors(data_dir, installed[0], "onnx-int8")
    assert (data_dir / "models").is_dir()
    current = int8_vectors(data_dir, installed[0], INT8)
    assert cosines(first, torch_vectors).min() > 0.98  # its projections kept fp32: closer
    # the two recipes' vectors differ: one may not search the other's (identity families)
    assert cosines(first, current).min() < 0.9999


class RecordingSession:
    """The real ONNX Runtime session, recording the shape of every batch it is given."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.shapes: list[tuple[int, int]] = []

    def run(self, outputs: Any, feed: dict[str, np.ndarray]) -> Any:
        self.shapes.append(feed["input_ids"].shape)
        return self.session.run(outputs, feed)


def test_batches_are_sorted_by_length_and_answers_keep_input_order(
    onnx_embedder: OnnxEmbedding,
) -> None:
    alone = np.array([onnx_embedder.embed([t])[0] for t in TEXTS])
    recorder = RecordingSession(onnx_embedder._session)
    onnx_embedder._session = recorder
    batch = onnx_embedder.batch
    try:
        onnx_embedder.batch = 3
        together = onnx_embedder.embed(TEXTS)
    finally:
        onnx_embedder._session = recorder.session
        onnx_embedder.batch = batch
    widths = [width for _, width in recorder.shapes]
    assert [rows for rows, _ in recorder.shapes] == [3, 3, 2]
    assert widths == sorted(widths, reverse=True)
    assert widths[0] == 256  # the 400-word text, truncated, comes first
    assert widths[-1] == 3  # "short" and the empty text: [CLS] short [SEP], last
    # each answer is its own text's, whatever batch it was computed in
    assert cosines(together, alone).min() > 0.9999


def test_a_run_holds_at_most_tokens_per_run_word_pieces(onnx_embedder: OnnxEmbedding) -> None:
    texts = ["word " * 400] * 6 + TEXTS  # English and Japanese, long and short
    recorder = RecordingSession(onnx_embedder._session)
    onnx_embedder._session = recorder
    try:
        vectors = onnx_embedder.embed(texts)
    finally:
        onnx_embedder._session = recorder.session
    rows = [n for n, _ in recorder.shapes]
    assert sum(rows) == len(texts)
    assert onnx_embedder.batch >= len(texts)
    assert all(n * width <= TOKENS_PER_RUN for n, width in recorder.shapes)
    assert rows[0] == TOKENS_PER_RUN // 256  # the long texts, four a run
    assert recorder.shapes[-1][0] > TOKENS_PER_RUN // 256  # the short ones, more a run
    alone = np.array([onnx_embedder.embed([t])[0] for t in texts])
    assert cosines(vectors, alone).min() > 0.9999


def test_a_corrupt_onnx_file_is_rebuilt(
    data_dir: Path, onnx_embedder: OnnxEmbedding, no_install: Path
) -> None:
    path = Path(onnx_embedder.onnx_file)
    path.write_bytes(b"not an onnx model")
    settings = make_settings(data_dir, embed_runtime="onnx", models_dir=no_install)
    embedder = build_local_embedder(settings)
    assert path.stat().st_size > 1_000_000
    vector = embedder.get_text_embedding(TEXTS[0])
    assert float(np.dot(vector, onnx_embedder.get_text_embedding(TEXTS[0]))) > 0.9999


def test_a_model_that_cannot_be_exported_fails_with_a_clear_error(tmp_path: Path) -> None:
    # A model directory without its weights: the tokenizer loads, the export cannot.
    source = Path(embed_model_path(PACKAGED_EMBED_MODEL))
    broken = tmp_path / "broken-model"
    shutil.copytree(source, broken, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    settings = make_settings(tmp_path / "data", embed_model=str(broken), embed_runtime="onnx")
    with pytest.raises(OnnxModelError) as caught:
        build_local_embedder(settings)
    message = str(caught.value)
    assert str(onnx_path(tmp_path / "data", str(broken), "onnx")) in message
    assert str(broken) in message
    assert "KURA_EMBED_RUNTIME=torch" in message
    assert not onnx_path(tmp_path / "data", str(broken), "onnx").exists()


def test_a_collection_indexed_with_torch_is_searched_alike_with_onnx(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pump.md").write_text(
        "# Coolant pump\n\nThe coolant pump stops with fault code E-417 when the filter is "
        "blocked. Clean the filter and restart the pump.\n",
        encoding="utf-8",
    )
    (docs / "lease.md").write_text(
        "# Lease\n\nThe tenant pays the rent on the first day of each month by bank transfer.\n",
        encoding="utf-8",
    )
    (docs / "ja.md").write_text(
        "# 冷却ポンプ\n\nフィルターが詰まると冷却ポンプは停止します。\n", encoding="utf-8"
    )
    data = tmp_path / "data"
    components = build_components(make_settings(data, embed_runtime="torch"))
    try:
        Indexer(components, "manuals").ingest_paths([docs])
        old = Retriever(components, make_settings(data, embed_runtime="torch")).search(
            "manuals", "why does the pump stop", 3, mode="dense"
        )
    finally:
        components.close()
    settings = make_settings(data, embed_runtime="onnx")
    components = build_components(settings)
    try:
        assert isinstance(components.embedders.default, OnnxEmbedding)
        new = Retriever(components, settings).search(
            "manuals", "why does the pump stop", 3, mode="dense"
        )
    finally:
        components.close()
    assert [p.chunk_id for p in new] == [p.chunk_id for p in old]
    assert new[0].source.endswith("pump.md")
    for before, after in zip(old, new, strict=True):
        assert after.score == pytest.approx(before.score, abs=1e-4)
