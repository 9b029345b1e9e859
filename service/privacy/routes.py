"""HTTP routes of the privacy domain: the audit log, for administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import asyncpg
from litestar import Controller, get
from litestar.params import Parameter
from pydantic import BaseModel

from service.auth.guards import admin_only
from service.privacy import audit


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    reason: str | None
    subject_index: str | None  # hex of the blind index, never a number
    details: dict[str, Any]


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]
    guards = [admin_only]

    @get(name="audit:list", description="Newest first; `before` (an id) pages back.")
    async def list_entries(self, db: asyncpg.Connection, limit: int = 100,
                           before: Annotated[int | None, Parameter(ge=1, le=2**63 - 1)] = None) -> list[AuditEntry]:
        rows = await audit.entries(db, min(max(limit, 1), 1000), before)
        return [AuditEntry.model_validate(dict(r)) for r in rows]
