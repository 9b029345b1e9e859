"""The police view at scale: issue 5's three targets, measured in one run, each against a baseline of the same run.

1. occupancy  At --stays current stays (one guest each, --overdue percent of them overdue) over --dwellings
              dwellings in a county tree (331004 -> 20 towns -> 10 villages each), GET
              /api/v1/police/occupancy?area=331004 as a police account, --calls times through HTTP (one
              keep-alive connection, one call after the other): p50/p99/max. Target: p99 <= 10 ms (issue 14).
              Baseline, interleaved call by call with it: the same endpoint for a town of the jurisdiction
              without dwellings (same code path, no data), and /readyz (a SELECT 1). At the database level:
              the service's occupancy() on a direct connection (its one statement, no HTTP) against the
              count from scratch, and EXPLAIN ANALYZE of each of the queries it is made of and of the
              whole (the heaviest plan node named), so a miss shows which query it is.
2. fan-out    --streams SSE clients on GET /api/v1/police/stream?area=331004 in a separate process (asyncio
              with raw sockets on uvloop, RLIMIT_NOFILE raised, its garbage collector off while measuring;
              it only timestamps what it reads and parses once everything has come), all with their first
              `counts`. Then --events registrations, each one alone (--spacing s apart, so the service's
              coalescing does not hold it back): per stream, the time from the registration's 201 being
              read to the first `counts` that includes it (by its current_guests), on one clock
              (CLOCK_MONOTONIC, shared by the processes). p50/p99/max over all streams and events, how many
              streams got each event, and per event when the first and the last stream had it. Target: p99
              <= 250 ms. Baseline: the same with one stream. For the record, also a burst of --burst-rate
              registrations a second for --burst-seconds: there the coalescing (the notifier publishes at
              most every 0.5 s, each stream sends counts at most every 0.5 s) is part of the figure, by design.
3. streams    Registrations a second through HTTP driven by wrk (bench/registrations.py's run_wrk and
              registrations.lua, 64 connections, new guests from bench/guests.py spread over all the
              dwellings, each from its own X-Forwarded-For address), with no stream open and with
              --rate-streams open, --rounds times ABBA (none, 50, 50, none; --duration s each, after a
              warm-up) so a drift of the shared machine cancels. Target: rate with 50 / rate with none
              >= 0.9. Also the CPU (service + PostgreSQL) per registration both ways, which other work on
              the machine disturbs less than the rate.

Set-up: a fresh database (DATABASE_URL's server, or an embedded PostgreSQL), the real service as a child
process (tests/support.py ServiceProcess), areas and accounts and one dwelling through the API; the rest
of the dwellings, the stays and their guests by bulk SQL (generate_series) in one transaction with the
stays' change trigger and the dwellings' count trigger disabled (1,000,000 changes for the counter
applier would take minutes), then every counter table rebuilt from the rows (what counters_apply and
dwellings_count add up to), the triggers enabled again, the tables vacuumed and analysed. Before
measuring, and again after all the traffic (registrations counted by the service's counter applier on
top of the rebuilt counters, once it has applied them all), the county's and two towns' counts are
compared with a count from scratch (tests/test_police.py's FROM_SCRATCH, plus stays, overdue stays,
dwellings, beds and origin provinces): any difference fails the run (exit 1).

How to read it: one table, each target with its measured figure, the baseline, their ratio, met or
MISSED. Everything runs on this machine (2 cores, shared with others): the load average at start and
end, and per part the cores that processes other than the benchmark's used ("other"); above ~0.2 cores
the figures are disturbed. --profile adds unmeasured runs under py-spy (the occupancy calls, the
fan-out) and prints where the service's CPU went. --parts 2 measures the fan-out alone, and so on.

    python -m bench.police [--stays 1000000] [--dwellings 100000] [--overdue 10] [--calls 200]
                           [--streams 1000] [--events 20] [--rounds 2] [--duration 8] [--parts 1,2,3]
                           [--profile] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from bench.guests import DIVISIONS, GIVEN, SURNAMES, body, write_requests
from bench.registrations import (
    AREA,
    BEHIND_PROXY,
    LANDLORD,
    Database,
    Run,
    count_rows,
    cpu_seconds,
    machine_busy,
    postgres_pids,
    print_profile,
    report_problems,
    run_wrk,
    sql,
)
from service.police.occupancy import (
    OCCUPANCY,
    SUBTREE_COUNTS,
    SUBTREE_DAILY,
    SUBTREE_ORIGINS,
    SUBTREE_OVERDUE,
    SUBTREE_PENDING,
    occupancy,
)
from service.settings import Settings
from tests.support import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    ROOT,
    ServiceProcess,
    StaffClient,
    counters_applied,
)
from tests.test_police import FROM_SCRATCH

COUNTY = AREA["code"]
ZONE_NAME = Settings.model_fields["timezone"].default
ZONE = ZoneInfo(ZONE_NAME)
GRACE_HOURS = Settings.model_fields["overdue_grace_hours"].default
TOWNS, VILLAGES_PER_TOWN = 20, 10
EMPTY_AREA = f"{COUNTY}099"  # a town of the jurisdiction without dwellings: the occupancy baseline
POLICE = {"username": "bench-police", "password": "bench-police-password", "role": "police",
          "display_name": "Luqiao police", "area_code": COUNTY}
STREAM_PATH = f"/api/v1/police/stream?area={COUNTY}"
TARGET_OCCUPANCY_MS, TARGET_FANOUT_MS, TARGET_RATIO = 10.0, 250.0, 0.9
CONNECTIONS, WRK_THREADS = 64, 1  # as bench/registrations.py measures registrations


def percentile(values: list[float], q: float) -> float:
    """Nearest rank (nan for none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def say(text: str) -> None:
    print(text, flush=True)


# --- set-up: through the API, then bulk SQL -----------------------------------------------------

def towns() -> list[str]:
    return [f"{COUNTY}{t:03d}" for t in range(1, TOWNS + 1)]


def villages() -> list[str]:
    return [f"{town}{v:03d}" for town in towns() for v in range(1, VILLAGES_PER_TOWN + 1)]


async def set_up_through_api(base_url: str) -> str:
    """Admin -> the county tree (and the empty town), landlord, police; landlord -> one dwelling.
    The police account's bearer token."""
    admin = await StaffClient.log_in(base_url, ADMIN_USERNAME, ADMIN_PASSWORD)
    try:
        areas = [AREA, *({"code": code, "name": f"Town {code[-3:]}", "parent_code": COUNTY} for code in towns()),
                 *({"code": code, "name": f"Village {code[-6:]}", "parent_code": code[:-3]} for code in villages()),
                 {"code": EMPTY_AREA, "name": "Town without dwellings", "parent_code": COUNTY}]
        for area in areas:
            (await admin.post("/api/v1/areas", json=area)).raise_for_status()
        for account in (LANDLORD, POLICE):
            (await admin.post("/api/v1/accounts", json=account)).raise_for_status()
    finally:
        await admin.aclose()
    landlord = await StaffClient.log_in(base_url, LANDLORD["username"], LANDLORD["password"])
    try:
        (await landlord.post("/api/v1/dwellings", json={
            "name": "Room 1", "address": "1 Guanlin Road", "area_code": villages()[0], "kind": "rental_room",
            "capacity": 8})).raise_for_status()
    finally:
        await landlord.aclose()
    police = await StaffClient.log_in(base_url, POLICE["username"], POLICE["password"])
    await police.aclose()
    return police.login["token"]


# Stay j (0-based) is at the (j mod D)-th bulk dwelling, its only guest from DIVISIONS[j mod 10] (a
# resident card; 331004 is local, the others floating population) or, one in 40, a foreign passport.
# --overdue percent of them were due to leave yesterday or before (overdue), the others leave in 1 to 7
# days; all arrived in the 5 days before today (none is an arrival today). A dwelling's stays past its
# beds are capacity anomalies, as the service marks them.
GUEST_IS_FOREIGN = "(j % 40 = 7)"
GUEST_DIVISION = f"CASE WHEN {GUEST_IS_FOREIGN} THEN NULL ELSE ($1::text[])[j % 10 + 1] END"

LOAD_DWELLINGS = """
    INSERT INTO dwellings (owner_id, name, address, area_code, kind, capacity, latitude, longitude, qr_token)
    SELECT $1, 'Bench room ' || i, i || ' Bench Road', ($2::text[])[i % array_length($2::text[], 1) + 1],
           (ARRAY['rental_room', 'homestay', 'dormitory', 'hotel_room'])[i % 4 + 1], 8 + i % 9,
           28.50 + (i % 997) * 0.0002, 121.30 + (i / 997 % 997) * 0.0002, md5('bench-qr-' || i)
      FROM generate_series(0, $3 - 1) i"""

# Stay j's check-in: a few days ago, a day earlier when it is overdue ($5 of 10,000 are).
CHECK_IN = "current_date - 1 - (j % 5)::int - (j % 10000 < $5)::int"
LOAD_STAYS = f"""
    INSERT INTO stays (id, dwelling_id, area_code, receipt_hash, check_in, check_out, expected_departure,
                       phone_cipher, phone_index, phone_masked, guest_count, capacity_anomaly, registered_by,
                       created_at, floating_count, foreign_count, origin_provinces)
    SELECT md5('bench-stay-' || j)::uuid, d.id, d.area_code, sha256(('bench-receipt-' || j)::bytea),
           v.check_in, v.check_out, (v.check_out + time '12:00') AT TIME ZONE '{ZONE_NAME}',
           substring(sha256(('bench-pc-' || j)::bytea) || sha256(('bench-pc2-' || j)::bytea) FROM 1 FOR 40),
           sha256(('bench-phone-' || j)::bytea), '138****' || lpad((j % 10000)::text, 4, '0'), 1,
           j / $2 + 1 > d.capacity, 'guest',
           (v.check_in + time '15:00' + (j % 3600) * interval '1 second') AT TIME ZONE '{ZONE_NAME}',
           (v.division IS NOT NULL AND v.division <> left(d.area_code, 6))::int, v.is_foreign::int,
           CASE WHEN v.division IS NOT NULL AND v.division <> left(d.area_code, 6)
                THEN ARRAY[left(v.division, 2)] ELSE '{{}}' END
      FROM generate_series($3::bigint, $4::bigint - 1) j
      JOIN bench_dwellings d ON d.k = j % $2
     CROSS JOIN LATERAL (SELECT {GUEST_DIVISION} AS division, {GUEST_IS_FOREIGN} AS is_foreign,
                                j % 10000 < $5 AS overdue) o
     CROSS JOIN LATERAL (SELECT o.division, o.is_foreign, o.overdue,
                                {CHECK_IN} AS check_in) c
     CROSS JOIN LATERAL (SELECT c.division, c.is_foreign, c.check_in,
                                CASE WHEN c.overdue THEN c.check_in + 1 ELSE current_date + 1 + (j % 7)::int END
                                  AS check_out) v"""

LOAD_GUESTS = f"""
    INSERT INTO stay_guests (id, stay_id, check_in, position, full_name, document_type, document_cipher,
                             document_index, document_masked, nationality, birth_year, sex, origin_division, is_foreign)
    SELECT md5('bench-guest-' || j)::uuid, md5('bench-stay-' || j)::uuid, {CHECK_IN.replace("$5", "$6")}, 0,
           substr($2, (j % 20)::int + 1, 1) || substr($3, (j / 20 % 24)::int + 1, 1) || substr($3, (j % 7)::int + 1, 1),
           CASE WHEN c.is_foreign THEN 'passport' ELSE 'resident_id' END,
           substring(sha256(('bench-dc-' || j)::bytea) || sha256(('bench-dc2-' || j)::bytea) FROM 1 FOR 47),
           sha256(('bench-document-' || j)::bytea),
           CASE WHEN c.is_foreign THEN 'X12**' || lpad((j % 10000)::text, 4, '0')
                ELSE c.division || '***********' || lpad((j % 10000)::text, 4, '0') END,
           CASE WHEN c.is_foreign THEN 'USA' END, 1950 + (j % 55)::int, (ARRAY['M', 'F'])[j % 2 + 1],
           c.division, c.is_foreign
      FROM generate_series($4::bigint, $5::bigint - 1) j
     CROSS JOIN LATERAL (SELECT {GUEST_DIVISION} AS division, {GUEST_IS_FOREIGN} AS is_foreign) c"""

# Every counter table from the rows, as the counter applier would have left them (counters_apply in
# 0012_counter_applier.sql): what it adds per current stay, what dwellings_count adds per dwelling, the
# arrivals and departures on the local day they happened, the current stays per expected departure.
REBUILD_COUNTERS = f"""
    UPDATE dwellings d SET current_guests = n.guests
      FROM (SELECT d2.id, coalesce(sum(s.guest_count), 0) AS guests
              FROM dwellings d2 LEFT JOIN stays s ON s.dwelling_id = d2.id AND s.checked_out_at IS NULL
             GROUP BY d2.id) n
     WHERE n.id = d.id AND d.current_guests <> n.guests;
    DELETE FROM area_counts;
    INSERT INTO area_counts (area_code, slot, dwellings, beds, occupied_dwellings, current_stays, current_guests,
                             floating_population, foreign_guests, capacity_anomalies)
    SELECT area_code, slot, sum(dwellings), sum(beds), sum(occupied), sum(stays), sum(guests), sum(floating),
           sum(foreign_guests), sum(anomalies)
      FROM (SELECT area_code, count_slot(id) AS slot, active::int AS dwellings,
                   CASE WHEN active THEN capacity ELSE 0 END AS beds, (current_guests > 0)::int AS occupied,
                   0 AS stays, 0 AS guests, 0 AS floating, 0 AS foreign_guests, 0 AS anomalies
              FROM dwellings WHERE active OR current_guests > 0
            UNION ALL
            SELECT area_code, count_slot(dwelling_id), 0, 0, 0, 1, guest_count, floating_count, foreign_count,
                   capacity_anomaly::int
              FROM stays WHERE checked_out_at IS NULL) x
     GROUP BY area_code, slot;
    DELETE FROM area_origin_counts;
    INSERT INTO area_origin_counts (area_code, province, slot, guests)
    SELECT s.area_code, p, count_slot(s.dwelling_id), count(*)
      FROM stays s, unnest(s.origin_provinces) p WHERE s.checked_out_at IS NULL GROUP BY 1, 2, 3;
    DELETE FROM area_daily_counts;
    INSERT INTO area_daily_counts (area_code, day, slot, arrivals, departures)
    SELECT area_code, day, slot, sum(arrivals), sum(departures)
      FROM (SELECT area_code, (created_at AT TIME ZONE '{ZONE_NAME}')::date AS day, count_slot(dwelling_id) AS slot,
                   guest_count AS arrivals, 0 AS departures FROM stays
            UNION ALL
            SELECT area_code, (checked_out_at AT TIME ZONE '{ZONE_NAME}')::date, count_slot(dwelling_id), 0, guest_count
              FROM stays WHERE checked_out_at IS NOT NULL) x
     GROUP BY 1, 2, 3;
    DELETE FROM area_departures;
    INSERT INTO area_departures (area_code, expected_departure, stays)
    SELECT area_code, expected_departure, count(*) FROM stays WHERE checked_out_at IS NULL GROUP BY 1, 2"""


async def bulk_load(dsn: str, owner_id: int, dwellings: int, stays: int, overdue: float,
                    batch: int = 250_000) -> None:
    """Dwellings, stays and guests in one transaction, the count triggers off; counters rebuilt; triggers on."""
    conn = await asyncpg.connect(dsn, server_settings={"timezone": ZONE_NAME})  # current_date is the local day
    try:
        async with conn.transaction():
            await conn.execute("ALTER TABLE dwellings DISABLE TRIGGER dwellings_count;"
                               "ALTER TABLE stays DISABLE TRIGGER stays_changed_insert")
            started = time.monotonic()
            await conn.execute(LOAD_DWELLINGS, owner_id, villages(), dwellings)
            await conn.execute("""CREATE TEMP TABLE bench_dwellings ON COMMIT DROP AS
                                  SELECT id, area_code, capacity, row_number() OVER (ORDER BY id) - 1 AS k
                                    FROM dwellings WHERE name LIKE 'Bench room %'""")
            await conn.execute("CREATE INDEX ON bench_dwellings (k); ANALYZE bench_dwellings")
            say(f"  {dwellings:,} dwellings in {time.monotonic() - started:.1f} s")
            for first in range(0, stays, batch):
                last = min(stays, first + batch)
                started = time.monotonic()
                await conn.execute(LOAD_STAYS, list(DIVISIONS), dwellings, first, last, round(overdue * 100))
                await conn.execute(LOAD_GUESTS, list(DIVISIONS), SURNAMES, GIVEN, first, last, round(overdue * 100))
                say(f"  stays and guests {last:,}/{stays:,} ({time.monotonic() - started:.1f} s)")
            started = time.monotonic()
            await conn.execute(REBUILD_COUNTERS)
            await conn.execute("ALTER TABLE dwellings ENABLE TRIGGER dwellings_count;"
                               "ALTER TABLE stays ENABLE TRIGGER stays_changed_insert")
            say(f"  counters rebuilt from the rows, triggers on again ({time.monotonic() - started:.1f} s)")
        started = time.monotonic()
        await conn.execute("VACUUM (ANALYZE) dwellings, stays, stay_guests, area_counts, area_origin_counts, "
                           "area_daily_counts")
        say(f"  vacuumed and analysed ({time.monotonic() - started:.1f} s)")
    finally:
        await conn.close()


# --- checks: the counters against a count from scratch ------------------------------------------

SCRATCH_EXTRA = f"""
    SELECT (SELECT count(*) FROM stays WHERE checked_out_at IS NULL AND area_code LIKE $1 || '%') AS current_stays,
           (SELECT count(*) FROM stays WHERE checked_out_at IS NULL AND area_code LIKE $1 || '%'
               AND expected_departure < now() - interval '{GRACE_HOURS} hours') AS overdue_stays,
           (SELECT count(*) FROM dwellings WHERE active AND area_code LIKE $1 || '%') AS dwellings,
           (SELECT coalesce(sum(capacity), 0) FROM dwellings WHERE active AND area_code LIKE $1 || '%') AS beds"""
SCRATCH_ORIGINS = """
    SELECT left(g.origin_division, 2) AS province, count(*) AS guests
      FROM stay_guests g JOIN stays s ON s.id = g.stay_id
     WHERE s.checked_out_at IS NULL AND s.area_code LIKE $1 || '%' AND g.origin_division <> left(s.area_code, 6)
     GROUP BY 1"""


async def counts_disagree(dsn: str, base_url: str, token: str) -> tuple[list[str], float]:
    """Differences between the service's counts (county, first and last town) and a count from scratch;
    and the seconds the count from scratch of the county took."""
    today = datetime.now(ZONE).date()
    problems, scratch_seconds = [], 0.0
    conn = await asyncpg.connect(dsn, server_settings={"timezone": ZONE_NAME})
    try:
        await counters_applied(conn, within_seconds=120)
        async with httpx.AsyncClient(base_url=base_url, timeout=60,
                                     headers={"Authorization": f"Bearer {token}"}) as police:
            for area in (COUNTY, towns()[0], towns()[-1]):
                counts = (await police.get("/api/v1/police/occupancy", params={"area": area})).raise_for_status().json()
                started = time.perf_counter()
                expected = {**dict(await conn.fetchrow(FROM_SCRATCH, area, today)),
                            **dict(await conn.fetchrow(SCRATCH_EXTRA, area))}
                if area == COUNTY:
                    expected["origin_provinces"] = {r["province"]: r["guests"]
                                                    for r in await conn.fetch(SCRATCH_ORIGINS, area)}
                    counts["origin_provinces"] = {p["province"]: p["guests"] for p in counts["origin_provinces"]}
                    scratch_seconds = time.perf_counter() - started
                differ = {k: (counts.get(k), v) for k, v in expected.items() if counts.get(k) != v}
                if differ:
                    problems.append(f"area {area}: counters differ from a count from scratch (counter, scratch): {differ}")
    finally:
        await conn.close()
    return problems, scratch_seconds


# --- 1. occupancy -------------------------------------------------------------------------------

def occupancy_over_http(base_url: str, token: str, calls: int) -> dict[str, list[float]]:
    """Seconds per call of each kind, the kinds interleaved call by call (a drift of the machine hits all)."""
    urls = {"county": f"/api/v1/police/occupancy?area={COUNTY}",
            "empty area": f"/api/v1/police/occupancy?area={EMPTY_AREA}", "readyz": "/readyz"}
    seconds: dict[str, list[float]] = {name: [] for name in urls}
    with httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
        for n in range(10 + calls):
            for name, url in urls.items():
                started = time.perf_counter()
                response = client.get(url)
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                if n >= 10:  # the first ten warm up
                    seconds[name].append(elapsed)
    return seconds


def heaviest_scan(plan: dict) -> tuple[float, str]:
    """The plan node that read the most rows, described."""
    loops = plan.get("Actual Loops", 1)
    read = (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
            + plan.get("Rows Removed by Index Recheck", 0)) * loops
    text = plan["Node Type"]
    if "Index Name" in plan:
        text += f" using {plan['Index Name']}"
    if "Relation Name" in plan:
        text += f" on {plan['Relation Name']}"
    text += (f": {plan.get('Actual Rows', 0) * loops:,.0f} rows out, {read - plan.get('Actual Rows', 0) * loops:,.0f} "
             f"filtered, {plan.get('Shared Hit Blocks', 0) + plan.get('Shared Read Blocks', 0):,} pages")
    best = (read, text)
    for child in plan.get("Plans", []):
        best = max(best, heaviest_scan(child), key=lambda x: x[0])
    return best


OCCUPANCY_QUERIES = {  # what occupancy() asks, named as in service/police/occupancy.py
    "SUBTREE_COUNTS": (SUBTREE_COUNTS, ()), "SUBTREE_DAILY": (SUBTREE_DAILY, ()),
    "SUBTREE_OVERDUE": (SUBTREE_OVERDUE, (GRACE_HOURS,)), "SUBTREE_PENDING": (SUBTREE_PENDING, ()),
    "SUBTREE_ORIGINS": (SUBTREE_ORIGINS, ()), "OCCUPANCY (all in one)": (OCCUPANCY, (GRACE_HOURS,)),
}


@dataclass
class DatabaseLevel:
    occupancy_ms: list[float]  # occupancy() on a direct connection: its one statement and round trip
    queries: dict[str, tuple[float, str]]  # EXPLAIN ANALYZE: median planning + execution ms, heaviest node


async def occupancy_in_database(dsn: str, repeats: int = 30) -> DatabaseLevel:
    conn = await asyncpg.connect(dsn, server_settings={"timezone": ZONE_NAME})
    try:
        for _ in range(3):
            await occupancy(conn, COUNTY, GRACE_HOURS)
        whole = []
        for _ in range(repeats):
            started = time.perf_counter()
            await occupancy(conn, COUNTY, GRACE_HOURS)
            whole.append(1000 * (time.perf_counter() - started))
        queries = {}
        for name, (query, args) in OCCUPANCY_QUERIES.items():
            runs = []
            for _ in range(5):
                plan = json.loads(await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}", COUNTY, *args))[0]
                runs.append((plan["Planning Time"] + plan["Execution Time"], heaviest_scan(plan["Plan"])[1]))
            runs.sort()
            queries[name] = runs[len(runs) // 2]
        return DatabaseLevel(whole, queries)
    finally:
        await conn.close()


# --- 2. fan-out: the stream client (its own process) --------------------------------------------

COUNTS_GUESTS = re.compile(rb'"current_guests":\s*(\d+)')  # the first is the area's own (json keeps key order)


class Stream(asyncio.Protocol):
    """One SSE connection. data_received only timestamps what arrived; parse() makes events of it later,
    so a thousand streams reading at once do not wait on each other's parsing."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.pieces: list[tuple[float, bytes]] = []
        self.raw = b""  # received, not yet de-chunked
        self.body = b""  # de-chunked, not yet split into events
        self.status: int | None = None
        self.chunked = False
        self.chunk_left = 0
        self.counts: list[tuple[float, int]] = []  # (arrival, current_guests) of each `counts` event
        self.closed = False
        self.error = ""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.pieces.append((time.monotonic(), data))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = self.error or f"closed by the server ({exc!r})"

    def parse(self) -> None:
        pieces, self.pieces = self.pieces, []
        for arrived, data in pieces:
            self.raw += data
            if self.status is None:
                head, sep, rest = self.raw.partition(b"\r\n\r\n")
                if not sep:
                    continue
                self.status = int(head.split(b" ", 2)[1])
                self.chunked = b"transfer-encoding: chunked" in head.lower()
                self.raw = rest
                if self.status != 200:
                    self.error = f"status {self.status}: {rest[:300]!r}"
            self._dechunk()
            while True:
                end = self.body.find(b"\r\n\r\n")
                if end < 0:
                    break
                event, self.body = self.body[:end], self.body[end + 4:]
                if event.startswith(b"event: counts") and (m := COUNTS_GUESTS.search(event)):
                    self.counts.append((arrived, int(m.group(1))))

    def _dechunk(self) -> None:
        if not self.chunked:
            self.body, self.raw = self.body + self.raw, b""
            return
        while self.raw:
            if self.chunk_left == 0:
                line_end = self.raw.find(b"\r\n")
                if line_end < 0:
                    return
                line, rest = self.raw[:line_end], self.raw[line_end + 2:]
                if not line:  # the CRLF after a chunk's data
                    self.raw = rest
                    continue
                self.chunk_left, self.raw = int(line.split(b";")[0], 16), rest
                if self.chunk_left == 0:
                    self.error = self.error or "the server ended the stream"
                    return
            take = self.raw[:self.chunk_left]
            self.body += take
            self.raw = self.raw[len(take):]
            self.chunk_left -= len(take)

    def first_at_least(self, guests: int) -> float | None:
        return next((arrived for arrived, n in self.counts if n >= guests), None)


class StreamClient:
    """The client process's side: opens streams, reports when counts arrived."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.request = (f"GET {STREAM_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
                        f"Accept: text/event-stream\r\nUser-Agent: bench-police\r\n\r\n").encode()
        self.streams: list[Stream] = []

    def parse_all(self) -> None:
        for stream in self.streams:
            stream.parse()

    async def open(self, n: int, timeout: float, concurrency: int = 50) -> dict:
        """``n`` more streams, each with its first `counts`."""
        loop, started = asyncio.get_running_loop(), time.monotonic()
        gate, failed = asyncio.Semaphore(concurrency), []

        async def one() -> None:
            async with gate:
                try:
                    _, stream = await loop.create_connection(lambda: Stream(self.request), self.host, self.port)
                except OSError as exc:
                    failed.append(f"connect: {exc}")
                    return
                self.streams.append(stream)
                deadline = time.monotonic() + timeout
                while not stream.counts and not stream.error and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                    stream.parse()
                if not stream.counts:
                    failed.append(stream.error or "no first counts in time")

        await asyncio.gather(*(one() for _ in range(n)))
        return {"open": sum(not s.closed for s in self.streams), "failed": len(failed), "first_error": failed[:1],
                "seconds": time.monotonic() - started}

    async def arrivals(self, expected: list[int], timeout: float) -> list[list[float | None]]:
        """Per stream, per expected current_guests, when the first counts with at least that many arrived."""
        deadline, top = time.monotonic() + timeout, max(expected)
        self.parse_all()  # what came before, with the times it came
        while True:
            # Parsing waits until every stream has read something new: parsing a thousand streams while
            # others are still arriving would delay reading them, and so their timestamps.
            await asyncio.sleep(0.02)
            waiting = [s for s in self.streams if not s.closed and s.first_at_least(top) is None]
            if not waiting or time.monotonic() > deadline:
                break
            if all(s.pieces for s in waiting):
                for stream in waiting:
                    stream.parse()
        return [[s.first_at_least(e) for e in expected] for s in self.streams]

    def close(self) -> dict:
        self.parse_all()
        lost = [s.error for s in self.streams if s.closed]
        events = [len(s.counts) for s in self.streams]
        for stream in self.streams:
            if stream.transport is not None:
                stream.transport.close()
        self.streams = []
        gc.collect()
        return {"lost": len(lost), "first_lost": lost[:1], "events": events}


def stream_client_main(pipe, host: str, port: int, token: str) -> None:
    """The client process: commands from ``pipe`` (open, arrivals, close, exit), an answer for each."""
    import uvloop

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    gc.disable()  # no collector pause in the middle of timestamping; closing the streams collects

    async def serve() -> None:
        client, loop = StreamClient(host, port, token), asyncio.get_running_loop()
        while True:
            command, *args = await loop.run_in_executor(None, pipe.recv)
            try:
                if command == "open":
                    answer = await client.open(*args)
                elif command == "arrivals":
                    answer = await client.arrivals(*args)
                elif command == "close":
                    answer = client.close()
                else:
                    client.close()
                    pipe.send({"bye": True})
                    return
            except Exception:  # noqa: BLE001 - the parent must hear of it
                answer = {"exception": traceback.format_exc()}
            pipe.send(answer)

    uvloop.run(serve())


class StreamProcess:
    """The parent's handle on the client process."""

    def __init__(self, base_url: str, token: str) -> None:
        host, port = base_url.removeprefix("http://").rsplit(":", 1)
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=stream_client_main, args=(child, host, int(port), token), daemon=True)
        self.process.start()

    def ask(self, *command: object, timeout: float = 300) -> object:
        self.pipe.send(command)
        if not self.pipe.poll(timeout):
            raise RuntimeError(f"the stream client did not answer {command[0]} within {timeout:g} s")
        answer = self.pipe.recv()
        if isinstance(answer, dict) and "exception" in answer:
            raise RuntimeError(f"the stream client failed:\n{answer['exception']}")
        return answer

    def stop(self) -> None:
        try:
            self.ask("exit", timeout=10)
        except (RuntimeError, OSError, EOFError):
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()


