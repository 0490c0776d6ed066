"""A setting the `kura` command cannot use (a data folder that is a file, a model folder that is
missing or holds no model, a malformed or unreachable URL) is one error line naming the setting,
the reason and the fix, with the documented exit code: never a traceback. Real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import free_port

pytestmark = pytest.mark.integration

KURA = [sys.executable, "-m", "app"]
FIX_FOLDER = "to a folder kura can write (it is created if missing)"
FIX_MODEL = "set KURA_EMBED_MODEL to a sentence-transformers model folder, or unset it"
# Every command that opens the store, the state database or both.
STORE_COMMANDS = [
    ["ingest", "{docs}"],
    ["documents"],
    ["reindex", "documents"],
    ["search", "賃料の支払期限"],
    ["eval", "{questions}"],
    ["backup", "{tmp}/backup.tar.gz"],
]
STATE_COMMANDS = [["keys", "list"], ["db", "upgrade"]]


def kura(args: list[str], tmp: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run `kura` with ``settings`` (KURA_* variables) over a folder of one Japanese file."""
    docs = tmp / "文書"
    docs.mkdir(exist_ok=True)
    (docs / "契約.txt").write_text("賃料は毎月末日までに支払うものとする。", encoding="utf-8")
    questions = tmp / "questions.jsonl"
    questions.write_text('{"question": "賃料", "expected_source": "契約.txt"}\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KURA_")}
    env.update({"KURA_DATA_DIR": str(tmp / "data"), "COLUMNS": "80", **settings})
    named = {"docs": str(docs), "questions": str(questions), "tmp": str(tmp)}
    argv = [a.format(**named) for a in args]
    return subprocess.run([*KURA, *argv], env=env, capture_output=True, text=True, timeout=300)


def one_error(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The one error line the command printed, checked: the exit code, nothing else said."""
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == code, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def ids(commands: list[list[str]]) -> list[str]:
    return [" ".join(c[:2]) for c in commands]


@pytest.mark.parametrize("args", STORE_COMMANDS + STATE_COMMANDS, ids=ids)
def test_a_data_folder_that_is_a_file(args: list[str], tmp_path: Path) -> None:
    data = tmp_path / "データ" / "kura"
    data.parent.mkdir()
    data.write_text("not a folder")
    line = one_error(kura(args, tmp_path, KURA_DATA_DIR=str(data)))
    assert line == (
        f"error: KURA_DATA_DIR={data} cannot be used: {data} is a file, not a folder; "
        f"set KURA_DATA_DIR {FIX_FOLDER}"
    )


@pytest.mark.parametrize(
    "args", [["ingest", "{docs}"], ["reindex", "documents"], ["keys", "list"]], ids=ids
)
def test_a_data_folder_under_a_file(args: list[str], tmp_path: Path) -> None:
    # What a folder that cannot be written is to root (who runs these tests): NotADirectoryError.
    blocker = tmp_path / "蔵.txt"
    blocker.write_text("a file")
    line = one_error(kura(args, tmp_path, KURA_DATA_DIR=str(blocker / "data")))
    assert f"KURA_DATA_DIR={blocker / 'data'} cannot be used: {blocker} is a file" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
@pytest.mark.parametrize("args", [["ingest", "{docs}"], ["documents"]], ids=ids)
def test_a_data_folder_not_writable(args: list[str], tmp_path: Path) -> None:
    data = tmp_path / "データ"
    data.mkdir(mode=0o500)
    line = one_error(kura(args, tmp_path, KURA_DATA_DIR=str(data)))
    assert f"KURA_DATA_DIR={data} cannot be used: {data}: permission denied" in line


@pytest.mark.parametrize("args", [["ingest", "{docs}"], ["search", "賃料"]], ids=ids)
def test_a_qdrant_path_that_is_a_file(args: list[str], tmp_path: Path) -> None:
    store = tmp_path / "ベクトル"
    store.write_text("not a folder")
    line = one_error(kura(args, tmp_path, KURA_QDRANT_PATH=str(store)))
    assert line.startswith(f"error: KURA_QDRANT_PATH={store} cannot be used: {store} is a file")


@pytest.mark.parametrize("args", STORE_COMMANDS[:5], ids=ids)
def test_a_model_folder_that_does_not_exist(args: list[str], tmp_path: Path) -> None:
    model = tmp_path / "モデル"
    line = one_error(kura(args, tmp_path, KURA_EMBED_MODEL=str(model)))
    assert f"KURA_EMBED_MODEL={str(model)!r} is not a local sentence-transformers model" in line
    assert FIX_MODEL in line


@pytest.mark.parametrize("args", [["documents"], ["reindex", "documents"]], ids=ids)
def test_a_model_folder_that_holds_no_model(args: list[str], tmp_path: Path) -> None:
    model = tmp_path / "モデル"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 384}')  # no model_type, no weights
    done = kura(args, tmp_path, KURA_EMBED_MODEL=str(model))
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1
    # sentence-transformers may log a warning of its own first; kura's error is the last line
    line = done.stderr.splitlines()[-1]
    assert line.startswith(f"error: KURA_EMBED_MODEL={str(model)!r} could not be loaded: ")
    assert FIX_MODEL in line


@pytest.mark.parametrize("args", STORE_COMMANDS, ids=ids)
def test_a_malformed_qdrant_url(args: list[str], tmp_path: Path) -> None:
    line = one_error(kura(args, tmp_path, KURA_QDRANT_URL="qdrant:6333"))
    assert line.startswith("error: KURA_QDRANT_URL='qdrant:6333' is not an http:// or https://")


@pytest.mark.parametrize("args", STORE_COMMANDS, ids=ids)
def test_a_qdrant_server_that_does_not_answer(args: list[str], tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = one_error(kura(args, tmp_path, KURA_QDRANT_URL=url))
    assert line.startswith(f"error: the Qdrant server at {url} (KURA_QDRANT_URL) does not answer")
    assert line.endswith("start it, or fix KURA_QDRANT_URL")


@pytest.mark.parametrize("args", [["search", "賃料"], ["keys", "list"]], ids=ids)
def test_a_malformed_ollama_host_is_a_usage_error(args: list[str], tmp_path: Path) -> None:
    line = one_error(kura(args, tmp_path, KURA_OLLAMA_HOST="ollama:11434"), code=2)
    assert "KURA_OLLAMA_HOST names LLM host 'ollama:11434', which is not an http" in line


def test_a_setting_out_of_range_is_named(tmp_path: Path) -> None:
    line = one_error(kura(["documents"], tmp_path, KURA_CHUNK_SIZE="十"), code=2)
    assert line.startswith("error: KURA_CHUNK_SIZE: ")
    assert "十" not in line  # a value is never echoed: it may be a secret


def test_kura_serve_does_not_start_on_a_data_folder_that_is_a_file(tmp_path: Path) -> None:
    data = tmp_path / "データ"
    data.write_text("not a folder")
    args = ["serve", "--port", str(free_port())]
    line = one_error(kura(args, tmp_path, KURA_DATA_DIR=str(data)))  # not a logged traceback
    assert line.startswith(f"error: KURA_DATA_DIR={data} cannot be used: {data} is a file")


def test_kura_serve_does_not_start_on_a_missing_model(tmp_path: Path) -> None:
    model = tmp_path / "モデル"
    line = one_error(
        kura(["serve", "--port", str(free_port())], tmp_path, KURA_EMBED_MODEL=str(model))
    )
    assert f"KURA_EMBED_MODEL={str(model)!r} is not a local" in line
