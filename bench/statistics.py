"""A year of daily statistics for a county with --stays stays, from the rollups, against a count from scratch.

Set-up: a fresh database (DATABASE_URL's server, or an embedded PostgreSQL), the real service as a child
process, the county tree (331004 -> 20 towns -> 10 villages), a police account and one dwelling through
the API (bench/police.py's set_up_through_api); then --dwellings dwellings and --stays one-guest stays
by bulk SQL, spread over the last 365 days (1 to 4 nights; those still running are open, the rest
checked out at 11:00 of their last day; origins over ten divisions, one guest in 40 from abroad), with
the count triggers off; the occupancy counters rebuilt (bench/police.py's REBUILD_COUNTERS) and the
statistics rollups built from the rows (stats_rebuild, then stats_close up to yesterday: what the
service's loop does). Then:

1. GET /api/v1/statistics?area=331004&from=<365 days ago>&to=<yesterday>&period=day as the county's
   police, --calls times over HTTP (one keep-alive connection, one call after the other): p50/p99/max.
   Target p99 <= 50 ms. Baseline, interleaved call by call: /readyz (a SELECT 1 through the same stack).
2. The same daily arrivals and guest-nights counted from scratch over stays and guests (SQL on a direct
   connection, --scratch-runs times): its time, and the figures, which must equal the API's (exit 1 if not).

The machine is shared (2 cores): the load average at start and end is printed; above ~1 the figures are
disturbed.

    python -m bench.statistics [--stays 1000000] [--dwellings 20000] [--calls 200] [--scratch-runs 3] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from bench.police import (
    COUNTY,
    LOAD_DWELLINGS,
    REBUILD_COUNTERS,
    ZONE,
    ZONE_NAME,
    percentile,
    say,
    set_up_through_api,
    villages,
)
from bench.registrations import BEHIND_PROXY, Database, sql
from service.stays.partitions import make_months
from tests.support import ServiceProcess

TARGET_P99_MS = 50.0
DAYS = 365

# Stay j: at the (j mod D)-th bench dwelling, checked in (j mod $4) + 1 days ago for 1 + j mod 4 nights;
# checked out at 11:00 of its last day unless that is today or later (then still open).
LOAD_STAYS = f"""
    INSERT INTO stays (id, dwelling_id, area_code, receipt_hash, check_in, check_out, expected_departure,
                       phone_cipher, phone_index, phone_masked, guest_count, registered_by, created_at,
                       checked_out_at, checked_out_by)
    SELECT md5('stat-stay-' || j)::uuid, d.id, d.area_code, sha256(('stat-receipt-' || j)::bytea), v.check_in,
           v.check_out, (v.check_out + time '12:00') AT TIME ZONE '{ZONE_NAME}', sha256(('stat-pc-' || j)::bytea),
           sha256(('stat-phone-' || j)::bytea), '138****0000', 1, 'guest',
           (v.check_in + time '15:00') AT TIME ZONE '{ZONE_NAME}',
           CASE WHEN v.check_out < current_date THEN (v.check_out + time '11:00') AT TIME ZONE '{ZONE_NAME}' END,
           CASE WHEN v.check_out < current_date THEN 'guest' END
      FROM generate_series($1::bigint, $2::bigint - 1) j
      JOIN (SELECT id, area_code, row_number() OVER (ORDER BY id) - 1 AS k
              FROM dwellings WHERE name LIKE 'Bench room %') d ON d.k = j % $3
     CROSS JOIN LATERAL (SELECT current_date - 1 - (j % $4::int)::int AS check_in) c
     CROSS JOIN LATERAL (SELECT c.check_in, c.check_in + 1 + (j / $4::int % 4)::int AS check_out) v"""

LOAD_GUESTS = """
    INSERT INTO stay_guests (id, stay_id, check_in, position, full_name, document_type, document_cipher,
                             document_index, document_masked, nationality, origin_division, is_foreign)
    SELECT md5('stat-guest-' || j)::uuid, md5('stat-stay-' || j)::uuid, current_date - 1 - (j % $4::int)::int, 0,
           'guest',
           CASE WHEN j % 40 = 7 THEN 'passport' ELSE 'resident_id' END, sha256(('stat-dc-' || j)::bytea),
           sha256(('stat-document-' || j)::bytea),
           CASE WHEN j % 40 = 7 THEN 'E12****0000' ELSE ($3::text[])[j % 10 + 1] || '********0000' END,
           CASE WHEN j % 40 = 7 THEN 'USA' END,
           CASE WHEN j % 40 = 7 THEN NULL ELSE ($3::text[])[j % 10 + 1] END, j % 40 = 7
      FROM generate_series($1::bigint, $2::bigint - 1) j"""

DIVISIONS = ["331004", "331004", "331082", "330106", "320102", "310101", "340102", "360102", "350102", "510104"]

# The definitions of docs/statistics.md counted over the stays: arrivals on the check-in day; a guest
# present each night from check-in to the night before the local date of check-out (open: to the last day).
SCRATCH_ARRIVALS = """
    SELECT s.check_in AS day, count(*) AS n FROM stays s JOIN stay_guests g ON g.stay_id = s.id
     WHERE s.area_code LIKE $1 || '%' AND s.check_in BETWEEN $2 AND $3 GROUP BY 1"""
SCRATCH_NIGHTS = f"""
    SELECT n.at::date AS day, count(*) AS n
      FROM stays s JOIN stay_guests g ON g.stay_id = s.id,
           generate_series(greatest(s.check_in, $2::date),
                           least(greatest(s.check_in, coalesce((s.checked_out_at AT TIME ZONE '{ZONE_NAME}')::date,
                                                               $3::date + 1)) - 1, $3::date),
                           interval '1 day') n (at)
     WHERE s.area_code LIKE $1 || '%' GROUP BY 1"""


async def bulk_load(dsn: str, owner_id: int, dwellings: int, stays: int, days: int = DAYS,
                    batch: int = 250_000) -> None:
    """Stays spread over the ``days`` before today, into their month partitions (made first)."""
    conn = await asyncpg.connect(dsn, server_settings={"timezone": ZONE_NAME})
    try:
        async with conn.transaction():
            first_day = await conn.fetchval("SELECT current_date - $1::int", days)
            await make_months(conn, first_day, await conn.fetchval("SELECT current_date"))
            await conn.execute("ALTER TABLE dwellings DISABLE TRIGGER dwellings_count;"
                               "ALTER TABLE stays DISABLE TRIGGER stays_changed_insert")
            started = time.monotonic()
            await conn.execute(LOAD_DWELLINGS, owner_id, villages(), dwellings)
            # Beds count from the night a dwelling was created: these were there all year.
            await conn.execute("UPDATE dwellings SET created_at = now() - interval '400 days'")
            say(f"  {dwellings:,} dwellings in {time.monotonic() - started:.1f} s")
            for first in range(0, stays, batch):
                last = min(stays, first + batch)
                started = time.monotonic()
                await conn.execute(LOAD_STAYS, first, last, dwellings, days)
                await conn.execute(LOAD_GUESTS, first, last, DIVISIONS, days)
                say(f"  stays and guests {last:,}/{stays:,} ({time.monotonic() - started:.1f} s)")
            await conn.execute(REBUILD_COUNTERS)
            await conn.execute("ALTER TABLE dwellings ENABLE TRIGGER dwellings_count;"
                               "ALTER TABLE stays ENABLE TRIGGER stays_changed_insert")
        await conn.execute("VACUUM (ANALYZE) dwellings, stays, stay_guests")
        started = time.monotonic()
        async with conn.transaction():
            await conn.execute("SELECT stats_rebuild()")
            closed = await conn.fetchval("SELECT stats_close(current_date - 1)")
        await conn.execute("VACUUM (ANALYZE) stats_ledger, stats_present, stats_days, stats_area_days, "
                           "stats_dwelling_nights")
        say(f"  rollups built from the rows: {closed} nights closed in {time.monotonic() - started:.1f} s")
    finally:
        await conn.close()


async def from_scratch(dsn: str, first: date, last: date, runs: int) -> tuple[dict, list[float]]:
    conn = await asyncpg.connect(dsn, server_settings={"timezone": ZONE_NAME})
    try:
        timings, figures = [], {}
        for _ in range(runs):
            started = time.perf_counter()
            arrivals = {r["day"]: r["n"] for r in await conn.fetch(SCRATCH_ARRIVALS, COUNTY, first, last)}
            nights = {r["day"]: r["n"] for r in await conn.fetch(SCRATCH_NIGHTS, COUNTY, first, last)}
            timings.append(1000 * (time.perf_counter() - started))
            figures = {d: (arrivals.get(d, 0), nights.get(d, 0)) for d in set(arrivals) | set(nights)}
        return figures, timings
    finally:
        await conn.close()


def over_http(base_url: str, token: str, params: dict, calls: int) -> tuple[list[float], list[float], dict]:
    """The statistics call and /readyz, interleaved call by call; and the statistics' last answer."""
    statistics_ms, ready_ms, answer = [], [], {}
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for n in range(calls + 5):
            started = time.perf_counter()
            response = client.get("/api/v1/statistics", params=params)
            took = 1000 * (time.perf_counter() - started)
            response.raise_for_status()
            answer = response.json()
            started = time.perf_counter()
            client.get("/readyz").raise_for_status()
            if n >= 5:  # warm-up calls not counted
                statistics_ms.append(took)
                ready_ms.append(1000 * (time.perf_counter() - started))
    return statistics_ms, ready_ms, answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stays", type=int, default=1_000_000)
    parser.add_argument("--dwellings", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--scratch-runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    args = parser.parse_args()
    say(f"machine: {os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f}")
    work = Path(tempfile.mkdtemp(prefix="vh-bench-statistics-"))
    db, service = Database(), None
    try:
        service = ServiceProcess(dsn=db.dsn, data_dir=work / "service", extra_env=BEHIND_PROXY).start()
        token = asyncio.run(set_up_through_api(service.base_url))
        owner = sql(db.dsn, "SELECT id FROM accounts WHERE username = 'bench-landlord'")
        owner_id = owner[0]["id"] if owner else sql(db.dsn, "SELECT owner_id FROM dwellings LIMIT 1")[0]["owner_id"]
        say(f"bulk SQL into {db.name}:")
        asyncio.run(bulk_load(db.dsn, owner_id, args.dwellings, args.stays))
        today = datetime.now(ZONE).date()
        first, last = today - timedelta(days=DAYS), today - timedelta(days=1)
        params = {"area": COUNTY, "from": first.isoformat(), "to": last.isoformat(), "period": "day"}
        statistics_ms, ready_ms, answer = over_http(service.base_url, token, params, args.calls)
        scratch, scratch_ms = asyncio.run(from_scratch(db.dsn, first, last, args.scratch_runs))
        got = {date.fromisoformat(r["period"]): (r["arrivals"], r["guest_nights"]) for r in answer["rows"]}
        days = set(got) | set(scratch)
        wrong = [d for d in sorted(days) if got.get(d, (0, 0)) != scratch.get(d, (0, 0))]
        p99 = percentile(statistics_ms, 0.99)
        say(f"\n{'':<44}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        say(f"{'GET /api/v1/statistics, a year by day':<44}{percentile(statistics_ms, 0.5):>9.1f}{p99:>9.1f}"
            f"{max(statistics_ms):>9.1f}")
        say(f"{'GET /readyz (baseline, interleaved)':<44}{percentile(ready_ms, 0.5):>9.1f}"
            f"{percentile(ready_ms, 0.99):>9.1f}{max(ready_ms):>9.1f}")
        say(f"{'the same figures from scratch (SQL)':<44}{percentile(scratch_ms, 0.5):>9.1f}{'':>9}"
            f"{max(scratch_ms):>9.1f}")
        say(f"\nfrom scratch / from rollups (p50): {percentile(scratch_ms, 0.5) / percentile(statistics_ms, 0.5):.0f}x; "
            f"statistics / readyz (p50): {percentile(statistics_ms, 0.5) / percentile(ready_ms, 0.5):.1f}x")
        say(f"target p99 <= {TARGET_P99_MS:.0f} ms: {'met' if p99 <= TARGET_P99_MS else 'MISSED'}; "
            f"{len(got)} days, {sum(a for a, _ in got.values()):,} arrivals, "
            f"{sum(n for _, n in got.values()):,} guest-nights; "
            f"{'equal to the count from scratch' if not wrong else f'{len(wrong)} days DIFFER, e.g. {wrong[:3]}'}")
        say(f"load average at end {os.getloadavg()[0]:.1f} (2 shared cores: above ~1 the figures are disturbed)")
        return 1 if wrong else 0
    finally:
        if service is not None:
            service.stop()
        if args.keep:
            say(f"kept database {db.name}")
        else:
            db.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