# --- 2. fan-out: the parent's side --------------------------------------------------------------

def guest_address(n: int) -> str:
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


class Guests:
    """New guests registered one at a time through HTTP, each at the next dwelling; each 201 is one guest
    more in the county (nothing else changes it meanwhile)."""

    def __init__(self, base_url: str, tokens: list[str], first: int, guests_now: int) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30)
        self.tokens, self.n, self.guests_now = tokens, first, guests_now
        self.tag = os.urandom(3).hex()

    def register(self) -> float:
        """The moment the 201 was read (time.monotonic, the stream client's clock too)."""
        n, self.n = self.n, self.n + 1
        response = self.client.post(
            f"/api/v1/public/dwellings/{self.tokens[n * 7919 % len(self.tokens)]}/stays",
            json=body(n, datetime.now(ZONE).date()),
            headers={"Idempotency-Key": f"fanout-{self.tag}-{n:09d}", "X-Forwarded-For": guest_address(n)})
        acknowledged = time.monotonic()
        if response.status_code != 201:
            raise RuntimeError(f"registration answered {response.status_code}: {response.text[:300]}")
        self.guests_now += 1
        return acknowledged

    def close(self) -> None:
        self.client.close()


@dataclass
class Fanout:
    streams: int
    events: int
    ms: list[float] = field(default_factory=list)  # per stream and event: 201 read -> counts read
    received: list[int] = field(default_factory=list)  # per event: streams that got it in time
    first_ms: list[float] = field(default_factory=list)  # per event: 201 -> the first stream had it
    spread_ms: list[float] = field(default_factory=list)  # per event: the first stream had it -> the last had it

    def add(self, acknowledged: list[float], arrivals: list[list[float | None]]) -> None:
        for i, ack in enumerate(acknowledged):
            got = [row[i] for row in arrivals if row[i] is not None]
            self.received.append(len(got))
            self.ms += [1000 * (arrived - ack) for arrived in got]
            if got:
                self.first_ms.append(1000 * (min(got) - ack))
                self.spread_ms.append(1000 * (max(got) - min(got)))

    @property
    def all_received(self) -> bool:
        return all(n == self.streams for n in self.received)


