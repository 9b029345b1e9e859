"""Request and response shapes of the areas domain."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AreaIn(BaseModel):
    code: str = Field(pattern=r"^[0-9]{6}[0-9A-Za-z]{0,24}$", description="starts with a 6-digit division code")
    name: str = Field(min_length=1, max_length=200)
    parent_code: str | None = None


class AreaOut(BaseModel):
    code: str
    name: str
    parent_code: str | None
