"""Early warnings: bed occupancy against each area's thresholds, and unusual arrivals.

Evaluated every VH_STATS_EVALUATE_SECONDS by one instance at a time (an advisory lock), which also closes the
nights that have ended. A warning is raised once, when its level is reached, and cleared once, when
the rate falls a hysteresis margin below it: a rate hovering at 80% does not flap. Raising and
clearing are `alert` events on the police stream (kind `capacity` or `unusual_arrivals`, details:
level, rate, threshold) and rows of `alerts`; the current level per area is in stats_warnings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
from litestar import Litestar

from service.background import running
from service.police.alerts import ALERTS_CHANNEL
from service.statistics.figures import close_nights

log = logging.getLogger(__name__)

DEFAULT_YELLOW = Decimal("0.8")  # LB/T 034-2014's first warning level
DEFAULT_RED = Decimal("1.0")
HYSTERESIS = Decimal("0.05")  # a level clears when the rate is this far below it
UNUSUAL_FACTOR = 2  # today's arrivals above twice the same weekday's mean of the last four weeks
UNUSUAL_MINIMUM = 10  # and at least this many: three guests instead of one is no warning
LOCK = "stats_warnings"

THRESHOLDS_QUERY = """
    SELECT a.code AS area_code, a.name AS area_name, coalesce(t.yellow, $1) AS yellow, coalesce(t.red, $2) AS red
      FROM areas a LEFT JOIN stats_thresholds t ON t.area_code = a.code ORDER BY a.code"""

# Live bed occupancy of every area with beds (its subtree's current guests over its beds, from the
# occupancy counters), its thresholds, and its current capacity warning.
CAPACITY_QUERY = """
    SELECT a.code AS area_code, c.guests, c.beds, round(c.guests::numeric / c.beds, 4) AS rate,
           coalesce(t.yellow, $1) AS yellow, coalesce(t.red, $2) AS red, w.level AS current
      FROM areas a
      JOIN LATERAL (SELECT sum(current_guests)::bigint AS guests, sum(beds)::bigint AS beds FROM area_counts
                     WHERE area_code LIKE a.code || '%') c ON c.beds > 0
      LEFT JOIN stats_thresholds t ON t.area_code = a.code
      LEFT JOIN stats_warnings w ON w.area_code = a.code AND w.kind = 'capacity'"""

# Today's arrivals per area against the mean of the same weekday over the four weeks before.
ARRIVALS_QUERY = """
    WITH days AS (
        SELECT a.code AS area_code, l.day, sum(l.arrivals) AS arrivals
          FROM stats_ledger l JOIN dwellings d ON d.id = l.dwelling_id JOIN areas a ON d.area_code LIKE a.code || '%'
         WHERE l.day = $1 GROUP BY 1, 2
        UNION ALL
        SELECT area_code, day, sum(arrivals) FROM stats_area_days
         WHERE day IN ($1 - 7, $1 - 14, $1 - 21, $1 - 28) GROUP BY 1, 2
    )
    SELECT days.area_code, (sum(arrivals) FILTER (WHERE day = $1))::bigint AS today,
           coalesce(sum(arrivals) FILTER (WHERE day < $1), 0) / 4.0 AS usual, w.level AS current
      FROM days LEFT JOIN stats_warnings w ON w.area_code = days.area_code AND w.kind = 'unusual_arrivals'
     GROUP BY days.area_code, w.level"""


def capacity_level(rate: Decimal, yellow: Decimal, red: Decimal, current: str | None) -> str | None:
    """The level after this reading: reached at the threshold, kept until HYSTERESIS below it."""
    if rate >= red or (current == "red" and rate > red - HYSTERESIS):
        return "red"
    if rate >= yellow or (current in ("red", "yellow") and rate > yellow - HYSTERESIS):
        return "yellow"
    return None


async def thresholds(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(THRESHOLDS_QUERY, DEFAULT_YELLOW, DEFAULT_RED)
    return [{**dict(r), "yellow": float(r["yellow"]), "red": float(r["red"])} for r in rows]


async def set_thresholds(conn: asyncpg.Connection, area_code: str, yellow: float, red: float, by: int) -> bool:
    """False when there is no such area."""
    return bool(await conn.fetchval(
        """INSERT INTO stats_thresholds (area_code, yellow, red, updated_by)
           SELECT code, $2, $3, $4 FROM areas WHERE code = $1
           ON CONFLICT (area_code) DO UPDATE SET yellow = EXCLUDED.yellow, red = EXCLUDED.red,
               updated_by = EXCLUDED.updated_by, updated_at = now()
           RETURNING true""", area_code, yellow, red, by))


async def current_warnings(conn: asyncpg.Connection, area_code: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT w.area_code, a.name AS area_name, w.kind, w.level, w.details, w.since, w.alert_id
             FROM stats_warnings w JOIN areas a ON a.code = w.area_code
            WHERE w.area_code LIKE $1 || '%' ORDER BY w.level = 'red' DESC, w.since""", area_code)
    return [{**dict(r), "since": r["since"].isoformat()} for r in rows]