def fan_out(streams: StreamProcess, guests: Guests, open_streams: int, events: int, spacing: float,
            timeout: float = 10) -> Fanout:
    """``events`` registrations, each alone (``spacing`` s apart, the first too: a stream sends counts at most
    every 0.5 s, its first on connecting), each awaited on every stream."""
    result = Fanout(open_streams, events)
    time.sleep(spacing)
    for _ in range(events):
        acknowledged = guests.register()
        arrivals = streams.ask("arrivals", [guests.guests_now], timeout)
        result.add([acknowledged], arrivals)
        time.sleep(max(0.0, acknowledged + spacing - time.monotonic()))
    return result


def fan_out_burst(streams: StreamProcess, guests: Guests, open_streams: int, rate: float, seconds: float,
                  spacing: float, timeout: float = 10) -> Fanout:
    """Registrations ``rate`` a second for ``seconds``, one after the other on schedule; each awaited on every stream."""
    count = max(1, round(rate * seconds))
    time.sleep(spacing)
    acknowledged, expected, start = [], [], time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        acknowledged.append(guests.register())
        expected.append(guests.guests_now)
    result = Fanout(open_streams, count)
    result.add(acknowledged, streams.ask("arrivals", expected, timeout))
    return result


def py_spy(pid: int, seconds: float, output: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw", "--rate", "200", "--function",
         "--duration", str(max(1, round(seconds))), "--output", str(output), "--pid", str(pid)],
        stdout=subprocess.DEVNULL, stderr=log.open("a"))


