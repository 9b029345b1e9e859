"""Watchlist: numbers the police look out for; a registration or verification matching one raises an alert."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from litestar.channels import ChannelsPlugin

from service.auth.schemas import Staff
from service.privacy import audit
from service.privacy.crypto import Keyring, mask
from service.stays.documents import searchable_number

ALERTS_CHANNEL = "alerts"


def matching_entries(indexes: str, area: str) -> str:
    """SQL for the ids of the active entries among the blind indexes ``indexes`` whose jurisdiction holds ``area``."""
    return (f"SELECT w.id FROM watchlist w WHERE w.active AND w.document_index = ANY({indexes}) "
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


def announce(channels: ChannelsPlugin, alerts: list[dict[str, Any]]) -> None:
    """Publish committed alerts to every instance's police streams (each reads the details itself)."""
    for alert in alerts:
        channels.publish({"id": alert["id"]}, ALERTS_CHANNEL)


async def add_entry(conn: asyncpg.Connection, keyring: Keyring, staff: Staff, document_number: str,
                    note: str) -> tuple[asyncpg.Record, list[dict[str, Any]]]:
    """Watch a number in the officer's jurisdiction; a person of it staying there now raises an alert at once."""
    number = searchable_number(document_number)
    index = keyring.blind_index("document", number)
    async with conn.transaction():
        # The id first: the sealed number is bound to its row.
        entry_id = await conn.fetchval("SELECT nextval(pg_get_serial_sequence('watchlist', 'id'))")
        entry = await conn.fetchrow(
            """INSERT INTO watchlist (id, document_index, document_cipher, document_masked, note, area_code, created_by)
               OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7)
               RETURNING id, document_masked, note, area_code, created_at""",
            entry_id, index, keyring.seal(number, f"watchlist.document.{entry_id}"), mask(number), note,
            staff.area_code, staff.id,
        )
        await audit.append(conn, staff, "watchlist_add", note, index, {"watchlist_id": entry["id"]})
        rows = await conn.fetch(
            """INSERT INTO alerts (watchlist_id, dwelling_id, area_code, stay_id)
               SELECT $1, s.dwelling_id, s.area_code, s.id FROM stay_guests g JOIN stays s ON s.id = g.stay_id
                WHERE g.document_index = $2 AND s.checked_out_at IS NULL AND s.area_code LIKE $3 || '%'
               RETURNING id""",
            entry["id"], index, staff.area_code,
        )
    return entry, [dict(r) for r in rows]


async def entries(conn: asyncpg.Connection, staff: Staff) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, document_masked, note, area_code, created_at FROM watchlist
            WHERE active AND area_code LIKE $1 || '%' ORDER BY id DESC""",
        staff.area_code,
    )
