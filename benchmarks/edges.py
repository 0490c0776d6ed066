"""What a hostile client's large bodies cost kura: bytes it takes in before refusing, time to
the refusal, memory, and the size of a 422 — each against what the client tried to send.

- an anonymous 300 MB upload (keys on): bytes the server took before its 401;
- an authenticated 100 MB JSON body: bytes taken before the 413, and the process's peak RSS
  growth (server and client share this process; the client streams, so it adds little);
- an authenticated 3 MB invalid JSON body (under the limit): the 422's size.

Usage: .venv/bin/python benchmarks/edges.py [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts the repository root on sys.path, for tests.support)

import ingest  # noqa: F401
from app.keys import KeyStore
from tests.support.server import LiveServer, make_settings

MB = 1024 * 1024
CHUNK = b"x" * MB


def push(port: int, head: str, total: int, prefix: bytes = b"") -> tuple[int, float, str]:
    """Send ``head`` and ``prefix``, then bytes up to ``total`` in all until the server
    answers; (bytes sent, seconds to the answer, status line)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + prefix)
    sock.setblocking(False)
    sent = len(prefix)
    started = time.perf_counter()
    reply = b""
    try:
        while b"\r\n" not in reply:
            try:
                reply += sock.recv(65536)
                if not reply:
                    break
                continue
            except BlockingIOError:
                pass
            if sent < total:
                try:
                    sent += sock.send(CHUNK[: min(MB, total - sent)])
                except BlockingIOError:
                    time.sleep(0.001)
                except OSError:
                    sock.setblocking(True)
                    reply += sock.recv(65536)
                    break
            else:
                time.sleep(0.001)
        seconds = time.perf_counter() - started
    finally:
        sock.close()
    return sent, seconds, reply.split(b"\r\n", 1)[0].decode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp), auth="keys")
        with KeyStore(settings.state_path) as store:
            key, _ = store.create("bench", ["it"], admin=True)
        server = LiveServer(settings)
        with server as client:
            client.put(
                "/v1/collections/bench",
                json={"name": "bench"},
                headers={"Authorization": f"Bearer {key}"},
            )
            port = server.port
            total = 300 * MB
            sent, seconds, status = push(
                port,
                f"POST /v1/collections/bench/documents HTTP/1.1\nHost: 127.0.0.1:{port}\n"
                f"Content-Type: multipart/form-data; boundary=b\nContent-Length: {total}\n",
                total,
                b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n'
                b"Content-Type: text/plain\r\n\r\n",
            )
            figures["anonymous_upload"] = {
                "status": status,
                "announced_mb": total / MB,
                "sent_before_answer_mb": round(sent / MB, 1),
                "share_sent": round(sent / total, 3),
                "seconds_to_answer": round(seconds, 3),
            }
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            total = 100 * MB
            sent, seconds, status = push(
                port,
                f"POST /v1/search HTTP/1.1\nHost: 127.0.0.1:{port}\n"
                "Content-Type: application/json\n"
                f"Authorization: Bearer {key}\nContent-Length: {total}\n",
                total,
            )
            rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            figures["json_100mb"] = {
                "status": status,
                "sent_before_answer_mb": round(sent / MB, 1),
                "share_sent": round(sent / total, 3),
                "seconds_to_answer": round(seconds, 3),
                "peak_rss_growth_mb": round((rss_after - rss_before) / 1024, 1),
            }
            invalid = json.dumps({"query": ["E-417 " * (3 * MB // 6)]})
            response = client.post(
                "/v1/search",
                content=invalid,
                headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
            )
            figures["invalid_json"] = {
                "status": response.status_code,
                "body_mb": round(len(invalid) / MB, 2),
                "response_bytes": len(response.content),
                "ratio_response_to_body": round(len(response.content) / len(invalid), 6),
            }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for name, values in figures.items():
        print(name, " ".join(f"{k}={v}" for k, v in values.items()))  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
