"""Helpers for crash tests and the crash benchmark: documents whose versions can be told
apart, a real `kura` process stopped at a named point, and what readers see afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from app.retrieve import retrieve
from ingest.components import Components
from ingest.pipeline import Indexer

KURA = [sys.executable, "-m", "app"]
ROOT = Path(__file__).parents[2]

_EN = (
    "Section {n}. The pump controller {word} checks the coolant loop every cycle and logs "
    "fault code E-{code} when the flow drops below the threshold. Operators must reset the "
    "alarm only after the cause is found, and record the reset in the maintenance book. "
    "The inspection covers the valves, the filter housing, the pressure sensor and the "
    "wiring of the control cabinet, in that order, with the machine isolated from power. "
    "Edition {edition}: this paragraph belongs to revision {edition} of the manual."
)
_JA = (
    "第{n}条 保守業務の範囲は、{word}装置の点検、部品交換及び障害対応とする。受託者は、"
    "委託者の承認を得て作業を行い、作業の結果を書面で報告しなければならない。"
    "点検は月に一回行い、異常を発見したときは直ちに委託者に通知する。"
    "第{edition}版：この条項は契約書の第{edition}版に属する。"
)


def document(language: str, paragraphs: int, edition: int, word: str) -> str:
    """A text whose every chunk names its edition (so versions can be told apart)."""
    template = _EN if language == "en" else _JA
    return "\n\n".join(
        template.format(n=n, word=word, code=400 + n, edition=edition)
        for n in range(1, paragraphs + 1)
    )


def kura_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a `kura` process on ``data_dir`` running this worktree's code."""
    env = {**os.environ, "KURA_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update({f"KURA_{k.upper()}": v for k, v in settings.items()})
    return env


def wait_for(condition, what: str, timeout: float = 240.0, proc=None) -> None:  # type: ignore[no-untyped-def]
    """Poll ``condition`` until it holds; fail naming ``what`` (and a dead process's output)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"kura exited ({proc.returncode}) before {what}:\n{out}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """A `kura` process, its output kept for failures."""
    return subprocess.Popen(
        [*KURA, *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def kill_at(args: list[str], data_dir: Path, point: str, **settings: str) -> None:
    """Run `kura <args>` until it pauses at ``point`` (KURA_TEST_PAUSE_AT), then kill -9 it."""
    name = point.partition(":")[0]
    marker = data_dir / f"paused-{name}"
    marker.unlink(missing_ok=True)
    proc = start(args, kura_env(data_dir, test_pause_at=point, **settings))
    try:
        wait_for(marker.exists, f"the pause at {point}", proc=proc)
    finally:
        kill(proc)
    marker.unlink()


def kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL, as a crash or the OOM killer would."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    if proc.stdout:
        proc.stdout.close()


@dataclass
class Seen:
    """What readers of a collection see, and what is wrong with it."""

    versions: dict[str, set[str]] = field(default_factory=dict)  # document -> versions seen
    chunks: dict[str, int] = field(default_factory=dict)  # document -> chunks in force
    stored: int = 0  # every chunk stored, visible or not
    violations: list[str] = field(default_factory=list)

    def state(self) -> tuple[tuple[str, int], ...]:
        """A short description of the state, for counting distinct states seen."""
        return tuple(sorted((d, len(v)) for d, v in self.versions.items()))


def inspect(components: Components, collection: str, queries: dict[str, str]) -> Seen:
    """Check, through the readers' own paths, that every document is in force in exactly one
    whole version with no chunk twice: the catalogue (document list), counts, scrolls, and a
    search per document (``queries``: source name -> a query that finds it)."""
    seen = Seen()
    if not components.collection_exists(collection):
        return seen
    store = components.vector_store(collection)
    seen.stored = store.count_all()
    indexer = Indexer(components, collection)
    for doc_id, versions in indexer.documents().items():
        name = Path(versions[-1].source).name
        seen.versions[name] = {v.version for v in versions}
        if len(versions) != 1:
            seen.violations.append(f"{name}: {len(versions)} versions in force")
        nodes = store.get_nodes(
            filters=MetadataFilters(filters=[MetadataFilter(key="document_id", value=doc_id)])
        )
        seen.chunks[name] = len(nodes)
        listed = sum(v.chunks for v in versions)
        if len(nodes) != listed:
            seen.violations.append(f"{name}: listed with {listed} chunks, {len(nodes)} readable")
        twice = [k for k, n in Counter(n.metadata["chunk_index"] for n in nodes).items() if n > 1]
        if twice:
            seen.violations.append(f"{name}: chunks {twice[:5]} in force twice")
        if {n.metadata["document_version"] for n in nodes} != seen.versions[name]:
            seen.violations.append(f"{name}: chunks of a version the list does not show")
    for name, query in queries.items():
        found = retrieve(components, collection, query, 50, mode="sparse")
        mine = [p for p in found if Path(p.source).name == name]
        if name in seen.versions and not mine:
            seen.violations.append(f"{name}: listed but not found by search")
        if {p.document_version for p in mine} - seen.versions.get(name, set()):
            seen.violations.append(f"{name}: search finds a version not in force")
    return seen


def read_once(components: Components, collection: str, query: str) -> tuple[set[str], list[str]]:
    """Versions a single read of each kind shows, and what is wrong with any one of them:
    each read alone must show one whole version (readers do not share a snapshot across
    reads, so versions may differ from one read to the next while a writer switches)."""
    store = components.vector_store(collection)
    problems: list[str] = []
    seen: set[str] = set()
    reads = {
        "search": [n.metadata for n in _search(components, collection, query)],
        "scroll": [n.metadata for n in store.get_nodes()],
        "list": [
            {"document_version": v.version, "chunk_count": v.chunks, "chunk_index": i}
            for versions in Indexer(components, collection).documents().values()
            for i, v in enumerate(versions)
        ],
    }
    for kind, metadata in reads.items():
        versions = {m["document_version"] for m in metadata}
        seen |= versions
        if len(versions) != 1:
            problems.append(f"{kind}: {len(versions)} versions")
            continue
        if kind != "list" and len(metadata) != metadata[0]["chunk_count"]:
            problems.append(f"{kind}: {len(metadata)} of {metadata[0]['chunk_count']} chunks")
        if len({m["chunk_index"] for m in metadata}) != len(metadata):
            problems.append(f"{kind}: a chunk twice")
    return seen, problems


def _search(components: Components, collection: str, query: str) -> list[Any]:
    # dense: every chunk in force comes back (the collection holds fewer than top_k)
    from llama_index.core.vector_stores.types import VectorStoreQuery

    store = components.vector_store(collection)
    request = VectorStoreQuery(
        query_embedding=components.embedders.query_embedding(query), similarity_top_k=100
    )
    return list(store.query(request).nodes or [])
