"""Areas and jurisdictions: the SQL behind the tree."""

from __future__ import annotations

import asyncpg

from service.areas.schemas import AreaIn
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
