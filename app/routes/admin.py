"""Administration: the evidence record of answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from app.audit import AuditEntry
from app.deps import AdminUser, AuditDep

router = APIRouter(tags=["admin"])


@router.get("/v1/audit", responses={403: {"description": "Admin key required"}})
def audit_log(
    user: AdminUser,
    audit: AuditDep,
    who: Annotated[str | None, Query(alias="user", description="Only this user's answers.")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    collection: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[AuditEntry]:
    """Recorded answers, newest first: who asked what, the chunks and document versions the
    model was given, the access filter, the model and its settings (admin)."""
    return audit.query(user=who, since=since, until=until, collection=collection, limit=limit)
