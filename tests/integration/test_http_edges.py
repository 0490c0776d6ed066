"""The HTTP edges a hostile client probes, over real HTTP: long upload names, bodies sent
before a key, oversize bodies, echoed input, foreign Origin and Host headers, the API docs'
own files, and who may read what kura writes to disk."""

from __future__ import annotations

import re
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.keys import KeyStore
from tests.support.server import LiveServer, make_settings

pytestmark = pytest.mark.integration

JA_TEXT = "保守契約の第5条によれば、点検は毎月一回行う。エラー E-417 は冷却水の過熱を示す。"


def wait_job(client: httpx.Client, job_id: str, headers: dict[str, str] | None = None) -> Any:
    for _ in range(600):
        job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] == "done":
            return job
        time.sleep(0.1)
    raise AssertionError("the upload job did not finish")


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    """kura with authentication off (the single-user loopback mode), small body limit."""
    data_dir = tmp_path_factory.mktemp("edges-local")
    with LiveServer(make_settings(data_dir, auth="off", max_body_mb=0.05)) as client:
        created = client.put("/v1/collections/edges", json={"name": "edges"})
        assert created.status_code == 201, created.text
        yield client, data_dir


class Keyed:
    client: httpx.Client
    port: int
    key: str


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyed]:
    """kura with API keys required and small limits, so tests send little to pass them."""
    data_dir = tmp_path_factory.mktemp("edges-keys")
    settings = make_settings(data_dir, auth="keys", max_body_mb=0.05, max_upload_mb=0.5)
    found = Keyed()
    with KeyStore(settings.state_path) as store:
        found.key, _ = store.create("root", ["it"], admin=True)
    server = LiveServer(settings)
    with server as client:
        found.client, found.port = client, server.port
        headers = {"Authorization": f"Bearer {found.key}"}
        created = client.put("/v1/collections/edges", json={"name": "edges"}, headers=headers)
        assert created.status_code == 201, created.text
        yield found


