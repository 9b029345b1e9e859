"""Dwellings: ownership, QR tokens and their rotation, as SQL."""

from __future__ import annotations

import secrets

import asyncpg

from service.areas.domain import jurisdiction_of, within
from service.auth.schemas import Staff
from service.dwellings.schemas import DwellingIn, DwellingPatch
from service.i18n import add_messages
from service.privacy import audit
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
        "dwelling_occupied": (
            "Guests are staying in this dwelling: its area can be changed once all of them have checked out.",
            "该住所有住客在住：全部退房后才能更改其所属区域。",
        ),
        "dwelling_statistics_open": (
            "Guests left this dwelling today: its area can be changed from tomorrow, once today's statistics "
            "are closed.",
            "该住所今天有住客离开：今日统计完成后（明天起）才能更改其所属区域。",
        ),
        "area_outside_account": ("This area is outside the area of your account.", "该区域不在您账号所属的区域内。"),
    }
)

COLUMNS = "id, owner_id, name, address, area_code, kind, capacity, latitude, longitude, active, qr_token, created_at"


def new_token() -> str:
    """256 random bits, URL-safe: a QR code cannot be guessed from another."""
    return secrets.token_urlsafe(32)


def in_accounts_area(staff: Staff, area_code: str) -> bool:
    """A landlord or desk whose account has an area puts dwellings only within it (admins: anywhere)."""
    return not (staff.role in ("landlord", "desk") and staff.area_code and not within(area_code, staff.area_code))


async def check_usable_area(conn: asyncpg.Connection, staff: Staff, area_code: str) -> None:
    """An area a dwelling may be put in by this staff member: an existing one within the account's area."""
    if not await conn.fetchval("SELECT 1 FROM areas WHERE code = $1", area_code):
        raise Problem(400, "invalid_input", errors=[FieldError("area_code", "unknown_area")])
    if not in_accounts_area(staff, area_code):
        raise Problem(403, "area_outside_account", errors=[FieldError("area_code", "area_outside_account")])


async def create_dwelling(conn: asyncpg.Connection, owner: Staff, data: DwellingIn) -> asyncpg.Record:
    await check_usable_area(conn, owner, data.area_code)
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


# Guests not checked out, from the stays themselves: dwellings.current_guests is kept by the counter
# applier (service/police/counters.py) a moment after each change, and a registration's capacity check
# must count the stay registered just before it. `d`: the dwellings row.
CURRENT_GUESTS = """(SELECT coalesce(sum(s.guest_count), 0)::int FROM stays s
                     WHERE s.dwelling_id = d.id AND s.checked_out_at IS NULL) AS current_guests"""


async def owned_dwelling(conn: asyncpg.Connection, staff: Staff, dwelling_id: int) -> asyncpg.Record:
    """A dwelling of this landlord or desk, for changes; police and admins do not own dwellings."""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS}, {CURRENT_GUESTS} FROM dwellings d WHERE id = $1 AND owner_id = $2", dwelling_id, staff.id)
    if row is None:
        raise Problem(404, "dwelling_not_found")
    return row


# What keeps a dwelling from changing area: guests present, or statistics of its past stays not closed
# yet. The statistics book a stay's nights to the area of its dwelling when the night closes
# (stats_close_nights, 0011), and nothing of a checked-out stay changes after its check-out: once its
# ledger rows are closed, the history stays in the old area for good (docs/statistics.md, "Moving a
# dwelling"). Pending counter changes (stay_changes) would become ledger rows.
MOVE_BLOCKERS = """
    SELECT EXISTS (SELECT 1 FROM stays WHERE dwelling_id = $1 AND checked_out_at IS NULL) AS occupied,
           EXISTS (SELECT 1 FROM stay_changes WHERE dwelling_id = $1)
           OR EXISTS (SELECT 1 FROM stats_ledger WHERE dwelling_id = $1)
           OR EXISTS (SELECT 1 FROM stats_present WHERE dwelling_id = $1) AS statistics_open"""


async def move_dwelling(conn: asyncpg.Connection, staff: Staff, dwelling_id: int, area_code: str) -> None:
    """Put the dwelling in another area, audited; call inside a transaction. Only an empty dwelling whose
    past nights are all closed moves: its counters and history stay exact where they are."""
    area_now = await conn.fetchval("SELECT area_code FROM dwellings WHERE id = $1 FOR UPDATE", dwelling_id)
    if area_now is None:
        raise Problem(404, "dwelling_not_found")
    if area_now == area_code:
        return
    await check_usable_area(conn, staff, area_code)
    # The row lock makes a registration wait (register_stay locks the dwelling first): none slips in.
    blockers = await conn.fetchrow(MOVE_BLOCKERS, dwelling_id)
    for blocker in ("occupied", "statistics_open"):
        if blockers[blocker]:
            code = "dwelling_occupied" if blocker == "occupied" else "dwelling_statistics_open"
            raise Problem(409, code, errors=[FieldError("area_code", code)])
    await conn.execute("UPDATE dwellings SET area_code = $2, updated_at = now() WHERE id = $1", dwelling_id, area_code)
    await audit.append(conn, staff, "dwelling.move",
                       details={"dwelling_id": dwelling_id, "from": area_now, "to": area_code})


