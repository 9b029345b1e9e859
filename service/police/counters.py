"""The counter applier: brings the occupancy counters and the statistics ledger up to date in batches.

A registration, a check-out or any other change of a stay only appends what changed to stay_changes
(0012_counter_applier.sql); counters_apply() drains a batch and applies it in one transaction. One
instance at a time applies: it holds a session-level advisory lock on a connection of its own, which
PostgreSQL releases when that connection ends (the process died, the network went): another instance
then takes the lock at its next try and applies what is pending. The others only try for the lock.
"""

from __future__ import annotations

import logging

import asyncpg

log = logging.getLogger(__name__)

# Any constant works; every instance must use the same one.
APPLIER_LOCK_ID = 0x76686F746C61  # "vhotla"
BATCH = 5000  # changes per transaction: a backlog (the applier was down a while) is applied in steps
POOL_WAIT_SECONDS = 5.0


async def apply_pending(conn: asyncpg.Connection) -> set[str]:
    """Apply every change pending, a batch a transaction (savepoints inside the caller's); the areas touched."""
    areas: set[str] = set()
    while True:
        async with conn.transaction():
            applied, touched = await conn.fetchrow("SELECT * FROM counters_apply($1)", BATCH)
        areas.update(touched)
        if applied < BATCH:
            return areas


class CounterApplier:
    """This instance's side of the applier: it applies while it holds the lock, and tries to take it otherwise."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: asyncpg.Connection | None = None  # held out of the pool while it holds the lock

    @property
    def holds_lock(self) -> bool:
        return self._conn is not None

    async def apply(self) -> set[str]:
        """Apply every pending change if this instance holds (or now takes) the lock; the areas they touched."""
        if self._conn is None and not await self._take_lock():
            return set()
        assert self._conn is not None
        try:
            return await apply_pending(self._conn)
        except Exception:
            # Whatever was not committed is still pending; drop the connection (and the lock with it).
            await self.release()
            raise

    async def _take_lock(self) -> bool:
        conn = await self._pool.acquire(timeout=POOL_WAIT_SECONDS)  # an exhausted pool: try again next time
        try:
            taken = await conn.fetchval("SELECT pg_try_advisory_lock($1)", APPLIER_LOCK_ID)
        except BaseException:
            await self._pool.release(conn)
            raise
        if not taken:
            await self._pool.release(conn)
            return False
        log.info("this instance applies the counters now")
        self._conn = conn
        return True

    async def release(self) -> None:
        """Give up the lock (another instance takes over) and the connection."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.execute("SELECT pg_advisory_unlock($1)", APPLIER_LOCK_ID)
        except Exception:  # noqa: BLE001 - a broken connection: closing it releases the lock
            conn.terminate()
        await self._pool.release(conn)
