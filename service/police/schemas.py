"""Request and response shapes of the police domain."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from service.inputs import JsonDatetime, StrictBody


class AreaCounts(BaseModel):
    area: str
    name: str
    current_guests: int
    floating_population: int = Field(description="resident-card holders registered outside the dwelling's county")
    foreign_guests: int
    arrivals_today: int
    departures_today: int
    occupied_dwellings: int
    dwellings: int
    beds: int
    current_stays: int
    overdue_stays: int
    capacity_anomalies: int
    pending_verifications: int
    duplicate_presences: int = Field(description="current stays registering a person already present in another "
                                                 "current stay (each such stay's guests are in current_guests too)")


class OriginProvince(BaseModel):
    province: str = Field(description="the first two digits of the division code")
    name: str = Field(description="the province's official (Chinese) name")
    names: dict[Literal["en", "zh"], str] = Field(description="its name in English and in Chinese")
    guests: int


class Occupancy(AreaCounts):
    origin_provinces: list[OriginProvince]
    children: list[AreaCounts]


Risk = Literal["red", "yellow", "green"]


class DwellingOnMap(BaseModel):
    id: int
    name: str
    address: str
    area_code: str
    latitude: float | None
    longitude: float | None
    capacity: int
    current_guests: int
    risk: Risk


class HourCounts(BaseModel):
    hour: datetime
    arrivals: int
    departures: int


class DwellingRef(BaseModel):
    id: int
    name: str
    address: str
    area_code: str


class SearchResult(BaseModel):
    """One stay of the person searched for, with full numbers: police only, audited."""

    stay_id: UUID
    full_name: str
    document_type: str | None
    document_number: str | None
    nationality: str | None
    phone: str
    dwelling: DwellingRef
    check_in: date
    check_out: date
    registered_by: str
    created_at: datetime
    checked_out_at: datetime | None


class WatchlistIn(StrictBody):
    document_number: str = Field(min_length=5, max_length=40)
    note: str = Field(min_length=1, max_length=500)
    expires_at: JsonDatetime | None = Field(default=None, description="after this the entry matches nothing")


class WatchlistEntry(BaseModel):
    id: int
    document_masked: str
    note: str
    area_code: str
    created_at: datetime
    created_by: str = Field(description="the display name of the officer who added it")
    expires_at: datetime | None


AlertKind = Literal["watchlist", "duplicate_presence", "capacity", "unusual_arrivals"]


class Alert(BaseModel):
    """An alert as one officer may see it: the inbox's items and the stream's `alert` events."""

    id: int
    kind: AlertKind
    area_code: str
    area_name: str
    dwelling_id: int | None
    dwelling_name: str | None
    dwelling_address: str | None
    stay_id: UUID | None
    verification_id: UUID | None
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None = Field(description="who acknowledged it (display name)")
    watchlist_area_name: str | None = Field(description="watchlist hits: the office whose entry matched")
    note: str | None = Field(description="watchlist hits: the entry's note, only where the officer may list the entry")
    document_masked: str | None = Field(description="watchlist hits: the entry's masked number, as the note")
    details: dict = Field(description="per kind; duplicate_presence: `other_stay` (its dwelling only inside the "
                                      "officer's jurisdiction)")


class AlertPage(BaseModel):
    items: list[Alert]
    next: int | None = Field(description="pass as `before` for the next (older) page; null on the last")
