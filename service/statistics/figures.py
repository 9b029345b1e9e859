"""Arrivals, guest-nights and occupancy of an area over a period, summed from the rollups.

Closed nights come from stats_days / stats_area_days (one row per day of the area asked for: a row
already sums its subtree); what is not closed yet (today's arrivals, a night the closer has not
reached, a late booking for a closed day) comes from the few rows of stats_ledger and
stats_present. See 0011_statistics.sql and docs/statistics.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import asyncpg

from service.statistics.labels import TOTAL, Names, kind_names, origin_names

Period = Literal["day", "week", "month"]
Breakdown = Literal["none", "origin_province", "nationality", "area", "kind"]

# A guest's origin as stored (stats_origin): a province's two digits, HK, MO, TW, a nationality's
# alpha-3 (CHN: a Chinese passport, province unknown), or "--" (not known).
ORIGIN_KEYS: dict[str, str] = {
    "origin_province": """CASE WHEN {o} ~ '^([0-9]{{2}}|HK|MO|TW|--)$' THEN {o}
                               WHEN {o} = 'CHN' THEN 'CN' ELSE 'foreign' END""",
    "nationality": "CASE WHEN {o} ~ '^([0-9]{{2}}|HK|MO|TW|CHN)$' THEN 'CHN' ELSE {o} END",
}


def cell_key(by: Breakdown, origin: str, kind: str, child: str) -> str:
    """The SQL expression of a row's key, over the named columns."""
    if by in ORIGIN_KEYS:
        return ORIGIN_KEYS[by].format(o=origin)
    return {"kind": kind, "area": child, "none": "''"}[by]


def period_start(day: date, period: Period) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def period_end(day: date, period: Period) -> date:
    """The last day of the period that ``day`` is in."""
    if period == "week":
        return period_start(day, period) + timedelta(days=6)
    if period == "month":
        following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        return following - timedelta(days=1)
    return day


@dataclass(frozen=True)
class Cell:
    period: date
    key: str
    arrivals: int
    guest_nights: int
    dwellings: int  # the most dwellings contributing on one day of the cell (the dominance rule)


@dataclass(frozen=True)
class Totals:
    arrivals: int
    guest_nights: int
    beds: int
    bed_nights: int
    dwelling_nights: int
    occupied_dwelling_nights: int
    nights: int  # nights of the period that have ended


def _day_rows(by: Breakdown) -> str:
    """Per day and key: arrivals, guest-nights and contributing dwellings of area $1 over [$2, $3].

    $4: the last closed night (or null), $5: the last night that has ended (yesterday).
    """
    if by in ("none", "area"):
        closed = f"""
            SELECT s.day, {"''" if by == "none" else "s.area_code"} AS key, s.arrivals, s.guest_nights,
                   s.occupied_dwellings AS dwellings
              FROM stats_area_days s
             WHERE {"s.area_code = $1" if by == "none" else "s.area_code IN (SELECT code FROM child_areas)"}
               AND s.day BETWEEN $2 AND least($3::date, $4::date)"""
    else:
        closed = f"""
            SELECT s.day, {cell_key(by, "s.origin", "s.kind", "")} AS key, sum(s.arrivals) AS arrivals,
                   sum(s.guest_nights) AS guest_nights, sum(s.dwellings) AS dwellings
              FROM stats_days s WHERE s.area_code = $1 AND s.day BETWEEN $2 AND least($3::date, $4::date) GROUP BY 1, 2"""
    live_key = cell_key(by, "v.origin", "d.kind", "c.code")
    child_join = "JOIN child_areas c ON d.area_code LIKE c.code || '%'" if by == "area" else ""
    return f"""
        WITH child_areas AS (
            SELECT code FROM areas WHERE parent_code = $1
            UNION ALL SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM areas WHERE parent_code = $1)
        ), live AS (
            SELECT l.day, l.dwelling_id, l.origin, l.arrivals, 0 AS guests
              FROM stats_ledger l WHERE l.day BETWEEN $2 AND $3 AND l.arrivals <> 0
            UNION ALL
            SELECT n.at::date, l.dwelling_id, l.origin, 0, l.arrivals - l.departures
              FROM stats_ledger l, generate_series(greatest(l.day, $2), least($3, $5), interval '1 day') n (at)
            UNION ALL
            SELECT n.at::date, p.dwelling_id, p.origin, 0, p.guests
              FROM stats_present p, generate_series(greatest($4::date + 1, $2::date), least($3, $5), interval '1 day') n (at)
        )
        {closed}
        UNION ALL
        SELECT v.day, {live_key} AS key, sum(v.arrivals), sum(v.guests),
               count(DISTINCT v.dwelling_id) FILTER (WHERE v.arrivals <> 0 OR v.guests <> 0)
          FROM live v JOIN dwellings d ON d.id = v.dwelling_id {child_join}
         WHERE d.area_code LIKE $1 || '%'
         GROUP BY 1, 2"""


def _cells_query(by: Breakdown, period: Period) -> str:
    return f"""
        SELECT date_trunc('{period}', day)::date AS period, key, sum(arrivals)::bigint AS arrivals,
               sum(guest_nights)::bigint AS guest_nights, max(dwellings)::bigint AS dwellings
          FROM (SELECT day, key, sum(arrivals) AS arrivals, sum(guest_nights) AS guest_nights,
                       sum(dwellings) AS dwellings
                  FROM ({_day_rows(by)}) r GROUP BY 1, 2) d
         GROUP BY 1, 2 ORDER BY 1, 2"""


