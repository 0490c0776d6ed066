"""kura's logs: `kura serve` writes every line once, in the configured format; questions and
answers appear only with KURA_LOG_TEXT=true."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from ingest.components import build_components
from ingest.pipeline import Indexer
from tests.support.ollama_standin import OllamaStandin
from tests.support.server import COLLECTION, free_port, make_settings

pytestmark = pytest.mark.integration


def serve_briefly(data_dir: Path, **env: str) -> list[str]:
    """Start `kura serve`, wait until it answers, stop it as Ctrl+C would; its stderr lines."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        env={**os.environ, "KURA_DATA_DIR": str(data_dir), "KURA_AUTH": "off", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return err.splitlines()


def test_serve_logs_each_line_once_as_json(tmp_path: Path) -> None:
    lines = [line for line in serve_briefly(tmp_path) if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    messages = [r["msg"] for r in records]
    assert messages.count("Application startup complete.") == 1, lines
    assert len(messages) == len(set(messages)), lines  # nothing written twice


def test_serve_logs_each_line_once_as_text(tmp_path: Path) -> None:
    lines = [line for line in serve_briefly(tmp_path, KURA_LOG_JSON="false") if line.strip()]
    startup = [line for line in lines if "Application startup complete." in line]
    assert len(startup) == 1, lines
    assert " [-] " in startup[0]  # the serve format, with the request id column
    assert not any(line.lstrip().startswith("{") for line in lines), lines


QUESTION = "有給休暇は何日ですか"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    docs = tmp_path_factory.mktemp("docs")
    (docs / "就業規則.txt").write_text(
        "第10条（年次有給休暇）\n入社6か月後に10日の年次有給休暇を与える。\n", encoding="utf-8"
    )
    data = tmp_path_factory.mktemp("data")
    components = build_components(make_settings(data))
    try:
        Indexer(components, COLLECTION).ingest_paths([docs])
    finally:
        components.close()
    return data


def ask(data_dir: Path, standin: OllamaStandin, *, log_text: bool) -> None:
    settings = make_settings(data_dir, standin.url, log_text=log_text)
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        for stream in (False, True):
            resp = client.post("/v1/query", json={"question": QUESTION, "stream": stream})
            assert resp.status_code == 200, resp.text


def text_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if QUESTION in r.getMessage()]


def test_log_text_puts_questions_and_answers_in_the_logs(
    data_dir: Path, standin: OllamaStandin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    ask(data_dir, standin, log_text=True)
    lines = text_lines(caplog)
    assert len(lines) == 2, lines  # the whole answer and the streamed one
    assert any(
        r.name == "app.text" and r.getMessage().startswith("answer: ") for r in caplog.records
    )


def test_without_log_text_no_question_or_answer_is_logged(
    data_dir: Path, standin: OllamaStandin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    ask(data_dir, standin, log_text=False)
    assert text_lines(caplog) == []
    assert not [r for r in caplog.records if r.name == "app.text"]
