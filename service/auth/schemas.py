"""Request and response shapes of the auth domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from litestar.params import Parameter
from pydantic import BaseModel, Field

from service.inputs import StrictBody

# The id in a path: a bigint of PostgreSQL, so a number outside its range is a 400, not a database error.
AccountId = Annotated[int, Parameter(ge=1, le=2**63 - 1, description="an account's id")]
Role = Literal["admin", "police", "landlord", "desk", "analyst"]


@dataclass(frozen=True)
class Staff:
    """The authenticated staff member of a request."""

    id: int
    username: str
    role: Role
    display_name: str
    area_code: str | None


class LoginIn(StrictBody):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginOut(BaseModel):
    token: str
    role: Role
    username: str
    display_name: str
    area_code: str | None
    expires_at: datetime


class MeOut(BaseModel):
    id: int
    username: str
    role: Role
    display_name: str
    area_code: str | None
    previous_login_at: datetime | None
    failed_logins_since_previous_login: int


class PasswordChangeIn(StrictBody):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=10, max_length=256)


class SessionsEndedOut(BaseModel):
    sessions_ended: int


class AccountIn(StrictBody):
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
    disabled: bool = False
    last_login_at: datetime | None = None


class PasswordResetOut(BaseModel):
    password: str = Field(description="the new password, shown this once; every session of the account has ended")
