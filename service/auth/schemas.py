"""Request and response shapes of the auth domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["admin", "police", "landlord", "desk"]


@dataclass(frozen=True)
class Staff:
    """The authenticated staff member of a request."""

    id: int
    username: str
    role: Role
    display_name: str
    area_code: str | None


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginOut(BaseModel):
    token: str
    role: Role
    username: str
    display_name: str
    area_code: str | None
    expires_at: datetime


class AccountIn(BaseModel):
    username: str = Field(pattern=r"^[A-Za-z0-9_.-]{3,64}$")
    password: str = Field(min_length=10, max_length=256)
    role: Role
    display_name: str = Field(default="", max_length=200)
    area_code: str | None = Field(default=None, max_length=64)


class AccountOut(BaseModel):
    id: int
    username: str
    role: Role
    display_name: str
    area_code: str | None
    created_at: datetime