# --- 3. registrations with streams open ---------------------------------------------------------

@dataclass
class RateRuns:
    runs: list[tuple[int, Run]] = field(default_factory=list)  # (streams open, the wrk run), in order
    stream_events: list[int] = field(default_factory=list)  # counts events per stream while they were open
    stream_seconds: float = 0.0  # how long they were open
    problems: list[str] = field(default_factory=list)

    def rate(self, streams: int) -> float:
        """Registrations a second, over all the runs with ``streams`` open."""
        runs = [run for n, run in self.runs if n == streams]
        return sum(r.created for r in runs) / sum(r.seconds for r in runs)

    def cpu_us(self, streams: int) -> float:
        """CPU microseconds (service + PostgreSQL) per registration: less disturbed by other work on the machine."""
        runs = [run for n, run in self.runs if n == streams]
        cpu = sum((r.cpu["app"] + r.cpu["postgres"]) * r.seconds for r in runs)
        return 1e6 * cpu / sum(r.created for r in runs)

    def other_cores(self) -> float:
        return max(run.cpu["other"] for _, run in self.runs)


def registrations_rate(service: ServiceProcess, db: Database, tokens: list[str], streams: StreamProcess,
                       args: argparse.Namespace, work: Path, first_guest: int) -> RateRuns:
    """A warm-up, then --rounds times ABBA: no stream open, --rate-streams open, the same again, none again."""
    wrk_args = argparse.Namespace(threads=WRK_THREADS, connections=CONNECTIONS)
    watch = {"app": lambda: [service.process.pid], "postgres": lambda: postgres_pids(db.dsn)}
    result = RateRuns()
    next_guest = first_guest

    def measure(name: str, open_streams: int, seconds: float) -> None:
        nonlocal next_guest
        count = round(seconds * args.max_rate) + CONNECTIONS
        label = re.sub(r"[^A-Za-z0-9]", "", name.replace("'", "x"))  # Idempotency-Key: letters, digits, - and _
        requests = work / f"requests-{label}.tsv"
        write_requests(requests, tokens, next_guest, count, f"{os.getpid()}-{label}")
        next_guest += count
        before = count_rows(db.dsn)
        busy = machine_busy()
        wrk, first_error, cores = run_wrk(service.base_url, requests, seconds, wrk_args, work / "wrk.log", watch)
        machine = (machine_busy() - busy) / (wrk["duration_us"] / 1e6)
        cores["other"] = max(0.0, machine - cores["app"] - cores["postgres"] - cores["wrk"])
        requests.unlink()
        after = count_rows(db.dsn)
        run = Run(f"{open_streams} streams", wrk, first_error, rows=after[0] - before[0],
                  guest_rows=after[1] - before[1], cpu=cores)
        result.problems.extend(report_problems(run, CONNECTIONS, name))
        say(f"  {name}: {open_streams} streams open, {run.rps:.0f} registrations/s, p99 {run.ms('p99_us'):.1f} ms, "
            f"{run.errors} errors; cores: service {cores['app']:.2f}, postgres {cores['postgres']:.2f}, "
            f"wrk {cores['wrk']:.2f}, other {cores['other']:.2f}")
        if name != "warm-up":
            result.runs.append((open_streams, run))

    measure("warm-up", 0, args.warmup)
    for round_number in range(args.rounds):
        measure(f"round {round_number + 1} A", 0, args.duration)
        opened = streams.ask("open", args.rate_streams, 60)
        if opened["failed"]:
            result.problems.append(f"{opened['failed']} of {args.rate_streams} streams did not open: "
                                   f"{opened['first_error']}")
        since = time.monotonic()
        measure(f"round {round_number + 1} B", args.rate_streams, args.duration)
        measure(f"round {round_number + 1} B'", args.rate_streams, args.duration)
        closed = streams.ask("close")
        result.stream_seconds += time.monotonic() - since
        result.stream_events += closed["events"]
        if closed["lost"]:
            result.problems.append(f"{closed['lost']} streams were lost during the registrations: {closed['first_lost']}")
        measure(f"round {round_number + 1} A'", 0, args.duration)
    return result


