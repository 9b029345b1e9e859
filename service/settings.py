"""Configuration from the environment (see the table in README.md)."""

from __future__ import annotations

import base64
import binascii
import os
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """A setting that stops start-up; the message is one line naming the variable."""


def is_production(env: str | None, public_base_url: str | None) -> bool:
    """Production mode: said so, or serving guests on a public https origin."""
    return env == "production" or (public_base_url or "").startswith("https://")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VH_", extra="ignore", frozen=True)

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "VH_DATABASE_URL")
    )
    # A streaming replica of DATABASE_URL: police and statistics reads that may lag a little go there.
    read_database_url: str | None = None
    data_dir: Path = Path("var")
    public_base_url: str = "http://127.0.0.1:8000"
    admin_username: str | None = None
    admin_password: str | None = None
    master_key: str | None = None
    new_master_key: str | None = None  # only for `python -m service rekey`
    db_pool_size: int = Field(default=10, ge=1, le=200)  # per worker process
    # Worker processes serving the one port (`serve`): by default one per core the process may use.
    workers: int = Field(default_factory=lambda: len(os.sched_getaffinity(0)), ge=1, le=64)
    session_ttl_minutes: int = Field(default=12 * 60, ge=1)
    timezone: str = "Asia/Shanghai"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    allowed_hosts: list[str] = ["*"]
    trusted_proxies: list[str] = []
    longest_stay_days: int = Field(default=90, ge=1)
    overdue_grace_hours: int = Field(default=12, ge=0)
    retention_days: int = Field(default=3 * 365, ge=1)
    # A tour group behind one hotel Wi-Fi registers from one address: these are per minute.
    rate_limit_login_per_minute: int = Field(default=10, ge=1)  # failed logins from one address
    rate_limit_public_per_minute: int = Field(default=120, ge=1)
    rate_limit_token_per_minute: int = Field(default=30, ge=1)
    # Where the counts of those limits live, so that all instances share one budget (else each its own).
    redis_url: str | None = None
    redis_key_prefix: str = Field(default="vhotel", min_length=1, max_length=100)
    # Live streams open at once per instance: anonymous ones (a guest's verification status) per client
    # address, a police account's per account.
    max_streams_per_address: int = Field(default=50, ge=1)
    max_streams_per_account: int = Field(default=20, ge=1)
    # Every instance announces itself this often on the live-events channel; an instance that hears
    # nothing for three of these replaces its listening connection.
    live_heartbeat_seconds: float = Field(default=10, gt=0, le=300)
    # A request's head (request line and headers) larger than this is refused with 431; one not
    # received this long after the connection opened (or its first byte came) is refused with 408.
    max_request_head_bytes: int = Field(default=32 * 1024, ge=4096, le=1024 * 1024)
    request_head_timeout_seconds: float = Field(default=10, gt=0, le=300)
    # The identity registry adapter, as "module:Class" (service/verification/registry.py).
    identity_registry: str = "service.verification.registry:TableRegistry"
    # Statistics for analysts: a count below this is suppressed (docs/statistics.md).
    stats_min_cell: int = Field(default=3, ge=1, le=100)
    # How often ended nights are closed and capacity warnings evaluated (one instance at a time).
    stats_evaluate_seconds: float = Field(default=30, gt=0, le=3600)
    # "production" (or an https public origin) requires the operator's details below.
    env: Literal["development", "production"] = "development"
    # The data controller named in the guests' privacy notice (/privacy): who keeps the registrations.
    operator_name: str | None = Field(default=None, validate_default=True, max_length=200)
    operator_contact: str | None = Field(default=None, validate_default=True, max_length=500)

    @field_validator("operator_name", "operator_contact")
    @classmethod
    def _operator_in_production(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = (value or "").strip() or None
        if value is None and is_production(info.data.get("env"), info.data.get("public_base_url")):
            raise ValueError("must be set in production (VH_ENV=production or an https VH_PUBLIC_BASE_URL): "
                             "the guests' privacy notice names the operator and how to reach them")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _http_origin(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or " " in value:
            raise ValueError("must be an http:// or https:// URL, e.g. https://hotel.example.org")
        return value.rstrip("/")

    @field_validator("database_url", "read_database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value or None

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL, e.g. redis://127.0.0.1:6379/0")
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

    @field_validator("identity_registry")
    @classmethod
    def _importable_adapter(cls, value: str) -> str:
        from service.verification.registry import load_adapter

        load_adapter(value)
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
