"""HTTP routes of the dwellings domain: owners' API, QR images, posters, and the guests' public view."""

from __future__ import annotations

from typing import Literal

import asyncpg
from litestar import Controller, Request, Response, get, patch, post
from litestar.datastructures import State
from litestar.response import Template

from service.auth.guards import any_staff, owners
from service.auth.schemas import Staff
from service.dwellings import domain
from service.dwellings.qr import MEDIA_TYPES, QrKind, inline_svg, qr_etag, qr_image
from service.dwellings.schemas import DwellingId, DwellingIn, DwellingOut, DwellingPatch, PublicDwelling
from service.stays import domain as stays_domain

PosterSize = Literal["a4", "a6"]
COLUMNS_OUT = [k for k in DwellingOut.model_fields if k not in ("registration_url", "current_guests", "overdue_stays")]


def registration_url(state: State, token: str) -> str:
    return f"{state.settings.public_base_url}/r/{token}"


def dwelling_out(state: State, row: asyncpg.Record, occupancy: tuple[int, int] = (0, 0)) -> DwellingOut:
    """``occupancy``: current guests and overdue stays, where the caller counted them."""
    return DwellingOut(**{k: row[k] for k in COLUMNS_OUT}, registration_url=registration_url(state, row["qr_token"]),
                       current_guests=occupancy[0], overdue_stays=occupancy[1])


def qr_response(request: Request, url: str, kind: QrKind) -> Response[bytes]:
    etag = qr_etag(url, kind)
    # no-cache: the image may change on rotation, so clients revalidate; a 304 costs nothing to make.
    headers = {"ETag": f'"{etag}"', "Cache-Control": "private, no-cache"}
    if request.headers.get("if-none-match", "").strip('"') == etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(qr_image(url, kind), media_type=MEDIA_TYPES[kind], headers=headers)


def poster_page(state: State, rows: list[asyncpg.Record], size: PosterSize, title: str) -> Template:
    dwellings = [
        {"name": r["name"], "address": r["address"], "url": (url := registration_url(state, r["qr_token"])),
         "svg": inline_svg(url)}
        for r in rows
    ]
    return Template(template_name="poster.html", context={"dwellings": dwellings, "size": size, "title": title})


class DwellingController(Controller):
    path = "/api/v1/dwellings"
    tags = ["dwellings"]

    @post(name="dwellings:create", guards=[owners])
    async def create(self, state: State, db: asyncpg.Connection, staff: Staff, data: DwellingIn) -> DwellingOut:
        return dwelling_out(state, await domain.create_dwelling(db, staff, data))

    @get(name="dwellings:list", guards=[any_staff],
         description="Owners: their own dwellings. Police: those in their jurisdiction. Admins: all.")
    async def list_dwellings(self, state: State, db: asyncpg.Connection, staff: Staff) -> list[DwellingOut]:
        rows = await domain.visible_dwellings(db, staff)
        occupied = await stays_domain.occupancy(db, [r["id"] for r in rows], state.settings.overdue_grace_hours)
        return [dwelling_out(state, r, occupied.get(r["id"], (0, 0))) for r in rows]

    @get("/posters", name="dwellings:posters", guards=[owners], media_type="text/html")
    async def all_posters(self, state: State, db: asyncpg.Connection, staff: Staff, size: PosterSize = "a4") -> Template:
        rows = [r for r in await domain.visible_dwellings(db, staff) if r["active"]]
        return poster_page(state, rows, size, "QR posters")

    @get("/{dwelling_id:int}", name="dwellings:read", guards=[any_staff])
    async def read(self, state: State, db: asyncpg.Connection, staff: Staff, dwelling_id: DwellingId) -> DwellingOut:
        return dwelling_out(state, await domain.visible_dwelling(db, staff, dwelling_id))

    @patch("/{dwelling_id:int}", name="dwellings:update", guards=[owners],
           description="Change fields; `active: false` deactivates the dwelling (its QR code stops taking registrations).")
    async def update(
        self, state: State, db: asyncpg.Connection, staff: Staff, dwelling_id: DwellingId, data: DwellingPatch
    ) -> DwellingOut:
        return dwelling_out(state, await domain.update_dwelling(db, staff, dwelling_id, data))

    @get("/{dwelling_id:int}/qr.svg", name="dwellings:qr-svg", guards=[owners], media_type="image/svg+xml")
    async def qr_svg(self, request: Request, state: State, db: asyncpg.Connection, staff: Staff, dwelling_id: DwellingId) -> Response[bytes]:
        row = await domain.owned_dwelling(db, staff, dwelling_id)
        return qr_response(request, registration_url(state, row["qr_token"]), "svg")

    @get("/{dwelling_id:int}/qr.png", name="dwellings:qr-png", guards=[owners], media_type="image/png")
    async def qr_png(self, request: Request, state: State, db: asyncpg.Connection, staff: Staff, dwelling_id: DwellingId) -> Response[bytes]:
        row = await domain.owned_dwelling(db, staff, dwelling_id)
        return qr_response(request, registration_url(state, row["qr_token"]), "png")

    @get("/{dwelling_id:int}/poster", name="dwellings:poster", guards=[owners], media_type="text/html")
    async def poster(self, state: State, db: asyncpg.Connection, staff: Staff, dwelling_id: DwellingId, size: PosterSize = "a4") -> Template:
        row = await domain.owned_dwelling(db, staff, dwelling_id)
        return poster_page(state, [row], size, row["name"])

    @post("/{dwelling_id:int}/qr/rotate", name="dwellings:rotate", guards=[owners], status_code=200,
          description="A new QR token; the old URL answers 410 Gone from now on.")
    async def rotate(self, state: State, db: asyncpg.Connection, staff: Staff, dwelling_id: DwellingId) -> DwellingOut:
        return dwelling_out(state, await domain.rotate_token(db, staff, dwelling_id))


class PublicDwellingController(Controller):
    path = "/api/v1/public/dwellings"
    tags = ["public"]

    @get("/{token:str}", name="public:dwelling")
    async def read(self, db: asyncpg.Connection, token: str) -> PublicDwelling:
        row = await domain.dwelling_for_token(db, token)
        return PublicDwelling(name=row["name"], address=row["address"], kind=row["kind"], area_name=row["area_name"])