# --- the report ---------------------------------------------------------------------------------

@dataclass
class Row:
    what: str
    measured: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None  # None: for the record, no target


def ms(seconds: list[float], q: float) -> float:
    return 1000 * percentile(seconds, q)


def print_table(rows_: list[Row]) -> None:
    widths = [max(len(getattr(r, k)) for r in rows_) for k in ("what", "measured", "baseline", "ratio", "target")]
    head = ("target / figure", "measured", "baseline (same run)", "ratio", "target")
    widths = [max(w, len(h)) for w, h in zip(widths, head)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths)) + "  verdict"
    say("\n" + line + "\n" + "-" * len(line))
    for r in rows_:
        verdict = "" if r.met is None else ("met" if r.met else "MISSED")
        say("  ".join(str(v).ljust(w) for v, w in zip((r.what, r.measured, r.baseline, r.ratio, r.target), widths))
            + "  " + verdict)


def fanout_rows(label: str, fan: Fanout, one: Fanout, target: bool) -> list[Row]:
    p99, p99_one = percentile(fan.ms, 0.99), percentile(one.ms, 0.99)
    got = f"{min(fan.received, default=0)}/{fan.streams}"
    rows_ = [Row(f"{label}: 201 -> counts on every stream, p99", f"{p99:.0f} ms",
                 f"1 stream: {p99_one:.0f} ms" if target else "", f"{p99 / p99_one:.1f}x" if one.ms and target else "",
                 f"<= {TARGET_FANOUT_MS:.0f} ms" if target else "(coalesced by design)",
                 (p99 <= TARGET_FANOUT_MS and fan.all_received) if target else None),
             Row("  p50 / max", f"{percentile(fan.ms, 0.5):.0f} / {max(fan.ms, default=float('nan')):.0f} ms",
                 f"{percentile(one.ms, 0.5):.0f} / {max(one.ms, default=float('nan')):.0f} ms"),
             Row(f"  streams that got each of the {fan.events} events (fewest)", got, "",
                 "", "all" if target else "", fan.all_received if target else None)]
    return rows_


