"""GET /api/admin/audit: the audit log, newest first (the middleware that writes refused
actions is web/audit.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from payouts.services import audit
from payouts.web.deps import Db, Reader
from payouts.web.schemas import AuditEntryOut

router = APIRouter(prefix="/api/admin", tags=["audit"])


@router.get("/audit")
def audit_log(
    db: Db,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(alias="beforeId", ge=1, le=2**63 - 1)] = None,
) -> list[AuditEntryOut]:
    """The audit log, newest first. Page back with beforeId = the last id you got."""
    with db.read() as conn:
        return [
            AuditEntryOut.of(row) for row in audit.recent(conn, limit=limit, before_id=before_id)
        ]
