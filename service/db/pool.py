"""The asyncpg connection pools and the per-request connection dependencies.

``db`` is a connection to the primary: every write, and every read that must see what was just written
(the caller's own change, or the change an alert or notification told them of). ``read_db`` is for reads
that may lag by the replication delay (counts, maps, statistics): a connection to the replica of
``VH_READ_DATABASE_URL`` when it is set, else the request's ``db`` itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from litestar.datastructures import State
from litestar.di import Provide

log = logging.getLogger(__name__)

# A replica that does not answer within this is taken as away: the read goes to the primary.
REPLICA_WAIT_SECONDS = 2


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


async def create_pool(dsn: str, size: int, timezone: str, *, min_size: int = 2,
                      connect_timeout: float = 60) -> asyncpg.Pool:
    """``timezone``: the display zone, so ``current_date`` in SQL is the local day (arrivals today).

    No JIT compilation: PostgreSQL compiles a statement whose estimated cost is high, which a cached
    generic plan over every month's partitions can be however few rows it reads, and spent 150 ms
    compiling a statement of the counter applier that then ran in 1 ms. The service's statements are
    short; its long ones (statistics) run interpreted too (service/statistics/figures.py).
    """
    return await asyncpg.create_pool(
        dsn,
        server_settings={"timezone": timezone, "jit": "off"},
        min_size=min(min_size, size),
        timeout=connect_timeout,
        max_size=size,
        init=_init_connection,
        reset=_reset_connection,
        command_timeout=30,
        # Connections that saw the database go away are replaced, not reused.
        max_inactive_connection_lifetime=60,
    )


async def create_replica_pool(dsn: str, size: int, timezone: str) -> asyncpg.Pool:
    """No connection at start: the service starts, and serves from the primary, while the replica is away."""
    return await create_pool(dsn, size, timezone, min_size=0, connect_timeout=REPLICA_WAIT_SECONDS)


async def provide_db(state: State) -> AsyncGenerator[asyncpg.Connection, None]:
    """One pooled connection for the duration of a request."""
    async with state.pool.acquire() as conn:
        yield conn


async def provide_replica_db(state: State) -> AsyncGenerator[asyncpg.Connection, None]:
    """A connection to the replica; the primary's while the replica is away (stale reads may be fresh ones).

    Away is a connection that fails or takes over REPLICA_WAIT_SECONDS; a busy replica is waited for,
    as the primary is.
    """
    try:
        conn = await state.read_pool.acquire()
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("replica away, reading from the primary", extra={"error": type(exc).__name__})
        conn = None
    if conn is None:  # outside the except clause: the request's own errors do not chain to the replica's
        async with state.pool.acquire() as primary:
            yield primary
        return
    try:
        yield conn
    finally:
        await state.read_pool.release(conn)


async def primary_for_reads(db: asyncpg.Connection) -> asyncpg.Connection:
    """Without a replica, ``read_db`` is the request's ``db``."""
    return db


def read_db_provider(replica: bool) -> Provide:
    return Provide(provide_replica_db) if replica else Provide(primary_for_reads)


@asynccontextmanager
async def primary_connection(state: State, read_db: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """For a write in a route that reads from ``read_db``: ``read_db`` itself unless it is a standby's.

    A route never asks for ``db`` beside ``read_db``: a request holding a replica's connection may wait
    here for a primary's, and none holding a primary's waits for a replica's, so two never wait on each
    other; without a replica (or while it is away) the one primary connection does both.
    """
    # PostgreSQL (14 on) reports in_hot_standby at connect and when a standby is promoted.
    if getattr(read_db.get_settings(), "in_hot_standby", "off") != "on":
        yield read_db
        return
    async with state.pool.acquire() as conn:
        yield conn