class Bench:
    """What the three parts share: the database, the service, the police account, the stream client."""

    def __init__(self, args: argparse.Namespace, db: Database, service: ServiceProcess, token: str, work: Path,
                 out: Path, problems: list[str]) -> None:
        self.args, self.db, self.service, self.token, self.work, self.out = args, db, service, token, work, out
        self.problems = problems
        self.tokens = [r["qr_token"] for r in sql(db.dsn, "SELECT qr_token FROM dwellings WHERE name LIKE "
                                                            "'Bench room %' ORDER BY id")]
        self.streams: StreamProcess | None = None
        self.other: dict[str, float] = {}  # cores used by other work on the machine, per part
        self.next_guest = 50_000_000  # guests of bench/guests.py not used by the set-up

    def stream_client(self) -> StreamProcess:
        if self.streams is None:
            self.streams = StreamProcess(self.service.base_url, self.token)
        return self.streams

    def ours(self) -> list[int]:
        pids = [os.getpid(), self.service.process.pid, *postgres_pids(self.db.dsn)]
        return pids + ([self.streams.process.pid] if self.streams is not None else [])

    @contextlib.contextmanager
    def watching(self, part: str):
        """Notes the cores that processes other than the benchmark's used meanwhile (whole machine less ours)."""
        ours, busy, started = cpu_seconds(self.ours()), machine_busy(), time.monotonic()
        yield
        ours_after = cpu_seconds(self.ours())
        used = sum(t - ours.get(pid, 0.0) for pid, t in ours_after.items())
        self.other[part] = max(0.0, machine_busy() - busy - used) / (time.monotonic() - started)


