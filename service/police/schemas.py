"""Request and response shapes of the police domain."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field


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


class OriginProvince(BaseModel):
    province: str = Field(description="the first two digits of the division code")
    name: str
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


class WatchlistIn(BaseModel):
    document_number: str = Field(min_length=5, max_length=40)
    note: str = Field(min_length=1, max_length=500)


class WatchlistEntry(BaseModel):
    id: int
    document_masked: str
    note: str
    area_code: str
    created_at: datetime
