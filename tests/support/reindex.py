"""A server's reindex held mid-copy, and what its tests share (test_reindex_live,
test_reindex_writes): a data folder with keys, bearer headers, polling a reindex's state."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.keys import KeyStore
from ingest import reindex as reindex_module
from ingest.components import build_components
from ingest.pipeline import Indexer
from tests.support.data_copy import copy_data
from tests.support.server import make_settings

# English and Japanese manuals the runtime and reindex tests build collections of, and
# questions of them in both languages.
DOCS = {
    "pump.md": "# Coolant pump\n\nThe coolant pump stops with fault code E-417 when the filter "
    "is blocked. Clean the filter and restart the pump.\n",
    "lease.md": "# Lease\n\nThe tenant pays the rent on the first day of each month by bank "
    "transfer.\n",
    "hoshu.md": "# 空調設備\n\n空調設備の保守点検は毎月第一月曜日に行う。"
    "点検記録は五年間保存する。\n",
    "ponpu.md": "# 冷却ポンプ\n\nフィルターが詰まると冷却ポンプは停止します。\n",
}
QUERIES = ["why does the pump stop", "when is the rent paid", "点検記録の保存期間", "ポンプの停止"]


def written(folder: Path, texts: dict[str, str] = DOCS) -> Path:
    """``folder``, made, holding one file per name in ``texts`` (UTF-8)."""
    folder.mkdir()
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


# A second collection's manual, for tests that check a reindex leaves other collections be.
OTHER = {"forklift.md": "# Forklift\n\nForklift drivers renew their licence every two years.\n"}


def indexed(root: Path, collections: dict[str, dict[str, str]]) -> Path:
    """A data folder under ``root`` with each collection of ``collections`` (name -> the
    texts of its files) indexed by the packaged models."""
    components = build_components(make_settings(root / "data"))
    try:
        for collection, texts in collections.items():
            docs = written(root / collection, texts)
            assert Indexer(components, collection).ingest_paths([docs]).failed == []
    finally:
        components.close()
    return root / "data"


class Gate:
    """Holds the reindex before its second document version until ``open``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reached, self.opened, self.calls = threading.Event(), threading.Event(), 0
        copy = reindex_module._copy

        def gated(*args: Any) -> int:
            self.calls += 1
            if self.calls == 2:
                self.reached.set()
                assert self.opened.wait(120), "the gate was never opened"
            return copy(*args)

        monkeypatch.setattr(reindex_module, "_copy", gated)

    def open(self) -> None:
        self.opened.set()


def keyed(folder: Path, tmp_path: Path) -> tuple[Path, str, str]:
    """A copy of ``folder`` with an admin key and a reader's key."""
    data = copy_data(folder, tmp_path / "data")
    with KeyStore(data / "kura.db") as keys:
        admin, _ = keys.create("admin", admin=True)
        reader, _ = keys.create("tanaka")
    return data, admin, reader


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def poll(
    client: httpx.Client,
    key: str,
    until: Callable[[dict[str, Any]], bool],
    collection: str = "manuals",
) -> Any:
    """The reindex's state (GET) once ``until`` holds for it."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        state = client.get(f"/v1/collections/{collection}/reindex", headers=bearer(key)).json()
        if until(state):
            return state
        time.sleep(0.1)
    raise AssertionError("the reindex did not finish")
