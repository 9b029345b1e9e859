"""Ordered SQL migrations, applied once even when many instances start together."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

import asyncpg

from service.progress import SILENT, Progress

# Any constant works; every instance must use the same one.
MIGRATION_LOCK_ID = 0x76686F74656C  # "vhotel"


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("service.db") / "migrations"
    files = sorted(f for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(f.name.removesuffix(".sql"), f.read_text("utf-8")) for f in files]


def reported_to(progress: Progress) -> Callable[[asyncpg.Connection, asyncpg.PostgresLogMessage], None]:
    """A long migration tells how far it is by notices (RAISE NOTICE), which PostgreSQL sends as they are
    raised: ``phase <total> <unit>: <what>`` starts a stage, ``advance <n>[: <what>]`` adds to it."""

    def listener(_: asyncpg.Connection, notice: asyncpg.PostgresLogMessage) -> None:
        verb, _, rest = notice.message.partition(" ")
        if verb == "phase":
            amount, _, rest = rest.partition(" ")
            unit, _, description = rest.partition(": ")
            progress.phase(description, int(amount), unit)
        elif verb == "advance":
            progress.advance(int(rest.partition(":")[0]))

    return listener


async def apply_migrations(conn: asyncpg.Connection, progress: Progress = SILENT) -> list[str]:
    """Apply the migrations not yet recorded; return the versions applied now."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    listener = reported_to(progress)
    conn.add_log_listener(listener)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, sql in migration_files():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied_now.append(version)
    finally:
        conn.remove_log_listener(listener)
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    return applied_now