# Beds and occupied dwellings: closed nights from the area's rows; nights not closed yet from the
# active dwellings and beds as they are (the occupancy counters, as the capacity warnings read them:
# a few rows per area, not every dwelling of a county) and the guests not closed yet per dwelling.
CAPACITY_QUERY = """
    WITH closed AS (
        SELECT coalesce(sum(beds), 0) AS bed_nights, coalesce(sum(dwellings), 0) AS dwelling_nights,
               coalesce(sum(occupied_dwellings), 0) AS occupied
          FROM stats_area_days WHERE area_code = $1 AND day BETWEEN $2 AND least($3::date, $4::date, $5::date)
    ), now AS (
        SELECT coalesce(sum(dwellings), 0)::bigint AS dwellings, coalesce(sum(beds), 0)::bigint AS beds
          FROM area_counts WHERE area_code LIKE $1 || '%'
    ), open_nights AS (
        SELECT n.at::date AS night
          FROM generate_series(greatest($4::date + 1, $2::date), least($3, $5), interval '1 day') n (at)
    ), open_guests AS (
        SELECT o.night, g.dwelling_id, sum(g.guests) AS guests
          FROM open_nights o
          JOIN (SELECT dwelling_id, guests, NULL::date AS day FROM stats_present
                UNION ALL SELECT dwelling_id, arrivals - departures, day FROM stats_ledger) g
            ON g.day IS NULL OR g.day <= o.night
          JOIN dwellings d ON d.id = g.dwelling_id AND d.area_code LIKE $1 || '%'
         GROUP BY 1, 2 HAVING sum(g.guests) > 0
    )
    SELECT now.beds, closed.bed_nights + now.beds * (SELECT count(*) FROM open_nights) AS bed_nights,
           closed.dwelling_nights + now.dwellings * (SELECT count(*) FROM open_nights) AS dwelling_nights,
           closed.occupied + (SELECT count(*) FROM open_guests) AS occupied_dwelling_nights,
           greatest(0, least($3::date, $5::date) - $2::date + 1) AS nights
      FROM closed, now"""


@asynccontextmanager
async def reading(conn: asyncpg.Connection) -> AsyncIterator[date | None]:
    """One read-only snapshot for every figure of a report; yields the last closed night.

    One snapshot, so a closer committing between two queries cannot mix the rollups and live rows of
    two moments. The planner guesses a thousand nights per live row (generate_series): a few thousand
    rows of stats_present look like millions, worth parallel workers and JIT compilation (35 ms at
    100,000 stays, 770 ms with optimisation and inlining at 1,000,000), for what is a sum of a few
    hundred rollup rows: these queries run in one process, interpreted."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute("SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off")
        yield await conn.fetchval("SELECT closed_through FROM stats_state")


async def cells(conn: asyncpg.Connection, closed: date | None, area_code: str, first: date, last: date,
                today: date, period: Period, by: Breakdown) -> list[Cell]:
    """Inside ``reading``, ``closed`` its last closed night."""
    rows = await conn.fetch(_cells_query(by, period), area_code, first, last, closed, today - timedelta(days=1))
    return [Cell(r["period"], r["key"], r["arrivals"], r["guest_nights"], r["dwellings"]) for r in rows]


async def totals(conn: asyncpg.Connection, closed: date | None, area_code: str, first: date, last: date,
                 today: date) -> Totals:
    """Inside ``reading``, ``closed`` its last closed night."""
    yesterday = today - timedelta(days=1)
    sums = await conn.fetchrow(
        f"SELECT coalesce(sum(arrivals), 0)::bigint AS arrivals, coalesce(sum(guest_nights), 0)::bigint AS nights "
        f"FROM ({_day_rows('none')}) r", area_code, first, last, closed, yesterday)
    capacity = await conn.fetchrow(CAPACITY_QUERY, area_code, first, last, closed, yesterday)
    return Totals(sums["arrivals"], sums["nights"], capacity["beds"], capacity["bed_nights"],
                  capacity["dwelling_nights"], capacity["occupied_dwelling_nights"], capacity["nights"])


async def labels(conn: asyncpg.Connection, by: Breakdown, keys: set[str]) -> dict[str, Names]:
    """What each key means, for people, in English and Chinese: an area's name (as the area has it), a
    province, a region, a country, a kind."""
    if by == "area":
        rows = await conn.fetch("SELECT code, name FROM areas WHERE code = ANY($1::text[])", list(keys))
        return {r["code"]: {"en": r["name"], "zh": r["name"]} for r in rows}
    if by == "kind":
        return {k: kind_names(k) for k in keys}
    if by == "none":
        return {"": TOTAL}
    return {k: origin_names(k) for k in keys}


async def close_nights(conn: asyncpg.Connection, today: date) -> int:
    """Close every night that has ended (up to yesterday); one closer at a time across instances."""
    async with conn.transaction():
        return await conn.fetchval("SELECT stats_close($1)", today - timedelta(days=1))