async def update_dwelling(
    conn: asyncpg.Connection, staff: Staff, dwelling_id: int, patch: DwellingPatch
) -> asyncpg.Record:
    changes = patch.model_dump(exclude_unset=True)
    async with conn.transaction():
        await owned_dwelling(conn, staff, dwelling_id)
        if "area_code" in changes:
            await move_dwelling(conn, staff, dwelling_id, changes.pop("area_code"))
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


async def dwelling_for_token(conn: asyncpg.Connection, token: str) -> asyncpg.Record:
    """The active dwelling behind a QR token, for guests: 410 for a rotated token, 404 for an unknown one
    (a registration finds its dwelling in SQL, the same way: register_stay, migration 0013)."""
    row = await conn.fetchrow(
        f"""SELECT d.id, d.name, d.address, d.kind, d.capacity, {CURRENT_GUESTS}, d.area_code, d.active, d.owner_id,
                   a.name AS area_name
              FROM dwellings d JOIN areas a ON a.code = d.area_code
             WHERE d.qr_token = $1""",
        token,
    )
    if row is None:
        if await conn.fetchval("SELECT 1 FROM retired_qr_tokens WHERE token = $1", token):
            raise Problem(410, "qr_retired")
        raise Problem(404, "qr_unknown")
    if not row["active"]:
        raise Problem(410, "dwelling_inactive")
    return row


# ---- administration: any owner's dwellings, without guests or QR tokens ----

add_messages(
    {
        "owner_not_found": ("There is no landlord or hotel desk with this username.", "没有该用户名的房东或旅馆前台。"),
        "owner_has_name": ("The new owner already has a dwelling of this name.", "新所有者已有同名住所。"),
    }
)

ADMIN_COLUMNS = """d.id, d.name, d.address, d.area_code, a.name AS area_name, d.kind, d.capacity, d.active, d.owner_id,
                   o.username AS owner, o.role AS owner_role, d.created_at"""
ADMIN_FROM = "dwellings d JOIN accounts o ON o.id = d.owner_id JOIN areas a ON a.code = d.area_code"


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search_dwellings(conn: asyncpg.Connection, q: str, owner: str, area: str, page: int,
                           page_size: int) -> tuple[list[asyncpg.Record], int]:
    """A page of every owner's dwellings: ``q`` in the name, address or owner's username, ``owner`` a username,
    ``area`` a code whose subtree is searched."""
    where = """($1 = '' OR d.name ILIKE '%' || $1 || '%' OR d.address ILIKE '%' || $1 || '%'
                        OR o.username ILIKE '%' || $1 || '%')
               AND ($2 = '' OR lower(o.username) = lower($2))
               AND ($3 = '' OR d.area_code LIKE $3 || '%')"""
    args = (_like(q.strip()), owner.strip(), _like(area.strip()))
    total = await conn.fetchval(f"SELECT count(*) FROM {ADMIN_FROM} WHERE {where}", *args)
    rows = await conn.fetch(f"SELECT {ADMIN_COLUMNS} FROM {ADMIN_FROM} WHERE {where} ORDER BY d.id LIMIT $4 OFFSET $5",
                            *args, page_size, (page - 1) * page_size)
    return rows, total


async def admin_dwelling(conn: asyncpg.Connection, dwelling_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(f"SELECT {ADMIN_COLUMNS} FROM {ADMIN_FROM} WHERE d.id = $1", dwelling_id)
    if row is None:
        raise Problem(404, "dwelling_not_found")
    return row


async def transfer(conn: asyncpg.Connection, dwelling_id: int, new_owner: str) -> asyncpg.Record:
    """Give the dwelling to another landlord or desk; its QR code stays (the poster on the door is the same)."""
    async with conn.transaction():
        row = await conn.fetchrow("SELECT name FROM dwellings WHERE id = $1 FOR UPDATE", dwelling_id)
        if row is None:
            raise Problem(404, "dwelling_not_found")
        owner_id = await conn.fetchval(
            """SELECT id FROM accounts WHERE lower(username) = lower($1) AND role IN ('landlord', 'desk')
                  AND NOT disabled FOR UPDATE""", new_owner)
        if owner_id is None:
            raise Problem(400, "invalid_input", errors=[FieldError("owner", "owner_not_found")])
        if await conn.fetchval(
                "SELECT 1 FROM dwellings WHERE owner_id = $1 AND lower(name) = lower($2) AND id <> $3",
                owner_id, row["name"], dwelling_id):
            raise Problem(409, "owner_has_name", errors=[FieldError("owner", "owner_has_name")])
        await conn.execute("UPDATE dwellings SET owner_id = $2, updated_at = now() WHERE id = $1", dwelling_id, owner_id)
        return await admin_dwelling(conn, dwelling_id)


async def set_active(conn: asyncpg.Connection, dwelling_id: int, active: bool) -> asyncpg.Record:
    """Deactivated, the dwelling's QR code stops taking registrations; its guests and history stay."""
    if await conn.fetchval("UPDATE dwellings SET active = $2, updated_at = now() WHERE id = $1 RETURNING id",
                           dwelling_id, active) is None:
        raise Problem(404, "dwelling_not_found")
    return await admin_dwelling(conn, dwelling_id)
