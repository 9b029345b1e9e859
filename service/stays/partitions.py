"""Month partitions of stays and their guests (0014_stay_partitions.sql), made ahead of the check-ins.

A registration's check-in is from yesterday to a week ahead (service/stays/documents.py), so yesterday's
month, this month and the next MONTHS_AHEAD are always there: made at start-up and again every few hours
by each instance (the database function takes a lock and makes a month once). A check-in no month
partition holds lands in the DEFAULT partition and moves into its month when that is made: no
registration fails for want of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from datetime import date

import asyncpg
from litestar import Litestar

from service.background import running

log = logging.getLogger(__name__)

MONTHS_AHEAD = 3
EVERY_SECONDS = 6 * 3600

# Guests found (alias g) each with their stay (alias s), and stays found each with their guests: looked up
# laterally by (id, check_in), one row at a time, so each lookup is pruned to its own month at run time.
# A join, even on both columns, lets the cached generic plan a connection switches to after five runs
# hash every stay (or guest) of every month to match the few rows found. OFFSET 0 keeps the planner from
# flattening the lookup back into such a join.
GUESTS_WITH_THEIR_STAYS = """stay_guests g
      CROSS JOIN LATERAL (SELECT * FROM stays s WHERE s.id = g.stay_id AND s.check_in = g.check_in OFFSET 0) s"""
STAYS_WITH_THEIR_GUESTS = """stays s
      CROSS JOIN LATERAL (SELECT * FROM stay_guests g WHERE g.stay_id = s.id AND g.check_in = s.check_in OFFSET 0) g"""


async def make_months(conn: asyncpg.Connection, first: date, last: date) -> list[str]:
    """The partitions of the months from ``first``'s to ``last``'s, where missing; returns the months made."""
    return await conn.fetchval(
        """SELECT coalesce(array_agg(to_char(m, 'YYYY-MM') ORDER BY m) FILTER (WHERE stays_partition_month(m::date)),
                           '{}')
             FROM generate_series(date_trunc('month', $1::date), $2::date, interval '1 month') m""",
        first, last,
    )


async def make_months_ahead(conn: asyncpg.Connection, months: int = MONTHS_AHEAD) -> list[str]:
    """Yesterday's month's partitions (a check-in may be yesterday), this month's and those of the ``months``
    after it, where missing; returns the months made."""
    yesterday, last = await conn.fetchrow(
        "SELECT current_date - 1, (current_date + make_interval(months => $1))::date", months)
    return await make_months(conn, yesterday, last)


@contextlib.asynccontextmanager
async def partitions_ahead(app: Litestar) -> AsyncGenerator[None, None]:
    """The lifespan of this instance's partition maker (after the database is up)."""

    async def loop() -> None:
        while True:
            try:
                async with app.state.pool.acquire() as conn:
                    if made := await make_months_ahead(conn):
                        log.info("stay partitions made", extra={"months": made})
                        # Autovacuum analyses the partitions, never their root: the planner's figures for
                        # whole-table estimates would otherwise stay those of the migration.
                        await conn.execute("ANALYZE stays, stay_guests")
            except Exception:  # noqa: BLE001 - the next round tries again; the DEFAULT partition takes the rows meanwhile
                log.warning("making stay partitions failed", exc_info=True)
            await asyncio.sleep(EVERY_SECONDS)

    async with running(loop()):
        yield
