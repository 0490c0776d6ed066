"""A hostile but careful probe of access control over real HTTP: prints probes tried / leaks.

Two users share collection ``shared`` (both may read and write): ``legal`` (ann) and ``staff``
(bob). ann uploads a contract only legal may read, with a unique marker, and a file that fails
to index whose name is the secret. Then bob tries every way the API offers to read, find,
count, replace, version or relabel them, to learn from scores or metrics, or to act as ann.

    .venv/bin/python benchmarks/access_probe.py        # exit code 1 when a probe leaks

Runs on a temporary data dir with kura's Ollama stand-in; takes about a minute.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from common import ROOT  # noqa: F401  (puts the repository on sys.path)

from app.keys import KeyStore
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, make_settings

MARKER = "QUILLFEATHER-9317"
CONTRACT = (
    f"Confidential settlement {MARKER}: Acme pays Borealis 3.2 million euros.\n\n"
    f"第5条 秘密保持 {MARKER} の和解金は三百二十万ユーロとする。"
)
SECRET_NAME = "極秘-kestrel-merger-terms.docx"
MISSING = "00000000-0000-0000-0000-000000000000"


@dataclass
class Keys:
    admin: str
    legal: str
    staff: str
    proxy: str


class Probe:
    """The kura under test, and the probes run against it."""

    def __init__(self, client: httpx.Client, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self.results: list[tuple[str, bool]] = []
        self.notes: list[str] = []
        self.contract_id = ""

    def h(self, key: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}", **extra}

    def upload(self, key: str, files: list[tuple[str, str | bytes]], **form: str) -> dict:
        response = self.client.post(
            "/v1/collections/shared/documents",
            files=[("files", f) for f in files],
            data=form,
            headers=self.h(key),
        )
        if response.status_code != 202:
            return {"status_code": response.status_code, "body": response.json()}
        job_id = response.json()["job_id"]
        for _ in range(600):
            job = self.client.get(f"/v1/jobs/{job_id}", headers=self.h(key)).json()
            if job["status"] == "done":
                return {"status_code": 202, "job": job, "job_id": job_id}
            time.sleep(0.1)
        raise RuntimeError("upload did not finish")

    def search(self, key: str, query: str, **extra: object) -> list[dict]:
        body = {"query": query, "collection": "shared", "top_k": 50, **extra}
        response = self.client.post("/v1/search", json=body, headers=self.h(key))
        return list(response.json().get("passages", []))

    def marker_seen_by_staff(self) -> bool:
        for mode in ("hybrid", "sparse", "dense"):
            for filters in ({}, {"all_versions": True}):
                found = self.search(self.keys.staff, MARKER, mode=mode, filters=filters)
                if any(p["document_id"] == self.contract_id for p in found):
                    return True
        return False

    def legal_contract_intact(self) -> bool:
        found = self.search(self.keys.legal, MARKER, mode="sparse", filters={"all_versions": True})
        return any(p["document_id"] == self.contract_id and MARKER in p["text"] for p in found)

    def probe(self, name: str, leaked: Callable[[], bool]) -> None:
        self.results.append((name, bool(leaked())))

    # -- the probes ----------------------------------------------------------------------

    def run(self) -> None:
        keys, c = self.keys, self.client
        legal_job = self.upload(keys.legal, [("contract.txt", CONTRACT)], groups="legal")
        self.contract_id = legal_job["job"]["files"][0]["document_id"]
        self.upload(keys.legal, [(SECRET_NAME, b"PK\x03\x04 broken")], groups="legal")
        self.upload(keys.staff, [("rota.txt", "The front desk opens at 08:00.")])

        self.probe("search, every mode, every version filter", self.marker_seen_by_staff)

        def answers() -> bool:
            for stream in (False, True):
                r = c.post(
                    "/v1/query",
                    json={"question": CONTRACT, "collection": "shared", "stream": stream},
                    headers=self.h(keys.staff),
                )
                if self.contract_id in r.text or "contract.txt" in r.text:
                    return True
            return False

        self.probe("answers, streamed and not, quoting the text", answers)

        def openai() -> bool:
            r = c.post(
                "/v1/chat/completions",
                json={"model": "kura:shared", "messages": [{"role": "user", "content": MARKER}]},
                headers=self.h(keys.staff),
            )
            return self.contract_id in r.text or "contract.txt" in r.text

        self.probe("OpenAI chat completions", openai)

        def listing() -> bool:
            r = c.get("/v1/collections/shared/documents", headers=self.h(keys.staff))
            return self.contract_id in r.text or "kestrel" in r.text or "極秘" in r.text

        self.probe("document list (documents and failures)", listing)

        def counts() -> bool:
            listed = c.get("/v1/collections/shared/documents", headers=self.h(keys.staff)).json()
            indexed = [d for d in listed["documents"] if d["status"] == "indexed"]
            shared = next(
                x
                for x in c.get("/v1/collections", headers=self.h(keys.staff)).json()
                if x["name"] == "shared"
            )
            return bool(shared["documents"] != len(indexed))

        self.probe("document counts", counts)

        def get_delete() -> bool:
            for method in ("GET", "DELETE"):
                hidden = c.request(
                    method,
                    f"/v1/collections/shared/documents/{self.contract_id}",
                    headers=self.h(keys.staff),
                )
                missing = c.request(
                    method,
                    f"/v1/collections/shared/documents/{MISSING}",
                    headers=self.h(keys.staff),
                )
                if (hidden.status_code, hidden.json()) != (missing.status_code, missing.json()):
                    return True
            return False

        self.probe("get/delete by id, against a missing id", get_delete)

        def job_status() -> bool:
            r = c.get(f"/v1/jobs/{legal_job['job_id']}", headers=self.h(keys.staff))
            return r.status_code != 404

        self.probe("another user's upload job", job_status)

        def version_by_name() -> bool:
            self.upload(keys.staff, [("contract.txt", "Staff draft.")], version_label="v2")
            return self.marker_seen_by_staff() or not self.legal_contract_intact()

        self.probe("new version by the hidden document's name", version_by_name)

        def version_of() -> bool:
            hidden = self.upload(
                keys.staff, [("edit.txt", "x")], version_label="v3", version_of=self.contract_id
            )
            missing = self.upload(
                keys.staff, [("edit.txt", "x")], version_label="v3", version_of=MISSING
            )
            refused_alike = hidden.get("status_code") == 404 and hidden == missing
            return not refused_alike or self.marker_seen_by_staff()

        self.probe("version_of the hidden document's id", version_of)

        def replace() -> bool:
            self.upload(keys.staff, [("contract.txt", "Staff's own list.")])
            return not self.legal_contract_intact()

        self.probe("replace by uploading the same name", replace)

        def scores() -> bool:
            self.upload(keys.staff, [("probe.txt", "The word zephyrine appears here once.")])
            before = [
                (p["chunk_id"], p["score"])
                for mode in ("sparse", "hybrid")
                for p in self.search(keys.staff, "zephyrine", mode=mode)
            ]
            self.upload(
                keys.legal, [("memo.txt", "Legal memo: zephyrine is a code name.")], groups="legal"
            )
            after = [
                (p["chunk_id"], p["score"])
                for mode in ("sparse", "hybrid")
                for p in self.search(keys.staff, "zephyrine", mode=mode)
            ]
            return before != after

        self.probe("scores before/after a hidden document with the word", scores)

        def metrics() -> bool:
            r = c.get("/metrics", headers=self.h(keys.staff))
            return r.status_code == 200 or "shared" in r.text

        self.probe("/metrics with a user's key", metrics)

        def spoof() -> bool:
            as_ann = self.h(keys.staff, **{"X-OpenWebUI-User-Email": "ann@corp.example"})
            r = c.post(
                "/v1/search",
                json={"query": MARKER, "collection": "shared", "mode": "sparse"},
                headers=as_ann,
            )
            return self.contract_id in r.text

        self.probe("an ordinary key naming another user", spoof)

        def proxy_stranger() -> bool:
            eve = self.h(keys.proxy, **{"X-OpenWebUI-User-Email": "eve@corp.example"})
            admin = self.h(
                keys.proxy,
                **{"X-OpenWebUI-User-Email": "bob@corp.example", "X-OpenWebUI-User-Role": "admin"},
            )
            unmapped = c.post(
                "/v1/search", json={"query": MARKER, "collection": "shared"}, headers=eve
            )
            return (
                unmapped.status_code != 403 or c.get("/v1/audit", headers=admin).status_code != 403
            )

        self.probe("a proxy key for an unmapped user, or claiming admin", proxy_stranger)

        def brute_force() -> bool:
            attacker = {"X-Forwarded-For": "203.0.113.7"}
            started = time.perf_counter()
            codes = [
                c.get(
                    "/v1/collections",
                    headers={**self.h(f"kura_{i:012x}_{'A' * 43}"), **attacker},
                ).status_code
                for i in range(200)
            ]
            seconds = time.perf_counter() - started
            self.notes.append(
                f"200 wrong keys in {seconds:.2f} s: {codes.count(401)} answered 401, "
                f"{codes.count(429)} answered 429"
            )
            return 429 not in codes

        self.probe("200 wrong keys from one address, unlimited", brute_force)

        self.probe(
            "the legal contract still intact at the end", lambda: not self.legal_contract_intact()
        )


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        settings = make_settings(data_dir, auth="keys")
        with KeyStore(settings.state_path) as store:
            admin, _ = store.create("root", ["it"], admin=True)
            legal, _ = store.create("ann", ["legal"])
            staff, _ = store.create("bob", ["staff"])
            try:
                proxy, record = store.create("openwebui", [], proxy=True)
                store.map_proxy_user(record.id, "ann@corp.example", "ann", ["legal"])
                store.map_proxy_user(record.id, "bob@corp.example", "bob", ["staff"])
            except TypeError:  # a kura without proxy keys: its front-end key is a plain one
                proxy, _ = store.create("openwebui", ["legal", "staff"])
        keys = Keys(admin, legal, staff, proxy)
        with OllamaStandin(StandinState()) as ollama:
            settings = make_settings(data_dir, ollama_host=ollama.url, auth="keys")
            with LiveServer(settings) as client:
                created = client.post(
                    "/v1/collections",
                    json={
                        "name": "shared",
                        "read_groups": ["legal", "staff"],
                        "write_groups": ["legal", "staff"],
                    },
                    headers={"Authorization": f"Bearer {admin}"},
                )
                created.raise_for_status()
                probe = Probe(client, keys)
                started = time.perf_counter()
                probe.run()
    width = max(len(name) for name, _ in probe.results)
    for name, leaked in probe.results:
        print(f"{name:<{width}}  {'LEAK' if leaked else 'held'}")
    for note in probe.notes:
        print(note)
    leaks = sum(leaked for _, leaked in probe.results)
    print(
        f"\nprobes tried: {len(probe.results)}  leaks: {leaks}  "
        f"({time.perf_counter() - started:.0f} s)"
    )
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
