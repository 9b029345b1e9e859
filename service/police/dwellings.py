"""Dwellings on the police map, with their risk colour, and the area's last 24 hours."""

from __future__ import annotations

import asyncpg

# Red: a watchlist hit on a current stay or an open verification, or more guests than beds.
# Yellow: a stay past its check-out (and the grace period), or a verification waiting for review.
DWELLINGS_WITH_RISK = """
    SELECT d.id, d.name, d.address, d.area_code, d.latitude, d.longitude, d.capacity, d.current_guests,
           CASE
             WHEN EXISTS (SELECT 1 FROM stays s WHERE s.dwelling_id = d.id AND s.checked_out_at IS NULL
                                                  AND s.capacity_anomaly)
               OR EXISTS (SELECT 1 FROM alerts a
                            LEFT JOIN stays s ON s.id = a.stay_id
                            LEFT JOIN verifications v ON v.id = a.verification_id
                           WHERE a.dwelling_id = d.id AND a.kind = 'watchlist'
                             AND (s.checked_out_at IS NULL AND a.stay_id IS NOT NULL OR v.status = 'pending'))
             THEN 'red'
             WHEN EXISTS (SELECT 1 FROM stays s WHERE s.dwelling_id = d.id AND s.checked_out_at IS NULL
                                                  AND s.expected_departure < now() - make_interval(hours => $2))
               OR EXISTS (SELECT 1 FROM verifications v WHERE v.dwelling_id = d.id AND v.status = 'pending')
             THEN 'yellow'
             ELSE 'green'
           END AS risk
      FROM dwellings d
     WHERE d.area_code LIKE $1 || '%' AND (d.active OR d.current_guests > 0)
     ORDER BY d.id
     LIMIT 5000"""

# Guests arriving and leaving per hour, by the hour they did.
TIMELINE = """
    WITH hours AS (
        SELECT generate_series(date_trunc('hour', now()) - interval '23 hours', date_trunc('hour', now()),
                               interval '1 hour') AS hour)
    SELECT h.hour,
           coalesce((SELECT sum(guest_count) FROM stays s WHERE s.area_code LIKE $1 || '%'
                        AND s.created_at >= h.hour AND s.created_at < h.hour + interval '1 hour'), 0)::int AS arrivals,
           coalesce((SELECT sum(guest_count) FROM stays s WHERE s.area_code LIKE $1 || '%'
                        AND s.checked_out_at >= h.hour AND s.checked_out_at < h.hour + interval '1 hour'), 0)::int
             AS departures
      FROM hours h ORDER BY h.hour"""


async def dwellings_with_risk(conn: asyncpg.Connection, area_code: str, grace_hours: int) -> list[asyncpg.Record]:
    return await conn.fetch(DWELLINGS_WITH_RISK, area_code, grace_hours)


async def timeline(conn: asyncpg.Connection, area_code: str) -> list[asyncpg.Record]:
    return await conn.fetch(TIMELINE, area_code)
