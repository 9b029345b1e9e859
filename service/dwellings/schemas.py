"""Request and response shapes of the dwellings domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from litestar.params import Parameter
from pydantic import BaseModel, Field

from service.inputs import StrictBody

# The id in a path: a bigint of PostgreSQL, so a number outside its range is a 400, not a database error.
DwellingId = Annotated[int, Parameter(ge=1, le=2**63 - 1, description="a dwelling's id")]
Kind = Literal["rental_room", "homestay", "dormitory", "hotel_room"]


class DwellingIn(StrictBody):
    name: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=500)
    area_code: str = Field(min_length=6, max_length=64)
    kind: Kind
    capacity: int = Field(ge=1, le=10000, description="beds")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class DwellingPatch(StrictBody):
    """Only the fields sent change. Coordinates may be cleared with null; the other columns have no
    null to take, so a null for them is refused (400) rather than reaching the database."""

    name: str = Field(default=None, min_length=1, max_length=200)  # type: ignore[assignment]
    address: str = Field(default=None, min_length=1, max_length=500)  # type: ignore[assignment]
    area_code: str = Field(default=None, min_length=6, max_length=64,  # type: ignore[assignment]
                           description="moves the dwelling: only while nobody stays there (else 409)")
    kind: Kind = None  # type: ignore[assignment]
    capacity: int = Field(default=None, ge=1, le=10000)  # type: ignore[assignment]
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    active: bool = None  # type: ignore[assignment]


class DwellingOut(BaseModel):
    id: int
    name: str
    address: str
    area_code: str
    kind: Kind
    capacity: int
    latitude: float | None
    longitude: float | None
    active: bool
    registration_url: str | None = Field(description="what the QR code encodes; for the owner only, null for others")
    created_at: datetime
    current_guests: int = Field(default=0, description="guests not checked out")
    overdue_stays: int = Field(default=0, description="stays past their expected check-out and the grace period")
    arrivals_today: int = Field(default=0, description="guests registered today (display zone), checked out or not")
    over_capacity: bool = Field(default=False, description="more current guests than beds")


class PublicDwelling(BaseModel):
    """What a guest holding the QR code may know: no owner, no guests."""

    name: str
    address: str
    kind: Kind
    area_name: str


class ImportedDwelling(BaseModel):
    line: int
    name: str
    address: str
    area_code: str
    kind: Kind
    capacity: int
    latitude: float | None
    longitude: float | None
    owner: str


class ImportOut(BaseModel):
    dry_run: bool
    created: int = Field(description="dwellings created (0 in a dry run)")
    would_create: int = Field(description="dwellings the file holds, all checked")
    dwellings: list[ImportedDwelling] = Field(default_factory=list, description="in a dry run: what would be created")


class AdminDwelling(BaseModel):
    """What an administrator manages: never the guests, never the QR token (the owner prints the posters)."""

    id: int
    name: str
    address: str
    area_code: str
    area_name: str
    kind: Kind
    capacity: int
    active: bool
    owner_id: int
    owner: str
    owner_role: str
    created_at: datetime


class AdminDwellingPage(BaseModel):
    items: list[AdminDwelling]
    total: int
    page: int
    page_size: int


class TransferIn(StrictBody):
    owner: str = Field(min_length=1, max_length=64, description="the new owner's username: a landlord or desk")


class AdminDwellingPatch(StrictBody):
    active: bool = None  # type: ignore[assignment]
    area_code: str = Field(default=None, min_length=6, max_length=64,  # type: ignore[assignment]
                           description="moves the dwelling: only while nobody stays there (else 409)")
