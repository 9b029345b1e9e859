"""The asyncpg connection pool and the per-request connection dependency."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

import asyncpg
from litestar.datastructures import State


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _reset_connection(conn: asyncpg.Connection) -> None:
    """Only what a request can leave behind: an open transaction.

    asyncpg's default reset costs a round trip on every release to undo session state
    (LISTEN, advisory locks, SET) that no request here leaves: listening has its own
    connection, locks are taken per transaction, and settings are fixed at connect.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(dsn: str, size: int, timezone: str) -> asyncpg.Pool:
    """``timezone``: the display zone, so ``current_date`` in SQL is the local day (arrivals today)."""
    return await asyncpg.create_pool(
        dsn,
        server_settings={"timezone": timezone},
        min_size=min(2, size),
        max_size=size,
        init=_init_connection,
        reset=_reset_connection,
        command_timeout=30,
        # Connections that saw the database go away are replaced, not reused.
        max_inactive_connection_lifetime=60,
    )


async def provide_db(state: State) -> AsyncGenerator[asyncpg.Connection, None]:
    """One pooled connection for the duration of a request."""
    async with state.pool.acquire() as conn:
        yield conn
