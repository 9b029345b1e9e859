"""The append-only audit log of police searches and reveals, chained by hashes.

Each row's hash covers its content and the previous row's hash, so editing or
removing a row breaks the chain from there on; ``verify_chain`` finds the break.
The database also refuses UPDATE, DELETE and TRUNCATE on the table.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import asyncpg

from service.auth.schemas import Staff

GENESIS = b"\x00" * 32
# Appends take this transaction-level lock, so the chain never forks.
AUDIT_LOCK_ID = 0x617564697400  # "audit"


def _row_hash(prev_hash: bytes, at: datetime, actor_id: int | None, actor: str, action: str, reason: str | None,
              subject_index: bytes | None, details: dict[str, Any]) -> bytes:
    content = json.dumps(
        [at.astimezone(UTC).isoformat(timespec="microseconds"), actor_id, actor, action, reason,
         subject_index.hex() if subject_index else None, details],
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(prev_hash + content.encode()).digest()


async def append(conn: asyncpg.Connection, staff: Staff, action: str, reason: str | None = None,
                 subject_index: bytes | None = None, details: dict[str, Any] | None = None) -> None:
    """Add one entry; call inside the transaction of the access it records."""
    details = details or {}
    await conn.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK_ID)
    prev = await conn.fetchval("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1") or GENESIS
    at = datetime.now(UTC)
    await conn.execute(
        """INSERT INTO audit_log (at, actor_id, actor, action, reason, subject_index, details, prev_hash, hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        at, staff.id, staff.username, action, reason, subject_index, details, prev,
        _row_hash(prev, at, staff.id, staff.username, action, reason, subject_index, details),
    )


async def verify_chain(conn: asyncpg.Connection) -> tuple[int, int | None]:
    """(rows checked, id of the first row that breaks the chain or None)."""
    prev, checked = GENESIS, 0
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for row in conn.cursor("SELECT * FROM audit_log ORDER BY id"):
            expected = _row_hash(prev, row["at"], row["actor_id"], row["actor"], row["action"], row["reason"],
                                 row["subject_index"], row["details"])
            if row["prev_hash"] != prev or row["hash"] != expected:
                return checked, row["id"]
            prev, checked = row["hash"], checked + 1
    return checked, None


async def entries(conn: asyncpg.Connection, limit: int, before_id: int | None, actor: str | None = None,
                  action: str | None = None, since: datetime | None = None,
                  until: datetime | None = None) -> list[asyncpg.Record]:
    """Newest first; ``actor`` a username, ``action`` an action or its start ("dwelling." for all of them)."""
    return await conn.fetch(
        """SELECT id, at, actor, action, reason, encode(subject_index, 'hex') AS subject_index, details
             FROM audit_log
            WHERE ($2::bigint IS NULL OR id < $2) AND ($3::text IS NULL OR lower(actor) = lower($3))
              AND ($4::text IS NULL OR starts_with(action, $4))
              AND ($5::timestamptz IS NULL OR at >= $5) AND ($6::timestamptz IS NULL OR at < $6)
            ORDER BY id DESC LIMIT $1""",
        limit, before_id, actor, action, since, until,
    )


async def append_unauthenticated(conn: asyncpg.Connection, action: str, details: dict[str, Any]) -> None:
    """An entry no logged-in staff member caused (failed logins): no actor id, the actor "anonymous"."""
    await append(conn, Staff(id=None, username="anonymous", role="admin", display_name="", area_code=None),  # type: ignore[arg-type]
                 action, details=details)