def part_occupancy(bench: Bench, scratch_seconds: float) -> list[Row]:
    args, service, token = bench.args, bench.service, bench.token
    say(f"\n1. occupancy: {args.calls} calls each, interleaved: county, empty area, /readyz")
    with bench.watching("occupancy"):
        http = occupancy_over_http(service.base_url, token, args.calls)
    for name, seconds in http.items():
        say(f"  {name:<10} p50 {ms(seconds, 0.5):6.1f} ms  p99 {ms(seconds, 0.99):6.1f} ms  "
            f"max {1000 * max(seconds):6.1f} ms")
    database = asyncio.run(occupancy_in_database(bench.db.dsn))
    say(f"  database, occupancy() on a direct connection: p50 {percentile(database.occupancy_ms, 0.5):.1f} ms, "
        f"p99 {percentile(database.occupancy_ms, 0.99):.1f} ms; EXPLAIN ANALYZE (median of 5, planning + execution):")
    for name, (query_ms, node) in database.queries.items():
        say(f"    {name:<16} {query_ms:7.2f} ms  heaviest node: {node}")
    if args.profile:
        spy = py_spy(service.process.pid, 8, bench.out / "profile-occupancy.txt", bench.work / "py-spy.log")
        time.sleep(1)
        occupancy_over_http(service.base_url, token, 60)
        spy.wait(timeout=60)
        print_profile(bench.out / "profile-occupancy.txt")
    county_p99, empty_p99 = ms(http["county"], 0.99), ms(http["empty area"], 0.99)
    county_p50, empty_p50, ready_p50 = ms(http["county"], 0.5), ms(http["empty area"], 0.5), ms(http["readyz"], 0.5)
    direct = percentile(database.occupancy_ms, 0.5)
    return [
        Row(f"1 occupancy of the county at {args.stays:,} stays, HTTP p99", f"{county_p99:.1f} ms",
            f"empty area: {empty_p99:.1f} ms", f"{county_p99 / empty_p99:.1f}x", f"<= {TARGET_OCCUPANCY_MS:.0f} ms",
            county_p99 <= TARGET_OCCUPANCY_MS),
        Row("  p50", f"{county_p50:.1f} ms", f"empty area: {empty_p50:.1f} ms", f"{county_p50 / empty_p50:.1f}x"),
        Row("  p50 against /readyz (SELECT 1)", f"{county_p50:.1f} ms", f"/readyz: {ready_p50:.1f} ms",
            f"{county_p50 / ready_p50:.1f}x"),
        Row("  database: occupancy() direct, p50", f"{direct:.1f} ms", f"from scratch: {1000 * scratch_seconds:.0f} ms",
            f"{direct / (1000 * scratch_seconds):.3f}x"),
    ]


def part_fan_out(bench: Bench) -> list[Row]:
    args, service = bench.args, bench.service
    say(f"\n2. fan-out: one stream, then {args.streams}; {args.events} registrations each, {args.spacing:g} s apart")
    police = httpx.get(f"{service.base_url}/api/v1/police/occupancy", params={"area": COUNTY},
                       headers={"Authorization": f"Bearer {bench.token}"}, timeout=30).raise_for_status().json()
    guests = Guests(service.base_url, bench.tokens, bench.next_guest, police["current_guests"])
    streams = bench.stream_client()
    try:
        with bench.watching("fan-out"):
            streams.ask("open", 1, 60)
            one = fan_out(streams, guests, 1, min(args.events, 10), args.spacing)
            streams.ask("close")
            say(f"  1 stream: p50 {percentile(one.ms, 0.5):.0f} ms, p99 {percentile(one.ms, 0.99):.0f} ms")
            opened = streams.ask("open", args.streams, 180)
            say(f"  {opened['open']} streams open, each with its first counts, in {opened['seconds']:.1f} s"
                + (f"; {opened['failed']} FAILED: {opened['first_error']}" if opened["failed"] else ""))
            if opened["failed"]:
                bench.problems.append(f"{opened['failed']} of {args.streams} streams did not open: {opened['first_error']}")
            many = fan_out(streams, guests, opened["open"], args.events, args.spacing)
        say(f"  {opened['open']} streams: p50 {percentile(many.ms, 0.5):.0f} ms, p99 {percentile(many.ms, 0.99):.0f} ms, "
            f"max {max(many.ms, default=float('nan')):.0f} ms; streams reached per event: {many.received}")
        say(f"    per event, median: 201 -> the first stream {statistics.median(many.first_ms):.0f} ms (notify, "
            f"occupancy query, first send), then {statistics.median(many.spread_ms):.0f} ms until the last stream "
            f"had it ({1000 * statistics.median(many.spread_ms) / max(1, opened['open'] - 1):.0f} µs a stream)")
        say("    each event, first stream / last stream: "
            + ", ".join(f"{f:.0f}/{f + d:.0f}" for f, d in zip(many.first_ms, many.spread_ms)) + " ms")
        burst = fan_out_burst(streams, guests, opened["open"], args.burst_rate, args.burst_seconds, args.spacing)
        say(f"  burst of {burst.events} at {args.burst_rate:g}/s: p50 {percentile(burst.ms, 0.5):.0f} ms, "
            f"p99 {percentile(burst.ms, 0.99):.0f} ms, max {max(burst.ms, default=float('nan')):.0f} ms")
        if args.profile:
            spy = py_spy(service.process.pid, 4 * args.spacing + 1, bench.out / "profile-fanout.txt",
                         bench.work / "py-spy.log")
            time.sleep(0.5)
            fan_out(streams, guests, opened["open"], 3, args.spacing)
            spy.wait(timeout=60)
            print_profile(bench.out / "profile-fanout.txt")
        closed = streams.ask("close")
        if closed["lost"]:
            bench.problems.append(f"{closed['lost']} streams were lost: {closed['first_lost']}")
    finally:
        bench.next_guest = guests.n
        guests.close()
    return [*fanout_rows(f"2 fan-out to {opened['open']} streams, events alone", many, one, True),
            *fanout_rows(f"  for the record: a burst of {args.burst_rate:g} registrations/s", burst, one, False)[:1]]


