"""The filter builders: the conditions each yields, alone and combined with access."""

from __future__ import annotations

from datetime import date

import pytest
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from ingest import filters
from ingest.filters import (
    access,
    all_of,
    catalogue,
    condition,
    document,
    in_force,
    same_version,
    source_prefix,
    with_access,
)

pytestmark = pytest.mark.unit

EQ, IN = FilterOperator.EQ, FilterOperator.IN


def triples(built: MetadataFilters) -> list[tuple[str, FilterOperator, object]]:
    found = []
    for item in built.filters:
        assert isinstance(item, MetadataFilter), "flat: no nesting"
        found.append((item.key, item.operator, item.value))
    return found


def test_condition_is_equality_by_default() -> None:
    assert condition("language", "ja") == MetadataFilter(key="language", value="ja")
    ranged = condition("page_end", 3, FilterOperator.GTE)
    assert (ranged.key, ranged.operator, ranged.value) == ("page_end", FilterOperator.GTE, 3)


def test_access_is_any_of_the_groups() -> None:
    assert access(["法務部", "営業部"]) == MetadataFilter(
        key="allowed_groups", value=["法務部", "営業部"], operator=IN
    )


def test_in_force_is_a_range_on_the_validity() -> None:
    expected = [
        ("valid_from", FilterOperator.LTE, 20260401),
        ("valid_to", FilterOperator.GT, 20260401),
    ]
    assert triples(in_force(date(2026, 4, 1))) == expected
    assert triples(in_force(20260401)) == expected


def test_document_and_same_version() -> None:
    assert triples(all_of(document("d-1"))) == [("document_id", EQ, "d-1")]
    assert triples(all_of(document(["d-1", "d-2"]))) == [("document_id", IN, ["d-1", "d-2"])]
    assert triples(same_version("d-1", "sha")) == [
        ("document_id", EQ, "d-1"),
        ("document_version", EQ, "sha"),
    ]


def test_catalogue_is_the_first_chunk() -> None:
    assert triples(all_of(catalogue())) == [("chunk_index", EQ, 0)]


def test_source_prefix_ignores_a_trailing_slash() -> None:
    assert source_prefix("/データ/契約/").value == "/データ/契約"
    assert source_prefix("/").value == "/"
    assert source_prefix("/a").key == "source_prefixes"


def test_all_of_flattens_and_joins() -> None:
    built = all_of(same_version("d-1", "sha"), condition("clauses", ["第2条"], IN))
    assert built.condition == FilterCondition.AND
    assert triples(built) == [
        ("document_id", EQ, "d-1"),
        ("document_version", EQ, "sha"),
        ("clauses", IN, ["第2条"]),
    ]
    either = MetadataFilters(
        filters=[condition("language", "ja"), condition("language", "en")],
        condition=FilterCondition.OR,
    )
    nested = all_of(document("d-1"), either)
    assert nested.filters[1] is either  # an OR keeps its own level


def test_with_access_adds_the_groups_to_every_builder() -> None:
    for built in (in_force(20260401), same_version("d", "v"), all_of(source_prefix("/a"))):
        combined = with_access(built, ["法務部"])
        assert triples(combined) == [*triples(built), ("allowed_groups", IN, ["法務部"])]
        assert with_access(built, None) is built  # no access control: unchanged


def test_with_access_never_becomes_optional_inside_an_or() -> None:
    either = MetadataFilters(
        filters=[condition("language", "ja"), condition("language", "en")],
        condition=FilterCondition.OR,
    )
    combined = with_access(either, ["法務部"])
    assert combined.condition == FilterCondition.AND
    assert combined.filters == [either, access(["法務部"])]


def test_the_shared_names_exist() -> None:
    names = ("condition", "access", "with_access", "in_force", "same_version", "document")
    assert all(callable(getattr(filters, n)) for n in (*names, "source_prefix", "all_of"))
