"""A stand-in for a Qdrant server, for tests and benchmarks only: Qdrant's REST protocol in front
of qdrant-client's local mode, so that several kura processes share one store.

No Qdrant server can be installed here (docs/scale-out), and the embedded store takes one
process, yet several `kura worker` processes must write one collection. This serves the REST
routes kura's server path uses (``KURA_QDRANT_URL``; qdrant-client's REST client, its routes
and bodies as in ``qdrant_client/http/api/*_api.py``), parses every body into qdrant-client's
own request models and answers with its response models, so kura's production code talks to
it unchanged. Behind it, qdrant-client's local mode: exact search, filters, sparse vectors,
the Query API with fusion (docs/DESIGN.md "Facts measured here"). One request at a time, as
local mode takes; a real server writes in parallel, so figures measured through this are a
floor. Unknown routes answer 404 with Qdrant's error body, so a missing one shows at once.
With ``record=True`` it keeps every exchange (``Exchange``: the request as sent, the bytes
answered), for tests that check what kura asks for and benchmarks that count what it moves.

Run it alone: ``python -m tests.support.qdrant_standin --port 6333``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from typing import Any

from pydantic import BaseModel
from qdrant_client import QdrantClient
from qdrant_client.http import models

Handler = Callable[[QdrantClient, str, dict[str, Any]], Any]


@dataclass(frozen=True)
class Exchange:
    """One request the stand-in answered: method, path, JSON body, and the response's size."""

    method: str
    path: str
    body: dict[str, Any]
    answered: int  # bytes of the response body


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    return value


def _create(client: QdrantClient, name: str, body: dict[str, Any]) -> bool:
    spec = models.CreateCollection.model_validate(body)
    return client.create_collection(
        name, vectors_config=spec.vectors, sparse_vectors_config=spec.sparse_vectors
    )


def _index(client: QdrantClient, name: str, body: dict[str, Any]) -> Any:
    models.CreateFieldIndex.model_validate(body)
    if not client.collection_exists(name):
        raise KeyError(f"Collection {name} not found")
    # Local mode has no payload indexes (it says so in a warning, an error under pytest):
    # acknowledged as a server does, filters work the same without.
    return models.UpdateResult(operation_id=0, status=models.UpdateStatus.COMPLETED)


def _upsert(client: QdrantClient, name: str, body: dict[str, Any]) -> Any:
    if "batch" in body:
        batch = models.PointsBatch.model_validate(body)
        return client.upsert(name, points=batch.batch)
    return client.upsert(name, points=models.PointsList.model_validate(body).points)


def _retrieve(client: QdrantClient, name: str, body: dict[str, Any]) -> Any:
    spec = models.PointRequest.model_validate(body)
    return client.retrieve(
        name,
        spec.ids,
        with_payload=spec.with_payload if spec.with_payload is not None else True,
        with_vectors=spec.with_vector if spec.with_vector is not None else False,
    )


def _selector(body: dict[str, Any]) -> models.PointsSelector:
    if "points" in body:
        return models.PointIdsList.model_validate(body)
    return models.FilterSelector.model_validate(body)


def _delete(client: QdrantClient, name: str, body: dict[str, Any]) -> Any:
    return client.delete(name, points_selector=_selector(body))


def _set_payload(client: QdrantClient, name: str, body: dict[str, Any]) -> Any:
    spec = models.SetPayload.model_validate(body)
    points: Any = spec.points if spec.points is not None else spec.filter
    return client.set_payload(name, spec.payload, points=points, key=spec.key)


def _scroll(client: QdrantClient, name: str, body: dict[str, Any]) -> Any:
    spec = models.ScrollRequest.model_validate(body)
    points, following = client.scroll(
        name,
        scroll_filter=spec.filter,
        limit=spec.limit or 10,
        offset=spec.offset,
        with_payload=spec.with_payload if spec.with_payload is not None else True,
        with_vectors=spec.with_vector if spec.with_vector is not None else False,
        order_by=spec.order_by,
    )
    return {"points": _dump(points), "next_page_offset": following}


def _count(client: QdrantClient, name: str, body: dict[str, Any]) -> Any:
    spec = models.CountRequest.model_validate(body)
    return client.count(name, count_filter=spec.filter, exact=spec.exact is not False)


def _query_one(client: QdrantClient, name: str, spec: models.QueryRequest) -> Any:
    return client.query_points(
        name,
        query=spec.query,  # type: ignore[arg-type]
        using=spec.using,
        prefetch=spec.prefetch,
        query_filter=spec.filter,
        search_params=spec.params,
        limit=spec.limit or 10,
        offset=spec.offset,
        with_payload=spec.with_payload if spec.with_payload is not None else False,
        with_vectors=spec.with_vector if spec.with_vector is not None else False,
        score_threshold=spec.score_threshold,
    )


