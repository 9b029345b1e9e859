"""HTTP routes of the privacy domain: the audit log, for administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import asyncpg
from litestar import Controller, get
from litestar.params import Parameter
from pydantic import BaseModel, Field

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


class ChainCheck(BaseModel):
    intact: bool
    entries_checked: int = Field(description="entries whose hashes hold, from the first")
    broken_at: int | None = Field(description="the id of the first entry that breaks the chain: edited, or one "
                                              "before it removed")


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]
    guards = [admin_only]

    @get(name="audit:list", description="Newest first; `before` (an id) pages back. Filters: `actor` (a username), "
                                        "`action` (an action, or its beginning), `from` and `to` (times).")
    async def list_entries(self, db: asyncpg.Connection, limit: int = 100,
                           before: Annotated[int | None, Parameter(ge=1, le=2**63 - 1)] = None,
                           actor: Annotated[str | None, Parameter(max_length=64)] = None,
                           action: Annotated[str | None, Parameter(max_length=100)] = None,
                           since: Annotated[datetime | None, Parameter(query="from")] = None,
                           until: Annotated[datetime | None, Parameter(query="to")] = None) -> list[AuditEntry]:
        rows = await audit.entries(db, min(max(limit, 1), 1000), before, actor or None, action or None, since, until)
        return [AuditEntry.model_validate(dict(r)) for r in rows]

    @get("/verify", name="audit:verify", description="Check the hash chain, as `python -m service audit verify` does.")
    async def verify(self, db: asyncpg.Connection) -> ChainCheck:
        checked, broken_at = await audit.verify_chain(db)
        return ChainCheck(intact=broken_at is None, entries_checked=checked, broken_at=broken_at)
