"""The write path and the side channels of access control, over real HTTP with two users.

``legal`` (ann) and ``staff`` (bob) may both read and write collection ``shared``; a contract
only ``legal`` may read holds a unique marker, in English and Japanese. Each test is a way the
staff user could learn or destroy that contract, or act as someone else.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.keys import KeyStore
from tests.support.ollama_standin import OllamaStandin, StandinState
from tests.support.server import LiveServer, make_settings

pytestmark = pytest.mark.integration

MARKER = "QUILLFEATHER-9317"
CONTRACT = (
    f"Confidential settlement {MARKER}: Acme pays Borealis 3.2 million euros to end the "
    "patent dispute.\n\n"
    f"第5条 秘密保持 {MARKER} の和解金は三百二十万ユーロとする。"
)
STAFF_TEXT = "Staff rota: the front desk is staffed from 08:00 to 18:00 on weekdays."
METRICS_TOKEN = "metrics-scraper-token-0123456789"


@dataclass
class Ctx:
    client: httpx.Client
    admin: str
    legal: str
    staff: str
    proxy: str
    contract_id: str
    state_path: object


def auth(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


def upload(
    client: httpx.Client,
    key: str,
    files: list[tuple[str, str | bytes]],
    *,
    expect: int = 202,
    **form: str,
) -> dict:
    response = client.post(
        "/v1/collections/shared/documents",
        files=[("files", (name, body)) for name, body in files],
        data=form,
        headers=auth(key),
    )
    assert response.status_code == expect, response.text
    if expect != 202:
        return response.json()
    job_id = response.json()["job_id"]
    for _ in range(300):
        job = client.get(f"/v1/jobs/{job_id}", headers=auth(key)).json()
        if job["status"] == "done":
            return job
        time.sleep(0.2)
    raise AssertionError("the upload job did not finish")


def search(client: httpx.Client, key: str, query: str, **extra: object) -> list[dict]:
    response = client.post(
        "/v1/search",
        json={"query": query, "collection": "shared", "top_k": 50, **extra},
        headers=auth(key),
    )
    assert response.status_code == 200, response.text
    return response.json()["passages"]


def documents(client: httpx.Client, key: str) -> list[dict]:
    response = client.get("/v1/collections/shared/documents", headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()["documents"]


def legal_sees_the_contract_intact(ctx: Ctx) -> None:
    doc = ctx.client.get(
        f"/v1/collections/shared/documents/{ctx.contract_id}", headers=auth(ctx.legal)
    ).json()
    assert "contract.txt" in [v["source"] for v in doc["versions"]]
    texts = [
        p["text"] for p in search(ctx.client, ctx.legal, MARKER, filters={"all_versions": True})
    ]
    assert any(MARKER in t for t in texts)


def staff_never_sees_the_marker(ctx: Ctx) -> None:
    for mode in ("hybrid", "sparse", "dense"):
        for filters in ({}, {"all_versions": True}):
            found = search(ctx.client, ctx.staff, MARKER, mode=mode, filters=filters)
            assert all(MARKER not in p["text"] for p in found), (mode, filters)
    listed = json.dumps(documents(ctx.client, ctx.staff))
    assert MARKER not in listed
    assert ctx.contract_id not in listed


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctx]:
    data_dir = tmp_path_factory.mktemp("access-writes")
    settings = make_settings(data_dir, auth="keys")
    with KeyStore(settings.state_path) as store:
        admin, _ = store.create("root", ["it"], admin=True)
        legal, _ = store.create("ann", ["legal"])
        staff, _ = store.create("bob", ["staff"])
        proxy, record = store.create("openwebui", [], proxy=True)
        store.map_proxy_user(record.id, "ann@corp.example", "ann", ["legal"])
        store.map_proxy_user(record.id, "bob@corp.example", "bob", ["staff"])
    with OllamaStandin(StandinState()) as ollama:
        settings = make_settings(
            data_dir, ollama_host=ollama.url, auth="keys", metrics_token=METRICS_TOKEN
        )
        with LiveServer(settings) as client:
            created = client.post(
                "/v1/collections",
                json={
                    "name": "shared",
                    "read_groups": ["legal", "staff"],
                    "write_groups": ["legal", "staff"],
                },
                headers=auth(admin),
            )
            assert created.status_code == 201, created.text
            job = upload(client, legal, [("contract.txt", CONTRACT)], groups="legal")
            upload(client, staff, [("rota.txt", STAFF_TEXT)])
            contract_id = job["files"][0]["document_id"]
            yield Ctx(client, admin, legal, staff, proxy, contract_id, settings.state_path)


# -- 1. versions ----------------------------------------------------------------------------


def test_a_new_version_by_name_of_a_hidden_document_is_a_document_of_its_own(ctx: Ctx) -> None:
    job = upload(
        ctx.client,
        ctx.staff,
        [("contract.txt", "Staff draft of a settlement template, nothing agreed yet.")],
        version_label="v2",
    )
    assert job["files"][0]["status"] == "indexed"
    assert job["files"][0]["document_id"] != ctx.contract_id
    staff_never_sees_the_marker(ctx)
    legal_sees_the_contract_intact(ctx)
    mine = [d for d in documents(ctx.client, ctx.staff) if d["source"] == "contract.txt"]
    assert [len(d["versions"]) for d in mine] == [1]


def test_version_of_a_hidden_document_is_refused_like_a_missing_one(ctx: Ctx) -> None:
    body = "Staff edits to the settlement."
    hidden = upload(
        ctx.client,
        ctx.staff,
        [("edit.txt", body)],
        version_label="v3",
        version_of=ctx.contract_id,
        expect=404,
    )
    missing = upload(
        ctx.client,
        ctx.staff,
        [("edit.txt", body)],
        version_label="v3",
        version_of="00000000-0000-0000-0000-000000000000",
        expect=404,
    )
    assert hidden == missing == {"detail": "no such document"}
    staff_never_sees_the_marker(ctx)
    legal_sees_the_contract_intact(ctx)


def test_a_reader_of_every_version_adds_one_and_the_readers_stay(ctx: Ctx) -> None:
    job = upload(
        ctx.client,
        ctx.legal,
        [("contract-2025.txt", CONTRACT + "\n\nAmended: payment due in 2025.")],
        version_label="2025",
        version_of=ctx.contract_id,
    )
    assert job["files"][0]["status"] == "indexed"
    assert job["files"][0]["document_id"] == ctx.contract_id
    doc = ctx.client.get(
        f"/v1/collections/shared/documents/{ctx.contract_id}", headers=auth(ctx.legal)
    ).json()
    assert len(doc["versions"]) == 2
    # No groups given: the new version keeps the document's readers, not the collection's.
    staff_never_sees_the_marker(ctx)
    gone = ctx.client.get(
        f"/v1/collections/shared/documents/{ctx.contract_id}", headers=auth(ctx.staff)
    )
    assert gone.status_code == 404
    version = next(v for v in doc["versions"] if v["version_label"] == "2025")
    assert version["source"] == "contract-2025.txt"
    # Naming other readers changes them for every version, and the job says so.
    widened = upload(
        ctx.client,
        ctx.legal,
        [("contract-2026.txt", CONTRACT + "\n\n2026 の改定。")],
        version_label="2026",
        version_of=ctx.contract_id,
        groups="legal,it",
    )
    assert widened["files"][0]["note"] == (
        "readers of every version changed from legal to it, legal"
    )
    it_reads = search(ctx.client, ctx.admin, MARKER, mode="sparse", filters={"all_versions": True})
    assert {p["version_label"] for p in it_reads if p["document_id"] == ctx.contract_id} == {
        "",
        "2025",
        "2026",
    }
    staff_never_sees_the_marker(ctx)


# -- 2. replacing by upload -----------------------------------------------------------------


def test_a_plain_upload_cannot_replace_a_hidden_document(ctx: Ctx) -> None:
    job = upload(ctx.client, ctx.staff, [("contract.txt", "Staff's own contract list, v1.")])
    assert job["files"][0]["status"] == "indexed"
    assert job["files"][0]["document_id"] != ctx.contract_id
    answer = search(ctx.client, ctx.legal, MARKER, mode="sparse")
    assert any(MARKER in p["text"] for p in answer)
    staff_never_sees_the_marker(ctx)


# -- 3. failures ----------------------------------------------------------------------------


def test_failures_are_listed_only_to_those_who_may_read_the_upload(ctx: Ctx) -> None:
    secret_name = "極秘-kestrel-merger-terms.docx"
    job = upload(
        ctx.client, ctx.legal, [(secret_name, b"PK\x03\x04 not really a zip")], groups="legal"
    )
    assert job["files"][0]["status"] == "failed"
    legal_view = {d["source"]: d for d in documents(ctx.client, ctx.legal)}
    assert legal_view[secret_name]["status"] == "failed"
    assert legal_view[secret_name]["reason"]
    staff_view = json.dumps(documents(ctx.client, ctx.staff), ensure_ascii=False)
    assert "kestrel" not in staff_view
    assert "極秘" not in staff_view
    # The staff user's own failure is theirs to see.
    upload(ctx.client, ctx.staff, [("broken-rota.docx", b"PK\x03\x04 broken")])
    assert "broken-rota.docx" in {d["source"] for d in documents(ctx.client, ctx.staff)}


# -- 4. term statistics -------------------------------------------------------------------


def test_scores_do_not_change_when_a_hidden_document_is_added(ctx: Ctx) -> None:
    upload(ctx.client, ctx.staff, [("probe.txt", "The word zephyrine appears here once.")])
    query = "zephyrine"
    before = {
        mode: [(p["chunk_id"], p["score"]) for p in search(ctx.client, ctx.staff, query, mode=mode)]
        for mode in ("sparse", "hybrid")
    }
    assert before["sparse"]
    upload(
        ctx.client,
        ctx.legal,
        [(f"hidden-{i}.txt", f"Legal memo {i}: zephyrine is the code name.") for i in range(3)],
        groups="legal",
    )
    after = {
        mode: [(p["chunk_id"], p["score"]) for p in search(ctx.client, ctx.staff, query, mode=mode)]
        for mode in ("sparse", "hybrid")
    }
    assert after == before
    # The hidden memos are found by their readers.
    assert len(search(ctx.client, ctx.legal, query, mode="sparse")) == 4


# -- 5. metrics -----------------------------------------------------------------------------


def test_metrics_need_an_operator_and_name_no_collection(ctx: Ctx) -> None:
    assert ctx.client.get("/metrics", headers=auth(ctx.staff)).status_code == 403
    assert ctx.client.get("/metrics", headers=auth(ctx.proxy)).status_code == 403
    assert ctx.client.get("/metrics", headers=auth("not-the-token")).status_code == 401
    for key in (ctx.admin, METRICS_TOKEN):
        response = ctx.client.get("/metrics", headers=auth(key))
        assert response.status_code == 200
        assert "kura_ingested_documents" in response.text
        assert "shared" not in response.text


# -- 6. identity behind a proxy -------------------------------------------------------------


def test_a_proxy_key_acts_for_the_users_it_names(ctx: Ctx) -> None:
    as_ann = auth(ctx.proxy, **{"X-OpenWebUI-User-Email": "ann@corp.example"})
    as_bob = auth(ctx.proxy, **{"X-OpenWebUI-User-Email": "bob@corp.example"})
    body = {"query": MARKER, "collection": "shared", "top_k": 50, "mode": "sparse"}
    ann = ctx.client.post("/v1/search", json=body, headers=as_ann)
    assert ann.status_code == 200
    assert any(MARKER in p["text"] for p in ann.json()["passages"])
    bob = ctx.client.post("/v1/search", json=body, headers=as_bob)
    assert bob.status_code == 200
    assert all(MARKER not in p["text"] for p in bob.json()["passages"])
    # Without a user header the proxy is itself: a key with no groups of its own.
    alone = ctx.client.post("/v1/search", json=body, headers=auth(ctx.proxy))
    assert alone.status_code == 404  # it may not read the collection
    stranger = ctx.client.post(
        "/v1/search",
        json=body,
        headers=auth(ctx.proxy, **{"X-OpenWebUI-User-Email": "eve@corp.example"}),
    )
    assert stranger.status_code == 403
    assert "eve@corp.example" in stranger.json()["detail"]
    # Ordinary keys may never act for someone else, whatever they send.
    spoof = ctx.client.post(
        "/v1/search",
        json=body,
        headers=auth(ctx.staff, **{"X-OpenWebUI-User-Email": "ann@corp.example"}),
    )
    assert spoof.status_code == 200
    assert all(MARKER not in p["text"] for p in spoof.json()["passages"])
    # The role header is never trusted for admin rights.
    admin_claim = ctx.client.get(
        "/v1/audit",
        headers=auth(
            ctx.proxy,
            **{"X-OpenWebUI-User-Email": "ann@corp.example", "X-OpenWebUI-User-Role": "admin"},
        ),
    )
    assert admin_claim.status_code == 403


def test_the_audit_records_the_proxy_and_the_end_user(ctx: Ctx) -> None:
    question = "What is the rota of the front desk?"
    answer = ctx.client.post(
        "/v1/query",
        json={"question": question, "collection": "shared"},
        headers=auth(ctx.proxy, **{"X-OpenWebUI-User-Email": "bob@corp.example"}),
    )
    assert answer.status_code == 200, answer.text
    records = ctx.client.get(
        "/v1/audit", params={"user": "bob", "limit": 50}, headers=auth(ctx.admin)
    ).json()
    record = next(r for r in records if r["question"] == question)
    assert record["user"] == "bob"
    assert record["proxy"] == {"user": "openwebui", "key_id": ctx.proxy.split("_")[1]}
    assert record["access"]["groups"] == ["*", "staff"]


# -- 7. failed authentication ---------------------------------------------------------------


def test_failed_authentication_is_rate_limited_per_address(
    ctx: Ctx, caplog: pytest.LogCaptureFixture
) -> None:
    # uvicorn takes the client address from X-Forwarded-For sent by a trusted local proxy.
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    guesses = [f"kura_{i:012x}_{'A' * 43}" for i in range(200)]
    statuses = []
    with caplog.at_level(logging.INFO):
        for guess in guesses:
            response = ctx.client.get("/v1/collections", headers={**auth(guess), **attacker})
            statuses.append(response.status_code)
    assert statuses[0] == 401
    assert statuses.count(401) <= 20
    assert statuses[-1] == 429
    last = ctx.client.get("/v1/collections", headers={**auth(guesses[0]), **attacker})
    assert last.status_code == 429
    assert int(last.headers["retry-after"]) > 0
    assert "too many failed" in last.json()["detail"]
    # While blocked, a right key from that address still passes: everyone behind one address
    # (Open WebUI's server, a NAT) must not be locked out by one stale key. Others go on too.
    assert (
        ctx.client.get("/v1/collections", headers={**auth(ctx.staff), **attacker}).status_code
        == 200
    )
    assert (
        ctx.client.get("/v1/collections", headers={**auth(guesses[1]), **attacker}).status_code
        == 429
    )
    # The operator is told once which address is blocked.
    blocked = [r for r in caplog.records if "203.0.113.7" in r.getMessage()]
    assert len(blocked) == 1, [r.getMessage() for r in blocked]
    assert blocked[0].levelname == "WARNING"
    other = {"X-Forwarded-For": "198.51.100.4"}
    assert (
        ctx.client.get("/v1/collections", headers={**auth(ctx.staff), **other}).status_code == 200
    )
    # No key, right or wrong, reaches the logs.
    assert not any(guess in r.getMessage() for r in caplog.records for guess in guesses[:3])


def test_what_held_still_holds(ctx: Ctx, caplog: pytest.LogCaptureFixture) -> None:
    """Hashed keys, an owner-only state file, immediate revocation, no keys or questions in
    the logs."""
    state = Path(str(ctx.state_path))
    assert state.stat().st_mode & 0o777 == 0o600
    with KeyStore(state) as store:
        key, record = store.create("carol", ["staff"])
        assert key.split("_", 2)[2] not in state.read_bytes().decode("latin-1")
        question = "Wie spät öffnet der Empfang? 受付は何時に開きますか"
        with caplog.at_level(logging.DEBUG):
            asked = ctx.client.post(
                "/v1/query",
                json={"question": question, "collection": "shared"},
                headers={**auth(key), "X-Forwarded-For": "192.0.2.10"},
            )
            assert asked.status_code == 200
            store.revoke(record.id)
            again = ctx.client.get(
                "/v1/collections", headers={**auth(key), "X-Forwarded-For": "192.0.2.10"}
            )
            assert again.status_code == 401
    logged = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert key not in logged
    assert key.split("_", 2)[2] not in logged
    assert "受付は何時" not in logged
    assert "Empfang" not in logged


# -- 2, last: the staff user then knows the text; still not the document ----------------------


def test_uploading_the_same_bytes_as_a_hidden_document_does_not_open_it(ctx: Ctx) -> None:
    same = upload(ctx.client, ctx.staff, [("contract.txt", CONTRACT)])
    mine = same["files"][0]["document_id"]
    assert mine != ctx.contract_id
    found = search(ctx.client, ctx.staff, MARKER, mode="sparse", filters={"all_versions": True})
    assert {p["document_id"] for p in found if MARKER in p["text"]} == {mine}
    legal_sees_the_contract_intact(ctx)
    gone = ctx.client.get(
        f"/v1/collections/shared/documents/{ctx.contract_id}", headers=auth(ctx.staff)
    )
    assert gone.status_code == 404
