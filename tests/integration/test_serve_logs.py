"""`kura serve` as a user runs it: every log line once, in the configured format."""

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

from tests.conftest import free_port

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
