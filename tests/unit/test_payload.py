"""The typed chunk payload: round trip, points written before newer fields, the index lists."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from ingest.payload import (
    CATALOG_FIELDS,
    IN_FORCE,
    INTEGER_INDEXES,
    KEYWORD_INDEXES,
    METADATA_FIELDS,
    PAYLOAD_FIELDS,
    ChunkPayload,
    source_prefixes,
)
from ingest.versions import DocumentVersion
from ingest.visibility import RECORD_FIELD

pytestmark = pytest.mark.unit

CONTRACT = ChunkPayload(
    document_id="d-1",
    document_version="sha-1",
    source="/契約/保守契約.txt",
    source_prefixes=("/契約",),
    title="業務委託契約書",
    doc_type="text",
    section="第3条（支払） > 第2項",
    page_start=2,
    page_end=3,
    chunk_index=4,
    chunk_count=9,
    element_types=("NarrativeText",),
    language="ja",
    allowed_groups=("法務部",),
    ingested_at="2026-11-29T10:00:00+00:00",
    version_label="2026年版",
    effective_date="2026-04-01",
    valid_from=20260401,
    valid_to=IN_FORCE,
    clause="第3条第2項",
    clauses=("第3条", "第3条第2項"),
    references=("第2条",),
    defines=("保守業務",),
    terms=("保守業務", "甲", "乙"),
    flags=(),
)


def test_round_trip_through_stored_json_keeps_every_field() -> None:
    meta = CONTRACT.to_metadata()
    assert list(meta) == list(METADATA_FIELDS)  # the order the writer always used
    assert all(not isinstance(v, tuple) for v in meta.values())  # stored as lists
    stored = json.loads(json.dumps(meta, ensure_ascii=False))
    assert ChunkPayload.from_metadata(stored) == CONTRACT


def test_an_old_point_without_newer_fields_reads_with_the_defaults() -> None:
    old = {"document_id": "d-1", "document_version": "sha-1", "source": "/a/手順書.txt"}
    payload = ChunkPayload.from_metadata(old)
    assert payload.source == "/a/手順書.txt"
    assert payload.chunk_index == 0
    assert payload.page_start is None
    assert (payload.version_label, payload.clause, payload.effective_date) == ("", "", "")
    assert (payload.valid_from, payload.valid_to) == (0, IN_FORCE)
    assert payload.clauses == payload.terms == payload.allowed_groups == payload.flags == ()


def test_nulls_and_foreign_keys_are_tolerated() -> None:
    meta = {
        **CONTRACT.to_metadata(),
        "version_label": None,
        "allowed_groups": None,
        "_node_content": "{}",  # llama-index's own keys are not the payload's
        "doc_id": "d-1",
    }
    payload = ChunkPayload.from_metadata(meta)
    assert payload.version_label == ""
    assert payload.allowed_groups == ()
    assert payload.clauses == CONTRACT.clauses


def test_a_version_reads_from_its_catalogue_point() -> None:
    version = DocumentVersion.from_payload(
        {f: v for f, v in CONTRACT.to_metadata().items() if f in CATALOG_FIELDS}
    )
    assert (version.label, version.chunks, version.valid_from) == ("2026年版", 9, 20260401)
    assert version.allowed_groups == ("法務部",)
    assert DocumentVersion.from_chunk(CONTRACT) == version


def test_every_indexed_and_catalogue_field_is_on_the_model() -> None:
    names = {f.name for f in fields(ChunkPayload)}
    assert set(KEYWORD_INDEXES) - names == {RECORD_FIELD}  # the records' marker, not a chunk's
    assert set(INTEGER_INDEXES) <= names
    assert set(CATALOG_FIELDS) <= names
    assert set(PAYLOAD_FIELDS) == names | {"text"}


def test_source_prefixes_are_every_folder_above() -> None:
    found = source_prefixes("/データ/契約/2026/保守.txt")
    assert found == ["/", "/データ", "/データ/契約", "/データ/契約/2026"]
    assert source_prefixes("C:\\docs\\a.txt") == ["C:", "C:/docs"]
    assert source_prefixes("upload.txt") == []
