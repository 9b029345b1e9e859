"""Dwellings: ownership, QR tokens and their rotation, as SQL."""

from __future__ import annotations

import secrets

import asyncpg

from service.areas.domain import jurisdiction_of, within
from service.auth.schemas import Staff
from service.dwellings.schemas import DwellingIn, DwellingPatch
from service.i18n import add_messages
from service.problems import FieldError, Problem

add_messages(
    {
        "dwelling_not_found": ("No such dwelling.", "没有找到该住所。"),
        "qr_unknown": (
            "This QR code is not known. Please ask your host for the current code.",
            "无法识别此二维码，请向房东索取最新的二维码。",
        ),
        "qr_retired": (
            "This QR code has been replaced. Please scan the new code at the door or ask your host.",
            "此二维码已停用，请扫描门口的新二维码或联系房东。",
        ),
        "dwelling_inactive": (
            "This dwelling does not take registrations at the moment. Please ask your host.",
            "该住所暂不接受登记，请联系房东。",
        ),
    }
)

COLUMNS = "id, owner_id, name, address, area_code, kind, capacity, latitude, longitude, active, qr_token, created_at"


def new_token() -> str:
    """256 random bits, URL-safe: a QR code cannot be guessed from another."""
    return secrets.token_urlsafe(32)


async def create_dwelling(conn: asyncpg.Connection, owner: Staff, data: DwellingIn) -> asyncpg.Record:
    if not await conn.fetchval("SELECT 1 FROM areas WHERE code = $1", data.area_code):
        raise Problem(400, "invalid_input", errors=[FieldError("area_code", "unknown_area")])
    return await conn.fetchrow(
        f"""INSERT INTO dwellings (owner_id, name, address, area_code, kind, capacity, latitude, longitude, qr_token)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}""",
        owner.id,
        data.name,
        data.address,
        data.area_code,
        data.kind,
        data.capacity,
        data.latitude,
        data.longitude,
        new_token(),
    )


async def visible_dwellings(conn: asyncpg.Connection, staff: Staff) -> list[asyncpg.Record]:
    """Owners see their own dwellings, police their jurisdiction's, admins all."""
    if staff.role in ("landlord", "desk"):
        return await conn.fetch(f"SELECT {COLUMNS} FROM dwellings WHERE owner_id = $1 ORDER BY id", staff.id)
    return await conn.fetch(
        f"SELECT {COLUMNS} FROM dwellings WHERE area_code LIKE $1 || '%' ORDER BY id", jurisdiction_of(staff)
    )


async def visible_dwelling(conn: asyncpg.Connection, staff: Staff, dwelling_id: int) -> asyncpg.Record:
    """One dwelling the staff member may see; anyone else's answers 404, as if absent."""
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM dwellings WHERE id = $1", dwelling_id)
    if row is None:
        raise Problem(404, "dwelling_not_found")
    if staff.role in ("landlord", "desk"):
        visible = row["owner_id"] == staff.id
    else:
        visible = within(row["area_code"], jurisdiction_of(staff))
    if not visible:
        raise Problem(404, "dwelling_not_found")
    return row


async def owned_dwelling(conn: asyncpg.Connection, staff: Staff, dwelling_id: int, lock: bool = False) -> asyncpg.Record:
    """A dwelling of this landlord or desk, for changes; police and admins do not own dwellings.

    ``lock``: inside a transaction, hold the dwelling's row until it ends (a registration does).
    """
    row = await conn.fetchrow(
        f"SELECT {COLUMNS}, current_guests FROM dwellings WHERE id = $1 AND owner_id = $2 {'FOR UPDATE' if lock else ''}",
        dwelling_id, staff.id)
    if row is None:
        raise Problem(404, "dwelling_not_found")
    return row


async def update_dwelling(
    conn: asyncpg.Connection, staff: Staff, dwelling_id: int, patch: DwellingPatch
) -> asyncpg.Record:
    await owned_dwelling(conn, staff, dwelling_id)
    changes = patch.model_dump(exclude_unset=True)
    if not changes:
        return await owned_dwelling(conn, staff, dwelling_id)
    # Column names come from the schema's fields, never from the request.
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=2))
    return await conn.fetchrow(
        f"UPDATE dwellings SET {assignments}, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}",
        dwelling_id,
        *changes.values(),
    )


async def rotate_token(conn: asyncpg.Connection, staff: Staff, dwelling_id: int) -> asyncpg.Record:
    """Give the dwelling a new QR token; the old one is kept only to answer 410 Gone."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT qr_token FROM dwellings WHERE id = $1 AND owner_id = $2 FOR UPDATE", dwelling_id, staff.id
        )
        if row is None:
            raise Problem(404, "dwelling_not_found")
        await conn.execute(
            "INSERT INTO retired_qr_tokens (token, dwelling_id) VALUES ($1, $2)", row["qr_token"], dwelling_id
        )
        return await conn.fetchrow(
            f"UPDATE dwellings SET qr_token = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}",
            dwelling_id,
            new_token(),
        )


async def dwelling_for_token(conn: asyncpg.Connection, token: str, lock: bool = False) -> asyncpg.Record:
    """The active dwelling behind a QR token, for guests: 410 for a rotated token, 404 for an unknown one.

    ``lock``: inside a transaction, hold the dwelling's row until it ends (a registration does).
    """
    row = await conn.fetchrow(
        f"""SELECT d.id, d.name, d.address, d.kind, d.capacity, d.current_guests, d.area_code, d.active, d.owner_id,
                   a.name AS area_name
              FROM dwellings d JOIN areas a ON a.code = d.area_code
             WHERE d.qr_token = $1 {"FOR UPDATE OF d" if lock else ""}""",
        token,
    )
    if row is None:
        if await conn.fetchval("SELECT 1 FROM retired_qr_tokens WHERE token = $1", token):
            raise Problem(410, "qr_retired")
        raise Problem(404, "qr_unknown")
    if not row["active"]:
        raise Problem(410, "dwelling_inactive")
    return row
