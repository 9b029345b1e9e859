"""Occupancy counts of an area and its children, read from the per-area counters (see 0005_occupancy.sql and
0012_counter_applier.sql: they count what the counter applier has applied, a moment after each change)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import asyncpg

from service.i18n import add_messages
from service.problems import Problem
from service.statistics.labels import origin_names

add_messages({"area_not_found": ("No such area in your jurisdiction.", "您的辖区内没有这个区域。")})

COUNTER_FIELDS = ("dwellings", "beds", "occupied_dwellings", "current_stays", "current_guests",
                  "floating_population", "foreign_guests", "capacity_anomalies")
DAILY_FIELDS = ("arrivals_today", "departures_today")
LIVE_FIELDS = ("overdue_stays", "pending_verifications", "duplicate_presences")

# One row per area of the subtree; rolled up to the area and its children in Python.
SUBTREE_COUNTS = f"""
    SELECT area_code, {", ".join(f"sum({f})::bigint AS {f}" for f in COUNTER_FIELDS)}
      FROM area_counts WHERE area_code LIKE $1 || '%' GROUP BY area_code"""
SUBTREE_DAILY = """
    SELECT area_code, sum(arrivals)::bigint AS arrivals_today, sum(departures)::bigint AS departures_today
      FROM area_daily_counts WHERE day = current_date AND area_code LIKE $1 || '%' GROUP BY area_code"""
# Current stays due to leave more than the grace period ago, from the counts per expected departure
# (0012_counter_applier.sql): a few rows per area and day, however many stays are overdue.
SUBTREE_OVERDUE = """
    SELECT area_code, sum(stays)::bigint AS overdue_stays FROM area_departures
     WHERE area_code LIKE $1 || '%' AND expected_departure < now() - make_interval(hours => $2)
     GROUP BY area_code"""
SUBTREE_PENDING = """
    SELECT area_code, count(*) AS pending_verifications FROM verifications
     WHERE status = 'pending' AND area_code LIKE $1 || '%' GROUP BY area_code"""
# Guests are counted per stay (the counters above): a person registered in two current stays is in
# current_guests twice. This figure says how many current stays are such second presences: those
# whose duplicate_presence alert still has both stays current (a third registration of one person
# is one more; checking out either stay ends it). Read from the alerts, which are few.
SUBTREE_DUPLICATES = """
    SELECT a.area_code, count(DISTINCT a.stay_id) AS duplicate_presences
      FROM alerts a JOIN stays s ON s.id = a.stay_id
      JOIN stays o ON o.id = (a.details ->> 'other_stay_id')::uuid
     WHERE a.kind = 'duplicate_presence' AND a.area_code LIKE $1 || '%'
       AND s.checked_out_at IS NULL AND o.checked_out_at IS NULL
     GROUP BY a.area_code"""
SUBTREE_ORIGINS = """
    SELECT province, sum(guests)::bigint AS guests FROM area_origin_counts
     WHERE area_code LIKE $1 || '%' GROUP BY province HAVING sum(guests) > 0 ORDER BY 2 DESC, 1"""


# Each per-area query with the names of its columns after area_code.
SUBTREE_PARTS = ((SUBTREE_COUNTS, COUNTER_FIELDS), (SUBTREE_DAILY, DAILY_FIELDS), (SUBTREE_OVERDUE, ("overdue_stays",)),
                 (SUBTREE_PENDING, ("pending_verifications",)), (SUBTREE_DUPLICATES, ("duplicate_presences",)))
# All of it in one statement, one round trip: the area's name, its children, each query's rows, the origins.
OCCUPANCY = f"""
    SELECT (SELECT name FROM areas WHERE code = $1) AS name,
           ARRAY(SELECT r FROM (SELECT code, name FROM areas WHERE parent_code = $1 ORDER BY code) r) AS children,
           {", ".join(f"ARRAY(SELECT r FROM ({query}) r) AS part_{n}" for n, (query, _) in enumerate(SUBTREE_PARTS))},
           ARRAY(SELECT r FROM ({SUBTREE_ORIGINS}) r) AS origins"""


def summed(code: str, name: str, total: Counter[str]) -> dict[str, Any]:
    return {"area": code, "name": name, **{f: total[f] for f in (*COUNTER_FIELDS, *DAILY_FIELDS, *LIVE_FIELDS)}}


async def occupancy(conn: asyncpg.Connection, area_code: str, grace_hours: int) -> dict[str, Any]:
    """The counts of ``area_code`` (its whole subtree) and of each of its child areas."""
    found = await conn.fetchrow(OCCUPANCY, area_code, grace_hours)
    if found["name"] is None:
        raise Problem(404, "area_not_found")
    # Each area's rows added to the whole and to the child they are under (a child's code is a prefix).
    whole: Counter[str] = Counter()
    per_child: dict[str, Counter[str]] = {code: Counter() for code, _ in found["children"]}
    lengths = {len(code) for code in per_child}
    for n, (_, fields) in enumerate(SUBTREE_PARTS):
        for sub_code, *values in found[f"part_{n}"]:
            counts = dict(zip(fields, values, strict=True))
            whole.update(counts)
            for length in lengths:
                if (child := per_child.get(sub_code[:length])) is not None:
                    child.update(counts)

    return {
        **summed(area_code, found["name"], whole),
        # ``name``: the official Chinese name; ``names`` both, for a page that switches language (the
        # stream sends one message to every reader, whatever their language).
        "origin_provinces": [{"province": province, "name": origin_names(province)["zh"],
                              "names": origin_names(province), "guests": guests}
                             for province, guests in found["origins"]],
        "children": [summed(code, name, per_child[code]) for code, name in found["children"]],
    }