def _query(client: QdrantClient, name: str, body: dict[str, Any]) -> Any:
    return _query_one(client, name, models.QueryRequest.model_validate(body))


def _query_batch(client: QdrantClient, name: str, body: dict[str, Any]) -> Any:
    batch = models.QueryRequestBatch.model_validate(body)
    return [_query_one(client, name, spec) for spec in batch.searches]


def _update(client: QdrantClient, name: str, body: dict[str, Any]) -> Any:
    spec = models.UpdateCollection.model_validate(body)
    return client.update_collection(
        name, sparse_vectors_config=spec.sparse_vectors, metadata=spec.metadata
    )


def _aliases(client: QdrantClient, name: str, body: dict[str, Any]) -> Any:
    spec = models.ChangeAliasesOperation.model_validate(body)
    return client.update_collection_aliases(change_aliases_operations=spec.actions)


_C = r"/collections/(?P<name>[^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"/(?P<name>aliases)"), lambda c, n, b: c.get_aliases()),
    ("POST", re.compile(r"/collections/(?P<name>aliases)"), _aliases),
    ("GET", re.compile(rf"{_C}/aliases"), lambda c, n, b: c.get_collection_aliases(n)),
    ("PATCH", re.compile(_C), _update),
    ("GET", re.compile(rf"{_C}/exists"), lambda c, n, b: {"exists": c.collection_exists(n)}),
    ("GET", re.compile(_C), lambda c, n, b: c.get_collection(n)),
    ("PUT", re.compile(_C), _create),
    ("DELETE", re.compile(_C), lambda c, n, b: c.delete_collection(n)),
    ("PUT", re.compile(rf"{_C}/index"), _index),
    ("PUT", re.compile(rf"{_C}/points"), _upsert),
    ("POST", re.compile(rf"{_C}/points"), _retrieve),
    ("POST", re.compile(rf"{_C}/points/delete"), _delete),
    ("POST", re.compile(rf"{_C}/points/payload"), _set_payload),
    ("POST", re.compile(rf"{_C}/points/scroll"), _scroll),
    ("POST", re.compile(rf"{_C}/points/count"), _count),
    ("POST", re.compile(rf"{_C}/points/query"), _query),
    ("POST", re.compile(rf"{_C}/points/query/batch"), _query_batch),
]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    _request: tuple[str, str, dict[str, Any]]

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read their own output."""

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        if self.server.exchanges is not None:
            self.server.exchanges.append(Exchange(*self._request, len(data)))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        path = self.path.split("?", 1)[0]
        self._request = (method, path, body)
        started = time.perf_counter()
        if method == "GET" and path == "/":
            self._answer(200, {"title": "qdrant stand-in", "version": version("qdrant-client")})
            return
        if method == "GET" and path in ("/healthz", "/readyz", "/livez"):
            self._answer(200, {"title": "ok"})
            return
        if method == "GET" and path == "/collections":
            with self.server.lock:
                names = self.server.client.get_collections().collections
            self._answer(200, {"result": _dump(models.CollectionsResponse(collections=names))})
            return
        for route_method, pattern, handler in ROUTES:
            match = pattern.fullmatch(path)
            if route_method != method or match is None:
                continue
            try:
                with self.server.lock:
                    result = handler(self.server.client, match["name"], body)
            except (ValueError, KeyError) as exc:  # what local mode raises for a bad request
                # as Qdrant answers: 409 for a collection created twice, 404 for a missing one
                text = str(exc)
                status = 409 if "already exists" in text else 404 if "not found" in text else 400
                self._answer(status, {"status": {"error": text}, "result": None})
                return
            took = time.perf_counter() - started
            self._answer(200, {"result": _dump(result), "status": "ok", "time": took})
            return
        self._answer(404, {"status": {"error": f"Not found: {method} {path}"}, "result": None})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, location: str, record: bool = False) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.exchanges: list[Exchange] | None = [] if record else None
        self.client = QdrantClient(location=location) if location == ":memory:" else None
        if self.client is None:
            self.client = QdrantClient(path=location)
        self.lock = threading.Lock()  # local mode is not safe for concurrent use


class QdrantStandin:
    """The stand-in on a loopback port, in a thread: ``with QdrantStandin() as url: ...``;
    ``exchanges``: what it answered, when made with ``record=True``."""

    def __init__(self, port: int = 0, location: str = ":memory:", record: bool = False) -> None:
        self._server = _Server(port, location, record)
        self.exchanges = self._server.exchanges
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._server.client.close()  # type: ignore[union-attr]


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=6333)
    parser.add_argument("--path", default=":memory:", help="a folder, or :memory:")
    args = parser.parse_args()
    server = _Server(args.port, args.path)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
