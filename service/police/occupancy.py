"""Occupancy counts of an area and its children, read from the per-area counters (see 0005_occupancy.sql)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import asyncpg

from service.i18n import add_messages
from service.problems import Problem
from service.stays.documents import PROVINCES

add_messages({"area_not_found": ("No such area in your jurisdiction.", "您的辖区内没有这个区域。")})

COUNTER_FIELDS = ("dwellings", "beds", "occupied_dwellings", "current_stays", "current_guests",
                  "floating_population", "foreign_guests", "capacity_anomalies")
DAILY_FIELDS = ("arrivals_today", "departures_today")
LIVE_FIELDS = ("overdue_stays", "pending_verifications")

# One row per area of the subtree; rolled up to the area and its children in Python.
SUBTREE_COUNTS = f"""
    SELECT area_code, {", ".join(f"sum({f})::bigint AS {f}" for f in COUNTER_FIELDS)}
      FROM area_counts WHERE area_code LIKE $1 || '%' GROUP BY area_code"""
SUBTREE_DAILY = """
    SELECT area_code, sum(arrivals)::bigint AS arrivals_today, sum(departures)::bigint AS departures_today
      FROM area_daily_counts WHERE day = current_date AND area_code LIKE $1 || '%' GROUP BY area_code"""
SUBTREE_OVERDUE = """
    SELECT area_code, count(*) AS overdue_stays FROM stays
     WHERE checked_out_at IS NULL AND area_code LIKE $1 || '%'
       AND expected_departure < now() - make_interval(hours => $2)
     GROUP BY area_code"""
SUBTREE_PENDING = """
    SELECT area_code, count(*) AS pending_verifications FROM verifications
     WHERE status = 'pending' AND area_code LIKE $1 || '%' GROUP BY area_code"""
SUBTREE_ORIGINS = """
    SELECT province, sum(guests)::bigint AS guests FROM area_origin_counts
     WHERE area_code LIKE $1 || '%' GROUP BY province HAVING sum(guests) > 0 ORDER BY 2 DESC, 1"""


async def occupancy(conn: asyncpg.Connection, area_code: str, grace_hours: int) -> dict[str, Any]:
    """The counts of ``area_code`` (its whole subtree) and of each of its child areas."""
    area = await conn.fetchrow("SELECT code, name FROM areas WHERE code = $1", area_code)
    if area is None:
        raise Problem(404, "area_not_found")
    children = await conn.fetch("SELECT code, name FROM areas WHERE parent_code = $1 ORDER BY code", area_code)
    per_area: dict[str, Counter[str]] = {}
    for query, args in ((SUBTREE_COUNTS, ()), (SUBTREE_DAILY, ()), (SUBTREE_OVERDUE, (grace_hours,)),
                        (SUBTREE_PENDING, ())):
        for row in await conn.fetch(query, area_code, *args):
            per_area.setdefault(row["area_code"], Counter()).update(
                {k: v for k, v in row.items() if k != "area_code"})
    origins = await conn.fetch(SUBTREE_ORIGINS, area_code)

    def rolled_up(code: str, name: str) -> dict[str, Any]:
        total: Counter[str] = Counter()
        for sub_code, counts in per_area.items():
            if sub_code.startswith(code):
                total.update(counts)
        return {"area": code, "name": name,
                **{f: total[f] for f in (*COUNTER_FIELDS, *DAILY_FIELDS, *LIVE_FIELDS)}}

    return {
        **rolled_up(area["code"], area["name"]),
        "origin_provinces": [{"province": r["province"], "name": PROVINCES.get(r["province"], r["province"]),
                              "guests": r["guests"]} for r in origins],
        "children": [rolled_up(c["code"], c["name"]) for c in children],
    }
