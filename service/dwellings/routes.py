"""HTTP routes of the dwellings domain: owners' API, QR images, posters, and the guests' public view."""

from __future__ import annotations

from typing import Annotated, Literal

import asyncpg
from litestar import Controller, Request, Response, get, patch, post
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import Template

from service.auth.guards import admin_only, any_staff, owners, requires_role
from service.auth.schemas import Staff
from service.csvfile import read_upload
from service.dwellings import domain, importing
from service.dwellings.qr import MEDIA_TYPES, QrKind, inline_svg, qr_etag, qr_image
from service.dwellings.schemas import (
    AdminDwelling,
    AdminDwellingPage,
    AdminDwellingPatch,
    DwellingId,
    DwellingIn,
    DwellingOut,
    DwellingPatch,
    ImportedDwelling,
    ImportOut,
    PublicDwelling,
    TransferIn,
)
from service.privacy import audit
from service.stays import domain as stays_domain
from service.stays.domain import Occupancy

PosterSize = Literal["a4", "a6", "sticker"]
# Each size has its own sheet static/poster-{size}.css; the poster page links to every size.
POSTER_SIZES: dict[PosterSize, str] = {
    "a4": "A4 (210 × 297 mm)", "a6": "A6 (105 × 148 mm)", "sticker": "门贴 Door sticker (74 × 105 mm)"}
# A village's file: 10,000 lines of Chinese names and addresses fit in a few megabytes.
IMPORT_MAX_BYTES = 16 * 1024 * 1024
importers = requires_role("admin", "landlord", "desk")
COLUMNS_OUT = [k for k in DwellingOut.model_fields
               if k not in ("registration_url", "current_guests", "overdue_stays", "arrivals_today", "over_capacity")]


def registration_url(state: State, token: str) -> str:
    return f"{state.settings.public_base_url}/r/{token}"


def dwelling_out(state: State, staff: Staff, row: asyncpg.Record, counts: Occupancy = Occupancy()) -> DwellingOut:
    """``counts``: current guests, overdue stays and arrivals, where the caller counted them. The registration
    URL holds the QR token, a capability to register guests there: only the owner gets it."""
    url = registration_url(state, row["qr_token"]) if row["owner_id"] == staff.id else None
    return DwellingOut(**{k: row[k] for k in COLUMNS_OUT}, registration_url=url,
                       current_guests=counts.current_guests, overdue_stays=counts.overdue_stays,
                       arrivals_today=counts.arrivals_today, over_capacity=counts.current_guests > row["capacity"])


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
    return Template(template_name="poster.html", context={"dwellings": dwellings, "size": size, "sizes": POSTER_SIZES, "title": title})


class DwellingController(Controller):
    path = "/api/v1/dwellings"
    tags = ["dwellings"]

    @post(name="dwellings:create", guards=[owners])
    async def create(self, state: State, db: asyncpg.Connection, staff: Staff, data: DwellingIn) -> DwellingOut:
        return dwelling_out(state, staff, await domain.create_dwelling(db, staff, data))

    @get(name="dwellings:list", guards=[any_staff],
         description="Owners: their own dwellings. Police: those in their jurisdiction. Admins: all. "
                     "Each with its current guests, overdue stays and today's arrivals, counted in one query.")
    async def list_dwellings(self, state: State, db: asyncpg.Connection, staff: Staff) -> list[DwellingOut]:
        rows = await domain.visible_dwellings(db, staff)
        counted = await stays_domain.occupancy(db, [r["id"] for r in rows], state.settings.overdue_grace_hours)
        return [dwelling_out(state, staff, r, counted.get(r["id"], Occupancy())) for r in rows]

    @get("/posters", name="dwellings:posters", guards=[owners], media_type="text/html",
         description="The posters of all one's active dwellings, or of those named by `id` (repeat it: "
                     "`?id=3&id=7`); ids that are not one's own are left out.")
    async def all_posters(
        self, state: State, db: asyncpg.Connection, staff: Staff, size: PosterSize = "a4",
        ids: Annotated[list[int] | None, Parameter(query="id", description="only these dwellings")] = None,
    ) -> Template:
        chosen = set(ids or ())
        rows = [r for r in await domain.visible_dwellings(db, staff) if r["active"] and (not chosen or r["id"] in chosen)]
        return poster_page(state, rows, size, "QR posters")

    @post("/import", name="dwellings:import", guards=[importers], status_code=201,
          request_max_body_size=IMPORT_MAX_BYTES,
          description="A CSV file (multipart field `file`, or the body as text/csv; UTF-8 or GB18030) with the header "
                      "`name,address,area_code,kind,capacity,latitude,longitude,owner`. `owner`: a landlord's or "
                      "desk's username (admins); landlords and desks import their own (owner empty or themselves). "
                      "Every line is checked: 422 lists every problem with its line and nothing is created, else "
                      "all are created in one transaction (201). `dry_run=true` checks only (200, with the rows).")
    async def import_file(self, request: Request, db: asyncpg.Connection, staff: Staff,
                          dry_run: bool = False) -> Response[ImportOut]:
        data = await read_upload(request)
        if dry_run:
            rows = await importing.import_dwellings(db, staff, data, dry_run=True)
            preview = [ImportedDwelling(**{k: getattr(r, k) for k in ImportedDwelling.model_fields}) for r in rows]
            return Response(ImportOut(dry_run=True, created=0, would_create=len(rows), dwellings=preview),
                            status_code=200)
        async with db.transaction():
            rows = await importing.import_dwellings(db, staff, data, dry_run=False)
            await audit.append(db, staff, "dwellings.import", details={"created": len(rows)})
        return Response(ImportOut(dry_run=False, created=len(rows), would_create=len(rows)), status_code=201)

    @get("/{dwelling_id:int}", name="dwellings:read", guards=[any_staff])
    async def read(self, state: State, db: asyncpg.Connection, staff: Staff, dwelling_id: DwellingId) -> DwellingOut:
        return dwelling_out(state, staff, await domain.visible_dwelling(db, staff, dwelling_id))

    @patch("/{dwelling_id:int}", name="dwellings:update", guards=[owners],
           description="Change fields; `active: false` deactivates the dwelling (its QR code stops taking registrations); "
                       "`area_code` moves it, only while nobody stays there (409 `dwelling_occupied`) and once "
                       "the statistics of its last guests' nights are closed (409 `dwelling_statistics_open`).")
    async def update(
        self, state: State, db: asyncpg.Connection, staff: Staff, dwelling_id: DwellingId, data: DwellingPatch
    ) -> DwellingOut:
        return dwelling_out(state, staff, await domain.update_dwelling(db, staff, dwelling_id, data))

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
        return dwelling_out(state, staff, await domain.rotate_token(db, staff, dwelling_id))


