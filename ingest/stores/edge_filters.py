"""llama-index's metadata filters (nested, AND/OR/NOT) as Qdrant Edge filters.

llama-index translates its filters for the Qdrant server (QdrantVectorStore); it does not know
Qdrant Edge, so the embedded store translates them here.
"""

from __future__ import annotations

from typing import Any

import qdrant_edge as qe
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)


def _condition(f: MetadataFilter) -> tuple[str, Any]:
    """One llama-index filter as ("must" | "must_not", Edge condition)."""
    key, value, op = f.key, f.value, f.operator
    if op in (FilterOperator.EQ, FilterOperator.NE):
        if not isinstance(value, str | int | bool):
            raise ValueError(f"filter on {key}: equality needs a string, integer or boolean")
        side = "must" if op == FilterOperator.EQ else "must_not"
        return side, qe.FieldCondition(key=key, match=qe.MatchValue(value))
    if op == FilterOperator.IN:
        return "must", qe.FieldCondition(key=key, match=qe.MatchAny(list(value)))  # type: ignore[arg-type]
    if op == FilterOperator.NIN:
        return "must_not", qe.FieldCondition(key=key, match=qe.MatchAny(list(value)))  # type: ignore[arg-type]
    ranges = {
        FilterOperator.GT: "gt",
        FilterOperator.GTE: "gte",
        FilterOperator.LT: "lt",
        FilterOperator.LTE: "lte",
    }
    if op in ranges:
        bound = float(value)  # type: ignore[arg-type]
        return "must", qe.FieldCondition(key=key, range=qe.RangeFloat(**{ranges[op]: bound}))
    if op == FilterOperator.IS_EMPTY:
        return "must", qe.IsNullCondition(key)
    raise ValueError(f"filter operator {op} is not supported by the embedded store")


def to_edge_filter(filters: MetadataFilters | None) -> qe.Filter | None:
    """Translate llama-index metadata filters (nested, AND/OR/NOT) into an Edge filter."""
    if filters is None or not filters.filters:
        return None
    positive: list[Any] = []
    negative: list[Any] = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            nested = to_edge_filter(item)
            if nested is not None:
                positive.append(nested)
            continue
        side, condition = _condition(item)
        (positive if side == "must" else negative).append(condition)
    if filters.condition == FilterCondition.OR:
        alternatives = positive + [qe.Filter(must_not=[c]) for c in negative]
        return qe.Filter(should=alternatives)
    if filters.condition == FilterCondition.NOT:
        return qe.Filter(must_not=positive + [qe.Filter(must_not=[c]) for c in negative])
    return qe.Filter(must=positive or None, must_not=negative or None)