async def _change(conn: asyncpg.Connection, area_code: str, kind: str, level: str | None,
                  details: dict[str, Any]) -> int:
    """Store the new level (or clear it) and the alert that says so; returns the alert's id."""
    alert_id = await conn.fetchval(
        "INSERT INTO alerts (kind, area_code, details) VALUES ($1, $2, $3) RETURNING id",
        kind, area_code, {**details, "level": level or "cleared"})
    if level is None:
        await conn.execute("DELETE FROM stats_warnings WHERE area_code = $1 AND kind = $2", area_code, kind)
    else:
        await conn.execute(
            """INSERT INTO stats_warnings (area_code, kind, level, details, alert_id) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (area_code, kind) DO UPDATE SET level = EXCLUDED.level, details = EXCLUDED.details,
                   alert_id = EXCLUDED.alert_id, since = now()""",
            area_code, kind, level, details, alert_id)
    return alert_id


async def evaluate(conn: asyncpg.Connection, today: datetime) -> list[int]:
    """Close ended nights, raise and clear warnings; returns the ids of the alerts to announce.

    Nothing happens while another instance holds the lock: it is doing the same work.
    """
    alert_ids: list[int] = []
    async with conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))", LOCK):
            return []
        await close_nights(conn, today.date())
        for r in await conn.fetch(CAPACITY_QUERY, DEFAULT_YELLOW, DEFAULT_RED):
            level = capacity_level(r["rate"], r["yellow"], r["red"], r["current"])
            if level != r["current"]:
                threshold = r["red"] if level == "red" else r["yellow"]
                alert_ids.append(await _change(conn, r["area_code"], "capacity", level, {
                    "rate": float(r["rate"]), "threshold": float(threshold), "guests": r["guests"],
                    "beds": r["beds"]}))
        for r in await conn.fetch(ARRIVALS_QUERY, today.date()):
            arrivals, usual = r["today"] or 0, float(r["usual"])
            unusual = arrivals >= UNUSUAL_MINIMUM and arrivals > UNUSUAL_FACTOR * usual
            if unusual != (r["current"] is not None):
                alert_ids.append(await _change(conn, r["area_code"], "unusual_arrivals", "raised" if unusual else None,
                                               {"arrivals": arrivals, "usual": round(usual, 1),
                                                "threshold": UNUSUAL_FACTOR}))
    return alert_ids


@contextlib.asynccontextmanager
async def statistics_work(app: Litestar) -> AsyncGenerator[None, None]:
    """The lifespan of this instance's statistics loop (after the database and the channels are up)."""
    settings = app.state.settings
    async with app.state.pool.acquire() as conn:
        await conn.execute("UPDATE stats_state SET zone = $1", settings.timezone)

    async def loop() -> None:
        # A moment first: the channels that announce the alerts start after this lifespan.
        await asyncio.sleep(min(1.0, settings.stats_evaluate_seconds))
        while True:
            try:
                async with app.state.pool.acquire() as conn:
                    for alert_id in await evaluate(conn, datetime.now(settings.zone)):
                        app.state.channels.publish({"id": alert_id}, ALERTS_CHANNEL)
            except Exception:  # noqa: BLE001 - the next round tries again; the rollups are safe in the database
                log.warning("statistics round failed", exc_info=True)
            await asyncio.sleep(settings.stats_evaluate_seconds)

    async with running(loop()):
        yield
