"""Request and response shapes of the dwellings domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from litestar.params import Parameter
from pydantic import BaseModel, Field

# The id in a path: a bigint of PostgreSQL, so a number outside its range is a 400, not a database error.
DwellingId = Annotated[int, Parameter(ge=1, le=2**63 - 1, description="a dwelling's id")]
Kind = Literal["rental_room", "homestay", "dormitory", "hotel_room"]


class DwellingIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=500)
    area_code: str = Field(min_length=6, max_length=64)
    kind: Kind
    capacity: int = Field(ge=1, le=10000, description="beds")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class DwellingPatch(BaseModel):
    """Only the fields sent change. Coordinates may be cleared with null; the other columns have no
    null to take, so a null for them is refused (400) rather than reaching the database."""

    name: str = Field(default=None, min_length=1, max_length=200)  # type: ignore[assignment]
    address: str = Field(default=None, min_length=1, max_length=500)  # type: ignore[assignment]
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
    registration_url: str
    created_at: datetime
    current_guests: int = Field(default=0, description="guests not checked out")
    overdue_stays: int = Field(default=0, description="stays past their expected check-out and the grace period")


class PublicDwelling(BaseModel):
    """What a guest holding the QR code may know: no owner, no guests."""

    name: str
    address: str
    kind: Kind
    area_name: str
