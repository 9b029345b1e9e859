"""HTTP routes of the areas domain."""

from __future__ import annotations

import asyncpg
from litestar import Controller, get, patch, post

from service.areas import domain
from service.areas.schemas import AreaCounts, AreaIn, AreaOut, AreaPatch
from service.auth.guards import admin_only, any_staff
from service.auth.schemas import Staff


class AreaController(Controller):
    path = "/api/v1/areas"
    tags = ["areas"]

    @post(name="areas:create", guards=[admin_only])
    async def create(self, db: asyncpg.Connection, data: AreaIn) -> AreaOut:
        return AreaOut(**dict(await domain.create_area(db, data)))

    @get(name="areas:list", guards=[any_staff], description="All areas; police see their jurisdiction's subtree.")
    async def list_areas(self, db: asyncpg.Connection, staff: Staff) -> list[AreaOut]:
        rows = await domain.list_areas(db, domain.jurisdiction_of(staff))
        return [AreaOut(**dict(r)) for r in rows]

    @get("/counts", name="areas:counts", guards=[admin_only],
         description="Every area with its own dwellings, accounts and current guests (not its subtree's).")
    async def counts(self, db: asyncpg.Connection) -> list[AreaCounts]:
        return [AreaCounts(**dict(r)) for r in await domain.areas_with_counts(db)]

    @patch("/{code:str}", name="areas:update", guards=[admin_only],
           description="Rename (`name`), or move (`parent_code`: an area whose code begins this one's).")
    async def update(self, db: asyncpg.Connection, code: str, data: AreaPatch) -> AreaOut:
        return AreaOut(**dict(await domain.update_area(db, code, data)))