def raw_request(port: int, head: str, body: bytes = b"", wait: float = 10.0) -> str:
    """Send ``head`` (and ``body``) on a raw socket; the status line and headers sent back."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received.decode("latin-1")


# --- upload names --------------------------------------------------------------------------


def test_upload_name_over_255_bytes_is_stored_shortened(local: tuple[httpx.Client, Path]) -> None:
    client, data_dir = local
    name = "あ" * 84 + ".txt"  # 84 characters, 256 bytes of UTF-8
    response = client.post(
        "/v1/collections/edges/documents", files=[("files", (name, JA_TEXT.encode()))]
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["rejected"] == []
    (stored,) = body["accepted"]
    assert stored.endswith(".txt")
    assert len(stored.encode()) <= 200
    assert stored == "あ" * (len(stored) - 4) + ".txt"  # cut between characters
    job = wait_job(client, body["job_id"])
    assert [f["status"] for f in job["files"]] == ["indexed"], job
    staging = data_dir / "uploads" / ".staging"
    assert list(staging.iterdir()) == []
    (original,) = (data_dir / "uploads" / "edges").glob("*/*")
    assert original.name == stored
    assert original.read_text() == JA_TEXT
    found = client.post("/v1/search", json={"query": "冷却水の過熱", "collection": "edges"})
    assert stored in {p["source"] for p in found.json()["passages"]}


def test_uploaded_originals_and_the_store_are_private(local: tuple[httpx.Client, Path]) -> None:
    client, data_dir = local
    response = client.post(
        "/v1/collections/edges/documents",
        files=[("files", ("private.txt", b"Quarterly figures: revenue rose 4 percent."))],
    )
    assert response.status_code == 202
    wait_job(client, response.json()["job_id"])
    (original,) = (data_dir / "uploads" / "edges").glob("*/private.txt")
    assert stat.S_IMODE(original.stat().st_mode) == 0o600
    for folder in (
        original.parent,
        original.parent.parent,
        data_dir / "uploads",
        data_dir / "uploads" / ".staging",
        data_dir,
        data_dir / "qdrant",
    ):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


# --- bodies: the key first, then a size limit, and no echo --------------------------------


def test_a_body_without_a_key_is_refused_before_it_is_read(keyed: Keyed) -> None:
    # The headers announce 300 MB and no byte of it is sent: kura must answer at once.
    for path, kind in [
        ("/v1/collections/edges/documents", "multipart/form-data; boundary=xyz"),
        ("/v1/query", "application/json"),
    ]:
        head = (
            f"POST {path} HTTP/1.1\nHost: 127.0.0.1:{keyed.port}\nContent-Type: {kind}\n"
            f"Content-Length: {300 * 1024 * 1024}\n"
        )
        reply = raw_request(keyed.port, head)
        assert reply.startswith("HTTP/1.1 401"), reply
        bad_key = raw_request(keyed.port, head + "Authorization: Bearer kura_000000000000_x\n")
        assert bad_key.startswith("HTTP/1.1 401"), bad_key


def test_keys_tried_with_bodies_count_as_failed_authentications(
    tmp_path: Path,
) -> None:
    # The check before the body is the routes' own: guessing keys through uploads meets the
    # failure limiter too.
    settings = make_settings(tmp_path, auth="keys", auth_failure_limit=3)
    server = LiveServer(settings)
    with server:
        head = (
            f"POST /v1/collections/edges/documents HTTP/1.1\nHost: 127.0.0.1:{server.port}\n"
            "Content-Type: multipart/form-data; boundary=xyz\n"
            f"Content-Length: {300 * 1024 * 1024}\nAuthorization: Bearer kura_000000000000_x\n"
        )
        replies = [raw_request(server.port, head) for _ in range(4)]
    assert [r.split(" ", 2)[1] for r in replies] == ["401", "401", "401", "429"], replies
    assert "retry-after:" in replies[-1].lower()


def test_oversize_bodies_are_refused_with_413(keyed: Keyed) -> None:
    headers = {"Authorization": f"Bearer {keyed.key}"}
    declared = raw_request(
        keyed.port,
        f"POST /v1/search HTTP/1.1\nHost: 127.0.0.1:{keyed.port}\n"
        f"Content-Type: application/json\nContent-Length: {10 * 1024 * 1024}\n"
        f"Authorization: Bearer {keyed.key}\n",
    )
    assert declared.startswith("HTTP/1.1 413"), declared
    # Sent in chunks without a length: refused once the bytes pass the limit.
    question = '{"query": "' + "E-417 " * 20_000 + '"}'

    def chunks() -> Iterator[bytes]:
        data = question.encode()
        for start in range(0, len(data), 8192):
            yield data[start : start + 8192]

    streamed = keyed.client.post(
        "/v1/search",
        content=chunks(),
        headers={**headers, "content-type": "application/json"},
    )
    assert streamed.status_code == 413
    assert "KURA_MAX_BODY_MB" in streamed.json()["detail"]
    upload = keyed.client.post(
        "/v1/collections/edges/documents",
        files=[("files", ("big.txt", b"x" * (600 * 1024)))],
        headers=headers,
    )
    assert upload.status_code == 413
    assert "KURA_MAX_UPLOAD_MB" in upload.json()["detail"]
    small = keyed.client.post(
        "/v1/search", json={"query": "E-417", "collection": "edges"}, headers=headers
    )
    assert small.status_code == 200, small.text


def test_validation_errors_do_not_echo_large_input(local: tuple[httpx.Client, Path]) -> None:
    client, _ = local
    large = ["保守契約" * 2000]  # a list where a string belongs: 24 kB of UTF-8
    response = client.post("/v1/search", json={"query": large, "collection": "edges"})
    assert response.status_code == 422
    assert len(response.content) < 2000
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "query"]
    assert "input" not in error
    small = client.post("/v1/search", json={"query": "E-417", "top_k": "many"})
    assert small.status_code == 422
    assert small.json()["detail"][0]["input"] == "many"  # small input still helps the caller


# --- Origin and Host with authentication off -----------------------------------------------


def test_a_foreign_origin_cannot_write(local: tuple[httpx.Client, Path]) -> None:
    client, data_dir = local
    files = [("files", ("planted.txt", b"Planted by a web page the user happened to open."))]
    for origin in ("http://evil.example", "null", "http://127.0.0.1:1"):
        refused = client.post(
            "/v1/collections/edges/documents", files=files, headers={"Origin": origin}
        )
        assert refused.status_code == 403, origin
        assert refused.json()["error"] == "CrossSiteRequest"
    assert not list((data_dir / "uploads" / "edges").glob("*/planted.txt"))
    own = client.post(
        "/v1/search",
        json={"query": "E-417", "collection": "edges"},
        headers={"Origin": str(client.base_url).rstrip("/")},
    )
    assert own.status_code == 200
    no_origin = client.post("/v1/search", json={"query": "E-417", "collection": "edges"})
    assert no_origin.status_code == 200  # curl, scripts: not a browser
    read = client.get("/v1/collections", headers={"Origin": "http://evil.example"})
    assert read.status_code == 200  # reads are guarded by the browser's same-origin rule


def test_a_foreign_host_is_not_served_when_auth_is_off(local: tuple[httpx.Client, Path]) -> None:
    client, _ = local
    port = client.base_url.port
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example"):
        response = client.get("/v1/collections", headers={"Host": host})
        assert response.status_code == 400, host
        assert response.json()["error"] == "InvalidHost"
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
        assert client.get("/v1/collections", headers={"Host": host}).status_code == 200, host


def test_with_keys_any_host_is_served_by_default(keyed: Keyed) -> None:
    response = keyed.client.get("/healthz", headers={"Host": "kura.internal.example"})
    assert response.status_code == 200


# --- API docs without a CDN ----------------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_load_only_from_kura(local: tuple[httpx.Client, Path], page: str) -> None:
    client, _ = local
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    urls = re.findall(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)""", html)
    urls += re.findall(r"""(?:url|Url)['"]?\s*:\s*["']([^"']+)""", html)
    assert urls, html
    assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "cdn" not in html.lower()
    assert "fonts.googleapis" not in html
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 500, url
        assert b"cdn." not in asset.content, url  # ReDoc's bundle names a logo on its CDN
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
