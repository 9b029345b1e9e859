"""Areas and jurisdictions: the SQL behind the tree."""

from __future__ import annotations

import asyncpg

from service.areas.schemas import AreaIn, AreaPatch
from service.auth.schemas import Staff
from service.i18n import add_messages
from service.problems import FieldError, Problem

add_messages(
    {
        "area_exists": ("An area with this code exists already.", "该区域代码已存在。"),
        "unknown_parent": ("There is no parent area with this code.", "没有这个上级区域代码。"),
        "code_must_extend_parent": (
            "A child area's code must start with its parent's code and be longer.",
            "下级区域代码必须以上级代码开头且更长。",
        ),
        "code_under_closest_area": (
            "This code extends the code of area {enclosing}: create it under that area (parent_code {enclosing}).",
            "该代码以区域 {enclosing} 的代码开头，请将其建在该区域之下（parent_code 为 {enclosing}）。",
        ),
        "code_begins_other_area": (
            "The code of area {extended} begins with this code, but that area would not be inside it. "
            "Choose another code.",
            "区域 {extended} 的代码以此代码开头，但它并不在此区域之下，请换一个代码。",
        ),
        "outside_jurisdiction": ("This area is outside your jurisdiction.", "该区域不在您的辖区内。"),
        "area_not_found": ("No such area.", "没有该区域。"),
        "parent_must_prefix": (
            "The new parent's code must be the beginning of this area's code ({area}).",
            "新的上级区域代码必须是本区域代码（{area}）的开头部分。",
        ),
    }
)


def jurisdiction_of(staff: Staff) -> str:
    """The code prefix a staff member may see; admins see everything."""
    return staff.area_code if staff.role == "police" and staff.area_code else ""


def within(area_code: str, jurisdiction: str) -> bool:
    return area_code.startswith(jurisdiction)


async def create_area(conn: asyncpg.Connection, area: AreaIn) -> asyncpg.Record:
    if area.parent_code is not None:
        if not await conn.fetchval("SELECT 1 FROM areas WHERE code = $1", area.parent_code):
            raise Problem(400, "invalid_input", errors=[FieldError("parent_code", "unknown_parent")])
        if not area.code.startswith(area.parent_code) or area.code == area.parent_code:
            raise Problem(400, "invalid_input", errors=[FieldError("code", "code_must_extend_parent")])
    async with conn.transaction():
        # Jurisdictions are checked by code prefix (``within``), so a code's existing prefixes must be exactly
        # its ancestors: the parent is the longest area the code extends, and no area extends the new code yet.
        # The lock makes the check and the insert one step for concurrent creations.
        await conn.execute("LOCK TABLE areas IN SHARE ROW EXCLUSIVE MODE")
        if await conn.fetchval("SELECT 1 FROM areas WHERE code = $1", area.code):
            raise Problem(409, "area_exists", errors=[FieldError("code", "area_exists")])
        enclosing = await conn.fetchval(
            "SELECT code FROM areas WHERE starts_with($1, code) ORDER BY length(code) DESC LIMIT 1", area.code
        )
        if enclosing is not None and enclosing != area.parent_code:
            raise Problem(400, "invalid_input", errors=[FieldError("code", "code_under_closest_area")],
                          enclosing=enclosing)
        extended = await conn.fetchval("SELECT code FROM areas WHERE starts_with(code, $1) LIMIT 1", area.code)
        if extended is not None:
            raise Problem(400, "invalid_input", errors=[FieldError("code", "code_begins_other_area")],
                          extended=extended)
        return await conn.fetchrow(
            "INSERT INTO areas (code, name, parent_code) VALUES ($1, $2, $3) RETURNING code, name, parent_code",
            area.code,
            area.name,
            area.parent_code,
        )


async def list_areas(conn: asyncpg.Connection, prefix: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT code, name, parent_code FROM areas WHERE code LIKE $1 || '%' ORDER BY code", prefix
    )


async def area_exists(conn: asyncpg.Connection, code: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM areas WHERE code = $1", code))


async def update_area(conn: asyncpg.Connection, code: str, patch: AreaPatch) -> asyncpg.Record:
    """Rename, or move under another parent. A move keeps the codes consistent: the new parent's code begins
    this area's code and is the closest area that does (as ``create_area`` requires), so every prefix of a
    code stays an ancestor and jurisdictions stay trees. A tree made before that rule is repaired this way."""
    async with conn.transaction():
        await conn.execute("LOCK TABLE areas IN SHARE ROW EXCLUSIVE MODE")
        row = await conn.fetchrow("SELECT code, parent_code FROM areas WHERE code = $1", code)
        if row is None:
            raise Problem(404, "area_not_found")
        changes = patch.model_dump(exclude_unset=True)
        if "parent_code" in changes and changes["parent_code"] != row["parent_code"]:
            parent = changes["parent_code"]
            if parent is not None and not await conn.fetchval("SELECT 1 FROM areas WHERE code = $1", parent):
                raise Problem(400, "invalid_input", errors=[FieldError("parent_code", "unknown_parent")])
            if parent is not None and (not code.startswith(parent) or code == parent):
                raise Problem(400, "invalid_input", errors=[FieldError("parent_code", "parent_must_prefix")],
                              area=code)
            enclosing = await conn.fetchval(
                """SELECT code FROM areas WHERE starts_with($1, code) AND code <> $1
                    ORDER BY length(code) DESC LIMIT 1""", code)
            if enclosing != parent:
                raise Problem(400, "invalid_input", errors=[FieldError("parent_code", "code_under_closest_area")],
                              enclosing=enclosing)
        return await conn.fetchrow(
            """UPDATE areas SET name = coalesce($2, name),
                                parent_code = CASE WHEN $4 THEN $3 ELSE parent_code END
                WHERE code = $1 RETURNING code, name, parent_code""",
            code, changes.get("name"), changes.get("parent_code"), "parent_code" in changes)


async def areas_with_counts(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every area with its own dwellings, accounts and current guests (the page sums subtrees)."""
    return await conn.fetch("""
        SELECT a.code, a.name, a.parent_code,
               coalesce(d.dwellings, 0) AS dwellings, coalesce(d.guests, 0) AS current_guests,
               coalesce(s.accounts, 0) AS accounts
          FROM areas a
          LEFT JOIN (SELECT area_code, count(*) AS dwellings, sum(current_guests) AS guests
                       FROM dwellings GROUP BY area_code) d ON d.area_code = a.code
          LEFT JOIN (SELECT area_code, count(*) AS accounts FROM accounts GROUP BY area_code) s
                 ON s.area_code = a.code
         ORDER BY a.code""")
