"""Nothing leaves the machine: ingestion and answering connect only to loopback."""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path
from typing import Any

import pytest

from app.answer import Ask, answer_question
from app.llm import OllamaLLM
from app.retrieve import Retriever
from ingest.components import build_components
from ingest.pipeline import Indexer, Status
from tests.support.corpus import build_corpus
from tests.support.ollama_standin import OllamaStandin
from tests.support.server import LiveServer, make_settings
from tests.support.sockets import record_sockets

pytestmark = pytest.mark.integration


def _is_loopback(event: str, target: Any) -> bool:
    if event == "socket.getaddrinfo":
        return target in ("127.0.0.1", "localhost", "::1", None)
    if isinstance(target, tuple):
        return ipaddress.ip_address(target[0]).is_loopback
    return isinstance(target, str | bytes)  # AF_UNIX paths stay on the machine


def test_ingest_search_and_answer_stay_on_loopback(tmp_path: Path) -> None:
    corpus = build_corpus(tmp_path / "docs")
    with OllamaStandin() as standin:
        settings = make_settings(tmp_path / "data", standin.url)
        with record_sockets() as sockets:  # every thread: nothing anywhere may leave
            components = build_components(settings)
            report = Indexer(components, "offline").ingest_paths([corpus])
            answer = answer_question(
                Retriever(components, settings),
                OllamaLLM(settings),
                Ask("What does E-417 mean?", collection="offline", top_k=4, effort="low"),
            )
            components.close()
            # The web API too: an upload, a search and a streamed answer over HTTP.
            with LiveServer(settings) as client:
                job = client.post(
                    "/v1/collections/offline/documents",
                    files=[("files", ("note.txt", b"The loading dock closes at 18:00."))],
                ).json()["job_id"]
                while client.get(f"/v1/jobs/{job}").json()["status"] != "done":
                    time.sleep(0.2)
                body = {"query": "loading dock", "collection": "offline"}
                assert client.post("/v1/search", json=body).json()["passages"]
                streamed = client.post(
                    "/v1/query",
                    json={
                        "question": "When does the loading dock close?",
                        "collection": "offline",
                        "stream": True,
                    },
                )
                assert "event: done" in streamed.text
    assert report.count(Status.FAILED) == 0
    assert answer.citations
    connects = [target for event, target in sockets.seen if event == "socket.connect"]
    assert connects, "the Ollama call was not seen"
    outside = [(e, t) for e, t in sockets.seen if not _is_loopback(e, t)]
    assert outside == []


def test_spacy_model_download_is_disabled() -> None:
    from ingest.offline import make_unstructured_offline

    make_unstructured_offline()
    from unstructured.nlp import tokenize

    with pytest.raises(RuntimeError, match="offline"):
        tokenize._install_spacy_model()
    assert tokenize.sent_tokenize("First one. Second one.") == ["First one.", "Second one."]
