"""Configuration from the environment (see the table in README.md)."""

from __future__ import annotations

import base64
import binascii
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """A setting that stops start-up; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VH_", extra="ignore", frozen=True)

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "VH_DATABASE_URL")
    )
    data_dir: Path = Path("var")
    public_base_url: str = "http://127.0.0.1:8000"
    admin_username: str | None = None
    admin_password: str | None = None
    master_key: str | None = None
    new_master_key: str | None = None  # only for `python -m service rekey`
    db_pool_size: int = Field(default=10, ge=1, le=200)
    session_ttl_minutes: int = Field(default=12 * 60, ge=1)
    timezone: str = "Asia/Shanghai"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    allowed_hosts: list[str] = ["*"]
    trusted_proxies: list[str] = []
    longest_stay_days: int = Field(default=90, ge=1)
    overdue_grace_hours: int = Field(default=12, ge=0)
    retention_days: int = Field(default=3 * 365, ge=1)
    # A tour group behind one hotel Wi-Fi registers from one address: these are per minute.
    rate_limit_login_per_minute: int = Field(default=10, ge=1)
    rate_limit_public_per_minute: int = Field(default=120, ge=1)
    rate_limit_token_per_minute: int = Field(default=30, ge=1)
    # Every instance announces itself this often on the live-events channel; an instance that hears
    # nothing for three of these replaces its listening connection.
    live_heartbeat_seconds: float = Field(default=10, gt=0, le=300)

    @field_validator("public_base_url")
    @classmethod
    def _http_origin(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or " " in value:
            raise ValueError("must be an http:// or https:// URL, e.g. https://hotel.example.org")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value or None

    @field_validator("master_key", "new_master_key")
    @classmethod
    def _base64_key(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            key = base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ValueError("must be 32 random bytes in base64 (e.g. from: openssl rand -base64 32)") from None
        if len(key) != 32:
            raise ValueError(f"must be 32 bytes in base64, got {len(key)} bytes")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}, e.g. Asia/Shanghai") from None
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


ENV_NAMES = {"database_url": "DATABASE_URL"}


def load_settings(**overrides: object) -> Settings:
    """Read the environment; a bad value raises SettingsError naming its variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        name = ENV_NAMES.get(field, f"VH_{field.upper()}")
        message = error["msg"].removeprefix("Value error, ")
        raise SettingsError(f"setting {name}: {message}") from None