class PublicDwellingController(Controller):
    path = "/api/v1/public/dwellings"
    tags = ["public"]

    @get("/{token:str}", name="public:dwelling")
    async def read(self, db: asyncpg.Connection, token: str) -> PublicDwelling:
        row = await domain.dwelling_for_token(db, token)
        return PublicDwelling(name=row["name"], address=row["address"], kind=row["kind"], area_name=row["area_name"])


class AdminDwellingController(Controller):
    """Every owner's dwellings, for administrators: search, transfer, deactivate. No guests, no QR tokens."""

    path = "/api/v1/admin/dwellings"
    tags = ["administration"]
    guards = [admin_only]

    @get(name="admin:dwellings", description="`q`: part of the name, address or owner's username; `owner`: a "
                                             "username; `area`: a code (its whole subtree). Paged by `page`.")
    async def search(self, db: asyncpg.Connection, q: str = "", owner: str = "", area: str = "",
                     page: Annotated[int, Parameter(ge=1, le=100000)] = 1,
                     page_size: Annotated[int, Parameter(ge=1, le=200)] = 50) -> AdminDwellingPage:
        rows, total = await domain.search_dwellings(db, q, owner, area, page, page_size)
        return AdminDwellingPage(items=[AdminDwelling(**dict(r)) for r in rows], total=total, page=page,
                                 page_size=page_size)

    @post("/{dwelling_id:int}/transfer", name="admin:dwellings-transfer", status_code=200,
          description="Give the dwelling to another landlord or desk; its QR code and posters stay valid.")
    async def transfer(self, db: asyncpg.Connection, staff: Staff, dwelling_id: DwellingId,
                       data: TransferIn) -> AdminDwelling:
        async with db.transaction():
            row = await domain.transfer(db, dwelling_id, data.owner)
            await audit.append(db, staff, "dwelling.transfer", details={"dwelling_id": dwelling_id, "owner": row["owner"]})
        return AdminDwelling(**dict(row))

    @patch("/{dwelling_id:int}", name="admin:dwellings-update",
           description="`active: false` deactivates the dwelling: its QR code stops taking registrations. "
                       "`area_code` moves it, only while nobody stays there (409 `dwelling_occupied`).")
    async def update(self, db: asyncpg.Connection, staff: Staff, dwelling_id: DwellingId,
                     data: AdminDwellingPatch) -> AdminDwelling:
        changes = data.model_dump(exclude_unset=True)
        async with db.transaction():
            if "area_code" in changes:
                await domain.move_dwelling(db, staff, dwelling_id, changes["area_code"])
            if "active" in changes:
                await domain.set_active(db, dwelling_id, data.active)
                await audit.append(db, staff, "dwelling.activate" if data.active else "dwelling.deactivate",
                                   details={"dwelling_id": dwelling_id})
            row = await domain.admin_dwelling(db, dwelling_id)
        return AdminDwelling(**dict(row))