def part_registrations(bench: Bench) -> list[Row]:
    args = bench.args
    say(f"\n3. registrations/s through HTTP (wrk, {CONNECTIONS} connections, {len(bench.tokens):,} dwellings, "
        f"own addresses), with 0 and {args.rate_streams} streams open, {args.rounds} x ABBA, {args.duration:g} s each")
    rate = registrations_rate(bench.service, bench.db, bench.tokens, bench.stream_client(), args, bench.work,
                              bench.next_guest + 1_000_000)
    bench.problems.extend(rate.problems)
    bench.other["registrations"] = rate.other_cores()
    per_stream = sum(rate.stream_events) / args.rate_streams / rate.stream_seconds if rate.stream_events else 0
    say(f"  the {args.rate_streams} streams got {per_stream:.2f} counts/s each meanwhile (at most 2 by design)")
    with_streams, without = rate.rate(args.rate_streams), rate.rate(0)
    return [
        Row(f"3 registrations/s with {args.rate_streams} streams open", f"{with_streams:.0f}/s",
            f"0 streams: {without:.0f}/s", f"{with_streams / without:.2f}", f">= {TARGET_RATIO}",
            with_streams / without >= TARGET_RATIO),
        Row("  CPU per registration, service + postgres", f"{rate.cpu_us(args.rate_streams):.0f} µs",
            f"0 streams: {rate.cpu_us(0):.0f} µs", f"{rate.cpu_us(0) / rate.cpu_us(args.rate_streams):.2f}",
            "(0 streams / 50: for the record)"),
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.police", description=__doc__.splitlines()[0])
    parser.add_argument("--stays", type=int, default=1_000_000, help="current stays loaded (one guest each)")
    parser.add_argument("--dwellings", type=int, default=100_000, help="dwellings they are spread over")
    parser.add_argument("--overdue", type=float, default=10.0,
                        help="percent of the stays overdue (counted per expected departure, not per stay)")
    parser.add_argument("--calls", type=int, default=200, help="occupancy calls timed through HTTP")
    parser.add_argument("--streams", type=int, default=1000, help="streams open for the fan-out")
    parser.add_argument("--events", type=int, default=20, help="registrations awaited on every stream")
    parser.add_argument("--spacing", type=float, default=1.5, help="seconds between them (coalescing: > 1)")
    parser.add_argument("--burst-rate", type=float, default=10, help="registrations/s of the burst (for the record)")
    parser.add_argument("--burst-seconds", type=float, default=4)
    parser.add_argument("--rate-streams", type=int, default=50, help="streams open while registrations are driven")
    parser.add_argument("--duration", type=float, default=8, help="seconds per wrk run (four a round)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of ABBA (no streams, streams, streams, none)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of wrk warm-up")
    parser.add_argument("--max-rate", type=int, default=4000,
                        help="registrations/s the request files are sized for (more would repeat requests)")
    parser.add_argument("--parts", default="1,2,3", help="which of the three to measure (comma-separated)")
    parser.add_argument("--profile", action="store_true", help="also profile the service with py-spy (unmeasured)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs) in var/bench/")
    args = parser.parse_args(argv)
    args.parts = {int(p) for p in args.parts.split(",") if p.strip()}
    if not args.parts <= {1, 2, 3}:
        parser.error("--parts takes 1, 2 and/or 3")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("wrk"):
        say("wrk is not installed: `make bench-police` installs it (apt-get install wrk)")
        return 2
    began = time.monotonic()
    load_at_start = os.getloadavg()
    say(f"police benchmark: {args.stays:,} stays ({args.overdue:g}% overdue) over {args.dwellings:,} dwellings in county {COUNTY} "
        f"({TOWNS} towns x {VILLAGES_PER_TOWN} villages), {args.streams} streams, {os.cpu_count()} cores, "
        f"load average {load_at_start[0]:.1f} {load_at_start[1]:.1f} {load_at_start[2]:.1f} (1, 5, 15 min)")
    out = ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vh-bench-police-"))
    problems: list[str] = []
    db, service, bench = Database(), None, None
    try:
        settings = {r["name"]: r["setting"] for r in sql(db.dsn, """SELECT name, setting FROM pg_settings WHERE name IN
            ('server_version', 'shared_buffers', 'work_mem', 'synchronous_commit', 'max_connections')""")}
        say(f"database {db.name} on {'DATABASE_URL' if db.server is None else 'embedded PostgreSQL'}: "
            + ", ".join(f"{k} {v}" for k, v in sorted(settings.items())))
        service = ServiceProcess(dsn=db.dsn, data_dir=work / "service", extra_env=BEHIND_PROXY).start()
        token = asyncio.run(set_up_through_api(service.base_url))
        owner = sql(db.dsn, "SELECT id FROM accounts WHERE username = $1", LANDLORD["username"])[0]["id"]
        say(f"set up through the API: {1 + TOWNS + TOWNS * VILLAGES_PER_TOWN + 1} areas, a landlord, "
            f"a police account for {COUNTY}, one dwelling; bulk SQL:")
        asyncio.run(bulk_load(db.dsn, owner, args.dwellings, args.stays, args.overdue))
        sizes = sql(db.dsn, """SELECT relname, pg_size_pretty(coalesce(  -- a partitioned table: its months
                                    (SELECT sum(pg_total_relation_size(t.relid)) FROM pg_partition_tree(c.oid) t),
                                    pg_total_relation_size(c.oid))) AS size
                                 FROM pg_class c WHERE relname IN ('stays', 'stay_guests', 'area_counts')
                                ORDER BY relname""")
        say("  sizes with indexes: " + ", ".join(f"{r['relname']} {r['size']}" for r in sizes))
        disagree, scratch_seconds = asyncio.run(counts_disagree(db.dsn, service.base_url, token))
        problems += disagree
        say(f"  counters = a count from scratch for {COUNTY} and two towns: "
            f"{'yes' if not disagree else 'NO: ' + '; '.join(disagree)} (from scratch: {scratch_seconds:.1f} s)")

        bench = Bench(args, db, service, token, work, out, problems)
        table: list[Row] = []
        if 1 in args.parts:
            table += part_occupancy(bench, scratch_seconds)
        if 2 in args.parts:
            table += part_fan_out(bench)
        if 3 in args.parts:
            table += part_registrations(bench)
        disagree, _ = asyncio.run(counts_disagree(db.dsn, service.base_url, token))
        problems += disagree
        say(f"\nafter all the traffic, counters = a count from scratch: {'yes' if not disagree else 'NO'}")
        print_table(table)
        load_at_end = os.getloadavg()
        say(f"\nload average at start {load_at_start[0]:.1f}, at end {load_at_end[0]:.1f} (1 min; 2 cores, shared); "
            f"other work on the machine, the most in a part: {max(bench.other.values(), default=0):.2f} cores "
            f"({', '.join(f'{k} {v:.2f}' for k, v in bench.other.items())}); whole run {time.monotonic() - began:.0f} s")
        if max(bench.other.values(), default=0) > 0.2:
            say("  above ~0.2 cores of other work the figures are disturbed: run again on a quieter machine "
                "(the CPU per registration is the least disturbed figure)")
        missed = [r.what.strip() for r in table if r.met is False]
        if missed:
            say(f"targets MISSED: {'; '.join(missed)}")
    finally:
        if bench is not None and bench.streams is not None:
            bench.streams.stop()
        if service is not None and service.process is not None:
            service.stop()
        db.close()
        if args.keep or problems:
            kept = out / work.name
            shutil.move(str(work), kept)
            say(f"logs kept in {kept}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if problems:
        say(f"\n!!! {len(problems)} PROBLEM(S): the figures above are not a clean run")
        for problem in problems:
            say(f"  {problem}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
