"""Watchlist: numbers the police look out for; a registration or verification matching one raises an alert."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from service.auth.schemas import Staff
from service.i18n import add_messages
from service.privacy import audit
from service.privacy.crypto import Keyring, mask
from service.problems import FieldError, Problem
from service.stays.documents import searchable_number
from service.stays.partitions import GUESTS_WITH_THEIR_STAYS

add_messages({
    "watchlist_entry_not_found": ("No such watchlist entry in your jurisdiction.", "您的辖区内没有这条布控。"),
    "expires_at:expiry_in_past": ("The expiry must be in the future.", "到期时间必须晚于现在。"),
})

# Removed and expired entries stay for the record but match nothing and are not listed (SQL: migration 0013).
IN_FORCE = "watchlist_in_force(w)"


def matching_entries(indexes: str, area: str) -> str:
    """SQL for the ids of the entries in force among the blind indexes ``indexes`` whose jurisdiction holds ``area``."""
    return (f"SELECT w.id FROM watchlist w WHERE {IN_FORCE} AND w.document_index = ANY({indexes}) "
            f"AND {area} LIKE w.area_code || '%'")


async def record_hits(
    conn: asyncpg.Connection,
    document_indexes: list[bytes],
    dwelling_id: int,
    area_code: str,
    *,
    stay_id: UUID | None = None,
    verification_id: UUID | None = None,
) -> list[dict[str, Any]]:
    """Store an alert for each active entry among these blind indexes whose jurisdiction holds the area.

    Call inside the registration's transaction; announce() the result after it commits.
    """
    rows = await conn.fetch(
        f"""INSERT INTO alerts (watchlist_id, dwelling_id, area_code, stay_id, verification_id)
            SELECT id, $2, $3, $4, $5 FROM ({matching_entries(indexes="$1::bytea[]", area="$3")}) w
            RETURNING id, watchlist_id, dwelling_id, area_code, stay_id, verification_id, created_at""",
        document_indexes, dwelling_id, area_code, stay_id, verification_id,
    )
    return [dict(r) for r in rows]


ENTRY_COLUMNS = """w.id, w.document_masked, w.note, w.area_code, w.created_at, w.expires_at,
                   coalesce(nullif(a.display_name, ''), a.username) AS created_by"""


async def add_entry(conn: asyncpg.Connection, keyring: Keyring, staff: Staff, document_number: str,
                    note: str, expires_at: datetime | None) -> tuple[asyncpg.Record, list[dict[str, Any]]]:
    """Watch a number in the officer's jurisdiction; a person of it staying there now raises an alert at once."""
    if expires_at is not None and expires_at <= datetime.now(expires_at.tzinfo):
        raise Problem(400, "invalid_input", errors=[FieldError("expires_at", "expiry_in_past")])
    number = searchable_number(document_number)
    index = keyring.blind_index("document", number)
    async with conn.transaction():
        # The id first: the sealed number is bound to its row.
        entry_id = await conn.fetchval("SELECT nextval(pg_get_serial_sequence('watchlist', 'id'))")
        entry = await conn.fetchrow(
            f"""WITH w AS (
                    INSERT INTO watchlist (id, document_index, document_cipher, document_masked, note, area_code,
                                           created_by, expires_at)
                    OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *)
                SELECT {ENTRY_COLUMNS} FROM w JOIN accounts a ON a.id = w.created_by""",
            entry_id, index, keyring.seal(number, f"watchlist.document.{entry_id}"), mask(number), note,
            staff.area_code, staff.id, expires_at,
        )
        await audit.append(conn, staff, "watchlist_add", note, index, {"watchlist_id": entry["id"]})
        rows = await conn.fetch(
            f"""INSERT INTO alerts (watchlist_id, dwelling_id, area_code, stay_id)
               SELECT $1, s.dwelling_id, s.area_code, s.id
                 FROM {GUESTS_WITH_THEIR_STAYS}
                WHERE g.document_index = $2 AND s.checked_out_at IS NULL AND s.area_code LIKE $3 || '%'
               RETURNING id""",
            entry["id"], index, staff.area_code,
        )
    return entry, [dict(r) for r in rows]


async def entries(conn: asyncpg.Connection, staff: Staff) -> list[asyncpg.Record]:
    """The entries in force at or below the officer's jurisdiction: the notes their alerts may show."""
    return await conn.fetch(
        f"""SELECT {ENTRY_COLUMNS} FROM watchlist w JOIN accounts a ON a.id = w.created_by
             WHERE {IN_FORCE} AND w.area_code LIKE $1 || '%' ORDER BY w.id DESC""",
        staff.area_code,
    )


async def remove_entry(conn: asyncpg.Connection, staff: Staff, entry_id: int) -> None:
    """Stop watching; the entry and its alerts are kept for the record, with who removed it."""
    async with conn.transaction():
        removed = await conn.fetchval(
            """UPDATE watchlist SET removed_at = now(), removed_by = $2
                WHERE id = $1 AND area_code LIKE $3 || '%' AND removed_at IS NULL RETURNING document_index""",
            entry_id, staff.id, staff.area_code,
        )
        if removed is None:
            raise Problem(404, "watchlist_entry_not_found")
        await audit.append(conn, staff, "watchlist_remove", None, removed, {"watchlist_id": entry_id})
