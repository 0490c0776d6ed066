"""Metadata filters over chunk payloads, built in one place.

Every reader and writer restricts the points it touches with llama-index ``MetadataFilters``
(both stores translate them into Qdrant filters inside the query). The builders below name
each rule once: who may read (``access``), which version is in force on a day (``in_force``),
the chunks of one version (``same_version``), the catalogue points (``catalogue``), and so on.
``all_of`` joins them with AND into one flat list, so the Qdrant filter is the same as if the
conditions had been listed by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from ingest.versions import day_number

Part = MetadataFilter | MetadataFilters


def condition(key: str, value: object, op: FilterOperator = FilterOperator.EQ) -> MetadataFilter:
    """One metadata condition (equality by default)."""
    return MetadataFilter(key=key, value=value, operator=op)


def all_of(*parts: Part) -> MetadataFilters:
    """Every part must hold. AND-joined parts are flattened into one list; others nest."""
    flat: list[Part] = []
    for part in parts:
        if isinstance(part, MetadataFilters) and part.condition in (None, FilterCondition.AND):
            flat.extend(part.filters)
        else:
            flat.append(part)
    return MetadataFilters(filters=flat)


def access(groups: Sequence[str]) -> MetadataFilter:
    """Only documents a member of one of ``groups`` may read."""
    return condition("allowed_groups", list(groups), FilterOperator.IN)


def with_access(filters: MetadataFilters, groups: Sequence[str] | None) -> MetadataFilters:
    """``filters`` plus: only documents a member of ``groups`` may read (None: no access
    control). The condition sits inside the Qdrant query, so nothing unreadable is ranked,
    counted or returned."""
    if groups is None:
        return filters
    if filters.condition in (None, FilterCondition.AND):
        return MetadataFilters(
            filters=[*filters.filters, access(groups)], condition=filters.condition
        )
    # Appended to an OR the condition would become optional: it must hold beside the whole.
    return MetadataFilters(filters=[filters, access(groups)])


def in_force(day: date | int) -> MetadataFilters:
    """The version of each document in force on ``day`` (a date, or YYYYMMDD):
    ``valid_from`` <= day < ``valid_to`` (see ingest/versions.py)."""
    number = day if isinstance(day, int) else day_number(day)
    return MetadataFilters(
        filters=[
            condition("valid_from", number, FilterOperator.LTE),
            condition("valid_to", number, FilterOperator.GT),
        ]
    )


def document(document_id: str | Sequence[str]) -> MetadataFilter:
    """The chunks of one document (or of any of several)."""
    if isinstance(document_id, str):
        return condition("document_id", document_id)
    return condition("document_id", list(document_id), FilterOperator.IN)


def same_version(document_id: str, version: str) -> MetadataFilters:
    """The chunks of one version (content sha256) of one document."""
    return MetadataFilters(
        filters=[condition("document_id", document_id), condition("document_version", version)]
    )


def catalogue() -> MetadataFilter:
    """The first chunk of every version: the points that describe a version (its catalogue
    entry), so listing documents reads one point per version."""
    return condition("chunk_index", 0)


def source_prefix(prefix: str) -> MetadataFilter:
    """Documents stored under the folder ``prefix`` (a trailing slash is ignored)."""
    folder = prefix.rstrip("/") or "/"
    return condition("source_prefixes", folder)
