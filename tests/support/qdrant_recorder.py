"""A Qdrant REST peer that records what kura sends when it creates a collection.

qdrant-client's local mode accepts ``shard_number``, ``replication_factor`` and
``write_consistency_factor`` and drops them (``QdrantLocal.create_collection(**kwargs)``), so
the only place to see them is the wire. This server answers the four requests collection
creation makes, with the response shapes of Qdrant's OpenAPI (``{"result", "status", "time"}``),
by running them against a real qdrant-client ``:memory:`` instance, and keeps each request body.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from qdrant_client import QdrantClient, models


@dataclass
class Recorded:
    """One request as it arrived: method, path (no query) and JSON body."""

    method: str
    path: str
    body: dict[str, Any] | None


@dataclass
class RecorderState:
    """The collections made so far (in local mode) and every request seen."""

    local: QdrantClient = field(default_factory=lambda: QdrantClient(location=":memory:"))
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def creates(self) -> list[Recorded]:
        """The create-collection requests (PUT /collections/<name>)."""
        return [r for r in self.requests if r.method == "PUT" and r.path.count("/") == 2]


class _Handler(BaseHTTPRequestHandler):
    state: RecorderState

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the recorded requests instead."""

    def _answer(self, result: Any, status: int = 200) -> None:
        body = json.dumps({"result": result, "status": "ok", "time": 0.0}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        body = json.dumps({"status": {"error": message}, "time": 0.0}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self) -> tuple[list[str], dict[str, Any] | None]:
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        with self.state.lock:
            self.state.requests.append(Recorded(self.command, path, body))
        return path.strip("/").split("/"), body

    def do_GET(self) -> None:
        parts, _ = self._record()
        local = self.state.local
        if len(parts) == 3 and parts[0] == "collections" and parts[2] == "exists":
            self._answer({"exists": local.collection_exists(parts[1])})
        elif len(parts) == 2 and parts[0] == "collections":
            if not local.collection_exists(parts[1]):
                self._error(404, f"Not found: Collection `{parts[1]}` doesn't exist!")
                return
            self._answer(local.get_collection(parts[1]).model_dump(mode="json"))
        else:
            self._error(404, f"not served by the recorder: GET {self.path}")

    def do_PUT(self) -> None:
        parts, body = self._record()
        if len(parts) == 2 and parts[0] == "collections" and body is not None:
            # The body must be a CreateCollection as Qdrant's API defines it.
            create = models.CreateCollection.model_validate(body)
            self.state.local.create_collection(
                parts[1],
                vectors_config=create.vectors,  # type: ignore[arg-type]
                sparse_vectors_config=create.sparse_vectors,
            )
            self._answer(True)
        elif len(parts) == 3 and parts[0] == "collections" and parts[2] == "index":
            # Local mode keeps no payload indexes (it only warns): acknowledge as Qdrant does.
            models.CreateFieldIndex.model_validate(body)
            self._answer({"operation_id": len(self.state.requests), "status": "completed"})
        else:
            self._error(404, f"not served by the recorder: PUT {self.path}")


class QdrantRecorder:
    """The recorder on a loopback port, as a context manager; ``url`` is its base URL."""

    def __init__(self) -> None:
        self.state = RecorderState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> QdrantRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.state.local.close()
