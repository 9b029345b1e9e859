"""Request and response shapes of the areas domain."""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.inputs import StrictBody


class AreaIn(StrictBody):
    code: str = Field(pattern=r"^[0-9]{6}[0-9A-Za-z]{0,24}$", description="starts with a 6-digit division code")
    name: str = Field(min_length=1, max_length=200)
    parent_code: str | None = None


class AreaOut(BaseModel):
    code: str
    name: str
    parent_code: str | None


class AreaPatch(StrictBody):
    """Only the fields sent change."""

    name: str = Field(default=None, min_length=1, max_length=200)  # type: ignore[assignment]
    parent_code: str | None = Field(default=None, max_length=64, description="a new parent whose code begins this one's")


class AreaCounts(AreaOut):
    dwellings: int
    accounts: int
    current_guests: int
